"""Diagnostics of a segmentation: the numbers behind every figure of the report.

segments (one row per customer, with its segment) + the fitted model → per-segment box
statistics and sums, the PCA map, a t-SNE embedding and per-customer silhouettes of seeded
samples, each customer's distance to its centre and the farthest ones, segment means of the
scaled features, category shares and the R × F grid. Computed with vectorised passes over the
customers (one stable sort by segment, no per-segment masks) and seeded samples of bounded
size, so the cost and the size of what the report draws do not grow with the customers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from custseg.explain import naming
from custseg.explain.actions import actions_for, budget_split
from custseg.model.rfm import grid_segment

RFM = ("recency_days", "frequency", "monetary")
#: points drawn in the PCA map and fed to t-SNE / the silhouette plot (seeded samples)
PCA_SAMPLE = 5_000
TSNE_SAMPLE = 700
SILHOUETTE_SAMPLE = 2_000
#: customers farthest from their centre listed per segment
OUTLIERS_SHOWN = 5


def _box(values: np.ndarray) -> dict[str, float]:
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return {
        "q1": float(q1),
        "median": float(med),
        "q3": float(q3),
        "lowerfence": float(inside.min()),
        "upperfence": float(inside.max()),
        "mean": float(values.mean()),
    }


def _lerp(a: float, b: float, t: float) -> float:
    """NumPy's linear interpolation between two order statistics (``np.quantile``)."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _box_counted(counts: np.ndarray, low: int) -> dict[str, float]:
    """:func:`_box` of integers given as ``counts[v - low]`` (the same numbers, exactly)."""
    cum = np.cumsum(counts)
    m = int(cum[-1])
    present = np.flatnonzero(counts) + low

    def rank(i: int) -> float:  # the i-th smallest value (0-based)
        return float(low + int(np.searchsorted(cum, i, side="right")))

    def quantile(q: float) -> float:
        h = m * q + (1 - q) - 1  # np.quantile's virtual index, computed alike
        i = math.floor(h)
        return _lerp(rank(i), rank(min(i + 1, m - 1)), h - i)

    q1, med, q3 = quantile(0.25), quantile(0.5), quantile(0.75)
    iqr = q3 - q1
    inside = present[(present >= q1 - 1.5 * iqr) & (present <= q3 + 1.5 * iqr)]
    total = int(counts @ np.arange(low, low + len(counts), dtype=np.int64))
    return {
        "q1": q1,
        "median": med,
        "q3": q3,
        "lowerfence": float(inside.min()),
        "upperfence": float(inside.max()),
        "mean": float(total) / m,
    }


#: rows per block when a per-customer computation is done block by block (bounded memory)
BLOCK = 1 << 16


#: largest segments × values table counted for an integer column (wider ranges are sorted)
COUNTED_CELLS = 1 << 22


def _segment_stats(
    values: np.ndarray, code: np.ndarray, order: np.ndarray, part: dict[int, slice]
) -> tuple[dict[int, dict[str, float]], dict[int, float], float]:
    """Box statistics and sum of each non-empty segment, and the median of every row.

    ``code`` numbers the segments of ``part`` 0, 1, … in order (-1: none). An integer column
    of modest range is counted (one ``bincount``, no sort); any other is gathered in segment
    order and each segment's slice summarised: the same numbers, bit for bit.
    """
    ks = list(part)
    sizes = {s: part[s].stop - part[s].start for s in ks}
    if values.dtype.kind in "iu" and len(values):
        low, high = int(values.min()), int(values.max())
        width = high - low + 1
        if width * len(ks) <= COUNTED_CELLS:
            keep = code >= 0
            cells = code[keep] * width + (values[keep] - low)
            table = np.bincount(cells, minlength=width * len(ks)).reshape(len(ks), width)
            boxes = {s: _box_counted(table[i], low) for i, s in enumerate(ks) if sizes[s]}
            totals = table @ np.arange(low, high + 1, dtype=np.int64)  # exact integer sums
            sums = {s: float(totals[i]) for i, s in enumerate(ks) if sizes[s]}
            whole = np.bincount(values - low, minlength=width)
            half = len(values) // 2
            cum = np.cumsum(whole)
            upper = float(low + int(np.searchsorted(cum, half, side="right")))
            lower = float(low + int(np.searchsorted(cum, half - 1, side="right")))
            median = upper if len(values) % 2 else (lower + upper) / 2
            return boxes, sums, median
    floats = values.astype(float, copy=False)
    grouped = floats[order]
    boxes = {s: _box(grouped[part[s]]) for s in ks if sizes[s]}
    sums = {s: float(grouped[part[s]].sum()) for s in boxes}
    return boxes, sums, float(np.median(floats))


def _by_segment(labels: np.ndarray, ks: list[int]) -> tuple[np.ndarray, dict[int, slice]]:
    """A row order that puts each segment's rows together, and each segment's slice of it.

    The sort is stable, so a segment's rows keep their order: ``values[order][slices[s]]`` is
    ``values[labels == s]``, element for element, for one gather instead of one mask per segment.
    """
    small = labels.size == 0 or (labels.min() >= -(2**15) and labels.max() < 2**15)
    order = np.argsort(labels.astype(np.int16) if small else labels, kind="stable")
    ordered = labels[order]
    lo = np.searchsorted(ordered, ks, side="left")
    hi = np.searchsorted(ordered, ks, side="right")
    return order, {s: slice(int(a), int(b)) for s, a, b in zip(ks, lo, hi, strict=True)}


def _segment_codes(labels: np.ndarray, ks: list[int]) -> np.ndarray:
    """Each row's segment as its position in ``ks`` (0, 1, …), or -1 for a label not in it."""
    if not len(labels) or not ks:
        return np.full(len(labels), -1, dtype=np.int64)
    low = min(int(labels.min()), ks[0])
    lookup = np.full(max(int(labels.max()), ks[-1]) - low + 1, -1, dtype=np.int64)
    lookup[np.asarray(ks) - low] = np.arange(len(ks))
    return lookup[labels - low]


def _pca(Xt: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components (rows) and explained variance ratios of the rows of ``Xt`` (block by block)."""
    d = Xt.shape[1]
    cov = np.zeros((d, d))
    for a in range(0, len(Xt), BLOCK):
        block = Xt[a : a + BLOCK] - mean
        cov += block.T @ block
    cov /= max(len(Xt) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order].T
    for row in vecs:  # deterministic sign: largest loading positive
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    ratio = vals / vals.sum() if vals.sum() > 0 else vals
    comps = vecs[: min(2, len(vecs))]
    return comps, ratio[: len(comps)]


def _distances(Xt: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Distance of each row to the centre of its segment (block by block)."""
    dist = np.empty(len(Xt))
    for a in range(0, len(Xt), BLOCK):
        diff = Xt[a : a + BLOCK] - centers[labels[a : a + BLOCK] - 1]
        dist[a : a + BLOCK] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return dist


def _farthest(dist: np.ndarray, rows: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` rows of largest distance, farthest first (ties: lower row first)."""
    if m <= 0:
        return rows[:0]
    cand = np.arange(len(dist))
    if len(dist) > m:
        kth = np.partition(dist, len(dist) - m)[len(dist) - m]
        cand = np.flatnonzero(dist >= kth)
    top = cand[np.lexsort((rows[cand], -dist[cand]))][:m]
    return rows[top]


def _segment_means(
    X: np.ndarray, order: np.ndarray, part: dict[int, slice]
) -> dict[int, list[float]]:
    """Column means of each segment's rows: one pass, as a sparse (segments × rows) product."""
    from scipy import sparse

    ks = list(part)
    sizes = np.array([part[s].stop - part[s].start for s in ks], dtype=np.int64)
    rows = np.concatenate([order[part[s]] for s in ks]) if ks else order[:0]
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    members = sparse.csr_matrix((np.ones(len(rows)), rows, indptr), shape=(len(ks), len(X)))
    sums = np.asarray(members @ X).reshape(len(ks), X.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / sizes[:, None]
    return {s: [float(v) for v in means[i]] for i, s in enumerate(ks)}


def _tsne(X: np.ndarray, seed: int) -> np.ndarray | None:
    if len(X) < 10:
        return None
    from custseg.explain.embedding import tsne

    return tsne(X, random_state=seed)


def _category_shares(values: pd.Series, labels: np.ndarray, ks: list[int]) -> dict[str, Any]:
    """Share of each category within each segment and in the whole base (categories by size)."""
    cats = values.value_counts().index.tolist()
    shares = {
        s: values[labels == s].value_counts(normalize=True).reindex(cats, fill_value=0.0).tolist()
        for s in ks
        if (labels == s).any()
    }
    base = values.value_counts(normalize=True).reindex(cats, fill_value=0.0).tolist()
    return {"values": cats, "shares": shares, "base": base}


def _rf_grid(seg: pd.DataFrame) -> dict[str, Any]:
    """Customers and mean spend of each cell of the 5 × 5 R × F score grid (counted)."""
    r = seg["r_score"].to_numpy()
    f = seg["f_score"].to_numpy()
    spend = seg["monetary"].to_numpy(dtype=float)
    valid = (r >= 1) & (r <= 5) & (f >= 1) & (f <= 5)
    if r.dtype.kind not in "iu" or f.dtype.kind not in "iu":  # scores as floats: 1.0 …
        valid &= (r % 1 == 0) & (f % 1 == 0)
    if not valid.all():
        r, f, spend = r[valid], f[valid], spend[valid]
    cell = ((r - 1) * 5 + (f - 1)).astype(np.int64)
    known = ~np.isnan(spend)  # the mean skips missing spend, as pandas does
    sizes = np.bincount(cell, minlength=25)
    if known.all():
        priced, sums = sizes, np.bincount(cell, weights=spend, minlength=25)
    else:
        priced = np.bincount(cell[known], minlength=25)
        sums = np.bincount(cell[known], weights=spend[known], minlength=25)
    count = sizes.reshape(5, 5).tolist()
    mean = [
        [
            (float(sums[i]) / int(priced[i]) if priced[i] else float("nan")) if sizes[i] else None
            for i in range(5 * row, 5 * row + 5)
        ]
        for row in range(5)
    ]
    slugs = grid_segment(np.repeat(np.arange(1, 6), 5), np.tile(np.arange(1, 6), 5))
    return {"count": count, "mean": mean, "slug": slugs.reshape(5, 5).tolist()}


def diagnose(
    segments: pd.DataFrame,
    Xt: np.ndarray,
    features: list[str],
    centers: np.ndarray,
    *,
    slugs: dict[int, str],
    names: dict[int, str],
    profiles: pd.DataFrame,
    categorical: list[str],
    seed: int,
    lang: str,
    described_in: str | None,
    sample_of: int | None = None,
) -> dict[str, Any]:
    """Every number the report draws about the segments (see the module docstring).

    Parameters
    ----------
    segments : one row per customer with ``segment`` (1..k), ``customer_id`` and the features.
    Xt : the customers in the scaled space the centroids live in (the model's ``transform``).
    features : names of the columns of ``Xt``.
    centers : centroids, row ``s - 1`` for segment ``s``.
    slugs, names : each segment's name slug and display name.
    profiles : ``profiles.csv`` (one row per segment, indexed by ``segment`` or with that column).
    categorical : categorical columns whose shares per segment are shown.
    seed : seed of every sample drawn here.
    lang : language of the sentences; ``described_in`` is the language the profiles'
        descriptions are written in (re-worded from the medians when it differs).
    sample_of : the number of customers when ``segments`` holds a sample of them (a run
        clustered in its engine): the count, and each segment's size, shares and medians, are
        then the profiles' (computed over every customer).

    BLAS runs on one thread: its products here are small (a few thousand rows, or blocks of
    :data:`BLOCK`), and its idle threads would spin on the cores that write the tables.
    """
    with threadpool_limits(1, user_api="blas"):
        seg = segments
        Xt = np.asarray(Xt, dtype=float)
        centers = np.asarray(centers, dtype=float)
        labels = seg["segment"].to_numpy(dtype=int)
        ks = sorted(slugs)
        n = len(seg)
        has_rfm = all(c in seg.columns for c in (*RFM, "r_score", "f_score"))
        maps = _maps(Xt, labels, seed)
        dist = _distances(Xt, centers, labels)
        far = float(np.quantile(dist, 0.99)) if n else 0.0

        order, part = _by_segment(labels, ks)
        counts = {s: part[s].stop - part[s].start for s in ks}
        code = _segment_codes(labels, ks)
        stats = {c: _segment_stats(seg[c].to_numpy(), code, order, part) for c in RFM if c in seg}
        boxes = {c: st[0] for c, st in stats.items()}
        base_medians = {c: st[2] for c, st in stats.items()}
        snake_cols = [c for c in features[: Xt.shape[1]] if c in seg.columns]
        snake = _segment_means(Xt[:, : len(snake_cols)], order, part)
        cards = _cards(
            seg,
            dist,
            far,
            order,
            part,
            stats,
            slugs=slugs,
            names=names,
            profiles=profiles,
            lang=lang,
            described_in=described_in,
            sampled=sample_of is not None,
        )
        if sample_of is not None:
            n = sample_of
        return {
            "n": n,
            "features": features,
            "has_rfm": has_rfm,
            **maps,
            "labels": labels,
            "centers": centers,
            "snake": snake,
            "snake_features": snake_cols,
            "boxes": boxes,
            "categories": {
                c: _category_shares(seg[c].astype(str), labels, ks) for c in categorical if c in seg
            },
            "rf_grid": _rf_grid(seg) if has_rfm else None,
            "bubbles": {s: {c: boxes[c][s]["mean"] for c in RFM} for s in ks if counts[s]}
            if has_rfm
            else None,
            "base_medians": base_medians,
            "far_threshold": far,
            "cards": cards,
        }


def _maps(Xt: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    """The PCA map of a seeded sample, a t-SNE embedding and the silhouettes of a smaller one."""
    rng = np.random.default_rng(seed)
    n = len(Xt)
    sample = np.sort(rng.choice(n, PCA_SAMPLE, replace=False)) if n > PCA_SAMPLE else np.arange(n)
    mean = Xt.mean(axis=0)
    comps, ratio = _pca(Xt, mean)
    small = (
        sample
        if len(sample) <= TSNE_SAMPLE
        else np.sort(rng.choice(sample, TSNE_SAMPLE, replace=False))
    )
    sil_idx = small if len(small) <= SILHOUETTE_SAMPLE else small[:SILHOUETTE_SAMPLE]
    silhouette = None
    if len(np.unique(labels[sil_idx])) > 1:
        from sklearn.metrics import silhouette_samples

        silhouette = silhouette_samples(Xt[sil_idx], labels[sil_idx])
    return {
        "sample": sample,
        "proj": (Xt[sample] - mean) @ comps.T,  # the PCA map of the sample only
        "components": comps,
        "proj_mean": mean,
        "explained": ratio,
        "tsne_idx": small,
        "tsne": _tsne(Xt[small], seed),
        "sil_idx": sil_idx,
        "silhouette": silhouette,
    }


def _profile_share(prof: pd.Series | None) -> float | None:
    """A customer table's share of the value column (``profiles.csv``'s ``share_revenue``)."""
    if prof is None or "share_revenue" not in prof.index:
        return None
    value = float(prof["share_revenue"])
    return value if math.isfinite(value) else None


def _cards(
    seg: pd.DataFrame,
    dist: np.ndarray,
    far: float,
    order: np.ndarray,
    part: dict[int, slice],
    stats: dict[str, tuple[dict[int, dict[str, float]], dict[int, float], float]],
    *,
    slugs: dict[int, str],
    names: dict[int, str],
    profiles: pd.DataFrame,
    lang: str,
    described_in: str | None,
    sampled: bool = False,
) -> list[dict[str, Any]]:
    """One card per segment: portrait, key figures, customers far from the centre, actions."""
    ks = list(part)
    n = len(seg)
    counts = {s: part[s].stop - part[s].start for s in ks}
    boxes = {c: st[0] for c, st in stats.items()}
    dist_grouped = dist[order]
    by_segment = profiles.set_index("segment") if "segment" in profiles.columns else profiles
    total_rev = float(seg["monetary"].sum()) if "monetary" in seg else 0.0
    # ``seg`` a sample of the customers (a run clustered in its engine): the sizes, shares and
    # medians are the profiles', computed over every customer
    sampled = sampled and "customers" in by_segment.columns
    everyone = {s: int(by_segment["customers"].get(s, 0)) for s in ks} if sampled else counts
    budget = budget_split(slugs, everyone)
    cards = []
    for s in ks:
        rows = order[part[s]]
        top = _farthest(dist_grouped[part[s]], rows, min(OUTLIERS_SHOWN, counts[s]))
        prof = by_segment.loc[s] if s in by_segment.index else None
        description = ""
        if prof is not None and "description" in by_segment.columns:
            description = str(prof["description"])
            if lang != described_in and all(f"median_{c}" in by_segment.columns for c in RFM):
                description = naming.describe(
                    slugs[s], {c: float(prof[f"median_{c}"]) for c in RFM}, lang
                )
        card = {
            "segment": s,
            "slug": slugs[s],
            "name": names[s],
            "description": description,
            "customers": counts[s],
            "share_customers": counts[s] / n if n else 0.0,
            # a segment that received no customer has no sum (see _segment_stats): its share is 0
            "share_revenue": stats["monetary"][1].get(s, 0.0) / total_rev
            if total_rev
            else _profile_share(prof),
            "medians": {c: boxes[c][s]["median"] if counts[s] else float("nan") for c in boxes},
            "far": int(np.count_nonzero(dist_grouped[part[s]] > far)),
            "outliers": [
                {
                    "customer_id": str(seg["customer_id"].iloc[i]),
                    "distance": float(dist[i]),
                    **{c: float(seg[c].iloc[i]) for c in boxes},
                }
                for i in top
            ],
            "actions": actions_for(slugs[s])["actions"][lang],
            "budget_share": budget[s]["share"],
            "budget_weight": budget[s]["weight"],
        }
        if sampled and prof is not None:
            card["customers"] = everyone[s]
            card["share_customers"] = float(prof["share_customers"])
            card["share_revenue"] = _profile_share(prof)
            card["medians"] = {
                c: float(prof[f"median_{c}"]) if f"median_{c}" in prof.index else float("nan")
                for c in boxes
            }
        cards.append(card)
    return cards
