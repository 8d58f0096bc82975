"""Each cleaning rule on small hand-made frames, and the ledger's accounting."""

from __future__ import annotations

import pandas as pd
import pytest

from custseg.errors import EmptyDataError
from custseg.stages.audit import RULE_ORDER, CleaningRules, audit
from tests.conftest import COLLECTORS, lines, run_audit

# one valid purchase so that frames with a single odd row still have something to keep
BASE = ("500000", "10001", 2, "2011-01-03 10:00", 1.50, 12345.0)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("500001", "10001", 1, "2011-01-04 10:00", 2.0, None), "missing_customer_id"),
        (("A563185", "B", 1, "2011-01-04 10:00", -11062.06, 12345.0), "bad_debt_adjustment"),
        (("500002", "POST", 1, "2011-01-04 10:00", 18.0, 12345.0), "non_product"),
        (("500002", "gift_0001_20", 1, "2011-01-04 10:00", 16.67, 12345.0), "non_product"),
        (("500002", "BANK CHARGES", 1, "2011-01-04 10:00", 15.0, 12345.0), "non_product"),
        (("500003", "10002", 1, "2011-01-04 10:00", -2.0, 12345.0), "negative_price"),
        (("500003", "10002", 5, "2011-01-04 10:00", 0.0, 12345.0), "zero_price"),
        (("500003", "10002", 0, "2011-01-04 10:00", 3.0, 12345.0), "zero_quantity"),
        (("C500009", "10001", -1, "2011-01-05 10:00", 1.5, 99999.0), "return_without_purchase"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_rule_drops_with_its_reason(row: tuple, reason: str) -> None:
    ledger, table, _ = run_audit(lines([BASE, row]))
    assert ledger.dropped[reason] == 1
    assert sum(ledger.dropped.values()) == 1
    assert ledger.kept_rows == 1
    assert table.loc[table["reason"].notna(), "reason"].tolist() == [reason]


def test_exact_duplicates_keep_one_copy() -> None:
    ledger, _table, _ = run_audit(lines([BASE, BASE, BASE]))
    assert ledger.dropped["duplicate"] == 2
    assert ledger.kept_rows == 1
    assert ledger.money["dropped_by_reason"]["duplicate"] == pytest.approx(6.0)


def test_rows_differing_in_one_column_are_not_duplicates() -> None:
    other = (*BASE[:5], 12346.0)
    ledger, _, _ = run_audit(lines([BASE, other]))
    assert ledger.dropped["duplicate"] == 0
    assert ledger.kept_rows == 2


def test_cancellations_and_returns_are_kept_and_netted() -> None:
    frame = lines(
        [
            BASE,
            ("500010", "10003", 10, "2011-01-04 10:00", 3.0, 12345.0),
            ("C500011", "10003", -4, "2011-01-05 10:00", 3.0, 12345.0),
            ("500012", "10004", -1, "2011-01-06 10:00", 1.5, 12345.0),
        ]
    )
    ledger, _table, _ = run_audit(frame)
    assert ledger.kept_rows == 4
    assert ledger.kept_by_kind == {"purchase": 2, "cancellation": 1, "return": 1}
    assert ledger.money["kept_purchases"] == pytest.approx(33.0)
    assert ledger.money["kept_returns"] == pytest.approx(13.5)
    assert ledger.money["kept_net"] == pytest.approx(19.5)


def test_first_rule_wins_when_a_row_breaks_several() -> None:
    # no customer id AND zero price: counted once, under the earlier rule
    ledger, _, _ = run_audit(lines([BASE, ("500020", "10001", 1, "2011-01-04", 0.0, None)]))
    assert ledger.dropped["missing_customer_id"] == 1
    assert ledger.dropped["zero_price"] == 0
    assert RULE_ORDER.index("missing_customer_id") < RULE_ORDER.index("zero_price")


def test_unparseable_dates_are_dropped_not_guessed() -> None:
    frame = pd.DataFrame(
        {
            "InvoiceNo": ["1", "2", "3"],
            "CustomerID": ["a", "a", "b"],
            "InvoiceDate": ["2011-01-03 10:00:00", "not a date", "2011-01-05 09:00:00"],
            "Quantity": ["1", "2", "3"],
            "UnitPrice": ["1.0", "2.0", "3.0"],
        }
    )
    ledger, _, _ = run_audit(frame)
    assert ledger.dropped["unparseable_date"] == 1
    assert ledger.kept_rows == 2


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["13/01/2011 08:26", "01/02/2011 09:00"], "%d/%m/%Y %H:%M"),
        (["12/31/2010 8:26", "1/2/2011 9:00"], "%m/%d/%Y %H:%M"),
        (["2011-01-13", "2011-02-01"], None),
        (["13.01.2011", "01.02.2011"], "%d.%m.%Y"),
    ],
    ids=["day-first", "month-first", "iso", "dotted"],
)
def test_text_dates_are_parsed_with_the_format_that_fits(
    values: list[str], fmt: str | None
) -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["1", "2"],
            "customer_id": ["a", "b"],
            "order_date": values,
            "qty": ["1", "1"],
            "unit_price": ["2,50", "3,00"],
        }
    )
    ledger, table, _ = run_audit(frame)
    assert ledger.kept_rows == 2
    assert ledger.date_format == (fmt or "ISO 8601")
    assert sorted(table["price"]) == [2.5, 3.0]


def test_amount_column_replaces_quantity_times_price() -> None:
    frame = pd.DataFrame(
        {
            "invoice_id": ["1", "2", "3"],
            "client": ["x", "x", "y"],
            "date": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-02-02"]),
            "amount": [10.0, -4.0, 0.0],
        }
    )
    ledger, _, _ = run_audit(frame)
    assert ledger.kept_rows == 2
    assert ledger.dropped["zero_quantity"] == 1
    assert ledger.money["kept_net"] == pytest.approx(6.0)


def test_extreme_values_are_flagged_not_dropped() -> None:
    rows = [
        (f"5{i:05d}", "10001", 2 + i % 3, "2011-01-03 10:00", 1.0 + i % 5, 10000.0 + i % 7)
        for i in range(200)
    ]
    rows.append(("599999", "10001", 80995, "2011-01-03 11:00", 2.08, 10001.0))
    ledger, _, _ = run_audit(lines(rows))
    assert ledger.kept_rows == 201
    assert ledger.flagged["quantity"]["lines"] == 1
    assert ledger.flagged["quantity"]["largest"][0]["quantity"] == 80995


def test_non_product_codes_are_configurable() -> None:
    frame = lines([BASE, ("500030", "FEE", 1, "2011-01-04", 5.0, 12345.0)])
    default, _, _ = run_audit(frame)
    custom, _, _ = run_audit(frame, CleaningRules(non_product_codes=("FEE",)))
    assert default.dropped["non_product"] == 0
    assert custom.dropped["non_product"] == 1


def test_default_as_of_is_the_day_after_the_last_kept_line() -> None:
    ledger, _, _ = run_audit(lines([BASE, ("500040", "10001", 1, "2011-03-09 23:59", 1.0, 1.0)]))
    assert ledger.as_of == "2011-03-10"


def test_nothing_valid_is_a_clear_error() -> None:
    frame = lines([("1", "10001", 1, "2011-01-04", 2.0, None)] * 3)
    with pytest.raises(EmptyDataError, match=r"no valid transaction line.*missing_customer_id"):
        run_audit(frame)


def test_online_retail_ledger(online_retail) -> None:
    from custseg.engines import connect
    from custseg.sources.readers import open_source
    from custseg.sources.schema import resolve_columns
    from custseg.stages.audit import audit

    con = connect()
    src = open_source(con, online_retail)
    ledger = audit(con, src, resolve_columns(src.columns), collectors=COLLECTORS)
    assert ledger.input_rows == 541_909
    assert ledger.kept_rows + sum(ledger.dropped.values()) == 541_909
    assert ledger.dropped["missing_customer_id"] == 135_080
    assert ledger.money["input_total"] == pytest.approx(9_747_747.93, abs=0.005)
    dropped_money = sum(ledger.money["dropped_by_reason"].values())
    assert ledger.money["kept_net"] + dropped_money == pytest.approx(9_747_747.93, abs=0.05)
    assert ledger.kept_by_kind["cancellation"] > 8000
    assert ledger.flagged["quantity"]["largest"][0]["quantity"] == 80995


def test_quantiles_from_value_counts_equal_duckdb_quantile_cont() -> None:
    """The flagging fences and box statistics come from value counts merged across parts."""
    import numpy as np

    from custseg.engines import connect
    from custseg.stages.ledger import quantiles_cont

    rng = np.random.default_rng(5)
    values = np.round(rng.lognormal(1.0, 1.2, 5_001), 2)  # many ties, as prices have
    con = connect()
    con.register("v", pd.DataFrame({"x": values}))
    qs = (0.25, 0.5, 0.75, 0.9)
    expected = con.scalar(f"SELECT quantile_cont(x, {list(qs)}) FROM v")
    expected_log = con.scalar("SELECT quantile_cont(log10(x), [0.25, 0.75]) FROM v")
    x, n = np.unique(values, return_counts=True)
    assert quantiles_cont(x, n, qs) == pytest.approx(expected, rel=1e-12)
    assert quantiles_cont(x, n, (0.25, 0.75), np.log10) == pytest.approx(expected_log, rel=1e-12)


def test_duplicates_found_among_repeated_row_hashes_only() -> None:
    """Duplicates are looked for among the lines whose whole-row hash is seen twice: copies
    without a product, copies of a dropped line and near-copies must all be right."""
    no_product = ("500050", None, 2, "2011-01-06 10:00", 1.0, 12345.0)
    postage = ("500051", "POST", 1, "2011-01-06 11:00", 5.0, 12345.0)
    near = ("500001", "10001", 2, "2011-01-03 10:00", 3.0, 12345.0)  # BASE with another price
    ledger, table, _ = run_audit(
        lines([BASE, no_product, no_product, postage, postage, near, BASE])
    )
    assert ledger.dropped["duplicate"] == 3
    assert table["reason"].fillna("kept").tolist() == [
        "kept",
        "kept",
        "duplicate",
        "non_product",
        "duplicate",
        "kept",
        "duplicate",
    ]


def test_text_is_trimmed_of_unicode_spaces_as_trim_does() -> None:
    """Only values that may start or end with a space are trimmed; a no-break space
    (U+00A0, common in spreadsheets and web exports) is one, and so are U+3000 and U+1680."""
    import itertools

    from custseg.engines import connect
    from custseg.stages.audit.parse import text_expr as _text

    chars = [" ", "\t", "\xa0", "\u3000", "\u1680", "\u202f", "\u200b", "a", "é", "0"]
    values = ["".join(p) for n in range(4) for p in itertools.product(chars, repeat=n)]
    con = connect()
    con.create("t", "SELECT unnest(?) AS x", [values])
    differ = con.rows(f"SELECT x FROM t WHERE {_text('x')} IS DISTINCT FROM NULLIF(TRIM(x), '')")
    assert differ == []
    frame = lines(
        [
            (*BASE[:5], "12345"),
            ("500001", "10002", 1, "2011-01-04 10:00", 2.0, "\xa012345"),  # the same customer
            ("500002", "POST\xa0", 1, "2011-01-04 10:00", 18.0, "12345"),  # postage
            ("500003", "10002", 1, "2011-01-04 10:00", 2.0, "\xa0"),  # no customer id
        ]
    )
    ledger, _, _ = run_audit(frame)
    assert ledger.customers == 1
    assert ledger.dropped["non_product"] == 1 and ledger.dropped["missing_customer_id"] == 1


def _audit_in_parts(frame: pd.DataFrame, part_lines: int | None, setenv) -> tuple:
    from custseg.engines import connect
    from custseg.sources.readers import open_source
    from custseg.sources.schema import resolve_columns
    from custseg.stages.audit import audit
    from custseg.stages.features import customer_features

    setenv("CUSTSEG_PARTITION_LINES", str(part_lines) if part_lines else None)
    con = connect()
    src = open_source(con, frame)
    ledger = audit(con, src, resolve_columns(src.columns), collectors=COLLECTORS)
    return ledger.to_dict(), customer_features(con, ledger.as_of).to_dict("records")


def test_categorical_ids_are_cleaned_alike_in_one_part_or_many(setenv) -> None:
    """A pandas categorical is an ENUM whose type lists its values: ids such as "mint" or
    "realty" must not be read as INT or REAL types (parts split by the raw value, a crash)."""
    ids = ["mint", " mint", "print", "print ", "realty", " realty", "a", " a", "b", "b "]
    frame = lines(
        [
            (f"5000{i}", "10001", 1 + i, f"2011-01-0{1 + i % 9} 10:00", 1.5, c)
            for i, c in enumerate(ids)
        ]
    )
    frame["CustomerID"] = frame["CustomerID"].astype("category")
    whole = _audit_in_parts(frame, None, setenv)
    assert whole[0]["customers"] == 5
    for part_lines in (2, 3):
        assert _audit_in_parts(frame, part_lines, setenv) == whole


def test_infinite_or_huge_numeric_ids() -> None:
    """An infinite id is no id; a huge one is kept as written; neither stops the run."""
    rows = [BASE, (*BASE[:5], float("inf")), ("500001", "10001", 2, "2011-01-04 10:00", 1.5, 1e40)]
    ledger, table, _ = run_audit(lines(rows))
    assert ledger.dropped["missing_customer_id"] == 1
    assert ledger.kept_rows == 2
    assert sorted(table["customer_id"].dropna()) == ["12345", "1e+40"]


def test_infinite_quantity_beside_an_amount_stays_out_of_the_statistics() -> None:
    from custseg.engines import connect
    from custseg.sources.readers import open_source
    from custseg.sources.schema import resolve_columns
    from custseg.stages.quality import summarize

    frame = pd.DataFrame(
        {
            "InvoiceNo": ["1", "2", "3"],
            "CustomerID": ["a", "b", "c"],
            "InvoiceDate": pd.to_datetime(["2011-01-01", "2011-01-02", "2011-01-03"]),
            "Quantity": [1.0, float("inf"), 2.0],
            "Amount": [10.0, 20.0, 30.0],
        }
    )
    con = connect()
    src = open_source(con, frame)
    ledger = audit(
        con, src, resolve_columns(src.columns, {"amount": "Amount"}), collectors=COLLECTORS
    )
    assert ledger.kept_rows == 3
    quantity = summarize(con)["distributions"]["quantity"]
    assert quantity["n"] == 2 and quantity["box"]["max"] == 2.0
    assert all(b < 100 for b, _ in quantity["histogram"])


def test_collectors_run_in_any_order(online_retail) -> None:
    """The collectors read what the audit made (lines, invoices), not each other."""
    from custseg.engines import connect
    from custseg.sources.readers import open_source
    from custseg.sources.schema import resolve_columns
    from custseg.stages import features, quality

    frame = pd.read_parquet(online_retail).head(20_000)
    results = []
    for collectors in ((features.collect, quality.collect), (quality.collect, features.collect)):
        with connect() as con:
            src = open_source(con, frame)
            ledger = audit(con, src, resolve_columns(src.columns), collectors=collectors)
            table = features.customer_features(con, ledger.as_of)
            results.append((ledger.to_dict(), table, quality.summarize(con)))
    assert results[0][0] == results[1][0]
    pd.testing.assert_frame_equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2]
