"""Tests for reading sources into DuckDB (custseg.sources.readers), alone and through the pipeline."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from threadpoolctl import threadpool_limits

import custseg
from custseg.engines import connect
from custseg.errors import InputError
from custseg.outputs.folder import OUTPUT_FILES
from custseg.sources.readers import detect_encoding, frame_fingerprint, open_source

COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
DESCRIPTIONS = [
    "Crème brûlée £5",
    "Café",
    "WHITE HANGING HEART T-LIGHT HOLDER",
    "Thé à la menthe",
    "Pâté en croûte",
    "Naïve mug",
]
N_CUSTOMERS = 7


def _spec() -> list[dict]:
    """Transaction lines: 7 customers with 2 to 4 invoices each, 2 lines per invoice.

    Days are 13..19 so that day-first dates are unambiguous; prices have two decimals.
    """
    rows = []
    invoice = 536365
    for c in range(N_CUSTOMERS):
        for j in range(2 + c % 3):
            for line in range(2):
                rows.append(
                    {
                        "InvoiceNo": str(invoice),
                        "StockCode": f"85{c}{line}A",
                        "Description": DESCRIPTIONS[(c + j + line) % len(DESCRIPTIONS)],
                        "Quantity": c + line + 1,
                        "InvoiceDate": pd.Timestamp(2011, j + 1, 13 + c, 8, 26),
                        "UnitPrice": Decimal(105 + 50 * c + 25 * line) / 100,
                        "CustomerID": 17850 + c,
                        "Country": "France" if c % 2 else "United Kingdom",
                    }
                )
            invoice += 1
    return rows


def _text_table() -> pd.DataFrame:
    """The table as a CSV export has it: every value is text, dates ISO, decimal point."""
    rows = [
        {
            **r,
            "Quantity": str(r["Quantity"]),
            "InvoiceDate": r["InvoiceDate"].strftime("%Y-%m-%d %H:%M:%S"),
            "UnitPrice": f"{r['UnitPrice']:.2f}",
            "CustomerID": str(r["CustomerID"]),
        }
        for r in _spec()
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _typed_table() -> pd.DataFrame:
    """The same table with real types (ints, floats, timestamps), as Parquet and Excel hold it."""
    df = pd.DataFrame(_spec(), columns=COLUMNS)
    df["UnitPrice"] = df["UnitPrice"].astype(float)
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"])
    return df


def _expected_per_customer() -> dict[str, dict[str, float]]:
    """Frequency and monetary per customer, computed by hand from the spec."""
    out: dict[str, dict] = {}
    for r in _spec():
        cust = out.setdefault(str(r["CustomerID"]), {"invoices": set(), "monetary": Decimal(0)})
        cust["invoices"].add(r["InvoiceNo"])
        cust["monetary"] += r["Quantity"] * r["UnitPrice"]
    return {
        k: {"frequency": len(v["invoices"]), "monetary": float(v["monetary"])}
        for k, v in out.items()
    }


def _write_csv(
    df: pd.DataFrame, path: Path, encoding: str = "utf-8", sep: str = ",", newline: str = "\n"
) -> Path:
    path.write_bytes(df.to_csv(index=False, sep=sep, lineterminator=newline).encode(encoding))
    return path


#: k is fixed; k_max only bounds the (reported) sweep of other k, which keeps the tests fast
SEGMENT_ARGS = {"k": 2, "k_max": 3}


def _segment(source: Path | pd.DataFrame) -> custseg.SegmentationResult:
    return custseg.segment(source, **SEGMENT_ARGS)


def _ledger(result: custseg.SegmentationResult) -> dict:
    """The ledger without the source label (which names the file)."""
    d = result.ledger.to_dict()
    d.pop("source")
    return d


# (encoding written, label detect_encoding should give, line ending); Windows ones get CRLF
ENCODINGS = [
    pytest.param("utf-8", "utf-8", "\n", id="utf8"),
    pytest.param("utf-8-sig", "utf-8-sig", "\n", id="utf8-bom"),
    pytest.param("cp1252", "cp1252", "\r\n", id="cp1252"),
    pytest.param("latin-1", "cp1252", "\n", id="latin1"),
    pytest.param("utf-16", "utf-16", "\r\n", id="utf16"),
]
DELIMITERS = [
    pytest.param(",", id="comma"),
    pytest.param(";", id="semicolon"),
    pytest.param("\t", id="tab"),
    pytest.param("|", id="pipe"),
]
#: every encoding and every delimiter at least once, for the (slower) end-to-end runs
END_TO_END = [
    pytest.param("utf-8", ",", "\n", id="utf8-comma"),
    pytest.param("utf-8-sig", ";", "\n", id="utf8-bom-semicolon"),
    pytest.param("cp1252", "\t", "\r\n", id="cp1252-tab"),
    pytest.param("latin-1", "|", "\n", id="latin1-pipe"),
    pytest.param("utf-16", ";", "\r\n", id="utf16-semicolon"),
    pytest.param("utf-16", "\t", "\r\n", id="utf16-tab"),
]


@pytest.fixture(scope="module", autouse=True)
def _single_threaded_kmeans() -> Iterator[None]:
    """Run K-Means on one thread: the data is tiny, and OpenMP threads spinning on a busy
    machine made each fit tens of times slower."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> custseg.SegmentationResult:
    """custseg.segment on the plain UTF-8, comma-separated CSV."""
    path = _write_csv(_text_table(), tmp_path_factory.mktemp("ref") / "reference.csv")
    return _segment(path)


def test_reference_features_match_hand_computation(
    reference: custseg.SegmentationResult,
) -> None:
    expected = _expected_per_customer()
    seg = reference.segments.set_index("customer_id")
    assert sorted(seg.index) == sorted(expected)
    for cust, want in expected.items():
        assert seg.loc[cust, "frequency"] == want["frequency"]
        assert seg.loc[cust, "monetary"] == pytest.approx(want["monetary"])
    ledger = reference.ledger
    assert ledger.input_rows == ledger.kept_rows == len(_spec())
    assert ledger.customers == N_CUSTOMERS
    assert ledger.date_format == "ISO 8601"
    assert ledger.period == {"first": "2011-01-13T08:26:00", "last": "2011-04-18T08:26:00"}
    assert ledger.money["kept_net"] == pytest.approx(sum(v["monetary"] for v in expected.values()))


# --- encodings and delimiters ----------------------------------------------------------------


@pytest.mark.parametrize("sep", DELIMITERS)
@pytest.mark.parametrize(("encoding", "label", "newline"), ENCODINGS)
def test_csv_encoding_and_delimiter_give_identical_content(
    tmp_path: Path, encoding: str, label: str, newline: str, sep: str
) -> None:
    table = _text_table()
    path = _write_csv(table, tmp_path / "sales.csv", encoding, sep, newline)
    con = connect()
    src = open_source(con, path)
    try:
        assert src.kind == "csv"
        assert src.columns == COLUMNS
        assert src.label == str(path)
        assert con.row("SELECT count(*) FROM raw_input") == (len(table),)
        descriptions = {r[0] for r in con.rows("SELECT Description FROM raw_input")}
        assert descriptions == set(DESCRIPTIONS)
        rows = con.rows("SELECT * FROM raw_input")
        assert rows == list(table.itertuples(index=False, name=None))
        assert src.encoding == label
    finally:
        src.close()
        con.close()


@pytest.mark.parametrize(("encoding", "sep", "newline"), END_TO_END)
def test_csv_encoding_and_delimiter_give_identical_segments(
    tmp_path: Path, reference: custseg.SegmentationResult, encoding: str, sep: str, newline: str
) -> None:
    path = _write_csv(_text_table(), tmp_path / "sales.csv", encoding, sep, newline)
    result = _segment(path)
    assert _ledger(result) == _ledger(reference)
    assert_frame_equal(result.segments, reference.segments)
    assert_frame_equal(result.profiles, reference.profiles)


@pytest.mark.parametrize(("encoding", "label", "newline"), ENCODINGS)
def test_detect_encoding_labels(tmp_path: Path, encoding: str, label: str, newline: str) -> None:
    path = _write_csv(_text_table(), tmp_path / "sales.csv", encoding, ";", newline)
    assert detect_encoding(path) == label


def test_pure_ascii_file_is_utf8(tmp_path: Path) -> None:
    table = _text_table().assign(Description="PLAIN")
    assert detect_encoding(_write_csv(table, tmp_path / "a.csv", "ascii")) == "utf-8"


@pytest.mark.parametrize(
    ("descriptions", "encoding", "sep"),
    [
        (["Café"], "cp1252", ","),
        (["Crème brûlée £5"], "latin-1", ","),
        (["Pâté", "Thé"], "cp1252", ";"),
        (["Prix 5 €", "Café"], "cp1252", ","),
        (["\u201cBœuf\u201d \u2013 3 €", "Pâté"], "cp1252", "\t"),  # curly quotes, en dash
        ([DESCRIPTIONS[i % len(DESCRIPTIONS)] for i in range(12)], "cp1252", ","),
    ],
    ids=[
        "cafe",
        "creme-brulee-latin1",
        "pate-semicolon",
        "euro-sign",
        "cp1252-only-chars",
        "twelve-rows",
    ],
)
def test_short_western_european_file_is_read_as_cp1252(
    tmp_path: Path, descriptions: list[str], encoding: str, sep: str
) -> None:
    text = f"id{sep}descr\n" + "".join(f"{i}{sep}{d}\n" for i, d in enumerate(descriptions))
    path = tmp_path / "short.csv"
    path.write_bytes(text.encode(encoding))
    con = connect()
    src = open_source(con, path)
    try:
        query = "SELECT descr FROM raw_input ORDER BY CAST(id AS INTEGER)"
        got = [r[0] for r in con.rows(query)]
        assert got == descriptions
        assert src.encoding == "cp1252"
    finally:
        src.close()


@pytest.mark.parametrize("sep", DELIMITERS)
def test_quoted_field_with_doubled_quotes(tmp_path: Path, sep: str) -> None:
    table = _text_table()
    table.loc[0, "Description"] = 'MUG, "RED" 12oz'
    path = _write_csv(table, tmp_path / "quotes.csv", sep=sep)
    con = connect()
    open_source(con, path)
    got = con.rows("SELECT Description FROM raw_input")
    assert got[0] == ('MUG, "RED" 12oz',)


def test_transcoded_copy_is_temporary(tmp_path: Path) -> None:
    path = _write_csv(_text_table(), tmp_path / "legacy.csv", "cp1252", ";", "\r\n")
    con = connect()
    src = open_source(con, path)
    copy_dir = src._tmpdir
    assert copy_dir is not None and Path(copy_dir).is_dir()
    assert Path(copy_dir) != tmp_path and tmp_path not in Path(copy_dir).parents
    src.close()
    assert not Path(copy_dir).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legacy.csv"]


@pytest.mark.parametrize(
    ("name", "sep"),
    [
        ("O'Brien sales 2011.csv", ","),
        ("export.TSV", "\t"),
        ("export.txt", ";"),
        ("export", ","),
    ],
    ids=["quote-and-spaces-in-name", "upper-tsv", "txt", "no-extension"],
)
def test_csv_like_names_and_suffixes(tmp_path: Path, name: str, sep: str) -> None:
    path = _write_csv(_text_table(), tmp_path / name, "cp1252", sep)
    con = connect()
    src = open_source(con, path)
    try:
        assert src.kind == "csv"
        assert src.columns == COLUMNS
        assert src.fingerprint["name"] == name
        assert con.row("SELECT count(*) FROM raw_input") == (len(_spec()),)
    finally:
        src.close()


# --- European numbers and dates --------------------------------------------------------------


def test_european_decimals_and_day_first_dates(
    tmp_path: Path, reference: custseg.SegmentationResult
) -> None:
    table = _text_table()
    table["UnitPrice"] = table["UnitPrice"].str.replace(".", ",", regex=False)
    table["InvoiceDate"] = pd.to_datetime(table["InvoiceDate"]).dt.strftime("%d/%m/%Y %H:%M")
    path = _write_csv(table, tmp_path / "ventes.csv", "cp1252", ";", "\r\n")
    raw = path.read_bytes().decode("cp1252")
    assert "13/01/2011 08:26" in raw and ";1,05;" in raw

    result = _segment(path)
    assert result.ledger.date_format == "%d/%m/%Y %H:%M"
    assert result.ledger.period == {"first": "2011-01-13T08:26:00", "last": "2011-04-18T08:26:00"}
    assert result.ledger.kept_rows == len(table)
    seg = result.segments.set_index("customer_id")
    for cust, want in _expected_per_customer().items():
        assert seg.loc[cust, "monetary"] == pytest.approx(want["monetary"])
    assert_frame_equal(result.segments, reference.segments)


@pytest.mark.parametrize(
    ("first", "second", "fmt", "expected"),
    [
        (
            "2011-01-13 08:26:00",
            "2011-02-05 09:00:00",
            "ISO 8601",
            ("2011-01-13T08:26:00", "2011-02-05T09:00:00"),
        ),
        (
            "13/01/2011 08:26",
            "05/02/2011 09:00",
            "%d/%m/%Y %H:%M",
            ("2011-01-13T08:26:00", "2011-02-05T09:00:00"),
        ),
        (
            "01/13/2011 08:26",
            "02/05/2011 09:00",
            "%m/%d/%Y %H:%M",
            ("2011-01-13T08:26:00", "2011-02-05T09:00:00"),
        ),
        (
            "13.01.2011 08:26",
            "05.02.2011 09:00",
            "%d.%m.%Y %H:%M",
            ("2011-01-13T08:26:00", "2011-02-05T09:00:00"),
        ),
        ("03/01/2011", "05/02/2011", "%d/%m/%Y", ("2011-01-03T00:00:00", "2011-02-05T00:00:00")),
    ],
    ids=["iso", "day-first", "month-first", "dotted", "ambiguous-is-day-first"],
)
def test_date_styles(
    tmp_path: Path, first: str, second: str, fmt: str, expected: tuple[str, str]
) -> None:
    lines = ["client;date;montant"]
    for c in range(3):
        lines += [f"C{c};{first};{c + 1},50", f"C{c};{second};{c + 2},25"]
    path = tmp_path / "dates.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _segment(path)
    assert result.ledger.date_format == fmt
    assert result.ledger.dropped["unparseable_date"] == 0
    assert (result.ledger.period["first"], result.ledger.period["last"]) == expected
    assert result.ledger.money["kept_net"] == pytest.approx(sum(2 * c + 3.75 for c in range(3)))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2,55", 2.55),
        ("2.55", 2.55),
        ("1.234,56", 1234.56),
        ("1,234.56", 1234.56),
        ("1 234,56", 1234.56),
        ("£2.55", 2.55),
        ("12,00 €", 12.0),
    ],
    ids=[
        "comma-decimal",
        "point-decimal",
        "eu-thousands",
        "us-thousands",
        "space-thousands",
        "pound-sign",
        "euro-suffix",
    ],
)
def test_amount_number_formats(tmp_path: Path, text: str, value: float) -> None:
    path = tmp_path / "amounts.csv"
    rows = [("A", "2024-03-01", text), ("B", "2024-03-02", "1,00"), ("C", "2024-03-03", "3,00")]
    path.write_text(
        "customer;date;amount\n" + "".join(f'{c};{d};"{a}"\n' for c, d, a in rows),
        encoding="utf-8",
    )
    result = _segment(path)
    seg = result.segments.set_index("customer_id")
    assert seg.loc["A", "monetary"] == pytest.approx(value)
    assert result.ledger.money["kept_net"] == pytest.approx(value + 4.0)


# --- Parquet, Excel, DataFrame ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [(".parquet", "parquet"), (".xlsx", "excel")],
    ids=["parquet", "xlsx"],
)
def test_parquet_and_excel_give_the_csv_features(
    tmp_path: Path, reference: custseg.SegmentationResult, suffix: str, kind: str
) -> None:
    typed = _typed_table()
    path = tmp_path / f"sales{suffix}"
    if kind == "parquet":
        typed.to_parquet(path, index=False)
    else:
        typed.to_excel(path, index=False, engine="openpyxl")
    con = connect()
    src = open_source(con, path)
    assert src.kind == kind
    assert src.columns == COLUMNS
    assert "TIMESTAMP" in src.types["InvoiceDate"]
    descriptions = {r[0] for r in con.rows("SELECT Description FROM raw_input")}
    assert descriptions == set(DESCRIPTIONS)
    src.close()

    result = _segment(path)
    assert result.ledger.date_format is None
    assert_frame_equal(result.segments, reference.segments)
    ref, got = _ledger(reference), _ledger(result)
    assert ref.pop("date_format") == "ISO 8601"  # the CSV had text dates; these are typed
    assert got.pop("date_format") is None
    assert got == ref


def test_excel_sheet_choice(tmp_path: Path, reference: custseg.SegmentationResult) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"note": ["read me first"]}).to_excel(writer, sheet_name="Info", index=False)
        _typed_table().to_excel(writer, sheet_name="Transactions", index=False)
    con = connect()
    assert open_source(con, path).columns == ["note"]
    src = open_source(con, path, sheet="Transactions")
    assert src.columns == COLUMNS
    assert con.row("SELECT count(*) FROM raw_input") == (len(_spec()),)


def test_dataframe_input(reference: custseg.SegmentationResult) -> None:
    df = _typed_table()
    before = df.copy()
    result = _segment(df)
    assert_frame_equal(result.segments, reference.segments)
    assert result.ledger.source == "<DataFrame>"
    assert_frame_equal(df, before)  # the caller's frame is left alone
    assert result.fingerprint["name"] == "<DataFrame>"
    assert result.fingerprint["rows"] == len(df)


def test_dataframe_fingerprint_is_stable_and_content_sensitive() -> None:
    df = _typed_table()
    con = connect()
    first = open_source(con, df).fingerprint
    assert open_source(con, df).fingerprint == first
    assert frame_fingerprint(df.copy()) == first
    assert _segment(df).fingerprint == first

    changed = df.copy()
    changed.loc[3, "Quantity"] = changed.loc[3, "Quantity"] + 1
    assert frame_fingerprint(changed)["sha256"] != first["sha256"]

    renamed = df.rename(columns={"Country": "Pays"})
    assert frame_fingerprint(renamed)["sha256"] != first["sha256"]

    shorter = df.iloc[:-1]
    assert frame_fingerprint(shorter)["sha256"] != first["sha256"]
    assert frame_fingerprint(shorter)["rows"] == len(df) - 1


# --- the input is only read ------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    ["csv-utf8", "csv-cp1252", "parquet", "xlsx"],
    ids=["csv-utf8", "csv-cp1252", "parquet", "xlsx"],
)
def test_run_never_modifies_the_input(tmp_path: Path, fmt: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if fmt.startswith("csv"):
        encoding = {"csv-utf8": "utf-8", "csv-cp1252": "cp1252"}[fmt]
        path = _write_csv(_text_table(), data_dir / "sales.csv", encoding, ";", "\r\n")
    elif fmt == "parquet":
        path = data_dir / "sales.parquet"
        _typed_table().to_parquet(path, index=False)
    else:
        path = data_dir / "sales.xlsx"
        _typed_table().to_excel(path, index=False, engine="openpyxl")
    old = os.stat(path).st_mtime_ns - 10**9
    os.utime(path, ns=(old, old))  # an mtime in the past, so any rewrite would show
    content = path.read_bytes()

    out = tmp_path / "out"
    result = custseg.run(path, out, **SEGMENT_ARGS)

    assert path.read_bytes() == content
    assert os.stat(path).st_mtime_ns == old
    assert sorted(p.name for p in data_dir.iterdir()) == [path.name]
    for name in OUTPUT_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert len(pd.read_csv(out / "segments.csv")) == N_CUSTOMERS
    model = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert model["input"] == {
        "name": path.name,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert result.fingerprint == model["input"]


# --- errors ----------------------------------------------------------------------------------


def _bad_input(tmp_path: Path, case: str) -> Path:
    if case == "missing":
        return tmp_path / "nowhere" / "sales.csv"
    if case == "folder":
        folder = tmp_path / "exports.csv"
        folder.mkdir()
        return folder
    paths = {
        "unsupported": ("sales.json", b'[{"CustomerID": 1}]'),
        "empty-csv": ("sales.csv", b""),
        "empty-parquet": ("sales.parquet", b""),
        "garbage-parquet": ("sales.parquet", bytes(range(256)) * 40),
        "text-as-parquet": ("sales.parquet", b"CustomerID,InvoiceDate\n1,2011-01-01\n"),
        "empty-xlsx": ("sales.xlsx", b""),
        "garbage-xlsx": ("sales.xlsx", bytes(range(256)) * 40),
        "csv-as-xlsx": ("sales.xlsx", b"CustomerID,InvoiceDate\n1,2011-01-01\n"),
    }
    name, content = paths[case]
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("case", "says"),
    [
        pytest.param("missing", "no such file", id="missing"),
        pytest.param("folder", "is a folder", id="folder"),
        pytest.param("unsupported", "unsupported file type '.json'", id="unsupported"),
        pytest.param("empty-csv", "the file is empty", id="empty-csv"),
        pytest.param("empty-parquet", "the file is empty", id="empty-parquet"),
        pytest.param("garbage-parquet", "is not a Parquet file", id="garbage-parquet"),
        pytest.param("text-as-parquet", "is not a Parquet file", id="text-as-parquet"),
        pytest.param("empty-xlsx", "cannot be read as", id="empty-xlsx"),
        pytest.param("garbage-xlsx", "cannot be read as", id="garbage-xlsx"),
        pytest.param("csv-as-xlsx", "cannot be read as", id="csv-as-xlsx"),
    ],
)
def test_unreadable_input_raises_input_error(tmp_path: Path, case: str, says: str) -> None:
    path = _bad_input(tmp_path, case)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: {re.escape(says)}") as info:
        open_source(connect(), path)
    message = str(info.value)
    assert "\n" not in message
    assert "Traceback" not in message
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "case",
    ["missing", "folder", "unsupported", "empty-csv", "garbage-parquet"],
    ids=["missing", "folder", "unsupported", "empty-csv", "garbage-parquet"],
)
def test_segment_reports_unreadable_input(tmp_path: Path, case: str) -> None:
    path = _bad_input(tmp_path, case)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: "):
        _segment(path)


def test_header_only_csv_opens_with_columns_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
    con = connect()
    src = open_source(con, path)
    assert src.columns == COLUMNS
    assert con.row("SELECT count(*) FROM raw_input") == (0,)
    with pytest.raises(custseg.EmptyDataError, match=r"header\.csv: the file has a header but no"):
        _segment(path)
