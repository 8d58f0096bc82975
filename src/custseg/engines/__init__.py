"""SQL engines the stages run on, behind one contract (:class:`~custseg.engines.base.Engine`).

DuckDB (embedded, no server) is the default; PostgreSQL (:mod:`custseg.engines.postgres`,
psycopg 3 from the ``postgres`` extra) runs the same stages inside a database server, Spark
(:mod:`custseg.engines.spark`, pyspark from the ``spark`` extra) where a lake's files lie.
"""

from __future__ import annotations

from custseg.config import Settings
from custseg.engines.base import Engine
from custseg.errors import EngineError

#: engine names :func:`connect` knows
ENGINES: tuple[str, ...] = ("duckdb", "postgres", "spark")


def is_database_url(source: object) -> bool:
    """Whether ``source`` names a PostgreSQL database (``postgresql://…`` or ``postgres://…``).

    Examples
    --------
    >>> is_database_url("postgresql://ann@db:5432/shop"), is_database_url("sales.csv")
    (True, False)
    """
    return isinstance(source, str) and source.startswith(("postgresql://", "postgres://"))


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


__all__ = ["ENGINES", "Engine", "EngineError", "connect", "is_database_url"]
