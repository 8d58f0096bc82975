"""The preparation of a customer table as a fitted, saved and replayable object.

raw customer rows (a file, a DataFrame, or a source open in the engine) → :meth:`fit` learns
how to read each column, the roles and the id column, the as-of date, the engineered
variables, ordinal maps, categories and rare groups, outlier fences and imputation values →
:meth:`transform` replays them on any rows → the features frame the model clusters on.
:meth:`to_dict` / :meth:`from_dict` hold it as plain JSON data (validated on load; nothing in
it is executed: operations are names from closed lists).

Handling of new rows (documented, never a crash):

- a column the preparation needs and the rows lack: :class:`SchemaError` naming it; columns it
  does not need (set aside, label, outcomes) may be absent, and unknown columns are ignored;
- values are parsed with the *saved* conventions (number convention, date format);
- a row without a customer id is dropped; without an id column in training, rows are numbered
  1, 2, … in their order; rows equal in every column are kept once;
- a missing number becomes the training median (after clipping); a value outside the fences is
  clipped to them (policy ``clip``), its row dropped (``drop``) or left (``keep``);
- a missing category becomes ``Unknown``; a category never seen becomes ``Other`` when the
  column has rare categories grouped, else ``Unknown``; an ordinal value outside its
  vocabulary is missing, hence the median rank.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, TypeAlias

import pandas as pd

from custseg.engines.base import Engine
from custseg.errors import EmptyDataError, ModelError, NotFittedError, SchemaError
from custseg.sources.readers import Source
from custseg.stages.customers.encode import (
    UNKNOWN,
    apply_category,
    apply_ordinal,
    categories_of,
    group_rare,
    ordinal_vocabulary,
    plan_category,
)
from custseg.stages.customers.engineer import (
    ENGINEERED,
    NUMERIC_DATES,
    OPERATIONS,
    apply_column,
    as_of_date,
    decode_dates,
    numeric_date_encoding,
    plan_engineered,
)
from custseg.stages.customers.impute import apply_medians, fit_medians
from custseg.stages.customers.load import (
    check_plan,
    opened,
    profile_columns,
    read_table,
    reading_plan,
)
from custseg.stages.customers.outliers import POLICIES, apply_fences, fit_fences
from custseg.stages.customers.roles import choose_id, detect_roles, identify
from custseg.stages.customers.rules import CustomerRules

PREPARATION_FORMAT = "custseg.customer-preparation/1"


@dataclass
class _Report:
    """What fitting found on the training rows, for the ledger (in the ledger's key order)."""

    input_rows: int
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    set_aside: dict[str, str] = field(default_factory=dict)
    grouped: dict[str, list[str]] = field(default_factory=dict)
    imputed: dict[str, dict[str, Any]] = field(default_factory=dict)
    outliers: dict[str, Any] = field(default_factory=dict)


#: what rows a preparation reads: an open source (with its connection), a DataFrame or a path
Rows: TypeAlias = Source | pd.DataFrame | str | os.PathLike[str]


class CustomerPreparation:
    """Raw customer rows → the features frame of :class:`~custseg.model.CustomerSegmenter`.

    Parameters
    ----------
    roles : declared column roles (see :func:`~custseg.stages.customers.detect_roles`);
        undeclared roles are recognised from the column names.
    rules : cleaning policy (outliers, rare categories, …); default :class:`CustomerRules`.
    as_of : reference date of ages and seniorities; default the day after the latest enrolment.

    Attributes
    ----------
    numeric_, categorical_ : the numeric and categorical features the model clusters on.
    label_, outcomes_ : the label column (external validity) and outcome columns (profiled).
    report_ : what fitting found on the training rows (drops, notes, imputations…), for the
        ledger; not saved.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"ID": ["a", "b", "c", "d"], "Income": [10.0, None, 30.0, 50.0],
    ...                      "Gender": ["F", "M", "F", None]})
    >>> prep = CustomerPreparation().fit(rows)
    >>> prep.numeric_, prep.categorical_
    (['Income'], ['Gender'])
    >>> new = pd.DataFrame({"ID": ["e", "f"], "Income": [None, 20.0], "Gender": ["X", "M"]})
    >>> prep.transform(new)[["customer_id", "Income", "Gender"]].values.tolist()
    [['e', 30.0, 'Unknown'], ['f', 20.0, 'M']]
    """

    def __init__(
        self,
        roles: Mapping[str, Any] | None = None,
        rules: CustomerRules | None = None,
        as_of: date | str | None = None,
    ) -> None:
        self.roles = roles
        self.rules = rules
        self.as_of = as_of

    # ---- learning -------------------------------------------------------------------------
    def fit(self, data: Rows, *, con: Engine | None = None) -> CustomerPreparation:
        """Learn the preparation from the training rows.

        Raises :class:`SchemaError` when no column can be used as a feature and
        :class:`EmptyDataError` when no row is left.
        """
        rules = self.rules or CustomerRules()
        if rules.outliers not in POLICIES:
            raise SchemaError(f"outlier policy {rules.outliers!r} unknown; use clip, drop or keep")
        with opened(data, con) as (engine, src):
            info = profile_columns(engine, src)
            found = detect_roles(src.columns, self.roles)
            plan = reading_plan(engine, src, info, found)
            frame = read_table(engine, src, plan)
            label, columns = src.label, list(src.columns)
        self.rules_ = rules
        self.reading_ = plan
        self._fit_frame(frame, info, found, label, columns)
        return self

    def _fit_frame(
        self,
        frame: pd.DataFrame,
        info: Mapping[str, Mapping[str, Any]],
        found: Mapping[str, Any],
        label: str,
        columns: list[str],
    ) -> None:
        """Learn every step on the training rows, in the order :meth:`transform` replays them."""
        if len(frame) == 0:
            raise EmptyDataError(f"{label}: the file has a header but no rows; nothing to segment")
        log = _Report(input_rows=len(frame))
        frame = self._fit_rows(frame, info, found, label, columns, log)
        frame = self._fit_enrolment(frame, found, log)
        consumed = self._fit_engineered(frame, info, found, log)
        self._fit_encodings(frame, info, columns, consumed, log)
        out = self._build(frame)
        self._fit_numeric(out, log)
        held = self._fit_cleaning(out, frame, log)
        if not self.numeric_ and not self.categorical_:
            raise SchemaError(
                f"{label}: no column can be used as a feature (set aside: "
                + ", ".join(f"{k} ({v})" for k, v in log.set_aside.items())
                + "); a customer table needs numeric or categorical columns"
            )
        if held.empty:
            raise EmptyDataError(
                f"{label}: no customer left after cleaning; check the outlier policy"
            )
        self.roles_ = {k: v for k, v in found.items() if v}
        self.report_: dict[str, Any] = asdict(log)

    def _fit_rows(
        self,
        frame: pd.DataFrame,
        info: Mapping[str, Mapping[str, Any]],
        found: Mapping[str, Any],
        label: str,
        columns: list[str],
        log: _Report,
    ) -> pd.DataFrame:
        """The id column; the rows kept (with an id, once each); twins noted."""
        self.id_ = choose_id(columns, info, len(frame), found["id"])
        if self.id_ is not None:
            log.set_aside[self.id_] = "identifier"
        else:
            log.notes.append("no customer id column found; customers are numbered by row (1, 2, …)")
        frame, dropped = identify(frame, self.id_, label)
        log.dropped.update(dropped)
        data_cols = [c for c in columns if c not in log.set_aside]
        twins = frame.duplicated(subset=data_cols, keep="first").sum() if data_cols else 0
        if twins:
            log.notes.append(
                f"{int(twins)} rows equal another row in every column but the id: possibly the "
                "same customer entered twice; kept"
            )
        return frame

    def _fit_enrolment(
        self, frame: pd.DataFrame, found: Mapping[str, Any], log: _Report
    ) -> pd.DataFrame:
        """How the enrolment column holds dates (if it does), and the as-of date."""
        enrol, numbers = found["enrolment_date"], None
        if enrol is not None and not pd.api.types.is_datetime64_any_dtype(frame[enrol]):
            numbers = numeric_date_encoding(frame[enrol])
            if numbers is None:
                log.set_aside[enrol] = "enrolment date that is not a date: not used"
                log.notes.append(
                    f"{enrol} looks like an enrolment date but holds no readable dates"
                )
                enrol = None
            else:
                frame[enrol] = decode_dates(frame[enrol], numbers)
        self.enrolment_ = None if enrol is None else {"column": enrol, "numbers": numbers}
        self.as_of_ = as_of_date(self.as_of, frame[enrol] if enrol is not None else None)
        return frame

    def _fit_engineered(
        self,
        frame: pd.DataFrame,
        info: Mapping[str, Mapping[str, Any]],
        found: Mapping[str, Any],
        log: _Report,
    ) -> set[str]:
        """The engineered variables, label and outcomes; the source columns they consume."""
        enrol = self.enrolment_["column"] if self.enrolment_ else None
        defs, consumed = plan_engineered(frame, found, info, enrol, self.as_of_, log.notes)
        target = found["label"]
        outcomes = [c for c in found["outcome"] if c in frame]
        for c in [target, *outcomes]:
            if c is not None:
                log.set_aside[c] = (
                    "label (external validity only)"
                    if c == target
                    else "outcome (profiled, not clustered)"
                )
                defs.append({"name": c, "op": "copy", "sources": [c], "optional": True})
        for c in found["spend"] + found["purchases"] + found["campaign"] + found["children"]:
            if c in consumed:
                log.set_aside.setdefault(c, "summed into an engineered variable")
        by = found["birth_year"]
        for c in (by, enrol):
            if c is not None and c in consumed:
                log.set_aside[c] = "turned into age" if c == by else "turned into seniority"
        self.columns_ = defs
        self.label_ = target
        self.outcomes_ = outcomes
        return consumed

    def _fit_encodings(
        self,
        frame: pd.DataFrame,
        info: Mapping[str, Mapping[str, Any]],
        columns: list[str],
        consumed: set[str],
        log: _Report,
    ) -> None:
        """Every other column: a number, an ordered vocabulary, a category, or set aside."""
        rules = self.rules_
        self.categorical_ = []
        for col in columns:
            if col in log.set_aside or col in consumed or col == self.id_:
                continue
            kind = info[col]["kind"]
            values = frame[col]
            distinct = values.nunique(dropna=True)
            if distinct <= 1:
                log.set_aside[col] = "constant"
                continue
            if kind == "date":
                log.set_aside[col] = "date other than enrolment: not used"
                continue
            if kind == "numeric" and distinct > 2:
                self.columns_.append({"name": col, "op": "number", "sources": [col]})
                continue
            # text, or a 0/1 column: a category
            if kind == "text" and distinct > rules.max_categories:
                log.set_aside[col] = (
                    f"text with {distinct} distinct values: too many to use as a category"
                )
                continue
            cats = categories_of(values)
            vocab = ordinal_vocabulary(cats) if kind == "text" else None
            if vocab is not None:
                self.columns_.append(
                    {"name": col, "op": "ordinal", "sources": [col], "vocabulary": list(vocab)}
                )
                log.notes.append(f"{col} is ordered ({' < '.join(vocab)}) and used as a number")
                continue
            seen, rare = plan_category(cats, rules.rare_share)
            if rare:
                log.grouped[col] = rare
            if group_rare(cats, rare).nunique(dropna=True) <= 1:
                log.set_aside[col] = "constant once rare categories are grouped"
                continue
            self.columns_.append(
                {"name": col, "op": "category", "sources": [col], "seen": seen, "rare": rare}
            )
            self.categorical_.append(col)

    def _fit_numeric(self, out: pd.DataFrame, log: _Report) -> None:
        """The numeric features: engineered first, then shares, then the others; constant
        ones are set aside (their column stays in the frame)."""
        passed = {"customer_id", self.label_, *self.outcomes_}
        numeric = [c for c in ENGINEERED if c in out]
        numeric += [c for c in out.columns if c.startswith("share_")]
        numeric += [
            c
            for c in out.columns
            if c not in numeric
            and c not in self.categorical_
            and c not in passed
            and out[c].dtype != object
            and pd.api.types.is_numeric_dtype(out[c])
        ]
        for c in list(numeric):
            if out[c].nunique(dropna=True) <= 1:
                numeric.remove(c)
                log.set_aside[c] = "constant"
        self.numeric_ = numeric

    def _fit_cleaning(self, out: pd.DataFrame, frame: pd.DataFrame, log: _Report) -> pd.DataFrame:
        """Outlier fences (not of shares nor ranks), then medians on the rows the policy keeps,
        values clipped. Returns those rows."""
        rules = self.rules_
        ordinal = {d["name"] for d in self.columns_ if d["op"] == "ordinal"}
        fenced = [c for c in self.numeric_ if not c.startswith("share_") and c not in ordinal]
        self.fences_, log.outliers = fit_fences(
            out, fenced, iqr=rules.outlier_iqr, max_age=rules.max_age
        )
        held = apply_fences(out, self.fences_, rules.outliers)
        log.dropped["outlier"] = len(out) - len(held)
        self.medians_ = fit_medians(held, self.numeric_)
        for c in self.numeric_:
            n_missing = int(held[c].isna().sum())
            if n_missing:
                med = self.medians_[c]
                value = float("nan") if med is None else med
                log.imputed[c] = {"rows": n_missing, "method": "median", "value": value}
        raw = frame.loc[held.index]
        for c in self.categorical_:
            n_unknown = int((held[c] == UNKNOWN).sum())
            if n_unknown and raw[c].isna().any():
                log.imputed[c] = {"rows": int(raw[c].isna().sum()), "method": "category 'Unknown'"}
        return held

    # ---- applying -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "roles_"):  # set last by fit and by from_dict
            raise NotFittedError("this CustomerPreparation is not fitted yet; call fit first")

    def required_columns(self) -> list[str]:
        """The columns rows must have to be transformed (id and every source of a feature)."""
        self._check_fitted()
        needed = [self.id_] if self.id_ is not None else []
        for d in self.columns_:
            if not d.get("optional"):
                needed += [c for c in d["sources"] if c not in needed]
        return needed

    def _build(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``customer_id`` and every column definition applied to ``frame``, in order."""
        made: dict[str, pd.Series] = {}
        for d in self.columns_:
            if d.get("optional") and d["sources"][0] not in frame:
                continue
            values = frame[d["sources"][0]]
            if d["op"] == "ordinal":
                made[d["name"]] = apply_ordinal(values, d["vocabulary"])
            elif d["op"] == "category":
                made[d["name"]] = apply_category(values, d)
            else:
                made[d["name"]] = apply_column(d, frame, made, self.as_of_)
        out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str)}, index=frame.index)
        for name, series in made.items():
            out[name] = series
        return out

    def transform(self, data: Rows, *, con: Engine | None = None) -> pd.DataFrame:
        """The features frame of ``data``: one row per customer, sorted by ``customer_id``.

        See the module docstring for how new rows are handled.
        """
        self._check_fitted()
        with opened(data, con) as (engine, src):
            missing = [c for c in self.required_columns() if c not in src.types]
            if missing:
                raise SchemaError(
                    f"{src.label}: no column {', '.join(map(repr, missing))}, which the customer "
                    f"preparation needs; columns are: {', '.join(src.columns)}"
                )
            frame = read_table(engine, src, self.reading_)
            label = src.label
        frame, _ = identify(frame, self.id_, label)
        if self.enrolment_ is not None and self.enrolment_["numbers"] is not None:
            col = self.enrolment_["column"]
            frame[col] = decode_dates(frame[col], self.enrolment_["numbers"])
        out = self._build(frame)
        out = apply_fences(out, self.fences_, self.rules_.outliers)
        out = apply_medians(out, self.medians_)
        return out.sort_values("customer_id", kind="stable").reset_index(drop=True)

    def fit_transform(self, data: Rows, *, con: Engine | None = None) -> pd.DataFrame:
        """:meth:`fit`, then :meth:`transform` of the same rows."""
        return self.fit(data, con=con).transform(data, con=con)

    # ---- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to replay the preparation, as JSON-able data."""
        self._check_fitted()
        return {
            "format": PREPARATION_FORMAT,
            "rules": self.rules_.to_dict(),
            "roles": self.roles_,
            "reading": self.reading_,
            "id": self.id_,
            "enrolment": self.enrolment_,
            "as_of": self.as_of_.isoformat() if self.as_of_ is not None else None,
            "columns": self.columns_,
            "numeric": list(self.numeric_),
            "categorical": list(self.categorical_),
            "label": self.label_,
            "outcomes": list(self.outcomes_),
            "fences": self.fences_,
            "medians": self.medians_,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CustomerPreparation:
        """Rebuild a fitted preparation from :meth:`to_dict` output (validated, nothing executed).

        Raises :class:`ModelError` naming what is missing or malformed.
        """
        if not isinstance(data, dict) or data.get("format") != PREPARATION_FORMAT:
            raise ModelError(
                f"not a custseg customer preparation (expected format {PREPARATION_FORMAT!r})"
            )
        try:
            rules = CustomerRules(**data["rules"])
            prep = cls(roles=None, rules=rules, as_of=data["as_of"])
            prep.rules_ = rules
            prep.roles_ = dict(data["roles"])
            prep.reading_ = check_plan(data["reading"])
            prep.id_ = _name_or_none(data["id"], "id")
            prep.enrolment_ = _check_enrolment(data["enrolment"])
            prep.as_of_ = date.fromisoformat(data["as_of"]) if data["as_of"] else None
            prep.columns_ = _check_columns(data["columns"])
            prep.numeric_ = _names(data["numeric"], "numeric")
            prep.categorical_ = _names(data["categorical"], "categorical")
            prep.label_ = _name_or_none(data["label"], "label")
            prep.outcomes_ = _names(data["outcomes"], "outcomes")
            prep.fences_ = {
                str(c): [float(lo), float(hi)] for c, (lo, hi) in data["fences"].items()
            }
            prep.medians_ = {
                str(c): None if v is None else float(v) for c, v in data["medians"].items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"customer preparation is incomplete or damaged ({exc!r})") from exc
        if rules.outliers not in POLICIES:
            raise ModelError(f"customer preparation: outlier policy {rules.outliers!r} unknown")
        made = {d["name"] for d in prep.columns_}
        for c in [*prep.numeric_, *prep.categorical_, *prep.fences_, *prep.medians_]:
            if c not in made:
                raise ModelError(f"customer preparation: feature {c!r} has no column definition")
        return prep


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelError(f"customer preparation: {what!r} must be a list of column names")
    return list(value)


def _name_or_none(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ModelError(f"customer preparation: {what!r} must be a column name or null")
    return value


def _check_enrolment(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("column"), str)
        or value.get("numbers") not in (None, *NUMERIC_DATES)
    ):
        raise ModelError(f"customer preparation: enrolment {value!r} is malformed")
    return {"column": value["column"], "numbers": value.get("numbers")}


#: column operations a preparation may name: the engineered ones, and the two encodings
_OPERATIONS = (*OPERATIONS, "ordinal", "category")


def _check_columns(value: Any) -> list[dict[str, Any]]:
    """Validate the column definitions of a preparation read from a file."""
    if not isinstance(value, list):
        raise ModelError("customer preparation: 'columns' must be a list of definitions")
    out: list[dict[str, Any]] = []
    for d in value:
        name = d.get("name") if isinstance(d, dict) else None
        if not isinstance(name, str):
            raise ModelError(f"customer preparation: column definition {d!r} has no name")
        assert isinstance(d, dict)
        op = d.get("op")
        if op not in _OPERATIONS:
            raise ModelError(
                f"customer preparation: column {name!r} has operation {op!r}; "
                f"known: {', '.join(_OPERATIONS)}"
            )
        _names(d.get("sources"), f"{name}.sources")
        if not d["sources"]:
            raise ModelError(f"customer preparation: column {name!r} names no source column")
        if op == "share" and not isinstance(d.get("total"), str):
            raise ModelError(f"customer preparation: share {name!r} names no total")
        if op == "ordinal":
            _names(d.get("vocabulary"), f"{name}.vocabulary")
        if op == "category":
            _names(d.get("seen"), f"{name}.seen")
            _names(d.get("rare"), f"{name}.rare")
        out.append(dict(d))
    return out
