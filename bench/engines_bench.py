"""The engines side by side: DuckDB, Spark (local mode) and PostgreSQL on the same lines.

    python bench/engines_bench.py                     # Online Retail and 10 M synthetic lines
    python bench/engines_bench.py --sizes 1M          # Online Retail and 1 M lines
    python bench/engines_bench.py --engines duckdb spark --master local[2]

For each input, each engine runs ``custseg.segment`` (k given, so that the k sweep, the same
Python code whatever the engine, does not drown the engines' part) and the time of its stages
is taken from ``on_step``: *read* (the input exposed to the engine), *audit + features* (the
cleaning rules and the customer features, run inside the engine: the part that differs) and
the whole call. Set-up costs are shown apart: Spark's JVM start-up (the first session of the
process) and the loading of the lines into PostgreSQL (a throwaway server of tests/postgres.py,
filled by ``COPY`` from a CSV written by DuckDB), which a user whose data already lies in the
database does not pay. Every engine must give the same segments as DuckDB: the bench checks
it. Only ratios between figures of one run are meaningful: they are printed as a Markdown
table, and written as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import REAL_FILE, machine, parse_size, size_label, synthetic  # noqa: E402

ENGINES = ("duckdb", "spark", "postgres")


def timed_segment(source: Any, con: Any, **kwargs: Any) -> tuple[dict[str, float], Any]:
    """``custseg.segment`` on ``con``, with the seconds of its read, audit + features and
    whole call."""
    import custseg

    marks: dict[str, float] = {}

    def on_step(step: str, info: dict[str, Any]) -> None:
        marks.setdefault(step, time.perf_counter())

    start = time.perf_counter()
    result = custseg.segment(source, con=con, seed=0, k=5, on_step=on_step, **kwargs)
    end = time.perf_counter()
    times = {
        "read_s": marks["audit"] - marks["read"],
        "audit_features_s": marks["sweep"] - marks["audit"],
        "total_s": end - start,
    }
    return times, result


def load_postgres(server: Any, path: Path, table: str) -> float:
    """Fill ``table`` of the server with the lines of a Parquet file (COPY of a CSV written by
    DuckDB); the seconds it took."""
    import duckdb

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "lines.csv"
        con = duckdb.connect()
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{path}')) TO '{csv}' (FORMAT csv, HEADER false)"
        )
        types = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        con.close()
        pg_types = {"VARCHAR": "TEXT", "DOUBLE": "DOUBLE PRECISION", "TIMESTAMP": "TIMESTAMP"}
        columns = ", ".join(f'"{name}" {pg_types.get(kind, kind)}' for name, kind, *_ in types)
        with server.connect() as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            conn.execute(f'CREATE TABLE "{table}" ({columns})')
            with (
                conn.cursor() as cur,
                cur.copy(f'COPY "{table}" FROM STDIN (FORMAT csv)') as copy,
                csv.open("rb") as fh,
            ):
                while block := fh.read(8 << 20):
                    copy.write(block)
            conn.execute(f'ANALYZE "{table}"')
            conn.commit()
    return time.perf_counter() - start


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from custseg.config import Settings
    from custseg.engines import connect

    inputs: list[tuple[str, Path]] = [("Online Retail", REAL_FILE)]
    for size in args.sizes:
        inputs.append((f"{size_label(size)} lines", synthetic(size)[0]))
    settings = Settings(threads=args.threads)
    report: dict[str, Any] = {"machine": machine(), "threads": args.threads, "rows": []}
    server = None
    if "spark" in args.engines:
        start = time.perf_counter()
        connect("spark", settings=settings, master=args.master).close()
        report["spark_jvm_start_s"] = time.perf_counter() - start
        report["spark_master"] = args.master
    if "postgres" in args.engines:
        from tests import postgres as pg

        why = pg.unavailable()
        if why is not None:
            raise SystemExit(f"no PostgreSQL server: {why}")
        server = pg.start()
    try:
        for label, path in inputs:
            print(f"# {label} ({path.name})", file=sys.stderr, flush=True)
            row: dict[str, Any] = {"input": label}
            reference = None
            for name in args.engines:
                source: Any = str(path)
                extra: dict[str, Any] = {}
                if name == "postgres":
                    assert server is not None
                    row["postgres_load_s"] = load_postgres(server, path, "lines")
                    source = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
                    extra = {"table": "lines"}
                    con = connect("postgres", settings=settings, url=source)
                else:
                    con = connect(name, settings=settings, master=args.master)
                try:
                    times, result = timed_segment(source, con, **extra)
                finally:
                    con.close()
                row[name] = times
                segments = list(result.segments["segment"])
                if reference is None:
                    reference = segments
                row[name]["same_segments_as_first"] = segments == reference
                print(f"  {name}: {times}", file=sys.stderr, flush=True)
            report["rows"].append(row)
    finally:
        if server is not None:
            server.stop()
    return report


def markdown(report: dict[str, Any]) -> str:
    engines = [e for e in ENGINES if any(e in r for r in report["rows"])]
    head = "| input | " + " | ".join(f"{e} audit+features (s) | {e} whole (s)" for e in engines)
    others = [e for e in engines if e != "duckdb"]
    head += "".join(f" | {e} / duckdb (audit+features) | {e} / duckdb (whole)" for e in others)
    lines = [head + " |", "|" + "---|" * (1 + 2 * len(engines) + 2 * len(others))]
    for row in report["rows"]:
        cells = [row["input"]]
        for e in engines:
            t = row.get(e, {})
            cells += [f"{t.get('audit_features_s', float('nan')):.2f}"]
            cells += [f"{t.get('total_s', float('nan')):.2f}"]
        base = row.get("duckdb")
        for e in others:
            t = row.get(e)
            if base and t:
                cells += [f"{t['audit_features_s'] / base['audit_features_s']:.1f}×"]
                cells += [f"{t['total_s'] / base['total_s']:.1f}×"]
            else:
                cells += ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if "spark_jvm_start_s" in report:
        notes.append(
            f"Spark {report['spark_master']}: JVM start-up {report['spark_jvm_start_s']:.1f} s "
            "(once per process, not in the figures above)."
        )
    for row in report["rows"]:
        if "postgres_load_s" in row:
            notes.append(
                f"{row['input']}: loading the lines into PostgreSQL took "
                f"{row['postgres_load_s']:.1f} s (not in the figures above)."
            )
        for e in engines:
            if e in row and not row[e]["same_segments_as_first"]:
                notes.append(f"{row['input']}: {e} did NOT give DuckDB's segments.")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="*", type=parse_size, default=[parse_size("10M")])
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    p.add_argument("--threads", type=int, default=2, help="threads of every engine")
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    args = p.parse_args(argv)
    os.environ.setdefault("CUSTSEG_THREADS", str(args.threads))
    report = bench(args)
    text = markdown(report)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
