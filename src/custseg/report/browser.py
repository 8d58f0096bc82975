"""Open a report in headless Chromium, offline: PNG export of figures, checks and benchmarks.

Needs the optional ``playwright`` package (``pip install 'custseg[png]'``) and a Chromium
binary: Debian's ``chromium`` (``/usr/bin/chromium``), or the one named by
``$CUSTSEG_CHROMIUM``. No browser is downloaded. Every request that is not ``file:``,
``data:``, ``blob:`` or ``about:`` is aborted and recorded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custseg.errors import CustsegError

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: figures exported by ``custseg report --png`` (those a run has)
KEY_FIGURES = (
    "fig-sizes",
    "fig-snake",
    "fig-rf-heatmap",
    "fig-bubble",
    "fig-pca",
    "fig-k-inertia",
    "fig-silhouette",
    "fig-months",
    "fig-lifecycle-sizes",  # a run split by lifecycle (--split lifecycle)
)


def chromium_path() -> str:
    """The Chromium binary to drive; raise with the install command when there is none."""
    for candidate in (
        os.environ.get("CUSTSEG_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise CustsegError(
        "no Chromium found; install it (Debian: apt-get install chromium) or set CUSTSEG_CHROMIUM"
    )


@dataclass
class PageLog:
    """What happened while the page was open."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def open_report(
    path: str | Path, *, width: int = 1400, height: int = 900, scale: float = 1.0
) -> Iterator[tuple[Any, PageLog]]:
    """Open ``path`` in a fresh headless Chromium profile with the network cut off.

    Yields ``(page, log)``: a Playwright page (not yet navigated) and the :class:`PageLog`
    filled as the page runs. Navigate with ``page.goto(Path(path).resolve().as_uri())``.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise CustsegError(
            "opening a report in a browser needs playwright: pip install 'custseg[png]'"
        ) from exc
    log = PageLog()
    with (
        tempfile.TemporaryDirectory(prefix="custseg-chromium-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": width, "height": height},
            offline=True,
            device_scale_factor=scale,
        )
        try:
            page = context.new_page()

            def route(r: Any) -> None:
                url = r.request.url
                log.requests.append(url)
                if url.startswith(LOCAL_SCHEMES):
                    r.continue_()
                else:
                    log.blocked.append(url)
                    r.abort()

            page.route("**/*", route)
            page.on(
                "console",
                lambda m: log.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: log.page_errors.append(str(e)))
            yield page, log
        finally:
            context.close()


def wait_rendered(page: Any, timeout_ms: int = 60_000) -> int:
    """Wait until every figure of the page is drawn; return how many."""
    page.wait_for_selector("body[data-plots-rendered]", timeout=timeout_ms)
    return int(page.get_attribute("body", "data-plots-rendered") or 0)


def export_png(report: str | Path, out: str | Path, ids: Sequence[str] = KEY_FIGURES) -> list[Path]:
    """Screenshot the figures ``ids`` of a report page into ``out/<id>.png`` (2× scale).

    Figures a run does not have are skipped. Returns the files written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with open_report(report, width=1000, scale=2.0) as (page, log):
        page.goto(Path(report).resolve().as_uri())
        wait_rendered(page)
        for fig_id in ids:
            el = page.query_selector(f"#{fig_id}")
            if el is None:
                continue
            el.scroll_into_view_if_needed()
            path = out / f"{fig_id}.png"
            el.screenshot(path=str(path))
            written.append(path)
        if log.blocked:  # pragma: no cover - the report never asks for the network
            raise CustsegError(f"the report tried to reach the network: {log.blocked[0]}")
    return written


#: the browser-side measure of :func:`text_problems` (see there)
_TEXT_PROBLEMS_JS = """
() => {
  const gap = 1;
  const cross = (a, b) =>
    Math.min(a.right, b.right) - Math.max(a.left, b.left) > gap &&
    Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > gap;
  const out = {};
  document.querySelectorAll("div.fig").forEach((fig) => {
    const box = fig.getBoundingClientRect();
    const texts = [];
    fig.querySelectorAll("svg text").forEach((el) => {
      if (el.closest(".hoverlayer")) { return; }
      if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) { return; }
      const text = (el.textContent || "").trim();
      if (!text) { return; }
      const r = el.getBoundingClientRect();
      if (r.width < 0.5 || r.height < 0.5) { return; }
      texts.push({text: text, r: r});
    });
    const problems = [];
    texts.forEach((t) => {
      if (t.r.left < box.left - gap || t.r.right > box.right + gap ||
          t.r.top < box.top - gap || t.r.bottom > box.bottom + gap) {
        problems.push("clipped: " + t.text);
      }
    });
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        if (cross(texts[i].r, texts[j].r)) {
          problems.push("overlap: " + texts[i].text + " | " + texts[j].text);
        }
      }
    }
    out[fig.id] = {texts: texts.length, problems: problems};
  });
  return out;
}
"""


def text_problems(page: Any) -> dict[str, dict[str, Any]]:
    """Per figure of a drawn page: how many texts it shows and which overlap or are clipped.

    Every visible SVG ``<text>`` of a figure (titles, legends, annotations, tick and category
    labels, cell texts; hover labels excepted) is measured by its bounding box: a text
    reaching outside its figure is *clipped*, two texts whose boxes intersect by more than a
    pixel both ways *overlap*.
    """
    found: dict[str, dict[str, Any]] = page.evaluate(_TEXT_PROBLEMS_JS)
    return found


def relayout(page: Any, width: int, height: int = 900) -> None:
    """Resize the viewport and wait until every figure is drawn again at the new width."""
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_timeout(400)  # plotly's own (debounced) resize on the window's resize event
    page.evaluate(
        """() => Promise.all([...document.querySelectorAll("div.fig")]
            .filter((el) => el.data)
            .map((el) => Plotly.Plots.resize(el)))"""
    )
    page.wait_for_timeout(200)
