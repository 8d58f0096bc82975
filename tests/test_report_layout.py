"""The report as a reader sees it: every figure's text readable, printed on A4 without a cut.

For a transactions run (Online Retail) and a customer-table run (marketing_campaign.csv), in
English and French, each page is opened once in headless Chromium (Debian's ``chromium``):

- at 1280 px wide and at the printed width of A4, the bounding box of every text of every
  figure (titles, legends, annotations, tick, category and cell labels) is measured: no text
  may run outside its figure (clipped) or sit on another text (overlap);
- a screenshot of every section is saved (``$CUSTSEG_SHOTS`` or the test's tmp folder);
- the page printed to PDF (A4) has each figure's title and its caption on the same page:
  no figure is cut in two.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import custseg
from custseg.report.html import render_dir
from tests.browser import browser_module
from tests.conftest import SHARED_DATA

MARKETING = SHARED_DATA / "customer_personality" / "marketing_campaign.csv"
pytestmark = browser_module()
#: widths the figures are measured at: a laptop screen, and A4 minus 12 mm margins (96 dpi)
WIDTHS = (1280, 703)
PAGES = [("retail", "en"), ("retail", "fr"), ("customers", "en"), ("customers", "fr")]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: ``$CUSTSEG_SHOTS`` if set, else a tmp folder of the session."""
    given = os.environ.get("CUSTSEG_SHOTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("report_shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def runs(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One run of each kind, made once for the module."""
    if not MARKETING.is_file():
        pytest.skip(f"{MARKETING} is absent (shared data sets)")
    out = tmp_path_factory.mktemp("layout_runs")
    custseg.run(online_retail, out / "retail", seed=0)
    custseg.run(MARKETING, out / "customers", seed=0)
    return {"retail": out / "retail", "customers": out / "customers"}


@pytest.fixture(scope="module")
def pages(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report of each run in each language, written once."""
    out = tmp_path_factory.mktemp("layout_pages")
    written = {}
    for kind, lang in PAGES:
        path = out / f"{kind}_{lang}.html"
        path.write_text(render_dir(runs[kind], lang), encoding="utf-8")
        written[f"{kind}_{lang}"] = path
    return written


@pytest.fixture(scope="module")
def measured(pages: dict[str, Path], shots: Path) -> Iterator[dict[str, Any]]:
    """Each page opened once: text problems per width, section screenshots, the A4 PDF."""
    from custseg.report.browser import open_report, relayout, text_problems, wait_rendered

    found: dict[str, Any] = {}
    for name, path in pages.items():
        with open_report(path, width=WIDTHS[0]) as (page, log):
            page.goto(path.resolve().as_uri())
            figures = wait_rendered(page)
            result: dict[str, Any] = {"figures": figures, "widths": {}}
            for width in WIDTHS:
                if width != WIDTHS[0]:
                    relayout(page, width)
                result["widths"][width] = text_problems(page)
                for section in page.query_selector_all("body > section"):
                    sid = section.get_attribute("id")
                    section.screenshot(path=str(shots / f"{name}_{width}_{sid}.png"))
            page.emulate_media(media="print")
            pdf = shots / f"{name}.pdf"
            page.pdf(path=str(pdf), format="A4", print_background=True)
            result["pdf"] = pdf
            result["titles"] = page.evaluate(
                """() => [...document.querySelectorAll("figure.figure")].map((f) => {
                    const t = f.querySelector("svg .gtitle");
                    const c = f.querySelector("figcaption");
                    return [f.querySelector("div.fig").id,
                            t ? t.textContent : "", c ? c.textContent : ""];
                })"""
            )
            result["summary"] = page.inner_text("#summary table.summary tr:nth-child(2)")
            result["log"] = log
        found[name] = result
    yield found


@pytest.mark.parametrize("name", [f"{k}_{lang}" for k, lang in PAGES])
def test_no_figure_text_overlaps_or_is_clipped(measured: dict[str, Any], name: str) -> None:
    result = measured[name]
    assert result["figures"] >= 5
    for width, figures in result["widths"].items():
        assert figures, f"{name}: no figure measured at {width} px"
        for fig, found in figures.items():
            assert found["texts"] > 0, f"{name} {width}px {fig}: no text drawn"
            assert found["problems"] == [], f"{name} at {width} px, {fig}: {found['problems']}"
    log = result["log"]
    assert log.console_errors == [] and log.page_errors == [] and log.blocked == []


def _squash(text: str) -> str:
    """Text without spaces, ligatures unfolded (the PDF writes "ﬀ" for "ff")."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.mark.parametrize("name", [f"{k}_{lang}" for k, lang in PAGES])
def test_printed_a4_cuts_no_figure(measured: dict[str, Any], name: str) -> None:
    from pypdf import PdfReader

    result = measured[name]
    texts = [_squash(p.extract_text() or "") for p in PdfReader(result["pdf"]).pages]
    assert len(texts) >= 3
    # the summary is on the first page, under the header
    assert _squash(result["summary"])[:60] in texts[0], "the summary is not on page 1"
    for fig, title, caption in result["titles"]:
        assert title and caption, fig
        on = [i for i, t in enumerate(texts) if _squash(title) in t]
        assert len(on) >= 1, f"{name}: title of {fig} not found in the PDF"
        head = _squash(caption)[:40]
        assert any(head in texts[i] for i in on), (
            f"{name}: {fig} is cut in two (its title is on page {on[0] + 1}, its caption is not)"
        )
