"""Dates: ISO always parses, the day/month order is decided from the values, a column mixing
both orders is refused, lines dated far outside the others are dropped and counted without
moving the as-of date, and a bad ``as_of`` is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import custseg
from custseg.engines import connect
from custseg.errors import CustsegError, SchemaError
from custseg.sources.readers import open_source
from custseg.stages.audit.parse import read_dates
from custseg.stages.ledger import Ledger
from tests.conftest import SHARED_DATA, lines, run_audit


def text_lines(dates: list[str]) -> pd.DataFrame:
    """One purchase line per date (text, as read from a CSV), customers 1, 2, 3 in turn."""
    return pd.DataFrame(
        {
            "InvoiceNo": [f"5{i:05d}" for i in range(len(dates))],
            "StockCode": "10001",
            "Quantity": [1 + i % 4 for i in range(len(dates))],
            "InvoiceDate": dates,
            "UnitPrice": 2.5,
            "CustomerID": [str(1 + i % 3) for i in range(len(dates))],
        }
    )


def reconciles(ledger: Ledger) -> None:
    """Rows and money add up: kept + every reason = input."""
    assert ledger.kept_rows + sum(ledger.dropped.values()) == ledger.input_rows
    money = ledger.money
    assert set(money["dropped_by_reason"]) == set(ledger.dropped)
    total = money["kept_net"] + sum(money["dropped_by_reason"].values())
    assert total == pytest.approx(money["input_total"], abs=0.01)


def dates_read(frame: pd.DataFrame) -> list[str]:
    """The dates the audit read, in input order, as YYYY-MM-DD (``None`` when unreadable)."""
    _, table, _ = run_audit(frame)
    return [None if pd.isna(t) else t.date().isoformat() for t in table["ts"]]


def test_iso_values_are_read_as_iso_beside_day_first_values() -> None:
    frame = text_lines(
        ["13/05/2011", "05/06/2011", "2011-06-07", "2011-06-08 12:50", "2011-06-09T12:50:00"]
    )
    assert dates_read(frame) == [
        "2011-05-13",
        "2011-06-05",
        "2011-06-07",
        "2011-06-08",
        "2011-06-09",
    ]
    ledger, _, _ = run_audit(frame)
    assert ledger.dropped["unparseable_date"] == 0
    assert ledger.date_format == "ISO 8601 and %d/%m/%Y"
    assert ledger.dates["order"] == {
        "column": "InvoiceDate",
        "order": "day-first",
        "decided_by": "13/05/2011",
    }
    reconciles(ledger)


def test_iso_values_are_read_as_iso_beside_month_first_values() -> None:
    frame = text_lines(["05/13/2011", "05/06/2011", "2011-06-07", "2011-06-08"])
    assert dates_read(frame) == ["2011-05-13", "2011-05-06", "2011-06-07", "2011-06-08"]
    ledger, _, _ = run_audit(frame)
    assert ledger.date_format == "ISO 8601 and %m/%d/%Y"
    assert ledger.dates["order"]["order"] == "month-first"
    assert not ledger.notes


def test_a_column_of_iso_dates_reads_as_before() -> None:
    ledger, table, _ = run_audit(text_lines(["2011-12-09 12:50", "2011-12-08", "2011-12-07"]))
    assert ledger.date_format == "ISO 8601"
    assert "dates" not in ledger.to_dict() and not ledger.notes
    assert table["ts"].notna().all()


@pytest.mark.parametrize("sep", ["/", "-", "."])
def test_the_order_is_decided_by_one_value_whatever_the_separator(sep: str) -> None:
    """05/06/2011 is 5 June among day-first dates and 6 May among month-first ones; a value
    sorted far from the start of the column decides (the whole column is looked at)."""
    ambiguous = [f"0{d}{sep}0{m}{sep}2011" for d in range(1, 10) for m in range(1, 10)]
    day_first = text_lines([*ambiguous, f"28{sep}02{sep}2011"])
    month_first = text_lines([*ambiguous, f"02{sep}28{sep}2011"])
    assert dates_read(day_first)[1] == "2011-02-01"  # 01/02/2011
    assert dates_read(month_first)[1] == "2011-01-02"
    assert dates_read(month_first)[-1] == "2011-02-28"


def test_a_column_mixing_day_first_and_month_first_dates_is_refused() -> None:
    frame = text_lines(["13/05/2011", "05/06/2011", "05/14/2011", "2011-06-07"])
    with pytest.raises(SchemaError) as err:
        run_audit(frame)
    message = str(err.value)
    assert "\n" not in message
    assert "'InvoiceDate'" in message and "'13/05/2011'" in message and "'05/14/2011'" in message
    assert "YYYY-MM-DD" in message


def test_a_file_mixing_iso_day_first_and_month_first_is_refused_by_the_cli(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from custseg.cli import app

    path = tmp_path / "mixed.csv"
    text_lines(["2011-06-07 10:00", "13/05/2011", "05/14/2011"] * 10).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "mixes day-first and month-first dates" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "segments.csv").exists()


def test_undecidable_dates_are_read_day_first_and_the_ledger_says_it_was_assumed() -> None:
    frame = text_lines(["05/06/2011", "01/02/2011", "12/11/2011", "2011-06-07"])
    assert dates_read(frame) == ["2011-06-05", "2011-02-01", "2011-11-12", "2011-06-07"]
    ledger, _, _ = run_audit(frame)
    assert ledger.dates["order"] == {
        "column": "InvoiceDate",
        "order": "day-first",
        "decided_by": None,
    }
    assert len(ledger.notes) == 1
    assert "'InvoiceDate'" in ledger.notes[0] and "at most 12" in ledger.notes[0]
    assert ledger.to_dict()["dates"]["order"]["decided_by"] is None
    reconciles(ledger)


# lines of 2010–2011 for three customers, and one line far outside
BULK = [
    (
        f"5{i:05d}",
        "10001",
        1 + i % 3,
        f"2011-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00",
        2.0,
        1 + i % 3,
    )
    for i in range(36)
]


@pytest.mark.parametrize(
    ("when", "side"), [("2099-01-01 10:00", "lines_after"), ("1900-01-01 10:00", "lines_before")]
)
def test_one_line_dated_far_outside_is_dropped_and_moves_nothing(when: str, side: str) -> None:
    stray = ("599999", "10001", 7, when, 3.0, 2.0)
    ledger, table, _ = run_audit(lines([*BULK, stray]))
    alone, _, _ = run_audit(lines(BULK))
    assert ledger.dropped["implausible_date"] == 1
    assert ledger.money["dropped_by_reason"]["implausible_date"] == 21.0
    assert table["reason"].iloc[-1] == "implausible_date"
    # the as-of date, the period and the kept lines are those of the file without the line
    assert ledger.as_of == alone.as_of == "2011-12-25"
    assert ledger.period == alone.period
    assert ledger.kept_rows == alone.kept_rows == 36
    assert ledger.money["kept_net"] == alone.money["kept_net"]
    flagged = ledger.dates["implausible"]
    assert flagged[side] == 1 and flagged["lines_before"] + flagged["lines_after"] == 1
    assert flagged["examples"] == [{"date": when[:10], "lines": 1}]
    assert "interquartile range" in flagged["rule"]
    assert any("implausible_date" in n for n in ledger.notes)
    reconciles(ledger)


def test_a_far_line_changes_no_recency_of_a_segmentation() -> None:
    stray = ("599999", "10001", 7, "2099-06-01 10:00", 3.0, 2.0)
    with_line = custseg.segment(lines([*BULK, stray]), k=2, seed=0)
    without = custseg.segment(lines(BULK), k=2, seed=0)
    assert with_line.ledger.as_of == without.ledger.as_of
    pd.testing.assert_frame_equal(with_line.segments, without.segments)


def test_far_lines_are_dropped_alike_in_one_part_or_many(setenv) -> None:
    from tests.test_audit import _audit_in_parts

    frame = lines(
        [
            *BULK,
            ("599998", "10001", 1, "2099-01-01 10:00", 3.0, 1.0),
            ("599999", "10001", 1, "1900-01-01 10:00", 3.0, 3.0),
        ]
    )
    whole = _audit_in_parts(frame, None, setenv)
    assert whole[0]["dropped"]["implausible_date"] == 2
    for part_lines in (10, 20):
        assert _audit_in_parts(frame, part_lines, setenv) == whole


def test_lines_spread_over_years_are_not_implausible() -> None:
    """Dates within five years of the bulk are plausible: nothing is dropped or listed."""
    rows = [*BULK, ("599999", "10001", 1, "2006-01-01 10:00", 3.0, 1.0)]
    ledger, _, _ = run_audit(lines(rows))
    assert "implausible_date" not in ledger.dropped
    assert "implausible_date" not in ledger.money["dropped_by_reason"]
    assert "dates" not in ledger.to_dict()


@pytest.mark.parametrize("bad", ["31/12/2011", "2011-13-01", "20111231", "soon", 20111231])
def test_a_bad_as_of_is_a_one_line_error(bad: object) -> None:
    frame = lines(BULK)
    for call in (custseg.segment, custseg.explore):
        with pytest.raises(CustsegError) as err:
            call(frame, as_of=bad)  # type: ignore[operator]
        message = str(err.value)
        assert repr(bad) in message and "YYYY-MM-DD" in message and "\n" not in message


def test_a_good_as_of_is_taken_as_a_date() -> None:
    from datetime import date, datetime

    for given in ("2011-12-31", date(2011, 12, 31), datetime(2011, 12, 31, 18, 0)):
        assert custseg.explore(lines(BULK), as_of=given).ledger.as_of == "2011-12-31"


def test_online_retail_dates_are_all_plausible(online_retail: Path) -> None:
    """The real file's lines (2010-12-01 to 2011-12-09) are cleaned once, as before: no line
    is implausible, the ledger has no ``dates`` entry and keeps its numbers."""
    ledger = custseg.explore(online_retail).ledger
    assert "implausible_date" not in ledger.dropped
    assert "dates" not in ledger.to_dict()
    assert ledger.as_of == "2011-12-10" and ledger.kept_rows == 399_560
    assert ledger.notes == []


def test_the_enrolment_dates_of_marketing_campaign_are_decided_day_first() -> None:
    path = SHARED_DATA / "customer_personality" / "marketing_campaign.csv"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    con = connect()
    src = open_source(con, path)
    reading = read_dates(con, src.view, "Dt_Customer")
    assert reading.format == "%d-%m-%Y" and reading.order == "day-first"
    assert reading.proof is not None and int(reading.proof[:2]) > 12


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_report_shows_the_implausible_lines_in_both_languages(
    lang: str, tmp_path: Path
) -> None:
    from custseg import i18n

    stray = ("599999", "10001", 7, "2099-06-01 10:00", 3.0, 2.0)
    result = custseg.segment(lines([*BULK, stray]), k=2, seed=0, lang=lang)
    custseg.save(result, tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    label = i18n.reason(lang, "implausible_date")
    assert label != "implausible_date"
    assert label.replace("'", "&#39;") in html or label in html


def test_excel_serial_days_in_a_text_column_are_read_as_dates(tmp_path: Path) -> None:
    """A CSV exported from a spreadsheet may hold its dates as serial days (40512.5 is
    2010-12-01 12:00): read as such, they give the same customers as the ISO dates."""
    from custseg.datasets import make_transactions

    frame, _ = make_transactions(60, seed=4)
    frame.to_csv(tmp_path / "iso.csv", index=False)
    days = pd.to_datetime(frame["InvoiceDate"]) - pd.Timestamp("1899-12-30")
    frame["InvoiceDate"] = (days.dt.total_seconds() / 86_400).round(6)
    frame.to_csv(tmp_path / "serial.csv", index=False)
    iso = custseg.segment(tmp_path / "iso.csv", k=3)
    serial = custseg.segment(tmp_path / "serial.csv", k=3)
    assert serial.ledger.date_format == "Excel serial days"
    assert serial.ledger.dropped["unparseable_date"] == 0
    assert serial.ledger.period == iso.ledger.period
    pd.testing.assert_frame_equal(serial.segments, iso.segments)
