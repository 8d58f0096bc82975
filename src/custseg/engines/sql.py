"""SQL text: quoting (identifiers and string literals) and the stages' SQL in other dialects.

Values that come from the user are bound as parameters where the engine allows it; the quoting
helpers are for what cannot be bound (column and table names, file paths in ``read_*`` calls,
patterns inside generated expressions). :func:`transpile` is what the engines of other dialects
share to run the stages' SQL, written once in DuckDB's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from custseg.errors import EngineError, ModelError

#: what a ``?`` parameter is written as while a statement is transpiled (a column name no
#: dialect changes); the engine then writes its own placeholder in its place
PARAM = "__custseg_param__"

#: the time spent transpiling the stages' statements, for measurement: [statements, seconds]
TRANSPILE_COST: list[float] = [0, 0.0]


def transpile(sql: str, dialect: str, rewrite: Callable[[Any, Callable[[Any], Any]], Any]) -> str:
    """A statement of DuckDB's dialect in ``dialect``'s, by sqlglot, with the engine's rewrites.

    What every engine needs is done here: ``?`` becomes :data:`PARAM` (each engine writes its
    own placeholder back), and ``regexp_full_match`` an anchored regular-expression match.
    ``rewrite(node, visit)`` gives a node's replacement (or the node itself), calling
    ``visit`` on the children it keeps (a replaced node's children are not visited). Parse
    errors are one-line :class:`~custseg.errors.EngineError`.
    """
    import sqlglot
    from sqlglot import exp

    start = time.perf_counter()
    full = getattr(exp, "RegexpFullMatch", None)

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return exp.column(PARAM)
        if full is not None and isinstance(node, full):
            anchored = exp.Literal.string(f"^(?:{node.expression.name})$")
            return exp.RegexpLike(this=node.this.transform(visit), expression=anchored)
        return rewrite(node, visit)  # type: ignore[no-any-return]

    try:
        tree = sqlglot.parse_one(sql, read="duckdb").transform(visit)
    except sqlglot.errors.SqlglotError as exc:
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
        raise EngineError(f"cannot be read as SQL: {first}") from exc
    out = tree.sql(dialect=dialect)
    TRANSPILE_COST[0] += 1
    TRANSPILE_COST[1] += time.perf_counter() - start
    return out


def ident(name: str) -> str:
    """A quoted SQL identifier: ``Customer ID`` → ``"Customer ID"``, inner quotes doubled.

    Examples
    --------
    >>> ident("Customer ID")
    '"Customer ID"'
    """
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted SQL string literal.

    Examples
    --------
    >>> print(literal("O'Brien"))
    'O''Brien'
    """
    return "'" + value.replace("'", "''") + "'"


def portable_pattern(pattern: str) -> str:
    """A regular expression of the cleaning rules in the syntax every engine reads.

    Inline case-insensitive groups ``(?i:…)`` (Python and DuckDB syntax) become letter classes:
    PostgreSQL, Spark and the others do not read them. Used by the engines that transpile the
    stages' SQL and by the exported scoring SQL.

    Examples
    --------
    >>> portable_pattern("^(?i:gift_)")
    '^([gG][iI][fF][tT]_)'
    """

    def fold(match: re.Match[str]) -> str:
        body = match.group(1)
        if re.search(r"[\\\[\](){}]", body):
            raise ModelError(
                f"cleaning pattern {pattern!r}: a case-insensitive group holding "
                "classes or escapes cannot be written portably; simplify it"
            )
        return "(" + "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in body) + ")"

    out = re.sub(r"\(\?i:([^)]*)\)", fold, pattern)
    if "(?" in out:
        raise ModelError(
            f"cleaning pattern {pattern!r} uses a (?…) group other engines do not read"
        )
    return out


def hide_password(url: str) -> str:
    """The URL with its password (in the user part or as a ``password=`` parameter) shown as
    ``***``.

    Examples
    --------
    >>> hide_password("postgresql://ann:secret@db:5432/shop")
    'postgresql://ann:***@db:5432/shop'
    >>> hide_password("postgresql://db/shop?user=ann&password=secret")
    'postgresql://db/shop?user=ann&password=***'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))
