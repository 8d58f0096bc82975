"""What the report shows, computed from a run's outputs only (never from the input).

A run's folder (``segments.parquet``, ``profiles.csv``, ``model.json``, ``audit.json``,
``exploration.json``) → :class:`RunData` → :func:`prepare`: the numbers every figure and table
of the report needs (projections, samples, box statistics, outliers, actions). A fresh run goes
through the same JSON/CSV round trip as its files, so the page rebuilt from the folder is
byte-identical to the one written by the run.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from custseg import i18n
from custseg.errors import InputError, ModelError
from custseg.explain import naming
from custseg.model import persistence
from custseg.model.rfm import grid_segment

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationResult

RFM = ("recency_days", "frequency", "monetary")
#: points drawn in the PCA map and fed to t-SNE / the silhouette plot (seeded samples)
PCA_SAMPLE = 5_000
TSNE_SAMPLE = 700
SILHOUETTE_SAMPLE = 2_000
OUTLIERS_SHOWN = 5


@dataclass
class RunData:
    """A run as saved in its folder: tables and documents, nothing else."""

    segments: pd.DataFrame
    profiles: pd.DataFrame
    model_doc: dict[str, Any]
    audit: dict[str, Any]
    exploration: dict[str, Any] | None

    @classmethod
    def from_result(cls, result: SegmentationResult) -> RunData:
        """The run as it will read back from its files (JSON and CSV round trips)."""
        csv = result.profiles.to_csv(index=False, lineterminator="\n")
        exploration = getattr(result, "exploration", None)
        return cls(
            segments=result.segments,
            profiles=pd.read_csv(io.StringIO(csv)),
            model_doc=_roundtrip(result.model_document()),
            audit=_roundtrip(result.ledger.to_dict()),
            exploration=_roundtrip(exploration) if exploration is not None else None,
        )

    @classmethod
    def from_dir(cls, folder: str | Path) -> RunData:
        """Read a run's folder; raise :class:`InputError` naming what is missing."""
        folder = Path(folder)
        need = ("segments.parquet", "profiles.csv", "model.json", "audit.json")
        missing = [n for n in need if not (folder / n).is_file()]
        if missing:
            raise InputError(
                f"{folder}: not a custseg run folder (missing {', '.join(missing)}); "
                "give the --out folder of custseg run"
            )
        try:
            exploration_path = folder / "exploration.json"
            return cls(
                segments=pd.read_parquet(folder / "segments.parquet"),
                profiles=pd.read_csv(folder / "profiles.csv"),
                model_doc=json.loads((folder / "model.json").read_text(encoding="utf-8")),
                audit=json.loads((folder / "audit.json").read_text(encoding="utf-8")),
                exploration=json.loads(exploration_path.read_text(encoding="utf-8"))
                if exploration_path.is_file()
                else None,
            )
        except (OSError, ValueError) as exc:
            raise InputError(f"{folder}: cannot read the run's outputs ({exc})") from exc


def _roundtrip(data: Any) -> Any:
    return json.loads(json.dumps(data, ensure_ascii=False, allow_nan=False))


@cache
def actions_catalog() -> dict[str, Any]:
    """Marketing actions and budget weights per segment slug (``report/actions.json``)."""
    text = resources.files("custseg.report").joinpath("actions.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def base_slug(slug: str) -> str:
    """``at_risk_2`` → ``at_risk``; other slugs unchanged."""
    head, _, tail = slug.rpartition("_")
    return head if tail.isdigit() and head else slug


def segment_name(slug: str, lang: str, number: int) -> str:
    """Display name of a slug, or "Segment n" for slugs without a catalogued name."""
    try:
        return naming.display_name(slug, lang)
    except KeyError:
        return f"{i18n.t(lang, 'segment')} {number}"


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
    from custseg.report.embedding import tsne

    return tsne(X, random_state=seed)


def prepare(run: RunData, lang: str | None = None) -> dict[str, Any]:
    """Every number the report needs, in ``lang`` (default: the run's language).

    Figures that show customers get seeded samples of bounded size (:data:`PCA_SAMPLE`,
    :data:`TSNE_SAMPLE`, :data:`SILHOUETTE_SAMPLE`); everything else is an aggregate, computed
    with vectorised passes over the customers (one stable sort by segment, no per-segment
    masks), so the page has the same size for any number of customers.

    BLAS runs on one thread: its products here are small (a few thousand rows, or blocks of
    :data:`BLOCK`), and its idle threads would spin on the cores that write the tables.
    """
    with threadpool_limits(1, user_api="blas"):
        return _prepare(run, lang)


def _prepare(run: RunData, lang: str | None) -> dict[str, Any]:
    doc = run.model_doc
    lang = lang or str(doc.get("lang", "en"))
    try:
        model = persistence.from_dict(doc.get("model", doc))
        slugs = persistence.segment_slugs(doc.get("model", doc))
    except ModelError as exc:
        raise InputError(f"model.json: {exc}") from exc
    seg = run.segments
    labels = seg["segment"].to_numpy(dtype=int)
    ks = sorted(slugs)
    saved = doc.get("segment_names") or {}
    names = {
        s: str(saved[str(s)])
        if lang == doc.get("lang") and str(s) in saved
        else segment_name(slugs[s], lang, s)
        for s in ks
    }
    seed = model.random_state if isinstance(model.random_state, int) else 0
    rng = np.random.default_rng(seed)
    Xt = np.asarray(model.transform(seg), dtype=float)
    features = model.transformed_feature_names()
    n = len(seg)
    has_rfm = all(c in seg.columns for c in (*RFM, "r_score", "f_score"))

    sample = np.sort(rng.choice(n, PCA_SAMPLE, replace=False)) if n > PCA_SAMPLE else np.arange(n)
    mean = Xt.mean(axis=0)
    comps, ratio = _pca(Xt, mean)
    small = (
        sample
        if len(sample) <= TSNE_SAMPLE
        else np.sort(rng.choice(sample, TSNE_SAMPLE, replace=False))
    )
    tsne = _tsne(Xt[small], seed)
    sil_idx = small if len(small) <= SILHOUETTE_SAMPLE else small[:SILHOUETTE_SAMPLE]
    silhouette = None
    if len(np.unique(labels[sil_idx])) > 1:
        from sklearn.metrics import silhouette_samples

        silhouette = silhouette_samples(Xt[sil_idx], labels[sil_idx])
    centers = np.asarray(model.cluster_centers_, dtype=float)
    dist = _distances(Xt, centers, labels)
    far = float(np.quantile(dist, 0.99)) if n else 0.0

    order, part = _by_segment(labels, ks)
    counts = {s: part[s].stop - part[s].start for s in ks}
    code = _segment_codes(labels, ks)
    stats = {c: _segment_stats(seg[c].to_numpy(), code, order, part) for c in RFM if c in seg}
    boxes = {c: st[0] for c, st in stats.items()}
    base_medians = {c: st[2] for c, st in stats.items()}
    dist_grouped = dist[order]
    snake_cols = [c for c in features[: Xt.shape[1]] if c in seg.columns]
    snake = _segment_means(Xt[:, : len(snake_cols)], order, part)

    profiles = run.profiles.set_index("segment")
    total_rev = float(seg["monetary"].sum()) if "monetary" in seg else 0.0
    cat = actions_catalog()
    weights = {
        s: float(cat["segments"].get(base_slug(slugs[s]), cat["default"])["budget_weight"])
        for s in ks
    }
    weighted = {s: weights[s] * counts[s] for s in ks}
    total_w = sum(weighted.values()) or 1.0
    cards = []
    for s in ks:
        entry = cat["segments"].get(base_slug(slugs[s]), cat["default"])
        rows = order[part[s]]
        top = _farthest(dist_grouped[part[s]], rows, min(OUTLIERS_SHOWN, counts[s]))
        prof = profiles.loc[s] if s in profiles.index else None
        description = ""
        if prof is not None and "description" in profiles.columns:
            description = str(prof["description"])
            if lang != doc.get("lang") and all(f"median_{c}" in profiles.columns for c in RFM):
                description = naming.describe(
                    slugs[s], {c: float(prof[f"median_{c}"]) for c in RFM}, lang
                )
        cards.append(
            {
                "segment": s,
                "slug": slugs[s],
                "name": names[s],
                "description": description,
                "customers": counts[s],
                "share_customers": counts[s] / n if n else 0.0,
                "share_revenue": stats["monetary"][1][s] / total_rev if total_rev else None,
                "medians": {
                    c: boxes[c][s]["median"] if counts[s] else float("nan") for c in base_medians
                },
                "far": int(np.count_nonzero(dist_grouped[part[s]] > far)),
                "outliers": [
                    {
                        "customer_id": str(seg["customer_id"].iloc[i]),
                        "distance": float(dist[i]),
                        **{c: float(seg[c].iloc[i]) for c in base_medians},
                    }
                    for i in top
                ],
                "actions": entry["actions"][lang],
                "budget_share": weighted[s] / total_w,
                "budget_weight": weights[s],
            }
        )

    return {
        "lang": lang,
        "kind": str(doc.get("kind", "transactions")),
        "segments": ks,
        "names": names,
        "slugs": slugs,
        "n": n,
        "features": features,
        "has_rfm": has_rfm,
        "selection": model.selection_.to_dict() if model.selection_ is not None else None,
        "k": int(model.k_),
        "sample": sample,
        "labels": labels,
        "proj": (Xt[sample] - mean) @ comps.T,  # the PCA map of the sample only
        "components": comps,
        "proj_mean": mean,
        "centers": centers,
        "explained": ratio,
        "tsne_idx": small,
        "tsne": tsne,
        "sil_idx": sil_idx,
        "silhouette": silhouette,
        "snake": snake,
        "snake_features": snake_cols,
        "boxes": boxes,
        "categories": {
            c: _category_shares(seg[c].astype(str), labels, ks)
            for c in getattr(model, "categorical", ())
            if c in seg
        },
        "rf_grid": _rf_grid(seg) if has_rfm else None,
        "bubbles": {s: {c: boxes[c][s]["mean"] for c in RFM} for s in ks if counts[s]}
        if has_rfm
        else None,
        "base_medians": base_medians,
        "far_threshold": far,
        "cards": cards,
        "doc": doc,
        "audit": run.audit,
        "exploration": run.exploration,
    }


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
