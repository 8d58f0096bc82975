"""Plotly figures of the report, as plain dicts (``{"data": [...], "layout": {...}}``).

No plotly Python object is built: the figures are small JSON documents drawn in the page by
the plotly.js bundle embedded once. Every label goes through :func:`custseg.i18n.t`.
Data-quality figures (from ``exploration.json`` and ``audit.json``) and the choice of k are
here; the segment figures are in :mod:`custseg.report.figures_segments`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from custseg import i18n

Figure = dict[str, Any]
#: segment colours (colour-blind-safe first, then Plotly's defaults)
PALETTE = (
    "#1b6ca8",
    "#e8743b",
    "#19a979",
    "#ed4a7b",
    "#945ecf",
    "#13a4b4",
    "#525df4",
    "#bf399e",
    "#6c8893",
    "#ee6868",
    "#2f6497",
)
ACCENT = "#d1495b"
NEUTRAL = "#486581"


def colour(segment: int) -> str:
    """Colour of a segment number (1-based), stable across figures."""
    return PALETTE[(segment - 1) % len(PALETTE)]


def translator(lang: str) -> Callable[..., str]:
    """``key → text`` in ``lang`` (keyword arguments fill the text's placeholders)."""
    return lambda key, **values: i18n.t(lang, key, **values)


def _ticks(lo: int, hi: int) -> tuple[list[int], list[str]]:
    """Decade ticks (log10 units) labelled 0.01 … 1, 10, 100, 1k, 10k …"""
    vals = list(range(lo, hi + 1))

    def label(e: int) -> str:
        if e < 0:
            return f"{10.0**e:g}"
        if e >= 6:
            return f"{10 ** (e - 6):g}M"
        if e >= 3:
            return f"{10 ** (e - 3):g}k"
        return f"{10**e:g}"

    return vals, [label(e) for e in vals]


def distribution_figure(dist: dict[str, Any], title: str, t: Callable[[str], str]) -> Figure:
    """Log-binned histogram with the boxplot of the same values beneath (log10 axis)."""
    per = int(dist["bins_per_decade"])
    bins = dist["histogram"]
    x = [(b + 0.5) / per for b, _ in bins]
    ranges = [f"{10 ** (b / per):.3g} – {10 ** ((b + 1) / per):.3g}" for b, _ in bins]
    box = dist["box"]
    lg = {k: math.log10(v) if v and v > 0 else None for k, v in box.items()}
    lo = math.floor(min(b for b, _ in bins) / per)
    hi = math.ceil((max(b for b, _ in bins) + 1) / per)
    tickvals, ticktext = _ticks(lo, hi)
    return {
        "data": [
            {
                "type": "bar",
                "x": x,
                "y": [c for _, c in bins],
                "width": 1 / per,
                "customdata": ranges,
                "hovertemplate": "%{customdata}: %{y}<extra></extra>",
                "marker": {"color": NEUTRAL},
                "name": t("count"),
            },
            {
                "type": "box",
                "orientation": "h",
                "y": [t("distribution")],
                "q1": [lg["q1"]],
                "median": [lg["median"]],
                "q3": [lg["q3"]],
                "lowerfence": [lg["lowerfence"]],
                "upperfence": [lg["upperfence"]],
                "mean": [lg["mean"]],
                "xaxis": "x",
                "yaxis": "y2",
                "marker": {"color": ACCENT},
                "hoverinfo": "skip",
                "name": t("distribution"),
            },
        ],
        "layout": {
            "title": {"text": title},
            "showlegend": False,
            "bargap": 0.02,
            "xaxis": {
                "anchor": "y2",
                "tickvals": tickvals,
                "ticktext": ticktext,
                "title": {"text": t("log_scale")},
            },
            "yaxis": {"domain": [0.3, 1], "title": {"text": t("lines")}},
            "yaxis2": {"domain": [0, 0.2], "showticklabels": False},
        },
    }


def quality_figures(
    audit: dict[str, Any], exploration: dict[str, Any] | None, lang: str
) -> dict[str, Figure]:
    """Figures of the data-quality section."""
    t = translator(lang)
    figs: dict[str, Figure] = {}
    dropped = [(r, n) for r, n in audit.get("dropped", {}).items() if n]
    money = audit.get("money", {}).get("dropped_by_reason", {})
    figs["fig-ledger"] = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [i18n.reason(lang, r) for r, _ in dropped][::-1],
                "x": [n for _, n in dropped][::-1],
                "customdata": [money.get(r, 0) for r, _ in dropped][::-1],
                "hovertemplate": "%{y}: %{x} ("
                + t("money")
                + " %{customdata:,.2f})<extra></extra>",
                "marker": {"color": ACCENT},
            }
        ],
        "layout": {
            "title": {"text": t("fig_ledger")},
            "xaxis": {"title": {"text": t("rows_dropped")}},
            "yaxis": {"automargin": True},
        },
    }
    if exploration is None:
        return figs
    for name, dist in exploration["distributions"].items():
        if dist is not None and dist["histogram"]:
            figs[f"fig-dist-{name}"] = distribution_figure(dist, t(f"dist_{name}"), t)
    countries = list(exploration["countries"])
    if exploration.get("has_country"):
        other = exploration.get("other_countries")
        rows = [(c["country"], c["customers"], c["revenue"]) for c in countries]
        if other:
            rows.append(
                (
                    t("other_countries").format(n=other["countries"]),
                    other["customers"],
                    other["revenue"],
                )
            )
        figs["fig-countries"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [r[0] for r in rows][::-1],
                    "x": [r[1] for r in rows][::-1],
                    "customdata": [r[2] for r in rows][::-1],
                    "hovertemplate": "%{y}: %{x} ("
                    + t("revenue")
                    + " %{customdata:,.0f})<extra></extra>",
                    "marker": {"color": NEUTRAL},
                }
            ],
            "layout": {
                "title": {"text": t("fig_countries")},
                "xaxis": {"title": {"text": t("customers")}, "type": "log"},
                "yaxis": {"automargin": True},
            },
        }
    months = exploration["months"]
    figs["fig-months"] = {
        "data": [
            {
                "type": "bar",
                "x": [m["month"] for m in months],
                "y": [m["orders"] for m in months],
                "name": t("orders"),
                "marker": {"color": NEUTRAL},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [m["month"] for m in months],
                "y": [m["revenue"] for m in months],
                "name": t("revenue"),
                "yaxis": "y2",
                "line": {"color": ACCENT},
            },
        ],
        "layout": {
            "title": {"text": t("fig_months")},
            "yaxis": {"title": {"text": t("orders")}},
            "yaxis2": {"title": {"text": t("revenue")}, "overlaying": "y", "side": "right"},
            "xaxis": {"type": "category", "automargin": True},
            "margin": {"l": 60, "r": 70, "t": 70, "b": 60},
            "legend": {"orientation": "h", "y": 1.12, "x": 0},
        },
    }
    return figs


def k_figures(sel: dict[str, Any] | None, lang: str) -> dict[str, Figure]:
    """Inertia (knee marked) and the three quality indices against k, chosen k highlighted."""
    if sel is None:
        return {}
    t = translator(lang)
    ks, chosen, knee = sel["ks"], sel["chosen"], sel["knee"]
    figs: dict[str, Figure] = {}
    for key, better in (
        ("inertia", "lower_better"),
        ("silhouette", "higher_better"),
        ("calinski_harabasz", "higher_better"),
        ("davies_bouldin", "lower_better"),
    ):
        ys = sel[key]
        data: list[dict[str, Any]] = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": ks,
                "y": ys,
                "name": t(key),
                "line": {"color": NEUTRAL},
            }
        ]
        if chosen in ks:
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": [chosen],
                    "y": [ys[ks.index(chosen)]],
                    "name": t("chosen_k"),
                    "marker": {"color": ACCENT, "size": 14, "symbol": "star"},
                }
            )
        annotations = []
        if key == "inertia" and knee is not None and knee in ks:
            annotations.append(
                {
                    "x": knee,
                    "y": ys[ks.index(knee)],
                    "text": t("knee"),
                    "showarrow": True,
                    "arrowhead": 2,
                    "ax": 40,
                    "ay": -40,
                }
            )
        figs[f"fig-k-{key}"] = {
            "data": data,
            "layout": {
                "title": {"text": f"{t(key)} ({t(better)})"},
                "xaxis": {"title": {"text": "k"}, "dtick": 1},
                "showlegend": False,
                "annotations": annotations,
                "shapes": [
                    {
                        "type": "line",
                        "x0": chosen,
                        "x1": chosen,
                        "yref": "paper",
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": ACCENT, "dash": "dot"},
                    }
                ],
            },
        }
    return figs
