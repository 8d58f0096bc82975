"""SQL engines the stages run on, behind one contract (:class:`~custseg.engines.base.Engine`).

DuckDB (embedded, no server) is the default and, for now, the only implementation.
"""

from __future__ import annotations

from custseg.config import Settings
from custseg.engines.base import Engine
from custseg.errors import EngineError

#: engine names :func:`connect` knows
ENGINES: tuple[str, ...] = ("duckdb",)


def connect(
    engine: str = "duckdb",
    *,
    settings: Settings | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> Engine:
    """A new engine of the given name, within ``settings`` (default: from the environment).

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
    raise EngineError(f"engine {engine!r} unknown; use one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "EngineError", "connect"]
