"""The self-contained HTML report: one file, plotly.js and every figure inline, no network.

run (a :class:`~custseg.pipeline.SegmentationResult` or its folder) → :mod:`.data` →
:mod:`.figures` / :mod:`.figures_segments` → Jinja template → one HTML string. Same inputs give
the same bytes: figure ids are fixed, floats are rounded, nothing depends on the clock.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np

from custseg import i18n
from custseg.explain.methods import recommendation_sentence, run_verdict
from custseg.model.schema import SPLIT_RUN_FORMAT
from custseg.report import formats
from custseg.report.data import RunData, prepare
from custseg.report.explain_view import rules_view, stability_figures
from custseg.report.figures import colour, fit_titles, k_figures, quality_figures
from custseg.report.figures_segments import compare_figures, feature_label, map_figures
from custseg.report.lifecycle import split_context
from custseg.report.summary import ordered_cards, summary
from custseg.stages.quality import significant

if TYPE_CHECKING:
    from custseg.pipeline import Exploration, SegmentationResult

#: significant digits kept for the numbers inside figures
DIGITS = 4
#: the figures of each section (a figure absent from a run is skipped)
SECTIONS: dict[str, tuple[str, ...]] = {
    "data-quality": (
        "fig-ledger",
        "fig-dist-quantity",
        "fig-dist-price",
        "fig-dist-order_value",
        "fig-countries",
        "fig-months",
    ),
    "choosing-k": (
        "fig-k-inertia",
        "fig-k-silhouette",
        "fig-k-calinski_harabasz",
        "fig-k-davies_bouldin",
        "fig-silhouette",
        "fig-k-stability",
    ),
    "segment-map": ("fig-pca", "fig-tsne", "fig-loadings"),
    "segments-compared": (
        "fig-sizes",
        "fig-snake",
        "fig-box-recency_days",
        "fig-box-frequency",
        "fig-box-monetary",
        "fig-rf-heatmap",
        "fig-bubble",
    ),
    "segment-details": (),
    "method": (),
}
#: the page's sections in reading order: the summary first, data quality and method last.
#: Each is a partial template included by ``report.html``; a block added to the report is a
#: new partial listed here. The rules and the algorithms compared are shown only for a run
#: that has them (``model.json`` → ``rules``, ``compare.json``).
PAGE: tuple[tuple[str, str, str], ...] = (
    ("summary", "summary.html", "summary_h"),
    ("segment-details", "details.html", "details_title"),
    ("segment-rules", "rules.html", "rules_title"),
    ("segments-compared", "compare.html", "compare_title"),
    ("segment-map", "map.html", "map_title"),
    ("choosing-k", "k.html", "k_title"),
    ("algorithms-compared", "algorithms.html", "algos_title"),
    ("data-quality", "quality.html", "quality_title"),
    ("method", "method.html", "method_title"),
)
#: figures drawn three to a row (narrow): their titles are wrapped shorter
NARROW = frozenset(
    (
        "fig-dist-quantity",
        "fig-dist-price",
        "fig-dist-order_value",
        "fig-k-inertia",
        "fig-k-silhouette",
        "fig-k-calinski_harabasz",
        "fig-k-davies_bouldin",
        "fig-box-recency_days",
        "fig-box-frequency",
        "fig-box-monetary",
    )
)
#: the one-sentence caption under each figure (key of the message catalogue)
CAPTIONS: dict[str, str] = {
    "fig-ledger": "fig_caption_ledger",
    "fig-dist-quantity": "fig_caption_dist",
    "fig-dist-price": "fig_caption_dist",
    "fig-dist-order_value": "fig_caption_dist",
    "fig-countries": "fig_caption_countries",
    "fig-months": "fig_caption_months",
    "fig-k-inertia": "fig_caption_k",
    "fig-k-silhouette": "fig_caption_k",
    "fig-k-calinski_harabasz": "fig_caption_k",
    "fig-k-davies_bouldin": "fig_caption_k",
    "fig-silhouette": "fig_caption_silhouette",
    "fig-k-stability": "fig_caption_stability",
    "fig-pca": "fig_caption_pca",
    "fig-tsne": "fig_caption_tsne",
    "fig-loadings": "fig_caption_loadings",
    "fig-sizes": "fig_caption_sizes",
    "fig-snake": "fig_caption_snake",
    "fig-box-recency_days": "fig_caption_box",
    "fig-box-frequency": "fig_caption_box",
    "fig-box-monetary": "fig_caption_box",
    "fig-rf-heatmap": "fig_caption_rf",
    "fig-bubble": "fig_caption_bubble",
    "fig-lifecycle-sizes": "fig_caption_lifecycle_sizes",
}


def _round(x: float) -> float | int | None:
    if math.isfinite(x) and float(x).is_integer():
        return int(x) if abs(x) < 2**53 else float(x)
    return significant(x, DIGITS)


def _plain(obj: Any) -> Any:
    """numpy → Python, floats rounded to :data:`DIGITS` significant digits, NaN → null."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.ndim == 1 and obj.dtype.kind == "f":  # the bulk of the figures' numbers
            return [_round(v) for v in obj.tolist()]
        return _plain(obj.tolist())
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return _round(float(obj))
    return obj


def to_json(obj: Any) -> str:
    """Compact JSON safe inside a ``<script>`` element."""
    text = json.dumps(_plain(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


@cache
def plotly_js() -> str:
    """plotly.js, as shipped (minified) by the ``plotly`` package; embedded once per page."""
    try:
        bundle = resources.files("plotly").joinpath("package_data", "plotly.min.js")
        return bundle.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:  # pragma: no cover - a dependency
        raise ImportError("the report needs plotly: pip install 'plotly>=5.20'") from exc


def plotly_version() -> str:
    """The plotly.js version embedded in the page."""
    m = re.search(r"plotly\.js v([0-9][^\s*]*)", plotly_js()[:300])
    return m.group(1) if m else "?"


@cache
def _env() -> jinja2.Environment:
    """The templates' environment, made (and each template compiled) once per process."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("custseg.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    return env


def _page_settings(lang: str) -> dict[str, Any]:
    cat = i18n.catalog(lang)["plotly"]
    return {
        "layout": {
            "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
            "margin": {"l": 60, "r": 30, "t": 50, "b": 50},
            "separators": cat["separators"],
            "paper_bgcolor": "#ffffff",
            "plot_bgcolor": "#f7f9fb",
            "hovermode": "closest",
            "height": 380,
        },
        "config": {
            "displaylogo": False,
            "responsive": True,
            "locale": lang,
            "modeBarButtons": [["toImage", "resetScale2d"]],
        },
        "locale": {"moduleType": "locale", "name": lang, "dictionary": cat["dictionary"]},
    }


def _context(lang: str, currency: str = "") -> dict[str, Any]:
    return {
        "lang": lang,
        "t": lambda key, **kw: i18n.t(lang, key, **kw),
        "plural": lambda key, count, **kw: i18n.plural(lang, key, count, **kw),
        "date": lambda value: formats.date_text(value, lang),
        "money_label": lambda label: formats.with_currency(label, lang, currency),
        "currency": currency,
        "captions": {f: i18n.t(lang, key) for f, key in CAPTIONS.items()},
        "n": lambda value, decimals=0: (
            i18n.number(value, lang, decimals) if value is not None else "—"
        ),
        "reason": lambda key: i18n.reason(lang, key),
        "feature": lambda f: feature_label(f, lang),
        "plotly_js": plotly_js(),
        "settings": to_json(_page_settings(lang)),
    }


def _captions(figures: dict[str, Any], lang: str) -> dict[str, str]:
    """The caption of every figure drawn (category bars share one)."""
    out = {f: i18n.t(lang, key) for f, key in CAPTIONS.items() if f in figures}
    out |= {f: i18n.t(lang, "fig_caption_categories") for f in figures if f.startswith("fig-cat-")}
    return out


#: why a customer-table column was set aside (as the ledger says it) → catalogue key
SET_ASIDE = {
    "identifier": "cq_why_identifier",
    "outcome (profiled, not clustered)": "cq_why_outcome",
    "summed into an engineered variable": "cq_why_summed",
    "turned into age": "cq_why_age",
    "turned into seniority": "cq_why_seniority",
    "constant": "cq_why_constant",
}


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a ledger part may be odd)."""
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def customer_quality(audit: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The rows of a customer table's data-quality table, from its ledger (``audit.json``).

    Rows dropped, missing values filled, extreme values, rare categories grouped and columns
    set aside (identifiers, constants, outcomes…), each with its count; a part of the ledger
    that is absent or not of the expected shape is skipped.
    """

    def t(key: str, **kw: Any) -> str:
        return i18n.t(lang, key, **kw)

    def n(x: Any) -> str:
        if _count(x) is None:
            return str(x)
        digits = 0 if float(x).is_integer() or abs(x) >= 100 else 2
        return i18n.number(x, lang, digits)

    rows: list[dict[str, Any]] = []
    for reason, count in _mapping(audit.get("dropped")).items():
        if _count(count):
            rows.append(
                {
                    "what": t("cq_dropped"),
                    "column": i18n.reason(lang, str(reason)),
                    "count": count,
                    "detail": "",
                }
            )
    for col, imp in _mapping(audit.get("imputed")).items():
        imp = _mapping(imp)
        rows.append(
            {
                "what": t("cq_imputed"),
                "column": str(col),
                "count": _count(imp.get("rows")),
                "detail": t(
                    "cq_imputed_detail",
                    method=str(imp.get("method", "")),
                    value=n(imp.get("value")),
                ),
            }
        )
    policy = _mapping(audit.get("rules")).get("outliers")
    for col, out in _mapping(audit.get("outliers")).items():
        out = _mapping(out)
        values: list[Any] = out["values"] if isinstance(out.get("values"), list) else []
        detail = t(
            "cq_outliers_detail",
            low=n(out.get("low")),
            high=n(out.get("high")),
            values=", ".join(n(v) for v in values[:5]),
        )
        if policy in ("clip", "drop", "keep"):
            detail += "; " + t(f"cq_outliers_{policy}")
        rows.append(
            {
                "what": t("cq_outliers"),
                "column": str(col),
                "count": _count(out.get("rows")),
                "detail": detail,
            }
        )
    for col, grouped in _mapping(audit.get("grouped")).items():
        shown = ", ".join(map(str, grouped)) if isinstance(grouped, list) else str(grouped)
        rows.append(
            {
                "what": t("cq_grouped"),
                "column": str(col),
                "count": None,
                "detail": t("cq_grouped_detail", values=shown),
            }
        )
    by_reason: dict[str, list[str]] = {}
    for col, why in _mapping(audit.get("set_aside")).items():
        by_reason.setdefault(str(why), []).append(str(col))
    for why, cols in by_reason.items():
        key = SET_ASIDE.get(why)
        rows.append(
            {
                "what": t("cq_set_aside"),
                "column": ", ".join(cols),
                "count": None,
                "detail": t(key) if key else why,
            }
        )
    return rows


def render_run(run: RunData, lang: str | None = None) -> str:
    """The full report of a run (see :data:`PAGE`) in ``lang`` (default the run's).

    A run split by lifecycle (``--split lifecycle``) has its own page (:func:`render_split`).
    """
    if run.model_doc.get("format") == SPLIT_RUN_FORMAT:
        return render_split(run, lang)
    p = prepare(run, lang)
    lang = p["lang"]
    doc = p["doc"]
    currency = formats.detect_currency(doc, run.exploration)
    figures = quality_figures(run.audit, run.exploration, lang, currency)
    figures |= k_figures(p["selection"], lang)
    figures |= stability_figures(p["selection"], lang)
    figures |= map_figures(p)
    figures |= compare_figures(p, currency)
    figures = fit_titles(figures, NARROW)
    sections = {s: [f for f in ids if f in figures] for s, ids in SECTIONS.items()}
    # one bar chart per categorical column, after the fixed figures of the comparison
    sections["segments-categories"] = [f for f in figures if f.startswith("fig-cat-")]
    transactions = (
        run.exploration is not None
        and isinstance(run.audit.get("money"), dict)
        and "dropped_by_reason" in run.audit["money"]
    )
    rules = rules_view(doc, p["names"], lang)
    # a part whose content the run lacks is left out, with its entry in the contents
    shown = {"segment-rules": rules is not None, "algorithms-compared": bool(run.comparison)}
    parts = [
        (sid, "quality_customers.html" if sid == "data-quality" and not transactions else tpl, key)
        for sid, tpl, key in PAGE
        if shown.get(sid, True)
    ]
    verdict = _verdict(doc, p, lang)
    context = _context(lang, currency) | {"captions": _captions(figures, lang)}
    return (
        _env()
        .get_template("report.html")
        .render(
            **context,
            p=p,
            doc=doc,
            params=doc.get("model", {}).get("params", {}),
            versions={**doc.get("model", {}).get("versions", {}), "plotly.js": plotly_version()},
            audit=run.audit,
            exploration=run.exploration,
            sections=sections,
            colours={s: colour(s) for s in p["segments"]},
            figures_json=to_json(figures),
            verdict=verdict,
            summary=summary(p, currency, run.changes),
            cards=ordered_cards(p),
            nav=[
                (sid, i18n.t(lang, "cq_title" if tpl == "quality_customers.html" else key))
                for sid, tpl, key in parts
            ],
            parts=[tpl for _, tpl, _ in parts],
            period=_period(run.audit, lang),
            customer_quality=customer_quality(run.audit, lang) if not transactions else [],
            rules=rules,
            comparison=run.comparison,
            recommendation=recommendation_sentence(run.comparison, lang) if run.comparison else "",
        )
    )


def _period(audit: dict[str, Any], lang: str) -> str:
    """The data's period in words ("1 Dec 2010 → 9 Dec 2011"), or "" when unknown."""
    period: dict[str, Any] = audit["period"] if isinstance(audit.get("period"), dict) else {}
    if not (period.get("first") and period.get("last")):
        return ""
    return f"{formats.date_text(period['first'], lang)} → {formats.date_text(period['last'], lang)}"


def render_split(run: RunData, lang: str | None = None) -> str:
    """The report of a run split by lifecycle: both groups first, then data quality and method."""
    doc = run.model_doc
    lang = lang or str(doc.get("lang", "en"))
    lc = split_context(run, lang)
    currency = formats.detect_currency(doc, run.exploration)
    figures = quality_figures(run.audit, run.exploration, lang, currency) | lc["figures"]
    figures = fit_titles(figures, NARROW)
    first = doc["split"]["groups"][0]["model"]
    return (
        _env()
        .get_template("split_report.html")
        .render(
            **(_context(lang, currency) | {"captions": _captions(figures, lang)}),
            doc=doc,
            lc=lc,
            params=first.get("params", {}),
            versions={**first.get("versions", {}), "plotly.js": plotly_version()},
            audit=run.audit,
            exploration=run.exploration,
            sections={"data-quality": [f for f in SECTIONS["data-quality"] if f in figures]},
            figures_json=to_json(figures),
            period=_period(run.audit, lang),
        )
    )


def _verdict(doc: dict[str, Any], p: dict[str, Any], lang: str) -> str:
    """The run's verdict sentence, re-worded when the page is in another language."""
    if lang == doc.get("lang") or (
        p["selection"] is None and "scoring" not in doc.get("model", doc)
    ):
        return str(doc.get("verdict", ""))
    from custseg.model import persistence

    model = persistence.from_dict(doc.get("model", doc))
    return run_verdict(model, lang)


def render_html(result: SegmentationResult) -> str:
    """The report page of a fresh run, byte-identical to rebuilding it from the run's folder."""
    return render_run(RunData.from_result(result))


def render_dir(folder: str | Path, lang: str | None = None) -> str:
    """The report page of a run's folder, without the input and without re-fitting."""
    return render_run(RunData.from_dir(folder), lang)


def render_quality(exploration: Exploration, lang: str = "en") -> str:
    """A page with only the data-quality section (``custseg explore --html``)."""
    audit = json.loads(json.dumps(exploration.ledger.to_dict(), default=str))
    currency = formats.detect_currency({}, exploration.summary)
    figures = fit_titles(quality_figures(audit, exploration.summary, lang, currency), NARROW)
    return (
        _env()
        .get_template("quality_page.html")
        .render(
            **(_context(lang, currency) | {"captions": _captions(figures, lang)}),
            audit=audit,
            exploration=exploration.summary,
            fingerprint=exploration.fingerprint,
            sections={"data-quality": [f for f in SECTIONS["data-quality"] if f in figures]},
            figures_json=to_json(figures),
        )
    )
