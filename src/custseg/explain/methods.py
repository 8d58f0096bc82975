"""What the clustering algorithm did and how it scores customers, in the reader's language.

A K-Means run says why it has its k (:func:`custseg.explain.verdict.verdict_sentence`) and
nothing more, so that its outputs are those of earlier versions. Any other algorithm adds
its method: the parameters it was fitted with (chosen from the data for density methods), the
rule that gives customers their segment, the atypical group a density method leaves, and for
customer tables with categorical columns the K-Prototypes equivalent the encoding is. A
comparison of algorithms (:mod:`custseg.model.compare`) is summed up by
:func:`recommendation_sentence`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custseg import i18n
from custseg.explain.naming import display_name
from custseg.explain.verdict import verdict_sentence
from custseg.model.algorithms import MIXTURE_RESTARTS, get_algorithm
from custseg.model.segmenter import CustomerSegmenter

#: slug of the group a density method leaves as noise
ATYPICAL = "atypical"


def method_sentence(model: CustomerSegmenter, lang: str) -> str:
    """The algorithm's parameters and scoring rule, in ``lang``; ``""`` for K-Means."""
    if model.algorithm == "kmeans":
        return ""
    method = getattr(model, "method_", {}) or {}
    params: dict[str, Any] = dict(method.get("parameters", {}))
    name = model.algorithm
    d = len(model.get_feature_names_out())
    parts = []
    if name == "gmm":
        parts.append(i18n.t(lang, "method_gmm", restarts=min(int(model.n_init), MIXTURE_RESTARTS)))
    elif name == "ward":
        sample = int(params.get("sample", 0))
        sampled = "method_ward_sampled" if sample >= params.get("max_sample", 0) else None
        parts.append(
            i18n.t(
                lang,
                "method_ward",
                sample=i18n.number(sample, lang),
                sampled=i18n.t(lang, sampled or "method_ward_all"),
            )
        )
    elif name in {"dbscan", "hdbscan"}:
        common = {
            "sample": i18n.number(int(params.get("sample", 0)), lang),
            "min_samples": params.get("min_samples"),
            "d": d,
        }
        if name == "dbscan":
            parts.append(
                i18n.t(
                    lang,
                    "method_dbscan",
                    eps=i18n.number(float(params.get("eps", 0.0)), lang, 3),
                    eps_from=i18n.t(lang, f"method_eps_{params.get('eps_from', 'knee')}"),
                    **common,
                )
            )
        else:
            parts.append(
                i18n.t(
                    lang,
                    "method_hdbscan",
                    min_cluster_size=params.get("min_cluster_size"),
                    **common,
                )
            )
        noise = model.noise_label_
        if noise is not None:
            count = int(params.get("atypical", 0))
            share = count / max(int(params.get("customers", 1)), 1)
            parts.append(
                i18n.t(
                    lang,
                    "method_noise",
                    noise=i18n.number(count, lang),
                    share=i18n.number(100 * share, lang, 1) + " %",
                    segment=noise + 1,
                    name=display_name(ATYPICAL, lang),
                    radius=i18n.t(lang, f"method_radius_{name}"),
                )
            )
    if list(model.categorical):
        parts.append(
            i18n.t(
                lang,
                "method_mixed",
                columns=", ".join(map(str, model.categorical)),
                label=i18n.t(lang, f"algo_{name}"),
            )
        )
    return " ".join(parts)


def run_verdict(model: CustomerSegmenter, lang: str) -> str:
    """The verdict of a run: why it has its k (algorithms that take one), then its method.

    For K-Means exactly :func:`~custseg.explain.verdict.verdict_sentence`.
    """
    if model.algorithm == "kmeans":
        return verdict_sentence(model, lang)
    base = verdict_sentence(model, lang) if get_algorithm(model.algorithm).uses_k else ""
    return " ".join(p for p in (base, method_sentence(model, lang)) if p)


def _percent(value: float, lang: str) -> str:
    return i18n.number(100 * value, lang, 0) + " %"


def recommendation_sentence(comparison: Mapping[str, Any], lang: str) -> str:
    """The recommendation of a comparison (``compare.json`` content) and why, in ``lang``."""
    settings = comparison.get("settings", {})
    max_noise = _percent(float(settings.get("max_atypical_share", 0.2)), lang)
    reason = comparison.get("reason", {})
    labels = {
        r["algorithm"]: i18n.t(lang, f"algo_{r['algorithm']}") for r in comparison.get("rows", [])
    }
    best = comparison.get("recommended")
    if best is None:
        text = i18n.t(lang, "compare_none", max_noise=max_noise)
    else:
        text = i18n.t(
            lang,
            "compare_recommend",
            label=labels.get(best, best),
            rank=i18n.number(float(reason.get("mean_rank", {}).get(best, 0.0)), lang, 2),
        )
    excluded = reason.get("excluded") or {}
    if excluded:
        stable = i18n.number(float(settings.get("stable_ari", 0.8)), lang, 2)
        items = ", ".join(
            f"{labels.get(a, a)} ("
            + i18n.t(lang, f"compare_why_{why}", max_noise=max_noise, stable=stable)
            + ")"
            for a, why in excluded.items()
        )
        text += " " + i18n.t(lang, "compare_excluded", items=items)
    return text
