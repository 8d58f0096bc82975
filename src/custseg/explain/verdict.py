"""Verdict sentences: why a segmentation has the k it has, in the reader's language."""

from __future__ import annotations

from custseg import i18n
from custseg.model.segmenter import CustomerSegmenter
from custseg.model.selection import verdict


def verdict_sentence(model: CustomerSegmenter, lang: str) -> str:
    """Say why the model has the k it has, in ``lang``."""
    sel = model.selection_
    if sel is None:
        return i18n.t(lang, "verdict_forced", k=model.k_, auto="—")
    if sel.forced:
        auto_k, _ = verdict(
            sel.ks, sel.silhouette, sel.calinski_harabasz, sel.davies_bouldin, sel.knee
        )
        return i18n.t(lang, "verdict_forced", k=sel.chosen, auto=auto_k)
    r = sel.reason
    v, v0 = r["values"], r["knee_values"] or r["values"]

    def fmt(vals: dict[str, float]) -> dict[str, str]:
        return {
            "sil": i18n.number(vals["silhouette"], lang, 3),
            "ch": i18n.number(vals["calinski_harabasz"], lang),
            "db": i18n.number(vals["davies_bouldin"], lang, 3),
        }

    text = i18n.t(
        lang,
        f"verdict_{r['rule']}",
        k=r["k"],
        knee=r["knee"],
        mean_rank=r["mean_rank"],
        n=r["candidates"],
        r_sil=r["ranks"]["silhouette"],
        r_ch=r["ranks"]["calinski_harabasz"],
        r_db=r["ranks"]["davies_bouldin"],
        **fmt(v),
        **{f"{key}0": val for key, val in fmt(v0).items()},
    )
    b = r["best_by"]
    text += " " + i18n.t(
        lang,
        "verdict_best_by",
        sil_k=b["silhouette"],
        ch_k=b["calinski_harabasz"],
        db_k=b["davies_bouldin"],
    )
    stab = sel.stability[sel.ks.index(r["k"])] if sel.stability and r["k"] in sel.ks else None
    if stab is not None:
        text += " " + i18n.t(lang, "verdict_stability", k=r["k"], ari=i18n.number(stab, lang, 2))
    if sel.sample.get("silhouette", 0) < sel.sample.get("customers", 0):
        text += " " + i18n.t(lang, "sample_note", n=sel.sample["silhouette"])
    return text
