"""Segments as rules: a threshold tree on the readable features that explains a segmentation.

fitted segmenter + its customers → an IMM tree (Iterative Mistake Minimization, Dasgupta,
Frost, Moshkovitz and Rashtchian, "Explainable k-Means and k-Medians Clustering", ICML 2020)
with one leaf per segment → one short rule per segment ("recency (days) ≤ 45 and orders ≥ 6 →
Champions"), the rules' fidelity and the price of explainability, and their SQL.

IMM grows the tree top down. At a node holding several segment centres, it tries every
threshold on every feature that separates those centres and keeps the one that sends the
fewest of the node's customers away from their own segment's centre (a *mistake*); mistaken
customers leave the recursion, and each side is split again until every leaf holds one
centre. The search runs in the model's scaled space, where the segments were found; since
every feature's transform (clipping at its lower bound, Yeo-Johnson, standardisation) is
monotone, each threshold is one on the original feature, and is stated there, rounded to the
roundest value that still splits the customers the same way. Categorical (one-hot) columns
take no part in the rules.

- **fidelity**: the share of customers the rules put in their own segment;
- **price of explainability**: the k-means cost (sum of squared distances in the scaled space
  to the mean of one's group) of the tree's partition divided by that of the segmentation,
  ≥ 1 in practice; 1 when the rules reproduce the segments exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custseg import i18n
from custseg.engines.sql import ident
from custseg.model.segmenter import CustomerSegmenter

#: customers the tree is grown on at most (a seeded sample beyond); fidelity uses them all
TREE_SAMPLE = 200_000


@dataclass
class Condition:
    """``lo < feature ≤ hi`` (either bound may be absent); ``integer`` when the feature only
    takes whole values (then ``> lo`` reads ``≥ lo + 1``)."""

    feature: str
    lo: float | None = None
    hi: float | None = None
    integer: bool = False

    def sql(self) -> str:
        """The condition as SQL over the customer table's column."""
        col = ident(self.feature)
        parts = []
        if self.lo is not None and self.integer:
            parts.append(f"{col} >= {_num(self.lo + 1)}")
        elif self.lo is not None:
            parts.append(f"{col} > {_num(self.lo)}")
        if self.hi is not None:
            parts.append(f"{col} <= {_num(self.hi)}")
        return " AND ".join(parts)

    def text(self, lang: str) -> str:
        """The condition in words (``orders ≥ 6``)."""
        label = _label(self.feature, lang)
        lo = None if self.lo is None else (self.lo + 1 if self.integer else self.lo)
        lo_op = "≥" if self.integer else ">"
        if lo is not None and self.hi is not None:
            if self.integer and lo == self.hi:
                return f"{label} = {_shown(self.hi, lang)}"
            lo_op = "≤" if self.integer else "<"
            return f"{_shown(lo, lang)} {lo_op} {label} ≤ {_shown(self.hi, lang)}"
        if self.hi is not None:
            return f"{label} ≤ {_shown(self.hi, lang)}"
        assert lo is not None
        return f"{label} {lo_op} {_shown(lo, lang)}"

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Which of ``values`` meet the condition."""
        ok = np.ones(len(values), dtype=bool)
        if self.lo is not None:
            ok &= values > self.lo
        if self.hi is not None:
            ok &= values <= self.hi
        return ok

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "lo": self.lo, "hi": self.hi, "integer": self.integer}


def _num(value: float) -> str:
    """A threshold as SQL and CSV write it: the shortest text that reads back the same."""
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _shown(value: float, lang: str) -> str:
    if float(value).is_integer():
        return i18n.number(value, lang)
    decimals = min(6, max(0, -math.floor(math.log10(abs(value) % 1 or 1)) + 1))
    return i18n.number(value, lang, decimals).rstrip("0").rstrip(".,")


def _label(feature: str, lang: str) -> str:
    labels: dict[str, str] = i18n.catalog(lang)["features"]
    return labels[feature].lower() if feature in labels else feature


def readable_threshold(a: float, b: float, integer: bool = False) -> float:
    """The roundest value θ with ``a ≤ θ < b``: every customer at or below ``a`` stays at or
    below θ, every customer at or above ``b`` stays above it.

    Examples
    --------
    >>> readable_threshold(44, 47, integer=True)
    45
    >>> readable_threshold(312.4, 389.9)
    350
    >>> readable_threshold(1.2345, 1.2346)
    1.2345
    """
    if integer:
        a, b = math.floor(a), math.floor(b)
        if b - a <= 1:
            return int(a)
    span = b - a
    top = math.ceil(math.log10(span)) if span > 0 else 0
    for p in range(top, top - 12, -1):
        for mult in (5, 2, 1):
            step = mult * 10.0**p
            if integer and step < 1:
                continue
            theta = math.ceil(round(a / step, 9)) * step
            theta = round(theta, max(0, -p + 1))
            if a <= theta < b:
                return int(theta) if integer or float(theta).is_integer() else theta
    return int(a) if integer else float(a)


@dataclass
class SegmentRules:
    """One rule per segment, read off an IMM threshold tree, with their quality.

    ``tree`` is nested dicts: a split ``{"feature", "threshold", "integer", "left", "right"}``
    (``feature ≤ threshold`` goes left) or a leaf ``{"segment": n}``.
    """

    tree: dict[str, Any]
    features: list[str]
    k: int
    #: per segment 1..k: customers the rule selects, customers of the segment, and both
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    fidelity: float = 1.0
    price: float = 1.0
    method: str = "IMM"

    def conditions(self) -> dict[int, list[Condition]]:
        """Each segment's rule as conditions, one per feature (bounds merged), in tree order."""
        out: dict[int, list[Condition]] = {}

        def walk(node: dict[str, Any], path: list[Condition]) -> None:
            if "segment" in node:
                merged: dict[str, Condition] = {}
                for c in path:
                    m = merged.setdefault(c.feature, Condition(c.feature, integer=c.integer))
                    if c.lo is not None:
                        m.lo = c.lo if m.lo is None else max(m.lo, c.lo)
                    if c.hi is not None:
                        m.hi = c.hi if m.hi is None else min(m.hi, c.hi)
                out[int(node["segment"])] = list(merged.values())
                return
            f, t, integer = node["feature"], node["threshold"], bool(node.get("integer"))
            walk(node["left"], [*path, Condition(f, hi=t, integer=integer)])
            walk(node["right"], [*path, Condition(f, lo=t, integer=integer)])

        walk(self.tree, [])
        return dict(sorted(out.items()))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The segment number (1..k) the rules give each customer of ``frame``."""
        out = np.zeros(len(frame), dtype="int64")
        for seg, conds in self.conditions().items():
            ok = np.ones(len(frame), dtype=bool)
            for c in conds:
                ok &= c.holds(frame[c.feature].to_numpy(dtype=float))
            out[ok] = seg
        return out

    def text(self, segment: int, lang: str) -> str:
        """The rule of ``segment`` in words; "all customers" for a tree with one leaf."""
        conds = self.conditions().get(segment, [])
        if not conds:
            return i18n.t(lang, "rules_everyone")
        return f" {i18n.t(lang, 'and')} ".join(c.text(lang) for c in conds)

    def where(self, segment: int) -> str:
        """The SQL condition selecting the customers of ``segment`` by its rule."""
        conds = self.conditions().get(segment, [])
        return " AND ".join(c.sql() for c in conds) or "TRUE"

    def table(self, names: dict[int, str], lang: str) -> pd.DataFrame:
        """One row per segment: its rule in words and SQL, and how well it matches (rules.csv)."""
        rows = []
        for seg in range(1, self.k + 1):
            n = self.counts.get(seg, {"rule": 0, "segment": 0, "both": 0})
            rows.append(
                {
                    "segment": seg,
                    "segment_name": names.get(seg, str(seg)),
                    "rule": self.text(seg, lang),
                    "sql_where": self.where(seg),
                    "customers_by_rule": n["rule"],
                    "customers_in_segment": n["segment"],
                    "customers_both": n["both"],
                    "precision": round(n["both"] / n["rule"], 6) if n["rule"] else None,
                    "recall": round(n["both"] / n["segment"], 6) if n["segment"] else None,
                }
            )
        return pd.DataFrame(rows)

    def sql(self, names: dict[int, str], table: str = "customers") -> str:
        """``rules.sql``: one CASE expression giving each customer's segment number by the rules
        (names in comments), then one query per segment selecting its customers (a CRM
        audience)."""
        lines = [
            "-- custseg: segments as rules (IMM threshold tree on the customer features).",
            f"-- fidelity {self.fidelity:.4f} (share of customers the rules put in their own "
            f"segment), price of explainability {self.price:.4f}.",
            f"-- Columns are those of segments.csv: replace {table} with your table.",
            "",
            "-- 1. Each customer's segment by the rules: one CASE expression.",
            "SELECT",
            "  customer_id,",
            "  CASE",
        ]
        for seg in range(1, self.k + 1):
            if seg in self.conditions():
                lines.append(
                    f"    WHEN {self.where(seg)} THEN {seg}  -- {_comment(names.get(seg, ''))}"
                )
        lines += ["  END AS segment", f"FROM {table};", ""]
        lines.append("-- 2. One audience per segment: the WHERE clause of its rule.")
        for seg in range(1, self.k + 1):
            if seg not in self.conditions():
                continue
            lines += [
                "",
                f"-- segment {seg}: {_comment(names.get(seg, ''))}",
                f"SELECT customer_id FROM {table}",
                f"WHERE {self.where(seg)};",
            ]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (saved in ``model.json`` under ``rules``)."""
        return {
            "method": self.method,
            "features": self.features,
            "k": self.k,
            "tree": self.tree,
            "fidelity": round(self.fidelity, 6),
            "price": round(self.price, 6),
            "counts": {str(s): c for s, c in sorted(self.counts.items())},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentRules:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tree=d["tree"],
            features=list(d["features"]),
            k=int(d["k"]),
            counts={int(s): dict(c) for s, c in d.get("counts", {}).items()},
            fidelity=float(d["fidelity"]),
            price=float(d["price"]),
            method=str(d.get("method", "IMM")),
        )


def _comment(text: str) -> str:
    return " ".join(str(text).split()).replace("*/", "")


def _best_cut(
    X: np.ndarray, own: np.ndarray, centres: np.ndarray, alive: np.ndarray
) -> tuple[int, float, int] | None:
    """The (feature, scaled threshold, mistakes) separating the ``alive`` centres that sends the
    fewest points (rows of ``X`` whose centre is ``own``) away from their centre."""
    best: tuple[int, float, int] | None = None
    for j in range(X.shape[1]):
        cj = centres[alive, j]
        lo_c, hi_c = float(cj.min()), float(cj.max())
        if lo_c == hi_c:
            continue
        x = X[:, j]
        c = centres[own, j]
        lo = np.sort(np.minimum(x, c))
        hi = np.sort(np.maximum(x, c))
        cand = np.unique(np.concatenate([x[(x >= lo_c) & (x < hi_c)], cj[cj < hi_c]]))
        # a point is a mistake for threshold v when v lies in [min(x, c), max(x, c))
        mistakes = np.searchsorted(lo, cand, "right") - np.searchsorted(hi, cand, "right")
        i = int(np.argmin(mistakes))
        if best is None or int(mistakes[i]) < best[2]:
            best = (j, float(cand[i]), int(mistakes[i]))
    return best


def imm_tree(X: np.ndarray, labels: np.ndarray, centres: np.ndarray) -> dict[str, Any]:
    """The IMM threshold tree of a clustering, in the space of ``X``.

    ``labels`` are 0..k-1 (rows of ``centres``). Splits are ``{"feature": column index,
    "cut": threshold, "left", "right"}`` (``X[:, feature] ≤ cut`` goes left); leaves
    ``{"cluster": c}``.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.1, 5.0], [5.0, 0.2], [5.1, 5.1]])
    >>> tree = imm_tree(X, np.array([0, 1, 2, 3]), X.copy())
    >>> tree["feature"], tree["cut"], tree["left"]  # no customer crosses: 0 mistakes
    (0, 0.0, {'cluster': 0})
    """

    def grow(rows: np.ndarray, alive: np.ndarray) -> dict[str, Any]:
        if len(alive) == 1:
            return {"cluster": int(alive[0])}
        cut = _best_cut(X[rows], labels[rows], centres, alive)
        if cut is None:  # identical centres on every feature: keep the first
            return {"cluster": int(alive[0])}
        j, v, _ = cut
        left_c = alive[centres[alive, j] <= v]
        right_c = alive[centres[alive, j] > v]
        x_left = X[rows, j] <= v
        c_left = centres[labels[rows], j] <= v
        kept = x_left == c_left  # mistaken points leave the recursion
        return {
            "feature": j,
            "cut": v,
            "left": grow(rows[kept & x_left], left_c),
            "right": grow(rows[kept & ~x_left], right_c),
        }

    return grow(np.arange(len(X)), np.arange(len(centres)))


def _leaves(X: np.ndarray, tree: dict[str, Any]) -> np.ndarray:
    out = np.empty(len(X), dtype="int64")

    def walk(node: dict[str, Any], rows: np.ndarray) -> None:
        if "cluster" in node:
            out[rows] = node["cluster"]
            return
        left = X[rows, node["feature"]] <= node["cut"]
        walk(node["left"], rows[left])
        walk(node["right"], rows[~left])

    walk(node=tree, rows=np.arange(len(X)))
    return out


def _cost(X: np.ndarray, groups: np.ndarray) -> float:
    total = 0.0
    for g in np.unique(groups):
        members = X[groups == g]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def explain_segments(
    model: CustomerSegmenter,
    frame: pd.DataFrame,
    segments: np.ndarray,
    *,
    random_state: int = 0,
    sample: int = TREE_SAMPLE,
) -> SegmentRules:
    """Rules for the segments (1..k) of ``frame``'s customers, as fitted by ``model``.

    The tree is grown on the model's scaled numeric features (a seeded sample of ``sample``
    customers at most), its thresholds restated on ``frame``'s original columns; fidelity and
    price are measured on every customer of ``frame``.
    """
    names = list(model.numeric_features_)
    d = len(names)
    Xt = np.asarray(model.transform(frame), dtype=float)
    Xn = Xt[:, :d]
    raw = np.maximum(frame[names].to_numpy(dtype=float), model.lower_)
    labels = np.asarray(segments, dtype="int64") - 1
    centres = np.asarray(model.cluster_centers_, dtype=float)[:, :d]
    rows = np.arange(len(Xn))
    if len(rows) > sample:
        rng = np.random.default_rng([random_state, 7])
        rows = np.sort(rng.choice(len(rows), sample, replace=False))
    scaled_tree = imm_tree(Xn[rows], labels[rows], centres) if d else {"cluster": 0}
    integer = [bool(np.all(np.mod(raw[:, j], 1) == 0)) for j in range(d)]

    def restate(node: dict[str, Any]) -> dict[str, Any]:
        if "cluster" in node:
            return {"segment": int(node["cluster"]) + 1}
        j, v = node["feature"], node["cut"]
        below = Xn[:, j] <= v
        a = float(raw[below, j].max())
        b = float(raw[~below, j].min()) if (~below).any() else a + 1.0
        return {
            "feature": names[j],
            "threshold": readable_threshold(a, b, integer[j]),
            "integer": integer[j],
            "left": restate(node["left"]),
            "right": restate(node["right"]),
        }

    rules = SegmentRules(tree=restate(scaled_tree), features=names, k=int(model.k_))
    by_rule = _leaves(Xn, scaled_tree) + 1
    own = labels + 1
    rules.counts = {
        s: {
            "rule": int((by_rule == s).sum()),
            "segment": int((own == s).sum()),
            "both": int(((by_rule == s) & (own == s)).sum()),
        }
        for s in range(1, rules.k + 1)
    }
    rules.fidelity = float((by_rule == own).mean()) if len(own) else 1.0
    base = _cost(Xt, own)
    rules.price = _cost(Xt, by_rule) / base if base > 0 else 1.0
    return rules
