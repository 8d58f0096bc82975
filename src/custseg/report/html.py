"""A self-contained HTML page of a run: no script, style or font is fetched from anywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jinja2

from custseg import i18n

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationResult


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("custseg.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _k_rows(result: SegmentationResult) -> list[dict[str, Any]]:
    sel = result.model.selection_
    if sel is None:
        return []
    return [
        {
            "k": k,
            "inertia": sel.inertia[i],
            "silhouette": sel.silhouette[i],
            "ch": sel.calinski_harabasz[i],
            "db": sel.davies_bouldin[i],
            "chosen": k == sel.chosen,
            "knee": k == sel.knee,
        }
        for i, k in enumerate(sel.ks)
    ]


def render_html(result: SegmentationResult) -> str:
    """The report page of a run, in the run's language."""
    lang = result.lang
    ledger = result.ledger
    dropped = [
        {"reason": i18n.reason(lang, r), "rows": n, "money": ledger.money["dropped_by_reason"][r]}
        for r, n in ledger.dropped.items()
        if n
    ]
    return (
        _env()
        .get_template("report.html")
        .render(
            lang=lang,
            t=lambda key, **kw: i18n.t(lang, key, **kw),
            ledger=ledger,
            dropped=dropped,
            flagged=ledger.flagged,
            verdict=result.verdict,
            k_rows=_k_rows(result),
            profiles=result.profiles.to_dict(orient="records"),
            fingerprint=result.fingerprint,
            model=result.model.to_dict(),
        )
    )
