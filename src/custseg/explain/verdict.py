"""Verdict sentences: why a segmentation has the k it has, in the reader's language.

Every clause is read from the selection's scores and the rule of
:func:`custseg.model.selection.verdict`, so the sentence is literally true of the numbers
beside it: the window searched, the indices of the k chosen, each k that scores better on all
three indices and why it was not taken, and the k's stability.
"""

from __future__ import annotations

from typing import Any

from custseg import i18n
from custseg.model.segmenter import CustomerSegmenter
from custseg.model.selection import Selection, verdict


def _fmt(vals: dict[str, float], lang: str, suffix: str = "") -> dict[str, str]:
    return {
        f"sil{suffix}": i18n.number(vals["silhouette"], lang, 3),
        f"ch{suffix}": i18n.number(vals["calinski_harabasz"], lang),
        f"db{suffix}": i18n.number(vals["davies_bouldin"], lang, 3),
    }


def _reason(sel: Selection) -> dict[str, Any]:
    """The selection's reason; recomputed from its scores for a model saved before the rule
    recorded its window (stability then did not vote, so it is left out)."""
    if "searched" in sel.reason:
        return sel.reason
    _, reason = verdict(sel.ks, sel.silhouette, sel.calinski_harabasz, sel.davies_bouldin, sel.knee)
    return reason


def _ks(values: list[int], lang: str) -> str:
    """``2, 3 and 5`` in the reader's language."""
    text = [str(v) for v in values]
    if len(text) <= 1:
        return "".join(text)
    return ", ".join(text[:-1]) + f" {i18n.t(lang, 'and')} " + text[-1]


def _span(values: list[int]) -> str:
    return f"{values[0]}–{values[-1]}" if values else "—"


def _stability_of(sel: Selection, k: int) -> float | None:
    if sel.stability and k in sel.ks and len(sel.stability) == len(sel.ks):
        return sel.stability[sel.ks.index(k)]
    return None


def verdict_sentence(model: CustomerSegmenter, lang: str) -> str:
    """Say why the model has the k it has, in ``lang``."""
    sel = model.selection_
    if sel is None:
        return i18n.t(lang, "verdict_forced", k=model.k_, auto="—")
    if sel.forced:
        auto_k, _ = verdict(
            sel.ks,
            sel.silhouette,
            sel.calinski_harabasz,
            sel.davies_bouldin,
            sel.knee,
            stability=sel.stability or None,
        )
        return i18n.t(lang, "verdict_forced", k=sel.chosen, auto=auto_k)
    r = _reason(sel)
    k = r["k"]
    threshold = i18n.number(r.get("threshold", 0.85), lang, 2)
    margin = i18n.number(100 * r.get("margin", 0.0), lang)
    common = {
        "k": k,
        "knee": r["knee"],
        "window": r["window"],
        "span": _span(r.get("searched", sel.ks)),
        "range": _span(sel.ks),
        "margin": margin,
        "threshold": threshold,
        "mean_rank": i18n.number(r["mean_rank"], lang, 2),
        "n": r["candidates"],
        "r_sil": r["ranks"]["silhouette"],
        "r_ch": r["ranks"]["calinski_harabasz"],
        "r_db": r["ranks"]["davies_bouldin"],
        **_fmt(r["values"], lang),
    }
    rule = r["rule"]
    if rule in ("elbow", "elbow_refined", "elbow_stable"):
        start = r.get("start", r["knee"])
        parts = []
        if rule == "elbow_stable":
            knee_ari = _stability_of(sel, r["knee"])
            parts.append(
                i18n.t(
                    lang,
                    "verdict_elbow_unstable",
                    ari=i18n.number(knee_ari if knee_ari is not None else 0.0, lang, 2),
                    start=start,
                    **common,
                )
            )
        else:
            parts.append(i18n.t(lang, "verdict_elbow_at", **common))
        if len(r["path"]) > 1:
            parts.append(
                i18n.t(
                    lang,
                    "verdict_refined",
                    start=start,
                    **common,
                    **_fmt(r.get("start_values") or r["knee_values"], lang, "0"),
                )
            )
        parts.append(i18n.t(lang, "verdict_searched", **common))
        sep = i18n.t(lang, "verdict_sep")
        text = i18n.t(lang, "verdict_prefix", k=k) + sep.join(parts) + "."
    elif rule == "mean_rank":
        text = i18n.t(lang, "verdict_mean_rank_holds", holds=len(r.get("holds", sel.ks)), **common)
    else:  # no_clear_k
        why = r.get("no_clear")
        if why == "tie":
            cause = i18n.t(lang, "no_clear_tie", ties=_ks(r.get("ties", []), lang), **common)
        elif why == "unstable_near_elbow":
            cause = i18n.t(lang, "no_clear_near_elbow", **common)
        else:
            known = [(v, kk) for kk, v in zip(sel.ks, sel.stability, strict=False) if v is not None]
            top, top_k = max(known, key=lambda t: (t[0], -t[1])) if known else (0.0, k)
            cause = i18n.t(
                lang, "no_clear_unstable", ari=i18n.number(top, lang, 2), ari_k=top_k, **common
            )
        text = cause + " " + i18n.t(lang, "no_clear_shown", **common)
    for other in r.get("better_elsewhere", []):
        ari = other.get("stability")
        text += " " + i18n.t(
            lang,
            f"verdict_not_{other['why']}",
            other=other["k"],
            ari=i18n.number(ari if ari is not None else 0.0, lang, 2),
            **{**common, **_fmt(other["values"], lang, "1")},
        )
    b = r["best_by"]
    text += " " + i18n.t(
        lang,
        "verdict_best_by",
        sil_k=b["silhouette"],
        ch_k=b["calinski_harabasz"],
        db_k=b["davies_bouldin"],
    )
    stab = _stability_of(sel, k)
    if stab is not None and "stability_repeats" in sel.sample:
        text += " " + i18n.t(
            lang,
            "verdict_stability_samples",
            k=k,
            ari=i18n.number(stab, lang, 2),
            repeats=sel.sample["stability_repeats"],
            pct=sel.sample.get("stability_percent", 80),
            threshold=threshold,
        )
    elif stab is not None:  # a model saved when stability compared two halves
        text += " " + i18n.t(lang, "verdict_stability", k=k, ari=i18n.number(stab, lang, 2))
    if sel.sample.get("silhouette", 0) < sel.sample.get("customers", 0):
        text += " " + i18n.t(lang, "sample_note", n=sel.sample["silhouette"])
    return text
