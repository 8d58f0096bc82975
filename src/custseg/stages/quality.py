"""Data-quality aggregates of the cleaned lines, computed in SQL where the lines live.

cleaned lines (:data:`~custseg.stages.relations.LINES`, see :mod:`custseg.stages.audit`) → a small JSON-able
summary: log-binned histograms and box statistics of quantity, unit price and order value over
the kept purchase lines, customers and revenue per country, orders and revenue per month. Its
size does not grow with the data (a few hundred numbers), so it is saved with a run
(``exploration.json``) and the report can be rebuilt without the input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from custseg.engines.base import Engine
from custseg.stages import relations as rel
from custseg.stages.ledger import (
    accumulate,
    quantiles_cont,
    value_counts_sql,
    weighted_values,
)

EXPLORATION_FORMAT = "custseg.exploration/1"


#: histogram bins per power of ten
BINS_PER_DECADE = 10


#: countries shown one by one; the others are summed as ``other``
TOP_COUNTRIES = 15


#: measure → (value, table, condition) counted over the kept purchase lines, or over the
#: invoices (kept lines summed per customer and invoice) for the order value
_MEASURES: dict[str, tuple[str, str, str]] = {
    "quantity": ("quantity", rel.LINES, "reason IS NULL AND kind = 'purchase' AND quantity > 0"),
    "price": ("price", rel.LINES, "reason IS NULL AND kind = 'purchase' AND price > 0"),
    "order_value": ("bought", rel.INVOICES, "bought > 0"),  # kept lines per invoice
}


def collect(con: Engine, part: int) -> None:
    """Add the partial aggregates of the cleaned lines of one part (:data:`~custseg.stages.relations.LINES`).

    Value counts, and per country and month the lines, revenue, orders and distinct
    customers: parts hold disjoint customers (and so disjoint invoices), so sums of the
    parts' figures are the figures of the whole. Reads the part's invoices
    (:data:`~custseg.stages.relations.INVOICES`, made by the audit).
    """
    values = " UNION ALL ".join(
        value_counts_sql(name, expr, table, where)
        for name, (expr, table, where) in _MEASURES.items()
    )
    accumulate(con, rel.VALUE_COUNTS, values, part)
    accumulate(
        con,
        rel.COUNTRIES,
        f"""SELECT COALESCE(country, '?') AS country, count(DISTINCT customer_id) AS customers,
                  count(*) AS lines, SUM(value) AS revenue
           FROM {rel.LINES} WHERE reason IS NULL GROUP BY COALESCE(country, '?')""",
        part,
    )
    # an invoice counts in the month of its first line
    accumulate(
        con,
        rel.MONTHS,
        f"""SELECT strftime(m, '%Y-%m') AS month, orders, customers, revenue FROM (
               SELECT date_trunc('month', ts) AS m,
                      count(*) FILTER (WHERE has_purchase = 1) AS orders,
                      count(DISTINCT customer_id) AS customers, SUM(bought - returned) AS revenue
               FROM {rel.INVOICES} GROUP BY date_trunc('month', ts)) AS per_month""",
        part,
    )


def _r(x: float | None) -> float | None:
    """Six significant digits: exact for quantities and prices as people write them."""
    return significant(x, 6)


def _distribution(con: Engine, measure: str) -> dict[str, Any] | None:
    x, n = weighted_values(con, rel.VALUE_COUNTS, measure)
    if not len(x):
        return None
    total = int(n.sum())
    q1, med, q3 = quantiles_cont(x, n, (0.25, 0.5, 0.75))
    # quartiles of log10(x) are log10 of x's quartiles (log is monotonic; one sort, not two)
    lq1, lq3 = math.log10(q1), math.log10(q3)
    liqr = lq3 - lq1
    low_fence, high_fence = 10 ** (lq1 - 1.5 * liqr), 10 ** (lq3 + 1.5 * liqr)
    inside_low, inside_high = x[x >= low_fence], x[x <= high_fence]
    bins = np.floor(np.log10(x) * BINS_PER_DECADE + 1e-9).astype(np.int64)
    edges, first = np.unique(bins, return_index=True)
    counts = np.add.reduceat(n, first)
    return {
        "n": total,
        "box": {
            "min": _r(float(x[0])),
            "lowerfence": _r(float(inside_low[0]) if len(inside_low) else float(x[0])),
            "q1": _r(q1),
            "median": _r(med),
            "q3": _r(q3),
            "upperfence": _r(float(inside_high[-1]) if len(inside_high) else float(x[-1])),
            "max": _r(float(x[-1])),
            "mean": _r(float(np.dot(x, n) / total)),
        },
        "bins_per_decade": BINS_PER_DECADE,
        "histogram": [[int(b), int(c)] for b, c in zip(edges, counts, strict=True)],
    }


def summarize(con: Engine) -> dict[str, Any]:
    """Audited lines → the data-quality aggregates of the report (JSON-able, small).

    Parameters
    ----------
    con : connection on which :func:`custseg.stages.audit.audit` ran (it leaves the partial
        aggregates this summary is computed from).

    Returns
    -------
    dict with ``distributions`` (quantity, price, order_value: ``n``, ``box`` statistics and a
    histogram of ``[bin, count]`` where bin ``b`` covers ``[10**(b/10), 10**((b+1)/10))``),
    ``countries`` and ``months``.
    """
    distributions = {name: _distribution(con, name) for name in _MEASURES}
    countries = con.rows(f"""
        SELECT country, CAST(sum(customers) AS BIGINT), CAST(sum(lines) AS BIGINT),
               CAST(SUM(revenue) AS DOUBLE)
        FROM {rel.COUNTRIES} GROUP BY country
        ORDER BY 2 DESC, 1
    """)
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
    months = con.rows(f"""
        SELECT month, CAST(sum(orders) AS BIGINT), CAST(sum(customers) AS BIGINT),
               CAST(SUM(revenue) AS DOUBLE)
        FROM {rel.MONTHS} GROUP BY month ORDER BY month
    """)
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


def significant(x: float | None, digits: int) -> float | None:
    """``x`` rounded to ``digits`` significant digits, for compact and stable JSON.

    ``None``, NaN and infinities give ``None``.

    Examples
    --------
    >>> significant(80995.123, 4), significant(0.0012345, 2), significant(float("nan"), 3)
    (81000.0, 0.0012, None)
    """
    if x is None or not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return round(float(x), digits - 1 - math.floor(math.log10(abs(x))))
