"""The embedded DuckDB engine."""

from __future__ import annotations

import os
import tempfile

import duckdb


def connect(
    threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection, quiet (no progress bar), with optional limits.

    ``CUSTSEG_THREADS`` and ``CUSTSEG_MEMORY_LIMIT`` set the limits from the environment.
    What DuckDB spills to disk goes to the system's temporary folder (``TMPDIR``), never to
    the working directory.
    """
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET temp_directory = ?", [os.path.join(tempfile.gettempdir(), "custseg-duckdb")])
    threads = threads or int(os.environ.get("CUSTSEG_THREADS", "0") or 0) or None
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    memory_limit = memory_limit or os.environ.get("CUSTSEG_MEMORY_LIMIT")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    return con
