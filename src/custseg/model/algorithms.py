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

Only K-Means is registered for now (Gaussian mixtures, Ward and HDBSCAN come next).

Examples
--------
>>> algo = get_algorithm("kmeans")
>>> algo.centroids, algo.predicts
(True, True)
>>> algo.build(3, n_init=2, random_state=0)
KMeans(n_clusters=3, n_init=2, random_state=0)
>>> sorted(ALGORITHMS)
['kmeans']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sklearn.cluster import KMeans

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
    """

    name: str
    build: Factory
    label: str
    centroids: bool = True
    predicts: bool = True
    warm_start: bool = True
    uses_k: bool = True


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
    >>> get_algorithm("dbscan")
    Traceback (most recent call last):
    ...
    custseg.errors.ModelError: unknown clustering algorithm 'dbscan'; use one of: kmeans
    """
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        raise ModelError(
            f"unknown clustering algorithm {name!r}; use one of: {', '.join(sorted(ALGORITHMS))}"
        ) from None


register(Algorithm(name="kmeans", build=_kmeans, label="K-Means"))
