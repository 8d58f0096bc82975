"""Migration: how customers moved between the segments of two segmentations.

Two labellings of customers (two runs, or one frozen model at two dates) → a
:class:`Migration`: the transition matrix (counts and row %), the customers who appeared and
disappeared, and how the segments of one side were matched to the other's. Segments are
matched by number and name when both sides have the same segments; otherwise (another k, or
other names) each segment is matched to the nearest centroid of the other side, and the
matching says so.

Examples
--------
>>> import pandas as pd
>>> a = pd.Series([1, 1, 2, 2], index=["a", "b", "c", "d"])
>>> b = pd.Series([1, 2, 2, 2], index=["b", "c", "d", "e"])
>>> m = migration(a, b, {1: "One", 2: "Two"}, {1: "One", 2: "Two"})
>>> m.counts.to_numpy().tolist(), m.appeared, m.disappeared
([[1, 0], [0, 2]], ['e'], ['a'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import InputError, ModelError
from custseg.explain import naming
from custseg.model import persistence
from custseg.model.segmenter import CustomerSegmenter

#: how the segments of two sides were matched
BY_NUMBER = "number_and_name"
BY_CENTROID = "nearest_centroid"


@dataclass
class Matching:
    """Which segment of the first side each segment of the second side stands for.

    Attributes
    ----------
    method : :data:`BY_NUMBER` (same numbers and names) or :data:`BY_CENTROID`.
    after_to_before : segment number of the second side → the matched one of the first side.
    before_to_after : segment number of the first side → the matched one of the second side.
    distance : second side's segment → distance of its centroid to the matched one (scaled
        space of the first side's model; 0 when matched by number).
    """

    method: str
    after_to_before: dict[int, int]
    before_to_after: dict[int, int]
    distance: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content."""
        return {
            "method": self.method,
            "after_to_before": {str(k): v for k, v in self.after_to_before.items()},
            "before_to_after": {str(k): v for k, v in self.before_to_after.items()},
            "distance": {str(k): round(v, 6) for k, v in self.distance.items()},
        }


def by_number(segments: list[int]) -> Matching:
    """Each segment stands for the segment of the same number."""
    same = {s: s for s in segments}
    return Matching(BY_NUMBER, dict(same), dict(same), {s: 0.0 for s in segments})


def nearest_centroids(before: np.ndarray, after: np.ndarray) -> Matching:
    """Match segments by nearest centroid (rows are segments 1..k, in one common space).

    Each segment of the second side goes to the nearest centroid of the first, and each
    segment of the first side to the nearest of the second (the two need not be inverse when
    the numbers of segments differ).

    Examples
    --------
    >>> m = nearest_centroids(np.array([[0.0], [5.0]]), np.array([[4.0], [0.5], [9.0]]))
    >>> m.after_to_before, m.before_to_after
    ({1: 2, 2: 1, 3: 2}, {1: 2, 2: 1})
    """
    d = np.sqrt(((after[:, None, :] - before[None, :, :]) ** 2).sum(axis=2))
    a2b = {j + 1: int(np.argmin(d[j])) + 1 for j in range(len(after))}
    b2a = {i + 1: int(np.argmin(d[:, i])) + 1 for i in range(len(before))}
    dist = {j + 1: float(d[j, a2b[j + 1] - 1]) for j in range(len(after))}
    return Matching(BY_CENTROID, a2b, b2a, dist)


@dataclass
class Migration:
    """Customers between the segments of two labellings.

    Attributes
    ----------
    counts : customers in both, by segment before (rows) and after (columns).
    names_before, names_after : segment number → name, each side.
    appeared : customers only in the second labelling (sorted ids).
    disappeared : customers only in the first labelling (sorted ids).
    matching : how the segments of the two sides correspond.
    """

    counts: pd.DataFrame
    names_before: dict[int, str]
    names_after: dict[int, str]
    appeared: list[str]
    disappeared: list[str]
    matching: Matching

    def row_percent(self) -> pd.DataFrame:
        """The transition matrix in % of each row (a segment before); rows sum to 100."""
        totals = self.counts.sum(axis=1).replace(0, np.nan)
        return (self.counts.div(totals, axis=0) * 100).fillna(0.0)

    @property
    def common(self) -> int:
        """Customers present on both sides."""
        return int(self.counts.to_numpy().sum())

    def stayed(self) -> int:
        """Customers of both sides whose segment after is the one matched to theirs before."""
        m = self.matching.before_to_after
        return int(
            sum(self.counts.at[s, m[s]] for s in self.counts.index if m.get(s) in self.counts)
        )

    def table(self) -> pd.DataFrame:
        """One row per (segment before, segment after): names, customers, row %."""
        pct = self.row_percent()
        rows = [
            {
                "segment_before": int(a),
                "name_before": self.names_before.get(int(a), str(a)),
                "segment_after": int(b),
                "name_after": self.names_after.get(int(b), str(b)),
                "customers": int(self.counts.at[a, b]),
                "row_percent": round(float(pct.at[a, b]), 4),
            }
            for a in self.counts.index
            for b in self.counts.columns
        ]
        return pd.DataFrame(rows)

    def to_dict(self, ids: bool = False) -> dict[str, Any]:
        """JSON-ready content (with ``ids`` the appeared and disappeared customer ids)."""
        out: dict[str, Any] = {
            "segments_before": {str(s): n for s, n in self.names_before.items()},
            "segments_after": {str(s): n for s, n in self.names_after.items()},
            "counts": [[int(v) for v in row] for row in self.counts.to_numpy()],
            "row_percent": [
                [round(float(v), 4) for v in row] for row in self.row_percent().to_numpy()
            ],
            "common": self.common,
            "stayed": self.stayed(),
            "appeared": len(self.appeared),
            "disappeared": len(self.disappeared),
            "matching": self.matching.to_dict(),
        }
        if ids:
            out["appeared_ids"] = list(self.appeared)
            out["disappeared_ids"] = list(self.disappeared)
        return out


def migration(
    before: pd.Series,
    after: pd.Series,
    names_before: Mapping[int, str],
    names_after: Mapping[int, str],
    matching: Matching | None = None,
) -> Migration:
    """The :class:`Migration` between two labellings (segment numbers indexed by customer id).

    Every segment of ``names_before`` / ``names_after`` gets a row / column, even when empty.
    ``matching`` defaults to :func:`by_number` (both sides the same segments).
    """
    before = before.copy()
    after = after.copy()
    before.index = before.index.astype(str)
    after.index = after.index.astype(str)
    common = before.index.intersection(after.index)
    rows = sorted(int(s) for s in names_before)
    cols = sorted(int(s) for s in names_after)
    counts = (
        pd.crosstab(before.loc[common].astype(int), after.loc[common].astype(int))
        .reindex(index=rows, columns=cols, fill_value=0)
        .astype("int64")
    )
    counts.index.name = "before"
    counts.columns.name = "after"
    if matching is None:
        matching = by_number(sorted(set(rows) | set(cols)))
    return Migration(
        counts=counts,
        names_before=dict(names_before),
        names_after=dict(names_after),
        appeared=sorted(after.index.difference(before.index).tolist()),
        disappeared=sorted(before.index.difference(after.index).tolist()),
        matching=matching,
    )


@dataclass
class Comparison:
    """``custseg compare``: two saved runs and how their customers moved."""

    run_a: str
    run_b: str
    lang: str
    migration: Migration
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        """The content of ``compare.json``."""
        return {
            "format": "custseg.compare/1",
            "run_a": self.run_a,
            "run_b": self.run_b,
            "lang": self.lang,
            "sentence": self.sentence,
            **self.migration.to_dict(ids=True),
        }


@dataclass
class Side:
    """One segmentation as saved in a run folder: what :func:`compare_runs` needs of it."""

    label: str
    """how the run is named in outputs (its folder)"""
    segments: pd.DataFrame
    """``segments.parquet``: ``customer_id``, the features, ``segment``"""
    model_doc: dict[str, Any]
    """``model.json``"""

    def labels(self) -> pd.Series:
        """Segment number of every customer, indexed by ``customer_id`` (text)."""
        return pd.Series(
            self.segments["segment"].to_numpy(dtype="int64"),
            index=pd.Index(self.segments["customer_id"].astype(str), name="customer_id"),
            name="segment",
        )

    def model(self) -> CustomerSegmenter:
        """The run's fitted segmenter."""
        try:
            return persistence.from_dict(self.model_doc.get("model", {}))
        except ModelError as exc:
            raise InputError(f"{self.label}: model.json: {exc}") from exc

    def names(self, lang: str | None = None) -> dict[int, str]:
        """Segment number → name: as saved with the run, or in ``lang`` when the run was
        made in another language (the catalogued name of the segment's slug)."""
        saved = self.model_doc.get("segment_names") or {}
        k = int(self.model().k_)
        if lang is not None and lang != self.model_doc.get("lang"):
            slugs = self.slugs()
            if slugs:
                return {s: naming.segment_name(slugs.get(s, ""), lang, s) for s in range(1, k + 1)}
        return {s: str(saved.get(str(s), s)) for s in range(1, k + 1)}

    def slugs(self) -> dict[int, str]:
        """Segment number → slug saved with the model (empty when none)."""
        try:
            return persistence.segment_slugs(self.model_doc.get("model", {}))
        except ModelError:
            return {}


def match_runs(a: Side, b: Side) -> Matching:
    """Segments of ``b`` matched to those of ``a``: by number and name when both runs have
    the same segments (same k, same names), else by nearest centroid in ``a``'s scaled space
    (``b``'s customers put in it by ``a``'s model, averaged per ``b`` segment)."""
    names_a, names_b = a.names(), b.names()
    slugs_a, slugs_b = a.slugs(), b.slugs()
    same = slugs_a == slugs_b if slugs_a and slugs_b else names_a == names_b
    if same and len(names_a) == len(names_b):
        return by_number(sorted(names_a))
    model = a.model()
    needed = [*model.numeric_features_, *getattr(model, "categorical", ())]
    missing = [c for c in needed if c not in b.segments.columns]
    if missing:
        raise InputError(
            f"{b.label}: the runs differ in k or names and {b.label} lacks the feature "
            f"{missing[0]!r} of {a.label}, so their segments cannot be matched by centroid; "
            "compare runs made with the same features"
        )
    xt = np.asarray(model.transform(b.segments), dtype=float)
    seg_b = b.segments["segment"].to_numpy(dtype="int64")
    centres_b = np.vstack(
        [
            xt[seg_b == s].mean(axis=0) if (seg_b == s).any() else np.full(xt.shape[1], np.inf)
            for s in sorted(names_b)
        ]
    )
    return nearest_centroids(np.asarray(model.cluster_centers_, dtype=float), centres_b)


def compare_runs(a: Side, b: Side, lang: str = "en") -> Comparison:
    """How the customers of run ``a`` moved to the segments of run ``b``."""
    from custseg import i18n

    matching = match_runs(a, b)
    moved = migration(a.labels(), b.labels(), a.names(lang), b.names(lang), matching)
    if matching.method == BY_NUMBER:
        key = "compare_by_number"
    elif len(moved.names_before) == len(moved.names_after):
        key = "compare_by_centroid_names"
    else:
        key = "compare_by_centroid"
    sentence = i18n.t(
        lang,
        key,
        k_a=len(moved.names_before),
        k_b=len(moved.names_after),
        common=i18n.number(moved.common, lang),
        stayed=i18n.number(moved.stayed(), lang),
        share=i18n.number(100 * moved.stayed() / moved.common if moved.common else 0.0, lang, 1),
        appeared=i18n.number(len(moved.appeared), lang),
        disappeared=i18n.number(len(moved.disappeared), lang),
    )
    return Comparison(a.label, b.label, lang, moved, sentence)


#: the format of ``changes.json``: what changed since an earlier run (``--previous``)
CHANGES_FORMAT = "custseg.changes/1"


def run_changes(a: Side, b: Side, previous_run: str = "") -> dict[str, Any]:
    """What changed from run ``a`` (an earlier run) to run ``b``: the content of
    ``changes.json``.

    Customers then and now, in both, new and gone; the share of the customers in both who
    stayed in the matched segment; per segment of ``b`` its share of the customers then (of
    the segment of ``a`` matched to it) and now; per segment of ``a`` its share then and the
    segment of ``b`` matched to it (the one its customers stay in when they keep their segment). Segments are matched as by
    :func:`match_runs` (by number and name, else by nearest centroid, said in ``matching``).
    ``previous_run`` is ``a``'s run id (its manifest's). No clock, no path: same runs, same
    content (``tests/test_changes.py`` checks it against the two runs' tables).
    """
    matching = match_runs(a, b)
    names_a, names_b = a.names(), b.names()
    moved = migration(a.labels(), b.labels(), names_a, names_b, matching)
    labels_a, labels_b = a.labels(), b.labels()
    n_a, n_b = len(labels_a), len(labels_b)
    counts_a = labels_a.value_counts().to_dict()
    counts_b = labels_b.value_counts().to_dict()
    slugs_a = a.slugs()
    segments = []
    for s in sorted(names_b):
        before = matching.after_to_before.get(s, s)
        segments.append(
            {
                "segment": int(s),
                "name": names_b[s],
                "matched": int(before),
                "name_before": names_a.get(before, str(before)),
                "slug_before": slugs_a.get(before, ""),
                "share_before": round(counts_a.get(before, 0) / n_a, 6) if n_a else 0.0,
                "share_after": round(counts_b.get(s, 0) / n_b, 6) if n_b else 0.0,
            }
        )
    doc = a.model_doc
    source: dict[str, Any] = doc["input"] if isinstance(doc.get("input"), dict) else {}
    return {
        "format": CHANGES_FORMAT,
        "previous": {
            "run": previous_run,
            "input": str(source.get("name", "")),
            "as_of": str(doc.get("as_of") or ""),
            "lang": str(doc.get("lang", "en")),
            "k": len(names_a),
        },
        "customers_before": n_a,
        "customers_after": n_b,
        "common": moved.common,
        "new": len(moved.appeared),
        "gone": len(moved.disappeared),
        "stayed": moved.stayed(),
        "stayed_share": round(moved.stayed() / moved.common, 6) if moved.common else 0.0,
        "matching": matching.method,
        "k_before": len(names_a),
        "k_after": len(names_b),
        "segments": segments,
        "segments_before": [
            {
                "segment": int(s),
                "name": names_a[s],
                "matched": int(matching.before_to_after.get(s, s)),
                "share": round(counts_a.get(s, 0) / n_a, 6) if n_a else 0.0,
            }
            for s in sorted(names_a)
        ],
    }
