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
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg import i18n, naming
from custseg.errors import InputError, ModelError
from custseg.model import CustomerSegmenter

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


def _pca(Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components (rows), explained variance ratios and the 2-D projection of all rows."""
    mean = Xt.mean(axis=0)
    cov = np.cov(Xt - mean, rowvar=False).reshape(Xt.shape[1], Xt.shape[1])
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order].T
    for row in vecs:  # deterministic sign: largest loading positive
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    ratio = vals / vals.sum() if vals.sum() > 0 else vals
    comps = vecs[: min(2, len(vecs))]
    return comps, ratio[: len(comps)], (Xt - mean) @ comps.T


def _tsne(X: np.ndarray, seed: int) -> np.ndarray | None:
    if len(X) < 10:
        return None
    from custseg.report.embedding import tsne

    return tsne(X, random_state=seed)


def prepare(run: RunData, lang: str | None = None) -> dict[str, Any]:
    """Every number the report needs, in ``lang`` (default: the run's language)."""
    doc = run.model_doc
    lang = lang or str(doc.get("lang", "en"))
    try:
        model = CustomerSegmenter.from_dict(doc.get("model", doc))
    except ModelError as exc:
        raise InputError(f"model.json: {exc}") from exc
    seg = run.segments
    labels = seg["segment"].to_numpy(dtype=int)
    ks = sorted(int(s) for s in model.segment_slugs_)
    slugs = {int(s): str(v) for s, v in model.segment_slugs_.items()}
    saved = doc.get("segment_names") or {}
    names = {
        s: str(saved[str(s)])
        if lang == doc.get("lang") and str(s) in saved
        else segment_name(slugs[s], lang, s)
        for s in ks
    }
    seed = int(model.random_state)
    rng = np.random.default_rng(seed)
    Xt = np.asarray(model.transform(seg), dtype=float)
    features = model.transformed_feature_names()
    n = len(seg)
    has_rfm = all(c in seg.columns for c in (*RFM, "r_score", "f_score"))

    sample = np.sort(rng.choice(n, PCA_SAMPLE, replace=False)) if n > PCA_SAMPLE else np.arange(n)
    comps, ratio, proj = _pca(Xt)
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
    dist = np.linalg.norm(Xt - centers[labels - 1], axis=1)
    far = float(np.quantile(dist, 0.99)) if n else 0.0

    profiles = run.profiles.set_index("segment")
    total_rev = float(seg["monetary"].sum()) if "monetary" in seg else 0.0
    cat = actions_catalog()
    weights = {
        s: float(cat["segments"].get(base_slug(slugs[s]), cat["default"])["budget_weight"])
        for s in ks
    }
    counts = {s: int((labels == s).sum()) for s in ks}
    weighted = {s: weights[s] * counts[s] for s in ks}
    total_w = sum(weighted.values()) or 1.0
    base_medians = {c: float(seg[c].median()) for c in RFM if c in seg}
    snake_cols = [c for c in features[: Xt.shape[1]] if c in seg.columns]
    cards = []
    for s in ks:
        members = labels == s
        entry = cat["segments"].get(base_slug(slugs[s]), cat["default"])
        top = np.argsort(-np.where(members, dist, -np.inf))[: min(OUTLIERS_SHOWN, counts[s])]
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
                "share_revenue": float(seg.loc[members, "monetary"].sum()) / total_rev
                if total_rev
                else None,
                "medians": {c: float(seg.loc[members, c].median()) for c in base_medians},
                "far": int((dist[members] > far).sum()),
                "outliers": [
                    {
                        "customer_id": str(seg["customer_id"].iloc[i]),
                        "distance": float(dist[i]),
                        **{c: float(seg[c].iloc[i]) for c in base_medians},
                    }
                    for i in top
                    if members[i]
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
        "proj": proj,
        "components": comps,
        "proj_mean": Xt.mean(axis=0),
        "centers": centers,
        "explained": ratio,
        "tsne_idx": small,
        "tsne": tsne,
        "sil_idx": sil_idx,
        "silhouette": silhouette,
        "snake": {
            s: [float(Xt[labels == s, j].mean()) for j in range(len(snake_cols))] for s in ks
        },
        "snake_features": snake_cols,
        "boxes": {
            c: {s: _box(seg.loc[labels == s, c].to_numpy(dtype=float)) for s in ks if counts[s]}
            for c in RFM
            if c in seg
        },
        "categories": {
            c: _category_shares(seg[c].astype(str), labels, ks)
            for c in getattr(model, "categorical", ())
            if c in seg
        },
        "rf_grid": _rf_grid(seg) if has_rfm else None,
        "bubbles": {
            s: {c: float(seg.loc[labels == s, c].mean()) for c in RFM} for s in ks if counts[s]
        }
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
    g = seg.groupby(["r_score", "f_score"])["monetary"].agg(["size", "mean"])
    count = [[int(g["size"].get((r, f), 0)) for f in range(1, 6)] for r in range(1, 6)]
    mean = [
        [float(g["mean"][(r, f)]) if (r, f) in g.index else None for f in range(1, 6)]
        for r in range(1, 6)
    ]
    cell = naming.grid_segment(np.repeat(np.arange(1, 6), 5), np.tile(np.arange(1, 6), 5)).reshape(
        5, 5
    )
    return {"count": count, "mean": mean, "slug": cell.tolist()}
