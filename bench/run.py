"""Benchmark custseg against baselines measured in the same run.

    python bench/run.py                      # Online Retail + synthetic 1M and 10M lines
    python bench/run.py --quick              # Online Retail + 1M, notebook on Online Retail only
    python bench/run.py --sizes 1M 10M 50M --out bench/results

For every dataset (the real Online Retail file shipped in data/, plus synthetic Parquet files
generated once into bench/.cache/):

* custseg's own path in this process, fresh DuckDB connection: the time of each stage from
  ``custseg.pipeline.segment(on_step=...)`` (read, audit, features, k sweep + final fit,
  naming/profiles) and ``SegmentationResult.save`` (write) to a temporary folder;
* the whole ``custseg run`` command in a subprocess: wall time (imports included) and peak RSS;
* baseline (a), the seed notebook (bench/baseline_notebook.py) in a subprocess: wall time and
  peak RSS;
* baseline (b), the floor: a bare DuckDB scan of the six needed columns, in this process;
* custseg's two-level feature query against a naive single-level GROUP BY with two
  COUNT(DISTINCT), both over the same cleaned ``lines`` table.

Only ratios between figures of this run are meaningful; nothing is compared to hard-coded
numbers. Results go to ``--out`` as JSON and Markdown; the Markdown table is also printed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
REAL_FILE = ROOT / "data" / "online_retail.parquet"
CACHE = BENCH / ".cache"
NOTEBOOK = BENCH / "baseline_notebook.py"
SEED = 0
PACKAGES = ("custseg", "duckdb", "pandas", "numpy", "scikit-learn", "scipy", "pyarrow", "kneed")
#: columns the features need (Online Retail names; the synthetic files use the same)
FLOOR_COLUMNS = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CUSTSEG_THREADS")
NOTEBOOK_STEPS = ("read", "clean", "rfm", "sweep", "final_fit", "imports")
STAGES = ("read", "audit", "features", "sweep", "final_fit", "names", "report", "save")
#: the sampled silhouette is checked against the full one up to this many customers
SILHOUETTE_CHECK_MAX = 50_000
#: the notebook baseline is skipped above this many lines (see --notebook-max-lines)
NOTEBOOK_MAX_LINES = 20_000_000
#: start-up commands, each timed against ``python -c "import typer"`` (issue 15)
STARTUP_BASE = ("import typer", ["-c", "import typer"])
STARTUP_CASES = (
    ("custseg --help", ["--help"]),
    ("custseg --version", ["--version"]),
    ("custseg run --no-such-option (argument error)", ["run", "--no-such-option"]),
)
#: issue 15's targets; each row of the *Targets* table is one of them
TARGET_STARTUP = 1.5  # at most this many times `python -c "import typer"`
TARGET_REAL = 2.0  # Online Retail: notebook / custseg run at least
TARGET_FLOOR = 10.0  # (read + audit + features) / floor scan at most
TARGET_10M = 5.0  # 10 M lines: notebook / custseg run at least
TARGET_100M_S = 60.0  # 100 M lines: custseg run wall at most (s)
TARGET_100M_GIB = 4.0  # 100 M lines: custseg run peak RSS at most (GiB)
TARGET_SCORE = 10e6  # scoring from model.json, customers per second at least
TARGET_SQL_SCORE = 20e6  # exported SQL scoring inside DuckDB, customers per second at least

#: the naive feature query: one GROUP BY over the lines, two COUNT(DISTINCT); same output
#: columns and order as custseg's two-level query (custseg.stages.features)
NAIVE_SQL = """
SELECT customer_id,
       GREATEST(DATE_DIFF('day', CAST(MAX(ts) FILTER (WHERE kind = 'purchase') AS DATE),
                CAST('{as_of}' AS DATE)), 0) AS recency_days,
       COUNT(DISTINCT invoice) FILTER (WHERE kind = 'purchase') AS frequency,
       CAST(SUM(value) AS DOUBLE) AS monetary,
       GREATEST(DATE_DIFF('day', CAST(MIN(ts) FILTER (WHERE kind = 'purchase') AS DATE),
                CAST('{as_of}' AS DATE)), 0) AS tenure_days,
       CAST(SUM(value) FILTER (WHERE kind = 'purchase')
            / COUNT(DISTINCT invoice) FILTER (WHERE kind = 'purchase') AS DOUBLE) AS avg_basket,
       COUNT(DISTINCT product) FILTER (WHERE kind = 'purchase' AND product IS NOT NULL)
           AS product_breadth,
       CAST(LEAST(COALESCE(-SUM(value) FILTER (WHERE kind <> 'purchase'), 0)
                  / SUM(value) FILTER (WHERE kind = 'purchase'), 1) AS DOUBLE) AS return_rate,
       CASE WHEN COUNT(DISTINCT invoice) FILTER (WHERE kind = 'purchase') > 1
            THEN CAST(DATE_DIFF('day', CAST(MIN(ts) FILTER (WHERE kind = 'purchase') AS DATE),
                                CAST(MAX(ts) FILTER (WHERE kind = 'purchase') AS DATE)) AS DOUBLE)
                 / (COUNT(DISTINCT invoice) FILTER (WHERE kind = 'purchase') - 1)
            ELSE 0.0 END AS mean_days_between
FROM lines
WHERE reason IS NULL
GROUP BY customer_id
HAVING COUNT(*) FILTER (WHERE kind = 'purchase') > 0
ORDER BY customer_id
"""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- sizes ------------------------------------------------------------------------------------
def parse_size(text: str) -> int:
    """``"1M"`` → 1_000_000, ``"500k"`` → 500_000, ``"2.5M"``, ``"1e6"`` or ``"250000"``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1M, 500k, 250000)")
    factor = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()]
    n = round(float(m.group(1)) * factor)
    if n < 1_000:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small (at least 1k lines)")
    return n


def size_label(n: int) -> str:
    for unit, f in (("M", 10**6), ("k", 10**3)):
        if n >= f and n % (f // 10) == 0:
            return f"{n / f:g}{unit}"
    return str(n)


# ---- machine ----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "mem_gib": mem_total_gib(),
        "os": platform.platform(),
        "thread_env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ},
    }


# ---- measuring --------------------------------------------------------------------------------
#: run by a small intermediate Python: fork, exec the command, report the command's own rusage.
#: On Linux a process's peak RSS counts the memory of the process it was forked from (the
#: high-water mark survives exec), so a command forked by this benchmark, which holds gigabytes
#: after the in-process stages, would report at least that; forked from this small runner it
#: reports its own peak.
_RUNNER = """
import json, os, sys, time
report, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as f:
    json.dump({"wall_s": wall, "maxrss_kib": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime,
               "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


def measured_subprocess(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run ``cmd``; its wall time (s), peak RSS and CPU time, measured by a small runner
    process that forks it (see ``_RUNNER``), so that none of this process's memory counts."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="custseg-bench-rusage-") as tmp,
    ):
        report = Path(tmp) / "rusage.json"
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, str(report), *cmd],
            stdout=out,
            stderr=err,
            cwd=ROOT,
            start_new_session=True,  # a timeout kills the runner and the command together
        )

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        usage = json.loads(report.read_text()) if report.exists() else None
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    timed_out = wall >= timeout and (usage is None or usage["returncode"] != 0)
    returncode = usage["returncode"] if usage else (proc.returncode or -9)
    result: dict[str, Any] = {
        "wall_s": usage["wall_s"] if usage else wall,
        "peak_rss_mib": usage["maxrss_kib"] / 1024 if usage else None,  # KiB on Linux
        "cpu_s": usage["cpu_s"] if usage else None,
        "returncode": returncode,
        "timed_out": timed_out,
    }
    if returncode != 0:
        result["error"] = (f"timed out after {timeout:.0f} s; " if timed_out else "") + (
            stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {returncode}"
        )
    result["stdout"] = stdout
    return result


def repeated(fn: Callable[[], dict[str, Any]], n: int) -> dict[str, Any]:
    """Run a measured subprocess ``n`` times; keep the run of median wall time."""
    runs = [fn() for _ in range(n)]
    ok = [r for r in runs if r["returncode"] == 0] or runs
    ok.sort(key=lambda r: r["wall_s"])
    best = dict(ok[len(ok) // 2])
    best["walls_s"] = [r["wall_s"] for r in runs]
    return best


def median_of(fn: Callable[[], Any], reps: int) -> tuple[float, list[float], list[float], Any]:
    """Median wall time of ``reps`` calls, the wall and process-CPU time of each, last value."""
    walls, cpus, value = [], [], None
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), walls, cpus, value


# ---- datasets ---------------------------------------------------------------------------------
def synthetic(n_lines: int) -> tuple[Path, dict[str, Any]]:
    """The cached synthetic file of ``n_lines`` lines, generated on first use."""
    import pyarrow.parquet as pq

    from custseg.datasets import write_transactions_parquet

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"synthetic_{size_label(n_lines)}_seed{SEED}.parquet"
    info: dict[str, Any] = {"generated_s": None}
    if path.exists():
        try:
            pq.ParquetFile(path).metadata  # noqa: B018 - raises when the file is damaged
            return path, info
        except Exception:  # a damaged cache file: make it again
            path.unlink()
    log(f"generating {path.relative_to(ROOT)} ({n_lines:,} lines, seed {SEED}) ...")
    t = time.perf_counter()
    write_transactions_parquet(path, n_lines, seed=SEED)
    info["generated_s"] = time.perf_counter() - t
    return path, info


# ---- the measurements of one dataset ----------------------------------------------------------
def floor_scan(path: Path, reps: int) -> dict[str, Any]:
    """Baseline (b): a bare DuckDB scan that decodes every needed column once."""
    import pyarrow.parquet as pq

    from custseg.engines import connect

    names = set(pq.ParquetFile(path).schema_arrow.names)
    exprs = ["count(*)"]
    for col in FLOOR_COLUMNS:
        if col not in names:
            continue
        q = '"' + col + '"'
        if col in ("InvoiceNo", "StockCode"):
            exprs.append(f"sum(strlen({q}))")
        elif col == "InvoiceDate":
            exprs.append(f"max({q})")
        elif col == "CustomerID":
            exprs.append(f"count({q})")
        else:
            exprs.append(f"sum({q})")
    sql = f"SELECT {', '.join(exprs)} FROM read_parquet('{path.as_posix()}')"
    con = connect()
    try:
        med, walls, cpus, row = median_of(lambda: con.row(sql), reps)
    finally:
        con.close()
    return {
        "s": med,
        "cpu_s": statistics.median(cpus),
        "runs_s": walls,
        "runs_cpu_s": cpus,
        "sql": sql,
        "lines": int(row[0]),
    }


def silhouette_check(result: Any) -> dict[str, Any]:
    """The sampled silhouette of the sweep against the silhouette of all customers.

    For the chosen k and the k the sampled silhouette prefers: customers labelled by the
    sweep's centroids, scikit-learn's silhouette_score on all of them (exact, chunked).
    """
    import numpy as np
    from sklearn.metrics import silhouette_score

    model = result.model
    sel = model.selection_
    X = model.transform(result.segments)
    ks = sorted({sel.chosen, sel.ks[int(np.argmax(sel.silhouette))]})
    rows = []
    for k in ks:
        centers = sel.centers_of(k)
        d = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        t = time.perf_counter()
        full = float(silhouette_score(X, labels))
        sampled = float(sel.silhouette[sel.ks.index(k)])
        rows.append(
            {
                "k": k,
                "sampled": sampled,
                "full": full,
                "error": sampled - full,
                "full_s": time.perf_counter() - t,
            }
        )
    return {"customers": int(X.shape[0]), "sample": sel.sample, "by_k": rows}


class RssSampler:
    """This process's resident memory, sampled every ``interval`` s by a thread (Linux
    ``/proc/self/statm``), so that the peak of each stage can be read off afterwards."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int | None:
        try:
            return int(Path("/proc/self/statm").read_text().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._rss()
            if rss is None:
                return
            self.samples.append((time.perf_counter(), rss))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mib(self, start: float | None, end: float | None) -> float | None:
        """Highest sample between ``start`` and ``end`` (MiB), or ``None`` without samples."""
        if start is None or end is None:
            return None
        inside = [r for t, r in self.samples if start <= t <= end]
        return max(inside) / 2**20 if inside else None


def in_process(
    path: Path, reps: int, check_silhouette: bool = False, score_customers: int = 0
) -> dict[str, Any]:
    """custseg's stages in this process (fresh connection), then the feature-query duel."""
    import inspect

    import custseg
    from custseg.engines import connect
    from custseg.pipeline import segment
    from custseg.stages.relations import LINES

    marks: dict[str, float] = {}

    def on_step(name: str, info: dict[str, Any]) -> None:
        marks[name] = time.perf_counter()

    con = connect()
    try:
        kwargs: dict[str, Any] = {"seed": SEED, "on_step": on_step}
        if "con" in inspect.signature(segment).parameters:
            kwargs["con"] = con
        with RssSampler() as rss:
            start = time.perf_counter()
            result = segment(path, **kwargs)
            end = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="custseg-bench-") as tmp:
                t_save = time.perf_counter()
                custseg.save(result, tmp)
                write_s = time.perf_counter() - t_save
            save_end = time.perf_counter()

        order = ["read", "audit", "features", "sweep", "fit"]
        seen = [(n, marks[n]) for n in order if n in marks] + [("end", end)]
        spans = {a: y - x for (a, x), (_, y) in itertools.pairwise(seen)}
        peaks = {name: rss.peak_mib(x, y) for (name, x), (_, y) in itertools.pairwise(seen)}
        peaks["save"] = rss.peak_mib(t_save, save_end)
        fit_s = getattr(result.model, "fit_seconds_", {})
        from custseg.report import render_html

        t = time.perf_counter()
        render_html(result)
        report_s = time.perf_counter() - t
        stages = {
            "read": spans.get("read"),
            # cleaning in parts; each part also leaves per-customer totals and exploration sums
            "audit": spans.get("audit"),
            "features": spans.get("features"),  # the feature query over the totals
            # the rest of CustomerSegmenter.fit (transform, ordering) counts in names, with the
            # RFM scoring and naming the pipeline does after fit
            "sweep": fit_s.get("sweep"),
            "final_fit": fit_s.get("final_fit"),
            "names": (spans.get("sweep") or 0.0)
            + (spans.get("fit") or 0.0)
            - sum(fit_s.values()),  # RFM scores, names, profiles, exploration summary
            "report": report_s,  # render_html alone
            "save": write_s,  # every file, the report included
        }
        sel = result.model.selection_
        out: dict[str, Any] = {
            "segment_s": end - start,
            "stages_s": stages,
            # highest resident memory of this process during each on_step span (MiB); the
            # spans "sweep" (CustomerSegmenter.fit) and "fit" (naming, profiles) as marked
            "stage_peak_rss_mib": peaks,
            "peak_rss_mib": rss.peak_mib(start, save_end),
            "rss_at_start_mib": rss.samples[0][1] / 2**20 if rss.samples else None,
            "customers": len(result.segments),
            "k": int(result.model.k_),
            "input_rows": result.ledger.input_rows,
            "kept_rows": result.ledger.kept_rows,
            "sample": sel.sample if sel is not None else None,
        }
        if (
            check_silhouette
            and sel is not None
            and sel.sample["silhouette"] < len(result.segments) <= SILHOUETTE_CHECK_MAX
        ):
            checked = result
            out["silhouette_check"] = guarded("silhouette check", lambda: silhouette_check(checked))
            del checked
        if score_customers:
            scored = result
            out["scoring"] = guarded(
                "scoring", lambda: scoring(scored, score_customers, max(reps, 3))
            )
            out["sql_scoring"] = guarded(
                "SQL scoring", lambda: sql_scoring(scored, score_customers, max(reps, 3))
            )
            del scored
        as_of = result.ledger.as_of
        del result
        has_lines = con.exists(LINES)
        if "con" in kwargs and has_lines:
            out["feature_query"] = feature_duel(con, as_of, reps)
        elif "con" in kwargs:
            out["feature_query"] = {"skipped": "cleaned in parts: no single lines table"}
        return out
    finally:
        con.close()


def feature_duel(con: Any, as_of: str, reps: int) -> dict[str, Any]:
    """custseg's two-level feature query vs a naive single-level GROUP BY, same ``lines``."""
    from datetime import date

    import numpy as np

    from custseg.stages.features import customer_features_sql

    two_sql = customer_features_sql(date.fromisoformat(as_of))
    naive_sql = NAIVE_SQL.format(as_of=as_of)
    walls: dict[str, list[float]] = {"two": [], "naive": []}
    cpus: dict[str, list[float]] = {"two": [], "naive": []}
    frames: dict[str, Any] = {}
    for i in range(reps):  # interleaved, alternating which goes first
        pair = [("two", two_sql), ("naive", naive_sql)]
        for name, sql in pair if i % 2 == 0 else pair[::-1]:
            w, c = time.perf_counter(), time.process_time()
            frames[name] = con.frame(sql)
            walls[name].append(time.perf_counter() - w)
            cpus[name].append(time.process_time() - c)
    two, naive = frames.get("two"), frames.get("naive")
    assert two is not None and naive is not None
    differing: dict[str, int] = {}
    ids_two = two["customer_id"].astype(str).to_numpy()
    ids_naive = naive["customer_id"].astype(str).to_numpy()
    same_customers = len(two) == len(naive) and bool((ids_two == ids_naive).all())
    if same_customers:
        for col in two.columns[1:]:
            a = two[col].to_numpy(dtype=float)
            b = naive[col].to_numpy(dtype=float)
            bad = ~np.isclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
            if bad.any():
                differing[col] = int(bad.sum())
    two_s, naive_s = statistics.median(walls["two"]), statistics.median(walls["naive"])
    two_cpu, naive_cpu = statistics.median(cpus["two"]), statistics.median(cpus["naive"])
    return {
        "two_level_s": two_s,
        "naive_s": naive_s,
        "naive_over_two_level": naive_s / two_s if two_s else None,
        "two_level_cpu_s": two_cpu,
        "naive_cpu_s": naive_cpu,
        "naive_over_two_level_cpu": naive_cpu / two_cpu if two_cpu else None,
        "two_level_runs_s": walls["two"],
        "naive_runs_s": walls["naive"],
        "two_level_runs_cpu_s": cpus["two"],
        "naive_runs_cpu_s": cpus["naive"],
        "customers": len(two),
        "same_customers": same_customers,
        "differing_values": differing,
        "naive_sql": naive_sql.strip(),
    }


def startup(reps: int) -> dict[str, Any]:
    """Start-up: ``custseg --help``, ``--version`` and an argument error against
    ``python -c "import typer"``, each in a fresh interpreter, ``reps`` rounds interleaved
    (every command once per round, in turn); the median wall time of each."""
    cases = [(STARTUP_BASE[0], [sys.executable, *STARTUP_BASE[1]])] + [
        (label, [*custseg_cmd(), *args]) for label, args in STARTUP_CASES
    ]
    walls: dict[str, list[float]] = {label: [] for label, _ in cases}
    codes: dict[str, int] = {}
    for _ in range(reps):
        for label, cmd in cases:
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False)
            walls[label].append(time.perf_counter() - start)
            codes[label] = proc.returncode
    base = statistics.median(walls[STARTUP_BASE[0]])
    return {
        "reps": reps,
        "base": STARTUP_BASE[0],
        "base_s": base,
        "cases": {
            label: {
                "s": statistics.median(walls[label]),
                "over_base": statistics.median(walls[label]) / base,
                "runs_s": walls[label],
                "returncode": codes[label],
            }
            for label, _ in cases[1:]
        },
    }


def scoring_table(train: Any, columns: list[str], customers: int) -> Any:
    """``customers`` rows drawn from the run's customers (seeded), each float value scaled by
    a log-normal factor: the table :func:`scoring` and :func:`sql_scoring` score."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    rows = rng.integers(0, len(train), customers)
    return pd.DataFrame(
        {
            c: (
                train[c].to_numpy()[rows] * rng.lognormal(0.0, 0.1, customers)
                if pd.api.types.is_float_dtype(train[c])
                else train[c].to_numpy()[rows]
            )
            for c in columns
        }
    )


def scoring(result: Any, customers: int, reps: int) -> dict[str, Any]:
    """Scoring from model.json: the run is saved, its ``model.json`` loaded with
    :meth:`custseg.model.run.RunModel.load`, and the segmenter's ``predict`` (clip,
    Yeo-Johnson, scaling, nearest centroid) timed on a prepared customer table of ``customers``
    rows drawn from the run's customers (seeded, each value scaled by a log-normal factor);
    median of ``reps`` runs after one warm-up. The baseline is scikit-learn's nearest-centroid
    step alone (``KMeans.predict``) on the already transformed table."""
    import numpy as np
    from sklearn.cluster import KMeans

    import custseg
    from custseg.model.run import RunModel

    with tempfile.TemporaryDirectory(prefix="custseg-bench-score-") as tmp:
        custseg.save(result, tmp)
        model = RunModel.load(tmp)
    seg = model.segmenter
    columns = [str(c) for c in seg.feature_names_in_]
    table = scoring_table(result.segments, columns, customers)
    med, walls, cpus, labels = median_of(lambda: seg.predict(table), reps + 1)
    walls, cpus = walls[1:], cpus[1:]  # the first call is the warm-up
    med = statistics.median(walls)
    transformed = seg.transform(table)
    km = KMeans(n_clusters=len(seg.cluster_centers_), n_init=1, init=seg.cluster_centers_)
    km.fit(seg.cluster_centers_)  # a fitted KMeans whose centroids are the model's
    base_med, base_walls, _, base_labels = median_of(lambda: km.predict(transformed), reps + 1)
    base_med = statistics.median(base_walls[1:])
    return {
        "customers": customers,
        "features": columns,
        "k": len(seg.cluster_centers_),
        "s": med,
        "per_s": customers / med,
        "cpu_s": statistics.median(cpus),
        "runs_s": walls,
        "baseline_s": base_med,
        "baseline_per_s": customers / base_med,
        "same_as_baseline": float((np.asarray(labels) == np.asarray(base_labels)).mean()),
    }


def sql_scoring(result: Any, customers: int, reps: int) -> dict[str, Any]:
    """Scoring with the SQL that ``custseg export-sql`` writes, inside DuckDB: its scoring part
    (clip, Yeo-Johnson, scaling, nearest centroid, segment name, rows ordered by customer)
    run on the same prepared customer table as :func:`scoring`, copied into the DuckDB table
    ``features`` the exported query's feature CTEs would have built, its rows written to a
    DuckDB table (``CREATE TABLE … AS``); median of ``reps`` runs after one warm-up. The
    labels are then fetched and compared with Python's ``predict`` on the same rows
    (``same_as_python``)."""
    import numpy as np

    import custseg
    from custseg.engines import connect
    from custseg.lifecycle.sql_export import _scoring_sql
    from custseg.model.run import RunModel

    with tempfile.TemporaryDirectory(prefix="custseg-bench-sqlscore-") as tmp:
        custseg.save(result, tmp)
        model = RunModel.load(tmp)
    seg = model.segmenter
    columns = [str(c) for c in seg.feature_names_in_]
    table = scoring_table(result.segments, columns, customers)
    table.insert(0, "customer_id", np.arange(customers))
    *ctes, final = _scoring_sql(model, columns)
    sql = "WITH " + ",\n".join(ctes) + "\n" + final
    with connect() as engine:
        # a DuckDB table, as in a warehouse, and the scored rows kept in one: what is timed
        # is the query inside DuckDB, not turning 2 M rows into pandas objects
        engine.register("features_frame", table)
        engine.create("features", "SELECT * FROM features_frame")
        engine.drop("features_frame")
        med, walls, cpus, _ = median_of(lambda: engine.create("scored", sql), reps + 1)
        got = engine.frame("SELECT customer_id, segment FROM scored")
    walls = walls[1:]
    med = statistics.median(walls)
    python = seg.predict(table[columns]) + 1
    same = float((got["segment"].to_numpy() == python[got["customer_id"].to_numpy()]).mean())
    return {
        "customers": customers,
        "s": med,
        "per_s": customers / med,
        "cpu_s": statistics.median(cpus[1:]),
        "runs_s": walls,
        "same_as_python": same,
    }


def custseg_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("custseg")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "custseg"]


def cli_run(path: Path, timeout: float, repeat: int) -> dict[str, Any]:
    def once() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="custseg-bench-cli-") as tmp:
            r = measured_subprocess(
                [*custseg_cmd(), "run", str(path), "--out", tmp, "--seed", str(SEED)], timeout
            )
        r.pop("stdout", None)
        return r

    return repeated(once, repeat)


def notebook_run(path: Path, timeout: float, repeat: int) -> dict[str, Any]:
    def once() -> dict[str, Any]:
        r = measured_subprocess([sys.executable, str(NOTEBOOK), str(path)], timeout)
        text = r.pop("stdout", "").strip()
        if r["returncode"] == 0 and text:
            try:
                r["report"] = json.loads(text.splitlines()[-1])
            except json.JSONDecodeError:
                r["error"] = "could not parse the notebook's JSON output"
        return r

    return repeated(once, repeat)


def guarded(what: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as exc:  # one failed measurement must not lose the others
        log(f"{what} failed: {exc!r}")
        return {"error": f"{type(exc).__name__}: {exc}"}


def bench_dataset(
    name: str, path: Path, args: argparse.Namespace, with_notebook: bool, extra: dict[str, Any]
) -> dict[str, Any]:
    import gc

    row: dict[str, Any] = {
        "dataset": name,
        "file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "file_mib": path.stat().st_size / 2**20,
        "load_before": loadavg(),
        **extra,
    }
    log(f"{name}: floor scan")
    row["floor"] = guarded("floor", lambda: floor_scan(path, args.reps))
    log(f"{name}: custseg stages in process + feature query duel")
    row["custseg_stages"] = guarded(
        "stages",
        lambda: in_process(
            path,
            args.reps,
            check_silhouette=not args.quick,
            score_customers=args.score_customers if name == "Online Retail" else 0,
        ),
    )
    gc.collect()
    log(f"{name}: custseg run (subprocess)")
    row["custseg_run"] = guarded("custseg run", lambda: cli_run(path, args.timeout, args.repeat))
    lines = (row.get("floor") or {}).get("lines") or 0
    if with_notebook and lines > args.notebook_max_lines:
        row["notebook"] = {"skipped": f"> {size_label(args.notebook_max_lines)} lines"}
    elif with_notebook:
        log(f"{name}: notebook baseline (subprocess)")
        row["notebook"] = guarded("notebook", lambda: notebook_run(path, args.timeout, args.repeat))
    else:
        row["notebook"] = {"skipped": "--quick" if args.quick else "--notebook"}
    row["load_after"] = loadavg()
    row["ratios"] = ratios(row)
    return row


def ratios(row: dict[str, Any]) -> dict[str, float | None]:
    def get(d: dict[str, Any], *keys: str) -> Any:
        for k in keys:
            if not isinstance(d, dict) or d.get(k) is None:
                return None
            d = d[k]
        return d

    run_ok = get(row, "custseg_run", "returncode") == 0
    run_s = get(row, "custseg_run", "wall_s") if run_ok else None
    nb_ok = get(row, "notebook", "returncode") == 0
    nb_s = get(row, "notebook", "wall_s") if nb_ok else None
    floor_s = get(row, "floor", "s")
    stages = get(row, "custseg_stages", "stages_s") or {}
    data = [stages.get(s) for s in ("read", "audit", "features")]
    data_s = sum(data) if all(v is not None for v in data) else None
    in_proc = [stages.get(s) for s in STAGES if s != "report"]  # save includes the report
    in_proc_s = sum(in_proc) if all(v is not None for v in in_proc) else None

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    run_cpu = get(row, "custseg_run", "cpu_s") if run_ok else None
    nb_cpu = get(row, "notebook", "cpu_s") if nb_ok else None
    return {
        "notebook_over_custseg": div(nb_s, run_s),
        "notebook_over_custseg_cpu": div(nb_cpu, run_cpu),
        "custseg_data_over_floor": div(data_s, floor_s),
        "custseg_run_over_floor": div(run_s, floor_s),
        "custseg_data_s": data_s,
        "custseg_stages_sum_s": in_proc_s,
        "custseg_run_outside_stages_s": (run_s - in_proc_s) if run_s and in_proc_s else None,
        "feature_naive_over_two_level": get(
            row, "custseg_stages", "feature_query", "naive_over_two_level"
        ),
    }


# ---- reporting --------------------------------------------------------------------------------
def fmt_s(v: float | None) -> str:
    if v is None:
        return "—"
    a = abs(v)
    return f"{v:.3f}" if a < 1 else f"{v:.2f}" if a < 10 else f"{v:.1f}"


def fmt_x(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}x" if v >= 10 else f"{v:.2f}x"


def fmt_mib(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def cell(d: dict[str, Any], key: str, fmt: Callable[[Any], str]) -> str:
    if not isinstance(d, dict):
        return "—"
    if "skipped" in d:
        return f"skipped ({d['skipped']})"
    if d.get("returncode", 0) != 0 or ("error" in d and key not in d):
        return "error"
    return fmt(d.get(key))


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's targets, each as a ratio of two figures of this run (or of a figure to the
    target's bound): ``ratio``, ``goal`` (e.g. "≤ 1.5x"), ``met`` (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def add(target: str, ratio: float | None, goal: str, ok: bool | None, measured: str) -> None:
        rows.append(
            {"target": target, "ratio": ratio, "goal": goal, "met": ok, "measured": measured}
        )

    st = report.get("startup") or {}
    for label, case in (st.get("cases") or {}).items():
        r = case["over_base"]
        add(
            f'start-up: {label} vs `python -c "{st["base"]}"`',
            r,
            f"≤ {TARGET_STARTUP}x",
            r <= TARGET_STARTUP,
            f"{fmt_s(case['s'])} s vs {fmt_s(st['base_s'])} s (median of {st['reps']})",
        )
    if not st.get("cases"):
        add("start-up vs `python -c \"import typer\"`", None, f"≤ {TARGET_STARTUP}x", None,
            st.get("error") or "not measured (--startup-reps 0)")  # fmt: skip
    by_name = {r["dataset"]: r for r in report["datasets"]}
    for r in report["datasets"]:
        rat = r["ratios"]
        v = rat["custseg_data_over_floor"]
        add(
            f"{r['dataset']}: (read + audit + features) vs floor scan",
            v,
            f"≤ {TARGET_FLOOR:.0f}x",
            None if v is None else v <= TARGET_FLOOR,
            f"{fmt_s(rat['custseg_data_s'])} s vs {cell(r['floor'], 's', fmt_s)} s",
        )
    for name, goal in (("Online Retail", TARGET_REAL), ("synthetic 10M", TARGET_10M)):
        r = by_name.get(name)
        v = r["ratios"]["notebook_over_custseg"] if r else None
        add(
            f"{name}: notebook / custseg run (whole command)",
            v,
            f"≥ {goal:.0f}x",
            None if v is None else v >= goal,
            (
                f"{cell(r['notebook'], 'wall_s', fmt_s)} s vs "
                f"{cell(r['custseg_run'], 'wall_s', fmt_s)} s"
                if v is not None
                else f"notebook {cell(r['notebook'], 'wall_s', fmt_s)}, custseg run "
                f"{cell(r['custseg_run'], 'wall_s', fmt_s)} s"
                if r
                else "not measured in this run"
            ),
        )
    r = by_name.get("synthetic 100M")
    run = (r or {}).get("custseg_run") or {}
    ok_run = run.get("returncode") == 0
    wall = run.get("wall_s") if ok_run else None
    rss = run.get("peak_rss_mib") if ok_run else None
    add(
        "synthetic 100M: custseg run wall / 60 s",
        None if wall is None else wall / TARGET_100M_S,
        "≤ 1x",
        None if wall is None else wall <= TARGET_100M_S,
        f"{fmt_s(wall)} s" if wall is not None else "not measured in this run",
    )
    add(
        "synthetic 100M: custseg run peak RSS / 4 GiB",
        None if rss is None else rss / 1024 / TARGET_100M_GIB,
        "≤ 1x",
        None if rss is None else rss / 1024 <= TARGET_100M_GIB,
        f"{fmt_mib(rss)} MiB" if rss is not None else "not measured in this run",
    )
    real = (by_name.get("Online Retail") or {}).get("custseg_stages") or {}
    sc = real.get("scoring") or {}
    per_s = sc.get("per_s")
    add(
        "scoring from model.json (RunModel's segmenter.predict) / 10 M customers/s",
        None if per_s is None else per_s / TARGET_SCORE,
        "≥ 1x",
        None if per_s is None else per_s >= TARGET_SCORE,
        (
            f"{per_s / 1e6:.1f} M customers/s on {sc['customers']:,} customers "
            f"(scikit-learn's KMeans.predict alone: {sc['baseline_per_s'] / 1e6:.1f} M/s)"
            if per_s
            else sc.get("error") or "not measured in this run"
        ),
    )
    sq = real.get("sql_scoring") or {}
    sq_per_s = sq.get("per_s")
    add(
        "exported SQL scoring inside DuckDB / 20 M customers/s",
        None if sq_per_s is None else sq_per_s / TARGET_SQL_SCORE,
        "≥ 1x",
        None if sq_per_s is None else sq_per_s >= TARGET_SQL_SCORE,
        f"{sq_per_s / 1e6:.1f} M customers/s"
        if sq_per_s
        else sq.get("skipped") or sq.get("error") or "not measured in this run",
    )
    return rows


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    v = report["versions"]
    out = [
        f"# custseg benchmark — {report['date']}",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), "
        f"{m['mem_gib']} GiB RAM; {m['os']}",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- command: `{report['command']}`; load average at start {report['load_start']}, "
        f"end {report['load_end']}"
        + (f"; thread env {m['thread_env']}" if m["thread_env"] else ""),
        "- every figure is measured in this run; ratios compare figures of the same run. "
        "Seconds are wall time; RSS is the peak resident set of that subprocess.",
        "",
    ]
    if report.get("busy_warning"):
        out += [f"> **Warning:** {report['busy_warning']}", ""]
    out += [
        "## Targets (issue 15)",
        "",
        "| ratio | goal | met | target | measured |",
        "|---|---|---|---|---|",
        *(
            f"| {fmt_x(t['ratio'])} | {t['goal']} "
            f"| {'—' if t['met'] is None else 'yes' if t['met'] else 'NO'} "
            f"| {t['target']} | {t['measured']} |"
            for t in report.get("targets") or []
        ),
        "",
        "## Per data set",
        "",
    ]
    head = (
        "| dataset | lines | customers | custseg run s | read | audit | features "
        "| k sweep | final fit | names/profiles | report | save | peak RSS MiB | notebook s "
        "| notebook RSS MiB | notebook/custseg | floor s | custseg data/floor |"
    )
    out += [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in report["datasets"]:
        st = r.get("custseg_stages") or {}
        stages = st.get("stages_s") or {}
        lines = (r.get("floor") or {}).get("lines") or st.get("input_rows")
        rat = r["ratios"]
        out.append(
            "| "
            + " | ".join(
                [
                    r["dataset"],
                    f"{lines:,}" if lines else "—",
                    f"{st['customers']:,}" if st.get("customers") else "—",
                    cell(r["custseg_run"], "wall_s", fmt_s),
                    *(fmt_s(stages.get(s)) for s in STAGES),
                    cell(r["custseg_run"], "peak_rss_mib", fmt_mib),
                    cell(r["notebook"], "wall_s", fmt_s),
                    cell(r["notebook"], "peak_rss_mib", fmt_mib),
                    fmt_x(rat["notebook_over_custseg"]),
                    cell(r["floor"], "s", fmt_s),
                    fmt_x(rat["custseg_data_over_floor"]),
                ]
            )
            + " |"
        )
    out += [
        "",
        "Stages are measured in the benchmark process (imports already done, fresh DuckDB "
        "connection); *custseg run s* is the whole command in a subprocess, imports and file "
        "hashing included. *audit* cleans the lines (in parts of 15 M lines at most) and "
        "leaves per-customer totals and exploration sums; *features* is the final feature "
        "query over those totals. *report* renders the HTML alone; *save* writes every file, "
        "the report included. *custseg data/floor* = (read + audit + features) / floor.",
        "",
        "## Feature query: two-level aggregation (custseg) vs naive single-level GROUP BY",
        "",
        "| dataset | customers | two-level s | naive 2 COUNT(DISTINCT) s | naive/two-level "
        "| two-level CPU s | naive CPU s | naive/two-level CPU | same result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["datasets"]:
        fq = (r.get("custseg_stages") or {}).get("feature_query")
        if not fq or "skipped" in fq:
            out.append(f"| {r['dataset']} |" + " — |" * 8)
            continue
        same = (
            "yes"
            if fq["same_customers"] and not fq["differing_values"]
            else (
                "customers differ"
                if not fq["same_customers"]
                else "values differ: "
                + ", ".join(f"{k} ({n})" for k, n in fq["differing_values"].items())
            )
        )
        out.append(
            f"| {r['dataset']} | {fq['customers']:,} | {fmt_s(fq['two_level_s'])} "
            f"| {fmt_s(fq['naive_s'])} | {fmt_x(fq['naive_over_two_level'])} "
            f"| {fmt_s(fq.get('two_level_cpu_s'))} | {fmt_s(fq.get('naive_cpu_s'))} "
            f"| {fmt_x(fq.get('naive_over_two_level_cpu'))} | {same} |"
        )
    out += [
        "",
        "Median of the runs, interleaved; >1x means the two-level query is faster. CPU s is "
        "the process CPU time of the query (all DuckDB threads), less sensitive than wall time "
        "to other load on the machine.",
        "",
        "## CPU seconds (user + system) of the subprocesses",
        "",
        "| dataset | custseg run CPU s | notebook CPU s | notebook/custseg CPU "
        "| custseg run wall minus in-process stages s |",
        "|---|---|---|---|---|",
        *(
            f"| {r['dataset']} | {cell(r['custseg_run'], 'cpu_s', fmt_s)} "
            f"| {cell(r['notebook'], 'cpu_s', fmt_s)} "
            f"| {fmt_x(r['ratios']['notebook_over_custseg_cpu'])} "
            f"| {fmt_s(r['ratios']['custseg_run_outside_stages_s'])} |"
            for r in report["datasets"]
        ),
        "",
        "The last column is what the command costs beyond the measured stages: mostly Python "
        "imports, plus process start and printing the summary.",
        "",
        "## Peak memory by stage (benchmark process, MiB)",
        "",
        "| dataset | at start | read | audit | features | model fit (sweep + final) "
        "| names/profiles | save | whole |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['dataset']} | {fmt_mib(st.get('rss_at_start_mib'))} | "
            + " | ".join(
                fmt_mib((st.get("stage_peak_rss_mib") or {}).get(k))
                for k in ("read", "audit", "features", "sweep", "fit", "save")
            )
            + f" | {fmt_mib(st.get('peak_rss_mib'))} |"
            for r in report["datasets"]
            for st in [r.get("custseg_stages") or {}]
        ),
        "",
        "Resident memory of the benchmark process sampled every 20 ms during each stage; it "
        "includes what the process held at the start (imports, earlier data sets), so the "
        "subprocess's peak RSS in the first table is the figure to compare with a budget.",
        "",
        "## Sampled silhouette against the silhouette of all customers",
        "",
        "| dataset | customers | silhouette sample | k | sampled | all customers | error "
        "| all-customer time s |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['dataset']} | {c['customers']:,} | {c['sample']['silhouette']:,} | {b['k']} "
            f"| {b['sampled']:.4f} | {b['full']:.4f} | {b['error']:+.4f} | {fmt_s(b['full_s'])} |"
            for r in report["datasets"]
            for c in [((r.get("custseg_stages") or {}).get("silhouette_check") or {})]
            if c.get("by_k")
            for b in c["by_k"]
        ),
        "",
        "Customers labelled by the sweep's centroids for k; *sampled* is the silhouette the "
        "sweep computed on its seeded sample, *all customers* scikit-learn's silhouette_score "
        "on every customer (run without --quick, where there are at most 50 k customers).",
        "",
        "## Notebook baseline detail",
        "",
        "| dataset | customers | k (best silhouette) | silhouette on | read | clean | rfm | sweep "
        "| final fit | imports |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["datasets"]:
        nb = (r.get("notebook") or {}).get("report")
        if not nb:
            continue
        t = nb["times"]
        out.append(
            f"| {r['dataset']} | {nb['customers']:,} | {nb['best_k']} | {nb['silhouette_on']:,} | "
            + " | ".join(fmt_s(t.get(k)) for k in NOTEBOOK_STEPS)
            + " |"
        )
    errors = [
        f"- {r['dataset']} / {part}: {r[part]['error']}"
        for r in report["datasets"]
        for part in ("floor", "custseg_stages", "custseg_run", "notebook")
        if isinstance(r.get(part), dict) and r[part].get("error")
    ]
    if errors:
        out += ["", "## Errors", "", *errors]
    return "\n".join(out) + "\n"


# ---- main -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark custseg against baselines measured in the same run."
    )
    p.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        metavar="N",
        help="synthetic sizes in lines, e.g. 1M 10M (default: 1M 10M)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="Online Retail + 1M only; notebook baseline on Online Retail only",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=BENCH / "results",
        help="folder for the JSON and Markdown results (default bench/results)",
    )
    p.add_argument(
        "--notebook",
        choices=("all", "real", "none"),
        help="where to run the notebook baseline (default: all; real with --quick)",
    )
    p.add_argument("--no-real", action="store_true", help="skip the Online Retail file")
    p.add_argument(
        "--notebook-max-lines",
        type=parse_size,
        default=NOTEBOOK_MAX_LINES,
        help="skip the notebook baseline on larger files (it loads every line "
        "into pandas); default 20M",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each subprocess (custseg run, notebook); the median is kept",
    )
    p.add_argument(
        "--reps",
        type=int,
        default=3,
        help="runs of each in-process query (floor, feature queries); median kept",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds before a subprocess is killed (default 900)",
    )
    p.add_argument(
        "--threads", type=int, help="set OMP/OpenBLAS/CUSTSEG thread counts for everything measured"
    )
    p.add_argument(
        "--startup-reps",
        type=int,
        default=9,
        help="rounds of the start-up commands (custseg --help, --version, an argument error, "
        "python -c 'import typer'), interleaved; median kept; 0 skips (default 9)",
    )
    p.add_argument(
        "--score-customers",
        type=parse_size,
        default=2_000_000,
        help="customers scored from Online Retail's model.json (default 2M)",
    )
    args = p.parse_args(argv)
    if args.quick and args.sizes:
        p.error("--quick fixes the sizes (Online Retail + 1M); drop --sizes or --quick")
    args.sizes = sorted(set(args.sizes or ([1_000_000] if args.quick else [1_000_000, 10_000_000])))
    if args.notebook is None:
        args.notebook = "real" if args.quick else "all"
    if args.repeat < 1 or args.reps < 1:
        p.error("--repeat and --reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:  # before numpy, scikit-learn or DuckDB are imported; inherited by children
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    # import now what the stages would otherwise import lazily, so that the in-process stage
    # times do not include imports (the subprocess runs do)
    import kneed  # noqa: F401
    import sklearn.cluster  # noqa: F401

    import custseg.pipeline
    import custseg.report  # noqa: F401

    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)]),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine(),
        "versions": versions(),
        "load_start": loadavg(),
        "datasets": [],
    }
    cores = report["machine"]["cores_usable"] or report["machine"]["cores"] or 1
    if report["load_start"] and report["load_start"][0] > cores * 0.75:
        report["busy_warning"] = (
            f"the machine was busy when the run started (1-min load {report['load_start'][0]} "
            f"on {cores} cores): absolute times are inflated and noisy, and scikit-learn's "
            "OpenMP K-Means suffers most from sharing cores; trust same-run ratios more."
        )
        log(report["busy_warning"])

    if args.startup_reps > 0:
        log(f"start-up: {args.startup_reps} rounds")
        report["startup"] = guarded("start-up", lambda: startup(args.startup_reps))

    todo: list[tuple[str, Path, bool, dict[str, Any]]] = []
    if not args.no_real:
        if REAL_FILE.exists():
            todo.append(("Online Retail", REAL_FILE, args.notebook != "none", {}))
        else:
            log(f"{REAL_FILE} is missing; skipping the real data set")
    for n in args.sizes:
        path, info = synthetic(n)
        todo.append((f"synthetic {size_label(n)}", path, args.notebook == "all", info))

    for name, path, with_nb, extra in todo:
        row = bench_dataset(name, path, args, with_nb, extra)
        report["datasets"].append(row)
        log(
            f"{name}: done (custseg run {fmt_s(row['custseg_run'].get('wall_s'))} s, "
            f"notebook {fmt_s(row['notebook'].get('wall_s'))} s)"
        )

    report["load_end"] = loadavg()
    report["total_s"] = time.perf_counter() - started
    report["targets"] = targets(report)
    text = markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for base in (f"bench-{stamp}", "latest"):
        (args.out / f"{base}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        (args.out / f"{base}.md").write_text(text)
    print(text)
    log(f"total {report['total_s']:.0f} s; written {args.out / f'bench-{stamp}.json'} and .md")
    failed = any(
        isinstance(r.get(p), dict) and r[p].get("error")
        for r in report["datasets"]
        for p in ("floor", "custseg_stages", "custseg_run", "notebook")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
