"""The drift page of a score folder in headless Chromium, in English and French: offline, no
error, both figures drawn, the three sections laid out. Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import custseg
from custseg.datasets import make_transactions
from tests.browser import browser_module

pytestmark = browser_module()


@pytest.mark.parametrize(
    ("lang", "title"), [("en", "Feature drift"), ("fr", "Dérive des variables")]
)
def test_drift_page_renders_offline(tmp_path: Path, lang: str, title: str) -> None:
    from custseg.report.browser import open_report, wait_rendered

    lines, _ = make_transactions(300, seed=21)
    custseg.run(lines[lines["InvoiceDate"] < "2024-07-01"], tmp_path / "run", seed=0, k=3)
    custseg.score(tmp_path / "run", lines, tmp_path / "scores", lang=lang)
    page_file = tmp_path / "scores" / "drift.html"
    with open_report(page_file) as (page, log):
        page.goto(page_file.resolve().as_uri())
        assert wait_rendered(page) == 2
        for fig in ("fig-drift-shares", "fig-drift-psi"):
            el = page.locator(f"#{fig}")
            assert el.locator("svg.main-svg g.trace").count() > 0, fig
            size = el.bounding_box()
            assert size is not None and size["width"] > 200 and size["height"] > 200, fig
        for section in ("shares", "features", "centroids"):
            box = page.locator(f"section#{section}").bounding_box()
            assert box is not None and box["height"] > 100, section
        assert title in page.content()
        shot = tmp_path / f"drift-{lang}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 30_000
    assert log.blocked == [], log.blocked
    assert log.console_errors == [], log.console_errors
    assert log.page_errors == [], log.page_errors
