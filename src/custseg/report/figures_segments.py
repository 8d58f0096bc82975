"""Plotly figures of the segments: silhouette plot, maps, side-by-side comparisons.

Input is the dict of :func:`custseg.report.data.prepare`; output maps a figure id (the div id
in the page) to a plain ``{"data", "layout"}`` dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from custseg import i18n
from custseg.report.figures import ACCENT, NEUTRAL, Figure, colour, translator


def feature_label(feature: str, lang: str) -> str:
    """Display name of a feature (its own name when not catalogued)."""
    labels: dict[str, str] = i18n.catalog(lang).get("features", {})
    return labels.get(feature, feature)


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
                "title": {"text": t("fig_silhouette").format(k=p["k"], n=len(sil))},
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
                        "text": t("mean") + f" {mean:.3f}",
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
                "mode": "markers+text",
                "x": cen[:, 0],
                "y": cen[:, 1],
                "text": [p["names"][s] for s in p["segments"]],
                "textposition": "top center",
                "name": t("centroids"),
                "marker": {"symbol": "x", "size": 12, "color": "#102a43"},
            }
        )
        figs["fig-pca"] = {
            "data": data,
            "layout": {
                "title": {"text": t("fig_pca").format(n=len(p["sample"]), total=p["n"])},
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
                "legend": {"orientation": "h", "y": -0.2},
            },
        }
    if p["tsne"] is not None:
        figs["fig-tsne"] = {
            "data": _scatter(p, p["tsne_idx"], p["tsne"]),
            "layout": {
                "title": {"text": t("fig_tsne").format(n=len(p["tsne_idx"]))},
                "xaxis": {"showticklabels": False, "zeroline": False},
                "yaxis": {"showticklabels": False, "zeroline": False},
            },
        }
    return figs


def compare_figures(p: dict[str, Any]) -> dict[str, Figure]:
    """Sizes and revenue, snake plot, R/F/M boxplots, R×F heatmap, bubble chart."""
    lang = p["lang"]
    t = translator(lang)
    segs = p["segments"]
    names = [p["names"][s] for s in segs]
    cards = {c["segment"]: c for c in p["cards"]}
    bars = [
        {
            "type": "bar",
            "x": names,
            "y": [100 * cards[s]["share_customers"] for s in segs],
            "name": t("share_customers_long"),
            "marker": {"color": NEUTRAL},
        }
    ]
    if all(cards[s]["share_revenue"] is not None for s in segs):
        bars.append(
            {
                "type": "bar",
                "x": names,
                "y": [100 * cards[s]["share_revenue"] for s in segs],
                "name": t("share_revenue_long"),
                "marker": {"color": ACCENT},
            }
        )
    figs: dict[str, Figure] = {
        "fig-sizes": {
            "data": bars,
            "layout": {
                "title": {"text": t("fig_sizes")},
                "barmode": "group",
                "yaxis": {"title": {"text": "%"}},
                "legend": {"orientation": "h", "y": -0.2},
            },
        },
        "fig-snake": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": [feature_label(f, lang) for f in p["snake_features"]],
                    "y": p["snake"][s],
                    "name": p["names"][s],
                    "line": {"color": colour(s)},
                }
                for s in segs
            ],
            "layout": {
                "title": {"text": t("fig_snake")},
                "yaxis": {"title": {"text": t("standardised_mean")}, "zeroline": True},
                "xaxis": {"automargin": True},
                "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
            },
        },
    }
    for i, (col, cat) in enumerate(p.get("categories", {}).items(), start=1):
        rows = [*cat["shares"]]
        labels = [p["names"][s] for s in rows] + [t("all_customers")]
        figs[f"fig-cat-{i}"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": labels,
                    "x": [100 * cat["shares"][s][j] for s in rows] + [100 * cat["base"][j]],
                    "name": str(value),
                    "hovertemplate": "%{y}<br>" + str(value) + ": %{x:.1f} %<extra></extra>",
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
        figs[f"fig-box-{col}"] = {
            "data": [
                {
                    "type": "box",
                    "x": [p["names"][s]],
                    "name": p["names"][s],
                    **{k: [v] for k, v in b.items()},
                    "marker": {"color": colour(s)},
                }
                for s, b in boxes.items()
            ],
            "layout": {
                "title": {"text": t("fig_box").format(feature=feature_label(col, lang))},
                "showlegend": False,
                "yaxis": {"type": "log" if positive and col != "recency_days" else "linear"},
            },
        }
    grid = p["rf_grid"]
    if grid is not None:
        text = [
            [
                f"{i18n.segment_text(lang, grid['slug'][r][f])['name']}<br>n = {grid['count'][r][f]}"
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
                    "hovertemplate": "R %{y} F %{x}<br>%{text}<br>"
                    + t("mean_monetary")
                    + " %{z:,.0f}<extra></extra>",
                    "colorscale": "YlGnBu",
                    "colorbar": {"title": {"text": t("mean_monetary")}},
                }
            ],
            "layout": {
                "title": {"text": t("fig_rf_heatmap")},
                "xaxis": {"title": {"text": t("f_score")}, "dtick": 1},
                "yaxis": {"title": {"text": t("r_score")}, "dtick": 1},
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
                    "mode": "markers+text",
                    "x": [bub[s]["frequency"]],
                    "y": [bub[s]["monetary"]],
                    "text": [p["names"][s]],
                    "textposition": "top center",
                    "name": p["names"][s],
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
                    },
                }
                for s in bub
            ],
            "layout": {
                "title": {"text": t("fig_bubble")},
                "xaxis": {"title": {"text": t("mean_frequency")}},
                "yaxis": {"title": {"text": t("mean_monetary")}},
                "showlegend": False,
            },
        }
    return figs
