"""The PostgreSQL engine: the audit and the features run inside the server (push-down).

The only module of custseg that imports :mod:`psycopg`. The stages write their SQL once, in
DuckDB's dialect; every statement is transpiled here by sqlglot (:func:`to_postgres`, cached
per text), with a few rewrites where DuckDB's functions have no PostgreSQL equivalent that
sqlglot knows (``TRY_CAST``, ``hash``, ``regexp_full_match``…). The rest is done by small SQL
functions named as DuckDB names them, created in the engine's own schema (:data:`_FUNCTIONS`).

Everything the engine creates lives in a schema of its own (``custseg_<pid>_<random>``), as
unlogged tables and views, dropped with the schema on :meth:`PostgresEngine.close`: the
user's tables are only read. Values are bound as parameters, identifiers quoted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from os import PathLike
from typing import TYPE_CHECKING, Any, Literal

import psycopg

from custseg.config import Settings, settings
from custseg.engines.base import Engine, Params
from custseg.engines.sql import PARAM, hide_password, ident, literal, portable_pattern, transpile
from custseg.errors import EngineError, InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

#: PostgreSQL type names → the DuckDB names the stages read (:meth:`Engine.describe`)
_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "character": "VARCHAR",
    "bpchar": "VARCHAR",
    "name": "VARCHAR",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "numeric": "DECIMAL",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
}

#: DuckDB functions the stages call that PostgreSQL lacks, as SQL functions of the engine's
#: schema (found first on the search path). ``try_*`` stand for ``TRY_CAST`` (see
#: :func:`to_postgres`): PostgreSQL's casts raise where DuckDB's return NULL.
_FUNCTIONS = r"""
CREATE FUNCTION {s}.isfinite(x double precision) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT x NOT IN ('Infinity'::float8, '-Infinity'::float8, 'NaN'::float8) $$;
CREATE FUNCTION {s}.is_inf(x double precision) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT x IN ('Infinity'::float8, '-Infinity'::float8) $$;
CREATE FUNCTION {s}.isinf(x double precision) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT x IN ('Infinity'::float8, '-Infinity'::float8) $$;
CREATE FUNCTION {s}.suffix(x text, s text) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT right(x, length(s)) = s $$;
CREATE FUNCTION {s}.strlen(x text) RETURNS bigint LANGUAGE sql IMMUTABLE
  AS $$ SELECT octet_length(x)::bigint $$;
CREATE FUNCTION {s}.contains(x text, s text) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT strpos(x, s) > 0 $$;
CREATE FUNCTION {s}.instr(x text, s text) RETURNS bigint LANGUAGE sql IMMUTABLE
  AS $$ SELECT strpos(x, s)::bigint $$;
CREATE FUNCTION {s}.to_seconds(x bigint) RETURNS interval LANGUAGE sql IMMUTABLE
  AS $$ SELECT make_interval(secs => x) $$;
CREATE FUNCTION {s}.regexp_extract(x text, p text, g integer) RETURNS text LANGUAGE sql
  IMMUTABLE AS $$ SELECT COALESCE((regexp_match(x, p))[g], '') $$;
CREATE FUNCTION {s}.cs_trim(x text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT regexp_replace(x, '^[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$', '', 'g') $$;
CREATE FUNCTION {s}.try_double(x text) RETURNS double precision LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RETURN x::double precision; EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE FUNCTION {s}.try_double(x double precision) RETURNS double precision LANGUAGE sql
  IMMUTABLE AS $$ SELECT x $$;
CREATE FUNCTION {s}.try_integer(x text) RETURNS integer LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RETURN x::integer; EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE FUNCTION {s}.try_timestamp(x text) RETURNS timestamp LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN
    IF x IS NULL OR x !~ '^\s*[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}([ T][0-9:. ]*)?$' THEN
      RETURN NULL; END IF;
    RETURN x::timestamp; EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE FUNCTION {s}.try_timestamp(x timestamp) RETURNS timestamp LANGUAGE sql IMMUTABLE
  AS $$ SELECT x $$;
CREATE FUNCTION {s}.try_strptime(x text, f text) RETURNS timestamp LANGUAGE plpgsql IMMUTABLE
  AS $$
  DECLARE pattern text; pg text;
  BEGIN
    IF x IS NULL THEN RETURN NULL; END IF;
    pattern := '^' || replace(replace(replace(replace(replace(replace(replace(
        regexp_replace(f, '([.])', '[\1]', 'g'),
        '%Y', '[0-9]{{4}}'), '%m', '[0-9]{{1,2}}'), '%d', '[0-9]{{1,2}}'),
        '%H', '[0-9]{{1,2}}'), '%M', '[0-9]{{1,2}}'), '%S', '[0-9]{{1,2}}'), 'T', '[T]') || '$';
    IF x !~ pattern THEN RETURN NULL; END IF;
    pg := replace(replace(replace(replace(replace(replace(f,
        '%Y', 'YYYY'), '%m', 'MM'), '%d', 'DD'), '%H', 'HH24'), '%M', 'MI'), '%S', 'SS');
    pg := replace(pg, 'T', '"T"');
    RETURN to_timestamp(x, pg)::timestamp;
  EXCEPTION WHEN others THEN RETURN NULL;
  END $$;
"""

#: ``TRY_CAST(x AS <type>)`` → the function of :data:`_FUNCTIONS` that casts to it
_TRY: dict[str, str] = {
    "DOUBLE": "try_double",
    "TIMESTAMP": "try_timestamp",
    "INT": "try_integer",
}

#: the memory of a sort or a hash of the engine's session
_WORK_MEM = "256MB"


@lru_cache(maxsize=4096)
def to_postgres(sql: str, bound: bool = False) -> str:
    """A statement of DuckDB's dialect in PostgreSQL's (cached: the stages repeat theirs).

    sqlglot transpiles; before it writes, a few nodes are rewritten: ``TRY_CAST`` to the
    ``try_*`` functions of the schema, ``hash(a, b…)`` to a 64-bit hash of the row's text,
    ``regexp_full_match`` to an anchored ``~``, a ``(?i:…)`` group of a pattern to letter
    classes (:func:`~custseg.engines.sql.portable_pattern`), ``TRIM(x)`` to one that also removes the
    Unicode spaces DuckDB's does. With ``bound`` (parameters given), ``?`` become psycopg's
    ``%s`` and a ``%`` of the text ``%%``.
    """
    from sqlglot import exp

    def rewrite(node: exp.Expression, visit: Any) -> exp.Expression:
        if isinstance(node, exp.TryCast) and node.to.is_type(exp.DataType.Type.DECIMAL):
            # inline, not a function: PostgreSQL calls an SQL function whose argument is
            # used twice once per row (12 s on Online Retail, against 0.3 s inline)
            value = node.this.transform(visit)  # a replaced node's children are not visited
            limit = exp.LT(this=exp.Abs(this=value.copy()), expression=exp.Literal.number("1e12"))
            cast = exp.Cast(this=value, to=node.to)
            return exp.Case(ifs=[exp.If(this=limit, true=cast)])
        if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
            # PostgreSQL rounds to decimal places only a numeric
            numeric = exp.Cast(this=node.this.transform(visit), to=exp.DataType.build("numeric"))
            rounded = exp.Round(this=numeric, decimals=node.args["decimals"])
            return exp.Cast(this=rounded, to=exp.DataType.build("double"))
        if isinstance(node, exp.TryCast):
            kind = node.to.this.name.upper() if node.to.this else ""
            name = next((f for t, f in _TRY.items() if kind.startswith(t)), None)
            if name is None:
                raise EngineError(f"no PostgreSQL equivalent of TRY_CAST(… AS {node.to.sql()})")
            return exp.Anonymous(this=name, expressions=[node.this.transform(visit)])
        if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
            row = exp.Anonymous(
                this="ROW", expressions=[e.transform(visit) for e in node.expressions]
            )
            text = exp.Cast(this=row, to=exp.DataType.build("text"))
            return exp.Anonymous(this="hashtextextended", expressions=[text, exp.Literal.number(0)])
        if isinstance(node, exp.RegexpLike) and isinstance(node.expression, exp.Literal):
            pattern = node.expression.name
            if "(?i:" in pattern:  # PostgreSQL has no inline case-insensitive group
                node.set("expression", exp.Literal.string(portable_pattern(pattern)))
            return node
        if isinstance(node, exp.Trim) and not node.args.get("expression"):
            return exp.Anonymous(this="cs_trim", expressions=[node.this.transform(visit)])
        return node

    out = transpile(sql, "postgres", rewrite)
    if bound:
        out = out.replace("%", "%%").replace(PARAM, "%s")
    return out


def _first_line(exc: BaseException) -> str:
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)


class PostgresEngine(Engine):
    """A connection to a PostgreSQL database, with a schema of its own for what it creates.

    Examples
    --------
    ``PostgresEngine("postgresql://ann@db/shop")``: the stages' relations are unlogged
    tables of ``custseg_<pid>_<random>``, dropped on :meth:`close`.
    """

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        settings_: Settings | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        base = settings_ or settings()
        # parts are for memory on this machine: the server holds the lines, so one part
        self.settings = replace(
            base,
            threads=threads or base.threads,
            memory_limit=memory_limit or base.memory_limit,
            partition_lines=1 << 62,
        )
        self.url = url
        self.label = hide_password(url)
        try:
            self._con = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except (psycopg.Error, ValueError) as exc:  # ValueError: a malformed URL
            raise InputError(
                f"{self.label}: cannot connect ({_first_line(exc)}); check the host, port, "
                "database, user and password of the URL and that the server is running"
            ) from None
        self.schema = f"custseg_{os.getpid()}_{secrets.token_hex(4)}"
        try:
            path = self._con.execute("SHOW search_path").fetchone()
            # sorts and hashes of a few hundred thousand lines in memory, not in temporary
            # files (PostgreSQL's default is 4 MB): this session only
            self._con.execute("SELECT set_config('work_mem', %s, false)", [_WORK_MEM])
            self._con.execute(f"CREATE SCHEMA {ident(self.schema)}")
            self._con.execute(_FUNCTIONS.format(s=ident(self.schema)))
            self._con.execute(
                "SELECT set_config('search_path', %s, false)",
                [f"{ident(self.schema)}, {path[0] if path else 'public'}"],
            )
        except psycopg.Error as exc:
            self._con.close()
            raise InputError(
                f"{self.label}: cannot create the working schema {self.schema} "
                f"({_first_line(exc)}); the user needs the CREATE privilege on the database"
            ) from None

    def _q(self, name: str) -> str:
        return f"{ident(self.schema)}.{ident(name)}"

    def _cursor(self, sql: str, params: Params) -> Any:
        text = to_postgres(sql, params is not None)
        self._log(text, params)
        try:
            return self._con.execute(text, list(params) if params is not None else None)  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise EngineError(_first_line(exc)) from exc

    # ---- sources -------------------------------------------------------------------------
    def source(self, name: str, *, table: str | None = None, query: str | None = None) -> None:
        """Expose a table of the database (``schema.table`` or ``table``) or the rows of a
        query (in PostgreSQL's own dialect) as the view ``name``; never written to."""
        if (table is None) == (query is None):
            raise ValueError("give a table or a query")
        if table is not None:
            found = self._con.execute("SELECT to_regclass(%s)", [table]).fetchone()
            if not found or found[0] is None:
                quoted = ".".join(ident(p) for p in table.split("."))
                found = self._con.execute("SELECT to_regclass(%s)", [quoted]).fetchone()
            if not found or found[0] is None:
                raise InputError(
                    f"{self.label}: no table {table!r}; check its name and schema "
                    '(--table schema.name), or pass --query "SELECT …"'
                )
            body = f"SELECT * FROM {found[0]}"
        else:
            body = str(query).strip().rstrip(";")
        self.drop(name)
        statement = f"CREATE VIEW {self._q(name)} AS {body}"
        self._log(statement, None)
        try:
            self._con.execute(statement)
        except psycopg.Error as exc:
            raise InputError(
                f"{self.label}: the query cannot be run ({_first_line(exc)}); check it in psql"
            ) from None

    def register(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        import pandas as pd
        import pyarrow as pa

        df = frame.to_pandas() if isinstance(frame, pa.Table) else frame

        def pg_type(series: pd.Series) -> str:
            if pd.api.types.is_bool_dtype(series):
                return "BOOLEAN"
            if pd.api.types.is_integer_dtype(series):
                size = series.dtype.itemsize
                return {1: "SMALLINT", 2: "SMALLINT", 4: "INTEGER"}.get(size, "BIGINT")
            if pd.api.types.is_float_dtype(series):
                return "DOUBLE PRECISION"
            if pd.api.types.is_datetime64_any_dtype(series):
                return "TIMESTAMP"
            return "TEXT"

        self.drop(name)
        cols = ", ".join(f"{ident(str(c))} {pg_type(df[c])}" for c in df.columns)
        self._con.execute(f"CREATE UNLOGGED TABLE {self._q(name)} ({cols})")
        names = ", ".join(ident(str(c)) for c in df.columns)
        with (
            self._con.cursor() as cur,
            cur.copy(f"COPY {self._q(name)} ({names}) FROM STDIN") as copy,
        ):
            for row in df.itertuples(index=False, name=None):
                copy.write_row([None if pd.isna(v) else v for v in row])

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
        raise EngineError(
            "the PostgreSQL engine reads tables of its database, not files; "
            "run on the file without a database URL"
        )

    # ---- relations -----------------------------------------------------------------------
    def create(self, name: str, query: str, params: Params = None, *, view: bool = False) -> None:
        self.drop(name)
        kind = "VIEW" if view else "UNLOGGED TABLE"
        body = to_postgres(query, params is not None)
        self._log(f"CREATE {kind} {self._q(name)} AS {body}", params)
        try:
            self._con.execute(
                f"CREATE {kind} {self._q(name)} AS {body}",
                list(params) if params is not None else None,  # type: ignore[arg-type]
            )
            if not view:  # statistics, for the plans of the statements that read it
                self._con.execute(f"ANALYZE {self._q(name)}")
        except psycopg.Error as exc:
            raise EngineError(_first_line(exc)) from exc

    def append(self, name: str, query: str, params: Params = None) -> None:
        self.execute(f"INSERT INTO {ident(name)} {query}", params)

    def update(
        self, name: str, assignments: Mapping[str, str], where: str, params: Params = None
    ) -> None:
        sets = ", ".join(f"{ident(c)} = {expr}" for c, expr in assignments.items())
        self.execute(f"UPDATE {ident(name)} SET {sets} WHERE {where}", params)

    def split(self, name: str, query: str, key: str, parts: int) -> list[str]:
        names = [f"{name}_{i}" for i in range(parts)]
        for i, part in enumerate(names):
            self.create(part, f"SELECT * FROM ({query}) AS q WHERE {key} = {i}")
        return names

    def _kind(self, name: str) -> str | None:
        row = self._con.execute(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = %s",
            [self.schema, name],
        ).fetchone()
        return None if row is None else str(row[0])

    def drop(self, name: str) -> None:
        kind = self._kind(name)
        if kind is not None:
            what = "VIEW" if kind == "VIEW" else "TABLE"
            self._con.execute(f"DROP {what} {self._q(name)}")

    def exists(self, name: str) -> bool:
        return self._kind(name) is not None

    def describe(self, name: str) -> dict[str, str]:
        if self._kind(name) is None:
            raise EngineError(f"no relation {name!r}")
        rows = self._con.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL), a.atttypmod FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            [self._q(name)],
        ).fetchall()
        out = {}
        for col, pgtype, _ in rows:
            out[str(col)] = _TYPES.get(str(pgtype), str(pgtype).upper())
        return out

    # ---- statements and results ------------------------------------------------------------
    def execute(self, sql: str, params: Params = None) -> None:
        self._cursor(sql, params)

    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return list(self._cursor(sql, params).fetchall())

    def row(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        found = self._cursor(sql, params).fetchone()
        return None if found is None else tuple(found)

    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        return _frame_of(self._cursor(sql, params))

    def read_only_frame(self, sql: str) -> pd.DataFrame:
        """The rows of a query of PostgreSQL's SQL, run in a ``READ ONLY`` transaction then
        rolled back: the server refuses any write to a table, a sequence or the catalog
        (``nextval``, ``lo_import``…) the query would make, and nothing the query does
        outlasts it. The search path is the engine's schema, then ``pg_catalog``: an
        unqualified name cannot reach a function or table of the user's schemas; strings are
        read as standard SQL's (``standard_conforming_strings`` on, whatever the server's
        setting: a backslash is a character), as sqlglot reads them.

        Examples (with a server at ``$URL``)
        ------------------------------------
        ``engine.read_only_frame("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d")``
        raises :class:`~custseg.errors.EngineError`: ``cannot execute DELETE in a read-only
        transaction``.
        """
        self._log(sql, None)
        try:
            with self._con.transaction(force_rollback=True):
                self._con.execute("SET TRANSACTION READ ONLY")
                self._con.execute(
                    "SELECT set_config('search_path', %s, true), "
                    "set_config('standard_conforming_strings', 'on', true)",
                    [f"{ident(self.schema)}, pg_catalog"],
                )
                return _frame_of(self._con.execute(sql))
        except psycopg.Error as exc:
            raise EngineError(_first_line(exc)) from exc

    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        import pyarrow as pa

        return pa.Table.from_pandas(self.frame(sql, params), preserve_index=False)

    def numpy(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        import numpy as np

        frame = self.frame(sql, params)
        return {str(c): np.asarray(frame[c].to_numpy()) for c in frame.columns}

    # ---- resources -----------------------------------------------------------------------
    def forbid_external_access(self, allowed: Sequence[str | PathLike[str]] = ()) -> None:
        """Refused: a session of a PostgreSQL server cannot lock itself for good (a read-only
        session can be made writable again by the next ``SET``); a user's query runs in a
        read-only transaction instead (:meth:`read_only_frame`), its functions checked first."""
        raise EngineError(
            "the PostgreSQL engine cannot lock its session for good; run a user's query with "
            "read_only_frame (a read-only transaction)"
        )

    def close(self) -> None:
        if self._con.closed:
            return
        with contextlib.suppress(psycopg.Error):
            self._con.execute(f"DROP SCHEMA IF EXISTS {ident(self.schema)} CASCADE")
        self._con.close()


def _frame_of(cur: Any) -> pd.DataFrame:
    """The rows of an executed cursor as a DataFrame, numeric (``Decimal``) columns as
    floats, as DuckDB gives them."""
    import pandas as pd

    names = [d.name for d in cur.description or ()]
    frame = pd.DataFrame.from_records(cur.fetchall(), columns=names)
    for col in frame.columns:
        if frame[col].dtype == object and len(frame) and _is_decimal(frame[col].iloc[0]):
            frame[col] = frame[col].astype(float)
    return frame


def _is_decimal(value: Any) -> bool:
    from decimal import Decimal

    return isinstance(value, Decimal)


__all__ = ["PostgresEngine", "hide_password", "literal", "to_postgres"]
