"""RFM scores, the conventional RFM grid and business names for statistical segments.

customers (recency, frequency, monetary) → quintile scores 1–5 and a named RFM cell; clusters →
one business name each, unique within a run. The grid is data (:data:`RFM_GRID`): a list of
named boxes over the recency and frequency scores, first match wins, as in the usual RFM
segment map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from custseg import i18n

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
    """Quintile edges (20/40/60/80 %) of a feature on the training customers."""
    arr = np.asarray(values, dtype=float)
    return [float(v) for v in np.quantile(arr, SCORE_QUANTILES)]


def apply_score(
    values: pd.Series | np.ndarray, edges: Sequence[float], *, reverse: bool
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


def name_clusters(
    labels: np.ndarray,
    r: np.ndarray,
    f: np.ndarray,
    rfm_segment: np.ndarray,
    grid: Sequence[dict[str, Any]] = RFM_GRID,
    tenure: np.ndarray | None = None,
    new_quantile: float = 0.2,
) -> dict[int, str]:
    """Give each cluster the grid name that best fits its members, unique within the run.

    The cost of giving name *n* to cluster *c* is one minus the share of *c*'s customers whose
    own RFM cell is *n*, plus a small pull towards the box whose centre is nearest the
    cluster's mean (r, f) scores. The assignment minimising the total cost is solved exactly
    (Hungarian algorithm). With more clusters than names, the remaining clusters repeat the
    best name with a number.

    The RF grid alone cannot tell a first-time buyer from a lapsed-then-returning one, so when
    ``tenure`` (days since the first purchase) is given, a recent buyer (r ≥ 4) whose first
    purchase is among the newest ``new_quantile`` of all customers' counts as "new" for naming.
    """
    if tenure is not None:
        tenure = np.asarray(tenure, dtype=float)
        newest = (tenure <= np.quantile(tenure, new_quantile)) & (r >= 4)
        rfm_segment = np.where(newest, "new", rfm_segment)
    clusters = sorted(int(c) for c in np.unique(labels))
    slugs = [b["slug"] for b in grid]
    centres = np.array([[np.mean(b["r"]), np.mean(b["f"])] for b in grid])
    # members of each (cluster, own RFM cell), counted at once from integer codes
    codes, cells = pd.factorize(np.asarray(rfm_segment, dtype=object))
    where = np.searchsorted(clusters, labels)
    table = np.bincount(where * len(cells) + codes, minlength=len(clusters) * len(cells))
    table = table.reshape(len(clusters), len(cells)).astype(float)
    sizes = np.bincount(where, minlength=len(clusters)).astype(float)
    r_means = np.bincount(where, weights=np.asarray(r, dtype=float)) / sizes
    f_means = np.bincount(where, weights=np.asarray(f, dtype=float)) / sizes
    column = {str(cell): j for j, cell in enumerate(cells)}
    cost = np.zeros((len(clusters), len(slugs)))
    for i in range(len(clusters)):
        shares = table[i] / sizes[i]
        dist = np.linalg.norm(centres - np.array([r_means[i], f_means[i]]), axis=1) / 4.0
        cost[i] = [
            1.0 - (float(shares[column[s]]) if s in column else 0.0) + 0.25 * d
            for s, d in zip(slugs, dist, strict=True)
        ]
    rows, cols = linear_sum_assignment(cost)
    names = {clusters[i]: slugs[j] for i, j in zip(rows, cols, strict=True)}
    counts: dict[str, int] = {}
    for i, c in enumerate(clusters):
        if c not in names:
            best = slugs[int(np.argmin(cost[i]))]
            counts[best] = counts.get(best, 1) + 1
            names[c] = f"{best}_{counts[best]}"
    return names


def display_name(slug: str, lang: str) -> str:
    """Display name of a segment slug (``at_risk_2`` → ``At Risk 2``)."""
    names = i18n.catalog(lang)["segments"]
    if slug in names:
        return i18n.segment_text(lang, slug)["name"]
    base, _, num = slug.rpartition("_")
    if num.isdigit() and base in names:
        return f"{i18n.segment_text(lang, base)['name']} {num}"
    if num.isdigit():  # a segment that received no customer, hence no name (segment_3)
        return f"{i18n.t(lang, 'segment')} {num}"
    return slug


def describe(slug: str, medians: dict[str, float], lang: str, currency: str = "") -> str:
    """One line portraying a segment from its medians."""
    base = slug.rpartition("_")[0] if slug.rpartition("_")[2].isdigit() else slug
    tagline = i18n.segment_text(lang, base)["tagline"]
    freq = medians["frequency"]
    return i18n.t(
        lang,
        "description",
        tagline=tagline,
        recency=i18n.number(medians["recency_days"], lang),
        frequency=i18n.number(freq, lang, 0 if float(freq).is_integer() else 1),
        monetary=i18n.number(medians["monetary"], lang) + currency,
    )


def segment_name(slug: str, lang: str, number: int) -> str:
    """Display name of a slug, or "Segment n" for slugs without a catalogued name."""
    try:
        return display_name(slug, lang)
    except KeyError:
        return f"{i18n.t(lang, 'segment')} {number}"
