"""The cleaning policy of customer tables (data, not code)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CustomerRules:
    """Cleaning policy for customer tables. Data, not code.

    Parameters
    ----------
    outliers : ``"clip"`` (keep the customer, winsorise the value at the fence for clustering),
        ``"drop"`` (drop the row, reason ``outlier``) or ``"keep"`` (flag only).
    outlier_iqr : fence at this many interquartile ranges beyond the quartiles (on the log
        scale for skewed non-negative columns).
    rare_share : categories below this share of rows are grouped into ``Other``.
    max_categories : text columns with more distinct values are not used as features.
    max_age : a birth year giving an age above this is an outlier whatever the fences say.
    """

    outliers: str = "clip"
    outlier_iqr: float = 3.0
    rare_share: float = 0.01
    max_categories: int = 50
    max_age: int = 100

    def to_dict(self) -> dict[str, Any]:
        """The rules as JSON-able data."""
        return asdict(self)
