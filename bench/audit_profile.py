"""Every SQL statement of the data path (read, audit, features) with its wall and CPU time.

```sh
.venv/bin/python bench/audit_profile.py data/online_retail.parquet          # the 15 slowest
.venv/bin/python bench/audit_profile.py FILE --all --width 0                # all, whole SQL
```

The DuckDB engine's statements are timed one by one (the engine's own catalogue lookups are
not statements and show only in the stage totals); the run stops when the k sweep starts.
Times of statements that run side by side on several threads show CPU above wall. On the
shared 2-core machines, compare figures of the same run only (see README.md, *Noise*).
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

from custseg.engines.base import Params
from custseg.engines.duckdb import DuckDBEngine
from custseg.pipeline import segment


class _Stop(Exception):
    """Raised at the start of the k sweep: the data path is over."""


class TimedEngine(DuckDBEngine):
    """The DuckDB engine, keeping (wall s, CPU s, SQL) of every statement it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.timings: list[tuple[float, float, str]] = []

    def _execute(self, sql: str, params: Params) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = super()._execute(sql, params)
        self.timings.append((time.perf_counter() - wall, time.process_time() - cpu, sql))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--all", action="store_true", help="every statement, in order")
    parser.add_argument("--top", type=int, default=15, help="the slowest N (default 15)")
    parser.add_argument("--width", type=int, default=140, help="SQL shown per line (0: all)")
    args = parser.parse_args()

    import kneed  # noqa: F401 - imported before the clock starts, as bench/run.py does
    import sklearn  # noqa: F401

    marks: dict[str, tuple[float, float, int]] = {}
    con = TimedEngine()

    def on_step(name: str, info: dict[str, Any]) -> None:
        marks[name] = (time.perf_counter(), time.process_time(), len(con.timings))
        if name == "sweep":
            raise _Stop

    try:
        segment(args.input, seed=0, on_step=on_step, con=con)
    except _Stop:
        pass
    finally:
        con.close()
    steps = [s for s in ("read", "audit", "features", "sweep") if s in marks]
    for a, b in itertools.pairwise(steps):
        (w0, c0, n0), (w1, c1, n1) = marks[a], marks[b]
        print(f"{a:9s} wall {w1 - w0:7.3f} s  CPU {c1 - c0:7.3f} s  statements {n1 - n0}")
    rows = con.timings if args.all else sorted(con.timings, key=lambda t: -t[0])[: args.top]
    total_w = sum(t[0] for t in con.timings)
    total_c = sum(t[1] for t in con.timings)
    print(f"{len(con.timings)} statements: wall {total_w:.3f} s, CPU {total_c:.3f} s")
    print("   wall s    CPU s  SQL")
    for wall, cpu, sql in rows:
        text = " ".join(sql.split())
        print(f"  {wall:7.3f}  {cpu:7.3f}  {text[: args.width] if args.width else text}")


if __name__ == "__main__":
    main()
