"""Plotly figures of the segments: silhouette plot, maps, side-by-side comparisons.

Input is the dict of :func:`custseg.report.data.prepare`; output maps a figure id (the div id
in the page) to a plain ``{"data", "layout"}`` dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from custseg import i18n
from custseg.explain.labels import readable
from custseg.explain.labels import value as plain
from custseg.report import formats
from custseg.report.figures import ACCENT, NEUTRAL, Figure, colour, translator


def feature_label(feature: str, lang: str) -> str:
    """Display name of a feature (its own name when not catalogued)."""
    labels: dict[str, str] = i18n.catalog(lang).get("features", {})
    text = labels.get(feature) or readable(feature, lang)
    return text[:1].upper() + text[1:]


def _scatter(p: dict[str, Any], idx: np.ndarray, xy: np.ndarray) -> list[dict[str, Any]]:
    labels = p["labels"][idx]
    out = []
    for s in p["segments"]:
        m = labels == s
        if not m.any():
            continue
        out.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": xy[m, 0],
                "y": xy[m, 1],
                "name": p["names"][s],
                "marker": {"color": colour(s), "size": 4, "opacity": 0.6},
                "hoverinfo": "name",
            }
        )
    return out


def map_figures(p: dict[str, Any]) -> dict[str, Figure]:
    """Silhouette plot, PCA map, t-SNE map and PCA loadings."""
    t = translator(p["lang"])
    figs: dict[str, Figure] = {}
    sil = p["silhouette"]
    if sil is not None:
        labels = p["labels"][p["sil_idx"]]
        traces, pos = [], 0
        for s in p["segments"]:
            vals = np.sort(sil[labels == s])[::-1]
            if not len(vals):
                continue
            ys = np.arange(pos, pos + len(vals))
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": np.concatenate([[0.0], vals, [0.0]]),
                    "y": np.concatenate([[ys[0]], ys, [ys[-1]]]),
                    "fill": "toself",
                    "name": p["names"][s],
                    "line": {"color": colour(s), "width": 0.5},
                    "hoverinfo": "name",
                }
            )
            pos += len(vals) + max(5, len(sil) // 100)
        mean = float(np.mean(sil))
        figs["fig-silhouette"] = {
            "data": traces,
            "layout": {
                "title": {
                    "text": t("fig_silhouette_title", k=p["k"])
                    + " ("
                    + i18n.plural(p["lang"], "sample_of", len(sil))
                    + ")"
                },
                "xaxis": {"title": {"text": t("silhouette")}, "range": [-0.3, 1]},
                "yaxis": {"showticklabels": False, "title": {"text": t("customers")}},
                "shapes": [
                    {
                        "type": "line",
                        "x0": mean,
                        "x1": mean,
                        "yref": "paper",
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": ACCENT, "dash": "dash"},
                    }
                ],
                "annotations": [
                    {
                        "x": mean,
                        "y": 1,
                        "yref": "paper",
                        "text": t("mean") + " " + i18n.number(mean, p["lang"], 3),
                        "showarrow": False,
                        "xanchor": "left",
                        "yanchor": "bottom",
                    }
                ],
            },
        }
    ev = p["explained"]
    axis = [t("pc_axis").format(i=i + 1, pct=f"{100 * float(v):.1f}") for i, v in enumerate(ev)]
    proj = p["proj"]  # the projection of the sample's rows
    if proj.shape[1] >= 2:
        data = _scatter(p, p["sample"], proj)
        cen = (np.asarray(p["centers"]) - p["proj_mean"]) @ p["components"].T
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": cen[:, 0],
                "y": cen[:, 1],
                "text": [p["names"][s] for s in p["segments"]],
                "hoverinfo": "text",
                "name": t("centroids"),
                "marker": {
                    "symbol": "x",
                    "size": 13,
                    "color": [colour(s) for s in p["segments"]],
                    "line": {"width": 1.5, "color": "#102a43"},
                },
            }
        )
        figs["fig-pca"] = {
            "data": data,
            "layout": {
                "title": {
                    "text": t("fig_pca_title")
                    + " ("
                    + (
                        i18n.plural(p["lang"], "customers", p["n"])
                        if len(p["sample"]) == p["n"]
                        else i18n.plural(
                            p["lang"],
                            "sample_of_total",
                            len(p["sample"]),
                            total=i18n.number(p["n"], p["lang"]),
                        )
                    )
                    + ")"
                },
                "xaxis": {"title": {"text": axis[0]}},
                "yaxis": {"title": {"text": axis[1]}},
            },
        }
        figs["fig-loadings"] = {
            "data": [
                {
                    "type": "bar",
                    "x": [feature_label(f, p["lang"]) for f in p["features"]],
                    "y": p["components"][i],
                    "name": axis[i],
                    "marker": {"color": (NEUTRAL, ACCENT)[i]},
                }
                for i in range(2)
            ],
            "layout": {
                "title": {"text": t("fig_loadings")},
                "barmode": "group",
                "yaxis": {"title": {"text": t("loading")}},
                "xaxis": {"automargin": True, "tickangle": -90 if len(p["features"]) > 4 else 0},
                "height": 520 if len(p["features"]) > 4 else 380,
            },
        }
    if p["tsne"] is not None:
        figs["fig-tsne"] = {
            "data": _scatter(p, p["tsne_idx"], p["tsne"]),
            "layout": {
                "title": {
                    "text": t("fig_tsne_title")
                    + " ("
                    + i18n.plural(p["lang"], "sample_of", len(p["tsne_idx"]))
                    + ")"
                },
                "xaxis": {"showticklabels": False, "zeroline": False},
                "yaxis": {"showticklabels": False, "zeroline": False},
            },
        }
    return figs


def _cell(name: str, count: int, lang: str) -> str:
    """An R × F cell's text: its name a word or two per line, then its count."""
    lines: list[str] = []
    for word in name.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= 11:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join([*lines, f"n = {i18n.number(count, lang)}"])


def compare_figures(p: dict[str, Any], currency: str = "") -> dict[str, Figure]:
    """Sizes and revenue, snake plot, R/F/M boxplots, R×F heatmap, bubble chart."""
    lang = p["lang"]
    t = translator(lang)

    def cur(label: str) -> str:
        return formats.with_currency(label, lang, currency)

    segs = p["segments"]
    names = [f"{s}. {p['names'][s]}" for s in segs]
    many = len(p["snake_features"]) > 4
    cards = {c["segment"]: c for c in p["cards"]}
    bars = [
        {
            "type": "bar",
            "orientation": "h",
            "y": names,
            "x": [100 * cards[s]["share_customers"] for s in segs],
            "name": t("share_customers_long"),
            "marker": {"color": NEUTRAL},
        }
    ]
    if all(cards[s]["share_revenue"] is not None for s in segs):
        bars.append(
            {
                "type": "bar",
                "orientation": "h",
                "y": names,
                "x": [100 * cards[s]["share_revenue"] for s in segs],
                "name": t("share_revenue_long")
                if p.get("kind") == "transactions"
                else t("col_spend_share", value=feature_label("total_spend", lang).lower()),
                "marker": {"color": ACCENT},
            }
        )
    figs: dict[str, Figure] = {
        "fig-sizes": {
            "data": bars,
            "layout": {
                "title": {"text": t("fig_sizes")},
                "barmode": "group",
                "xaxis": {"ticksuffix": " %", "rangemode": "tozero"},
                "yaxis": {"automargin": True, "autorange": "reversed"},
                "legend": {"orientation": "h", "x": 0, "y": -0.18, "yanchor": "top"},
                "margin": {"l": 60, "r": 30, "t": 50, "b": 80},
            },
        },
        "fig-snake": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": [feature_label(f, lang) for f in p["snake_features"]],
                    "y": p["snake"][s],
                    "name": f"{s}. {p['names'][s]}",
                    "line": {"color": colour(s)},
                }
                for s in segs
            ],
            "layout": {
                "title": {"text": t("fig_snake")},
                "yaxis": {"title": {"text": t("standardised_mean")}, "zeroline": True},
                "xaxis": {"automargin": True, "tickangle": -90 if many else 0},
                "height": 520 if many else 380,
            },
        },
    }
    for i, (col, cat) in enumerate(p.get("categories", {}).items(), start=1):
        rows = [*cat["shares"]]
        labels = [f"{s}. {p['names'][s]}" for s in rows] + [t("all_customers")]
        figs[f"fig-cat-{i}"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": labels,
                    "x": [100 * cat["shares"][s][j] for s in rows] + [100 * cat["base"][j]],
                    "name": plain(value, lang),
                    "hovertemplate": "%{y}<br>"
                    + plain(value, lang)
                    + ": %{x:.1f} %<extra></extra>",
                }
                for j, value in enumerate(cat["values"])
            ],
            "layout": {
                "title": {"text": t("fig_categories", column=feature_label(col, lang))},
                "barmode": "stack",
                "xaxis": {"title": {"text": "%"}, "range": [0, 100]},
                "yaxis": {"automargin": True, "autorange": "reversed"},
            },
        }
    for col, boxes in p["boxes"].items():
        positive = all(b["lowerfence"] > 0 for b in boxes.values())
        log = positive and col != "recency_days"
        label = feature_label(col, lang)
        axis = cur(label) if col == "monetary" else label
        figs[f"fig-box-{col}"] = {
            "data": [
                {
                    "type": "box",
                    "orientation": "h",
                    "y": [f"{s}. {p['names'][s]}"],
                    "name": f"{s}. {p['names'][s]}",
                    **{k: [v] for k, v in b.items()},
                    "marker": {"color": colour(s)},
                }
                for s, b in boxes.items()
            ],
            "layout": {
                "title": {"text": t("fig_box").format(feature=label)},
                "showlegend": False,
                "xaxis": {
                    "type": "log" if log else "linear",
                    "title": {"text": t("log_axis", title=axis) if log else axis},
                    **({"dtick": 1} if log else {"rangemode": "tozero"}),
                },
                "yaxis": {"automargin": True, "autorange": "reversed"},
            },
        }
    grid = p["rf_grid"]
    if grid is not None:
        text = [
            [
                _cell(
                    i18n.segment_text(lang, grid["slug"][r][f])["name"], grid["count"][r][f], lang
                )
                for f in range(5)
            ]
            for r in range(5)
        ]
        figs["fig-rf-heatmap"] = {
            "data": [
                {
                    "type": "heatmap",
                    "x": [1, 2, 3, 4, 5],
                    "y": [1, 2, 3, 4, 5],
                    "z": grid["mean"],
                    "text": text,
                    "texttemplate": "%{text}",
                    "textfont": {"size": 10},
                    "xgap": 1,
                    "ygap": 1,
                    "hovertemplate": "R %{y} F %{x}<br>%{text}<br>"
                    + t("mean_monetary")
                    + " %{z:,.0f}<extra></extra>",
                    "colorscale": "YlGnBu",
                    "colorbar": {"title": {"text": cur(t("mean_monetary")), "side": "right"}},
                }
            ],
            "layout": {
                "title": {"text": t("fig_rf_heatmap")},
                "xaxis": {"title": {"text": t("f_score")}, "dtick": 1},
                "yaxis": {"title": {"text": t("r_score")}, "dtick": 1},
                "height": 520,
            },
        }
    bub = p["bubbles"]
    if bub is not None:
        rec = [bub[s]["recency_days"] for s in bub]
        biggest = max(max(rec), 1e-9)
        figs["fig-bubble"] = {
            "data": [
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": [bub[s]["frequency"]],
                    "y": [bub[s]["monetary"]],
                    "name": f"{s}. {p['names'][s]}",
                    "customdata": [bub[s]["recency_days"]],
                    "hovertemplate": p["names"][s]
                    + "<br>"
                    + t("frequency_short")
                    + " %{x:.1f}<br>"
                    + t("monetary_short")
                    + " %{y:,.0f}<br>"
                    + t("recency_short")
                    + " %{customdata:.0f}<extra></extra>",
                    "marker": {
                        "size": [bub[s]["recency_days"]],
                        "sizemode": "area",
                        "sizeref": 2.0 * biggest / 60.0**2,
                        "sizemin": 4,
                        "color": colour(s),
                        "opacity": 0.7,
                        "line": {"width": 1, "color": "#102a43"},
                    },
                }
                for s in bub
            ],
            "layout": {
                "title": {"text": t("fig_bubble")},
                "xaxis": {"title": {"text": t("mean_frequency")}},
                "yaxis": {"title": {"text": cur(t("mean_monetary"))}},
                "showlegend": True,
                "legend": {"itemsizing": "constant"},
            },
        }
    return figs
