"""Customer tables (one row per customer): roles, reading, cleaning and engineered variables.

:class:`CustomerPreparation` is the fitted, saved and replayable preparation;
:func:`prepare_customers` fits it on a table and applies it, with a ledger.
"""

from custseg.stages.customers.encode import ORDINAL_VOCABULARIES
from custseg.stages.customers.engineer import ENGINEERED
from custseg.stages.customers.preparation import PREPARATION_FORMAT, CustomerPreparation
from custseg.stages.customers.prepare import (
    CustomerLedger,
    CustomerTable,
    prepare_customers,
)
from custseg.stages.customers.roles import ROLE_PATTERNS, detect_roles
from custseg.stages.customers.rules import CustomerRules

__all__ = [
    "ENGINEERED",
    "ORDINAL_VOCABULARIES",
    "PREPARATION_FORMAT",
    "ROLE_PATTERNS",
    "CustomerLedger",
    "CustomerPreparation",
    "CustomerRules",
    "CustomerTable",
    "detect_roles",
    "prepare_customers",
]
