"""Read-only SQL over a transactions input and a run folder: ``custseg sql``.

The input is audited as a run audits it, then exposed under five names (see :data:`VIEWS`):
``lines`` (the input as read, its mapped columns under their canonical names), ``clean_lines``
and ``dropped_lines`` (the audit's kept lines, and its dropped lines with their reason),
``customers`` (one row of features per customer, as a run computes them) and, from a run
folder, ``segments`` (its ``segments.parquet``). A query must be one read-only ``SELECT``
over these names: :func:`check_query` decides it from the tree sqlglot parses, and the engine
is confined besides (:meth:`~custseg.engines.base.Engine.forbid_external_access`: an
in-memory database that can read no other file and write none).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.engines import Engine, connect
from custseg.engines.sql import ident
from custseg.errors import CustsegError, EngineError, InputError
from custseg.model import schema
from custseg.outputs.files import write_csv, write_parquet
from custseg.pipeline import check_as_of, engine_error
from custseg.report.manifest import open_run
from custseg.sources import Source, open_source, resolve_columns
from custseg.stages import features as feature_stage
from custseg.stages import relations as rel
from custseg.stages.audit import CleaningRules, audit, keep_lines
from custseg.stages.features import customer_features

#: the names a query may read, and what each holds
VIEWS: dict[str, str] = {
    "lines": "the input as read, mapped columns under their canonical names",
    "clean_lines": "the lines the audit kept (typed, with their value and kind)",
    "dropped_lines": "the lines the audit dropped, with their reason",
    "customers": "one row of features per customer, as a run computes them",
    "segments": "the run folder's segments.parquet",
}

#: table functions that compute rows without reading anything
_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})

#: statements (and clauses) that write, configure or reach outside: refused wherever they appear
_REFUSED_NODES = (
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "Copy",
    "Attach",
    "Detach",
    "Pragma",
    "Set",
    "Command",
    "Install",
    "Into",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "Describe",
    "Show",
    "LoadData",
)

#: functions that read files, the network, the environment or run SQL given as text
_OUTSIDE_FUNCTIONS = ("read_", "parquet_", "sniff_", "glob", "getenv", "query", "_scan")


class QueryError(CustsegError, ValueError):
    """A query that failed in the engine, or reads a relation that is not a view."""


class QueryRefused(QueryError):
    """A query refused: not one read-only query over the views."""


@dataclass
class QueryResult:
    """The rows of a query and the views it could read (name → column → type)."""

    frame: pd.DataFrame
    views: dict[str, dict[str, str]] = field(default_factory=dict)


def _refused(what: str) -> QueryRefused:
    return QueryRefused(
        f"refused: {what}; custseg sql runs one read-only query (SELECT … or WITH … SELECT …) "
        f"over the views {', '.join(VIEWS)}"
    )


def _function_name(node: Any) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return str(node.sql_name()).lower()


def check_query(query: str, views: Collection[str] = tuple(VIEWS)) -> None:
    """Raise :class:`QueryError` unless ``query`` is one read-only query over ``views``.

    Decided from sqlglot's parse tree (DuckDB dialect): one statement, a query (``SELECT``,
    ``WITH … SELECT``, set operations), no clause that writes (``SELECT … INTO``), no relation
    but the views and the query's own common table expressions, no table function but
    ``range``, ``generate_series`` and ``unnest``, no function reading files, the network or
    the environment (``read_csv``, ``glob``, ``getenv``, ``query``…).

    Examples
    --------
    >>> check_query("SELECT count(*) FROM lines")
    >>> check_query("DELETE FROM lines")
    Traceback (most recent call last):
    ...
    custseg.outputs.query.QueryRefused: refused: statement DELETE; custseg sql runs one \
read-only query (SELECT … or WITH … SELECT …) over the views lines, clean_lines, \
dropped_lines, customers, segments
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its "falling back to a command" warning is ours to say
    try:
        parsed = [s for s in sqlglot.parse(query, read="duckdb") if s is not None]
    except SqlglotError as exc:
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
        raise QueryError(f"the query cannot be parsed: {first}") from None
    finally:
        logger.setLevel(level)
    if not parsed:
        raise _refused("an empty query")
    if len(parsed) > 1:
        raise _refused(f"{len(parsed)} statements")
    stmt = parsed[0]
    refused = tuple(getattr(exp, n) for n in _REFUSED_NODES if hasattr(exp, n))
    if not isinstance(stmt, exp.Query) or isinstance(stmt, refused):
        kind = stmt.key.upper() if not isinstance(stmt, exp.Command) else str(stmt.this).upper()
        raise _refused(f"statement {kind}")
    ctes = {str(c.alias_or_name).lower() for c in stmt.find_all(exp.CTE)}
    known = {v.lower() for v in views}
    for node in stmt.walk():
        if isinstance(node, refused):
            raise _refused(f"clause {node.key.upper()}")
        if isinstance(node, exp.Table):
            target = node.this
            if isinstance(target, exp.Identifier):
                name = str(target.name).lower()
                if node.args.get("db") or node.args.get("catalog"):
                    raise QueryError(
                        f"relation {node.sql(dialect='duckdb')} is not one of the views"
                    )
                if name not in known and name not in ctes:
                    raise QueryError(
                        f"relation {target.name!r} is not one of the views ({', '.join(views)})"
                    )
            elif isinstance(target, exp.Func):
                fn = _function_name(target)
                if fn not in _TABLE_FUNCTIONS:
                    raise _refused(f"the table function {fn}() (it reads outside the views)")
            else:
                raise _refused(f"the relation {node.sql(dialect='duckdb')}")
        elif isinstance(node, exp.Func):
            fn = _function_name(node)
            if any(fn.startswith(p) or fn.endswith(p) or fn == p for p in _OUTSIDE_FUNCTIONS):
                raise _refused(f"the function {fn}() (it reads outside the views)")


def _describe(views: Mapping[str, Mapping[str, str]]) -> str:
    """The views and their columns, on one line."""
    return "; ".join(f"{name}({', '.join(cols)})" for name, cols in views.items())


def _run_doc(folder: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A run folder's model.json and segments.parquet, the folder's seal checked."""
    _, data = open_run(folder, ("model.json", "segments.parquet"), os.fspath(folder))
    doc = schema.parse_json(data["model.json"], f"{folder}/model.json")
    return doc, pd.read_parquet(io.BytesIO(data["segments.parquet"]))


def _run_rules(doc: Mapping[str, Any]) -> CleaningRules | None:
    saved = doc.get("cleaning_rules")
    if not isinstance(saved, dict):
        return None
    try:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()
        }
        return CleaningRules(**values)
    except TypeError:
        return None


def _lines_select(columns: list[str], present: Mapping[str, str], source: str) -> str:
    """The input's columns, each mapped one under its canonical name, the others as they are
    (prefixed ``source_`` where a name is taken by a canonical one)."""
    canonical_of = {col: role for role, col in present.items()}
    taken = set(present)
    items = []
    for col in columns:
        name = canonical_of.get(col)
        if name is None:
            name = f"source_{col}" if col in taken else col
        items.append(f"{ident(col)} AS {ident(name)}")
    return f"SELECT {', '.join(items)} FROM {ident(source)}"


def sql(
    input: str | os.PathLike[str] | pd.DataFrame | None = None,
    query: str | None = None,
    *,
    run: str | os.PathLike[str] | None = None,
    mapping: Mapping[str, str] | None = None,
    as_of: date | str | None = None,
    rules: CleaningRules | None = None,
) -> pd.DataFrame:
    """The rows of a read-only SQL query over the views of a transactions input and/or a run.

    Parameters
    ----------
    input : transaction lines (a path or a DataFrame): views ``lines``, ``clean_lines``,
        ``dropped_lines`` and ``customers``.
    query : one read-only query (DuckDB's SQL) over the views (:func:`check_query`).
    run : a run folder (``custseg run --out``): view ``segments``; with ``input``, the run's
        as-of date and cleaning rules are used unless ``as_of`` or ``rules`` are given, so
        that ``customers`` holds the run's features.
    mapping : ``{canonical: source_column}`` overriding the alias recognition.
    as_of : date recency is measured to (YYYY-MM-DD); default the run's, else the day after
        the last kept line.

    Raises :class:`QueryError` for a query refused or failing (the message, one line, lists
    the views and their columns), and the errors of reading the input or the run.

    Examples
    --------
    >>> from custseg.datasets import make_transactions
    >>> frame, _ = make_transactions(30, seed=1)
    >>> sql(frame, "SELECT count(*) AS n FROM lines")["n"].item() == len(frame)
    True
    """
    return query_views(input, query, run=run, mapping=mapping, as_of=as_of, rules=rules).frame


def query_views(
    input: str | os.PathLike[str] | pd.DataFrame | None = None,
    query: str | None = None,
    *,
    run: str | os.PathLike[str] | None = None,
    mapping: Mapping[str, str] | None = None,
    as_of: date | str | None = None,
    rules: CleaningRules | None = None,
) -> QueryResult:
    """:func:`sql`, with the views' columns (for the command line's messages)."""
    if query is None or not query.strip():
        raise QueryError("no query given; write one, e.g. SELECT count(*) FROM lines")
    if input is None and run is None:
        raise QueryError("nothing to query: give an input file, a run folder (--run), or both")
    given_as_of = check_as_of(as_of)
    check_query(query)  # refused before the input is read
    con = connect()
    opened: list[Source] = []
    try:
        views = _open_views(con, opened, input, run, mapping, given_as_of, rules)
        try:
            check_query(query, views)
            frame = con.frame(query)
        except QueryRefused:
            raise
        except (QueryError, EngineError) as exc:
            raise QueryError(f"{exc} — views: {_describe(views)}") from None
        return QueryResult(frame=frame, views=views)
    finally:
        con.close()
        for src in opened:  # after the engine: the view "lines" reads a copy of standard input
            src.close()


def _open_views(
    con: Engine,
    opened: list[Source],
    input: str | os.PathLike[str] | pd.DataFrame | None,
    run: str | os.PathLike[str] | None,
    mapping: Mapping[str, str] | None,
    as_of: date | None,
    rules: CleaningRules | None,
) -> dict[str, dict[str, str]]:
    """Create the views in ``con``, then confine it; return each view's columns and types."""
    src = None
    try:
        allowed: list[Path] = []
        segments = None
        if run is not None:
            doc, segments = _run_doc(Path(run))
            if as_of is None and input is not None and isinstance(doc.get("as_of"), str):
                as_of = check_as_of(doc["as_of"])
            if rules is None:
                rules = _run_rules(doc)
        if input is not None:
            src = open_source(con, input)
            opened.append(src)
            colmap = resolve_columns(src.columns, mapping, source=src.label)
            ledger = audit(
                con, src, colmap, rules, as_of=as_of, collectors=(feature_stage.collect, keep_lines)
            )
            con.register("customers", customer_features(con, ledger.as_of))
            con.drop(rel.LINES)  # the audit's own, under the name of a view below
            con.create("lines", _lines_select(src.columns, colmap.present(), src.view), view=True)
            common = "date, customer_id, invoice, product, country, quantity, price, value"
            con.create(
                "clean_lines",
                f"SELECT {common}, kind, line_no FROM {rel.AUDITED_LINES} WHERE reason IS NULL",
                view=True,
            )
            con.create(
                "dropped_lines",
                f"SELECT {common}, reason, line_no FROM {rel.AUDITED_LINES} "
                "WHERE reason IS NOT NULL",
                view=True,
            )
            allowed = list(src.files)
        if segments is not None:
            con.register("segments", segments)
        views = {v: con.describe(v) for v in VIEWS if con.exists(v)}
        con.forbid_external_access(allowed)
        return views
    except EngineError as exc:
        raise engine_error(src.label if src else str(input), exc, src) from exc


def write_result(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the rows of a query to ``path``, CSV or Parquet by its suffix, atomically."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".csv":
        return write_csv(target, frame)
    if suffix == ".parquet":
        return write_parquet(target, frame)
    raise InputError(f"--output {path}: write to a .csv or a .parquet file")


__all__ = [
    "VIEWS",
    "QueryError",
    "QueryRefused",
    "QueryResult",
    "check_query",
    "query_views",
    "sql",
]
