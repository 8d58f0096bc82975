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
from custseg.report.data import RunData, prepare
from custseg.report.explain_view import rules_view, stability_figures
from custseg.report.figures import colour, k_figures, quality_figures
from custseg.report.figures_segments import compare_figures, feature_label, map_figures
from custseg.report.lifecycle import split_context
from custseg.stages.quality import significant

if TYPE_CHECKING:
    from custseg.pipeline import Exploration, SegmentationResult

#: significant digits kept for the numbers inside figures
DIGITS = 4
#: the figures of each section, in page order (a figure absent from a run is skipped)
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


def _context(lang: str) -> dict[str, Any]:
    return {
        "lang": lang,
        "t": lambda key, **kw: i18n.t(lang, key, **kw),
        "n": lambda value, decimals=0: (
            i18n.number(value, lang, decimals) if value is not None else "—"
        ),
        "reason": lambda key: i18n.reason(lang, key),
        "feature": lambda f: feature_label(f, lang),
        "plotly_js": plotly_js(),
        "settings": to_json(_page_settings(lang)),
    }


def render_run(run: RunData, lang: str | None = None) -> str:
    """The full report of a run (see :data:`SECTIONS`) in ``lang`` (default the run's)."""
    if run.model_doc.get("format") == SPLIT_RUN_FORMAT:
        return render_split(run, lang)
    p = prepare(run, lang)
    lang = p["lang"]
    figures = quality_figures(run.audit, run.exploration, lang)
    figures |= k_figures(p["selection"], lang)
    figures |= stability_figures(p["selection"], lang)
    figures |= map_figures(p)
    figures |= compare_figures(p)
    sections = {s: [f for f in ids if f in figures] for s, ids in SECTIONS.items()}
    # one bar chart per categorical column, after the fixed figures of the comparison
    sections["segments-categories"] = [f for f in figures if f.startswith("fig-cat-")]
    doc = p["doc"]
    return (
        _env()
        .get_template("report.html")
        .render(
            **_context(lang),
            p=p,
            doc=doc,
            params=doc.get("model", {}).get("params", {}),
            versions={**doc.get("model", {}).get("versions", {}), "plotly.js": plotly_version()},
            audit=run.audit,
            exploration=run.exploration,
            sections=sections,
            colours={s: colour(s) for s in p["segments"]},
            figures_json=to_json(figures),
            verdict=_verdict(doc, p, lang),
            rules=rules_view(doc, p["names"], lang),
            comparison=run.comparison,
            recommendation=recommendation_sentence(run.comparison, lang) if run.comparison else "",
        )
    )


def render_split(run: RunData, lang: str | None = None) -> str:
    """The report of a run split by lifecycle: data quality, both groups, method."""
    doc = run.model_doc
    lang = lang or str(doc.get("lang", "en"))
    lc = split_context(run, lang)
    figures = quality_figures(run.audit, run.exploration, lang) | lc["figures"]
    first = doc["split"]["groups"][0]["model"]
    return (
        _env()
        .get_template("split_report.html")
        .render(
            **_context(lang),
            doc=doc,
            lc=lc,
            params=first.get("params", {}),
            versions={**first.get("versions", {}), "plotly.js": plotly_version()},
            audit=run.audit,
            exploration=run.exploration,
            sections={"data-quality": [f for f in SECTIONS["data-quality"] if f in figures]},
            figures_json=to_json(figures),
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
    figures = quality_figures(audit, exploration.summary, lang)
    return (
        _env()
        .get_template("quality_page.html")
        .render(
            **_context(lang),
            audit=audit,
            exploration=exploration.summary,
            fingerprint=exploration.fingerprint,
            sections={"data-quality": [f for f in SECTIONS["data-quality"] if f in figures]},
            figures_json=to_json(figures),
        )
    )
