"""The report of a run split by lifecycle (``custseg run --split lifecycle``): both groups.

A split run's ``model.json`` holds one model per group (see
:data:`custseg.model.schema.SPLIT_RUN`). :func:`split_context` gathers, from the run's files
only, what the page's lifecycle block (``templates/lifecycle.html``) shows for each group: its
size, k, features used and left out, verdict, the scores of every k tried, and its segments'
table; plus one bar chart of the segments' sizes, coloured by group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from custseg import i18n
from custseg.errors import InputError, ModelError
from custseg.explain import lifecycle, naming
from custseg.model import persistence

if TYPE_CHECKING:
    from custseg.report.data import RunData

#: colour of each group's bars
GROUP_COLOURS = {"repeat": "#1b6ca8", "one_time": "#e07a1f"}
#: median columns of the segment table, in order
MEDIANS = ("recency_days", "frequency", "monetary", "product_breadth")


def split_context(run: RunData, lang: str) -> dict[str, Any]:
    """Every group of a split run, ready for the template, and the page's figures."""
    doc = run.model_doc
    profiles = run.profiles
    total = int(profiles["customers"].sum()) if len(profiles) else 0
    fitted = []
    for g in doc["split"]["groups"]:
        try:
            model = persistence.from_dict(g["model"])
            slugs = persistence.segment_slugs(g["model"])
        except ModelError as exc:
            raise InputError(f"model.json: group {g['name']}: {exc}") from exc
        fitted.append((g, model, slugs))
    same_lang = lang == doc.get("lang")
    names = (
        {int(s): str(v) for s, v in doc["segment_names"].items()}
        if same_lang
        else lifecycle.group_names([(g["name"], g["first_segment"], s) for g, _, s in fitted], lang)
    )
    groups: list[dict[str, Any]] = []
    bars: list[dict[str, Any]] = []
    for g, model, own in fitted:
        rows = profiles[profiles["lifecycle"] == g["name"]] if len(profiles) else profiles
        verdict = (
            str(g["verdict"])
            if same_lang
            else lifecycle.group_verdict(
                model,
                g["features"],
                g["left_out"],
                g["too_small"],
                g["customers"],
                int(g["model"]["params"]["k_min"]),
                lang,
            )
        )
        verdict = verdict[:1].upper() + verdict[1:]  # it follows the group's name elsewhere
        slugs = {} if same_lang else {g["first_segment"] + i - 1: v for i, v in own.items()}
        segments = [_segment_row(r, names, g["customers"], slugs, lang) for _, r in rows.iterrows()]
        label = lifecycle.group_label(g["name"], lang)
        groups.append(
            {
                "name": g["name"],
                "label": label,
                "customers": g["customers"],
                "share": g["customers"] / total if total else 0.0,
                "k": g["k"],
                "features": [lifecycle.feature_label(f, lang) for f in g["features"]],
                "left_out": [lifecycle.feature_label(f, lang) for f in g["left_out"]],
                "too_small": g["too_small"],
                "verdict": verdict,
                "selection": model.selection_.to_dict() if model.selection_ is not None else None,
                "segments": segments,
            }
        )
        bars.append(
            {
                "type": "bar",
                "name": label,
                "x": [s["name"] for s in segments],
                "y": [s["customers"] for s in segments],
                "marker": {"color": GROUP_COLOURS.get(g["name"], "#52606d")},
            }
        )
    figures = {
        "fig-lifecycle-sizes": {
            "data": bars,
            "layout": {
                "title": {"text": i18n.t(lang, "lifecycle_title")},
                "yaxis": {"title": {"text": i18n.t(lang, "customers")}},
                "xaxis": {"automargin": True},
                "margin": {"b": 60, "r": 30},
                "barmode": "group",
                "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
            },
        }
    }
    return {
        "groups": groups,
        "total": total,
        "medians": MEDIANS,
        "labels": {f: lifecycle.feature_label(f, lang) for f in MEDIANS},
        "figures": figures,
    }


def _segment_row(
    row: pd.Series, names: dict[int, str], group_size: int, slugs: dict[int, str], lang: str
) -> dict[str, Any]:
    """One line of a group's segment table; the description re-worded when ``slugs`` (the
    page is in another language than the run)."""
    seg = int(row["segment"])
    description = str(row["description"]) if "description" in row.index else ""
    if seg in slugs and all(f"median_{f}" in row.index for f in MEDIANS[:3]):
        medians = {f: float(row[f"median_{f}"]) for f in MEDIANS[:3]}
        description = naming.describe(slugs[seg], medians, lang)
    return {
        "segment": seg,
        "name": names.get(seg, str(row["segment_name"])),
        "customers": int(row["customers"]),
        "share_customers": float(row["share_customers"]),
        "share_group": int(row["customers"]) / group_size if group_size else 0.0,
        "share_revenue": float(row["share_revenue"]) if "share_revenue" in row else None,
        "medians": {f: float(row[f"median_{f}"]) for f in MEDIANS if f"median_{f}" in row.index},
        "description": description,
    }
