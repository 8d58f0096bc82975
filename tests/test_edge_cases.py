"""Inputs that real files contain and that once broke a run (each found by review)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg.datasets import make_transactions
from custseg.engines import connect
from custseg.stages.audit.parse import number_convention
from custseg.stages.audit.parse import number_expr as _number


def test_csv_with_a_line_break_inside_a_quoted_field(tmp_path: Path) -> None:
    frame, _ = make_transactions(120, seed=1)
    frame.loc[5, "Description"] = 'He said "hi", then\nleft'
    path = tmp_path / "quoted.csv"
    frame.to_csv(path, index=False)
    result = custseg.segment(path, k=3)
    assert result.ledger.input_rows == len(frame)


def test_an_absurd_line_value_is_dropped_as_invalid_not_a_crash(tmp_path: Path) -> None:
    frame, _ = make_transactions(120, seed=2)
    frame.loc[3, ["Quantity", "UnitPrice"]] = [10**9, 10**4]
    result = custseg.segment(frame, k=3)
    assert result.ledger.dropped["invalid_quantity_or_price"] == 1


def _tiny(n: int, same: bool = False) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "InvoiceNo": [str(i) for i in range(n)],
            "CustomerID": [f"c{i}" for i in range(n)],
            "InvoiceDate": ["2011-01-01" if same else f"2011-01-{1 + i % 9:02d}" for i in range(n)],
            "Quantity": [1 if same else 1 + i for i in range(n)],
            "UnitPrice": [1.0 if same else 1.0 + i for i in range(n)],
        }
    )


def test_k_equal_to_the_number_of_customers_is_fitted() -> None:
    result = custseg.segment(_tiny(12), k=12)
    assert result.model.k_ == 12 and result.segments["segment"].nunique() == 12
    assert "set by the user" in result.verdict


def test_a_segment_left_empty_still_has_a_name() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = custseg.segment(_tiny(12, same=True), k=3)
    assert set(result.segment_names.values()) >= {"Segment 2", "Segment 3"}


def test_as_of_before_the_end_of_the_data_drops_later_lines(online_retail: Path) -> None:
    result = custseg.segment(online_retail, as_of="2011-06-01", k=3)
    led = result.ledger
    assert led.dropped["after_as_of"] > 0
    assert led.kept_rows + sum(led.dropped.values()) == 541_909
    assert result.segments["recency_days"].min() >= 1
    assert (result.segments["tenure_days"] >= result.segments["recency_days"]).all()


def _customers(n: int = 60, **extra: object) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = pd.DataFrame(
        {
            "ID": range(n),
            "Income": rng.normal(50_000, 10_000, n),
            "MntWines": rng.integers(0, 500, n),
            "MntMeat": rng.integers(0, 500, n),
        }
    )
    return base.assign(**extra)


@pytest.mark.parametrize(
    ("values", "as_of"),
    [
        ([f"2012{m:02d}15" for m in range(1, 13)] * 5, "2012-12-16"),
        ([40_900 + i for i in range(60)], "2012-02-21"),  # serial 40959 is 2012-02-20
    ],
    ids=["yyyymmdd", "excel-serial"],
)
def test_enrolment_dates_written_as_numbers(values: list[object], as_of: str) -> None:
    result = custseg.segment(_customers(Dt_Customer=values), k=2)
    assert result.ledger.as_of == as_of
    assert "seniority_days" in result.model.features


def test_birth_year_without_any_date_and_all_missing() -> None:
    years = np.random.default_rng(1).integers(1950, 2000, 60)
    with_years = custseg.segment(_customers(Year_Birth=years), k=2)
    assert "birth_year" in with_years.model.features and "age" not in with_years.model.features
    empty = custseg.segment(_customers(Year_Birth=np.nan), k=2)
    assert "birth_year" not in empty.model.features and "age" not in empty.model.features


def test_boolean_columns_are_categories() -> None:
    flags = np.random.default_rng(2).random(60) > 0.5
    result = custseg.segment(_customers(HasCard=flags), k=2)
    assert "HasCard" in result.model.categorical


@pytest.mark.parametrize(
    ("values", "convention", "expected"),
    [
        (["1,250.00", "2,500", "$1,000", "(5.00)", "EUR 5"], "us", [1250, 2500, 1000, -5, 5]),
        (
            ["2,55", "1.234,56", "(1,50)", "2.55", "1.234.567,89"],
            "eu",
            [2.55, 1234.56, -1.5, 2.55, 1234567.89],
        ),
        (["2.55", "3", "1e3", "£2.55"], None, [2.55, 3, 1000, 2.55]),
    ],
    ids=["thousands-comma", "decimal-comma", "plain"],
)
def test_text_numbers_follow_the_column_convention(
    values: list[str], convention: str | None, expected: list[float]
) -> None:
    con = connect()
    con.create("t", "SELECT unnest(?) AS x", [values])
    assert number_convention(con, "t", "x") == convention
    got = [r[0] for r in con.rows(f"SELECT {_number('x', 'VARCHAR', convention)} FROM t")]
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("convention", [None, "us", "eu"])
def test_plain_text_numbers_are_read_as_written(convention: str | None) -> None:
    """Plain numbers take a direct cast; it must agree with the full clean-up."""
    values = ["0", "-3", "007", " 42 ", "12.50", "-0.5", "123456789.125", "1.250", "nan", "inf"]
    con = connect()
    con.create("t", "SELECT unnest(?) AS x", [values])
    got = [r[0] for r in con.rows(f"SELECT {_number('x', 'VARCHAR', convention)} FROM t")]
    eu = convention == "eu"  # with a decimal comma, a dot before three digits groups thousands
    assert got[:6] == [0.0, -3.0, 7.0, 42.0, 12.5, -0.5]
    assert got[6:8] == ([123456789125.0, 1250.0] if eu else [123456789.125, 1.25])
    assert got[8:] == [None, None]  # words are not numbers


def test_an_amount_column_is_not_mistaken_for_the_customer_id() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "Member": [f"m{i}" for i in range(40)],  # no recognised id role
            "AmountPaid": rng.normal(100, 30, 40).round(2) + np.arange(40) / 1000,  # all distinct
            "Visits": rng.integers(1, 20, 40),
        }
    )
    result = custseg.segment(frame, kind="customers", k=2)
    # the amount is spend (summed into total_spend); the unique text column is the id
    assert result.ledger.set_aside["AmountPaid"] == "summed into an engineered variable"
    assert result.ledger.set_aside["Member"] == "identifier"
    assert result.segments["customer_id"].str.startswith("m").all()
