"""The report's views of a k that holds and of segments as rules.

selection (``model.json``) → stability against k (a figure); rules (``model.json`` → ``rules``,
see :mod:`custseg.explain.rules`) → one row per segment in the page's language, with the
rules' fidelity, price of explainability and SQL.
"""

from __future__ import annotations

from typing import Any

from custseg import i18n
from custseg.explain.rules import SegmentRules
from custseg.model.selection import STABLE
from custseg.report.figures import ACCENT, NEUTRAL, Figure, chosen_star, translator


def stability_figures(sel: dict[str, Any] | None, lang: str) -> dict[str, Figure]:
    """Stability (mean pairwise ARI across samples of the customers) against k, with the
    threshold from which segments hold and the chosen k marked."""
    if sel is None or not sel.get("stability") or len(sel["stability"]) != len(sel["ks"]):
        return {}
    t = translator(lang)
    ks, chosen = sel["ks"], sel["chosen"]
    ys = sel["stability"]
    threshold = (sel.get("reason") or {}).get("threshold", STABLE)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": ks,
            "y": ys,
            "name": t("stability"),
            "line": {"color": NEUTRAL},
        }
    ]
    if chosen in ks and ys[ks.index(chosen)] is not None:
        data.append(chosen_star(chosen, ys[ks.index(chosen)], t("chosen_k")))
    return {
        "fig-k-stability": {
            "data": data,
            "layout": {
                "title": {"text": f"{t('stability')} ({t('higher_better')})"},
                "xaxis": {"title": {"text": "k"}, "dtick": 1},
                "yaxis": {
                    "title": {"text": "ARI"},
                    "range": [min(0.0, *[y for y in ys if y is not None]), 1.02],
                },
                "showlegend": False,
                "shapes": [
                    {
                        "type": "line",
                        "xref": "paper",
                        "x0": 0,
                        "x1": 1,
                        "y0": threshold,
                        "y1": threshold,
                        "line": {"color": ACCENT, "dash": "dot", "width": 1},
                    }
                ],
                "annotations": [
                    {
                        "xref": "paper",
                        "x": 1,
                        "y": threshold,
                        "xanchor": "right",
                        "yanchor": "bottom",
                        "text": t("stability_holds", threshold=i18n.number(threshold, lang, 2)),
                        "showarrow": False,
                    }
                ],
            },
        }
    }


def rules_view(doc: dict[str, Any], names: dict[int, str], lang: str) -> dict[str, Any] | None:
    """What the rules section shows (``None`` for a run saved without rules)."""
    saved = doc.get("rules")
    if not saved:
        return None
    rules = SegmentRules.from_dict(saved)
    table = rules.table(names, lang)
    return {
        "fidelity": rules.fidelity,
        "price": rules.price,
        "method": rules.method,
        "rows": [
            {key: (None if isinstance(v, float) and v != v else v) for key, v in row.items()}
            for row in table.to_dict(orient="records")
        ],
        "sql": rules.sql(names),
    }
