"""The embedded DuckDB engine: the default, with no server to run.

The only module of custseg that imports :mod:`duckdb`. Besides the :class:`~custseg.engines.base.Engine`
contract it offers what only a local engine can: :meth:`DuckDBEngine.copy_csv` renders an Arrow
table as CSV byte for byte as pandas does (the fast writer of :mod:`custseg.outputs.files`), and
:meth:`DuckDBEngine.cursor` gives another connection to the same database, for a thread.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import duckdb

from custseg.config import Settings, settings
from custseg.engines.base import LINE_NO, Engine, Params
from custseg.engines.sql import ident, literal
from custseg.errors import EngineError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

T = TypeVar("T")

_names = itertools.count()


@contextmanager
def _errors() -> Iterator[None]:
    """Raise DuckDB's errors as :class:`EngineError`: the first line of DuckDB's message (the
    whole error stays chained as ``__cause__``)."""
    try:
        yield
    except duckdb.Error as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise EngineError(first or type(exc).__name__) from exc


class DuckDBEngine(Engine):
    """An in-memory DuckDB database, quiet (no progress bar), within the given settings.

    Threads and memory limit come from ``settings`` (by default :func:`custseg.config.settings`,
    itself from ``CUSTSEG_THREADS`` and ``CUSTSEG_MEMORY_LIMIT``), overridden by ``threads``
    and ``memory_limit``. What DuckDB spills to disk goes to ``custseg-duckdb`` in the
    settings' temporary folder (``TMPDIR``), never to the working directory.

    Examples
    --------
    >>> with DuckDBEngine(threads=1) as engine:
    ...     engine.create("t", "SELECT 1 AS x UNION ALL SELECT 2")
    ...     engine.rows("SELECT x * ? FROM t ORDER BY x", [10])
    [(10,), (20,)]
    """

    dialect = "duckdb"
    #: Parquet too: filtering every part's customers out of the whole file decoded every
    #: column of every row once per part (100 M lines in 5 parts: 13.5-15 s per part's
    #: lines table, against 2.7 s for 10 M lines read whole)
    split_kinds = frozenset({"csv", "parquet"})

    def __init__(
        self,
        settings_: Settings | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        _con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        base = settings_ or settings()
        self.settings = replace(
            base, threads=threads or base.threads, memory_limit=memory_limit or base.memory_limit
        )
        self._registered: set[str] = set()
        self._parts: dict[str, tuple[Path, Path]] = {}  # part relation → (its folder, root)
        # relation made by scan → the files' SQL as it reads them, and the files
        self._parquet: dict[str, tuple[str, list[str]]] = {}
        if _con is not None:  # a cursor of another engine
            self._con = _con
            return
        with _errors():
            self._con = duckdb.connect(":memory:")
            self._con.execute("SET enable_progress_bar = false")
            spill = Path(self.settings.temp_dir) / "custseg-duckdb"
            self._con.execute("SET temp_directory = ?", [str(spill)])
            if self.settings.threads:
                self._con.execute(f"SET threads = {int(self.settings.threads)}")
            if self.settings.memory_limit:
                self._con.execute("SET memory_limit = ?", [self.settings.memory_limit])

    def _run(self, call: Callable[[], T]) -> T:
        with _errors():
            return call()

    # ---- sources -------------------------------------------------------------------------
    def register(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        self.drop(name)
        self._run(lambda: self._con.register(name, frame))
        self._registered.add(name)

    def scan(
        self,
        name: str,
        path: str | PathLike[str] | Sequence[str | PathLike[str]],
        *,
        format: Literal["parquet", "csv"],
        parallel: bool = True,
        delimiter: str | None = None,
        skip: int = 0,
    ) -> None:
        if isinstance(path, str | PathLike):
            where = literal(str(path))
        else:
            where = "[" + ", ".join(literal(str(p)) for p in path) + "]"
        if format == "parquet":
            body = f"SELECT * FROM read_parquet({where})"
        elif format == "csv":
            dialect = "".join(
                [
                    f", delim = {literal(delimiter)}" if delimiter is not None else "",
                    f", skip = {int(skip)}" if skip else "",
                ]
            )
            body = (
                f"SELECT * FROM read_csv({where}, all_varchar = true, header = true, "
                "quote = '\"', escape = '\"', strict_mode = false, null_padding = true, "
                f"parallel = {str(bool(parallel)).lower()}{dialect})"
            )
        else:
            raise ValueError(f"format {format!r} unknown; use parquet or csv")
        self.create(name, body, view=True)
        if format == "parquet":
            files = [str(path)] if isinstance(path, str | PathLike) else [str(p) for p in path]
            self._parquet[name] = (where, files)

    #: at most this many files are numbered from their row counts (one ``WHEN`` per file)
    NUMBERED_FILES = 256

    def numbered(self, name: str) -> str | None:
        """Parquet files number their rows themselves (``file_row_number``, plus the rows of
        the files before): read in parallel, where ``row_number() OVER ()`` reads in one
        thread (10 M lines: the audit's ``lines`` table in 2.7 s instead of 5.2 s, the same
        numbers)."""
        where, files = self._parquet.get(name, ("", []))
        if not files or len(files) > self.NUMBERED_FILES or len(set(files)) < len(files):
            return None  # a file listed twice would number its rows twice
        if {"file_row_number", "filename", LINE_NO} & {c.casefold() for c in self.describe(name)}:
            return None  # the files' own columns (names are case-insensitive): not shadowed
        if len(files) == 1:
            return (
                f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS {LINE_NO} "
                f"FROM read_parquet({where}, file_row_number = true)"
            )
        counts = dict(
            self.rows(
                f"SELECT file_name, CAST(num_rows AS BIGINT) FROM parquet_file_metadata({where})"
            )
        )
        if set(counts) != set(files):  # DuckDB names the files as they were given
            return None
        offsets, before = [], 0
        for f in files:
            offsets.append(f"WHEN {literal(f)} THEN {before}")
            before += int(counts[f])
        return (
            "SELECT * EXCLUDE (file_row_number, filename), "
            f"(CASE filename {' '.join(offsets)} END) + file_row_number + 1 AS {LINE_NO} "
            f"FROM read_parquet({where}, file_row_number = true, filename = true)"
        )

    # ---- relations -----------------------------------------------------------------------
    def create(self, name: str, query: str, params: Params = None, *, view: bool = False) -> None:
        self._parquet.pop(name, None)
        if name in self._registered or name in self._parts:
            self.drop(name)
        kind = "VIEW" if view else "TABLE"
        if (not view and self._kind(name) == "VIEW") or (
            view and self._kind(name) not in (None, "VIEW")
        ):
            self.drop(name)
        self.execute(f"CREATE OR REPLACE TEMP {kind} {ident(name)} AS {query}", params)

    def append(self, name: str, query: str, params: Params = None) -> None:
        self.execute(f"INSERT INTO {ident(name)} {query}", params)

    def update(
        self, name: str, assignments: Mapping[str, str], where: str, params: Params = None
    ) -> None:
        sets = ", ".join(f"{ident(c)} = {expr}" for c, expr in assignments.items())
        self.execute(f"UPDATE {ident(name)} SET {sets} WHERE {where}", params)

    def split(self, name: str, query: str, key: str, parts: int) -> list[str]:
        """Parts written as temporary Parquet files (LZ4) in one ``COPY … PARTITION_BY``.

        One pass over ``query`` for all parts, which a CSV source needs: filtering it once per
        part would parse the whole file every time.
        """
        root = Path(tempfile.mkdtemp(prefix="custseg-parts-", dir=self.settings.temp_dir))
        names = [f"{name}_{i}" for i in range(parts)]
        try:
            self.execute(
                f"COPY (SELECT *, {key} AS _cs_part FROM ({query}) AS q) TO {literal(str(root))} "
                "(FORMAT parquet, PARTITION_BY (_cs_part), COMPRESSION lz4)"
            )
            for i, part in enumerate(names):
                folder = root / f"_cs_part={i}"
                body = (
                    f"SELECT * FROM read_parquet({literal(str(folder / '*.parquet'))}, "
                    "hive_partitioning = false)"
                    if folder.is_dir()
                    else f"SELECT * FROM ({query}) AS q LIMIT 0"  # no row has this key
                )
                self.create(part, body, view=True)
                self._parts[part] = (folder, root)
        except BaseException:
            for part in names:
                self.drop(part)
            shutil.rmtree(root, ignore_errors=True)
            raise
        return names

    def _kind(self, name: str) -> str | None:
        # bookkeeping of the engine's own, never logged (see Engine.log_queries)
        row = self._run(
            lambda: self._con.execute(
                "SELECT table_type FROM information_schema.tables "
                "WHERE table_catalog = 'temp' AND table_name = ?",
                [name],
            ).fetchone()
        )
        return None if row is None else str(row[0])

    def drop(self, name: str) -> None:
        self._parquet.pop(name, None)
        if name in self._registered:
            self._registered.discard(name)
            self._run(lambda: self._con.unregister(name))
            return
        kind = self._kind(name)
        if kind is not None:
            self.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {ident(name)}")
        if name in self._parts:
            folder, root = self._parts.pop(name)
            shutil.rmtree(folder, ignore_errors=True)
            if not any(r == root for _, r in self._parts.values()):
                shutil.rmtree(root, ignore_errors=True)

    def exists(self, name: str) -> bool:
        return name in self._registered or self._kind(name) is not None

    def describe(self, name: str) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in self.rows(f"DESCRIBE {ident(name)}")}

    # ---- statements and results ------------------------------------------------------------
    def _execute(self, sql: str, params: Params) -> duckdb.DuckDBPyConnection:
        self._log(sql, params)
        return self._con.execute(sql, params) if params is not None else self._con.execute(sql)

    def execute(self, sql: str, params: Params = None) -> None:
        self._run(lambda: self._execute(sql, params))

    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self._run(lambda: self._execute(sql, params).fetchall())

    def row(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        return self._run(lambda: self._execute(sql, params).fetchone())

    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        return self._run(lambda: self._execute(sql, params).df())

    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        self._log(sql, params)
        return self._run(lambda: self._con.sql(sql, params=params).to_arrow_table())

    def numpy(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        return self._run(lambda: self._execute(sql, params).fetchnumpy())

    # ---- confinement ---------------------------------------------------------------------
    confinable = True

    def read_only_frame(self, sql: str) -> pd.DataFrame:
        """The rows of a query of DuckDB's SQL: the database is in memory, and confined by
        :meth:`forbid_external_access` before a user's query runs."""
        return self.frame(sql)

    def forbid_external_access(self, allowed: Sequence[str | PathLike[str]] = ()) -> None:
        """``enable_external_access`` off (no file, network, extension or database attached),
        ``allowed`` kept readable through ``allowed_paths``, then the configuration locked,
        so that no ``SET`` can turn access back on.

        Examples
        --------
        >>> with DuckDBEngine(threads=1) as engine:
        ...     engine.create("t", "SELECT 1 AS x")
        ...     engine.forbid_external_access()
        ...     engine.scalar("SELECT x FROM t")
        1
        """
        paths = [str(Path(p).resolve()) for p in allowed]
        with _errors():
            if paths:
                self._con.execute("SET allowed_paths = ?", [paths])
            self._con.execute("SET enable_external_access = false")
            self._con.execute("SET lock_configuration = true")

    # ---- what only DuckDB offers -----------------------------------------------------------
    def cursor(self) -> DuckDBEngine:
        """Another connection to the same database, to use from another thread."""
        return DuckDBEngine(self.settings, _con=self._run(self._con.cursor))

    def copy_csv(self, table: pa.Table, path: str | PathLike[str], *, header: bool) -> None:
        """Write an Arrow table as CSV rendered as pandas renders it (``COPY … TO``).

        Text empty strings are written bare, as pandas does (DuckDB quotes them to tell them
        from NULL). The table is read as an Arrow C stream, without Python's GIL, so threads
        with a :meth:`cursor` each can write blocks side by side.
        """
        import pyarrow as pa

        select = ", ".join(
            f"nullif({ident(c)}, '') AS {ident(c)}"
            if pa.types.is_large_string(t) or pa.types.is_string(t)
            else ident(c)
            for c, t in zip(table.column_names, table.schema.types, strict=True)
        )
        view = f"custseg_block_{next(_names)}"
        self._run(lambda: self._con.register(view, _Stream(table)))
        try:
            self.execute(
                f"COPY (SELECT {select} FROM {ident(view)}) TO {literal(str(path))} "
                f"(FORMAT csv, HEADER {str(header).lower()}, COMMENT '', NEW_LINE '\\n')"
            )
        finally:
            self._run(lambda: self._con.unregister(view))

    # ---- resources -----------------------------------------------------------------------
    def close(self) -> None:
        for _, root in self._parts.values():
            shutil.rmtree(root, ignore_errors=True)
        self._parts.clear()
        self._registered.clear()
        self._run(self._con.close)


class _Stream:
    """An Arrow table seen only as an Arrow C stream (``__arrow_c_stream__``).

    DuckDB reads such a stream without taking Python's GIL, so several threads can each
    ``COPY`` a block at the same time; given the ``pyarrow.Table`` itself, they take turns.
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.table.__arrow_c_stream__(requested_schema)
