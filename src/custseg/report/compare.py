"""The page of ``custseg compare``: the transition matrix, who appeared and left, a Sankey.

:class:`~custseg.lifecycle.compare.Comparison` → Plotly Sankey (inline, offline) →
``compare_page.html``.
"""

from __future__ import annotations

from custseg import i18n
from custseg.lifecycle.compare import BY_CENTROID, Comparison
from custseg.report.html import _context, _env, to_json
from custseg.report.track import sankey


def render_compare(comparison: Comparison) -> str:
    """The compare page (``compare.html``) in the comparison's language."""
    lang = comparison.lang
    m = comparison.migration
    figures = {
        "fig-compare-sankey": sankey(
            [(i18n.t(lang, "run_a"), m.names_before), (i18n.t(lang, "run_b"), m.names_after)],
            [m],
            i18n.t(lang, "fig_compare_sankey"),
            tint={1: m.matching.after_to_before},  # run B's segments in their match's colour
        )
    }
    return (
        _env()
        .get_template("compare_page.html")
        .render(
            **_context(lang),
            c=comparison,
            m=m,
            counts=m.counts,
            pct=m.row_percent(),
            by_centroid=m.matching.method == BY_CENTROID,
            figures=list(figures),
            figures_json=to_json(figures),
        )
    )
