"""Customer tables (one row per customer): roles, reading, cleaning and engineered variables."""

from custseg.stages.customers.prepare import (
    ENGINEERED,
    CustomerLedger,
    CustomerRules,
    CustomerTable,
    prepare_customers,
)
from custseg.stages.customers.roles import ROLE_PATTERNS, detect_roles

__all__ = [
    "ENGINEERED",
    "ROLE_PATTERNS",
    "CustomerLedger",
    "CustomerRules",
    "CustomerTable",
    "detect_roles",
    "prepare_customers",
]
