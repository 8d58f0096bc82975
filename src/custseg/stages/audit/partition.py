"""Cleaning in parts: disjoint sets of customers, one at a time, whose sums add up to the whole."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from custseg.config import PARTITION_LINES
from custseg.engines.base import LINE_NO, Engine
from custseg.engines.sql import ident
from custseg.sources.readers import Source
from custseg.sources.schema import ColumnMap
from custseg.stages import relations as rel
from custseg.stages.audit.parse import (
    customer_expr,
)

__all__ = [
    "PARTITION_LINES",
    "numbered_sql",
    "part_key",
    "partition_key",
    "partitions",
    "split_parts",
]


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


def numbered_sql(con: Engine, src: Source, *, whole: bool) -> str | None:
    """SQL of the source's rows with their 1-based input position as :data:`LINE_NO`.

    The engine's own numbers where it reads them from the files
    (:meth:`~custseg.engines.base.Engine.numbered`). Otherwise, with ``whole`` (an input
    about to be split or filtered into parts, whose lines keep the input's numbers),
    ``row_number() OVER ()`` over every row; without, ``None``: the caller numbers the rows
    as it reads them. ``None`` too when the source has a column of that name.
    """
    numbered = con.numbered(src.view)
    if numbered is not None or not whole:
        return numbered
    if LINE_NO in {c.casefold() for c in src.columns}:
        return None
    return f"SELECT *, row_number() OVER () AS {LINE_NO} FROM {ident(src.view)}"


@contextmanager
def split_parts(
    con: Engine, src: Source, colmap: ColumnMap, parts: int
) -> Iterator[list[tuple[Source, tuple[int, int]]]]:
    """Where each part's lines are read from: ``(source, part)`` for every part.

    Sources of the kinds the engine splits (:attr:`~custseg.engines.base.Engine.split_kinds`:
    CSV everywhere, Parquet on DuckDB) are split once by the engine
    (:meth:`~custseg.engines.base.Engine.split`; DuckDB writes temporary Parquet files, same
    columns), into relations ``source_part_<i>`` dropped on leaving: otherwise every part
    would read and decode the whole input and clean every customer id again to find its own
    (CSV: 3.3 s per part and 10 M lines). The input's lines are numbered before the split
    (:func:`numbered_sql`) and the parts carry those numbers
    (:attr:`Source.line_no`). Other parts (a frame, a table of a server, Parquet on Spark)
    filter the source, numbered as a whole.
    """
    if parts < 2 or src.kind not in con.split_kinds:
        yield [(src, (i, parts)) for i in range(parts)]
        return
    names: list[str] = []
    numbered = numbered_sql(con, src, whole=True)
    try:
        names = con.split(
            rel.SOURCE_PART,
            numbered or f"SELECT * FROM {ident(src.view)}",
            f"{part_key(src, colmap)} % {int(parts)}",
            parts,
        )
        line_no = LINE_NO if numbered is not None else None
        yield [(replace(src, view=name, line_no=line_no), (0, 1)) for name in names]
    finally:
        for name in names:
            con.drop(name)


def partitions(con: Engine, src: Source) -> int:
    """How many disjoint sets of customers the lines are cleaned in, one set at a time.

    One for inputs up to ``con.settings.partition_lines`` lines (``CUSTSEG_PARTITION_LINES``,
    default 15 million); beyond, the lines of one part at a time are held, which bounds the
    memory of any input size. On 100 M synthetic lines (a Parquet file, split once, 2 cores),
    the whole ``custseg run`` peaked at 3.8 GiB in parts of 15 M lines (7 parts, 213 s)
    against 5.0 GiB in parts of 25 M (5 parts, 202 s).
    """
    per_part = con.settings.partition_lines
    rows = src.estimated_rows(con)
    return max(1, -(-rows // per_part))
