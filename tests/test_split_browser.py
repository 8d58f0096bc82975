"""The report of a run split by lifecycle in headless Chromium, in English and French.

Same discipline as ``test_report_browser.py``: offline (any request that is not a local file
fails), no console or page error, every figure drawn, both groups' blocks on the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import custseg
from custseg.datasets import make_transactions
from custseg.report.html import SECTIONS
from tests.browser import browser_module

pytestmark = browser_module()


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines, _ = make_transactions(1500, seed=3, one_time=0.9)
    out = tmp_path_factory.mktemp("split_report") / "run"
    custseg.run(lines, out, seed=0, split="lifecycle")
    return out


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_split_report_renders_offline(split_folder: Path, tmp_path: Path, lang: str) -> None:
    from custseg.outputs.folder import rewrite_report
    from custseg.report.browser import open_report, wait_rendered

    report, _ = rewrite_report(split_folder, lang)
    with open_report(report) as (page, log):
        page.goto(report.resolve().as_uri())
        rendered = wait_rendered(page)
        figures = [f for f in SECTIONS["data-quality"] if page.locator(f"#{f}").count()]
        assert rendered == len(figures) + 1  # the quality figures and the groups' sizes
        for section in ("data-quality", "lifecycle", "method"):
            box = page.locator(f"section#{section}").bounding_box()
            assert box is not None and box["height"] > 100, section
        for group in ("repeat", "one_time"):
            assert page.locator(f"h3#lifecycle-{group}").count() == 1
        bars = page.locator("#fig-lifecycle-sizes svg.main-svg g.trace")
        assert bars.count() == 2  # one bar trace per group
        assert page.locator("table.lifecycle-segments").count() == 2
        lead = {"en": "segmented apart", "fr": "segmentés à part"}[lang]
        assert lead in page.locator("section#lifecycle p.lead").inner_text()
        shot = tmp_path / f"lifecycle_{lang}.png"
        page.locator("section#lifecycle").screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
    assert log.blocked == [], log.blocked
    assert log.console_errors == [], log.console_errors
    assert log.page_errors == [], log.page_errors
