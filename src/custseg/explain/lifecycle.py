"""First-time and returning customers apart: the groups, their features, and sense checks.

A base where most customers bought once (a marketplace such as Olist: about 97 % of its
customers ordered once) is badly served by one RFM K-Means over everyone: frequency is 1 for
nearly all, so the clustering mostly separates the few repeat buyers from the rest. With
``--split lifecycle`` (:func:`custseg.pipeline.segment`) the one-invoice customers and the
repeat customers are segmented apart, each with its own k, names and verdict. This module says
which group a customer is in (:func:`lifecycle_groups`), which features a group is clustered
on (:func:`group_features`: a feature that is constant within a group, such as frequency for
one-time buyers, or that repeats another one, is left out and the reason kept), whether a group
is too small to segment (:func:`too_small`), and checks that segment names do not contradict
their numbers (:func:`contradictions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from custseg import i18n
from custseg.explain.naming import RECENCY_RANK, segment_name
from custseg.explain.verdict import verdict_sentence
from custseg.model.rfm import RFM_GRID
from custseg.model.segmenter import CustomerSegmenter

#: the groups of a lifecycle split, in the order of their segment numbers (repeat first: the
#: segments are numbered by value, and repeat customers are the more valuable)
GROUPS: tuple[str, ...] = ("repeat", "one_time")
#: the feature and the range of each group (inclusive; ``None``: no upper bound)
RULES: dict[str, tuple[int, int | None]] = {"repeat": (2, None), "one_time": (1, 1)}
SPLIT_FEATURE = "frequency"
#: features that a one-time buyer has in another form: for them tenure equals recency and
#: the mean basket equals the spend (returns aside); left out when the other is used
SAME_AS: dict[str, str] = {"tenure_days": "recency_days", "avg_basket": "monetary"}
#: what stands in for frequency when it is constant: how much of the catalogue was bought
INSTEAD_OF_FREQUENCY = "product_breadth"

#: RFM grid names saying the customers bought for the first time: never given to repeat ones
FIRST_PURCHASE = frozenset({"new"})
#: RFM grid names saying the customers buy often (their box needs f ≥ 2)
OFTEN = frozenset(b["slug"] for b in RFM_GRID if b["f"][0] >= 2)


def lifecycle_groups(frequency: pd.Series | np.ndarray) -> np.ndarray:
    """The group (``"one_time"`` or ``"repeat"``) of each customer, from their invoice count.

    Examples
    --------
    >>> lifecycle_groups(np.array([1, 2, 7])).tolist()
    ['one_time', 'repeat', 'repeat']
    """
    freq = np.asarray(frequency)
    return np.where(freq <= RULES["one_time"][1], "one_time", "repeat").astype(object)  # type: ignore[operator]


def group_features(
    customers: pd.DataFrame, requested: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """The features a group is clustered on, and each feature left out with the reason.

    A requested feature with one value in the group is left out (``"constant"``); so is one
    that repeats another used feature for these customers (tenure = recency for one-time
    buyers: ``"same as recency_days"``). When frequency is left out as constant, the number of
    distinct products bought (:data:`INSTEAD_OF_FREQUENCY`) takes its place if it varies.

    Examples
    --------
    >>> once = pd.DataFrame({"recency_days": [3, 90, 200], "frequency": [1, 1, 1],
    ...                      "monetary": [20.0, 50, 900], "product_breadth": [1, 2, 9]})
    >>> group_features(once, ["recency_days", "frequency", "monetary"])
    (['recency_days', 'monetary', 'product_breadth'], {'frequency': 'constant'})
    """
    used: list[str] = []
    dropped: dict[str, str] = {}
    for f in requested:
        if customers[f].nunique(dropna=False) <= 1:
            dropped[f] = "constant"
        elif f in SAME_AS and SAME_AS[f] in requested and _same(customers, f, SAME_AS[f]):
            dropped[f] = f"same as {SAME_AS[f]}"
        else:
            used.append(f)
    extra = INSTEAD_OF_FREQUENCY
    if (
        dropped.get(SPLIT_FEATURE) == "constant"
        and extra not in used
        and extra in customers
        and customers[extra].nunique() > 1
    ):
        used.append(extra)
    return used, dropped


def _same(customers: pd.DataFrame, a: str, b: str) -> bool:
    """Whether two features are equal for all but 1 % of the customers."""
    x, y = customers[a].to_numpy(dtype=float), customers[b].to_numpy(dtype=float)
    return bool(np.mean(~np.isclose(x, y, rtol=1e-6, atol=1e-9)) <= 0.01)


def too_small(n: int, k_min: int) -> bool:
    """Whether a group of ``n`` customers is too small to segment: fewer than ``2 × k_min``.

    Examples
    --------
    >>> too_small(3, 2), too_small(4, 2)
    (True, False)
    """
    return n < 2 * k_min


def group_label(group: str, lang: str) -> str:
    """Display name of a lifecycle group (``one_time`` → "One-time buyers")."""
    return i18n.t(lang, f"lifecycle_{group}")


def feature_label(feature: str, lang: str) -> str:
    """Display name of a transaction feature in ``lang`` (its own name when not catalogued)."""
    cat = i18n.catalog(lang)
    label: str = cat["features"].get(
        feature, cat["text"].get(f"lifecycle_feature_{feature}", feature)
    )
    return label


def group_verdict(
    model: CustomerSegmenter,
    features: Sequence[str],
    left_out: Mapping[str, str],
    too_small_group: bool,
    customers: int,
    k_min: int,
    lang: str,
) -> str:
    """What a group was clustered on, what was left out and why, and why it has its k.

    A group too small to segment is only said to be so (it is one segment, not clustered).
    """
    if too_small_group:
        return i18n.t(lang, "lifecycle_too_small", n=customers, m=2 * k_min)
    text = i18n.t(lang, "lifecycle_used", used=", ".join(feature_label(f, lang) for f in features))
    if left_out:
        why = [
            i18n.t(lang, "lifecycle_constant", feature=feature_label(f, lang))
            if r == "constant"
            else i18n.t(
                lang,
                "lifecycle_same",
                feature=feature_label(f, lang),
                other=feature_label(r.removeprefix("same as "), lang),
            )
            for f, r in left_out.items()
        ]
        text += " " + i18n.t(lang, "lifecycle_left_out", features="; ".join(why))
    return text + " " + verdict_sentence(model, lang)


def group_names(groups: Sequence[tuple[str, int, Mapping[int, str]]], lang: str) -> dict[int, str]:
    """Display name of every run-wide segment number of a split run.

    ``groups`` gives each group's name, first segment number and grid names (numbered 1..k
    within the group). A name given in two groups is followed by the group's label.

    Examples
    --------
    >>> group_names([("repeat", 1, {1: "champions", 2: "lost"}), ("one_time", 3, {1: "lost"})], "en")
    {1: 'Champions', 2: 'Lost (repeat customers)', 3: 'Lost (one-time buyers)'}
    """
    names = {
        first + s - 1: segment_name(slug, lang, first + s - 1)
        for _, first, slugs in groups
        for s, slug in slugs.items()
    }
    values = list(names.values())
    for group, first, slugs in groups:
        for s in slugs:
            if values.count(names[first + s - 1]) > 1:
                names[first + s - 1] += f" ({group_label(group, lang).lower()})"
    return names


def contradictions(profiles: pd.DataFrame, slugs: Mapping[int, str] | None = None) -> list[str]:
    """What, in a transactions run's profiles, says one thing in a name and another in numbers.

    Checked on the segments of one group (or of a whole run), from ``segment_name`` and the
    median columns of :func:`custseg.explain.profiles.profile`; ``slugs`` maps segment numbers
    to grid names (``champions``, ``lost_2``…). Returns one English line per fault, none when the
    segments make sense:

    - two segments share a display name;
    - a name saying "buy often" (champions, loyal, at risk…) on a segment whose median customer
      bought once, or "new" (first purchase) on one whose median customer bought more;
    - two names ranked by recency (champions and new above need attention, above at risk,
      above lost…) on segments whose median recencies are ranked the other way;
    - "champions" on a segment that does not have the highest median spend.

    Examples
    --------
    >>> p = pd.DataFrame({"segment": [1, 2], "segment_name": ["Lost", "New"],
    ...                   "median_recency_days": [10.0, 300.0], "median_frequency": [1.0, 1.0],
    ...                   "median_monetary": [50.0, 40.0]})
    >>> contradictions(p, {1: "lost", 2: "new"})
    ['Lost (median recency 10 days) is named as less recent than New (300 days)']
    """
    found: list[str] = []
    names = profiles["segment_name"].astype(str).tolist()
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    found += [f"the name {n!r} is given to more than one segment" for n in sorted(set(seen))]
    rows: list[dict[str, Any]] = []
    for _, p in profiles.iterrows():
        seg = int(p["segment"])
        slug = (slugs or {}).get(seg, "")
        base = slug.rpartition("_")[0] if slug.rpartition("_")[2].isdigit() else slug
        rows.append({"name": str(p["segment_name"]), "base": base, **p.to_dict()})
    for r in rows:
        freq = float(r["median_frequency"])
        if r["base"] in OFTEN and freq <= 1:
            found.append(
                f"{r['name']} is named as buying often but its median customer bought once"
            )
        if r["base"] == "new" and freq > 1:
            found.append(f"{r['name']} is named as first-time buyers but its median is {freq:g}")
    for a in rows:
        for b in rows:
            ra, rb = RECENCY_RANK.get(a["base"]), RECENCY_RANK.get(b["base"])
            if ra is None or rb is None or ra >= rb:
                continue
            if float(a["median_recency_days"]) < float(b["median_recency_days"]):
                found.append(
                    f"{a['name']} (median recency {float(a['median_recency_days']):g} days) is "
                    f"named as less recent than {b['name']} "
                    f"({float(b['median_recency_days']):g} days)"
                )
    top = max((float(r["median_monetary"]) for r in rows), default=0.0)
    for r in rows:
        if r["base"] == "champions" and float(r["median_monetary"]) < top:
            found.append(f"{r['name']} is named champions but another segment spends more")
    return found
