"""Customer tables: one row per customer in → cleaned, engineered features out, with a ledger.

customer table (demographics, spend per category, purchases per channel, campaign answers) →
column roles (detected from names, or declared) → cleaning (duplicates, missing values imputed,
outliers flagged, rare categories grouped, constant and identifier columns set aside, each
counted in a :class:`CustomerLedger`) → engineered variables a marketer reads (age, seniority,
total spend and its shares, children, purchases, accepted campaigns).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from custseg.engines.base import Engine
from custseg.errors import EmptyDataError, SchemaError
from custseg.sources.readers import Source
from custseg.stages.customers.load import load_table, profile_columns
from custseg.stages.customers.roles import detect_roles

#: ordered vocabularies: a categorical column whose values all belong to one is encoded in order
ORDINAL_VOCABULARIES: tuple[tuple[str, ...], ...] = (
    ("low", "average", "high"),
    ("low", "medium", "high"),
    ("basic", "2n cycle", "graduation", "master", "phd"),
)


#: engineered variables, in output order
ENGINEERED: tuple[str, ...] = (
    "age",
    "birth_year",
    "seniority_days",
    "total_spend",
    "children",
    "total_purchases",
    "accepted_campaigns",
)


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
    """The cleaned customer table and what the model should use from it."""

    frame: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    label: str | None
    outcomes: list[str]
    ledger: CustomerLedger


def _numeric_dates(values: pd.Series) -> pd.Series | None:
    """Dates written as numbers: ``yyyymmdd`` or Excel serial days; ``None`` if neither."""
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().sum() == 0:
        return None
    present = num.dropna()
    if present.between(19000101, 21001231).mean() > 0.9:
        text = num.round().astype("Int64").astype("string")
        return pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    if present.between(1, 80_000).mean() > 0.9:
        return pd.Timestamp("1899-12-30") + pd.to_timedelta(num, unit="D")
    return None


def _fence(values: pd.Series, iqr: float) -> tuple[float, float, bool] | None:
    """Tukey fences, or ``None`` when the quartiles coincide (a mostly-constant count).

    Skewed non-negative columns (Bowley's quartile skewness above 0.25, which the outliers
    themselves cannot inflate) are fenced on the log scale. Returns (low, high, logged).
    """
    v = values.dropna().astype(float)
    q1, q2, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    if q3 <= q1:
        return None
    logged = bool((v >= 0).all() and (q3 + q1 - 2 * q2) / (q3 - q1) > 0.25)
    w = np.log1p(v) if logged else v
    q1, q3 = np.quantile(w, [0.25, 0.75])
    lo, hi = q1 - iqr * (q3 - q1), q3 + iqr * (q3 - q1)
    if logged:
        return float(np.expm1(lo)), float(np.expm1(hi)), True
    return float(lo), float(hi), False


def _ordinal(values: pd.Series) -> tuple[str, ...] | None:
    present = {str(v).strip().lower() for v in values.dropna().unique()}
    for vocab in ORDINAL_VOCABULARIES:
        if present and present <= set(vocab) and len(present) >= 2:
            return vocab
    return None


def prepare_customers(
    con: Engine,
    src: Source,
    *,
    roles: Mapping[str, Any] | None = None,
    rules: CustomerRules | None = None,
    as_of: date | str | None = None,
) -> CustomerTable:
    """Customer table → cleaned features ready for :class:`~custseg.model.CustomerSegmenter`.

    Raises :class:`SchemaError` when no column can be used as a feature and
    :class:`EmptyDataError` when no row is left.
    """
    rules = rules or CustomerRules()
    if rules.outliers not in {"clip", "drop", "keep"}:
        raise SchemaError(f"outlier policy {rules.outliers!r} unknown; use clip, drop or keep")
    info = profile_columns(con, src)
    found = detect_roles(src.columns, roles)
    frame, date_formats = load_table(con, src, info, found)
    n_in = len(frame)
    if n_in == 0:
        raise EmptyDataError(f"{src.label}: the file has a header but no rows; nothing to segment")
    dropped = {"missing_customer_id": 0, "duplicate": 0, "outlier": 0}
    notes: list[str] = []
    set_aside: dict[str, str] = {}

    id_col = found["id"]
    if id_col is None:
        # a column unique on every row: named like an id, else the first such text column
        unique = [
            c for c in src.columns if info[c]["distinct"] == n_in and info[c]["kind"] != "date"
        ]
        named = [
            c
            for c in unique
            if re.search(r"(^|[_\s.-])[Ii][Dd]$|[a-z]Id$|ID$|^[Ii][Dd]([_\s.-]|$)", c)
        ]
        texts = [c for c in unique if info[c]["kind"] == "text"]
        id_col = (named or texts)[0] if named or texts else None
    if id_col is not None:
        frame["customer_id"] = frame[id_col].astype("string").str.strip()
        set_aside[id_col] = "identifier"
        missing = frame["customer_id"].isna()
        dropped["missing_customer_id"] = int(missing.sum())
        frame = frame[~missing]
    else:
        frame["customer_id"] = [str(i + 1) for i in range(len(frame))]
        notes.append("no customer id column found; customers are numbered by row (1, 2, …)")
    dup = frame.duplicated(keep="first")
    dropped["duplicate"] = int(dup.sum())
    frame = frame[~dup]
    if id_col is not None and frame["customer_id"].duplicated().any():
        n_dup = int(frame["customer_id"].duplicated().sum())
        raise SchemaError(
            f"{src.label}: column {id_col!r} is used as the customer id but {n_dup} ids repeat with "
            "different values; is this a transactions file? Use --kind transactions"
        )
    data_cols = [c for c in src.columns if c not in set_aside]
    twins = frame.duplicated(subset=data_cols, keep="first").sum() if data_cols else 0
    if twins:
        notes.append(
            f"{int(twins)} rows equal another row in every column but the id: possibly the same "
            "customer entered twice; kept"
        )

    # as-of date: the day after the latest enrolment date, else none
    enrol = found["enrolment_date"]
    if enrol is not None and not pd.api.types.is_datetime64_any_dtype(frame[enrol]):
        parsed = _numeric_dates(frame[enrol])
        if parsed is None:
            set_aside[enrol] = "enrolment date that is not a date: not used"
            notes.append(f"{enrol} looks like an enrolment date but holds no readable dates")
            enrol = None
        else:
            frame[enrol] = parsed
    if as_of is not None:
        as_of_date = date.fromisoformat(str(as_of)) if not isinstance(as_of, date) else as_of
    elif enrol is not None and frame[enrol].notna().any():
        as_of_date = frame[enrol].max().date() + timedelta(days=1)
    else:
        as_of_date = None

    out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str)}, index=frame.index)
    numeric: list[str] = []
    categorical: list[str] = []
    consumed: set[str] = set()
    # engineered variables
    by = found["birth_year"]
    if by is not None and info[by]["kind"] == "numeric" and frame[by].notna().any():
        if as_of_date is not None:
            out["age"] = as_of_date.year - frame[by]
        else:  # no reference date in the data: the birth year itself carries the same order
            out["birth_year"] = frame[by].astype(float)
            notes.append(f"no reference date: {by} is used as a birth year; give --as-of for ages")
        consumed.add(by)
    if enrol is not None:
        if as_of_date is not None:
            out["seniority_days"] = (pd.Timestamp(as_of_date) - frame[enrol]).dt.days.astype(float)
        consumed.add(enrol)
    spend = [c for c in found["spend"] if info[c]["kind"] == "numeric"]
    if spend:
        out["total_spend"] = frame[spend].sum(axis=1, min_count=1)
        if len(spend) > 1:
            for c in spend:
                share = f"share_{c}"
                out[share] = (frame[c] / out["total_spend"].replace(0, np.nan)).fillna(0.0)
        consumed.update(spend)
    for role, name in (
        ("children", "children"),
        ("purchases", "total_purchases"),
        ("campaign", "accepted_campaigns"),
    ):
        cols = [c for c in found[role] if info[c]["kind"] == "numeric"]
        if cols:
            out[name] = frame[cols].sum(axis=1, min_count=1)
            consumed.update(cols)
    label = found["label"]
    outcomes = [c for c in found["outcome"] if c in frame]
    for c in [label, *outcomes]:
        if c is not None:
            set_aside[c] = (
                "label (external validity only)"
                if c == label
                else "outcome (profiled, not clustered)"
            )
            out[c] = frame[c]
    for c in found["spend"] + found["purchases"] + found["campaign"] + found["children"]:
        if c in consumed:
            set_aside.setdefault(c, "summed into an engineered variable")
    for c in (by, enrol):
        if c is not None and c in consumed:
            set_aside[c] = "turned into age" if c == by else "turned into seniority"

    grouped: dict[str, list[str]] = {}
    ordinal: set[str] = set()
    for col in src.columns:
        if col in set_aside or col in consumed or col == id_col:
            continue
        kind = info[col]["kind"]
        values = frame[col]
        distinct = values.nunique(dropna=True)
        if distinct <= 1:
            set_aside[col] = "constant"
            continue
        if kind == "date":
            set_aside[col] = "date other than enrolment: not used"
            continue
        if kind == "numeric" and distinct > 2:
            out[col] = values.astype(float)
            continue
        # text, or a 0/1 column: a category
        if kind == "text" and distinct > rules.max_categories:
            set_aside[col] = f"text with {distinct} distinct values: too many to use as a category"
            continue
        cats = values.astype("string").str.strip()
        vocab = _ordinal(cats) if kind == "text" else None
        if vocab is not None:
            out[col] = cats.str.lower().map({v: float(i) for i, v in enumerate(vocab)})
            ordinal.add(col)
            notes.append(f"{col} is ordered ({' < '.join(vocab)}) and used as a number")
            continue
        shares = cats.value_counts(normalize=True, dropna=True)
        rare = sorted(shares[shares < rules.rare_share].index.astype(str).tolist())
        if rare and len(rare) < len(shares) and len(shares) > 2:
            grouped[col] = rare
            cats = cats.where(~cats.isin(rare), "Other")
        if cats.nunique(dropna=True) <= 1:
            set_aside[col] = "constant once rare categories are grouped"
            continue
        out[col] = cats.fillna("Unknown").astype(str)
        categorical.append(col)

    for c in ENGINEERED:
        if c in out:
            numeric.append(c)
    numeric += [c for c in out.columns if c.startswith("share_")]
    numeric += [
        c
        for c in out.columns
        if c not in numeric
        and c not in categorical
        and c not in {"customer_id", label, *outcomes}
        and out[c].dtype != object
        and pd.api.types.is_numeric_dtype(out[c])
    ]
    # constant engineered columns carry nothing
    for c in list(numeric):
        if out[c].nunique(dropna=True) <= 1:
            numeric.remove(c)
            set_aside[c] = "constant"

    # outliers: flagged, then clipped / dropped / kept
    flagged: dict[str, Any] = {}
    keep = pd.Series(True, index=out.index)
    for c in numeric:
        if c.startswith("share_") or c in ordinal:
            continue
        fence = _fence(out[c], rules.outlier_iqr)
        if fence is None:
            continue
        lo, hi, logged = fence
        if c == "age":
            hi = min(hi, float(rules.max_age))
        bad = (out[c] < lo) | (out[c] > hi)
        if bad.any():
            flagged[c] = {
                "low": round(lo, 4),
                "high": round(hi, 4),
                "log_scale": logged,
                "rows": int(bad.sum()),
                "values": sorted({float(v) for v in out.loc[bad, c].head(10)}),
            }
            if rules.outliers == "drop":
                keep &= ~bad
            elif rules.outliers == "clip":
                out[c] = out[c].clip(lower=lo, upper=hi)
    dropped["outlier"] = int((~keep).sum())
    out = out[keep]

    imputed: dict[str, dict[str, Any]] = {}
    for c in numeric:
        n_missing = int(out[c].isna().sum())
        if n_missing:
            med = float(out[c].median())
            out[c] = out[c].fillna(med)
            imputed[c] = {"rows": n_missing, "method": "median", "value": med}
    for c in categorical:
        n_unknown = int((out[c] == "Unknown").sum())
        if n_unknown and frame.loc[out.index, c].isna().any():
            imputed[c] = {
                "rows": int(frame.loc[out.index, c].isna().sum()),
                "method": "category 'Unknown'",
            }

    if not numeric and not categorical:
        raise SchemaError(
            f"{src.label}: no column can be used as a feature (set aside: "
            + ", ".join(f"{k} ({v})" for k, v in set_aside.items())
            + "); a customer table needs numeric or categorical columns"
        )
    if out.empty:
        raise EmptyDataError(
            f"{src.label}: no customer left after cleaning; check the outlier policy"
        )
    out = out.sort_values("customer_id", kind="stable").reset_index(drop=True)
    ledger = CustomerLedger(
        source=src.label,
        input_rows=n_in,
        kept_rows=len(out),
        dropped=dropped,
        as_of=as_of_date.isoformat() if as_of_date else "",
        roles={**{k: v for k, v in found.items() if v}, "id": id_col, "date_formats": date_formats},
        imputed=imputed,
        grouped=grouped,
        set_aside=set_aside,
        outliers=flagged,
        notes=notes,
        rules=rules.to_dict(),
        customers=len(out),
        columns={"customer_id": id_col} if id_col else {},
    )
    if ledger.kept_rows + sum(dropped.values()) != n_in:  # pragma: no cover - invariant
        raise AssertionError("customer ledger does not add up")
    return CustomerTable(out, numeric, categorical, label, outcomes, ledger)
