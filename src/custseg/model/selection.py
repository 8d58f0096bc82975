"""Choosing the number of segments: sweep k, score each k, give one verdict with its reasons.

For every k in a range, the clusterer (K-Means by default; any algorithm of
:mod:`custseg.model.algorithms`) is fitted (on a seeded sample of the customers when there are
many) and scored by four criteria: the knee of the inertia curve (kneed), the silhouette (on a
seeded sample of at most ``silhouette_sample`` customers, and said so), Calinski-Harabasz and
Davies-Bouldin, and by its stability: the mean pairwise adjusted Rand index between
segmentations fitted on :data:`STABILITY_REPEATS` seeded samples of 80 % of the customers
(:func:`bootstrap_stability`). A k whose segments do not hold (stability below
:data:`STABLE`) is never chosen while one that holds exists; :func:`verdict` states the rule,
the window it searched, and why each k scoring better elsewhere was not taken.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from threadpoolctl import threadpool_limits

from custseg.config import settings
from custseg.model.algorithms import get_algorithm

#: a k's segments "hold" when their stability (mean pairwise ARI) is at least this
STABLE = 0.85
#: samples of the customers whose segmentations are compared for each k
STABILITY_REPEATS = 10
#: share of the customers in each of those samples
STABILITY_FRACTION = 0.8
#: customers in each of those samples at most (a larger base is sampled down to this many)
STABILITY_MAX = 5_000
#: a k scores "clearly" better than another when better by this relative margin on every index
MARGIN = 0.02


def _workers() -> int:
    """Fits run side by side: one per usable core (``CUSTSEG_THREADS`` caps it)."""
    return settings().workers


def find_knee(ks: list[int], inertia: list[float]) -> int | None:
    """The k where the decreasing, convex inertia curve bends most; ``None`` if it does not.

    Examples
    --------
    >>> find_knee([1, 2, 3, 4, 5, 6], [100, 40, 12, 10, 9, 8.5])
    3
    >>> find_knee([2, 3], [10, 9]) is None
    True
    """
    if len(ks) < 3:
        return None
    from kneed import KneeLocator

    knee = KneeLocator(ks, inertia, curve="convex", direction="decreasing").knee
    return None if knee is None else int(knee)


def silhouette_from_distances(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from a precomputed distance matrix, for many labelings of one sample.

    The distance matrix is computed once per sweep; each labeling then costs one matrix
    product (``D @ one_hot(labels)``) instead of a pass over all pairs. Same definition as
    :func:`sklearn.metrics.silhouette_score` (members of singleton clusters score 0); the
    tests check both agree.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> round(silhouette_from_distances(distance_matrix(X), np.array([0, 0, 1, 1])), 3)
    0.97
    """
    uniq, inv = np.unique(labels, return_inverse=True)
    if len(uniq) < 2:
        return -1.0
    onehot = np.zeros((len(labels), len(uniq)), dtype=D.dtype)
    onehot[np.arange(len(labels)), inv] = 1
    return _silhouette_from_sums((D @ onehot).astype(np.float64), inv, len(uniq))


def _silhouette_from_sums(sums: np.ndarray, inv: np.ndarray, k: int) -> float:
    """Mean silhouette from each point's summed distances to every cluster (``n × k``)."""
    n = len(inv)
    sizes = np.bincount(inv, minlength=k).astype(np.float64)
    own = sizes[inv]
    a = sums[np.arange(n), inv] / np.maximum(own - 1, 1)
    means = sums / sizes
    means[np.arange(n), inv] = np.inf
    b = means.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(own > 1, (b - a) / np.maximum(a, b), 0.0)
    return float(np.nan_to_num(s).mean())


def silhouettes(
    X: np.ndarray, labelings: list[np.ndarray], block: int = 1_000, workers: int = 1
) -> list[float]:
    """Mean silhouette of several labelings of the same points, in one pass over the pairs.

    The distances are computed by blocks of rows (float64, then float32 like
    :func:`distance_matrix`) and each block serves every labeling, so memory stays at one
    block per worker (80 MB for 10 k points) instead of the whole matrix (400 MB). A
    labeling with fewer than two clusters scores -1.

    With ``workers`` > 1 the blocks are computed side by side, BLAS on one thread each:
    every block fills its own rows of the sums, computed as on one thread, so the values do
    not change. On Online Retail (4,334 customers, 5 blocks, 9 labelings) this pass took
    0.5 s on one thread, the last step of the k sweep after its parallel fits.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> [round(v, 3) for v in silhouettes(X, [np.array([0, 0, 1, 1]), np.zeros(4, int)])]
    [0.97, -1.0]
    """
    n = X.shape[0]
    coded = [np.unique(lab, return_inverse=True) for lab in labelings]
    onehots = []
    for uniq, inv in coded:
        oh = np.zeros((n, len(uniq)), dtype=np.float32)
        oh[np.arange(n), inv] = 1
        onehots.append(oh)
    sums = [np.empty((n, oh.shape[1]), dtype=np.float64) for oh in onehots]
    X64, sq = _squared_norms(X)

    def fill(start: int) -> None:
        rows, D = _distance_block(X64, sq, start, block)
        for total, oh in zip(sums, onehots, strict=True):
            total[rows] = D @ oh

    starts = range(0, n, block)
    if workers > 1 and len(starts) > 1:
        with (
            threadpool_limits(1, user_api="blas"),
            ThreadPoolExecutor(
                max_workers=min(workers, len(starts)), thread_name_prefix="custseg-sil"
            ) as pool,
        ):
            list(pool.map(fill, starts))
    else:
        for start in starts:
            fill(start)
    return [
        -1.0 if len(uniq) < 2 else _silhouette_from_sums(total, inv, len(uniq))
        for (uniq, inv), total in zip(coded, sums, strict=True)
    ]


def distance_matrix(X: np.ndarray, block: int = 2_000) -> np.ndarray:
    """Euclidean distances between all rows, computed in float64 by blocks, kept in float32.

    Half the memory of a float64 matrix; 3x faster than scikit-learn's pairwise_distances on
    float32 input, which up-casts block by block (0.95 s against 0.3 s for 10 k customers).

    Examples
    --------
    >>> distance_matrix(np.array([[0.0, 0.0], [3.0, 4.0]])).tolist()
    [[0.0, 5.0], [5.0, 0.0]]
    """
    D = np.empty((X.shape[0], X.shape[0]), dtype=np.float32)
    X64, sq = _squared_norms(X)
    for start in range(0, X.shape[0], block):
        rows, block_d = _distance_block(X64, sq, start, block)
        D[rows] = block_d
    return D


def _squared_norms(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` in float64 and the squared norm of each row, for :func:`_distance_block`."""
    X = np.asarray(X, dtype=np.float64)
    return X, np.einsum("ij,ij->i", X, X)


def _distance_block(
    X: np.ndarray, sq: np.ndarray, start: int, block: int
) -> tuple[slice, np.ndarray]:
    """Rows ``start`` to ``start + block`` of the Euclidean distance matrix of ``X`` (float64,
    squared norms ``sq``): computed in float64, given in float32, zero on the diagonal.

    The operations are those of ``sqrt(max(sq_i + sq_j - 2 * (x_i . x_j), 0))`` in that
    order, written in place: two 8-byte temporaries of the block instead of four (0.47 s
    instead of 0.52 s for the 5 blocks of Online Retail, best of 15), the same values.
    """
    rows = slice(start, start + block)
    d2 = sq[rows, None] + sq[None, :]
    product = X[rows] @ X.T
    product *= 2.0
    d2 -= product
    del product
    np.maximum(d2, 0.0, out=d2)
    D = np.empty(d2.shape, dtype=np.float32)
    np.sqrt(d2, out=D, casting="same_kind")  # computed in float64, rounded once to float32
    D[np.arange(D.shape[0]), np.arange(start, start + D.shape[0])] = 0.0
    return rows, D


@dataclass
class Selection:
    """Scores of every k tried and the verdict."""

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    calinski_harabasz: list[float]
    davies_bouldin: list[float]
    knee: int | None
    chosen: int
    forced: bool
    reason: dict[str, Any]
    sample: dict[str, int] = field(default_factory=dict)
    #: per k, mean pairwise ARI of fits on seeded 80 % samples (see bootstrap_stability)
    stability: list[float | None] = field(default_factory=list)
    #: per k, the centroids fitted in the sweep (not saved: the final model's centroids are)
    centers: list[np.ndarray] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able scores (rounded so that saved models are stable and readable)."""
        return {
            "ks": self.ks,
            "inertia": [round(v, 6) for v in self.inertia],
            "silhouette": [round(v, 6) for v in self.silhouette],
            "calinski_harabasz": [round(v, 6) for v in self.calinski_harabasz],
            "davies_bouldin": [round(v, 6) for v in self.davies_bouldin],
            "knee": self.knee,
            "chosen": self.chosen,
            "forced": self.forced,
            "reason": self.reason,
            "sample": self.sample,
            "stability": [None if v is None else round(v, 6) for v in self.stability],
        }

    def centers_of(self, k: int) -> np.ndarray | None:
        """Centroids the sweep fitted for ``k`` (``None`` when k was not swept or loaded)."""
        if k in self.ks and len(self.centers) == len(self.ks):
            return self.centers[self.ks.index(k)]
        return None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Selection:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


def stability(
    X: np.ndarray,
    k: int,
    *,
    random_state: int,
    n_init: int = 2,
    evaluate: np.ndarray | None = None,
    algorithm: str = "kmeans",
) -> float | None:
    """How much the segments depend on which customers the clusterer saw.

    The customers are split in two halves (seeded); the clusterer (``algorithm``) is fitted on
    each half and both models label the same customers (``evaluate``, default all); the
    adjusted Rand index between the two labelings is returned: 1 when either half gives the
    same segments, near 0 when the segments are an accident of the sample. ``None`` when a
    half has fewer than k customers, or when the algorithm cannot label customers it was not
    fitted on.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (50, 2)), rng.normal(5, 0.3, (50, 2))])
    >>> stability(X, 2, random_state=0)
    1.0
    """
    from sklearn.metrics import adjusted_rand_score

    algo = get_algorithm(algorithm)
    rng = np.random.default_rng([random_state, k])
    order = rng.permutation(X.shape[0])
    half = X.shape[0] // 2
    if half < k or not algo.predicts:
        return None
    E = X if evaluate is None else evaluate
    fits = [
        algo.build(k, n_init=n_init, random_state=random_state).fit(X[idx]).predict(E)
        for idx in (order[:half], order[half:])
    ]
    return float(adjusted_rand_score(fits[0], fits[1]))


def bootstrap_stability(
    X: np.ndarray,
    k: int,
    *,
    random_state: int,
    n_init: int = 3,
    evaluate: np.ndarray | None = None,
    algorithm: str = "kmeans",
    repeats: int = STABILITY_REPEATS,
    fraction: float = STABILITY_FRACTION,
    max_size: int = STABILITY_MAX,
) -> float | None:
    """Whether the segments of ``k`` hold when the customers change: mean pairwise ARI.

    ``repeats`` seeded samples of ``fraction`` of the customers (at most ``max_size``: beyond,
    the samples are smaller than ``fraction`` and the cost stays bounded) are drawn without
    replacement; the clusterer is fitted on each and every fit labels the same customers
    (``evaluate``, default all); the mean adjusted Rand index over all pairs of labelings is
    returned. 1 when every sample gives the same segments, near 0 when they are an accident of
    the sample. ``None`` when a sample has fewer than k customers, or when the algorithm cannot
    label customers it was not fitted on.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (50, 2)), rng.normal(5, 0.3, (50, 2))])
    >>> bootstrap_stability(X, 2, random_state=0)
    1.0
    """
    algo = get_algorithm(algorithm)
    size = min(round(fraction * X.shape[0]), max_size)
    if size < k or repeats < 2 or not algo.predicts:
        return None
    E = X if evaluate is None else evaluate
    labelings = []
    for b in range(repeats):
        rng = np.random.default_rng([random_state, k, b])
        idx = np.sort(rng.choice(X.shape[0], size, replace=False))
        fitted = algo.build(k, n_init=n_init, random_state=random_state + b).fit(X[idx])
        labelings.append(fitted.predict(E))
    aris = [
        adjusted_rand(labelings[i], labelings[j])
        for i in range(repeats)
        for j in range(i + 1, repeats)
    ]
    return float(np.mean(aris))


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings by non-negative integers: the value of
    :func:`sklearn.metrics.adjusted_rand_score`, to the last bit.

    Written here because the stability vote compares 45 pairs of labelings for each k, and
    scikit-learn's function spends its time validating its input (type of target, unique
    labels, a sparse contingency matrix): 3.4 ms a pair on 4,334 customers, 1.4 s of the
    2.5 s the vote took on Online Retail (one thread), against 0.04 ms here. The pair
    counts are the same integers (from a dense contingency table counted by ``bincount``)
    and the last line is scikit-learn's expression on the same Python integers, so the
    result is the same float; the tests compare both on random labelings.

    Examples
    --------
    >>> adjusted_rand(np.array([0, 0, 1, 2]), np.array([0, 0, 1, 1]))
    0.5714285714285714
    >>> adjusted_rand(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]))
    1.0
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    n = a.shape[0]
    kb = int(b.max()) + 1 if n else 1
    ka = int(a.max()) + 1 if n else 1
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb)
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    same_both = int((table * table).sum())
    # the four pair counts of sklearn.metrics.cluster.pair_confusion_matrix
    tp = same_both - n
    fp = int((table * cols[None, :]).sum()) - same_both
    fn = int((table * rows[:, None]).sum()) - same_both
    tn = n * n - fp - fn - same_both
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _inertia(model: Any, X: np.ndarray) -> float:
    """Within-segment sum of squared distances to the segment means (``inertia_`` if fitted).

    Examples
    --------
    >>> class Fitted:
    ...     labels_ = np.array([0, 0, 1])
    >>> _inertia(Fitted(), np.array([[0.0], [2.0], [5.0]]))
    2.0
    """
    if hasattr(model, "inertia_"):
        return float(model.inertia_)
    labels = np.asarray(model.labels_)
    total = 0.0
    for c in np.unique(labels[labels >= 0]):  # -1 (noise) belongs to no segment
        members = X[labels == c]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def _ranks(values: list[float], higher_is_better: bool) -> list[int]:
    arr = np.asarray(values, dtype=float)
    key = -arr if higher_is_better else arr
    order = np.argsort(key, kind="stable")
    ranks = np.empty(len(arr), dtype=int)
    ranks[order] = np.arange(1, len(arr) + 1)
    return ranks.tolist()


def _dominates(
    i: int, j: int, sil: list[float], ch: list[float], db: list[float], margin: float = 0.0
) -> bool:
    """Whether candidate i is better than j on every index, by ``margin`` (relative) or more.

    With ``margin`` 0: at least as good on every index and better on one (Pareto dominance).
    """
    if margin <= 0:
        ge = sil[i] >= sil[j] and ch[i] >= ch[j] and db[i] <= db[j]
        gt = sil[i] > sil[j] or ch[i] > ch[j] or db[i] < db[j]
        return ge and gt
    return (
        sil[i] >= sil[j] + margin * abs(sil[j])
        and ch[i] >= ch[j] * (1 + margin)
        and db[i] <= db[j] * (1 - margin)
    )


def verdict(
    ks: list[int],
    silhouette: list[float],
    ch: list[float],
    db: list[float],
    knee: int | None,
    *,
    stability: list[float | None] | None = None,
    window: int = 2,
    threshold: float = STABLE,
    margin: float = MARGIN,
) -> tuple[int, dict[str, Any]]:
    """Combine the criteria into one k and a structured reason.

    The rule, in the order analysts apply it:

    0. **Segments that hold.** A k whose ``stability`` (mean pairwise ARI across samples of
       the customers, see :func:`bootstrap_stability`) is below ``threshold`` is not chosen
       while a k that holds exists (a k without a stability measure counts as holding).
    1. **Elbow first.** When the inertia curve has a knee, start there: past it, more segments
       buy little within-segment homogeneity; before it, distinct behaviours are lumped. If
       the knee's segments do not hold, start from the nearest k within ``window`` of it
       whose segments hold (rule ``elbow_stable``).
    2. **Refined by quality, near the elbow.** Within ``window`` of the knee, move to a k that
       holds and scores *clearly* better on silhouette, Calinski-Harabasz *and* Davies-Bouldin
       together (by ``margin``, relative, on each: smaller differences are within the noise
       of a sample of customers), taking the nearest such k each time. Far from the elbow the
       indices do not overrule it: on customer data without sharp clusters they favour two
       segments (split along the main axis of value), which describes the base but is too
       coarse to act on; the reason lists every k that scores better, and why it was not taken.
    3. **No elbow.** Each index ranks the k's (1 = best); among the k's that hold, the lowest
       mean rank wins.
    4. **No clear k** (rule ``no_clear_k``): no k holds, or no elbow and two k's share the
       best mean rank. The k of best mean rank (the smaller on ties) is returned, flagged.

    Examples
    --------
    >>> k, why = verdict([2, 3, 4], [0.5, 0.6, 0.4], [100, 120, 90], [0.9, 0.7, 1.0], None)
    >>> k, why["rule"], why["mean_rank"]
    (3, 'mean_rank', 1.0)
    >>> k, why = verdict([2, 3, 4, 5], [0.35, 0.4, 0.45, 0.3], [90, 80, 95, 70], [0.9, 1.0, 0.8, 1.2], 3)
    >>> k, why["rule"], why["path"]
    (4, 'elbow_refined', [3, 4])
    >>> k, why = verdict([2, 3, 4], [0.5, 0.6, 0.4], [100, 120, 90], [0.9, 0.7, 1.0], None,
    ...                  stability=[0.5, 0.6, 0.4])
    >>> k, why["rule"], why["no_clear"]
    (3, 'no_clear_k', 'unstable')
    """
    n = len(ks)
    stab: list[float | None] = list(stability) if stability else [None] * n
    holds = [v is None or v >= threshold for v in stab]
    ranks = {
        "silhouette": _ranks(silhouette, True),
        "calinski_harabasz": _ranks(ch, True),
        "davies_bouldin": _ranks(db, False),
    }
    mean_rank = np.mean(np.array(list(ranks.values()), dtype=float), axis=0)
    path: list[int] = []
    no_clear: str | None = None
    searched: list[int] = list(ks)
    best = int(np.argmin(mean_rank))  # the first, i.e. smallest, k on ties
    if not any(holds):
        rule, no_clear = "no_clear_k", "unstable"
    elif knee is not None and knee in ks:
        near = [j for j in range(n) if abs(ks[j] - knee) <= window]
        searched = [ks[j] for j in near]
        start = ks.index(knee)
        rule = "elbow"
        if not holds[start]:
            steady = [j for j in near if holds[j]]
            if steady:
                start = min(steady, key=lambda j: (abs(ks[j] - knee), mean_rank[j], ks[j]))
                rule = "elbow_stable"
            else:  # the best mean rank among the k's that hold, farther from the elbow
                rule, no_clear = "no_clear_k", "unstable_near_elbow"
                steady = [j for j in range(n) if holds[j]]
                best = min(steady, key=lambda j: (mean_rank[j], ks[j]))
        if no_clear is None:
            cur = start
            path = [ks[cur]]
            while True:
                better = [
                    j for j in near if holds[j] and _dominates(j, cur, silhouette, ch, db, margin)
                ]
                if not better:
                    break
                cur = min(better, key=lambda j: (abs(ks[j] - ks[cur]), ks[j]))
                path.append(ks[cur])
            best = cur
            if rule == "elbow" and len(path) > 1:
                rule = "elbow_refined"
    else:
        steady = [j for j in range(n) if holds[j]]
        top = min(mean_rank[j] for j in steady)
        tied = [j for j in steady if mean_rank[j] == top]
        best = tied[0]
        rule = "mean_rank"
        if len(tied) > 1:
            rule, no_clear = "no_clear_k", "tie"

    def values(i: int) -> dict[str, float]:
        return {
            "silhouette": round(silhouette[i], 4),
            "calinski_harabasz": round(ch[i], 2),
            "davies_bouldin": round(db[i], 4),
        }

    def why_not(j: int) -> str:
        if not holds[j]:
            return "unstable"
        if ks[j] not in searched:
            return "outside_window"
        if rule == "no_clear_k":
            return "no_clear_k"
        return "within_margin"

    def rounded(v: float | None) -> float | None:
        return None if v is None else round(float(v), 4)

    better_elsewhere = [
        {
            "k": ks[j],
            "why": why_not(j),
            "values": values(j),
            "stability": rounded(stab[j]),
        }
        for j in range(n)
        if j != best and _dominates(j, best, silhouette, ch, db)
    ]
    reason = {
        "k": ks[best],
        "rule": rule,
        "knee": knee,
        "path": path,
        "start": path[0] if path else None,
        "start_values": values(ks.index(path[0])) if path else None,
        "window": window,
        "searched": searched,
        "range": [ks[0], ks[-1]] if ks else [],
        "threshold": threshold,
        "margin": margin,
        "no_clear": no_clear,
        "holds": [ks[j] for j in range(n) if holds[j] and stab[j] is not None],
        "ties": [ks[j] for j in range(n) if holds[j] and mean_rank[j] == mean_rank[best]],
        "mean_rank": round(float(mean_rank[best]), 4),
        "candidates": n,
        "ranks": {name: r[best] for name, r in ranks.items()},
        "values": values(best),
        "knee_values": values(ks.index(knee)) if knee is not None and knee in ks else None,
        "best_by": {
            "silhouette": ks[int(np.argmax(silhouette))],
            "calinski_harabasz": ks[int(np.argmax(ch))],
            "davies_bouldin": ks[int(np.argmin(db))],
        },
        "better_elsewhere": better_elsewhere,
    }
    return ks[best], reason


def sweep(
    X: np.ndarray,
    ks: list[int],
    *,
    random_state: int,
    algorithm: str = "kmeans",
    n_init: int = 10,
    sweep_sample: int = 20_000,
    silhouette_sample: int = 10_000,
    forced_k: int | None = None,
    stability_repeats: int = STABILITY_REPEATS,
) -> Selection:
    """Fit the clusterer for every k in ``ks`` and choose one (or record scores for ``forced_k``).

    ``algorithm`` names an entry of :mod:`custseg.model.algorithms`; its clusterers are built
    with ``n_init`` restarts and ``random_state``. The centroids of each fit are kept when the
    algorithm has them (the final fit starts from those of the chosen k). Each k's stability
    is measured on ``stability_repeats`` samples of 80 % of the swept customers
    (:func:`bootstrap_stability`) and votes in :func:`verdict`.
    """
    algo = get_algorithm(algorithm)
    rng = np.random.default_rng(random_state)
    n = X.shape[0]
    Xs = X[np.sort(rng.choice(n, sweep_sample, replace=False))] if n > sweep_sample else X
    sil_n = min(silhouette_sample, Xs.shape[0])
    sil_idx = (
        np.sort(rng.choice(Xs.shape[0], sil_n, replace=False)) if sil_n < Xs.shape[0] else None
    )
    sil_X = Xs if sil_idx is None else Xs[sil_idx]
    inertia, sil, ch, db = [], [], [], []
    centers: list[np.ndarray] = []
    stable: list[float | None] = []

    def fit(k: int) -> tuple[float | None, Any]:
        # one OpenMP thread per fit (the setting is per thread, so it is made in each worker):
        # on a few thousand customers threads mostly wait for each other; the k's run side
        # by side instead, each fit seeded on its own, so the result does not depend on order
        with threadpool_limits(1, user_api="openmp"):
            # 3 restarts per sample, a third of the cost of 10: on Online Retail the values
            # stay within 0.01 of those with 10 restarts for k <= 6 (0.950 at k = 5 both
            # ways) and are lower beyond (0.79 vs 0.85 at k = 7), on the side of caution
            st = bootstrap_stability(
                Xs,
                k,
                random_state=random_state,
                n_init=min(3, n_init),
                evaluate=sil_X,
                algorithm=algorithm,
                repeats=stability_repeats,
            )
            model = algo.build(k, n_init=n_init, random_state=random_state).fit(Xs)
        return st, model

    with ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="custseg-k") as pool:
        fitted = list(pool.map(fit, ks[::-1]))[::-1]  # the slowest (largest k) first
    labelings = [m.labels_ if sil_idx is None else m.labels_[sil_idx] for _, m in fitted]
    sil = silhouettes(sil_X, labelings, workers=_workers())
    for st, model in fitted:
        stable.append(st)
        labels = model.labels_
        if algo.centroids:
            centers.append(model.cluster_centers_)
        inertia.append(_inertia(model, Xs) * n / Xs.shape[0])
        if len(np.unique(labels)) < 2:
            ch.append(0.0)
            db.append(float("inf"))
            continue
        ch.append(float(calinski_harabasz_score(Xs, labels)))
        db.append(float(davies_bouldin_score(Xs, labels)))
    knee = find_knee(ks, inertia)
    chosen, reason = verdict(ks, sil, ch, db, knee, stability=stable)
    if forced_k is not None:
        chosen = forced_k
        reason = {**reason, "k": forced_k, "forced": True}
    return Selection(
        ks=list(ks),
        inertia=inertia,
        silhouette=sil,
        calinski_harabasz=ch,
        davies_bouldin=db,
        knee=knee,
        chosen=chosen,
        forced=forced_k is not None,
        reason=reason,
        sample={
            "customers": n,
            "sweep": int(Xs.shape[0]),
            "silhouette": int(sil_n),
            "stability_repeats": stability_repeats,
            "stability_percent": round(100 * STABILITY_FRACTION),
        },
        stability=stable,
        centers=centers,
    )
