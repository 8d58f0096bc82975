"""Parsing raw text into typed values, as SQL expressions: numbers, dates, customer ids.

Each helper returns an SQL expression over one source column; the choices that need a look at
the data (the date format, the number convention of a text column) are made once from an
ordered sample of distinct values, so every run makes the same choice.
"""

from __future__ import annotations

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
)


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


def choose_date_format(con: Engine, view: str, col: str) -> str | None:
    """Pick the date format that parses most of a sample of a text column.

    Returns ``None`` when ISO timestamps (handled by a plain cast) parse at least as many.
    Ties between day-first and month-first are resolved day-first, the usual order outside
    the United States.
    """
    sample = (
        f"(SELECT DISTINCT TRIM({ident(col)}) AS v FROM {ident(view)} WHERE {ident(col)} IS NOT NULL "
        "ORDER BY v LIMIT 20000)"  # ordered: the same sample, hence the same format, every run
    )
    counts = ["count(TRY_CAST(v AS TIMESTAMP))"]
    counts += [f"count(try_strptime(v, {literal(fmt)}))" for fmt in DATE_FORMATS]
    row = con.row(f"SELECT {', '.join(counts)} FROM {sample} AS s")
    assert row is not None
    best = max(range(len(row)), key=lambda i: (row[i], -i))
    return None if best == 0 else DATE_FORMATS[best - 1]


def date_expr(con: Engine, src: Source, col: str) -> tuple[str, str | None]:
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
    fmt = choose_date_format(con, src.view, col)
    if fmt is None:
        return f"TRY_CAST(TRIM({ident(col)}) AS TIMESTAMP)", "ISO 8601"
    return f"try_strptime(TRIM({ident(col)}), {literal(fmt)})", fmt


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
        memo["date"] = date_expr(con, src, cols["date"])
    roles = ["quantity", "price"] + (["amount"] if uses_amount(colmap) else [])
    for role in roles:
        if role in cols and role not in memo:
            text = src.types[cols[role]].upper() == "VARCHAR"
            memo[role] = number_convention(con, src.view, cols[role]) if text else None
