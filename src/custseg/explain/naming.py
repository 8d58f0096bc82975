"""Business names for statistical segments, after the conventional RFM grid.

segments + each customer's RFM cell (scored by :class:`custseg.model.rfm.RFMScorer`) → one
business name (slug) per segment, unique within a run; slugs → display names and one-line
descriptions in the reader's language. Naming is explanation: it runs after the model is
fitted (:func:`segment_slugs`), never inside ``fit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from custseg import i18n
from custseg.model.rfm import RFM_GRID


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


def segment_slugs(
    segments: np.ndarray,
    k: int,
    scores: pd.DataFrame | None = None,
    tenure: np.ndarray | None = None,
) -> dict[int, str]:
    """Slug of every segment number 1..k of a run.

    With the customers' RFM ``scores`` (``r_score``, ``f_score``, ``rfm_segment``, as given by
    :meth:`custseg.model.rfm.RFMScorer.transform`), each segment gets the grid name that fits
    its members best (:func:`name_clusters`, ``tenure`` telling new customers apart); without
    them, or for a segment with no customer, ``segment_<n>``.

    Examples
    --------
    >>> segment_slugs(np.array([1, 1, 2]), 3)
    {1: 'segment_1', 2: 'segment_2', 3: 'segment_3'}
    """
    if scores is not None:
        names = name_clusters(
            segments,
            scores["r_score"].to_numpy(),
            scores["f_score"].to_numpy(),
            scores["rfm_segment"].to_numpy(),
            tenure=tenure,
        )
    else:
        names = {int(c): f"segment_{c}" for c in np.unique(segments)}
    return {s: names.get(s, f"segment_{s}") for s in range(1, k + 1)}


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
