"""Read-only SQL over a transactions input and a run folder: ``custseg sql``.

The input is audited as a run audits it, on the engine chosen for it (DuckDB, PostgreSQL or
Spark, as for ``custseg run``), then exposed there under five names (see :data:`VIEWS`):
``lines`` (the input as read, its mapped columns under their canonical names), ``clean_lines``
and ``dropped_lines`` (the audit's kept lines, and its dropped lines with their reason),
``customers`` (one row of features per customer, as a run computes them) and, from a run
folder, ``segments`` (its ``segments.parquet``). A query is written in the engine's SQL and
must be one read-only ``SELECT`` over these names: :func:`check_query` decides it from the
tree sqlglot parses. Then:

- DuckDB is confined (:meth:`~custseg.engines.base.Engine.forbid_external_access`: an
  in-memory database that can read no other file and write none) and runs the query as given;
- PostgreSQL and Spark sessions cannot be confined so: the query's functions must be ones
  sqlglot knows as SQL's (``sum``, ``date_trunc``, ``percentile_cont``…) or on a short list per
  engine (:data:`SAFE_FUNCTIONS`), never qualified by a schema, and what runs is the checked
  tree written back by sqlglot, not the text (so that no comment or quoting the two parsers
  read differently can hide a call); PostgreSQL runs it in a read-only transaction, rolled back
  (:meth:`~custseg.engines.base.Engine.read_only_frame`).
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.engines import CONFINABLE, Engine, connect
from custseg.engines.sql import ident
from custseg.errors import CustsegError, EngineError, InputError
from custseg.model import schema
from custseg.outputs.files import write_csv, write_parquet
from custseg.pipeline import check_as_of, engine_error
from custseg.report.manifest import open_run
from custseg.sources import Source, resolve_columns
from custseg.sources.inputs import Input, choose_input
from custseg.stages import features as feature_stage
from custseg.stages import relations as rel
from custseg.stages.audit import CleaningRules, audit, keep_lines

#: the names a query may read, and what each holds
VIEWS: dict[str, str] = {
    "lines": "the input as read, mapped columns under their canonical names",
    "clean_lines": "the lines the audit kept (typed, with their value and kind)",
    "dropped_lines": "the lines the audit dropped, with their reason",
    "customers": "one row of features per customer, as a run computes them",
    "segments": "the run folder's segments.parquet",
}

#: table functions that compute rows without reading anything (sqlglot's names included:
#: PostgreSQL's generate_series in FROM, Spark's explode of a LATERAL VIEW)
_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "exploding_generate_series",
        "unnest",
        "explode",
        "explode_outer",
        "posexplode",
        "posexplode_outer",
        "inline",
        "inline_outer",
    }
)

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
    "Lock",
    "QueryTransform",  # Spark's and Hive's SELECT TRANSFORM (…) USING 'a shell command'
)

#: functions that read files, the network, the environment or run SQL given as text
_OUTSIDE_FUNCTIONS = (
    "read_",
    "parquet_",
    "sniff_",
    "glob",
    "getenv",
    "query",
    "_scan",
    "duckdb_",  # DuckDB's catalog and settings: duckdb_settings(), duckdb_secrets()…
    "json_execute_serialized_sql",
    "pragma_",
)

#: on an engine that cannot be confined, the functions a query may call besides those sqlglot
#: parses as SQL's own (``SUM``, ``DATE_TRUNC``, ``PERCENTILE_CONT``…): computations on values,
#: nothing that reads, writes, signals or calls out (PostgreSQL's ``pg_read_file``,
#: ``set_config``, ``dblink``, ``lo_import``, ``query_to_xml``; Spark's ``reflect``,
#: ``java_method``… are refused, as is any function a user's schema defines)
SAFE_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        [
            "age",
            "make_date",
            "make_time",
            "make_timestamp",
            "make_interval",
            "cardinality",
            "array_length",
            "array_position",
            "array_to_string",
            "string_to_array",
            "regexp_match",
            "regexp_split_to_array",
            "btrim",
            "lpad",
            "rpad",
            "repeat",
            "reverse",
            "translate",
            "chr",
            "ascii",
            "to_hex",
            "octet_length",
            "bit_length",
            "char_length",
            "num_nonnulls",
            "num_nulls",
            "percent_rank",
            "cume_dist",
            "dense_rank",
            "row_number",
            "first_value",
            "last_value",
            "nth_value",
            "lead",
            "lag",
            "every",
            "bool_and",
            "bool_or",
            "var_pop",
            "var_samp",
            "stddev_pop",
            "stddev_samp",
            "regr_slope",
            "regr_intercept",
            "regr_r2",
            "covar_pop",
            "covar_samp",
            "scale",
            "sign",
            "cbrt",
            "degrees",
            "radians",
            "pi",
            "div",
            "mod",
            "gcd",
            "lcm",
            "factorial",
            "log10",
            "exp",
            "power",
            "ceil",
            "floor",
            "trunc",
            "width_bucket",
            "date_bin",
            "to_number",
            "isfinite",
            "justify_days",
            "justify_hours",
            "justify_interval",
            "date_part",
            "split_part",
            "starts_with",
            "strpos",
            "substr",
            "initcap",
        ]
    ),
    "spark": frozenset(
        [
            "xxhash64",
            "hash",
            "crc32",
            "sha1",
            "sha2",
            "md5",
            "make_date",
            "make_timestamp",
            "make_interval",
            "date_part",
            "datepart",
            "weekofyear",
            "quarter",
            "last_day",
            "next_day",
            "trunc",
            "date_trunc",
            "unix_timestamp",
            "from_unixtime",
            "to_unix_timestamp",
            "add_months",
            "array_contains",
            "element_at",
            "array_distinct",
            "sort_array",
            "array_join",
            "nanvl",
            "isnan",
            "bround",
            "log2",
            "log10",
            "log1p",
            "expm1",
            "pmod",
            "positive",
            "negative",
            "signum",
            "cbrt",
            "format_number",
            "format_string",
            "lpad",
            "rpad",
            "repeat",
            "reverse",
            "translate",
            "instr",
            "locate",
            "substring_index",
            "initcap",
            "levenshtein",
            "split",
            "regexp_extract_all",
            "regexp_count",
            "regexp_substr",
            "mode",
            "median",
            "percentile",
            "count_if",
            "max_by",
            "min_by",
            "any_value",
            "bool_and",
            "bool_or",
            "every",
            "some",
            "stddev_pop",
            "var_pop",
            "var_samp",
            "variance",
            "collect_set",
            "approx_count_distinct",
            "typeof",
            "nullifzero",
            "zeroifnull",
            "try_add",
            "try_subtract",
            "try_multiply",
            "try_to_number",
            "to_number",
            "to_char",
            "dayofmonth",
            "dayofyear",
            "hour",
            "minute",
            "second",
            "weekday",
            "date_diff",
        ]
    ),
}


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


def check_query(
    query: str,
    views: Collection[str] = tuple(VIEWS),
    *,
    dialect: str = "duckdb",
    confined: bool = True,
) -> str:
    """The SQL to run for ``query``, or :class:`QueryError` unless it is one read-only query
    over ``views``.

    Decided from sqlglot's parse tree, in ``dialect`` (the engine's SQL): one statement, a
    query (``SELECT``, ``WITH … SELECT``, set operations), no clause that writes or locks
    (``SELECT … INTO``, ``FOR UPDATE``), no relation but the views and the query's own common
    table expressions, no table function but ``range``, ``generate_series`` and ``unnest``, no
    function reading files, the network or the environment (``read_csv``, ``glob``,
    ``getenv``, ``query``…).

    On an engine that is not ``confined`` (PostgreSQL, Spark: see
    :attr:`~custseg.engines.base.Engine.confinable`), every function must also be one sqlglot
    knows as SQL's own or one of :data:`SAFE_FUNCTIONS`, none qualified by a schema, no field
    or function reached with a dot on an expression (PostgreSQL's ``(x).f`` is ``f(x)``), no
    type but SQL's own; the SQL returned is then the checked tree written back by sqlglot
    without comments, and that text must itself pass the check and read back as the same
    text: sqlglot writes a few arguments out as SQL (a date part given as a string, the name
    of an aggregate), so what runs is what was checked only when the text is stable.

    Examples
    --------
    >>> check_query("SELECT count(*) FROM lines")
    'SELECT count(*) FROM lines'
    >>> check_query("select pg_read_file('/etc/passwd') from lines", dialect="postgres",
    ...             confined=False)
    Traceback (most recent call last):
    ...
    custseg.outputs.query.QueryRefused: refused: the function pg_read_file() (the postgres \
engine cannot be locked, so a query may call only SQL's own functions and a few listed ones, \
none of a schema); custseg sql runs one read-only query (SELECT … or WITH … SELECT …) over the views lines, \
clean_lines, dropped_lines, customers, segments
    >>> check_query("DELETE FROM lines")
    Traceback (most recent call last):
    ...
    custseg.outputs.query.QueryRefused: refused: statement DELETE; custseg sql runs one \
read-only query (SELECT … or WITH … SELECT …) over the views lines, clean_lines, \
dropped_lines, customers, segments
    """
    stmt = _checked(query, views, dialect, confined)
    if confined:
        return query
    text = str(stmt.sql(dialect=dialect, comments=False))
    if any(mark in text for mark in _COMMENT_MARKS):
        # sqlglot writes one line without comments: a line break or a comment mark left in
        # the text (in a string, an identifier) is one an engine could read otherwise
        raise _refused(
            "a line break or a comment mark (--, /*, */) in a string or a name; write a line "
            "break as chr(10)"
        )
    again = _checked(text, views, dialect, confined)
    if str(again.sql(dialect=dialect, comments=False)) != text:
        raise _refused(
            "a query that does not read back as it is written (sqlglot would run "
            f"{text[:120]!r}); write it with plain columns, values and SQL's functions"
        )
    return text


def _checked(query: str, views: Collection[str], dialect: str, confined: bool) -> Any:
    """The tree of ``query``, normalised, once every rule of :func:`check_query` holds."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its "falling back to a command" warning is ours to say
    try:
        parsed = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
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
    # names as the engine reads them: unquoted ones folded (PostgreSQL: lower case; DuckDB and
    # Spark ignore case), quoted ones kept, then compared exactly
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    stmt = normalize_identifiers(stmt, dialect=dialect)
    known = {_normal(v, dialect) for v in views}
    safe = SAFE_FUNCTIONS.get(dialect, frozenset())
    columns = _column_names(stmt, views, dialect) if not confined else None
    raw_nodes = _raw_nodes()
    for node in stmt.walk():
        if not confined and not isinstance(node, exp.Identifier | exp.Literal):
            # any other text a node holds (a function's name, a date part) is one word: a
            # string sqlglot keeps is written back as it is, unread by the check
            frame = isinstance(node, exp.WindowSpec)
            for value in node.args.values():
                if (
                    isinstance(value, str)
                    and not _WORD.fullmatch(value)
                    and not (frame and value.upper() in _FRAME_WORDS)
                ):
                    raise _refused(f"the word {value!r} in {node.key.upper()} (one word only)")
        elif (
            not confined
            and isinstance(node, exp.Identifier)
            and not node.quoted
            and not _WORD.fullmatch(str(node.name))
        ):
            # an unquoted name is plain ASCII: Spark reads 'ſ' as S in its keywords
            raise _refused(f"the name {node.name!r} (quote a name that is not plain ASCII)")
        if isinstance(node, refused):
            raise _refused(f"clause {node.key.upper()}")
        if isinstance(node, exp.Table | exp.Lateral):
            target = node.this
            if isinstance(target, exp.Identifier) and isinstance(node, exp.Table):
                name = str(target.name)
                if node.args.get("db") or node.args.get("catalog"):
                    raise QueryError(
                        f"relation {node.sql(dialect=dialect)} is not one of the views"
                    )
                if name not in known and name not in _visible_ctes(node):
                    raise QueryError(
                        f"relation {target.name!r} is not one of the views ({', '.join(views)})"
                    )
            elif isinstance(target, exp.Func):
                fn = _function_name(target)
                if fn not in _TABLE_FUNCTIONS:
                    raise _refused(f"the table function {fn}() (it reads outside the views)")
            elif not (isinstance(node, exp.Lateral) and isinstance(target, exp.Subquery)):
                raise _refused(f"the relation {node.sql(dialect=dialect)}")
        elif isinstance(node, exp.DataType) and not confined:
            kind = node.this
            if not isinstance(kind, exp.DataType.Type) or kind == exp.DataType.Type.USERDEFINED:
                # PostgreSQL's regclass, regproc… look the catalog up by name; a type of a
                # schema may run code of its own: only SQL's types are written
                raise _refused(f"the type {node.sql(dialect=dialect)} (not one of SQL's)")
        elif isinstance(node, exp.Dot) and not confined:
            raise _refused(
                f"the path {node.sql(dialect=dialect)} (a field or function reached with a dot "
                "on an expression)"
            )
        elif isinstance(node, raw_nodes) and not confined:
            raise _refused(f"{node.sql(dialect=dialect)} (sqlglot writes its text out as SQL)")
        elif isinstance(node, exp.Operator | exp.Hint) and not confined:
            # PostgreSQL's OPERATOR(…) and a hint sqlglot cannot read are kept as raw text
            raise _refused(f"{node.key.upper()} (its text is not read by the check)")
        elif isinstance(node, exp.Column) and columns is not None and node.table:
            if node.name not in columns:
                raise QueryError(
                    f"column {node.sql(dialect=dialect)} is not a column of the views or of "
                    "the query"
                )
        elif isinstance(node, exp.Func):
            fn = _function_name(node)
            if any(fn.startswith(p) or fn.endswith(p) or fn == p for p in _OUTSIDE_FUNCTIONS):
                raise _refused(f"the function {fn}() (it reads outside the views)")
            if confined:
                continue
            dot = node.parent if isinstance(node.parent, exp.Dot) else None
            qualified = dot is not None and node.arg_key == "expression"
            if qualified or (isinstance(node, exp.Anonymous) and fn not in safe):
                shown = dot.sql(dialect=dialect) if dot is not None and qualified else f"{fn}()"
                raise _refused(
                    f"the function {shown.split('(')[0]}() (the {dialect} engine cannot be "
                    "locked, so a query may call only SQL's own functions and a few listed "
                    "ones, none of a schema)"
                )
    return stmt


#: the text a node may hold besides names and values: one word (a function, a date part)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: the words of a window frame sqlglot keeps as text (ROWS BETWEEN UNBOUNDED PRECEDING AND
#: CURRENT ROW, EXCLUDE CURRENT ROW…)
_FRAME_WORDS = frozenset(
    {"CURRENT ROW", "UNBOUNDED", "PRECEDING", "FOLLOWING", "ROWS", "RANGE", "GROUPS", "GROUP",
     "TIES", "NO OTHERS"}
)  # fmt: skip
#: what no text run on an unlocked engine may hold, even inside a string or a quoted name
_COMMENT_MARKS = ("\n", "\r", "--", "/*", "*/")


def _raw_nodes() -> tuple[type, ...]:
    """sqlglot's nodes that write a string argument out as SQL: the name of an aggregate
    (``anonymous_agg_func('f', x)`` is written ``F(x)``), a dynamic identifier and the like."""
    from sqlglot import exp

    names = (
        "AnonymousAggFunc",
        "CombinedAggFunc",
        "ParameterizedAgg",
        "CombinedParameterizedAgg",
        "DynamicIdentifier",
    )
    return tuple(getattr(exp, n) for n in names if hasattr(exp, n))


def _visible_ctes(table: Any) -> set[str]:
    """The names of the common table expressions a relation of the query can mean: those of
    the ``WITH`` of each query around it, and inside a CTE only the CTEs before it (itself too
    in ``WITH RECURSIVE``). A name is never a CTE of another subquery: ``SELECT * FROM
    pg_authid WHERE EXISTS (WITH pg_authid AS (…) …)`` reads the catalog table."""
    from sqlglot import exp

    names: set[str] = set()
    child, node = table, table.parent
    while node is not None:
        if isinstance(node, exp.With):
            ctes = list(node.expressions)
            at = next(i for i, c in enumerate(ctes) if c is child)
            seen = ctes[: at + 1] if node.args.get("recursive") else ctes[:at]
            names |= {str(c.alias_or_name) for c in seen}
        else:
            around = node.args.get("with_") or node.args.get("with")
            if around is not None and child is not around:
                names |= {str(c.alias_or_name) for c in around.expressions}
        child, node = node, node.parent
    return names


def _normal(name: str, dialect: str) -> str:
    """A name of a view or a column (as the engine spells it) as a query of ``dialect`` that
    means it reads once normalised: quoted."""
    from sqlglot import exp
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    return str(normalize_identifiers(exp.to_identifier(name, quoted=True), dialect=dialect).name)


def _column_names(stmt: Any, views: Collection[str], dialect: str) -> set[str] | None:
    """The column names a qualified column (``t.c``) of the (normalised) query may have: the
    views' columns and the names the query itself gives (aliases, CTE and alias column
    lists); ``None`` before the views' columns are known. On PostgreSQL ``t.f`` where ``t``
    has no column ``f`` calls the function ``f(t)``: such a name is refused."""
    from sqlglot import exp

    if not isinstance(views, Mapping):
        return None
    names = {_normal(str(c), dialect) for cols in views.values() for c in cols}
    for node in stmt.walk():
        if isinstance(node, exp.Alias):
            names.add(str(node.alias))
        elif isinstance(node, exp.TableAlias):
            names |= {str(c.name) for c in node.columns}
    return names


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
    engine: str | None = None,
    table: str | None = None,
    lines_query: str | None = None,
) -> pd.DataFrame:
    """The rows of a read-only SQL query over the views of a transactions input and/or a run.

    Parameters
    ----------
    input : transaction lines (a path or a DataFrame, or a ``postgresql://`` URL with
        ``table`` or ``lines_query``): views ``lines``, ``clean_lines``, ``dropped_lines`` and
        ``customers``.
    query : one read-only query, in the engine's SQL, over the views (:func:`check_query`).
    run : a run folder (``custseg run --out``): view ``segments``; with ``input``, the run's
        as-of date and cleaning rules are used unless ``as_of`` or ``rules`` are given, so
        that ``customers`` holds the run's features.
    mapping : ``{canonical: source_column}`` overriding the alias recognition.
    as_of : date recency is measured to (YYYY-MM-DD); default the run's, else the day after
        the last kept line.
    engine : ``duckdb`` (default for files and frames), ``postgres`` (default for a
        ``postgresql://`` URL) or ``spark``: where the audit, the features and the query run.
    table, lines_query : the lines of a database (``--table``, ``--query``), or of Spark's
        catalog with ``engine="spark"`` and no ``input``.

    Raises :class:`QueryError` for a query refused or failing (the message, one line, lists
    the views and their columns), and the errors of reading the input or the run.

    Examples
    --------
    >>> from custseg.datasets import make_transactions
    >>> frame, _ = make_transactions(30, seed=1)
    >>> sql(frame, "SELECT count(*) AS n FROM lines")["n"].item() == len(frame)
    True
    """
    return query_views(
        input,
        query,
        run=run,
        mapping=mapping,
        as_of=as_of,
        rules=rules,
        engine=engine,
        table=table,
        lines_query=lines_query,
    ).frame


def query_views(
    input: str | os.PathLike[str] | pd.DataFrame | None = None,
    query: str | None = None,
    *,
    run: str | os.PathLike[str] | None = None,
    mapping: Mapping[str, str] | None = None,
    as_of: date | str | None = None,
    rules: CleaningRules | None = None,
    engine: str | None = None,
    table: str | None = None,
    lines_query: str | None = None,
) -> QueryResult:
    """:func:`sql`, with the views' columns (for the command line's messages)."""
    if query is None or not query.strip():
        raise QueryError("no query given; write one, e.g. SELECT count(*) FROM lines")
    has_lines = input is not None or table is not None or lines_query is not None
    if not has_lines and run is None:
        raise QueryError("nothing to query: give an input file, a run folder (--run), or both")
    given_as_of = check_as_of(as_of)
    found = None
    if has_lines:
        found = choose_input(input, engine=engine, table=table, query=lines_query)
    elif engine is not None and engine.strip().lower() != "duckdb":
        raise InputError(
            f"--engine {engine} reads the lines of an INPUT (or --table/--query); the "
            "segments of --run alone are read by DuckDB: leave out --engine, or give the input"
        )
    dialect = found.engine if found is not None else "duckdb"
    # refused before the engine starts and the input is read
    check_query(query, dialect=dialect, confined=dialect in CONFINABLE)
    con = found.connect() if found is not None else connect()
    opened: list[Source] = []
    try:
        views = _open_views(con, opened, found, run, mapping, given_as_of, rules)
        try:
            text = check_query(query, views, dialect=con.dialect, confined=con.confinable)
            frame = con.read_only_frame(text)
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
    found: Input | None,
    run: str | os.PathLike[str] | None,
    mapping: Mapping[str, str] | None,
    as_of: date | None,
    rules: CleaningRules | None,
) -> dict[str, dict[str, str]]:
    """Create the views in ``con`` (then confine it, where it can be); return each view's
    columns and types."""
    src = None
    try:
        allowed: list[Path] = []
        segments = None
        if run is not None:
            doc, segments = _run_doc(Path(run))
            if as_of is None and found is not None and isinstance(doc.get("as_of"), str):
                as_of = check_as_of(doc["as_of"])
            if rules is None:
                rules = _run_rules(doc)
        if found is not None:
            src = found.open(con)
            opened.append(src)
            colmap = resolve_columns(src.columns, mapping, source=src.label)
            ledger = audit(
                con, src, colmap, rules, as_of=as_of, collectors=(feature_stage.collect, keep_lines)
            )
            feature_stage.keep_customer_features(con, ledger.as_of)
            con.create("customers", feature_stage.typed_features_sql(con), view=True)
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
        if con.confinable:
            con.forbid_external_access(allowed)
        return views
    except EngineError as exc:
        label = src.label if src else (found.label if found is not None else str(run))
        raise engine_error(label, exc, src) from exc


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
