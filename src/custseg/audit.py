"""Audit and clean transaction lines: every input row is kept or dropped with a reason.

transactions (any column names) → ``lines``: one row per input row with canonical columns, its
line value, a ``reason`` (NULL when kept) and a ``kind`` (purchase, cancellation or return). The
rules are applied in the order of :data:`RULE_ORDER`; a row is counted under the first rule it
breaks. The ledger (:class:`Ledger`) is computed in SQL from that table, so its counts and money
totals are exactly the ones the features are built from.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from custseg.errors import EmptyDataError, SchemaError
from custseg.io import Source
from custseg.schema import ColumnMap

#: lines cleaned at once (see :func:`partitions`); ``CUSTSEG_PARTITION_LINES`` overrides it
PARTITION_LINES = 25_000_000

#: drop reasons, in the order the rules are applied
RULE_ORDER: tuple[str, ...] = (
    "unparseable_date",
    "missing_customer_id",
    "duplicate",
    "bad_debt_adjustment",
    "non_product",
    "invalid_quantity_or_price",
    "negative_price",
    "zero_price",
    "zero_quantity",
    "after_as_of",
    "return_without_purchase",
)

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


@dataclass(frozen=True)
class CleaningRules:
    """What counts as a cancellation, an adjustment or a non-product line. Data, not code.

    Parameters
    ----------
    cancellation_prefix : invoice prefix of cancellations (their lines have negative values;
        negative lines on other invoices are counted as returns). Both are netted per customer.
    adjustment_pattern : regular expression on the invoice of accounting adjustments.
    adjustment_descriptions : descriptions (case-insensitive prefixes) of adjustments.
    non_product_codes : product codes that are not merchandise (postage, fees, manual lines…),
        compared case-insensitively.
    non_product_pattern : regular expression for further non-product codes (vouchers).
    extreme_iqr : lines whose log10 quantity, price or value lies more than this many
        interquartile ranges above the third quartile are flagged (never dropped).
    """

    cancellation_prefix: str = "C"
    adjustment_pattern: str = r"^A[0-9]+$"
    adjustment_descriptions: tuple[str, ...] = ("adjust bad debt",)
    non_product_codes: tuple[str, ...] = (
        "POST",
        "DOT",
        "M",
        "C2",
        "D",
        "S",
        "B",
        "BANK CHARGES",
        "AMAZONFEE",
        "CRUK",
        "PADS_FEE",
    )
    non_product_pattern: str = r"^(?i:gift_)"
    extreme_iqr: float = 3.0

    def to_dict(self) -> dict[str, Any]:
        """The rules as JSON-able data (saved in model.json and audit.json)."""
        d = asdict(self)
        d["adjustment_descriptions"] = list(self.adjustment_descriptions)
        d["non_product_codes"] = list(self.non_product_codes)
        return d


@dataclass
class Ledger:
    """Row and money accounting of the cleaning step (``audit.json``)."""

    source: str
    input_rows: int
    kept_rows: int
    dropped: dict[str, int]
    kept_by_kind: dict[str, int]
    money: dict[str, Any]
    as_of: str
    period: dict[str, str | None]
    customers: int
    columns: dict[str, str]
    date_format: str | None
    flagged: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, keys in a fixed order."""
        return asdict(self)

    def check(self) -> None:
        """Raise if rows do not add up (an internal invariant, always true)."""
        total = self.kept_rows + sum(self.dropped.values())
        if total != self.input_rows:  # pragma: no cover - guards the SQL above
            raise AssertionError(f"ledger does not add up: {total} != {self.input_rows}")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(col: str) -> str:
    """SQL of a text column without surrounding spaces, NULL when empty. Only values that
    start or end with a space, or hold a non-ASCII character, are trimmed: copying every
    string cost 0.6 CPU seconds per 10 M lines and column. TRIM also removes the other
    Unicode spaces (no-break space U+00A0, U+3000…); the only ASCII one is ' '."""
    x = f"CAST({_q(col)} AS VARCHAR)"
    return (
        f"(CASE WHEN starts_with({x}, ' ') OR suffix({x}, ' ') OR strlen({x}) <> length({x}) "
        f"THEN NULLIF(TRIM({x}), '') ELSE NULLIF({x}, '') END)"
    )


#: text numbers written with a thousands comma (1,250.00) or a decimal comma (1.250,00 / 2,55)
_US_NUMBER = r"^[^0-9]*[0-9]{1,3}(,[0-9]{3})+([.][0-9]+)?[^0-9]*$|[0-9],[0-9]*[.][0-9]"
_EU_NUMBER = r"^[^0-9]*[0-9]{1,3}([.][0-9]{3})+(,[0-9]+)?[^0-9]*$|[0-9][.][0-9]*,[0-9]|[0-9],[0-9]{1,2}[^0-9]*$"


def number_convention(con: duckdb.DuckDBPyConnection, view: str, col: str) -> str | None:
    """``"us"`` (1,250.00), ``"eu"`` (1.250,00 or 2,55) or ``None`` for a text column.

    Decided once per column from a sample of its distinct values, so that ``2,500`` reads as
    2500 in a column that also holds ``1,250.00`` and as 2.5 in one that holds ``3,75``.
    A column that shows both conventions, or neither, is read value by value.
    """
    sample = (
        f"(SELECT DISTINCT TRIM(CAST({_q(col)} AS VARCHAR)) AS v FROM {_q(view)} "
        f"WHERE {_q(col)} IS NOT NULL ORDER BY v LIMIT 20000)"
    )
    us, eu = con.execute(
        f"SELECT count(*) FILTER (WHERE regexp_matches(v, {_lit(_US_NUMBER)})), "
        f"count(*) FILTER (WHERE regexp_matches(v, {_lit(_EU_NUMBER)})) FROM {sample}"
    ).fetchone() or (0, 0)
    if us and not eu:
        return "us"
    if eu and not us:
        return "eu"
    return None


def _drop_group_separator(s: str, sep: str) -> str:
    """SQL removing ``sep`` where it separates a group of three digits (applied twice, as
    matches of one pass cannot overlap: 1.234.567 needs two)."""
    pattern = _lit(f"([0-9])[{sep}]([0-9]{{3}})([^0-9]|$)")
    once = f"regexp_replace({s}, {pattern}, '\\1\\2\\3', 'g')"
    return f"regexp_replace({once}, {pattern}, '\\1\\2\\3', 'g')"


def _number(col: str, dtype: str, convention: str | None = None) -> str:
    """SQL turning a column into DOUBLE: numbers as they are; text with currency signs,
    spaces, thousands separators, decimal commas or accounting parentheses (negative)."""
    if any(t in dtype for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC", "BOOL")):
        return f"CAST({_q(col)} AS DOUBLE)"
    raw = f"TRIM(CAST({_q(col)} AS VARCHAR))"
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
        f"(CASE WHEN regexp_full_match({raw}, {_lit(plain)}) THEN CAST({raw} AS DOUBLE) "
        f"WHEN regexp_matches({raw}, '^[(].*[)]$') THEN -{value} ELSE {value} END)"
    )


def _customer(col: str, dtype: str) -> str:
    if any(t in dtype for t in ("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
        c = _q(col)
        return (
            f"CASE WHEN {c} IS NULL OR NOT isfinite({c}) THEN NULL "
            f"WHEN {c} = floor({c}) AND abs({c}) < 1e18 "
            f"THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
        )
    text = _text(col)
    # "12346.0" is "12346"; the pattern is only tried on ids ending in 0
    return f"(CASE WHEN suffix({text}, '0') THEN regexp_replace({text}, '\\.0+$', '') ELSE {text} END)"


def _partition_key(col: str, dtype: str, cleaned: str) -> str:
    """SQL hashing the customer id so that equal cleaned ids fall in the same part.

    Numbers are hashed as they are (adding 0.0 turns -0.0 into 0.0), which skips turning every
    id into text on each pass; text is hashed once cleaned (``" 12346.0"`` is ``"12346"``).
    """
    if any(t in dtype for t in ("DOUBLE", "FLOAT", "REAL")):
        return f"hash({_q(col)} + 0.0)"
    if any(t in dtype for t in ("INT", "DECIMAL", "NUMERIC")):
        return f"hash({_q(col)})"
    return f"hash({cleaned})"


def choose_date_format(con: duckdb.DuckDBPyConnection, view: str, col: str) -> str | None:
    """Pick the date format that parses most of a sample of a text column.

    Returns ``None`` when ISO timestamps (handled by a plain cast) parse at least as many.
    Ties between day-first and month-first are resolved day-first, the usual order outside
    the United States.
    """
    sample = (
        f"(SELECT DISTINCT TRIM({_q(col)}) AS v FROM {_q(view)} WHERE {_q(col)} IS NOT NULL "
        "ORDER BY v LIMIT 20000)"  # ordered: the same sample, hence the same format, every run
    )
    counts = ["count(TRY_CAST(v AS TIMESTAMP))"]
    counts += [f"count(try_strptime(v, {_lit(fmt)}))" for fmt in DATE_FORMATS]
    row = con.execute(f"SELECT {', '.join(counts)} FROM {sample}").fetchone()
    assert row is not None
    best = max(range(len(row)), key=lambda i: (row[i], -i))
    return None if best == 0 else DATE_FORMATS[best - 1]


def _date(con: duckdb.DuckDBPyConnection, src: Source, col: str) -> tuple[str, str | None]:
    dtype = src.types[col].upper()
    if "TIMESTAMP" in dtype:
        return f"CAST({_q(col)} AS TIMESTAMP)", None
    if dtype == "DATE":
        return f"CAST({_q(col)} AS TIMESTAMP)", None
    if dtype != "VARCHAR":
        raise SchemaError(
            f"{src.label}: date column {col!r} has type {dtype}; expected dates or text such as "
            "2011-12-09 12:50. Use --map date=<column> to pick another column"
        )
    fmt = choose_date_format(con, src.view, col)
    if fmt is None:
        return f"TRY_CAST(TRIM({_q(col)}) AS TIMESTAMP)", "ISO 8601"
    return f"try_strptime(TRIM({_q(col)}), {_lit(fmt)})", fmt


def _uses_amount(colmap: ColumnMap) -> bool:
    """Whether line values come from the amount column (given explicitly, or no quantity or
    price to multiply) rather than from quantity × price."""
    cols = colmap.present()
    return "amount" in cols and (
        "amount" in colmap.explicit or "quantity" not in cols or "price" not in cols
    )


def _choose_formats(
    con: duckdb.DuckDBPyConnection, src: Source, colmap: ColumnMap, memo: dict[str, Any]
) -> None:
    """Choose, once, the date format and each text number column's convention (into memo)."""
    cols = colmap.present()
    if "date" not in memo:
        memo["date"] = _date(con, src, cols["date"])
    roles = ["quantity", "price"] + (["amount"] if _uses_amount(colmap) else [])
    for role in roles:
        if role in cols and role not in memo:
            text = src.types[cols[role]].upper() == "VARCHAR"
            memo[role] = number_convention(con, src.view, cols[role]) if text else None


def build_lines(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    colmap: ColumnMap,
    rules: CleaningRules,
    as_of: date | None = None,
    *,
    part: tuple[int, int] = (0, 1),
    memo: dict[str, Any] | None = None,
) -> str | None:
    """Create the temp table ``lines`` (canonical columns + reason + kind); return the date format.

    With ``as_of``, lines dated on or after it are outside the observation period: they are
    dropped as ``after_as_of`` so that recency, tenure, frequency and money all describe the
    same period. With ``part = (i, n)``, only the lines of the i-th of n disjoint sets of
    customers (by a hash of the customer id) are built; every rule but the flagging of extreme
    values looks at one customer's lines only, so the parts add up to the whole.
    """
    cols = colmap.present()
    memo = {} if memo is None else memo  # per-column choices, made once for all parts
    _choose_formats(con, src, colmap, memo)
    ts_expr, date_format = memo["date"]
    id_type = src.types[cols["customer_id"]].upper().split("(", 1)[0]  # see _part_key
    cust = _customer(cols["customer_id"], id_type)

    def number(role: str) -> str:
        if role not in cols:
            return "NULL"
        return _number(cols[role], src.types[cols[role]].upper(), memo[role])

    qty = number("quantity")
    price = number("price")
    use_amount = _uses_amount(colmap)
    amount = number("amount") if use_amount else "NULL"
    value = "a" if use_amount else "(q * p)"
    invoice = _text(cols["invoice"]) if "invoice" in cols else "NULL"
    product = _text(cols["product"]) if "product" in cols else "NULL"
    country = _text(cols["country"]) if "country" in cols else "NULL"
    descr = _text(cols["description"]) if "description" in cols else "NULL"
    all_cols = ", ".join(_q(c) for c in src.columns)
    codes = ", ".join(_lit(c.upper()) for c in rules.non_product_codes) or "NULL"
    adj_desc = (
        " OR ".join(
            f"lower(descr) LIKE {_lit(d.lower() + '%')}" for d in rules.adjustment_descriptions
        )
        or "FALSE"
    )
    prefix = _lit(rules.cancellation_prefix)
    after = ""
    if as_of is not None:
        after = f"\n            WHEN CAST(ts AS DATE) >= DATE {_lit(as_of.isoformat())} THEN 'after_as_of'"
    index, parts = part
    key = _part_key(src, colmap)
    where = f"\n            WHERE {key} % {int(parts)} = {int(index)}" if parts > 1 else ""
    price_rules = ""
    if not use_amount:
        price_rules = """
            WHEN p < 0 THEN 'negative_price'
            WHEN p = 0 THEN 'zero_price'
            WHEN q = 0 THEN 'zero_quantity'"""
    else:
        price_rules = """
            WHEN v = 0 THEN 'zero_quantity'"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lines AS
        WITH raw AS (
            SELECT {ts_expr} AS ts, {cust} AS customer_id, {invoice} AS invoice_in,
                   {product} AS product, {country} AS country, {descr} AS descr,
                   {qty} AS q, {price} AS p, {amount} AS a, hash({all_cols}) AS h
            FROM {_q(src.view)}{where}
        ), x AS (
            SELECT *, COALESCE(invoice_in, customer_id || '@' || CAST(ts AS VARCHAR)) AS invoice,
                   TRY_CAST(ROUND({value}, 6) AS DECIMAL(18, 6)) AS v
            FROM raw
        ), r AS (
            SELECT *, CASE
                WHEN ts IS NULL THEN 'unparseable_date'
                WHEN customer_id IS NULL THEN 'missing_customer_id'
                WHEN regexp_matches(COALESCE(invoice_in, ''), {_lit(rules.adjustment_pattern)})
                     OR {adj_desc} THEN 'bad_debt_adjustment'
                WHEN upper(product) IN ({codes})
                     OR regexp_matches(COALESCE(product, ''), {_lit(rules.non_product_pattern)})
                     THEN 'non_product'
                WHEN v IS NULL OR isinf(CAST(v AS DOUBLE)) THEN 'invalid_quantity_or_price'{price_rules}{after}
                ELSE NULL END AS reason
            FROM x
        )
        SELECT ts, customer_id, invoice, product, country, q AS quantity, p AS price, v AS value,
               CASE WHEN reason IS NOT NULL THEN NULL
                    WHEN v > 0 THEN 'purchase'
                    WHEN starts_with(invoice, {prefix}) THEN 'cancellation'
                    ELSE 'return' END AS kind,
               reason, h
        FROM r
    """)
    # One aggregation per (customer, product) over the lines a customer can be identified
    # on gives, per customer: the product breadth (distinct products among kept purchases),
    # whether they kept a purchase or a return, and the products they have on several lines.
    # Removing a later copy of a line never removes its (customer, product) pair nor a
    # customer's last purchase, so these hold before and after the duplicates are dropped.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _cs_pairs AS
        SELECT customer_id,
               count(*) FILTER (WHERE kept_purchase AND product IS NOT NULL) AS product_breadth,
               bool_or(kept_purchase) AS has_purchase,
               bool_or(kept_return) AS has_return,
               list(product) FILTER (WHERE n > 1) AS repeated
        FROM (SELECT customer_id, product, count(*) AS n,
                     bool_or(kind = 'purchase') AS kept_purchase,
                     bool_or(kind IN ('cancellation', 'return')) AS kept_return
              FROM lines WHERE ts IS NOT NULL AND customer_id IS NOT NULL
              GROUP BY customer_id, product) AS pairs
        GROUP BY customer_id
    """)
    # Exact duplicates share every column, so they lie among the lines of a (customer,
    # product) pair seen more than once: only those few are compared, over the whole-row hash
    # and the cleaned columns kept in ``lines`` (the description and unmapped columns are
    # compared through the 64-bit hash). The first copy is kept; later copies are dropped
    # unless an earlier rule (date, customer id) already dropped them.
    con.execute("""
        UPDATE lines SET reason = 'duplicate', kind = NULL
        WHERE rowid IN (
            SELECT rid FROM (
                SELECT l.rowid AS rid,
                       row_number() OVER (
                           PARTITION BY h, ts, l.customer_id, invoice, l.product, country,
                                        quantity, price, value
                           ORDER BY l.rowid) AS rank
                FROM lines AS l
                SEMI JOIN (SELECT customer_id, unnest(repeated) AS product FROM _cs_pairs
                           WHERE len(repeated) > 0) AS c
                ON l.customer_id = c.customer_id AND l.product IS NOT DISTINCT FROM c.product
                WHERE l.ts IS NOT NULL AND l.customer_id IS NOT NULL
            ) WHERE rank > 1
        )
    """)
    con.execute("""
        UPDATE lines SET reason = 'return_without_purchase', kind = NULL
        WHERE kind IN ('cancellation', 'return') AND customer_id IN (
            SELECT customer_id FROM _cs_pairs WHERE has_return AND NOT has_purchase)
    """)
    return date_format


_EXTREME_EXPRS: tuple[tuple[str, str], ...] = (
    ("quantity", "abs(quantity)"),
    ("price", "price"),
    ("line_value", "abs(CAST(value AS DOUBLE))"),
)
_TOP_KEYS = ("invoice", "customer_id", "product", "quantity", "price", "value")


def accumulate(con: duckdb.DuckDBPyConnection, table: str, sql: str, part: int) -> None:
    """Store the result of ``sql`` as temp table ``table`` (part 0) or append it (later parts).

    Partial aggregates of the parts of a large input are kept this way, then combined.
    """
    if part == 0:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
    else:
        con.execute(f"INSERT INTO {table} {sql}")


def value_counts_sql(measure: str, expr: str, source: str, where: str) -> str:
    """SQL counting the distinct finite values ``x`` of ``expr`` (``measure``, ``x``, ``n``).

    Infinite values (an infinite quantity on a line whose amount is given) have no place in a
    histogram or a quartile and are left out.
    """
    return (
        f"SELECT {_lit(measure)} AS measure, CAST({expr} AS DOUBLE) AS x, count(*) AS n "
        f"FROM {source} WHERE {where} AND isfinite(CAST({expr} AS DOUBLE)) GROUP BY x"
    )


def weighted_values(
    con: duckdb.DuckDBPyConnection, table: str, measure: str
) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of ``measure`` in a value-count table and their counts."""
    rows = con.execute(
        f"SELECT x, CAST(sum(n) AS BIGINT) FROM {table} WHERE measure = ? GROUP BY x ORDER BY x",
        [measure],
    ).fetchnumpy()
    return rows["x"].astype(float), rows[next(k for k in rows if k != "x")].astype(np.int64)


def quantiles_cont(
    x: np.ndarray, n: np.ndarray, qs: tuple[float, ...], transform: Any = None
) -> list[float]:
    """Quantiles of values ``x`` repeated ``n`` times, as DuckDB's ``quantile_cont`` gives them.

    Position ``(N - 1) q`` in the sorted values, linear interpolation between its neighbours,
    applied to ``transform(x)`` when given (a monotonic function, such as log10).

    Examples
    --------
    >>> quantiles_cont(np.array([1.0, 2.0, 10.0]), np.array([2, 1, 1]), (0.25, 0.5, 0.75))
    [1.0, 1.5, 4.0]
    """
    total = int(n.sum())
    cum = np.cumsum(n)
    out = []
    for q in qs:
        h = (total - 1) * q
        lo, hi = int(np.floor(h)), int(np.ceil(h))
        a, b = x[np.searchsorted(cum, lo, side="right")], x[np.searchsorted(cum, hi, side="right")]
        if transform is not None:
            a, b = transform(a), transform(b)
        out.append(float(a + (h - lo) * (b - a)))
    return out


def _collect_ledger(con: duckdb.DuckDBPyConnection, part: int) -> None:
    """The partial aggregates of the ledger and of the flagging of extreme lines."""
    accumulate(
        con,
        "_cs_ledger",
        "SELECT COALESCE(reason, 'kept') AS reason, kind, count(*) AS n, SUM(value) AS total "
        "FROM lines GROUP BY ALL",
        part,
    )
    accumulate(
        con,
        "_cs_span",
        "SELECT min(ts) AS first, max(ts) AS last, count(DISTINCT customer_id) AS customers "
        "FROM lines WHERE reason IS NULL",
        part,
    )
    values = " UNION ALL ".join(
        value_counts_sql(name, expr, "lines", f"reason IS NULL AND {expr} > 0")
        for name, expr in _EXTREME_EXPRS
    )
    accumulate(con, "_cs_extreme_values", values, part)
    cols = ", ".join(_TOP_KEYS[:-1]) + ", CAST(value AS DOUBLE) AS value"
    top = " UNION ALL ".join(
        f"(SELECT {_lit(name)} AS measure, CAST({expr} AS DOUBLE) AS x, {cols} FROM lines "
        f"WHERE reason IS NULL AND {expr} > 0 "
        f"ORDER BY {expr} DESC, {', '.join(_TOP_KEYS)} LIMIT 5)"
        for name, expr in _EXTREME_EXPRS
    )
    accumulate(con, "_cs_extreme_top", top, part)


def _extremes(con: duckdb.DuckDBPyConnection, rules: CleaningRules) -> dict[str, Any]:
    """Flag kept lines beyond the log-scale Tukey fence of quantity, price and line value.

    Computed from the value counts and the five largest lines of every part, which give the
    same fences, counts and lines as one pass over all lines.
    """
    out: dict[str, Any] = {}
    for name, _ in _EXTREME_EXPRS:
        x, n = weighted_values(con, "_cs_extreme_values", name)
        if not len(x):
            continue
        q1, q3 = quantiles_cont(x, n, (0.25, 0.75), np.log10)
        threshold = float(10 ** (q3 + rules.extreme_iqr * (q3 - q1)))
        top = con.execute(
            f"SELECT {', '.join(_TOP_KEYS)} FROM _cs_extreme_top "
            f"WHERE measure = ? AND x > ? ORDER BY x DESC, {', '.join(_TOP_KEYS)} LIMIT 5",
            [name, threshold],
        ).fetchall()
        out[name] = {
            "threshold": round(threshold, 4),
            "lines": int(n[x > threshold].sum()),
            "largest": [dict(zip(_TOP_KEYS, t, strict=True)) for t in top],
        }
    return out


def _part_key(src: Source, colmap: ColumnMap) -> str:
    """SQL of the hash that sends each customer's lines to one part (see :func:`_partition_key`)."""
    col = colmap.present()["customer_id"]
    # the type's name without its parameters: ENUM('mint', 'realty') (a pandas categorical)
    # lists its values, which must not be read as INT or REAL
    id_type = src.types[col].upper().split("(", 1)[0]
    return _partition_key(col, id_type, _customer(col, id_type))


@contextmanager
def _split(
    con: duckdb.DuckDBPyConnection, src: Source, colmap: ColumnMap, parts: int
) -> Iterator[list[tuple[Source, tuple[int, int]]]]:
    """Where each part's lines are read from: ``(source, part)`` for every part.

    Parts of a Parquet file filter the file (a scan that skips other parts' customers costs
    little). A CSV file cleaned in several parts is split once into temporary Parquet files,
    one per part (same text columns): otherwise every part would parse the whole file and
    clean every customer id again to find its own (3.3 s per part and 10 M lines).
    """
    if parts < 2 or src.kind != "csv":
        yield [(src, (i, parts)) for i in range(parts)]
        return
    folder = Path(tempfile.mkdtemp(prefix="custseg-parts-"))
    views = [f"{src.view}_part{i}" for i in range(parts)]
    try:
        con.execute(
            f"COPY (SELECT *, {_part_key(src, colmap)} % {int(parts)} AS _cs_part "
            f"FROM {_q(src.view)}) TO {_lit(str(folder))} "
            "(FORMAT parquet, PARTITION_BY (_cs_part), COMPRESSION lz4)"
        )
        for i, view in enumerate(views):
            where = folder / f"_cs_part={i}"
            body = (
                f"SELECT * FROM read_parquet({_lit(str(where / '*.parquet'))}, "
                "hive_partitioning = false)"
                if where.is_dir()
                else f"SELECT * FROM {_q(src.view)} LIMIT 0"  # no customer hashed here
            )
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS {body}")
        yield [(replace(src, view=view), (0, 1)) for view in views]
    finally:
        for view in views:
            con.execute(f"DROP VIEW IF EXISTS {_q(view)}")
        shutil.rmtree(folder, ignore_errors=True)


def partitions(con: duckdb.DuckDBPyConnection, src: Source) -> int:
    """How many disjoint sets of customers the lines are cleaned in, one set at a time.

    One for inputs up to ``CUSTSEG_PARTITION_LINES`` lines (default 25 million); beyond, the
    lines of one part at a time are held, which bounds the memory of any input size (on 100 M
    synthetic lines, five parts peak at about 5 GB).
    """
    per_part = int(os.environ.get("CUSTSEG_PARTITION_LINES", "0") or 0) or PARTITION_LINES
    rows = src.estimated_rows(con)
    return max(1, -(-rows // per_part))


def audit(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    colmap: ColumnMap,
    rules: CleaningRules | None = None,
    *,
    as_of: date | str | None = None,
) -> Ledger:
    """Clean the source's lines and account for every row.

    transactions → :class:`Ledger`, plus, in temp tables of ``con``, the partial aggregates
    the features (:func:`custseg.features.customer_features`) and the exploration
    (:func:`custseg.explore.summarize`) are computed from. When the input is cleaned in one
    part, the cleaned lines stay in the temp table ``lines`` (same row count as the input).
    Raises :class:`EmptyDataError` when no row survives.
    """
    from custseg.explore import collect as collect_exploration
    from custseg.features.transactions import collect as collect_features

    rules = rules or CleaningRules()
    given_as_of = None
    if as_of is not None:
        given_as_of = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))
    parts = partitions(con, src)
    memo: dict[str, Any] = {}
    date_format = None
    if parts > 1:  # formats are chosen from the whole input, before it is split
        _choose_formats(con, src, colmap, memo)
    with _split(con, src, colmap, parts) as plan:
        for index, (part_src, part) in enumerate(plan):
            date_format = build_lines(
                con, part_src, colmap, rules, given_as_of, part=part, memo=memo
            )
            _collect_ledger(con, index)
            collect_features(con, index)
            collect_exploration(con, index)
            if parts > 1:
                con.execute("DROP TABLE lines")
    # rows and exact (DECIMAL) money per reason and kind
    groups = con.execute(
        "SELECT reason, kind, CAST(sum(n) AS BIGINT), SUM(total) FROM _cs_ledger GROUP BY ALL"
    ).fetchall()
    by_reason: dict[str, int] = {}
    money_exact: dict[str, Decimal] = {}
    kinds: dict[str, int] = {}
    kind_money: dict[str, Decimal] = {}
    for reason, kind, count, total in groups:
        by_reason[reason] = by_reason.get(reason, 0) + int(count)
        money_exact[reason] = money_exact.get(reason, Decimal(0)) + (total or Decimal(0))
        if reason == "kept":
            kinds[kind] = int(count)
            kind_money[kind] = total or Decimal(0)
    input_rows = int(sum(by_reason.values()))
    kept = int(by_reason.pop("kept", 0))
    dropped = {r: int(by_reason.get(r, 0)) for r in RULE_ORDER}
    if input_rows == 0:
        raise EmptyDataError(f"{src.label}: the file has a header but no rows; nothing to segment")
    if kept == 0:
        worst = max(dropped, key=lambda r: dropped[r])
        raise EmptyDataError(
            f"{src.label}: no valid transaction line after cleaning ({input_rows} rows, most "
            f"dropped as {worst}); check the column mapping with --map and the file's content"
        )
    money_by = {r: round(float(m), 2) for r, m in money_exact.items()}
    total_in = [sum(money_exact.values(), Decimal(0))]
    bought = kind_money.get("purchase", Decimal(0))
    net_kept = money_exact.get("kept", Decimal(0))
    returned = bought - net_kept
    first, last, customers = con.execute(
        "SELECT min(first), max(last), CAST(sum(customers) AS BIGINT) FROM _cs_span"
    ).fetchone() or (None, None, 0)
    as_of_date = given_as_of or last.date() + timedelta(days=1)
    notes: list[str] = []
    if dropped["after_as_of"]:
        notes.append(
            f"{dropped['after_as_of']} lines are dated on or after the as-of date {as_of_date}: "
            "outside the observation period, they are dropped"
        )
    ledger = Ledger(
        source=src.label,
        input_rows=input_rows,
        kept_rows=kept,
        dropped=dropped,
        kept_by_kind={k: int(kinds.get(k, 0)) for k in ("purchase", "cancellation", "return")},
        money={
            "input_total": round(float(total_in[0] or 0.0), 2) if total_in else 0.0,
            "kept_net": round(float(net_kept or 0.0), 2),
            "kept_purchases": round(float(bought or 0.0), 2),
            "kept_returns": round(float(returned or 0.0), 2),
            "dropped_by_reason": {r: money_by.get(r, 0.0) for r in RULE_ORDER},
            "note": "sums of quantity × price (or amount) over rows whose value can be computed",
        },
        as_of=as_of_date.isoformat(),
        period={
            "first": first.isoformat() if first else None,
            "last": last.isoformat() if last else None,
        },
        customers=int(customers),
        columns=colmap.present(),
        date_format=date_format,
        flagged=_extremes(con, rules),
        rules=rules.to_dict(),
        notes=notes,
    )
    ledger.check()
    return ledger
