"""The floor of the data path: the aggregations the cleaning and the features cannot avoid,
each timed alone on the finished tables, next to the floor scan of the input.

```sh
.venv/bin/python bench/audit_floor.py bench/.cache/synthetic_10M_seed0.parquet
```

The input is cleaned once as ``custseg run`` cleans it (in one part: keep it under
``CUSTSEG_PARTITION_LINES`` lines, 15 M by default); then each statement below runs
``--reps`` times on the tables the audit left, written to a temporary table, and the median
wall time is printed with its ratio to the floor scan (``bench/run.py``'s ``floor_scan``: the
needed columns decoded once, in a connection of its own). What they compute:

- *duplicate search*: the whole-row hashes seen more than once (every line's hash grouped);
- *per-invoice sums*: the kept lines per (customer, invoice), as the audit writes them;
- *product breadth*: distinct products among each customer's kept purchases, as the
  features count them;
- *lines table, copied*: the cleaned lines copied into another table (what keeping them
  costs, without reading or parsing the input).

Nothing is asserted; the README's speed section quotes a run of it.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

from run import floor_scan  # bench/run.py, beside this file

from custseg.engines.duckdb import DuckDBEngine
from custseg.pipeline import segment
from custseg.stages import relations as rel
from custseg.stages.audit.rules import COMPARED, PER_INVOICE_SQL
from custseg.stages.features import PER_PRODUCT_SQL


class _Stop(Exception):
    """Raised at the start of the k sweep: the tables of the data path are made."""


def statements() -> dict[str, str]:
    """Name → SQL of each aggregation, over the audit's tables."""
    return {
        "duplicate search (row hashes seen twice)": (
            f"SELECT h FROM {rel.LINES} WHERE {COMPARED.format(t='')} "
            "GROUP BY h HAVING count(*) > 1"
        ),
        "per-invoice sums": PER_INVOICE_SQL.format(lines=rel.LINES),
        "product breadth": PER_PRODUCT_SQL.format(lines=rel.LINES),
        "lines table, copied": f"SELECT * FROM {rel.LINES}",
    }


def timed(con: DuckDBEngine, sql: str, reps: int) -> float:
    """Median wall time of ``reps`` runs after one warm-up, the rows written to a table."""
    walls = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        con.create("_cs_floor_out", sql)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="a Parquet file of transaction lines")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    con = DuckDBEngine()

    def on_step(name: str, info: object) -> None:
        if name == "sweep":
            raise _Stop

    try:
        with contextlib.suppress(_Stop):  # stopped where the k sweep starts
            segment(str(args.input), seed=0, on_step=on_step, con=con)
        if not con.exists(rel.LINES):
            raise SystemExit(
                f"{args.input}: cleaned in parts, so no lines table is left; "
                "raise CUSTSEG_PARTITION_LINES above its line count"
            )
        lines = int(con.scalar(f"SELECT count(*) FROM {rel.LINES}"))
        floor = float(floor_scan(args.input, args.reps)["s"])
        print(f"{args.input}: {lines:,} lines; median of {args.reps} runs after a warm-up")
        print(f"| statement | s | × floor scan ({floor:.3f} s) |")
        print("|---|---|---|")
        total = 0.0
        for name, sql in statements().items():
            wall = timed(con, sql, args.reps)
            if name != "lines table, copied":
                total += wall
            print(f"| {name} | {wall:.3f} | {wall / floor:.1f}× |")
        print(f"| the three aggregations together | {total:.3f} | {total / floor:.1f}× |")
    finally:
        con.close()


if __name__ == "__main__":
    main()
