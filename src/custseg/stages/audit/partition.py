"""Cleaning in parts: disjoint sets of customers, one at a time, whose sums add up to the whole."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import duckdb

from custseg.engines.sql import ident, literal
from custseg.sources.readers import Source
from custseg.sources.schema import ColumnMap
from custseg.stages.audit.parse import (
    customer_expr,
)

#: lines cleaned at once (see :func:`partitions`); ``CUSTSEG_PARTITION_LINES`` overrides it
PARTITION_LINES = 25_000_000


def partition_key(col: str, dtype: str, cleaned: str) -> str:
    """SQL hashing the customer id so that equal cleaned ids fall in the same part.

    Numbers are hashed as they are (adding 0.0 turns -0.0 into 0.0), which skips turning every
    id into text on each pass; text is hashed once cleaned (``" 12346.0"`` is ``"12346"``).
    """
    if any(t in dtype for t in ("DOUBLE", "FLOAT", "REAL")):
        return f"hash({ident(col)} + 0.0)"
    if any(t in dtype for t in ("INT", "DECIMAL", "NUMERIC")):
        return f"hash({ident(col)})"
    return f"hash({cleaned})"


def part_key(src: Source, colmap: ColumnMap) -> str:
    """SQL of the hash that sends each customer's lines to one part (see :func:`_partition_key`)."""
    col = colmap.present()["customer_id"]
    # the type's name without its parameters: ENUM('mint', 'realty') (a pandas categorical)
    # lists its values, which must not be read as INT or REAL
    id_type = src.types[col].upper().split("(", 1)[0]
    return partition_key(col, id_type, customer_expr(col, id_type))


@contextmanager
def split_parts(
    con: duckdb.DuckDBPyConnection, src: Source, colmap: ColumnMap, parts: int
) -> Iterator[list[tuple[Source, tuple[int, int]]]]:
    """Where each part's lines are read from: ``(source, part)`` for every part.

    Parts of a Parquet file filter the file (a scan that skips other parts' customers costs
    little). A CSV file cleaned in several parts is split once into temporary Parquet files,
    one per part (same text columns): otherwise every part would parse the whole file and
    clean every customer id again to find its own (3.3 s per part and 10 M lines).
    """
    if parts < 2 or src.kind != "csv":
        yield [(src, (i, parts)) for i in range(parts)]
        return
    folder = Path(tempfile.mkdtemp(prefix="custseg-parts-"))
    views = [f"{src.view}_part{i}" for i in range(parts)]
    try:
        con.execute(
            f"COPY (SELECT *, {part_key(src, colmap)} % {int(parts)} AS _cs_part "
            f"FROM {ident(src.view)}) TO {literal(str(folder))} "
            "(FORMAT parquet, PARTITION_BY (_cs_part), COMPRESSION lz4)"
        )
        for i, view in enumerate(views):
            where = folder / f"_cs_part={i}"
            body = (
                f"SELECT * FROM read_parquet({literal(str(where / '*.parquet'))}, "
                "hive_partitioning = false)"
                if where.is_dir()
                else f"SELECT * FROM {ident(src.view)} LIMIT 0"  # no customer hashed here
            )
            con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS {body}")
        yield [(replace(src, view=view), (0, 1)) for view in views]
    finally:
        for view in views:
            con.execute(f"DROP VIEW IF EXISTS {ident(view)}")
        shutil.rmtree(folder, ignore_errors=True)


def partitions(con: duckdb.DuckDBPyConnection, src: Source) -> int:
    """How many disjoint sets of customers the lines are cleaned in, one set at a time.

    One for inputs up to ``CUSTSEG_PARTITION_LINES`` lines (default 25 million); beyond, the
    lines of one part at a time are held, which bounds the memory of any input size (on 100 M
    synthetic lines, five parts peak at about 5 GB).
    """
    per_part = int(os.environ.get("CUSTSEG_PARTITION_LINES", "0") or 0) or PARTITION_LINES
    rows = src.estimated_rows(con)
    return max(1, -(-rows // per_part))
