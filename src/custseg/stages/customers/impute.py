"""Missing values of a customer table's numeric features: the training median, fitted once.

Categorical features need no fitting: a missing category is ``Unknown``
(:func:`custseg.stages.customers.encode.apply_category`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd


def fit_medians(frame: pd.DataFrame, columns: Iterable[str]) -> dict[str, float | None]:
    """The median of each column over the rows of ``frame`` (``None`` when all are missing).

    Fitted on the rows kept after the outlier policy, values clipped: the rows the model sees.
    """
    medians: dict[str, float | None] = {}
    for c in columns:
        med = float(frame[c].median())
        medians[c] = None if math.isnan(med) else med
    return medians


def apply_medians(frame: pd.DataFrame, medians: Mapping[str, float | None]) -> pd.DataFrame:
    """``frame`` with the missing values of each column replaced by its median."""
    out = frame.copy()
    for c, med in medians.items():
        if med is not None and out[c].isna().any():
            out[c] = out[c].fillna(med)
    return out
