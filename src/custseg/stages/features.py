"""Transaction features: cleaned lines → one row per customer.

The query is written once, in DuckDB's dialect, and transpiled by sqlglot for other engines
(:func:`customer_features_sql` with ``dialect="spark"``). Aggregation is two-level: lines are
first summed per (customer, invoice) and per (customer, product), then per customer, which
replaces two ``COUNT(DISTINCT …)`` over all lines by plain counts over far fewer rows.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from custseg.engines.base import Engine
from custseg.engines.sql import ident
from custseg.stages import relations as rel
from custseg.stages.audit.rules import PER_INVOICE_SQL
from custseg.stages.ledger import accumulate

#: features computed for every customer, in output order
TRANSACTION_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_basket",
    "product_breadth",
    "return_rate",
    "mean_days_between",
)

FEATURE_DESCRIPTIONS: dict[str, str] = {
    "recency_days": "days from the last purchase to the as-of date",
    "frequency": "distinct purchase invoices",
    "monetary": "net spend: purchases minus cancellations and returns",
    "tenure_days": "days from the first purchase to the as-of date",
    "avg_basket": "purchases divided by purchase invoices",
    "product_breadth": "distinct products bought",
    "return_rate": "share of purchased value cancelled or returned (0 to 1)",
    "mean_days_between": "mean days between first and last purchase per further purchase "
    "(0 for one-purchase customers)",
}


#: distinct products among each customer's kept purchases
PER_PRODUCT_SQL = """
    SELECT customer_id, COUNT(*) AS product_breadth
    FROM (SELECT customer_id, product FROM {lines}
          WHERE reason IS NULL AND kind = 'purchase' AND product IS NOT NULL
          GROUP BY customer_id, product) AS cp
    GROUP BY customer_id"""

#: per-customer totals that do not depend on the as-of date (combinable across parts)
_TOTALS_CTES = """
WITH per_invoice AS ({per_invoice}
), per_product AS ({per_product}
), per_customer AS (
    SELECT customer_id,
           MAX(CASE WHEN has_purchase = 1 THEN ts END) AS last_ts,
           MIN(CASE WHEN has_purchase = 1 THEN ts END) AS first_ts,
           SUM(has_purchase) AS frequency,
           SUM(bought) AS bought,
           SUM(returned) AS returned
    FROM per_invoice
    GROUP BY customer_id
), totals AS (
    SELECT c.customer_id, c.last_ts, c.first_ts, c.frequency, c.bought, c.returned,
           COALESCE(p.product_breadth, 0) AS product_breadth
    FROM per_customer AS c
    LEFT JOIN per_product AS p ON p.customer_id = c.customer_id
    WHERE c.frequency > 0
)"""

_FEATURES_SELECT = """
SELECT c.customer_id,
       GREATEST(DATE_DIFF('day', CAST(c.last_ts AS DATE), CAST('{as_of}' AS DATE)), 0) AS recency_days,
       c.frequency,
       CAST(c.bought - c.returned AS DOUBLE) AS monetary,
       GREATEST(DATE_DIFF('day', CAST(c.first_ts AS DATE), CAST('{as_of}' AS DATE)), 0) AS tenure_days,
       CAST(c.bought / c.frequency AS DOUBLE) AS avg_basket,
       c.product_breadth,
       CAST(LEAST(c.returned / c.bought, 1) AS DOUBLE) AS return_rate,
       CASE WHEN c.frequency > 1
            THEN CAST(DATE_DIFF('day', CAST(c.first_ts AS DATE), CAST(c.last_ts AS DATE)) AS DOUBLE)
                 / (c.frequency - 1)
            ELSE 0.0 END AS mean_days_between
FROM {totals} AS c
ORDER BY c.customer_id
"""

#: where :func:`collect` keeps the per-customer totals of the parts cleaned so far
TOTALS_TABLE = rel.CUSTOMER_TOTALS


def customer_features_sql(as_of: date, *, lines: str = rel.LINES, dialect: str = "duckdb") -> str:
    """The feature query over a cleaned-lines table, in the SQL dialect of an engine.

    Examples
    --------
    >>> sql = customer_features_sql(date(2011, 12, 10), dialect="spark")
    >>> "DATEDIFF" in sql.upper()
    True
    """
    sql = _TOTALS_CTES.format(
        per_invoice=PER_INVOICE_SQL.format(lines=lines),
        per_product=PER_PRODUCT_SQL.format(lines=lines),
    ) + _FEATURES_SELECT.format(totals="totals", as_of=as_of.isoformat())
    if dialect == "duckdb":
        return sql
    import sqlglot  # only for other engines: keeps the default path's start-up short

    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True)[0]


def collect(con: Engine, part: int) -> None:
    """Add the per-customer totals of the cleaned lines of one part (:data:`~custseg.stages.relations.LINES`).

    Parts hold disjoint customers, so each customer's totals come from one part whole. The
    invoices come from :data:`~custseg.stages.relations.INVOICES` (made by
    :func:`custseg.stages.audit.rules.build_lines`), the product breadth from the lines.
    """
    sql = _TOTALS_CTES.format(
        per_invoice=f"SELECT * FROM {rel.INVOICES}",
        per_product=PER_PRODUCT_SQL.format(lines=rel.LINES),
    )
    accumulate(con, TOTALS_TABLE, sql + " SELECT * FROM totals", part)


def customer_features(con: Engine, as_of: date | str) -> pd.DataFrame:
    """Audited lines → one row per customer with :data:`TRANSACTION_FEATURES`.

    Computed from the per-customer totals (:data:`~custseg.stages.relations.CUSTOMER_TOTALS`)
    :func:`custseg.stages.audit.audit` left in ``con``. Only
    customers with at least one kept purchase appear; rows are sorted by ``customer_id``.
    """
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    sql = _FEATURES_SELECT.format(totals=TOTALS_TABLE, as_of=as_of.isoformat())
    return typed_features(con.frame(sql))


def keep_customer_features(con: Engine, as_of: date | str) -> int:
    """The customer features kept in the engine as :data:`~custseg.stages.relations.CUSTOMER_FEATURES`
    (the rows of :func:`customer_features`, left where they are); returns their number."""
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    sql = _FEATURES_SELECT.format(totals=TOTALS_TABLE, as_of=as_of.isoformat())
    con.create(rel.CUSTOMER_FEATURES, sql)
    return int(con.scalar(f"SELECT count(*) FROM {rel.CUSTOMER_FEATURES}"))


#: the features that are whole numbers (counts of days, invoices, products)
COUNT_FEATURES: tuple[str, ...] = ("recency_days", "frequency", "tenure_days", "product_breadth")


def typed_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the feature query as :func:`customer_features` gives them: text customer ids,
    whole-number counts, a fresh index."""
    frame["customer_id"] = frame["customer_id"].astype(str)
    for col in COUNT_FEATURES:
        frame[col] = frame[col].astype("int64")
    return frame.reset_index(drop=True)


def typed_features_sql(con: Engine, relation: str = rel.CUSTOMER_FEATURES) -> str:
    """A query of ``relation`` (kept by :func:`keep_customer_features`) typed in the engine as
    :func:`typed_features` types the rows in Python: text customer ids, 64-bit counts, the
    other features as doubles (an engine may compute them as decimals)."""
    items = []
    for col, kind in con.describe(relation).items():
        if col == "customer_id":
            items.append(f"CAST({ident(col)} AS VARCHAR) AS {ident(col)}")
        elif col in COUNT_FEATURES:
            items.append(f"CAST({ident(col)} AS BIGINT) AS {ident(col)}")
        elif kind.startswith("DECIMAL"):
            items.append(f"CAST({ident(col)} AS DOUBLE) AS {ident(col)}")
        else:
            items.append(ident(col))
    return f"SELECT {', '.join(items)} FROM {ident(relation)}"
