"""The engine contract: what the stages ask of a SQL engine, and nothing more.

Modelled on Ibis' backends (a small abstract surface, one conformance suite run against every
implementation: ``tests/engines``). The stages write their SQL once, in the dialect of
:attr:`Engine.dialect` or DuckDB's (transpiled by sqlglot), and exchange *named relations*
(see :mod:`custseg.stages.relations`) through these methods:

- sources: :meth:`~Engine.register` (a pandas or Arrow frame), :meth:`~Engine.scan` (a file);
- relations: :meth:`~Engine.create` (a temporary table or view from a query),
  :meth:`~Engine.append`, :meth:`~Engine.update`, :meth:`~Engine.split`, :meth:`~Engine.drop`,
  :meth:`~Engine.exists`, :meth:`~Engine.describe`;
- statements and results: :meth:`~Engine.execute`, :meth:`~Engine.rows`, :meth:`~Engine.row`,
  :meth:`~Engine.frame`, :meth:`~Engine.arrow`, :meth:`~Engine.numpy`;
- resources: :attr:`~Engine.settings` (threads, memory limit, temporary folder),
  :meth:`~Engine.close` (also as a context manager);
- inspection and confinement: :meth:`~Engine.log_queries` (keep the statements run, to show
  them), :meth:`~Engine.forbid_external_access` (no file or network access from then on, where
  :attr:`~Engine.confinable`), :meth:`~Engine.read_only_frame` (a user's query, in the engine's
  own dialect, run where it cannot write).

Values are bound as parameters, written ``?`` in the SQL text, one per value, in order.
Column types are named in DuckDB's spelling, upper case (``VARCHAR``, ``BIGINT``, ``DOUBLE``,
``TIMESTAMP``, ``DECIMAL(18,6)``…): an engine maps its own types to these names.
Every failure of the engine is raised as :class:`~custseg.errors.EngineError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from custseg.config import Settings
from custseg.errors import EngineError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

#: positional parameters bound to the ``?`` of a statement
Params = Sequence[Any] | None


#: the column :meth:`Engine.numbered` adds: each row's 1-based position in the input
LINE_NO = "_cs_line_no"


class Engine(ABC):
    """A SQL engine the stages run on (DuckDB by default, PostgreSQL; Spark can follow).

    Relations created through an engine are temporary: they live as long as the engine.
    """

    #: the sqlglot name of the engine's SQL dialect
    dialect: ClassVar[str]

    #: the resource settings the engine was created with
    settings: Settings

    #: the statements run since :meth:`log_queries` (``None``: not kept)
    query_log: list[str] | None = None

    #: whether the engine runs K-Means itself (:meth:`kmeans`): customers too many to bring
    #: back to Python are then clustered where they are
    clusters: ClassVar[bool] = False

    #: the kinds of sources (:attr:`custseg.sources.readers.Source.kind`) that, cleaned in
    #: several parts, are split once (:meth:`split`) rather than read again for every part
    split_kinds: ClassVar[frozenset[str]] = frozenset({"csv"})

    # ---- sources -------------------------------------------------------------------------
    @abstractmethod
    def register(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """Expose a pandas DataFrame or an Arrow table as the relation ``name`` (not copied
        where the engine can read it in place)."""

    @abstractmethod
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
        """Expose a file, or files of the same columns, as the relation ``name``, read where
        they lie at every use.

        Several paths are read as one relation, their rows one file after the other; files in
        Hive-style folders (``year=2011/month=12/part.parquet``) gain the folders' keys as
        columns. A CSV file may be compressed (``.gz``, ``.zst``, told by its suffix) and is
        read with a header line, every column as text, fields quoted with ``"`` (doubled
        inside), short rows padded with NULL and malformed rows tolerated; ``delimiter``
        names the field separator (detected when ``None``), ``skip`` the number of lines
        before the header, and ``parallel=False`` asks for one reader, for files whose quoted
        fields span lines.
        """

    def numbered(self, name: str) -> str | None:
        """SQL of the rows of the relation ``name``, made by :meth:`scan`, with one more column,
        :data:`LINE_NO`: each row's 1-based position in the input (files one after the
        other, as :meth:`scan` reads them), where the engine reads it from the files;
        ``None`` where it cannot. The caller then numbers the rows with ``row_number() OVER
        ()``, the same numbers, but read in one thread."""
        return None

    def source(self, name: str, *, table: str | None = None, query: str | None = None) -> None:
        """Expose a table of the engine's database, or the rows of a query in the engine's own
        dialect, as the relation ``name`` (a server engine; never written to)."""
        raise EngineError(f"the {self.dialect} engine reads files and frames, not tables")

    # ---- relations -----------------------------------------------------------------------
    @abstractmethod
    def create(self, name: str, query: str, params: Params = None, *, view: bool = False) -> None:
        """Create (or replace) the temporary table ``name`` holding the rows of ``query``,
        or with ``view=True`` a view evaluated at every use."""

    @abstractmethod
    def append(self, name: str, query: str, params: Params = None) -> None:
        """Append the rows of ``query`` to the table ``name`` (same columns, same order)."""

    @abstractmethod
    def update(
        self, name: str, assignments: Mapping[str, str], where: str, params: Params = None
    ) -> None:
        """Set columns of the rows of table ``name`` that satisfy ``where``.

        ``assignments`` maps a column to an SQL expression; ``where`` is an SQL condition
        over the table's columns (it may hold subqueries). Engines that cannot update a table
        in place rebuild it.
        """

    @abstractmethod
    def split(self, name: str, query: str, key: str, parts: int) -> list[str]:
        """Materialise the rows of ``query`` into ``parts`` relations, by ``key``.

        ``key`` is an SQL expression over the query's columns with values in
        ``[0, parts)``; relation ``f"{name}_{i}"`` holds the rows whose key is ``i``, with the
        query's columns (an empty relation when no row has that key). Returns the names.
        Meant for inputs too large to hold at once: the engine may keep the parts on disk,
        in its temporary folder; dropping a part frees its space.
        """

    @abstractmethod
    def drop(self, name: str) -> None:
        """Drop the relation ``name`` (table, view or registered frame) if it exists."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether a relation ``name`` exists."""

    @abstractmethod
    def describe(self, name: str) -> dict[str, str]:
        """The columns of relation ``name`` and their types, in column order."""

    # ---- statements and results ------------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Params = None) -> None:
        """Run a statement, ``?`` bound to ``params``, discarding any result."""

    @abstractmethod
    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        """The rows of a query as tuples."""

    @abstractmethod
    def row(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        """The first row of a query, or ``None`` when it has none."""

    @abstractmethod
    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        """The result of a query as a pandas DataFrame."""

    @abstractmethod
    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        """The result of a query as an Arrow table."""

    @abstractmethod
    def numpy(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        """The result of a query as one NumPy array per column (masked where NULL)."""

    def write_parquet(self, sql: str, folder: str | PathLike[str]) -> list[Path]:
        """Write the rows of a query as Parquet files into ``folder`` (created; it must not
        exist) and return the files, in the query's row order.

        This default fetches the rows (an engine whose results fit in memory); an engine
        holding more writes them itself.
        """
        import pyarrow.parquet as pq

        out = Path(folder)
        out.mkdir(parents=True)
        path = out / "part-00000.parquet"
        pq.write_table(self.arrow(sql), path)
        return [path]

    def kmeans(
        self,
        relation: str,
        columns: Sequence[str],
        k: int,
        *,
        seed: int,
        max_iter: int = 300,
        tol: float = 1e-4,
    ) -> np.ndarray:
        """K-Means run by the engine on the numeric ``columns`` of every row of ``relation``:
        the ``k`` centroids, shape ``(k, len(columns))``. Only where :attr:`clusters`."""
        raise EngineError(f"the {self.dialect} engine does not run K-Means itself")

    def scalar(self, sql: str, params: Params = None) -> Any:
        """The first value of the first row of a query (``None`` without rows)."""
        first = self.row(sql, params)
        return None if first is None else first[0]

    # ---- inspection and confinement ----------------------------------------------------------
    def log_queries(self) -> list[str]:
        """Keep, from now on, the text of every statement the engine runs for its caller.

        Returns the list, which grows as statements run: what the engine was asked to run,
        in its own dialect, the parameters of a statement noted in a comment before it
        (``-- parameters: […]``). Lookups an engine makes for its own bookkeeping are left out.
        """
        self.query_log = []
        return self.query_log

    def _log(self, sql: str, params: Params) -> None:
        if self.query_log is not None:
            text = sql.strip()
            if params:
                text = f"-- parameters: {list(params)!r}\n{text}"
            self.query_log.append(text)

    #: whether :meth:`forbid_external_access` can lock the engine for good (DuckDB's
    #: in-memory database). Where it cannot (a server's session, a Spark session), a user's
    #: query is held to a list of functions before it runs (``custseg sql``)
    confinable: ClassVar[bool] = False

    @abstractmethod
    def forbid_external_access(self, allowed: Sequence[str | PathLike[str]] = ()) -> None:
        """From now on, no statement may read or write a file or reach the network, nor undo
        this; relations already created stay readable.

        ``allowed`` lists files the relations already created may still read (the input a
        view scans); every other path is refused. Raises
        :class:`~custseg.errors.EngineError` when the engine cannot confine itself (where
        :attr:`confinable` is false).
        """

    @abstractmethod
    def read_only_frame(self, sql: str) -> pd.DataFrame:
        """The rows of one query written in the engine's own dialect (not transpiled, no
        parameters), as :meth:`frame` gives them, run so that it cannot write where the engine
        can enforce it: a read-only transaction on a database server."""

    # ---- resources -----------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Release the engine and everything it holds (relations, temporary files)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
