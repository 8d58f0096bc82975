"""Columns of a customer table as model features: numbers, ordered vocabularies, categories.

A text (or 0/1) column becomes either an *ordinal* number, when all its values belong to one of
:data:`ORDINAL_VOCABULARIES`, or a *category*, its rare values grouped into ``Other``. Both are
fitted once (:func:`plan_column`) and replayed on new rows (:func:`apply_ordinal`,
:func:`apply_category`), where values never seen in training are handled as documented there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

#: ordered vocabularies: a categorical column whose values all belong to one is encoded in order
ORDINAL_VOCABULARIES: tuple[tuple[str, ...], ...] = (
    ("low", "average", "high"),
    ("low", "medium", "high"),
    ("basic", "2n cycle", "graduation", "master", "phd"),
)

#: the category rare values are grouped into
OTHER = "Other"
#: the category of a missing value
UNKNOWN = "Unknown"


def ordinal_vocabulary(values: pd.Series) -> tuple[str, ...] | None:
    """The vocabulary of :data:`ORDINAL_VOCABULARIES` holding every value (case-insensitive,
    at least two of them present), else ``None``."""
    present = {str(v).strip().lower() for v in values.dropna().unique()}
    for vocab in ORDINAL_VOCABULARIES:
        if present and present <= set(vocab) and len(present) >= 2:
            return vocab
    return None


def categories_of(values: pd.Series) -> pd.Series:
    """A column's values as trimmed text categories (missing stays missing)."""
    return values.astype("string").str.strip()


def apply_ordinal(values: pd.Series, vocabulary: list[str] | tuple[str, ...]) -> pd.Series:
    """Ranks 0, 1, … of the values in ``vocabulary`` (case-insensitive). A value missing or not
    in the vocabulary is missing here, then imputed like any missing number."""
    return categories_of(values).str.lower().map({v: float(i) for i, v in enumerate(vocabulary)})


def plan_category(cats: pd.Series, rare_share: float) -> tuple[list[str], list[str]]:
    """The categories seen (trimmed, sorted) and those grouped into ``Other``: below
    ``rare_share`` of the rows, when that leaves at least one and there are more than two."""
    shares = cats.value_counts(normalize=True, dropna=True)
    rare = sorted(shares[shares < rare_share].index.astype(str).tolist())
    if not (rare and len(rare) < len(shares) and len(shares) > 2):
        rare = []
    return sorted(shares.index.astype(str).tolist()), rare


def group_rare(cats: pd.Series, rare: list[str]) -> pd.Series:
    """Rare categories replaced by ``Other``."""
    return cats.where(~cats.isin(rare), OTHER) if rare else cats


def apply_category(values: pd.Series, spec: Mapping[str, Any]) -> pd.Series:
    """A categorical column by its fitted ``spec`` (``seen``, ``rare``).

    Rare categories become ``Other`` and missing values ``Unknown``. A value never seen in
    training becomes ``Other`` when the column has rare categories grouped (it is rarer still),
    else ``Unknown`` (the one-hot encoding of the model then gives it the dummy of ``Unknown``
    if training had missing values, else all zeros).
    """
    cats = categories_of(values)
    rare = list(spec["rare"])
    unseen = cats.notna() & ~cats.isin(list(spec["seen"]))
    if unseen.any():
        cats = cats.where(~unseen, OTHER if rare else pd.NA)
    return group_rare(cats, rare).fillna(UNKNOWN).astype(str)
