"""The drift page of a score folder (``drift.html``) and its terminal summary.

``drift.json`` (see :func:`custseg.outputs.scores.drift_document`) → two figures (segment
shares at training and now; the PSI of every feature against its thresholds) and three tables
→ one self-contained page in the report's style, in English or French. Same document, same
bytes.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

from custseg import i18n
from custseg.report.figures import ACCENT, NEUTRAL, colour
from custseg.report.figures_segments import feature_label
from custseg.report.html import _context, _env, to_json


def d(lang: str, key: str, **values: Any) -> str:
    """A sentence of the ``drift`` section of the catalogue, formatted with ``values``."""
    template: str = i18n.catalog(lang)["drift"][key]
    return template.format(**values) if values else template


def _number(value: Any, lang: str, decimals: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return i18n.number(float(value), lang, decimals)


def drift_figures(doc: dict[str, Any], lang: str) -> dict[str, Any]:
    """The page's figures: segment shares then and now, and the PSI of every feature."""
    shares = doc["shares"]
    names = [f"{s['segment']}. {s['name']}" for s in shares]
    fig_shares = {
        "data": [
            {
                "type": "bar",
                "name": d(lang, "training"),
                "x": names,
                "y": [100 * s["training_share"] for s in shares],
                "marker": {"color": NEUTRAL},
            },
            {
                "type": "bar",
                "name": d(lang, "new"),
                "x": names,
                "y": [100 * s["new_share"] for s in shares],
                "marker": {"color": colour(1)},
            },
        ],
        "layout": {
            "title": {"text": d(lang, "fig_shares")},
            "barmode": "group",
            "yaxis": {"title": {"text": d(lang, "share_pct")}, "ticksuffix": " %"},
        },
    }
    psi = doc["psi"]
    feats = list(psi)
    low, high = doc["psi_levels"]
    fig_psi = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [feature_label(f, lang) for f in feats],
                "x": [psi[f]["psi"] for f in feats],
                "marker": {
                    "color": [
                        ACCENT
                        if psi[f]["level"] == "major"
                        else "#f0b429"
                        if psi[f]["level"] == "moderate"
                        else "#19a979"
                        for f in feats
                    ]
                },
                "showlegend": False,
            }
        ],
        "layout": {
            "title": {"text": d(lang, "fig_psi")},
            "xaxis": {"title": {"text": "PSI"}, "rangemode": "tozero"},
            "yaxis": {"autorange": "reversed"},
            "shapes": [
                {
                    "type": "line",
                    "x0": x,
                    "x1": x,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "line": {"dash": "dot", "color": NEUTRAL},
                }
                for x in (low, high)
            ],
            "margin": {"l": 160},
        },
    }
    return {"fig-drift-shares": fig_shares, "fig-drift-psi": fig_psi}


def summary_sentence(doc: dict[str, Any], lang: str) -> str:
    """One sentence: customers scored, those far from every centroid, the largest PSI."""
    far = doc["far"]
    text = d(
        lang,
        "summary",
        new=i18n.number(doc["customers"]["new"], lang),
        training=i18n.number(doc["customers"]["training"], lang),
        far=i18n.number(far["customers"], lang),
        pct=_number(100 * far["share"], lang, 1),
    )
    worst = doc.get("largest_psi")
    if worst is not None:
        entry = doc["psi"][worst]
        text += " " + d(
            lang,
            "largest",
            feature=feature_label(worst, lang),
            psi=_number(entry["psi"], lang, 3),
            level=d(lang, f"level_{entry['level']}"),
        )
    return text


def _per_group(far: dict[str, Any], key: str, lang: str) -> str:
    """A distance of the ``far`` summary; a split run has one per lifecycle group."""
    groups = far.get("groups")
    if not groups:
        return _number(far[key], lang, 2)
    from custseg.explain.lifecycle import group_label

    return (" ; " if lang == "fr" else "; ").join(
        f"{group_label(g['group'], lang).lower()} {_number(g[key], lang, 2)}" for g in groups
    )


def render_drift(doc: dict[str, Any], lang: str = "en") -> str:
    """The drift page of a score folder, in ``lang``."""
    figures = drift_figures(doc, lang)
    ctx = _context(lang)
    return (
        _env()
        .get_template("drift_page.html")
        .render(
            **ctx,
            dt=lambda key, **kw: d(lang, key, **kw),
            num=lambda v, decimals=0: _number(v, lang, decimals),
            doc=doc,
            typical=_per_group(doc["far"], "training_median_distance", lang),
            threshold=_per_group(doc["far"], "threshold", lang),
            summary=summary_sentence(doc, lang),
            figures_json=to_json(figures),
        )
    )


def print_drift(doc: dict[str, Any], lang: str, console: Console) -> None:
    """The drift summary in the terminal: the sentence, segment shares, features that moved."""
    console.print(summary_sentence(doc, lang), highlight=False)
    shares = Table(title=d(lang, "shares_title"), title_justify="left")
    for col in (d(lang, "segment"), d(lang, "training"), d(lang, "new")):
        shares.add_column(col, justify="left" if col == d(lang, "segment") else "right")
    for s in doc["shares"]:
        shares.add_row(
            f"{s['segment']}. {s['name']}",
            f"{_number(100 * s['training_share'], lang, 1)} %",
            f"{_number(100 * s['new_share'], lang, 1)} %",
        )
    console.print(shares)
    psi = Table(title=d(lang, "psi_title"), title_justify="left")
    for col in ("", "PSI", d(lang, "median_training"), d(lang, "median_new")):
        psi.add_column(col, justify="right" if col else "left")
    for f, e in doc["psi"].items():
        psi.add_row(
            feature_label(f, lang),
            f"{_number(e['psi'], lang, 3)} {d(lang, 'level_' + e['level'])}",
            _number(e.get("median_training"), lang, 2),
            _number(e.get("median_new"), lang, 2),
        )
    console.print(psi)
