"""Several clustering algorithms fitted on the same customers, scored side by side.

customers → one :class:`~custseg.model.segmenter.CustomerSegmenter` per algorithm (same
features, transform and seed) → for each: segment sizes, the share of atypical customers
(density methods' noise), silhouette, Davies-Bouldin and Calinski-Harabasz in the scaled space
(on the customers in a segment: the atypical group is not a cluster), stability (mean adjusted
Rand index between the segmentation and refits on seeded 80 % subsamples) and fit time; then a
recommendation with its reason (:func:`recommend`).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from sklearn.datasets import make_blobs
>>> X, _ = make_blobs(400, centers=[[0, 0], [8, 8]], cluster_std=0.5, random_state=0)
>>> frame = pd.DataFrame(X, columns=["a", "b"])
>>> found = compare(frame, ["kmeans", "ward"], lambda a: CustomerSegmenter(algorithm=a, k=2))
>>> [(r["algorithm"], r["k"], r["sizes"]) for r in found.rows]
[('kmeans', 2, [200, 200]), ('ward', 2, [200, 200])]
>>> found.recommended, found.reason["rule"]
('kmeans', 'best_mean_rank')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)

from custseg.errors import CustsegError
from custseg.model.algorithms import core_assign, fit_density, get_algorithm
from custseg.model.segmenter import CustomerSegmenter

#: refits on subsamples measuring stability, and the share of customers each holds
REPEATS = 5
FRACTION = 0.8
#: stability and silhouette are measured on a seeded sample of at most this many customers
SAMPLE = 10_000
#: a segmentation leaving more than this share of customers atypical is not recommended
MAX_NOISE = 0.2
#: segmentations at least this stable are preferred (an ARI of 0.8: the same segments)
STABLE = 0.8
#: the columns of compare.csv, in order
COLUMNS = (
    "algorithm",
    "label",
    "k",
    "sizes",
    "atypical_share",
    "silhouette",
    "davies_bouldin",
    "calinski_harabasz",
    "stability",
    "recommended",
    "error",
)


@dataclass
class Comparison:
    """The algorithms compared, one row each, and the one recommended with its reason."""

    rows: list[dict[str, Any]]
    recommended: str | None
    reason: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    #: wall seconds of each fit (shown in the terminal, never saved: outputs are repeatable)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able content of ``compare.json``."""
        return {
            "rows": self.rows,
            "recommended": self.recommended,
            "reason": self.reason,
            "settings": self.settings,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per algorithm (``compare.csv``); sizes written ``n1|n2|…``."""
        frame = pd.DataFrame(
            [
                {
                    **{c: row.get(c) for c in COLUMNS},
                    "sizes": "|".join(map(str, row.get("sizes") or [])),
                    "recommended": row["algorithm"] == self.recommended,
                }
                for row in self.rows
            ],
            columns=list(COLUMNS),
        )
        return frame


def _r(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _refit_labels(model: CustomerSegmenter, Xt: np.ndarray, seed: int) -> np.ndarray:
    """Labels of ``Xt`` by the algorithm of ``model`` refitted on ``Xt`` alone (same k)."""
    algo = get_algorithm(model.algorithm)
    if not algo.uses_k:
        fitted = fit_density(Xt, model.algorithm, seed)
        return core_assign(Xt, fitted.points, fitted.labels, fitted.radius, noise=-1)
    built = algo.build(model.k_, n_init=min(3, model.n_init), random_state=seed)
    return np.asarray(built.fit(Xt).labels_)


def score(model: CustomerSegmenter, frame: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """One row of the comparison: sizes, atypical share, indices and stability of ``model``."""
    Xt = model.transform(frame)
    labels = np.asarray(model.labels_)
    n = len(labels)
    noise = getattr(model, "noise_label_", None)
    inside = labels != noise if noise is not None else np.ones(n, dtype=bool)
    sizes = np.bincount(labels, minlength=model.k_).tolist()
    rng = np.random.default_rng([seed, 13])
    base = np.sort(rng.choice(n, SAMPLE, replace=False)) if n > SAMPLE else np.arange(n)
    in_base = base[inside[base]]
    found = len(np.unique(labels[inside]))
    sil = db = ch = None
    if 2 <= found < inside.sum():
        sil = float(silhouette_score(Xt[in_base], labels[in_base]))
        db = float(davies_bouldin_score(Xt[inside], labels[inside]))
        ch = float(calinski_harabasz_score(Xt[inside], labels[inside]))
    aris = []
    for b in range(REPEATS):
        draw = np.random.default_rng([seed, 17, b])
        idx = np.sort(draw.choice(base, int(FRACTION * len(base)), replace=False))
        try:
            refit = _refit_labels(model, Xt[idx], seed + b + 1)
        except CustsegError:  # a density method finding nothing in a subsample
            refit = np.zeros(len(idx), dtype="int64")
        aris.append(float(adjusted_rand_score(labels[idx], refit)))
    algo = get_algorithm(model.algorithm)
    return {
        "algorithm": model.algorithm,
        "label": algo.label,
        "k": int(model.k_),
        "segments": int(model.k_) - (1 if noise is not None else 0),
        "sizes": [int(s) for s in sizes],
        "atypical_segment": None if noise is None else int(noise) + 1,
        "atypical_share": _r(1.0 - inside.mean()),
        "silhouette": _r(sil),
        "davies_bouldin": _r(db),
        "calinski_harabasz": _r(ch, 3),
        "stability": _r(float(np.mean(aris))),
        "rule": algo.rule,
        "parameters": dict(getattr(model, "method_", {}).get("parameters", {})),
        "error": None,
    }


def _ranks(values: list[float], higher: bool) -> list[float]:
    arr = np.asarray(values, dtype=float)
    order = np.argsort(-arr if higher else arr, kind="stable")
    ranks = np.empty(len(arr))
    ranks[order] = np.arange(1, len(arr) + 1)
    return ranks.tolist()


def recommend(rows: Sequence[Mapping[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The algorithm to use, and why.

    Rows that failed, found fewer than two segments or left more than :data:`MAX_NOISE` of
    the customers atypical are set aside (each with its reason). Among the others, those at
    least :data:`STABLE` stable are preferred when there are any; the one with the best mean
    rank over silhouette (higher), Davies-Bouldin (lower), Calinski-Harabasz (higher) and
    stability (higher) is recommended, ties going to the first listed.
    """
    excluded: dict[str, str] = {}
    ok = []
    for row in rows:
        if row.get("error"):
            excluded[row["algorithm"]] = "failed"
        elif row["silhouette"] is None or row["segments"] < 2:
            excluded[row["algorithm"]] = "too_few_segments"
        elif (row["atypical_share"] or 0.0) > MAX_NOISE:
            excluded[row["algorithm"]] = "too_much_noise"
        else:
            ok.append(row)
    if not ok:
        return None, {"rule": "none_eligible", "excluded": excluded}
    stable = [r for r in ok if (r["stability"] or 0.0) >= STABLE]
    if stable and len(stable) < len(ok):
        for r in ok:
            if r not in stable:
                excluded[r["algorithm"]] = "unstable"
        ok = stable
    ranks = np.mean(
        [
            _ranks([r["silhouette"] for r in ok], True),
            _ranks([r["davies_bouldin"] for r in ok], False),
            _ranks([r["calinski_harabasz"] for r in ok], True),
            _ranks([r["stability"] or 0.0 for r in ok], True),
        ],
        axis=0,
    )
    best = int(np.argmin(ranks))
    return str(ok[best]["algorithm"]), {
        "rule": "best_mean_rank",
        "mean_rank": {r["algorithm"]: round(float(m), 3) for r, m in zip(ok, ranks, strict=True)},
        "excluded": excluded,
    }


def compare(
    frame: pd.DataFrame,
    algorithms: Sequence[str],
    make: Callable[[str], CustomerSegmenter],
    *,
    fitted: Mapping[str, CustomerSegmenter] | None = None,
    seed: int = 0,
) -> Comparison:
    """Fit ``make(name)`` on ``frame`` for every algorithm name and score them side by side.

    ``fitted`` gives models already fitted on ``frame`` (the run's own), reused as they are.
    An algorithm that fails (a density method finding no segment) gets a row with its error.
    """
    rows = []
    seconds: dict[str, float] = {}
    for name in dict.fromkeys(algorithms):
        get_algorithm(name)  # an unknown name is an error of the caller, not a row
        started = time.perf_counter()
        try:
            model = (fitted or {}).get(name) or make(name).fit(frame)
            seconds[name] = (
                sum(model.fit_seconds_.values())
                if fitted and name in fitted and hasattr(model, "fit_seconds_")
                else time.perf_counter() - started
            )
            rows.append(score(model, frame, seed=seed))
        except CustsegError as exc:
            rows.append(
                {
                    "algorithm": name,
                    "label": get_algorithm(name).label,
                    "k": None,
                    "segments": 0,
                    "sizes": [],
                    "atypical_segment": None,
                    "atypical_share": None,
                    "silhouette": None,
                    "davies_bouldin": None,
                    "calinski_harabasz": None,
                    "stability": None,
                    "rule": get_algorithm(name).rule,
                    "parameters": {},
                    "error": str(exc),
                }
            )
    recommended, reason = recommend(rows)
    return Comparison(
        rows,
        recommended,
        reason,
        {
            "stability_repeats": REPEATS,
            "stability_fraction": FRACTION,
            "sample": SAMPLE,
            "max_atypical_share": MAX_NOISE,
            "stable_ari": STABLE,
        },
        seconds,
    )
