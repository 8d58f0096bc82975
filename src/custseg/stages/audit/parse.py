"""Parsing raw text into typed values, as SQL expressions: numbers, dates, customer ids.

Each helper returns an SQL expression over one source column; the choices that need a look at
the data (the date format, the number convention of a text column) are made once from an
ordered sample of distinct values, so every run makes the same choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from custseg.engines.base import Engine
from custseg.engines.sql import ident, literal
from custseg.errors import SchemaError
from custseg.sources.readers import Source
from custseg.sources.schema import ColumnMap

DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%Y%m%d",
    "%m-%d-%Y %H:%M:%S",
    "%m-%d-%Y %H:%M",
    "%m-%d-%Y",
    "%m.%d.%Y %H:%M:%S",
    "%m.%d.%Y %H:%M",
    "%m.%d.%Y",
)

#: a value read as ISO 8601 (by a cast) whatever format the other values of its column have:
#: 2011-12-09, 2011-12-09 12:50, 2011-12-09T12:50:00
ISO_DATE = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ T]|$)"

#: day-first format → its month-first counterpart, and back (same separator and time)
_COUNTERPART: dict[str, str] = {}
for _fmt in DATE_FORMATS:
    for _sep in "/-.":
        for _a, _b in (("%d", "%m"), ("%m", "%d")):
            if _fmt.startswith(f"{_a}{_sep}{_b}{_sep}%Y"):
                _twin = f"{_b}{_sep}{_a}{_sep}%Y" + _fmt[len(f"{_a}{_sep}{_b}{_sep}%Y") :]
                if _twin in DATE_FORMATS:
                    _COUNTERPART[_fmt] = _twin


def text_expr(col: str) -> str:
    """SQL of a text column without surrounding spaces, NULL when empty. Only values that
    start or end with a space, or hold a non-ASCII character, are trimmed: copying every
    string cost 0.6 CPU seconds per 10 M lines and column. TRIM also removes the other
    Unicode spaces (no-break space U+00A0, U+3000…); the only ASCII one is ' '."""
    x = f"CAST({ident(col)} AS VARCHAR)"
    return (
        f"(CASE WHEN starts_with({x}, ' ') OR suffix({x}, ' ') OR strlen({x}) <> length({x}) "
        f"THEN NULLIF(TRIM({x}), '') ELSE NULLIF({x}, '') END)"
    )


#: text numbers written with a thousands comma (1,250.00) or a decimal comma (1.250,00 / 2,55)
_US_NUMBER = r"^[^0-9]*[0-9]{1,3}(,[0-9]{3})+([.][0-9]+)?[^0-9]*$|[0-9],[0-9]*[.][0-9]"


_EU_NUMBER = r"^[^0-9]*[0-9]{1,3}([.][0-9]{3})+(,[0-9]+)?[^0-9]*$|[0-9][.][0-9]*,[0-9]|[0-9],[0-9]{1,2}[^0-9]*$"


def number_convention(con: Engine, view: str, col: str) -> str | None:
    """``"us"`` (1,250.00), ``"eu"`` (1.250,00 or 2,55) or ``None`` for a text column.

    Decided once per column from a sample of its distinct values, so that ``2,500`` reads as
    2500 in a column that also holds ``1,250.00`` and as 2.5 in one that holds ``3,75``.
    A column that shows both conventions, or neither, is read value by value.
    """
    sample = (
        f"(SELECT DISTINCT TRIM(CAST({ident(col)} AS VARCHAR)) AS v FROM {ident(view)} "
        f"WHERE {ident(col)} IS NOT NULL ORDER BY v LIMIT 20000)"
    )
    us, eu = con.row(
        f"SELECT count(*) FILTER (WHERE regexp_matches(v, {literal(_US_NUMBER)})), "
        f"count(*) FILTER (WHERE regexp_matches(v, {literal(_EU_NUMBER)})) FROM {sample} AS s"
    ) or (0, 0)
    if us and not eu:
        return "us"
    if eu and not us:
        return "eu"
    return None


def _drop_group_separator(s: str, sep: str) -> str:
    """SQL removing ``sep`` where it separates a group of three digits (applied twice, as
    matches of one pass cannot overlap: 1.234.567 needs two)."""
    pattern = literal(f"([0-9])[{sep}]([0-9]{{3}})([^0-9]|$)")
    once = f"regexp_replace({s}, {pattern}, '\\1\\2\\3', 'g')"
    return f"regexp_replace({once}, {pattern}, '\\1\\2\\3', 'g')"


def number_expr(col: str, dtype: str, convention: str | None = None) -> str:
    """SQL turning a column into DOUBLE: numbers as they are; text with currency signs,
    spaces, thousands separators, decimal commas or accounting parentheses (negative)."""
    if any(t in dtype for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC", "BOOL")):
        return f"CAST({ident(col)} AS DOUBLE)"
    raw = f"TRIM(CAST({ident(col)} AS VARCHAR))"
    # currency codes and words go; digits, separators, signs and exponents stay
    s = f"regexp_replace(regexp_replace({raw}, '[A-Za-z]{{2,}}', '', 'g'), '[^0-9,.eE+-]', '', 'g')"
    if convention == "us":
        # a comma between a digit and a group of exactly three digits separates thousands; a
        # comma left after that (2,55 among 1,250.00) can only be a decimal comma
        text = f"replace({_drop_group_separator(s, ',')}, ',', '.')"
    elif convention == "eu":
        text = f"replace({_drop_group_separator(s, '.')}, ',', '.')"
    else:
        text = (
            f"CASE WHEN contains({s}, ',') AND contains({s}, '.') THEN "
            f"(CASE WHEN instr(reverse({s}), ',') < instr(reverse({s}), '.') "
            f"THEN replace(replace({s}, '.', ''), ',', '.') ELSE replace({s}, ',', '') END) "
            f"ELSE replace({s}, ',', '.') END"
        )
    value = f"TRY_CAST({text} AS DOUBLE)"
    # plain numbers (most values) are cast directly: the clean-up above costs 2.5 CPU seconds
    # per 10 M values, the check 0.5; with a decimal comma only integers are plain
    plain = "-?[0-9]+" if convention == "eu" else "-?[0-9]+([.][0-9]+)?"
    return (
        f"(CASE WHEN regexp_full_match({raw}, {literal(plain)}) THEN CAST({raw} AS DOUBLE) "
        f"WHEN regexp_matches({raw}, '^[(].*[)]$') THEN -{value} ELSE {value} END)"
    )


def customer_expr(col: str, dtype: str) -> str:
    if any(t in dtype for t in ("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
        c = ident(col)
        return (
            f"CASE WHEN {c} IS NULL OR NOT isfinite({c}) THEN NULL "
            f"WHEN {c} = floor({c}) AND abs({c}) < 1e18 "
            f"THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
        )
    text = text_expr(col)
    # "12346.0" is "12346"; the pattern is only tried on ids ending in 0
    return (
        f"(CASE WHEN suffix({text}, '0') THEN regexp_replace({text}, '\\.0+$', '') ELSE {text} END)"
    )


#: the pseudo-format of a text column of Excel serial dates (days since 1899-12-30, the time as
#: the fraction: ``40512.5`` is 2010-12-01 12:00), as a spreadsheet exports them to CSV
EXCEL_SERIAL = "Excel serial days"
#: an Excel serial date between 1950-01-01 (18,264) and 2099-12-31 (73,050), with its time
_SERIAL = r"^(1[89][0-9]{3}|[2-6][0-9]{4}|7[0-2][0-9]{3}|730[0-4][0-9]|7305[0])([.][0-9]+)?$"


@dataclass(frozen=True)
class DateReading:
    """How a text date column is read, decided once from its values (see :func:`read_dates`).

    Attributes
    ----------
    format : strptime format of the values that are not ISO 8601; ``None`` when every value
        is read by a plain cast (ISO 8601).
    iso : whether some values are ISO 8601; those are always read as ISO, whatever ``format``.
    order : ``"day-first"`` or ``"month-first"`` when ``format`` puts the day and the month
        in the first two fields (d/m/Y, m/d/Y…), else ``None``.
    proof : a value that decided ``order`` (``13/05/2011`` proves day-first); ``None`` when no
        value could tell, every first and second field being at most 12, and the order was
        assumed (day-first, the usual order outside the United States).
    """

    format: str | None
    iso: bool = False
    order: str | None = None
    proof: str | None = None

    @property
    def label(self) -> str:
        """The reading as the ledger's ``date_format`` says it."""
        if self.format is None:
            return "ISO 8601"
        return f"ISO 8601 and {self.format}" if self.iso else self.format

    @property
    def assumed(self) -> bool:
        """Whether the day/month order was assumed for lack of a value that decides it."""
        return self.order is not None and self.proof is None

    def sql(self, value: str) -> str:
        """SQL reading the trimmed text ``value`` as a TIMESTAMP (NULL when it does not parse)."""
        cast = f"TRY_CAST({value} AS TIMESTAMP)"
        if self.format is None:
            return cast
        if self.format == EXCEL_SERIAL:  # to the second, as spreadsheets show them
            seconds = f"CAST(round(CAST({value} AS DOUBLE) * 86400) AS BIGINT)"
            parsed = (
                f"(CASE WHEN regexp_matches({value}, {literal(_SERIAL)}) THEN "
                f"TIMESTAMP '1899-12-30' + to_seconds({seconds}) END)"
            )
        else:
            parsed = f"try_strptime({value}, {literal(self.format)})"
        if not self.iso:
            return parsed
        return f"(CASE WHEN regexp_matches({value}, {literal(ISO_DATE)}) THEN {cast} ELSE {parsed} END)"


#: distinct values of the date column being decided on (dropped once decided)
_DATE_VALUES = "_cs_date_values"


def read_dates(con: Engine, view: str, col: str, label: str = "") -> DateReading:
    """Decide how a text date column is read, from its values; the same every run.

    1. ISO 8601 values (:data:`ISO_DATE`) are always read as ISO by a cast, whatever the
       format of the other values.
    2. The other values get the format of :data:`DATE_FORMATS` that parses most of an
       ordered sample of them (a plain cast when it parses at least as many), or are read as
       Excel serial days (:data:`EXCEL_SERIAL`) when more of them are such numbers.
    3. When that format puts the day and the month in the first two fields, every distinct
       value of the column decides their order: a first field above 12 (``13/05/2011``)
       proves day-first, a second field above 12 (``05/13/2011``) proves month-first. A
       column holding both proofs mixes the two conventions and is refused
       (:class:`SchemaError` naming the column and one value of each), as any reading would
       put some dates in the wrong month. A column with neither (every field at most 12) is
       read day-first, the usual order outside the United States, and the reading says it was
       assumed (:attr:`DateReading.assumed`; the audit notes it in the ledger).

    Raises
    ------
    SchemaError
        When the column mixes day-first and month-first dates.
    """
    con.create(
        _DATE_VALUES,
        f"SELECT DISTINCT TRIM({ident(col)}) AS v FROM {ident(view)} WHERE {ident(col)} IS NOT NULL",
    )
    try:
        return _decide(con, col, label)
    finally:
        con.drop(_DATE_VALUES)


def _decide(con: Engine, col: str, label: str) -> DateReading:
    """:func:`read_dates` over the distinct values held in :data:`_DATE_VALUES`."""
    iso = f"regexp_matches(v, {literal(ISO_DATE)})"
    sample = (  # ordered: the same sample, hence the same format, every run
        f"(SELECT v FROM {_DATE_VALUES} WHERE NOT {iso} ORDER BY v LIMIT 20000)"
    )
    counts = ["count(TRY_CAST(v AS TIMESTAMP))"]
    counts += [f"count(try_strptime(v, {literal(fmt)}))" for fmt in DATE_FORMATS]
    row = con.row(
        f"SELECT (SELECT count(*) FROM {_DATE_VALUES} WHERE {iso}), {', '.join(counts)} "
        f"FROM {sample} AS s"
    )
    assert row is not None
    has_iso, row = bool(row[0]), row[1:]
    best = max(range(len(row)), key=lambda i: (row[i], -i))
    serial = con.scalar(
        f"SELECT count(*) FILTER (WHERE regexp_matches(v, {literal(_SERIAL)})) FROM {sample} AS s"
    )
    if serial and serial > row[best]:  # numbers of days, as a spreadsheet exports dates
        return DateReading(EXCEL_SERIAL, iso=has_iso)
    if best == 0:
        return DateReading(None, iso=has_iso)
    fmt = DATE_FORMATS[best - 1]
    if fmt not in _COUNTERPART:
        return DateReading(fmt, iso=has_iso)
    day_first = fmt if fmt.startswith("%d") else _COUNTERPART[fmt]
    sep = f"[{fmt[2]}]"
    fields = f"^([0-9]{{1,2}}){sep}([0-9]{{1,2}}){sep}[0-9]{{4}}"
    a = f"TRY_CAST(regexp_extract(v, {literal(fields)}, 1) AS INTEGER)"
    b = f"TRY_CAST(regexp_extract(v, {literal(fields)}, 2) AS INTEGER)"
    proves_day = f"{a} BETWEEN 13 AND 31 AND {b} BETWEEN 1 AND 12"
    proves_month = f"{b} BETWEEN 13 AND 31 AND {a} BETWEEN 1 AND 12"
    day, month = con.row(
        f"SELECT min(v) FILTER (WHERE {proves_day}), min(v) FILTER (WHERE {proves_month}) "
        f"FROM {_DATE_VALUES} WHERE NOT {iso}"
    ) or (None, None)
    if day is not None and month is not None:
        where = f"{label}: " if label else ""
        raise SchemaError(
            f"{where}date column {col!r} mixes day-first and month-first dates ({day!r} can "
            f"only be day/month, {month!r} only month/day), so some dates cannot be read "
            "without error; write its dates as YYYY-MM-DD (ISO 8601) and run again"
        )
    if month is not None:
        return DateReading(_COUNTERPART[day_first], iso=has_iso, order="month-first", proof=month)
    return DateReading(day_first, iso=has_iso, order="day-first", proof=day)


def choose_date_format(con: Engine, view: str, col: str) -> str | None:
    """The strptime format of the values of a text date column that are not ISO 8601, or
    ``None`` when a plain cast (ISO 8601) reads them (see :func:`read_dates`)."""
    return read_dates(con, view, col).format


def date_expr(con: Engine, src: Source, col: str) -> tuple[str, DateReading | None]:
    """SQL reading the date column ``col`` as a TIMESTAMP, and how a text column is read
    (``None`` for a column typed as dates)."""
    dtype = src.types[col].upper()
    if "TIMESTAMP" in dtype:
        return f"CAST({ident(col)} AS TIMESTAMP)", None
    if dtype == "DATE":
        return f"CAST({ident(col)} AS TIMESTAMP)", None
    if dtype != "VARCHAR":
        raise SchemaError(
            f"{src.label}: date column {col!r} has type {dtype}; expected dates or text such as "
            "2011-12-09 12:50. Use --map date=<column> to pick another column"
        )
    reading = read_dates(con, src.view, col, src.label)
    return reading.sql(f"TRIM({ident(col)})"), reading


def uses_amount(colmap: ColumnMap) -> bool:
    """Whether line values come from the amount column (given explicitly, or no quantity or
    price to multiply) rather than from quantity × price."""
    cols = colmap.present()
    return "amount" in cols and (
        "amount" in colmap.explicit or "quantity" not in cols or "price" not in cols
    )


def choose_formats(con: Engine, src: Source, colmap: ColumnMap, memo: dict[str, Any]) -> None:
    """Choose, once, the date format and each text number column's convention (into memo)."""
    cols = colmap.present()
    if "date" not in memo:
        memo["date"] = date_expr(con, src, cols["date"])  # (SQL, DateReading | None)
    roles = ["quantity", "price"] + (["amount"] if uses_amount(colmap) else [])
    for role in roles:
        if role in cols and role not in memo:
            text = src.types[cols[role]].upper() == "VARCHAR"
            memo[role] = number_convention(con, src.view, cols[role]) if text else None
