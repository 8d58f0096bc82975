"""Engineered variables a marketer reads: age, seniority, total spend and its shares, children,
purchases, accepted campaigns.

Each variable is a *definition* (plain data: a name, an operation, its source columns), planned
once from the roles of a table and applied to any rows with :func:`apply_column`. The
operations (:data:`OPERATIONS`) are a closed list: a definition read from a file can only name
one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import SchemaError

#: engineered variables, in the order they are clustered on
ENGINEERED: tuple[str, ...] = (
    "age",
    "birth_year",
    "seniority_days",
    "total_spend",
    "children",
    "total_purchases",
    "accepted_campaigns",
)

#: operation → what it computes from its ``sources`` (see :func:`apply_column`)
OPERATIONS: dict[str, str] = {
    "age": "the as-of year minus the birth year",
    "days_since": "days from the date to the as-of date",
    "sum": "row sum of the sources (missing when all are missing)",
    "share": "the source over the total named by 'total' (0 when the total is 0 or missing)",
    "number": "the source as a number",
    "copy": "the source as read",
}

#: how numbers in an enrolment-date column encode dates
NUMERIC_DATES: tuple[str, ...] = ("yyyymmdd", "excel")


def numeric_date_encoding(values: pd.Series) -> str | None:
    """``"yyyymmdd"`` or ``"excel"`` (serial days) for dates written as numbers, else ``None``."""
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().sum() == 0:
        return None
    present = num.dropna()
    if present.between(19000101, 21001231).mean() > 0.9:
        return "yyyymmdd"
    if present.between(1, 80_000).mean() > 0.9:
        return "excel"
    return None


def decode_dates(values: pd.Series, encoding: str | None) -> pd.Series:
    """Dates from an enrolment column read as timestamps (``None``) or as numbers."""
    if encoding is None:
        return values
    num = pd.to_numeric(values, errors="coerce")
    if encoding == "yyyymmdd":
        text = num.round().astype("Int64").astype("string")
        return pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    return pd.Timestamp("1899-12-30") + pd.to_timedelta(num, unit="D")


def as_of_date(given: date | str | None, enrolled: pd.Series | None) -> date | None:
    """The reference date: the one given, else the day after the latest enrolment, else none."""
    if given is not None:
        return date.fromisoformat(str(given)) if not isinstance(given, date) else given
    if enrolled is not None and enrolled.notna().any():
        latest: date = enrolled.max().date()
        return latest + timedelta(days=1)
    return None


def plan_engineered(
    frame: pd.DataFrame,
    roles: Mapping[str, Any],
    info: Mapping[str, Mapping[str, Any]],
    enrolment: str | None,
    as_of: date | None,
    notes: list[str],
) -> tuple[list[dict[str, Any]], set[str]]:
    """The engineered-variable definitions a table's roles allow, and the columns they consume.

    ``enrolment`` is the enrolment column if it holds readable dates. Without an as-of date a
    birth year is kept as such (it orders customers as age does) and seniority is not made.
    """
    defs: list[dict[str, Any]] = []
    consumed: set[str] = set()
    by = roles["birth_year"]
    if by is not None and info[by]["kind"] == "numeric" and frame[by].notna().any():
        if as_of is not None:
            defs.append({"name": "age", "op": "age", "sources": [by]})
        else:
            defs.append({"name": "birth_year", "op": "number", "sources": [by]})
            notes.append(f"no reference date: {by} is used as a birth year; give --as-of for ages")
        consumed.add(by)
    if enrolment is not None:
        if as_of is not None:
            defs.append({"name": "seniority_days", "op": "days_since", "sources": [enrolment]})
        consumed.add(enrolment)
    spend = [c for c in roles["spend"] if info[c]["kind"] == "numeric"]
    if spend:
        defs.append({"name": "total_spend", "op": "sum", "sources": spend})
        if len(spend) > 1:
            defs += [
                {"name": f"share_{c}", "op": "share", "sources": [c], "total": "total_spend"}
                for c in spend
            ]
        consumed.update(spend)
    for role, name in (
        ("children", "children"),
        ("purchases", "total_purchases"),
        ("campaign", "accepted_campaigns"),
    ):
        cols = [c for c in roles[role] if info[c]["kind"] == "numeric"]
        if cols:
            defs.append({"name": name, "op": "sum", "sources": cols})
            consumed.update(cols)
    return defs, consumed


def apply_column(
    defn: Mapping[str, Any],
    frame: pd.DataFrame,
    made: MutableMapping[str, pd.Series],
    as_of: date | None,
) -> pd.Series:
    """One engineered (or copied) column of ``frame`` by its definition.

    ``made`` holds the columns made so far (a share reads its total there).
    """
    op, sources = defn["op"], list(defn["sources"])
    first = frame[sources[0]]
    if op == "age":
        if as_of is None:
            raise SchemaError(f"preparation: {defn['name']!r} needs an as-of date")
        return as_of.year - first
    if op == "days_since":
        if as_of is None:
            raise SchemaError(f"preparation: {defn['name']!r} needs an as-of date")
        return (pd.Timestamp(as_of) - first).dt.days.astype(float)
    if op == "sum":
        return frame[sources].sum(axis=1, min_count=1)
    if op == "share":
        return (first / made[defn["total"]].replace(0, np.nan)).fillna(0.0)
    if op == "number":
        return first.astype(float)
    if op == "copy":
        return first
    raise SchemaError(f"preparation: column {defn['name']!r} has unknown operation {op!r}")
