"""Benchmark the HTML report of a ~1 M-line run: its size and its load time in headless Chromium.

    python bench/report_bench.py              # ~1 M lines (synthetic, seeded)
    python bench/report_bench.py --lines 200000

Steps: generate a synthetic transactions Parquet file (custseg.datasets, cached in
bench/.cache/), run custseg on it, build the report, then open in headless Chromium
(Debian's /usr/bin/chromium, network cut off), each ``--repeat`` times:

* the baseline: an HTML page holding only the same embedded plotly.js bundle and one empty plot;
* the report: time to the ``load`` event and until every figure is drawn
  (``body[data-plots-rendered]``).

Printed: report size (MB) and the median times, with the ratio to the baseline measured in the
same run. Nothing is asserted; figures are for reading.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"


def _time_page(path: Path) -> tuple[float, float]:
    from custseg.report.browser import open_report, wait_rendered

    with open_report(path) as (page, log):
        start = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load")
        loaded = time.perf_counter() - start
        wait_rendered(page, timeout_ms=120_000)
        drawn = time.perf_counter() - start
        if log.blocked or log.console_errors or log.page_errors:
            raise SystemExit(f"page not clean: {log}")
    return loaded, drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import custseg
    from custseg.datasets import write_transactions_parquet
    from custseg.report.html import plotly_js

    CACHE.mkdir(parents=True, exist_ok=True)
    data = CACHE / f"report_{args.lines}.parquet"
    if not data.exists():
        write_transactions_parquet(data, n_lines=args.lines, seed=0)
    with tempfile.TemporaryDirectory(prefix="custseg-report-bench-") as tmp:
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        result = custseg.run(data, out, seed=0)
        run_s = time.perf_counter() - t0
        from custseg.report import render_dir

        t0 = time.perf_counter()
        render_dir(out)
        render_s = time.perf_counter() - t0
        report = out / "report.html"
        baseline = Path(tmp) / "baseline.html"
        baseline.write_text(
            "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
            f"<div id='p'></div><script>{plotly_js()}</script><script>"
            "Plotly.newPlot('p', [], {}).then(function () {"
            "document.body.setAttribute('data-plots-rendered', '1'); });</script></body></html>",
            encoding="utf-8",
        )
        base = [_time_page(baseline) for _ in range(args.repeat)]
        rep = [_time_page(report) for _ in range(args.repeat)]
        size = report.stat().st_size
    b_load, b_draw = (statistics.median(x) for x in zip(*base, strict=True))
    r_load, r_draw = (statistics.median(x) for x in zip(*rep, strict=True))
    lines = result.ledger.input_rows
    print(
        f"input lines            {lines:,}  customers {len(result.segments):,}  k {result.model.k_}"
    )
    print(f"custseg run            {run_s:8.1f} s (report rebuilt alone: {render_s:.1f} s)")
    print(
        f"report size            {size / 1e6:8.2f} MB (plotly.js {len(plotly_js()) / 1e6:.2f} MB)"
    )
    print(f"baseline load / drawn  {b_load:8.2f} s / {b_draw:.2f} s  (plotly.js + one empty plot)")
    print(
        f"report   load / drawn  {r_load:8.2f} s / {r_draw:.2f} s  "
        f"(x{r_draw / b_draw:.1f} the baseline; median of {args.repeat})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
