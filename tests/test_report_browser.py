"""The report of the Online Retail run in headless Chromium: offline, no error, every figure drawn.

Drives Debian's ``chromium`` (``/usr/bin/chromium``; ``make test`` installs it) through
Playwright. Every request is intercepted: anything that is not ``file:``, ``data:``, ``blob:``
(or ``about:``) fails the test. A full-page screenshot is saved under the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import custseg
from custseg.report.html import SECTIONS
from tests.browser import browser_module

pytestmark = browser_module()


@pytest.fixture(scope="module")
def retail_report(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("retail_report")
    custseg.run(online_retail, out, seed=0)
    return out


def test_report_renders_offline_in_chromium(retail_report: Path, tmp_path: Path) -> None:
    from custseg.report.browser import open_report, wait_rendered

    report = retail_report / "report.html"
    with open_report(report) as (page, log):
        page.goto(report.resolve().as_uri())
        rendered = wait_rendered(page)
        expected = [f for ids in SECTIONS.values() for f in ids]
        assert rendered == len(expected)
        for section in SECTIONS:
            box = page.locator(f"section#{section}").bounding_box()
            assert box is not None and box["height"] > 100, section
        for fig in expected:
            el = page.locator(f"#{fig}")
            assert el.count() == 1, fig
            # drawn: Plotly's SVG is there, with the figure's traces and a non-empty size
            assert el.locator("svg.main-svg").count() >= 1, fig
            assert el.locator("svg.main-svg g.trace, svg.main-svg g.hm").count() > 0, fig
            size = el.bounding_box()
            assert size is not None and size["width"] > 200 and size["height"] > 200, fig
        assert page.locator("article.card").count() >= 2
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 100_000
    assert log.blocked == [], log.blocked
    assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in log.requests)
    assert log.console_errors == [], log.console_errors
    assert log.page_errors == [], log.page_errors


def test_png_export_of_key_figures(retail_report: Path) -> None:
    from typer.testing import CliRunner

    from custseg.cli import app

    result = CliRunner().invoke(app, ["report", str(retail_report), "--png"])
    assert result.exit_code == 0, result.output
    pngs = sorted((retail_report / "figures").glob("*.png"))
    assert {p.stem for p in pngs} >= {"fig-sizes", "fig-snake", "fig-rf-heatmap", "fig-pca"}
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000
