"""The named relations the stages exchange through the engine: who writes each, who reads it.

Every relation a stage leaves for another is named here, never spelled in a module of its own.
All are temporary (they live as long as the engine). The audit cleans large inputs in parts
(disjoint sets of customers): the *per-part* relations hold the current part only and are
dropped by the audit after the part's collectors ran; the *accumulated* ones gain the rows of
every part (see :func:`custseg.stages.ledger.accumulate`) and outlive the audit.
"""

from __future__ import annotations

from typing import Final

from custseg.sources.readers import SOURCE_VIEW

#: the input as read (a view over the file, or the registered frame).
#: Written by :func:`custseg.sources.readers.open_source`; read by the audit and the
#: customer-table loading.
SOURCE: Final = SOURCE_VIEW

#: prefix of the parts of a CSV input cleaned in parts (``source_part_0``…).
#: Written and dropped by :func:`custseg.stages.audit.partition.split_parts`; read by
#: :func:`custseg.stages.audit.rules.build_lines`.
SOURCE_PART: Final = "source_part"

#: per part — the cleaned lines: one row per input row, canonical columns, ``value``,
#: ``kind``, ``reason`` (NULL when kept), ``line_no`` and the row hash ``h``.
#: Written by :func:`custseg.stages.audit.rules.build_lines`; read by every collector
#: (:func:`custseg.stages.ledger.collect_ledger`, :func:`custseg.stages.features.collect`,
#: :func:`custseg.stages.quality.collect`). Kept after an audit in one part.
LINES: Final = "lines"

#: per part — kept lines summed per (customer, invoice) (:data:`custseg.stages.audit.rules.PER_INVOICE_SQL`).
#: Written by :func:`custseg.stages.audit.rules.build_lines`; read by
#: :func:`custseg.stages.features.collect` (frequency, money, dates) and
#: :func:`custseg.stages.quality.collect` (order values, months), in either order.
INVOICES: Final = "_cs_invoices"

#: accumulated — rows and exact money per (reason, kind).
#: Written by :func:`custseg.stages.ledger.collect_ledger`; read by :func:`custseg.stages.audit.audit`.
LEDGER: Final = "_cs_ledger"

#: accumulated — first and last kept line, distinct customers, per part.
#: Written by :func:`custseg.stages.ledger.collect_ledger`; read by :func:`custseg.stages.audit.audit`.
SPAN: Final = "_cs_span"

#: accumulated — value counts of quantity, price and line value of kept lines.
#: Written by :func:`custseg.stages.ledger.collect_ledger`; read by :func:`custseg.stages.ledger.extremes`.
EXTREME_VALUES: Final = "_cs_extreme_values"

#: accumulated — the five largest kept lines by quantity, price and line value, per part.
#: Written by :func:`custseg.stages.ledger.collect_ledger`; read by :func:`custseg.stages.ledger.extremes`.
EXTREME_TOP: Final = "_cs_extreme_top"

#: accumulated — lines per day of their date (every line with a date, whatever its reason),
#: ``day`` counted from 1970-01-01, ``n``. Written by :func:`custseg.stages.ledger.collect_ledger`;
#: read by :func:`custseg.stages.ledger.date_fence` (lines dated far outside the others).
DATE_DAYS: Final = "_cs_date_days"

#: accumulated — per-customer totals (first and last purchase, frequency, bought, returned,
#: product breadth). Written by :func:`custseg.stages.features.collect`; read by
#: :func:`custseg.stages.features.customer_features`.
CUSTOMER_TOTALS: Final = "_cs_customer_totals"

#: accumulated — value counts of quantity, price (kept purchase lines) and order value.
#: Written by :func:`custseg.stages.quality.collect`; read by :func:`custseg.stages.quality.summarize`.
VALUE_COUNTS: Final = "_cs_values"

#: accumulated — customers, lines and revenue per country.
#: Written by :func:`custseg.stages.quality.collect`; read by :func:`custseg.stages.quality.summarize`.
COUNTRIES: Final = "_cs_countries"

#: accumulated — orders, customers and revenue per month.
#: Written by :func:`custseg.stages.quality.collect`; read by :func:`custseg.stages.quality.summarize`.
MONTHS: Final = "_cs_months"

#: accumulated, only when asked — every cleaned line of every part (the columns of
#: :data:`LINES` but the row hash), for queries over the lines after the audit.
#: Written by :func:`custseg.stages.audit.keep_lines`; read by :mod:`custseg.outputs.query`.
AUDITED_LINES: Final = "_cs_audited_lines"

#: the customer features (one row per customer, :data:`custseg.stages.features.TRANSACTION_FEATURES`)
#: kept in the engine when the customers are too many to bring back to Python.
#: Written by :func:`custseg.stages.features.keep_customer_features`; read by the clustering
#: in the engine (:mod:`custseg.pipeline`).
CUSTOMER_FEATURES: Final = "_cs_customer_features"

#: the customer features with the segmenter's scaled columns ``z0``, ``z1``… (the clustering
#: in the engine: written and read by :mod:`custseg.pipeline`).
CUSTOMERS_SCALED: Final = "_cs_customers_scaled"

#: every customer's row of the ``segments`` table (the clustering in the engine: written and
#: read by :mod:`custseg.pipeline`).
CUSTOMER_SEGMENTS: Final = "_cs_customer_segments"

#: relations of one part, dropped by the audit once the part's collectors ran
PER_PART: Final = (INVOICES,)

#: relations that gain the rows of every part
ACCUMULATED: Final = (
    LEDGER,
    SPAN,
    EXTREME_VALUES,
    EXTREME_TOP,
    DATE_DAYS,
    CUSTOMER_TOTALS,
    VALUE_COUNTS,
    COUNTRIES,
    MONTHS,
)
