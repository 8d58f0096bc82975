"""Quoting for SQL text: one place for identifiers and string literals.

Values that come from the user are bound as parameters where the engine allows it; these two
helpers are for what cannot be bound (column and table names, file paths in ``read_*`` calls,
patterns inside generated expressions).
"""

from __future__ import annotations


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
