"""The clustering algorithms a segmentation can use, by name.

An algorithm is data: its name, a factory building the scikit-learn clusterer for k segments,
and what the fitted clusterer offers. :class:`~custseg.model.segmenter.CustomerSegmenter`
(``algorithm="kmeans"``) and the k sweep (:func:`custseg.model.selection.sweep`) both build
their clusterers through :func:`get_algorithm`, so adding an algorithm is one
:func:`register` call, not an edit of either.

What the flags mean for the callers:

- ``centroids``: the fitted clusterer has ``cluster_centers_``, and a customer's segment is its
  nearest centroid in the scaled space. The saved model then scores new customers as data
  (centroids in ``model.json``), and the final fit can start from the sweep's centroids.
- ``predicts``: the fitted clusterer has ``predict`` (the stability measure labels one half of
  the customers with the model fitted on the other).
- ``warm_start``: the factory accepts ``init`` (the sweep's centroids for the chosen k).
- ``uses_k``: the number of segments is a parameter (HDBSCAN-like algorithms find it).
- ``rule``: how a fitted model gives a customer its segment, at fit and at scoring time:
  ``nearest-centroid`` (K-Means, Ward), ``gaussian-posterior`` (the mixture component of
  highest posterior probability, from the saved weights, means and covariances) or
  ``core-within-radius`` (density methods: the segment of the nearest core point when the
  customer is within that point's radius, else the "atypical customers" group).

Registered: ``kmeans`` (the default), ``gmm`` (Gaussian mixture, full covariances),
``ward`` (agglomerative, Ward linkage, fitted on a seeded sample of at most
:data:`WARD_SAMPLE` customers and extended to every customer by nearest centroid),
``dbscan`` and ``hdbscan`` (density methods on a seeded sample of at most
:data:`DENSITY_SAMPLE` customers, their parameters chosen from the data by
:func:`density_parameters`; the points they leave as noise form the atypical group).

Examples
--------
>>> algo = get_algorithm("kmeans")
>>> algo.centroids, algo.predicts
(True, True)
>>> algo.build(3, n_init=2, random_state=0)
KMeans(n_clusters=3, n_init=2, random_state=0)
>>> sorted(ALGORITHMS)
['dbscan', 'gmm', 'hdbscan', 'kmeans', 'ward']
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from custseg.errors import ModelError


class Factory(Protocol):
    """Builds an unfitted scikit-learn clusterer for ``k`` segments."""

    def __call__(
        self,
        k: int,
        *,
        n_init: int,
        random_state: int | None,
        init: np.ndarray | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class Algorithm:
    """One clustering algorithm: how to build it and what its fitted model offers.

    Parameters
    ----------
    name : the registry key, as given to ``CustomerSegmenter(algorithm=...)`` and saved in
        ``model.json``.
    build : factory ``build(k, *, n_init, random_state, init=None)`` returning an unfitted
        scikit-learn clusterer; ``random_state`` is passed to every random step.
    label : the name shown to readers (``"K-Means"``).
    centroids : the fitted clusterer has ``cluster_centers_`` (nearest-centroid scoring).
    predicts : the fitted clusterer has ``predict``.
    warm_start : ``build`` accepts ``init``, centroids to start from.
    uses_k : the number of segments is a parameter of the algorithm.
    rule : how customers are given a segment (``nearest-centroid``, ``gaussian-posterior``
        or ``core-within-radius``); the same rule labels the training customers and scores
        new ones.
    """

    name: str
    build: Factory
    label: str
    centroids: bool = True
    predicts: bool = True
    warm_start: bool = True
    uses_k: bool = True
    rule: str = "nearest-centroid"


def _kmeans(
    k: int, *, n_init: int, random_state: int | None, init: np.ndarray | None = None
) -> KMeans:
    """K-Means (Lloyd), k-means++ seeding with ``n_init`` restarts, or one run from ``init``."""
    if init is not None:
        # one Lloyd run from given centroids: the seed draws nothing, it is passed for form
        return KMeans(n_clusters=k, init=init, n_init=1, random_state=random_state)
    return KMeans(n_clusters=k, n_init=n_init, random_state=random_state)


#: every algorithm by name; :func:`register` adds one
ALGORITHMS: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` to the registry (replacing one of the same name) and return it."""
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get_algorithm(name: str) -> Algorithm:
    """The registered algorithm called ``name``; a :class:`ModelError` naming the known ones.

    Examples
    --------
    >>> get_algorithm("kmeans").label
    'K-Means'
    >>> try:
    ...     get_algorithm("optics")
    ... except ModelError as exc:
    ...     print(str(exc).split(";")[1])
     use one of: dbscan, gmm, hdbscan, kmeans, ward
    """
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        raise ModelError(
            f"unknown clustering algorithm {name!r}; use one of: {', '.join(sorted(ALGORITHMS))}"
        ) from None


register(Algorithm(name="kmeans", build=_kmeans, label="K-Means"))


# ---- Gaussian mixture ------------------------------------------------------------------------
def mixture_log_resp(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray:
    """Log of weight × Gaussian density of every row under every component (``n × k``).

    The ``gaussian-posterior`` rule gives a customer the component of highest value (its
    highest posterior probability); computed from the saved parameters alone, so a model read
    back from ``model.json`` scores exactly as the fitted one.

    Examples
    --------
    >>> X = np.array([[0.0], [4.0]])
    >>> mixture_log_resp(X, np.array([0.5, 0.5]), np.array([[0.0], [4.0]]),
    ...                  np.array([[[1.0]], [[1.0]]])).argmax(axis=1).tolist()
    [0, 1]
    """
    n, d = X.shape
    out = np.empty((n, len(weights)))
    for c in range(len(weights)):
        chol = np.linalg.cholesky(covariances[c])
        z = np.linalg.solve(chol, (X - means[c]).T)
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        out[:, c] = np.log(weights[c]) - 0.5 * (
            d * np.log(2 * np.pi) + log_det + (z * z).sum(axis=0)
        )
    return out


#: EM restarts of a Gaussian mixture are capped at this many (each costs a full EM run)
MIXTURE_RESTARTS = 3


class Mixture(ClusterMixin, BaseEstimator):
    """A Gaussian mixture (full covariances) seen as a clusterer: ``labels_``,
    ``cluster_centers_`` (the means) and ``predict`` by highest posterior probability.

    Parameters
    ----------
    n_clusters : int, number of components.
    n_init : int, EM restarts (k-means++ seeding), at most :data:`MIXTURE_RESTARTS`.
    random_state : int or None.
    init : ndarray or None, initial means (one EM run from them).
    """

    def __init__(
        self,
        n_clusters: int = 2,
        *,
        n_init: int = 1,
        random_state: int | None = None,
        init: np.ndarray | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state
        self.init = init

    def fit(self, X: np.ndarray, y: None = None) -> Mixture:
        """Fit by EM; labels are the components of highest posterior probability."""
        gm = GaussianMixture(
            n_components=self.n_clusters,
            covariance_type="full",
            n_init=1 if self.init is not None else min(self.n_init, MIXTURE_RESTARTS),
            init_params="k-means++",
            means_init=self.init,
            reg_covar=1e-6,
            random_state=self.random_state,
        ).fit(X)
        self.weights_ = gm.weights_
        self.cluster_centers_ = gm.means_
        self.covariances_ = gm.covariances_
        self.labels_ = self.predict(X)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Component of highest posterior probability of each row."""
        return mixture_log_resp(X, self.weights_, self.cluster_centers_, self.covariances_).argmax(
            axis=1
        )


def _gmm(k: int, *, n_init: int, random_state: int | None, init: np.ndarray | None = None) -> Any:
    """Gaussian mixture with full covariances; ``n_init`` EM restarts, or one from ``init``."""
    return Mixture(k, n_init=n_init, random_state=random_state, init=init)


register(Algorithm(name="gmm", build=_gmm, label="Gaussian mixture", rule="gaussian-posterior"))


# ---- agglomerative (Ward) ----------------------------------------------------------------------
#: Ward's tree is fitted on a seeded sample of at most this many customers (its memory grows
#: with the square of the customers: 5 000 take 100 MB)
WARD_SAMPLE = 5_000


def nearest_centroid(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index (0-based) of the nearest centroid of each row (squared Euclidean distance)."""
    d = (
        np.einsum("ij,ij->i", X, X)[:, None]
        - 2.0 * X @ centers.T
        + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    return np.argmin(d, axis=1)


_TREES: OrderedDict[tuple[tuple[int, ...], str], np.ndarray] = OrderedDict()
_TREES_LOCK = threading.Lock()


def ward_tree(sample: np.ndarray) -> np.ndarray:
    """Ward's merge tree (SciPy linkage matrix) of ``sample``, kept for the last few samples.

    Cutting the tree at k clusters is cheap and its building is not, so the k sweep, which
    cuts the tree of the same sample at every k, builds it once.
    """
    key = (sample.shape, hashlib.sha256(np.ascontiguousarray(sample).tobytes()).hexdigest())
    with _TREES_LOCK:
        if key in _TREES:
            _TREES.move_to_end(key)
            return _TREES[key]
        tree = linkage(sample, method="ward")
        _TREES[key] = tree
        while len(_TREES) > 4:
            _TREES.popitem(last=False)
        return tree


class SampledWard(ClusterMixin, BaseEstimator):
    """Agglomerative clustering with Ward linkage, fitted on a seeded sample of at most
    ``max_sample`` rows; every row is then given its nearest centroid (the means of Ward's
    clusters), so that ``labels_ == predict(X)``.

    Parameters
    ----------
    n_clusters : int.
    max_sample : int, rows Ward's tree is built on (seeded sample beyond).
    random_state : int or None, seed of the sample.
    """

    def __init__(
        self, n_clusters: int = 2, *, max_sample: int = WARD_SAMPLE, random_state: int | None = None
    ) -> None:
        self.n_clusters = n_clusters
        self.max_sample = max_sample
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: None = None) -> SampledWard:
        """Build the tree on the sample, cut it at ``n_clusters``, label by nearest centroid."""
        n = X.shape[0]
        sample = X
        if n > self.max_sample:
            rng = np.random.default_rng([self.random_state or 0, 7])
            sample = X[np.sort(rng.choice(n, self.max_sample, replace=False))]
        cut = fcluster(ward_tree(sample), self.n_clusters, criterion="maxclust") - 1
        found = np.unique(cut)
        self.cluster_centers_ = np.vstack([sample[cut == c].mean(axis=0) for c in found])
        self.sample_size_ = int(sample.shape[0])
        self.labels_ = self.predict(X)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Nearest centroid of each row."""
        return nearest_centroid(X, self.cluster_centers_)


def _ward(k: int, *, n_init: int, random_state: int | None, init: np.ndarray | None = None) -> Any:
    """Ward's agglomerative clustering (deterministic: ``n_init`` and ``init`` are unused)."""
    return SampledWard(k, random_state=random_state)


register(Algorithm(name="ward", build=_ward, label="Agglomerative (Ward)", warm_start=False))


# ---- density methods ---------------------------------------------------------------------------
#: density methods are fitted on a seeded sample of at most this many customers; every
#: customer (the sample included) is then assigned by the ``core-within-radius`` rule
DENSITY_SAMPLE = 10_000


def _no_k(k: int, *, n_init: int, random_state: int | None, init: np.ndarray | None = None) -> Any:
    raise ModelError("density methods find the number of segments; they take no k")


def density_parameters(X: np.ndarray, name: str) -> dict[str, Any]:
    """The parameters of DBSCAN or HDBSCAN, chosen from the data ``X`` (the fit sample).

    - ``min_samples`` = max(2 × dimensions, round(ln n)) (the rule of thumb of Sander et al.
      1998, raised with the number of customers);
    - DBSCAN's ``eps``: the knee of the sorted distances of every customer to its
      ``min_samples``-th nearest neighbour (the k-distance curve; kneed), its median when
      the curve has no knee;
    - HDBSCAN's ``min_cluster_size`` = max(``min_samples``, 1 % of the customers): a segment
      holds at least 1 % of them.

    Returns the parameters with the core distances (``core_distance``, per row) they were
    read from.
    """
    from kneed import KneeLocator
    from sklearn.neighbors import NearestNeighbors

    n, d = X.shape
    min_samples = int(min(max(2 * d, round(np.log(n))), max(n - 1, 1)))
    nn = NearestNeighbors(n_neighbors=min_samples).fit(X)
    dist, _ = nn.kneighbors(X)  # the first neighbour is the point itself (distance 0)
    core = dist[:, -1]
    params: dict[str, Any] = {"min_samples": min_samples, "core_distance": core}
    if name == "dbscan":
        curve = np.sort(core)
        knee = None
        if n >= 3 and curve[-1] > curve[0]:
            found = KneeLocator(np.arange(n), curve, curve="convex", direction="increasing").knee
            knee = None if found is None else float(curve[int(found)])
        eps = knee if knee is not None and knee > 0 else float(np.median(curve))
        params |= {"eps": max(eps, 1e-9), "eps_from": "knee" if knee else "median"}
    else:
        params |= {"min_cluster_size": int(max(min_samples, round(0.01 * n), 2))}
    return params


@dataclass
class DensityFit:
    """What a density method leaves to score customers by: its core points, their segment
    and radius, and the parameters it was fitted with."""

    points: np.ndarray
    labels: np.ndarray
    radius: np.ndarray
    parameters: dict[str, Any]


def fit_density(X: np.ndarray, name: str, random_state: int) -> DensityFit:
    """Fit DBSCAN or HDBSCAN (scikit-learn) on a seeded sample of ``X``; its core points.

    The sample holds at most :data:`DENSITY_SAMPLE` customers. DBSCAN's core points keep
    radius ``eps``; for HDBSCAN every clustered point of the sample is a core point whose
    radius is its core distance (distance to its ``min_samples``-th neighbour). Cluster
    labels are 0..c-1 as found; noise is not kept (it is what lies beyond every radius).
    """
    from sklearn.cluster import DBSCAN, HDBSCAN

    n = X.shape[0]
    idx = np.arange(n)
    if n > DENSITY_SAMPLE:
        rng = np.random.default_rng([random_state, 11])
        idx = np.sort(rng.choice(n, DENSITY_SAMPLE, replace=False))
    Xs = X[idx]
    params = density_parameters(Xs, name)
    core_distance = params.pop("core_distance")
    if name == "dbscan":
        fitted = DBSCAN(eps=params["eps"], min_samples=params["min_samples"]).fit(Xs)
        keep = np.zeros(len(Xs), dtype=bool)
        keep[fitted.core_sample_indices_] = True
        radius = np.full(int(keep.sum()), params["eps"])
    else:
        fitted = HDBSCAN(
            min_cluster_size=params["min_cluster_size"],
            min_samples=params["min_samples"],
            copy=True,
        ).fit(Xs)
        keep = fitted.labels_ >= 0
        radius = core_distance[keep]
    params |= {"sample": len(Xs), "noise_in_sample": int((fitted.labels_ < 0).sum())}
    labels = fitted.labels_[keep]
    if not len(labels):
        raise ModelError(
            f"{name} found no segment in {len(Xs)} customers (all noise with "
            f"{', '.join(f'{k}={v:.4g}' for k, v in params.items() if k != 'sample')}); "
            "use --algorithm kmeans or gmm"
        )
    _, labels = np.unique(labels, return_inverse=True)
    return DensityFit(Xs[keep], labels.astype("int64"), radius.astype(float), params)


def core_assign(
    X: np.ndarray, points: np.ndarray, labels: np.ndarray, radius: np.ndarray, noise: int
) -> np.ndarray:
    """The ``core-within-radius`` rule: the label of the nearest core point when a row lies
    within that point's radius, else ``noise``.

    Examples
    --------
    >>> pts = np.array([[0.0], [10.0]])
    >>> core_assign(np.array([[0.5], [9.0], [5.0]]), pts, np.array([0, 1]),
    ...             np.array([1.0, 1.0]), noise=2).tolist()
    [0, 1, 2]
    """
    from sklearn.neighbors import NearestNeighbors

    dist, nearest = NearestNeighbors(n_neighbors=1).fit(points).kneighbors(X)
    dist, nearest = dist[:, 0], nearest[:, 0]
    return np.where(dist <= radius[nearest] * (1 + 1e-9), labels[nearest], noise).astype("int64")


register(
    Algorithm(
        name="dbscan",
        build=_no_k,
        label="DBSCAN",
        centroids=False,
        predicts=False,
        warm_start=False,
        uses_k=False,
        rule="core-within-radius",
    )
)
register(
    Algorithm(
        name="hdbscan",
        build=_no_k,
        label="HDBSCAN",
        centroids=False,
        predicts=False,
        warm_start=False,
        uses_k=False,
        rule="core-within-radius",
    )
)
