"""SQL engines the features run on. DuckDB (embedded, no server) is the default."""

from custseg.engines.duckdb import connect

__all__ = ["connect"]
