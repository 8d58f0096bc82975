"""The audit ledger: rows and money per reason, and the flagging of extreme lines.

The ledger (:class:`Ledger`) is computed in SQL from the cleaned lines, so its counts and money
totals are exactly the ones the features are built from. Large inputs are cleaned in parts:
each part leaves partial aggregates (:func:`accumulate`) that add up to those of the whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from custseg.engines.base import Engine, Params
from custseg.engines.sql import literal
from custseg.stages import relations as rel


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
    #: how the dates were read and judged, when there is something to say: ``order`` (the
    #: day/month order of a text date column, decided by a value or assumed) and
    #: ``implausible`` (lines dated far outside the others, see :func:`date_fence`). Left out
    #: of :meth:`to_dict` when empty, so the ledger of a file with plain dates is unchanged.
    dates: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, keys in a fixed order (``dates`` only when it says something)."""
        d = asdict(self)
        if not self.dates:
            del d["dates"]
        return d

    def check(self) -> None:
        """Raise if rows do not add up (an internal invariant, always true)."""
        total = self.kept_rows + sum(self.dropped.values())
        if total != self.input_rows:  # pragma: no cover - guards the SQL above
            raise AssertionError(f"ledger does not add up: {total} != {self.input_rows}")


_EXTREME_EXPRS: tuple[tuple[str, str], ...] = (
    ("quantity", "abs(quantity)"),
    ("price", "price"),
    ("line_value", "abs(CAST(value AS DOUBLE))"),
)


_TOP_KEYS = ("invoice", "customer_id", "product", "quantity", "price", "value")


def accumulate(con: Engine, table: str, sql: str, part: int, params: Params = None) -> None:
    """Store the result of ``sql`` as temp table ``table`` (part 0) or append it (later parts).

    Partial aggregates of the parts of a large input are kept this way, then combined.
    """
    if part == 0:
        con.create(table, sql, params)
    else:
        con.append(table, sql, params)


def value_counts_sql(measure: str, expr: str, source: str, where: str) -> str:
    """SQL counting the distinct finite values ``x`` of ``expr`` (``measure``, ``x``, ``n``).

    Infinite values (an infinite quantity on a line whose amount is given) have no place in a
    histogram or a quartile and are left out.
    """
    return (
        f"SELECT {literal(measure)} AS measure, CAST({expr} AS DOUBLE) AS x, count(*) AS n "
        f"FROM {source} WHERE {where} AND isfinite(CAST({expr} AS DOUBLE)) GROUP BY x"
    )


def weighted_values(con: Engine, table: str, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of ``measure`` in a value-count table and their counts."""
    rows = con.numpy(
        f"SELECT x, CAST(sum(n) AS BIGINT) FROM {table} WHERE measure = ? GROUP BY x ORDER BY x",
        [measure],
    )
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


def collect_ledger(con: Engine, part: int) -> None:
    """The partial aggregates of the ledger and of the flagging of extreme lines."""
    accumulate(
        con,
        rel.LEDGER,
        "SELECT COALESCE(reason, 'kept') AS reason, kind, count(*) AS n, SUM(value) AS total "
        f"FROM {rel.LINES} GROUP BY COALESCE(reason, 'kept'), kind",
        part,
    )
    accumulate(
        con,
        rel.SPAN,
        "SELECT min(ts) AS first, max(ts) AS last, count(DISTINCT customer_id) AS customers "
        f"FROM {rel.LINES} WHERE reason IS NULL",
        part,
    )
    values = " UNION ALL ".join(
        value_counts_sql(name, expr, rel.LINES, f"reason IS NULL AND {expr} > 0")
        for name, expr in _EXTREME_EXPRS
    )
    accumulate(con, rel.EXTREME_VALUES, values, part)
    top, params = top_lines(con, rel.LINES)
    accumulate(con, rel.EXTREME_TOP, top, part, params)
    accumulate(
        con,
        rel.DATE_DAYS,
        f"SELECT {_DAY} AS day, count(*) AS n FROM {rel.LINES} WHERE ts IS NOT NULL GROUP BY day",
        part,
    )


def top_lines(con: Engine, lines: str) -> tuple[str, list[float]]:
    """SQL (and its parameters) of the five largest kept lines by each measure of
    :data:`_EXTREME_EXPRS`.

    The fifth largest value of each measure is found first (a top 5 of one DOUBLE column per
    measure, in one statement), and only the lines reaching it are sorted in the full order
    (value, then every key of :data:`_TOP_KEYS`): the five largest lines are among them, so
    the result is the same, but the sort on the text keys sees a handful of lines. Sorting
    every kept line on those keys took 0.24 CPU seconds per million lines (DuckDB, 2
    threads), against 0.02 for the three thresholds; the thresholds are bound as parameters
    because DuckDB plans a scalar subquery in the filter as a join that costs 0.1 s.
    """
    kept = "reason IS NULL AND {expr} > 0"
    found = con.row(
        "SELECT "
        + ", ".join(
            f"(SELECT min(y) FROM (SELECT {expr} AS y FROM {lines} WHERE {kept.format(expr=expr)} "
            f"ORDER BY y DESC LIMIT 5) AS fifth_{i})"
            for i, (_, expr) in enumerate(_EXTREME_EXPRS)
        )
    ) or (None,) * len(_EXTREME_EXPRS)
    cols = ", ".join(_TOP_KEYS[:-1]) + ", CAST(value AS DOUBLE) AS value"
    params: list[float] = []
    selects = []
    for (name, expr), fifth in zip(_EXTREME_EXPRS, found, strict=True):
        reach = "FALSE"  # no kept line with a positive value: none to list
        if fifth is not None:
            reach = f"{expr} >= ?"
            params.append(float(fifth))
        selects.append(
            f"(SELECT {literal(name)} AS measure, CAST({expr} AS DOUBLE) AS x, {cols} FROM {lines} "
            f"WHERE {kept.format(expr=expr)} AND {reach} "
            f"ORDER BY {expr} DESC, {', '.join(_TOP_KEYS)} LIMIT 5)"
        )
    return " UNION ALL ".join(selects), params


#: a line's date as days from 1970-01-01 (SQL over the column ``ts``)
_DAY = "date_diff('day', DATE '1970-01-01', CAST(ts AS DATE))"

#: lines dated more than this many widths before the first quartile of the line dates or after
#: the third are implausible (:func:`date_fence`); the width is the interquartile range, at
#: least :data:`DATE_FENCE_MIN_DAYS`
DATE_FENCE_IQR = 3.0
DATE_FENCE_MIN_DAYS = 730


def _iso_day(day: int) -> str:
    """The date ``day`` days after 1970-01-01, as YYYY-MM-DD (clamped to years 1–9999)."""
    try:
        return (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    except OverflowError:
        return (date.min if day < 0 else date.max).isoformat()


@dataclass(frozen=True)
class DateFence:
    """The plausible dates of lines: days ``low`` to ``high`` (from 1970-01-01, inclusive).

    Lines dated outside are dropped as ``implausible_date`` (see :func:`date_fence`).
    """

    low: int
    high: int
    q1: float
    q3: float

    def outside_sql(self) -> str:
        """SQL true for a line (column ``ts``) dated outside the fence."""
        return f"{_DAY} NOT BETWEEN {int(self.low)} AND {int(self.high)}"

    def rule(self) -> str:
        """The rule, in words, with its numbers."""
        return (
            f"dated before {_iso_day(self.low)} or after {_iso_day(self.high)}: more than "
            f"{DATE_FENCE_IQR:g} times the interquartile range of the line dates (at least "
            f"{DATE_FENCE_MIN_DAYS} days) before their first quartile "
            f"({_iso_day(int(self.q1))}) or after their third ({_iso_day(int(self.q3))})"
        )


def date_fence(con: Engine) -> tuple[DateFence, int] | None:
    """The fence of plausible line dates and how many lines lie outside it.

    The fence is computed from the dates of every line that has one (whatever rule drops the
    line otherwise, so the fence does not depend on the rules), summed per day over the parts:
    from ``Q1 - 3 w`` to ``Q3 + 3 w`` with ``w`` the interquartile range of the dates, at
    least two years, so that a line dated 2099, 1970 or 1900 among lines of 2010–2011 lies far
    outside, while the data of a short period keeps every line within six years of its
    quartiles (a few old customers' lines among recent ones are not implausible).
    ``None`` when no line has a date.
    """
    rows = con.numpy(
        f"SELECT day, CAST(sum(n) AS BIGINT) AS n FROM {rel.DATE_DAYS} GROUP BY day ORDER BY day"
    )
    days, counts = rows["day"].astype(np.int64), rows["n"].astype(np.int64)
    if not len(days):
        return None
    q1, q3 = quantiles_cont(days.astype(float), counts, (0.25, 0.75))
    width = max(q3 - q1, DATE_FENCE_MIN_DAYS)
    fence = DateFence(
        low=int(np.floor(q1 - DATE_FENCE_IQR * width)),
        high=int(np.ceil(q3 + DATE_FENCE_IQR * width)),
        q1=q1,
        q3=q3,
    )
    outside = int(counts[(days < fence.low) | (days > fence.high)].sum())
    return fence, outside


def implausible_dates(con: Engine, fence: DateFence, examples: int = 5) -> dict[str, Any]:
    """The ledger's account of the lines dated outside ``fence``: the rule, the lines before
    and after it, and the dates farthest out on each side with their lines."""
    rows = con.rows(
        f"SELECT day, CAST(sum(n) AS BIGINT) FROM {rel.DATE_DAYS} GROUP BY day ORDER BY day"
    )
    before = [(int(d), int(n)) for d, n in rows if d < fence.low]
    after = [(int(d), int(n)) for d, n in rows if d > fence.high]
    farthest = before[:examples] + after[::-1][:examples]
    return {
        "rule": fence.rule(),
        "low": _iso_day(fence.low),
        "high": _iso_day(fence.high),
        "lines_before": sum(n for _, n in before),
        "lines_after": sum(n for _, n in after),
        "examples": [{"date": _iso_day(d), "lines": n} for d, n in sorted(farthest)],
    }


def extremes(con: Engine, iqr: float) -> dict[str, Any]:
    """Flag kept lines beyond the log-scale Tukey fence of quantity, price and line value.

    Computed from the value counts and the five largest lines of every part, which give the
    same fences, counts and lines as one pass over all lines.
    """
    out: dict[str, Any] = {}
    for name, _ in _EXTREME_EXPRS:
        x, n = weighted_values(con, rel.EXTREME_VALUES, name)
        if not len(x):
            continue
        q1, q3 = quantiles_cont(x, n, (0.25, 0.75), np.log10)
        threshold = float(10 ** (q3 + iqr * (q3 - q1)))
        top = con.rows(
            f"SELECT {', '.join(_TOP_KEYS)} FROM {rel.EXTREME_TOP} "
            f"WHERE measure = ? AND x > ? ORDER BY x DESC, {', '.join(_TOP_KEYS)} LIMIT 5",
            [name, threshold],
        )
        out[name] = {
            "threshold": round(threshold, 4),
            "lines": int(n[x > threshold].sum()),
            "largest": [dict(zip(_TOP_KEYS, t, strict=True)) for t in top],
        }
    return out
