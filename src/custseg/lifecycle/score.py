"""Scoring new customers with a fitted run, and how far they drift from its training customers.

new raw rows (transaction lines or a customer table) → the run's own cleaning rules, feature
definitions and fitted preparation (:class:`~custseg.model.run.RunModel`) → each customer's
segment (nearest centroid), distance to it and a flag when farther from every centroid than
99 % of the training customers were → a drift summary against the training customers: segment
shares then and now, the population stability index (PSI) and the shift of the median of every
feature, and how far each centroid would move were it the mean of its new customers.

Transaction features are computed as of ``as_of``: by default the day after the new data's last
kept line (as :func:`custseg.segment` does), so that scoring a run's own input reproduces its
segments exactly. A customer table is prepared as of the run's reference date unless
``as_of`` is given.

Examples
--------
>>> import tempfile, custseg
>>> from custseg.datasets import make_transactions
>>> from custseg.model.run import RunModel, SplitGroup
>>> lines, _ = make_transactions(80, seed=4)
>>> with tempfile.TemporaryDirectory() as out:
...     result = custseg.run(lines, out, seed=0, k=3)
...     scores = score(RunModel.load(out), lines, result.segments)
>>> bool((scores.table["segment"].to_numpy() == result.segments["segment"].to_numpy()).all())
True
>>> round(scores.drift["psi"]["monetary"]["psi"], 6)
0.0
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import EmptyDataError, SchemaError
from custseg.model.run import RunModel, SplitGroup
from custseg.sources import resolve_columns
from custseg.sources.inputs import Input, choose_input
from custseg.sources.schema import normalize_name
from custseg.stages import features
from custseg.stages.audit import audit
from custseg.stages.customers.load import read_table
from custseg.stages.customers.roles import identify

#: customers farther from every centroid than this quantile of the training customers' distances
#: to their nearest centroid are flagged ``far``
FAR_QUANTILE = 0.99
#: bins of the population stability index: the deciles of the training values
PSI_BINS = 10
#: share given to an empty bin, so that the PSI stays finite
PSI_FLOOR = 1e-4
#: PSI below the first value: stable; below the second: moderate shift; above: major shift
PSI_LEVELS = (0.1, 0.25)
#: rows not scored listed one by one in a customer table's ledger (their counts are complete)
MAX_UNSCORED = 10_000
#: transaction roles the features do not read: scoring does without them
OPTIONAL_ROLES = frozenset({"country"})


@dataclass
class Scores:
    """New customers scored by a run, with the ledger of their input and the drift summary.

    Attributes
    ----------
    kind : ``"transactions"`` or ``"customers"``, as the run.
    as_of : the date features were computed to (``None``: a customer table without dates).
    table : one row per customer: ``customer_id``, the features, ``segment`` (1..k),
        ``segment_name``, ``distance`` (to the segment's centroid, in the scaled space) and
        ``far`` (farther from every centroid than :data:`FAR_QUANTILE` of training customers).
    ledger : the ledger of the new input (every row kept or dropped with a reason).
    drift : see :func:`drift_summary`.
    """

    kind: str
    as_of: str | None
    table: pd.DataFrame
    ledger: dict[str, Any]
    drift: dict[str, Any]


def _transaction_features(
    model: RunModel,
    source: Input,
    as_of: date | None,
    mapping: Mapping[str, str] | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    with source.connect() as engine:
        src = source.open(engine)
        try:
            present = {normalize_name(c) for c in src.columns}
            chosen = {**model.columns, **dict(mapping or {})}
            columns: dict[str, str] = {}
            for role, col in chosen.items():
                if col in src.columns or normalize_name(col) in present:
                    columns[role] = col
                elif role not in OPTIONAL_ROLES:
                    raise SchemaError(
                        f"{src.label}: no column {col!r} ({role}), which the model needs; "
                        f"columns are: {', '.join(src.columns)}; rename it, or map another "
                        f"column with --map {role}=<column>"
                    )
            colmap = resolve_columns(src.columns, columns, source=src.label)
            assert model.rules is not None
            ledger = audit(
                engine, src, colmap, model.rules, as_of=as_of, collectors=(features.collect,)
            )
            table = features.customer_features(engine, ledger.as_of)
        finally:
            src.close()
    return table, ledger.to_dict()


def _customer_features(
    model: RunModel,
    source: Input,
    as_of: date | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    prep = model.preparation
    assert prep is not None
    if as_of is not None:
        prep = copy.copy(prep)
        prep.as_of_ = as_of
    with source.connect() as engine:
        src = source.open(engine, view="customer_rows")
        try:
            table = prep.transform(src, con=engine)  # names a missing column, one line
            rows = read_table(engine, src, prep.reading_)
            label = src.label
        finally:
            src.close()
    kept, dropped = identify(rows, prep.id_, label)
    dropped["outlier"] = len(kept) - len(table)
    unscored = _unscored_rows(rows, kept, table, prep.id_)
    ledger = {
        "source": label,
        "kind": "customers",
        "input_rows": len(rows),
        "kept_rows": len(table),
        "dropped": dropped,
        "as_of": prep.as_of_.isoformat() if prep.as_of_ is not None else None,
        "notes": [
            f"{n} rows not scored: {reason.replace('_', ' ')}" for reason, n in dropped.items() if n
        ],
        "unscored": unscored[:MAX_UNSCORED],
    }
    return table, ledger


def _unscored_rows(
    rows: pd.DataFrame, kept: pd.DataFrame, table: pd.DataFrame, id_col: str | None
) -> list[dict[str, Any]]:
    """Each input row not scored: its number (1 = the first row after the header), its id
    and why (``missing_customer_id``, ``duplicate`` of an earlier row, ``outlier`` dropped)."""
    out: list[dict[str, Any]] = []
    ids = (
        rows[id_col].astype("string").str.strip()
        if id_col is not None
        else pd.Series([str(i + 1) for i in range(len(rows))], index=rows.index, dtype="string")
    )
    scored = set(table["customer_id"])
    kept_rows = set(kept.index)
    for i in rows.index:
        if pd.isna(ids[i]):
            reason = "missing_customer_id"
        elif i not in kept_rows:
            reason = "duplicate"
        elif str(ids[i]) not in scored:
            reason = "outlier"
        else:
            continue
        shown = None if pd.isna(ids[i]) else str(ids[i])
        out.append({"row": int(i) + 1, "customer_id": shown, "reason": reason})
    return out


def new_features(
    model: RunModel,
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    as_of: date | None = None,
    mapping: Mapping[str, str] | None = None,
    engine: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Raw rows → (one row per customer with the model's features, the ledger of the rows).

    Transactions are cleaned with the run's rules and their features computed as of
    ``as_of`` (default: the day after the last kept line); ``mapping`` (canonical → column)
    overrides the run's column names. A customer table goes through the run's fitted
    preparation. A column the model needs and the rows lack raises a one-line
    :class:`~custseg.errors.SchemaError` naming it.

    The rows are read, cleaned and aggregated by ``engine`` (as :func:`custseg.segment`:
    default ``duckdb``; a ``postgresql://`` URL as ``source``, with ``table`` or ``query``,
    runs the cleaning and the features inside PostgreSQL); only the customers come back.
    """
    found = choose_input(source, engine=engine, table=table, query=query)
    if model.kind == "customers":
        return _customer_features(model, found, as_of)
    return _transaction_features(model, found, as_of, mapping)


def _columns(model: RunModel) -> list[str]:
    names = getattr(model.segmenter, "feature_names_in_", None)
    if names is None:
        return [*model.segmenter.numeric_features_, *model.segmenter.categorical]
    return [str(c) for c in names]


def assign(model: RunModel, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment numbers (1..k), distance to the segment's centroid and the scaled features of
    the customers of ``table`` (the segmenter's own nearest-centroid rule: same labels)."""
    seg = model.segmenter
    frame = table[_columns(model)]
    if frame.empty:
        width = len(seg.cluster_centers_[0])
        return np.zeros(0, "int64"), np.zeros(0), np.zeros((0, width))
    xt = seg.transform(frame)
    labels = seg.predict(frame)
    centre = seg.cluster_centers_[labels]
    distance = np.sqrt(((xt - centre) ** 2).sum(axis=1))
    return labels + 1, distance, xt


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of ``actual`` against ``expected``, over the quantile bins
    of ``expected`` (empty bins count as :data:`PSI_FLOOR`).

    Examples
    --------
    >>> x = np.arange(1000.0)
    >>> psi(x, x)
    0.0
    >>> round(psi(x, x + 300), 3)
    2.486
    """
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    if not len(expected) or not len(actual):
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1)
    return _psi_of_counts(e, a)


def _psi_of_counts(e: np.ndarray, a: np.ndarray) -> float:
    p = np.maximum(e / e.sum(), PSI_FLOOR)
    q = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(abs(np.sum((q - p) * np.log(q / p))))


def psi_level(value: float) -> str:
    """``stable``, ``moderate`` or ``major`` (see :data:`PSI_LEVELS`)."""
    if not np.isfinite(value) or value < PSI_LEVELS[0]:
        return "stable"
    return "moderate" if value < PSI_LEVELS[1] else "major"


def drift_summary(
    model: RunModel,
    training: pd.DataFrame,
    table: pd.DataFrame,
    labels: np.ndarray,
    xt: np.ndarray,
) -> dict[str, Any]:
    """How the scored customers differ from the training customers.

    - ``shares``: per segment, its name, training and new customers and shares;
    - ``psi``: per feature, the PSI (numeric: over training deciles; categorical: over the
      categories), its level, the training and new medians and the shift of the median;
    - ``centroids``: per segment, how far its centroid would move (in the scaled space, and
      as a multiple of the training customers' median distance to their centroid) were it
      the mean of its new customers;
    - ``far``: the distance threshold (training :data:`FAR_QUANTILE`) and the customers
      beyond it.
    """
    t_labels, t_dist, _ = assign(model, training)
    threshold = float(np.quantile(t_dist, FAR_QUANTILE)) if len(t_dist) else float("nan")
    typical = float(np.median(t_dist)) if len(t_dist) else float("nan")
    k = int(model.segmenter.k_)
    n_train, n_new = len(t_labels), len(labels)
    shares = []
    for s in range(1, k + 1):
        a, b = int((t_labels == s).sum()), int((labels == s).sum())
        shares.append(
            {
                "segment": s,
                "name": model.segment_names.get(s, str(s)),
                "training": a,
                "training_share": a / n_train if n_train else 0.0,
                "new": b,
                "new_share": b / n_new if n_new else 0.0,
            }
        )
    report = feature_drift(training, table, set(_columns(model)), set(model.segmenter.categorical))
    centroids = []
    centers = model.segmenter.cluster_centers_
    for s in range(1, k + 1):
        mine = xt[labels == s]
        move = (
            float(np.sqrt(((mine.mean(axis=0) - centers[s - 1]) ** 2).sum())) if len(mine) else None
        )
        centroids.append(
            {
                "segment": s,
                "name": model.segment_names.get(s, str(s)),
                "customers": len(mine),
                "move": move,
                "move_relative": None if move is None or not typical else move / typical,
            }
        )
    far = int((_distances(labels, xt, centers) > threshold).sum()) if n_new else 0
    return _drift_document(n_train, n_new, shares, report, centroids, far, threshold, typical)


def _drift_document(
    n_train: int,
    n_new: int,
    shares: list[dict[str, Any]],
    report: dict[str, Any],
    centroids: list[dict[str, Any]],
    far: int,
    threshold: float | None,
    typical: float | None,
) -> dict[str, Any]:
    """The drift summary's document (``drift.json``) from its parts."""
    return {
        "customers": {"training": n_train, "new": n_new},
        "shares": shares,
        "psi": report,
        "psi_levels": list(PSI_LEVELS),
        "largest_psi": largest_psi(report),
        "centroids": centroids,
        "far": {
            "quantile": FAR_QUANTILE,
            "threshold": threshold,
            "training_median_distance": typical,
            "customers": far,
            "share": far / n_new if n_new else 0.0,
        },
    }


def feature_drift(
    training: pd.DataFrame, table: pd.DataFrame, clustered: set[str], categorical: set[str]
) -> dict[str, Any]:
    """Per feature shared by ``training`` and ``table``: its PSI (numeric: over training
    deciles; ``categorical``: over the categories), its level, whether it is ``clustered``,
    the training and new medians and the shift of the median."""
    candidates = [c for c in table.columns if c in training.columns and c != "customer_id"]
    report: dict[str, Any] = {}
    for col in candidates:
        if col in {"segment", "segment_name"}:
            continue
        old, new = training[col], table[col]
        if col in categorical:
            cats = sorted(set(old.astype(str)) | set(new.astype(str)))
            e = old.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
            a = new.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
            value = _psi_of_counts(e, a) if len(old) and len(new) else float("nan")
            report[col] = {
                "psi": value,
                "level": psi_level(value),
                "clustered": True,
                "median_training": None,
                "median_new": None,
                "median_shift": None,
            }
            continue
        if not (pd.api.types.is_numeric_dtype(old) and pd.api.types.is_numeric_dtype(new)):
            continue
        if pd.api.types.is_bool_dtype(old):
            continue
        o, n = old.dropna().to_numpy(float), new.dropna().to_numpy(float)
        value = psi(o, n)
        med_o = float(np.median(o)) if len(o) else float("nan")
        med_n = float(np.median(n)) if len(n) else float("nan")
        report[col] = {
            "psi": value,
            "level": psi_level(value),
            "clustered": col in clustered,
            "median_training": med_o,
            "median_new": med_n,
            "median_shift": med_n - med_o,
        }
    return report


def largest_psi(report: Mapping[str, Any]) -> str | None:
    """The feature of :func:`feature_drift` with the largest finite PSI."""
    return max(
        report,
        key=lambda c: report[c]["psi"] if np.isfinite(report[c]["psi"]) else -1,
        default=None,
    )


def _distances(labels: np.ndarray, xt: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return np.sqrt(((xt - centers[labels - 1]) ** 2).sum(axis=1))


def score(
    model: RunModel,
    source: str | os.PathLike[str] | pd.DataFrame,
    training: pd.DataFrame,
    *,
    as_of: date | None = None,
    mapping: Mapping[str, str] | None = None,
    engine: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> Scores:
    """Score the customers of ``source`` with ``model``; compare them with ``training``.

    ``training`` is the run's customer table (``segments.parquet``: features and segment).
    See :func:`new_features` for ``as_of``, ``mapping``, ``engine``, ``table`` and ``query``.
    """
    customers, ledger = new_features(
        model, source, as_of=as_of, mapping=mapping, engine=engine, table=table, query=query
    )
    if customers.empty:
        raise EmptyDataError(f"{ledger['source']}: no customer left to score after cleaning")
    if model.groups:
        out, drift = _score_split(model, training, customers)
    else:
        labels, distance, xt = assign(model, customers)
        drift = drift_summary(model, training, customers, labels, xt)
        out = customers.copy()
        out["segment"] = labels
        out["segment_name"] = [model.segment_names.get(int(s), str(s)) for s in labels]
        out["distance"] = distance
        out["far"] = distance > drift["far"]["threshold"]
    return Scores(
        kind=model.kind,
        as_of=ledger.get("as_of"),
        table=out.reset_index(drop=True),
        ledger=ledger,
        drift=drift,
    )


def _group_model(model: RunModel, group: SplitGroup) -> RunModel:
    """The run's chain with one lifecycle group's segmenter, its segments numbered 1..k."""
    k = int(group.segmenter.k_)
    names = {
        s: model.segment_names.get(group.first + s - 1, str(group.first + s - 1))
        for s in range(1, k + 1)
    }
    return dataclasses.replace(model, segmenter=group.segmenter, segment_names=names, groups=())


def _score_split(
    model: RunModel, training: pd.DataFrame, table: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Customers of a run split by lifecycle, each scored by its group's model
    (:class:`~custseg.model.run.SplitGroup`), and the drift of the whole run.

    Segment numbers, shares and centroid moves are those of each group, numbered as in
    ``segments.csv``; distances, and the ``far`` threshold, are each group's own (the scaled
    spaces of two groups are not comparable); the feature PSI compares all customers.
    """
    parts: list[pd.DataFrame] = []
    shares: list[dict[str, Any]] = []
    centroids: list[dict[str, Any]] = []
    far_groups: list[dict[str, Any]] = []
    taken = pd.Series(False, index=table.index)
    n_train, n_new = len(training), len(table)
    for group in model.groups:
        sub = _group_model(model, group)
        inside = group.holds(table[group.feature])
        taken |= inside
        new = table[inside]
        old = training[group.holds(training[group.feature])]
        if old.empty:
            raise SchemaError(
                f"segments.parquet holds no customer of the {group.name} group; "
                "the run folder is damaged: re-run custseg run"
            )
        labels, distance, xt = assign(sub, new)
        d = drift_summary(sub, old, new, labels, xt)
        offset = group.first - 1
        for row in d["shares"]:
            shares.append(
                row
                | {
                    "segment": row["segment"] + offset,
                    "group": group.name,
                    "training_share": row["training"] / n_train,
                    "new_share": row["new"] / n_new,
                }
            )
        centroids += [
            row | {"segment": row["segment"] + offset, "group": group.name}
            for row in d["centroids"]
        ]
        far_groups.append({"group": group.name} | d["far"])
        part = new.copy()
        part["segment"] = labels + offset
        part["segment_name"] = [model.segment_names.get(int(s), str(s)) for s in part["segment"]]
        part["distance"] = distance
        part["far"] = distance > d["far"]["threshold"]
        parts.append(part)
    if not taken.all():  # ranges that do not cover every value
        row = table[~taken].iloc[0]
        feature = model.groups[0].feature
        raise SchemaError(
            f"customer {row['customer_id']}: no group of the split model takes "
            f"{feature} = {row[feature]}"
        )
    out = pd.concat(parts).sort_index()
    clustered = {c for g in model.groups for c in _columns(_group_model(model, g))}
    report = feature_drift(training, table, clustered, set())
    far = int(out["far"].sum())
    drift = _drift_document(n_train, n_new, shares, report, centroids, far, None, None)
    drift["far"]["groups"] = far_groups
    return out, drift
