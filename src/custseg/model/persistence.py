"""A fitted model as plain JSON: written by :func:`to_dict`, read back by :func:`from_dict`.

The ``model`` part of a run's ``model.json`` holds everything needed to score a new customer:
the estimator's parameters, the transform (clip bound, Yeo-Johnson exponent, mean and scale of
each numeric feature, categories), the centroids (row i = label i = segment i + 1), the RFM
score edges and grid, the segment slugs given by the explain layer, and how k was chosen.
Reading validates the content against :data:`custseg.model.schema.MODEL` (types, finite numbers,
sizes, centroids k × width) and never executes anything.

Format ``custseg.model/2`` (from ``/1``): ``params`` gains ``algorithm`` and ``features`` may be
``null`` (every column); ``feature_names_in`` records the input columns validated at fit time
(``null`` for arrays). Labels count from 0 in the estimator; the saved segment numbers (keys of
``segments``) still count from 1, and centroid row i is still segment i + 1. ``/1`` files load.

Examples
--------
>>> import pandas as pd
>>> from custseg.model.segmenter import CustomerSegmenter
>>> X = pd.DataFrame({"recency_days": [1, 2, 200, 210] * 3,
...                   "frequency": [20, 22, 1, 2] * 3, "monetary": [900.0, 950, 30, 40] * 3})
>>> model = CustomerSegmenter(k=2).fit(X)
>>> data = to_dict(model, segments={1: "champions", 2: "lost"})
>>> data["format"], data["segments"]
('custseg.model/2', {'1': 'champions', '2': 'lost'})
>>> from_dict(data).predict(X.head(3)).tolist(), segment_slugs(data)[2]
([0, 0, 1], 'lost')
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import ModelError
from custseg.model import schema
from custseg.model.algorithms import get_algorithm
from custseg.model.rfm import RFM_GRID, RFMScorer
from custseg.model.segmenter import CustomerSegmenter
from custseg.model.selection import Selection
from custseg.version import __version__

MODEL_FORMAT = schema.MODEL_FORMAT
#: formats :func:`from_dict` reads
READABLE = frozenset(schema.MODEL_FORMATS)


def versions() -> dict[str, str]:
    """Versions of custseg, Python and the libraries a saved model was fitted with."""
    import sklearn

    return {
        "custseg": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
    }


def _grid(grid: Any) -> list[dict[str, Any]]:
    return [{"slug": b["slug"], "r": list(b["r"]), "f": list(b["f"])} for b in grid]


def to_dict(
    model: CustomerSegmenter,
    *,
    segments: Mapping[int, str] | None = None,
    rfm: RFMScorer | None = None,
) -> dict[str, Any]:
    """Everything needed to score new customers, as JSON-able data.

    Parameters
    ----------
    model : a fitted :class:`CustomerSegmenter`.
    segments : slug of each segment number (1..k), as named by :mod:`custseg.explain.naming`;
        default ``segment_<n>``.
    rfm : the fitted RFM scorer of the run, if any (its edges and grid are saved).
    """
    model._check_fitted()
    names = getattr(model, "feature_names_in_", None)
    slugs = segments or {s: f"segment_{s}" for s in range(1, model.k_ + 1)}
    return {
        "format": MODEL_FORMAT,
        "params": {
            "features": None if model.features is None else list(model.features),
            "categorical": list(model.categorical),
            "k": model.k,
            "k_min": model.k_min,
            "k_max": model.k_max,
            "n_init": model.n_init,
            "random_state": model.random_state if isinstance(model.random_state, int) else None,
            "sweep_sample": model.sweep_sample,
            "silhouette_sample": model.silhouette_sample,
            "algorithm": model.algorithm,
        },
        "feature_names_in": None if names is None else [str(c) for c in names],
        "transform": {
            "steps": ["clip-lower", "yeo-johnson", "standardize"],
            "lower": [None if not np.isfinite(v) else float(v) for v in model.lower_],
            "lambdas": [float(v) for v in model.lambdas_],
            "mean": [float(v) for v in model.mean_],
            "scale": [float(v) for v in model.scale_],
        },
        "categories": model.categories_,
        "value_feature": model.value_feature_,
        "k": int(model.k_),
        "centroids": [[float(v) for v in row] for row in model.cluster_centers_],
        "ordering": f"segment 1 has the highest mean {model.value_feature_}"
        if model.value_feature_
        else "segment 1 is the largest",
        "segments": {str(s): str(slug) for s, slug in sorted(slugs.items())},
        "rfm_edges": {} if rfm is None else rfm.edges_,
        "rfm_grid": _grid(RFM_GRID if rfm is None else rfm.grid),
        "selection": model.selection_.to_dict() if model.selection_ is not None else None,
        "versions": versions(),
        **_scoring(model),
    }


#: how each rule scores a customer, as written in ``scoring.statement`` of model.json
STATEMENTS = {
    "nearest-centroid": "a customer gets the segment of its nearest centroid in the scaled space",
    "gaussian-posterior": "a customer gets the mixture component of highest posterior "
    "probability (weights, means and full covariances in the scaled space)",
    "core-within-radius": "a customer gets the segment of its nearest core point when it lies "
    "within that point's radius (DBSCAN: eps; HDBSCAN: the point's core distance), else the "
    "atypical customers (noise_segment)",
}


def _floats(a: Any) -> Any:
    return np.asarray(a, dtype=float).tolist()


def _scoring(model: CustomerSegmenter) -> dict[str, Any]:
    """The ``scoring`` part of a model other than K-Means (K-Means: none, nearest centroid).

    Kept out of K-Means models so that their ``model.json`` is unchanged.
    """
    if model.algorithm == "kmeans":
        return {}
    method = dict(getattr(model, "method_", {}) or {})
    rule = str(method.get("rule", get_algorithm(model.algorithm).rule))
    noise = getattr(model, "noise_label_", None)
    out: dict[str, Any] = {
        "rule": rule,
        "statement": STATEMENTS[rule],
        "method": method,
        "noise_segment": None if noise is None else int(noise) + 1,
    }
    mixture = getattr(model, "mixture_", None)
    if mixture is not None:
        out["mixture"] = {key: _floats(mixture[key]) for key in ("weights", "means", "covariances")}
    core = getattr(model, "core_", None)
    if core is not None:
        out["core"] = {
            "points": _floats(core["points"]),
            "segments": [int(v) + 1 for v in core["labels"]],
            "radius": _floats(core["radius"]),
        }
    return {"scoring": out}


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelError(f"model file is damaged: {what} must be a list of names")
    return list(value)


def _numbers(value: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray([-np.inf if v is None and what == "lower" else v for v in value], dtype=float)
    if arr.shape != (n,):
        raise ModelError(f"model file is inconsistent: transform {what} has {arr.size} values")
    return arr


def from_dict(data: Mapping[str, Any]) -> CustomerSegmenter:
    """Rebuild the fitted estimator from :func:`to_dict` output (no code is executed).

    Raises :class:`~custseg.errors.ModelError` naming what is missing or inconsistent: the
    content is checked against :data:`custseg.model.schema.MODEL` first.
    """
    if not isinstance(data, Mapping) or data.get("format") not in READABLE:
        raise ModelError(f"not a custseg model (expected format {MODEL_FORMAT!r})")
    schema.validate(dict(data), "model", "model")
    try:
        p = data["params"]
        features = None if p["features"] is None else _strings(p["features"], "features")
        categorical = _strings(p.get("categorical", []), "categorical")
        algorithm = str(p.get("algorithm", "kmeans"))
        get_algorithm(algorithm)
        model = CustomerSegmenter(
            None if features is None else tuple(features),
            categorical=tuple(categorical),
            algorithm=algorithm,
            k=p["k"],
            k_min=p["k_min"],
            k_max=p["k_max"],
            n_init=p["n_init"],
            random_state=p["random_state"],
            sweep_sample=p["sweep_sample"],
            silhouette_sample=p["silhouette_sample"],
        )
        model._validate_params()
        if data["format"] == schema.MODEL_FORMATS[0]:
            names_in: list[str] | None = [*(features or []), *categorical]
        else:
            raw = data["feature_names_in"]
            names_in = None if raw is None else _strings(raw, "feature_names_in")
        tr = data["transform"]
        width = len(tr["lambdas"])
        model.lower_ = _numbers(tr["lower"], width, "lower")
        model.lambdas_ = _numbers(tr["lambdas"], width, "lambdas")
        model.mean_ = _numbers(tr["mean"], width, "mean")
        model.scale_ = _numbers(tr["scale"], width, "scale")
        model.categories_ = {
            str(c): _strings(v, f"categories of {c!r}")
            for c, v in dict(data.get("categories", {})).items()
        }
        model.cluster_centers_ = np.asarray(data["centroids"], dtype=float)
        value = data.get("value_feature")
        model.value_feature_ = None if value is None else str(value)
        model.k_ = int(data["k"])
        sel = data.get("selection")
        model.selection_ = Selection.from_dict(sel) if sel else None
        _read_scoring(model, data.get("scoring"))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"model file is incomplete or damaged ({exc!r})") from exc
    if names_in is not None:
        model.feature_names_in_ = np.asarray(names_in, dtype=object)
        model.n_features_in_ = len(names_in)
        model.numeric_features_ = [c for c in names_in if c not in set(categorical)]
    else:
        model.n_features_in_ = width
        model.numeric_features_ = [f"x{i}" for i in range(width)]
    if len(model.numeric_features_) != width or set(model.categories_) != set(categorical):
        raise ModelError("model file is inconsistent: transform does not match the features")
    n_out = width + sum(len(v) for v in model.categories_.values())
    if model.cluster_centers_.shape != (model.k_, n_out):
        raise ModelError("model file is inconsistent: centroids do not match k and features")
    return model


def _read_scoring(model: CustomerSegmenter, scoring: Mapping[str, Any] | None) -> None:
    """Set the scoring state of ``model`` from the ``scoring`` part (validated already)."""
    model.noise_label_ = None
    model.mixture_ = None
    model.core_ = None
    algo = get_algorithm(model.algorithm)
    if not scoring:
        if algo.rule != "nearest-centroid":
            raise ModelError(
                f"model file is incomplete: a {model.algorithm} model without its scoring part"
            )
        model.method_ = {"algorithm": algo.name, "label": algo.label, "rule": algo.rule}
        return
    if scoring["rule"] != algo.rule:
        raise ModelError(
            f"model file is inconsistent: {model.algorithm} scores by {algo.rule}, "
            f"not {scoring['rule']}"
        )
    model.method_ = dict(scoring["method"])
    if scoring.get("mixture"):
        model.mixture_ = {
            key: np.asarray(scoring["mixture"][key], dtype=float)
            for key in ("weights", "means", "covariances")
        }
    if scoring.get("core"):
        model.noise_label_ = int(scoring["noise_segment"]) - 1
        model.core_ = {
            "points": np.asarray(scoring["core"]["points"], dtype=float),
            "labels": np.asarray(scoring["core"]["segments"], dtype="int64") - 1,
            "radius": np.asarray(scoring["core"]["radius"], dtype=float),
        }


def segment_slugs(data: Mapping[str, Any]) -> dict[int, str]:
    """Slug of each segment number (1..k) saved with a model (see :func:`to_dict`)."""
    try:
        return {int(s): str(v) for s, v in data["segments"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"model file has no readable segment names ({exc!r})") from exc


def rfm_scorer(data: Mapping[str, Any]) -> RFMScorer | None:
    """The fitted RFM scorer saved with a model, or ``None`` when the run had none."""
    try:
        edges = data.get("rfm_edges") or {}
        if not edges:
            return None
        grid = tuple(
            {"slug": str(b["slug"]), "r": tuple(map(int, b["r"])), "f": tuple(map(int, b["f"]))}
            for b in data.get("rfm_grid") or RFM_GRID
        )
        scorer = RFMScorer(grid=grid)
        scorer.edges_ = {str(f): [float(v) for v in e] for f, e in edges.items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"model file has damaged RFM scores ({exc!r})") from exc
    return scorer


def read(path: str | Path) -> dict[str, Any]:
    """The model part of a ``model.json`` written by a run (or a bare model document).

    Read safely (:func:`custseg.model.schema.load_json`) and validated against
    :data:`custseg.model.schema.MODEL`; raises a one-line :class:`ModelError` naming the file.
    """
    data = schema.load_json(path)
    model = data.get("model", data)
    if not isinstance(model, dict) or model.get("format") not in READABLE:
        raise ModelError(
            f"{path}: not a custseg model (no model of format {MODEL_FORMAT!r}); give a run's "
            "model.json"
        )
    schema.validate(model, "model", f"{path}")
    return model


def load(path: str | Path) -> CustomerSegmenter:
    """Read the fitted estimator of a ``model.json`` written by a run.

    Its ``predict`` gives labels 0..k-1; the run's segment numbers are those plus one
    (:func:`custseg.model.segmenter.segment_numbers`).
    """
    return from_dict(read(path))
