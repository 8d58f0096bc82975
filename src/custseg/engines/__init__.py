"""SQL engines the stages run on, behind one contract (:class:`~custseg.engines.base.Engine`).

DuckDB (embedded, no server) is the default; PostgreSQL (:mod:`custseg.engines.postgres`,
psycopg 3 from the ``postgres`` extra) runs the same stages inside a database server, Spark
(:mod:`custseg.engines.spark`, pyspark from the ``spark`` extra) where a lake's files lie.
:func:`choose` picks the engine of an input (``--engine``), :func:`connect` opens it.
"""

from __future__ import annotations

from os import PathLike

from custseg.config import Settings
from custseg.engines.base import Engine
from custseg.engines.sql import hide_password
from custseg.errors import EngineError, InputError

#: engine names :func:`connect` knows
ENGINES: tuple[str, ...] = ("duckdb", "postgres", "spark")
#: engines whose input is a database named by its URL (``postgresql://…``), the lines read
#: from one of its tables or the rows of a query (``--table``/``--query``); the others read
#: files, globs, folders and DataFrames
URL_ENGINES: frozenset[str] = frozenset({"postgres"})
#: engines that read files and also tables of their own catalog without a URL (Spark:
#: ``--table db.name`` or ``--query "SELECT …"`` in Spark's SQL, INPUT left out)
TABLE_ENGINES: frozenset[str] = frozenset({"spark"})
#: engines that can be locked against reading and writing files for good
#: (:attr:`Engine.confinable <custseg.engines.base.Engine.confinable>`), known before one starts
CONFINABLE: frozenset[str] = frozenset({"duckdb"})
#: engines that read files, globs, folders and DataFrames only, no table of their own
#: (``--table``/``--query`` need a database URL there)
FILE_ENGINES: frozenset[str] = frozenset({"duckdb"})


def is_database_url(source: object) -> bool:
    """Whether ``source`` names a PostgreSQL database (``postgresql://…`` or ``postgres://…``).

    Examples
    --------
    >>> is_database_url("postgresql://ann@db:5432/shop"), is_database_url("sales.csv")
    (True, False)
    """
    return isinstance(source, str) and source.startswith(("postgresql://", "postgres://"))


def choose(
    engine: str | None,
    source: object,
    *,
    table: str | None = None,
    query: str | None = None,
) -> str:
    """The engine that reads ``source``: ``engine`` (``--engine``) checked against the kind
    of source, or when ``None`` the default: ``postgres`` for a database URL, ``duckdb``
    otherwise.

    An unknown name, a database URL given to an engine of files, or a file (or DataFrame)
    given to an engine of databases raises a one-line error saying what to do; so does a
    ``table`` or a ``query`` given without a database URL to an engine that reads only files
    (:data:`FILE_ENGINES`).

    Examples
    --------
    >>> choose(None, "sales.csv"), choose(None, "postgresql://ann@db/shop")
    ('duckdb', 'postgres')
    >>> choose("duckdb", "postgresql://ann:secret@db/shop")
    Traceback (most recent call last):
    custseg.errors.InputError: postgresql://ann:***@db/shop is a PostgreSQL database, which the duckdb engine does not read; leave out --engine duckdb (a postgresql:// INPUT runs on --engine postgres)
    """
    url = is_database_url(source)
    name = ("postgres" if url else "duckdb") if engine is None else engine.strip().lower()
    shown = source if isinstance(source, str | PathLike) else "a DataFrame"
    if source is None and not (name in TABLE_ENGINES and (table or query)):
        raise InputError(
            "no INPUT: give the file, folder or postgresql:// URL of the lines"
            + (" (or, with --engine spark, --table db.name of Spark's catalog)" * (name != "spark"))
            + (', or --table db.name / --query "SELECT …"' * (name == "spark"))
        )
    if not url and name in FILE_ENGINES and (table is not None or query is not None):
        raise InputError(
            f"--table and --query read a database; {shown} is not a postgresql:// URL: give "
            "the database as INPUT (postgresql://user@host:port/db), or leave out --table "
            "and --query to read the file"
        )
    if engine is None:
        return name
    if name not in ENGINES:
        raise EngineError(f"--engine {engine!r} is not known; use one of {', '.join(ENGINES)}")
    if url and name not in URL_ENGINES:
        raise InputError(
            f"{hide_password(str(source))} is a PostgreSQL database, which the {name} engine "
            f"does not read; leave out --engine {name} (a postgresql:// INPUT runs on "
            "--engine postgres)"
        )
    if not url and name in TABLE_ENGINES and source is not None and (table or query):
        raise InputError(
            f"--engine {name} reads {shown} or the table of --table/--query, not both; "
            "leave out INPUT to read a table of Spark's catalog"
        )
    if not url and name in URL_ENGINES:
        raise InputError(
            f"--engine {name} reads a database, and {shown} is not a postgresql:// URL; give "
            "the database as INPUT, postgresql://user@host:port/db, with --table NAME or --query "
            f'"SELECT …", or leave out --engine {name} to read the file with duckdb'
        )
    return name


def connect(
    engine: str = "duckdb",
    *,
    settings: Settings | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    url: str | None = None,
    master: str | None = None,
) -> Engine:
    """A new engine of the given name, within ``settings`` (default: from the environment).

    ``url`` is the database of a server engine (``postgres``: ``postgresql://user@host/db``);
    ``master`` the Spark master of the ``spark`` engine (``local[*]`` by default, a cluster URL
    or ``sc://host:port`` for Spark Connect).

    ``threads`` and ``memory_limit`` override the settings' values.

    Examples
    --------
    >>> with connect() as engine:
    ...     engine.dialect, engine.scalar("SELECT 40 + ?", [2])
    ('duckdb', 42)
    """
    if engine == "duckdb":
        from custseg.engines.duckdb import DuckDBEngine

        return DuckDBEngine(settings, threads=threads, memory_limit=memory_limit)
    if engine == "postgres":
        if url is None:
            raise EngineError("the postgres engine needs a database URL: postgresql://user@host/db")
        try:
            from custseg.engines.postgres import PostgresEngine
        except ImportError as exc:  # psycopg is the postgres extra
            raise EngineError(
                f"reading a PostgreSQL database needs psycopg ({exc}); install it with "
                "pip install 'custseg[postgres]'"
            ) from None

        return PostgresEngine(url, settings, threads=threads, memory_limit=memory_limit)
    if engine == "spark":
        try:
            from custseg.engines.spark import SparkEngine
        except ImportError as exc:  # pragma: no cover - the module imports pyspark lazily
            raise EngineError(f"the Spark engine cannot be loaded ({exc})") from None

        return SparkEngine(settings, threads=threads, memory_limit=memory_limit, master=master)
    raise EngineError(f"engine {engine!r} unknown; use one of {', '.join(ENGINES)}")


__all__ = [
    "CONFINABLE",
    "ENGINES",
    "FILE_ENGINES",
    "URL_ENGINES",
    "Engine",
    "EngineError",
    "choose",
    "connect",
    "is_database_url",
]
