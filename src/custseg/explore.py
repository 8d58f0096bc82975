"""Data-quality aggregates of the cleaned lines, computed in SQL where the lines live.

cleaned lines (the temp table ``lines`` of :mod:`custseg.audit`) → a small JSON-able summary:
log-binned histograms and box statistics of quantity, unit price and order value over the kept
purchase lines, customers and revenue per country, orders and revenue per month. Its size does
not grow with the data (a few hundred numbers), so it is saved with a run
(``exploration.json``) and the report can be rebuilt without the input.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from custseg.audit import CleaningRules, Ledger, audit
from custseg.engines import connect
from custseg.io import open_source
from custseg.outputs import significant
from custseg.schema import resolve_columns

EXPLORATION_FORMAT = "custseg.exploration/1"
#: histogram bins per power of ten
BINS_PER_DECADE = 10
#: countries shown one by one; the others are summed as ``other``
TOP_COUNTRIES = 15

#: measure → SQL over the kept purchase lines (order value is summed per invoice first)
_MEASURES: dict[str, str] = {
    "quantity": "SELECT CAST(quantity AS DOUBLE) AS x FROM lines "
    "WHERE reason IS NULL AND kind = 'purchase' AND quantity > 0",
    "price": "SELECT CAST(price AS DOUBLE) AS x FROM lines "
    "WHERE reason IS NULL AND kind = 'purchase' AND price > 0",
    "order_value": "SELECT CAST(bought AS DOUBLE) AS x FROM invoices WHERE bought > 0",
}

#: kept lines summed per (customer, invoice) once, shared by the order-value and monthly figures
_INVOICES = """
    CREATE OR REPLACE TEMP TABLE invoices AS
    SELECT customer_id, invoice, min(ts) AS ts,
           SUM(value) FILTER (WHERE kind = 'purchase') AS bought, SUM(value) AS net,
           bool_or(kind = 'purchase') AS is_purchase
    FROM lines WHERE reason IS NULL GROUP BY customer_id, invoice
"""


def _r(x: float | None) -> float | None:
    """Six significant digits: exact for quantities and prices as people write them."""
    return significant(x, 6)


def _distribution(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any] | None:
    row = con.execute(f"""
        SELECT count(*), min(x), quantile_cont(x, [0.25, 0.5, 0.75]), max(x), avg(x)
        FROM ({sql})
    """).fetchone()
    if row is None or not row[0]:
        return None
    n, lo, (q1, med, q3), hi, mean = row
    # quartiles of log10(x) are log10 of x's quartiles (log is monotonic; one sort, not two)
    lq1, lq3 = math.log10(q1), math.log10(q3)
    liqr = lq3 - lq1
    low_fence, high_fence = 10 ** (lq1 - 1.5 * liqr), 10 ** (lq3 + 1.5 * liqr)
    fences = con.execute(
        f"SELECT min(x) FILTER (WHERE x >= ?), max(x) FILTER (WHERE x <= ?) FROM ({sql})",
        [low_fence, high_fence],
    ).fetchone() or (lo, hi)
    bins = con.execute(f"""
        SELECT CAST(floor(log10(x) * {BINS_PER_DECADE} + 1e-9) AS INTEGER) AS b, count(*)
        FROM ({sql}) GROUP BY b ORDER BY b
    """).fetchall()
    return {
        "n": int(n),
        "box": {
            "min": _r(lo),
            "lowerfence": _r(fences[0]),
            "q1": _r(q1),
            "median": _r(med),
            "q3": _r(q3),
            "upperfence": _r(fences[1]),
            "max": _r(hi),
            "mean": _r(mean),
        },
        "bins_per_decade": BINS_PER_DECADE,
        "histogram": [[int(b), int(c)] for b, c in bins],
    }


def summarize(con: duckdb.DuckDBPyConnection, *, lines: str = "lines") -> dict[str, Any]:
    """Cleaned lines → the data-quality aggregates of the report (JSON-able, small).

    Parameters
    ----------
    con : connection holding the temp table ``lines`` built by :func:`custseg.audit.audit`.
    lines : name of that table.

    Returns
    -------
    dict with ``distributions`` (quantity, price, order_value: ``n``, ``box`` statistics and a
    histogram of ``[bin, count]`` where bin ``b`` covers ``[10**(b/10), 10**((b+1)/10))``),
    ``countries`` and ``months``.
    """
    if lines != "lines":
        con.execute(f'CREATE OR REPLACE TEMP VIEW lines AS SELECT * FROM "{lines}"')
    con.execute(_INVOICES)
    distributions = {name: _distribution(con, sql) for name, sql in _MEASURES.items()}
    countries = con.execute("""
        SELECT COALESCE(country, '?') AS country, count(DISTINCT customer_id), count(*),
               CAST(SUM(value) AS DOUBLE)
        FROM lines WHERE reason IS NULL GROUP BY ALL
        ORDER BY 2 DESC, 1
    """).fetchall()
    head = [
        {"country": c, "customers": int(n), "lines": int(m), "revenue": round(float(v or 0), 2)}
        for c, n, m, v in countries[:TOP_COUNTRIES]
    ]
    rest = countries[TOP_COUNTRIES:]
    other = None
    if rest:
        other = {
            "countries": len(rest),
            "customers": int(sum(r[1] for r in rest)),
            "lines": int(sum(r[2] for r in rest)),
            "revenue": round(float(sum(r[3] or 0 for r in rest)), 2),
        }
    # an invoice counts in the month of its first line
    months = con.execute("""
        SELECT strftime(ts, '%Y-%m') AS month, count(*) FILTER (WHERE is_purchase),
               count(DISTINCT customer_id), CAST(SUM(net) AS DOUBLE)
        FROM invoices GROUP BY ALL ORDER BY month
    """).fetchall()
    con.execute("DROP TABLE invoices")
    return {
        "format": EXPLORATION_FORMAT,
        "distributions": distributions,
        "countries": head,
        "other_countries": other,
        "has_country": bool(countries) and any(c != "?" for c, *_ in countries),
        "months": [
            {"month": m, "orders": int(o), "customers": int(c), "revenue": round(float(v or 0), 2)}
            for m, o, c, v in months
        ],
    }


@dataclass
class Exploration:
    """What ``custseg explore`` shows: the audit ledger and the data-quality aggregates."""

    ledger: Ledger
    summary: dict[str, Any]
    fingerprint: dict[str, Any]


def explore(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    mapping: Mapping[str, str] | None = None,
    as_of: date | str | None = None,
    rules: CleaningRules | None = None,
) -> Exploration:
    """Audit a transactions source and summarise its quality, without segmenting.

    transaction lines → ledger + data-quality aggregates (see :func:`summarize`).

    Examples
    --------
    >>> from custseg.datasets import make_transactions
    >>> frame, _ = make_transactions(50, seed=1)
    >>> ex = explore(frame)
    >>> ex.ledger.input_rows == len(frame), sorted(ex.summary["distributions"])
    (True, ['order_value', 'price', 'quantity'])
    """
    con = connect()
    src = None
    try:
        src = open_source(con, source)
        colmap = resolve_columns(src.columns, mapping, source=src.label)
        ledger = audit(con, src, colmap, rules, as_of=as_of)
        return Exploration(ledger=ledger, summary=summarize(con), fingerprint=src.fingerprint)
    except duckdb.Error as exc:
        from custseg.pipeline import engine_error

        raise engine_error(src.label if src else str(source), exc) from exc
    finally:
        if src is not None:
            src.close()
        con.close()
