"""The page of ``custseg track``: ARI against Δ, shares and centroid drift over time, migrations.

:class:`~custseg.lifecycle.track.TrackResult` → Plotly figures (inline, offline, as in the
main report) → ``track_page.html``. Same result, same bytes.
"""

from __future__ import annotations

from typing import Any

from custseg import i18n
from custseg.lifecycle.compare import Migration
from custseg.lifecycle.track import FRESH_FITS, TrackResult
from custseg.report.figures import colour
from custseg.report.html import _context, _env, to_json


def sankey(
    steps: list[tuple[str, dict[int, str]]],
    moves: list[Migration],
    title: str,
    tint: dict[int, dict[int, int]] | None = None,
) -> dict[str, Any]:
    """A Sankey diagram of customers through successive labellings.

    ``steps`` gives each column's label and segment names; ``moves[i]`` the migration from
    column ``i`` to column ``i + 1``. Nodes are (column, segment); links the customers. A node
    takes its segment's colour, or that of ``tint[column][segment]`` (e.g. the segment it was
    matched to).
    """
    tint = tint or {}
    index: dict[tuple[int, int], int] = {}
    labels: list[str] = []
    hover: list[str] = []
    colours: list[str] = []
    xs: list[float] = []
    last = len(steps) - 1
    for c, (label, names) in enumerate(steps):
        for s, name in names.items():
            index[(c, s)] = len(labels)
            labels.append(name if c in (0, last) else "")
            hover.append(f"{name} · {label}")
            colours.append(colour(tint.get(c, {}).get(s, s)))
            xs.append(0.001 + 0.998 * c / max(last, 1))
    source: list[int] = []
    target: list[int] = []
    value: list[int] = []
    link_colours: list[str] = []
    for c, move in enumerate(moves):
        for a in move.counts.index:
            for b in move.counts.columns:
                n = int(move.counts.at[a, b])
                if n:
                    source.append(index[(c, int(a))])
                    target.append(index[(c + 1, int(b))])
                    value.append(n)
                    link_colours.append(colour(int(a)) + "66")
    return {
        "data": [
            {
                "type": "sankey",
                "arrangement": "snap",
                "node": {
                    "label": labels,
                    "customdata": hover,
                    "hovertemplate": "%{customdata}: %{value}<extra></extra>",
                    "color": colours,
                    "pad": 12,
                    "thickness": 14,
                    "x": xs,
                },
                "link": {"source": source, "target": target, "value": value, "color": link_colours},
            }
        ],
        "layout": {
            "title": {"text": title},
            "height": 480,
            "margin": {"l": 20, "r": 20, "t": 80, "b": 30},
            "annotations": [
                {
                    "text": label,
                    "x": c / max(last, 1),
                    "y": 1.06,
                    "xref": "paper",
                    "yref": "paper",
                    "showarrow": False,
                    "xanchor": "left" if c == 0 else "right" if c == last else "center",
                }
                for c, (label, _) in enumerate(steps)
            ],
        },
    }


def track_figures(result: TrackResult) -> dict[str, dict[str, Any]]:
    """Every figure of the track page, by element id."""
    lang = result.lang
    t = lambda key, **kw: i18n.t(lang, key, **kw)  # noqa: E731
    steps = result.steps
    deltas = steps["delta"].tolist()
    figures: dict[str, dict[str, Any]] = {
        "fig-track-ari": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": t("track_ari"),
                    "x": deltas,
                    "y": steps["ari"].tolist(),
                    "line": {"color": "#1b6ca8"},
                    "text": steps["as_of"].tolist(),
                    "hovertemplate": "%{x} (%{text})<br>ARI %{y:.3f}<extra></extra>",
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": t("track_noise"),
                    "x": deltas,
                    "y": steps["noise_floor"].tolist(),
                    "line": {"color": "#829ab1", "dash": "dot"},
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": t("threshold"),
                    "x": deltas,
                    "y": [result.threshold] * len(deltas),
                    "line": {"color": "#c0392b", "dash": "dash"},
                },
            ],
            "layout": {
                "title": {"text": t("fig_track_ari")},
                "xaxis": {"title": {"text": t("track_delta")}, "type": "category"},
                "yaxis": {"title": {"text": "ARI"}, "range": [min(0.0, steps["ari"].min()), 1.02]},
                "legend": {"orientation": "h", "y": -0.2},
            },
        },
        "fig-track-shares": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "stackgroup": "shares",
                    "name": f"{s}. {name}",
                    "x": steps["as_of"].tolist(),
                    "y": (steps[f"share_{s}"] * 100).tolist(),
                    "line": {"color": colour(s)},
                    "fillcolor": colour(s),
                    "hovertemplate": "%{x}: %{y:.1f} %<extra>" + name + "</extra>",
                }
                for s, name in result.names.items()
            ],
            "layout": {
                "title": {"text": t("fig_track_shares")},
                "yaxis": {"title": {"text": t("share_customers")}, "ticksuffix": " %"},
                "legend": {"orientation": "h", "y": -0.2},
            },
        },
        "fig-track-drift": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{s}. {name}",
                    "x": deltas,
                    "y": steps[f"drift_{s}"].tolist(),
                    "line": {"color": colour(s)},
                }
                for s, name in result.names.items()
            ],
            "layout": {
                "title": {"text": t("fig_track_drift")},
                "xaxis": {"title": {"text": t("track_delta")}, "type": "category"},
                "legend": {"orientation": "h", "y": -0.2},
            },
        },
    }
    if result.migrations:
        columns = [(str(d), result.names) for d in steps["as_of"]]
        figures["fig-track-sankey"] = sankey(columns, result.migrations, t("fig_track_sankey"))
    return figures


def render_track(result: TrackResult) -> str:
    """The track page (``track.html``) in the result's language."""
    lang = result.lang
    figures = track_figures(result)
    moves = [
        {
            "from": str(result.steps["as_of"].iloc[i]),
            "to": str(result.steps["as_of"].iloc[i + 1]),
            "common": m.common,
            "stayed": m.stayed(),
            "share": 100 * m.stayed() / m.common if m.common else 0.0,
            "appeared": len(m.appeared),
        }
        for i, m in enumerate(result.migrations)
    ]
    return (
        _env()
        .get_template("track_page.html")
        .render(
            **_context(lang),
            r=result,
            rows=result.steps.to_dict(orient="records"),
            moves=moves,
            fits=FRESH_FITS,
            figures=list(figures),
            figures_json=to_json(figures),
        )
    )
