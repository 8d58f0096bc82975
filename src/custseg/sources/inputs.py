"""An input and the engine that reads it: one choice for every command (``--engine``).

An input is a file, a glob, a folder of parts, ``-`` or a DataFrame, read by an engine of
files (DuckDB by default), or a database named by its URL (``postgresql://…``) with the table
or the query giving its lines, read by the engine of that database (PostgreSQL), inside which
the audit and the features then run. :func:`choose_input` resolves the engine once, before any
work, and refuses what cannot work in one line; :meth:`Input.connect` and :meth:`Input.open`
then give the engine and the source the stages read.

Examples
--------
>>> choose_input("sales.csv")
Input(source='sales.csv', engine='duckdb', table=None, query=None)
>>> choose_input("postgresql://ann:secret@db/shop", table="sales.lines").label
'postgresql://ann:***@db/shop --table sales.lines'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from custseg.engines import Engine, choose, connect, is_database_url
from custseg.engines.sql import hide_password
from custseg.errors import InputError
from custseg.sources.readers import SOURCE_VIEW, Source, open_source, open_table


@dataclass(frozen=True)
class Input:
    """Where the lines come from (``source``, with ``table`` or ``query`` for a database) and
    the engine that reads them (a name of :data:`custseg.engines.ENGINES`)."""

    #: a path (file, glob, folder, ``-``), a database URL, a pandas DataFrame, or ``None``
    #: for a table of the engine's own catalog (Spark's ``--table db.name``)
    source: Any
    engine: str
    table: str | None = None
    query: str | None = None

    @property
    def database(self) -> bool:
        """Whether the input is a database URL (its lines read from ``table`` or ``query``)."""
        return is_database_url(self.source)

    @property
    def label(self) -> str:
        """The input as messages and outputs name it: a path, ``<DataFrame>``, or the database
        URL (its password hidden) with ``--table NAME`` or ``--query "…"``."""
        if self.source is None:  # a table of the engine's catalog (Spark)
            shown = self.engine
        elif not isinstance(self.source, str | os.PathLike):
            return "<DataFrame>"
        else:
            shown = os.fspath(self.source)
        if self.database:
            shown = hide_password(shown)
        if self.table is not None:
            return f"{shown} --table {self.table}"
        if self.query is not None:
            return f'{shown} --query "{self.query}"'
        return shown

    @property
    def paths(self) -> tuple[str | os.PathLike[str], ...]:
        """The paths of the input, which an output folder must not overwrite (none for a
        database or a DataFrame)."""
        if self.database or not isinstance(self.source, str | os.PathLike):
            return ()
        return (self.source,)

    def connect(self) -> Engine:
        """A new engine of this input's kind (connected to its database, for a URL)."""
        return connect(self.engine, url=str(self.source) if self.database else None)

    def open(self, con: Engine, view: str = SOURCE_VIEW) -> Source:
        """Expose the input's lines to ``con`` as the relation ``view``.

        A file, glob, folder or DataFrame is scanned or registered
        (:func:`~custseg.sources.readers.open_source`); a table or a query is read where it
        lies (:func:`~custseg.sources.readers.open_table`) by an engine that reads tables
        (:meth:`Engine.source <custseg.engines.base.Engine.source>`).
        """
        if self.table is None and self.query is None:
            return open_source(con, self.source, view)
        label = getattr(con, "label", None) or (
            hide_password(self.source) if self.database else str(self.source)
        )
        command = f"--engine {self.engine}" if self.source is None else None
        return open_table(
            con, str(label), table=self.table, query=self.query, view=view, command=command
        )


def choose_input(
    source: Any,
    *,
    engine: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> Input:
    """``source`` and the engine that reads it (see :func:`custseg.engines.choose`), checked
    before any work.

    ``engine`` ``None`` is the default: ``postgres`` for a ``postgresql://`` URL, ``duckdb``
    otherwise. A database URL needs ``table`` or ``query`` (one of the two); an unknown
    engine, an engine that cannot read ``source``, or ``table``/``query`` given with a file
    to DuckDB raise a one-line :class:`~custseg.errors.CustsegError` saying what to do,
    before any connection.
    """
    name = choose(engine, source, table=table, query=query)
    found = Input(source, name, table, query)
    if found.database and (table is None) == (query is None):
        raise InputError(
            f"{hide_password(str(source))}: name the lines to read with --table NAME or "
            '--query "SELECT …" (one of the two)'
        )
    if not found.database and table is not None and query is not None:
        raise InputError("give --table or --query, not both")
    return found


__all__ = ["Input", "choose_input"]
