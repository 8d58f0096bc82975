"""Where data comes from: readers of files and DataFrames, and the column schema with aliases."""

from custseg.sources.readers import Source, open_source
from custseg.sources.schema import ColumnMap, parse_mapping, resolve_columns

__all__ = ["ColumnMap", "Source", "open_source", "parse_mapping", "resolve_columns"]
