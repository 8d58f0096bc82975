"""Customer tables: one row per customer in → cleaned, engineered features out, with a ledger.

customer table (demographics, spend per category, purchases per channel, campaign answers) →
column roles (detected from names, or declared) → cleaning (duplicates, missing values imputed,
outliers flagged, rare categories grouped, constant and identifier columns set aside, each
counted in a :class:`CustomerLedger`) → engineered variables a marketer reads (age, seniority,
total spend and its shares, children, purchases, accepted campaigns).

The work is done by a :class:`~custseg.stages.customers.preparation.CustomerPreparation`,
fitted on the table and then applied to it, so that the same preparation can be saved and
replayed on new rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from custseg.engines.base import Engine
from custseg.sources.readers import Source
from custseg.stages.customers.load import date_formats
from custseg.stages.customers.preparation import CustomerPreparation
from custseg.stages.customers.rules import CustomerRules


@dataclass
class CustomerLedger:
    """Row accounting and every cleaning decision for a customer table (``audit.json``)."""

    source: str
    input_rows: int
    kept_rows: int
    dropped: dict[str, int]
    as_of: str
    roles: dict[str, Any]
    imputed: dict[str, dict[str, Any]]
    grouped: dict[str, list[str]]
    set_aside: dict[str, str]
    outliers: dict[str, Any]
    notes: list[str]
    rules: dict[str, Any]
    kind: str = "customers"
    customers: int = 0
    money: dict[str, Any] = field(default_factory=dict)
    period: dict[str, str | None] = field(default_factory=lambda: {"first": None, "last": None})
    columns: dict[str, str] = field(default_factory=dict)
    #: extreme values of transaction lines; customer tables report theirs under ``outliers``
    flagged: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass
class CustomerTable:
    """The cleaned customer table, what the model should use from it, and how it was made."""

    frame: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    label: str | None
    outcomes: list[str]
    ledger: CustomerLedger
    preparation: CustomerPreparation | None = None


def prepare_customers(
    con: Engine,
    src: Source,
    *,
    roles: Mapping[str, Any] | None = None,
    rules: CustomerRules | None = None,
    as_of: date | str | None = None,
) -> CustomerTable:
    """Customer table → cleaned features ready for :class:`~custseg.model.CustomerSegmenter`.

    Fits a :class:`CustomerPreparation` on ``src``, then transforms ``src`` with it.

    Raises :class:`SchemaError` when no column can be used as a feature and
    :class:`EmptyDataError` when no row is left.
    """
    prep = CustomerPreparation(roles=roles, rules=rules, as_of=as_of).fit(src, con=con)
    out = prep.transform(src, con=con)
    report = prep.report_
    ledger = CustomerLedger(
        source=src.label,
        input_rows=report["input_rows"],
        kept_rows=len(out),
        dropped=report["dropped"],
        as_of=prep.as_of_.isoformat() if prep.as_of_ else "",
        roles={**prep.roles_, "id": prep.id_, "date_formats": date_formats(prep.reading_)},
        imputed=report["imputed"],
        grouped=report["grouped"],
        set_aside=report["set_aside"],
        outliers=report["outliers"],
        notes=report["notes"],
        rules=prep.rules_.to_dict(),
        customers=len(out),
        columns={"customer_id": prep.id_} if prep.id_ else {},
    )
    if ledger.kept_rows + sum(ledger.dropped.values()) != ledger.input_rows:  # pragma: no cover
        raise AssertionError("customer ledger does not add up")
    return CustomerTable(
        out, prep.numeric_, prep.categorical_, prep.label_, prep.outcomes_, ledger, prep
    )
