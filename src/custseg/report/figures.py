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
from custseg.report import formats

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


def distribution_figure(
    dist: dict[str, Any], title: str, t: Callable[..., str], axis: str | None = None
) -> Figure:
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
                "title": {"text": t("log_axis", title=axis or title)},
            },
            "yaxis": {"domain": [0.3, 1], "title": {"text": t("lines")}},
            "yaxis2": {"domain": [0, 0.2], "showticklabels": False},
        },
    }


def quality_figures(
    audit: dict[str, Any], exploration: dict[str, Any] | None, lang: str, currency: str = ""
) -> dict[str, Figure]:
    """Figures of the data-quality section (money axes labelled with ``currency``)."""
    t = translator(lang)

    def cur(label: str) -> str:
        return formats.with_currency(label, lang, currency)

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
                + cur(t("money"))
                + " %{customdata:,.2f})<extra></extra>",
                "marker": {"color": ACCENT},
            }
        ],
        "layout": {
            "title": {"text": t("fig_ledger")},
            "xaxis": {"title": {"text": t("rows_dropped")}, "rangemode": "tozero"},
            "yaxis": {"automargin": True},
        },
    }
    if exploration is None:
        return figs
    for name, dist in exploration["distributions"].items():
        if dist is not None and dist["histogram"]:
            title = t(f"dist_{name}")
            axis = cur(title) if name in ("price", "order_value") else title
            figs[f"fig-dist-{name}"] = distribution_figure(dist, title, t, axis)
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
                    + cur(t("revenue"))
                    + " %{customdata:,.0f})<extra></extra>",
                    "marker": {"color": NEUTRAL},
                }
            ],
            "layout": {
                "title": {"text": t("fig_countries")},
                "xaxis": {
                    "title": {"text": t("log_axis", title=t("customers"))},
                    "type": "log",
                    "dtick": 1,
                },
                "yaxis": {"automargin": True},
            },
        }
    months = exploration["months"]
    period: dict[str, Any] = audit["period"] if isinstance(audit.get("period"), dict) else {}
    partial = formats.partial_last_month(months, period.get("last"))
    labels = formats.month_ticks([m["month"] for m in months], lang)
    annotations = []
    if partial is not None:
        days = i18n.plural(lang, "days", partial)
        labels[-1] += "*"
        annotations.append(
            {
                "x": labels[-1],
                "y": 0,
                "yref": "paper",
                "yanchor": "bottom",
                "text": t("partial_period", days=days),
                "showarrow": False,
                "textangle": -90,
                "xanchor": "center",
                "font": {"size": 10, "color": "#334e68"},
            }
        )
    opacity = [
        0.4 if partial is not None and i == len(months) - 1 else 1.0 for i in range(len(months))
    ]
    figs["fig-months"] = {
        "data": [
            {
                "type": "bar",
                "x": labels,
                "y": [m["orders"] for m in months],
                "name": t("orders"),
                "marker": {"color": NEUTRAL, "opacity": opacity},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": labels,
                "y": [m["revenue"] for m in months],
                "name": cur(t("revenue")),
                "yaxis": "y2",
                "line": {"color": ACCENT},
            },
        ],
        "layout": {
            "title": {"text": t("fig_months")},
            "yaxis": {"title": {"text": t("orders")}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": cur(t("revenue"))},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "tickformat": "~s",
                "showgrid": False,
            },
            "xaxis": {"type": "category", "automargin": True},
            "margin": {"l": 60, "r": 80, "t": 50, "b": 60},
            "legend": {"orientation": "h", "x": 0, "y": -0.25, "yanchor": "top"},
            "annotations": annotations,
        },
    }
    return figs


def chosen_star(k: int, y: Any, name: str) -> dict[str, Any]:
    """The star that marks the chosen k on a curve against k."""
    return {
        "type": "scatter",
        "mode": "markers",
        "x": [k],
        "y": [y],
        "name": name,
        "marker": {"color": ACCENT, "size": 14, "symbol": "star"},
    }


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
            data.append(chosen_star(chosen, ys[ks.index(chosen)], t("chosen_k")))
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


def _wrap(text: str, width: int) -> list[str]:
    """Words of ``text`` in lines of at most ``width`` characters (a longer word stays whole)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


#: characters of a title line: figures in a narrow grid cell, and the others
TITLE_CHARS = {"narrow": 44, "wide": 64}
TITLE_SIZE = 15


def fit_titles(figures: dict[str, Figure], narrow: frozenset[str]) -> dict[str, Figure]:
    """Wrap every figure's title to its width and give it the top margin it needs.

    A long title (French ones are) would run off a narrow figure: it is broken between
    words, and the plot pushed down by one line per extra line so legends and annotations
    above the plot never sit on it.
    """
    for fid, fig in figures.items():
        layout = fig["layout"]
        title = layout.get("title", {}).get("text")
        if not title:
            continue
        lines = _wrap(str(title), TITLE_CHARS["narrow" if fid in narrow else "wide"])
        layout["title"] = {
            "text": "<br>".join(lines),
            "font": {"size": TITLE_SIZE},
            "x": 0.02,
            "xanchor": "left",
            "y": 0.98,
            "yanchor": "top",
            "yref": "container",
        }
        margin = {"l": 60, "r": 30, "t": 50, "b": 50, **layout.get("margin", {})}
        margin["t"] = max(margin["t"], 30 + 20 * len(lines))
        layout["margin"] = margin
    return figures
