"""RFM scoring: quintile scores of recency, frequency and monetary, and the RFM grid cell.

customers (recency, frequency, monetary) → scores 1–5 against quintile edges learned on the
training customers → one named cell of the conventional RFM grid. The edges are fitted state:
:class:`RFMScorer` learns them once and scores new customers the same way (they are saved in
``model.json``). The grid is data (:data:`RFM_GRID`): a list of named boxes over the recency
and frequency scores, first match wins, as in the usual RFM segment map. Naming segments
after the grid is explanation, in :mod:`custseg.explain.naming`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import NotFittedError, SchemaError

#: the features RFM scoring reads, in the order of its scores
RFM_FEATURES = ("recency_days", "frequency", "monetary")

#: named boxes over (r_score, f_score), inclusive ranges; the first matching box names a customer
RFM_GRID: tuple[dict[str, Any], ...] = (
    {"slug": "champions", "r": (5, 5), "f": (4, 5)},
    {"slug": "loyal", "r": (3, 4), "f": (4, 5)},
    {"slug": "potential_loyalists", "r": (4, 5), "f": (2, 3)},
    {"slug": "new", "r": (5, 5), "f": (1, 1)},
    {"slug": "promising", "r": (4, 4), "f": (1, 1)},
    {"slug": "need_attention", "r": (3, 3), "f": (3, 3)},
    {"slug": "about_to_sleep", "r": (3, 3), "f": (1, 2)},
    {"slug": "cant_lose", "r": (1, 2), "f": (5, 5)},
    {"slug": "at_risk", "r": (1, 2), "f": (3, 4)},
    {"slug": "lost", "r": (1, 1), "f": (1, 1)},
    {"slug": "hibernating", "r": (1, 2), "f": (1, 2)},
)

SCORE_QUANTILES = (0.2, 0.4, 0.6, 0.8)


def score_edges(values: pd.Series | np.ndarray) -> list[float]:
    """Quintile edges (20/40/60/80 %) of a feature on the training customers.

    Examples
    --------
    >>> score_edges(np.arange(0, 101))
    [20.0, 40.0, 60.0, 80.0]
    """
    arr = np.asarray(values, dtype=float)
    return [float(v) for v in np.quantile(arr, SCORE_QUANTILES)]


def apply_score(
    values: pd.Series | np.ndarray | Sequence[float], edges: Sequence[float], *, reverse: bool
) -> np.ndarray:
    """Score 1–5 from quintile edges; a value equal to an edge falls in the lower bin.

    ``reverse`` scores small values high (recency: recent buyers get 5).

    Examples
    --------
    >>> apply_score([1, 2, 3, 10], [1, 2, 3, 4], reverse=False).tolist()
    [1, 2, 3, 5]
    >>> apply_score([1, 2, 3, 10], [1, 2, 3, 4], reverse=True).tolist()
    [5, 4, 3, 1]
    """
    bins = np.searchsorted(
        np.asarray(edges, dtype=float), np.asarray(values, dtype=float), side="left"
    )
    score = bins + 1
    return (6 - score if reverse else score).astype("int64")


def grid_segment(
    r: np.ndarray, f: np.ndarray, grid: Sequence[dict[str, Any]] = RFM_GRID
) -> np.ndarray:
    """Name of the first grid box containing each (r, f) pair.

    Examples
    --------
    >>> grid_segment(np.array([5, 1, 3]), np.array([5, 1, 3])).tolist()
    ['champions', 'lost', 'need_attention']
    """
    out = np.full(len(r), "", dtype=object)
    for box in reversed(grid):
        inside = (r >= box["r"][0]) & (r <= box["r"][1]) & (f >= box["f"][0]) & (f <= box["f"][1])
        out[inside] = box["slug"]
    unnamed = out == ""
    if unnamed.any():  # every (r, f) in 1..5 is covered by the default grid
        out[unnamed] = "need_attention"
    return out


def has_rfm(columns: Sequence[Any] | pd.Index) -> bool:
    """Whether a customer table has the three RFM features.

    Examples
    --------
    >>> has_rfm(["customer_id", "recency_days", "frequency", "monetary"]), has_rfm(["Income"])
    (True, False)
    """
    return all(f in set(columns) for f in RFM_FEATURES)


class RFMScorer:
    """Quintile scores of recency, frequency and monetary, with edges fitted on customers.

    Parameters
    ----------
    grid : the named boxes over (r_score, f_score) giving each customer an RFM cell.

    Attributes
    ----------
    edges_ : dict of list of float
        The four quintile edges of each of :data:`RFM_FEATURES` on the training customers.

    Examples
    --------
    >>> X = pd.DataFrame({"recency_days": [1, 10, 100, 200, 300],
    ...                   "frequency": [9, 5, 3, 2, 1], "monetary": [900.0, 500, 90, 40, 10]})
    >>> scorer = RFMScorer().fit(X)
    >>> scorer.transform(X.head(2))
       r_score  f_score  m_score rfm_segment
    0        5        5        5   champions
    1        4        4        4       loyal
    """

    def __init__(self, grid: Sequence[dict[str, Any]] = RFM_GRID) -> None:
        self.grid = grid

    def fit(self, X: pd.DataFrame, y: None = None) -> RFMScorer:
        """Learn the quintile edges of recency, frequency and monetary on ``X``."""
        self._check_columns(X)
        self.edges_ = {f: score_edges(X[f]) for f in RFM_FEATURES}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """r/f/m scores (1–5, against the training edges) and the RFM grid cell of each row."""
        if not hasattr(self, "edges_"):
            raise NotFittedError("this RFMScorer is not fitted yet; call fit first")
        self._check_columns(X)
        r = apply_score(X["recency_days"], self.edges_["recency_days"], reverse=True)
        f = apply_score(X["frequency"], self.edges_["frequency"], reverse=False)
        m = apply_score(X["monetary"], self.edges_["monetary"], reverse=False)
        return pd.DataFrame(
            {
                "r_score": r,
                "f_score": f,
                "m_score": m,
                "rfm_segment": grid_segment(r, f, self.grid),
            },
            index=X.index,
        )

    @staticmethod
    def _check_columns(X: pd.DataFrame) -> None:
        missing = [f for f in RFM_FEATURES if f not in X.columns]
        if missing:
            raise SchemaError(
                f"customer table has no column {', '.join(map(repr, missing))}; RFM scores "
                f"need {', '.join(RFM_FEATURES)}"
            )
