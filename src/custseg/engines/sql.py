"""Quoting for SQL text: one place for identifiers and string literals.

Values that come from the user are bound as parameters where the engine allows it; these two
helpers are for what cannot be bound (column and table names, file paths in ``read_*`` calls,
patterns inside generated expressions).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from custseg.errors import ModelError


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
