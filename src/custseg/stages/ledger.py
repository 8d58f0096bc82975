"""The audit ledger: rows and money per reason, and the flagging of extreme lines.

The ledger (:class:`Ledger`) is computed in SQL from the cleaned lines, so its counts and money
totals are exactly the ones the features are built from. Large inputs are cleaned in parts:
each part leaves partial aggregates (:func:`accumulate`) that add up to those of the whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from custseg.engines.base import Engine
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, keys in a fixed order."""
        return asdict(self)

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


def accumulate(con: Engine, table: str, sql: str, part: int) -> None:
    """Store the result of ``sql`` as temp table ``table`` (part 0) or append it (later parts).

    Partial aggregates of the parts of a large input are kept this way, then combined.
    """
    if part == 0:
        con.create(table, sql)
    else:
        con.append(table, sql)


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
    cols = ", ".join(_TOP_KEYS[:-1]) + ", CAST(value AS DOUBLE) AS value"
    top = " UNION ALL ".join(
        f"(SELECT {literal(name)} AS measure, CAST({expr} AS DOUBLE) AS x, {cols} FROM {rel.LINES} "
        f"WHERE reason IS NULL AND {expr} > 0 "
        f"ORDER BY {expr} DESC, {', '.join(_TOP_KEYS)} LIMIT 5)"
        for name, expr in _EXTREME_EXPRS
    )
    accumulate(con, rel.EXTREME_TOP, top, part)


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
