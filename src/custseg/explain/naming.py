"""Business names for statistical segments, after the conventional RFM grid.

segments + each customer's RFM cell (scored by :class:`custseg.model.rfm.RFMScorer`) → one
business name (slug) per segment, unique within a run; slugs → display names and one-line
descriptions in the reader's language. Naming is explanation: it runs after the model is
fitted (:func:`segment_slugs`), never inside ``fit``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from custseg import i18n
from custseg.model.rfm import RFM_GRID

#: how recent each grid name says its customers are (mean of its recency-score box)
RECENCY_RANK: dict[str, float] = {b["slug"]: (b["r"][0] + b["r"][1]) / 2 for b in RFM_GRID}

#: what each name (and its tagline) says of its segment's medians against the whole base's:
#: ``"+"`` above the base median, ``"-"`` below it (for recency in days, ``"-"`` is *more
#: recent*), ``"repeat"`` a median of more than one order. :func:`name_clusters` gives a name
#: whose claims the segment contradicts only when no consistent name is left, and
#: :func:`describe` then leaves its tagline out.
CLAIMS: dict[str, dict[str, str]] = {
    "champions": {"recency_days": "-", "frequency": "+", "monetary": "+"},
    "loyal": {"frequency": "+"},
    "potential_loyalists": {"recency_days": "-", "frequency": "repeat"},
    "new": {"recency_days": "-", "frequency": "-"},
    "promising": {"recency_days": "-", "frequency": "-"},
    "need_attention": {},
    "about_to_sleep": {"frequency": "-"},
    "at_risk": {"recency_days": "+", "frequency": "repeat"},
    "cant_lose": {"recency_days": "+", "frequency": "+", "monetary": "+"},
    "hibernating": {"recency_days": "+", "frequency": "repeat", "monetary": "-"},
    "lost": {"recency_days": "+", "frequency": "-"},
}


def contradictions(slug: str, medians: dict[str, float], base: dict[str, float]) -> list[str]:
    """The claims of ``slug`` (see :data:`CLAIMS`) that a segment's ``medians`` contradict,
    compared with the ``base`` medians of all customers.

    Examples
    --------
    >>> base = {"recency_days": 50, "frequency": 2, "monetary": 650}
    >>> contradictions("lost", {"recency_days": 246, "frequency": 1, "monetary": 231}, base)
    []
    >>> contradictions("hibernating", {"recency_days": 246, "frequency": 1, "monetary": 231}, base)
    ['frequency']
    """
    wrong = []
    for feature, claim in CLAIMS.get(_base(slug), {}).items():
        if feature not in medians or feature not in base:
            continue
        v, b = float(medians[feature]), float(base[feature])
        ok = v > 1 if claim == "repeat" else (v > b if claim == "+" else v < b)
        if not ok:
            wrong.append(feature)
    return wrong


def name_clusters(
    labels: np.ndarray,
    r: np.ndarray,
    f: np.ndarray,
    rfm_segment: np.ndarray,
    grid: Sequence[dict[str, Any]] = RFM_GRID,
    tenure: np.ndarray | None = None,
    new_quantile: float = 0.2,
    recency: np.ndarray | None = None,
    features: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Give each cluster the grid name that best fits its members, unique within the run.

    The cost of giving name *n* to cluster *c* is one minus the share of *c*'s customers whose
    own RFM cell is *n*, plus a small pull towards the box whose centre is nearest the
    cluster's mean (r, f) scores. The assignment minimising the total cost is solved exactly
    (Hungarian algorithm). Names whose frequency box holds no customer's f score are not
    given. With more clusters than names, the remaining clusters repeat the best name with a
    number.

    The RF grid alone cannot tell a first-time buyer from a lapsed-then-returning one, so when
    ``tenure`` (days since the first purchase) is given, a recent buyer (r ≥ 4) whose first
    purchase is among the newest ``new_quantile`` of all customers' counts as "new" for naming.

    With the customers' ``features`` (recency_days, frequency, monetary), a name whose
    :data:`CLAIMS` the cluster's medians contradict costs one more per claim contradicted,
    more than any share can win back, and a cluster of one-time buyers whose last purchase is
    older than the base's median (long-lapsed) costs one more under any name but Lost: it is
    Lost, not Hibernating or About to Sleep, whenever Lost is free.

    With ``recency`` (days since each customer's last purchase) the names are then kept in the
    order of the clusters' median recencies: two clusters whose names rank them by recency
    (:data:`RECENCY_RANK`: lost below hibernating below at risk…) the other way round from
    their medians swap names, until no such pair is left (see :func:`recency_order`).
    """
    if tenure is not None:
        tenure = np.asarray(tenure, dtype=float)
        newest = (tenure <= np.quantile(tenure, new_quantile)) & (r >= 4)
        rfm_segment = np.where(newest, "new", rfm_segment)
    # only names whose frequency box holds some customer's f score (every customer of a
    # one-time group has f = 1: "champions" or "loyal" cannot describe them)
    present = np.unique(np.asarray(f)).tolist()
    grid = [b for b in grid if any(b["f"][0] <= v <= b["f"][1] for v in present)] or list(grid)
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
    if features is not None:
        used = [f for f in ("recency_days", "frequency", "monetary") if f in features]
        frame = features[used].reset_index(drop=True)
        base = {f: float(frame[f].median()) for f in used}
        meds = frame.groupby(np.asarray(labels)).median()
        for i, c in enumerate(clusters):
            m = {f: float(meds.loc[c, f]) for f in used}
            # long-lapsed one-time buyers: only Lost says so
            gone = m.get("frequency", 2.0) <= 1 and m.get("recency_days", 0.0) > base.get(
                "recency_days", np.inf
            )
            for j, slug in enumerate(slugs):
                cost[i, j] += len(contradictions(slug, m, base)) + (gone and slug != "lost")
    rows, cols = linear_sum_assignment(cost)
    names = {clusters[i]: slugs[j] for i, j in zip(rows, cols, strict=True)}
    counts: dict[str, int] = {}
    for i, c in enumerate(clusters):
        if c not in names:
            best = slugs[int(np.argmin(cost[i]))]
            counts[best] = counts.get(best, 1) + 1
            names[c] = f"{best}_{counts[best]}"
    if recency is not None:
        rec = np.asarray(recency, dtype=float)
        medians = {c: float(np.median(rec[where == i])) for i, c in enumerate(clusters)}
        names = recency_order(names, medians)
    return names


def _base(slug: str) -> str:
    head, _, tail = slug.rpartition("_")
    return head if tail.isdigit() and head else slug


def recency_order(names: dict[int, str], medians: dict[int, float]) -> dict[int, str]:
    """Swap names between clusters until no name says "less recent" of the more recent one.

    ``medians`` is each cluster's median recency (days). Names outside the grid keep their
    cluster. Each swap removes an inversion, so this ends after at most k² swaps; names that
    are already in order are left as they are.

    Examples
    --------
    >>> recency_order({1: "hibernating", 2: "lost"}, {1: 284.0, 2: 230.0})
    {1: 'lost', 2: 'hibernating'}
    """
    names = dict(names)
    ranked = [c for c in sorted(names) if _base(names[c]) in RECENCY_RANK]
    for _ in range(len(ranked) ** 2 + 1):
        pair = next(
            (
                (a, b)
                for a in ranked
                for b in ranked
                if RECENCY_RANK[_base(names[a])] < RECENCY_RANK[_base(names[b])]
                and medians[a] < medians[b]
            ),
            None,
        )
        if pair is None:
            break
        a, b = pair
        names[a], names[b] = names[b], names[a]
    return names


def segment_slugs(
    segments: np.ndarray,
    k: int,
    scores: pd.DataFrame | None = None,
    tenure: np.ndarray | None = None,
    recency: np.ndarray | None = None,
    exclude: Collection[str] = (),
    features: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Slug of every segment number 1..k of a run.

    With the customers' RFM ``scores`` (``r_score``, ``f_score``, ``rfm_segment``, as given by
    :meth:`custseg.model.rfm.RFMScorer.transform`), each segment gets the grid name that fits
    its members best (:func:`name_clusters`, ``tenure`` telling new customers apart, ``recency``
    keeping the names in the order of the segments' recencies, the grid names in ``exclude``
    never given); without
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
            grid=[b for b in RFM_GRID if b["slug"] not in exclude] if exclude else RFM_GRID,
            tenure=tenure,
            recency=recency,
            features=features,
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


def describe(
    slug: str,
    medians: dict[str, float],
    lang: str,
    currency: str = "",
    base: dict[str, float] | None = None,
) -> str:
    """One line portraying a segment from its medians.

    With the ``base`` medians of all customers, the name's tagline is left out when the
    medians contradict one of its claims (see :data:`CLAIMS`): the line then states the
    numbers only.
    """
    name = _base(slug)
    tagline = i18n.segment_text(lang, name)["tagline"] if name in CLAIMS else ""
    if base is not None and contradictions(name, medians, base):
        tagline = ""
    freq = medians["frequency"]
    return i18n.t(
        lang,
        "description_one_order" if float(freq) == 1 else "description",
        tagline=tagline,
        recency=i18n.number(medians["recency_days"], lang),
        frequency=i18n.number(freq, lang, 0 if float(freq).is_integer() else 1),
        monetary=i18n.money(medians["monetary"], lang, currency),
    ).strip()


def segment_name(slug: str, lang: str, number: int) -> str:
    """Display name of a slug, or "Segment n" for slugs without a catalogued name."""
    try:
        return display_name(slug, lang)
    except KeyError:
        return f"{i18n.t(lang, 'segment')} {number}"
