"""The track and compare pages in headless Chromium, in English and French: offline, no error,
every figure drawn (like the main report's test)."""

from __future__ import annotations

from pathlib import Path

import pytest

import custseg
from custseg.datasets import make_drifting_transactions
from tests.browser import browser_module

pytestmark = browser_module()
MALL = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "mall_customers"
    / "Mall_Customers.csv"
)


def _check_page(page_file: Path, figures: list[str], shot: Path) -> None:
    from custseg.report.browser import open_report, wait_rendered

    with open_report(page_file) as (page, log):
        page.goto(page_file.resolve().as_uri())
        assert wait_rendered(page) == len(figures)
        for fig in figures:
            el = page.locator(f"#{fig}")
            assert el.count() == 1, fig
            assert el.locator("svg.main-svg").count() >= 1, fig
            drawn = el.locator(
                "svg.main-svg g.trace, svg.main-svg g.sankey, svg.main-svg g.sankey-node"
            )
            assert drawn.count() > 0, fig
            size = el.bounding_box()
            assert size is not None and size["width"] > 200 and size["height"] > 200, fig
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
    assert log.blocked == [], log.blocked
    assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in log.requests)
    assert log.console_errors == [], log.console_errors
    assert log.page_errors == [], log.page_errors


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_track_page_in_chromium(lang: str, tmp_path: Path) -> None:
    lines, _ = make_drifting_transactions(300, seed=3, months=12, drift_month=9)
    custseg.track(lines, tmp_path / "track", k=3, every="2M", lang=lang)
    figures = ["fig-track-ari", "fig-track-shares", "fig-track-drift", "fig-track-sankey"]
    _check_page(tmp_path / "track" / "track.html", figures, tmp_path / f"track_{lang}.png")


@pytest.mark.skipif(not MALL.is_file(), reason="Mall_Customers.csv is not in the shared data")
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_compare_page_in_chromium(lang: str, tmp_path: Path) -> None:
    custseg.run(MALL, tmp_path / "a", seed=0, k=4, lang=lang)
    custseg.run(MALL, tmp_path / "b", seed=0, k=5, lang=lang)
    custseg.compare(tmp_path / "a", tmp_path / "b", tmp_path / "moves")
    _check_page(
        tmp_path / "moves" / "compare.html",
        ["fig-compare-sankey"],
        tmp_path / f"compare_{lang}.png",
    )
