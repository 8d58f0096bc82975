"""The summary of a result as HTML for Jupyter (``SegmentationResult._repr_html_``).

Built from the result's profiles and ledger only (no map, no t-SNE): it is shown each time a
notebook cell ends with a result, so it must be quick. Same content as the report's
``id="summary"`` block.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from custseg import pipeline
from custseg.explain.actions import actions_for
from custseg.report import formats
from custseg.report.summary import summary

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationResult


def _cards(result: SegmentationResult) -> list[dict[str, Any]]:
    prof = result.profiles
    lang = result.lang
    cards = []
    for _, row in prof.iterrows():
        s = int(row["segment"])
        share = row.get("share_revenue")
        cards.append(
            {
                "segment": s,
                "name": str(row["segment_name"]),
                "description": str(row.get("description", "") or ""),
                "customers": int(row["customers"]),
                "share_customers": float(row["share_customers"]),
                "share_revenue": float(share) if share is not None and share == share else None,
                "actions": actions_for(result.segment_slugs.get(s, ""))["actions"][lang],
            }
        )
    return cards


def summary_html(result: SegmentationResult) -> str:
    """The one-screen summary of ``result`` as an HTML fragment (segments, sizes, actions)."""
    from custseg.report.html import _context, _env

    ledger = json.loads(json.dumps(result.ledger.to_dict(), default=str))
    doc = {"as_of": result.ledger.as_of}
    p = {
        "lang": result.lang,
        "kind": result.kind,
        "n": result.population.customers if result.population else len(result.segments),
        "k": int(result.model.k_),
        "audit": ledger,
        "doc": doc,
        "cards": _cards(result),
    }
    currency = formats.detect_currency(doc, result.exploration)
    return (
        _env()
        .get_template("notebook.html")
        .render(
            **_context(result.lang, currency),
            summary=summary(p, currency, result.changes),
            verdict=result.verdict,
        )
    )


def register() -> None:
    """Make results display their summary in Jupyter (see :data:`custseg.pipeline.html_summary`)."""
    pipeline.html_summary = summary_html
