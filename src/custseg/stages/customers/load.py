"""Reading a customer table out of the engine: column kinds profiled, values parsed.

What needs a look at the data (each column's kind, the number convention of a text column, the
format of a text enrolment date) is decided once, when a preparation is fitted, and kept as a
*reading plan* (plain data). The same plan then reads the training table and any new rows, so
that ``2,500`` or ``04-09-2012`` in a new row means what it meant in training.

This is the only module of :mod:`custseg.stages.customers` that talks to the engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd

from custseg.engines import connect
from custseg.engines.base import Engine
from custseg.engines.sql import ident
from custseg.errors import ModelError, SchemaError
from custseg.sources.readers import Source, open_source
from custseg.stages.audit.parse import (
    DateReading,
    choose_date_format,
    number_convention,
    number_expr,
)

#: how a column is parsed: ``number`` (DOUBLE; ``convention`` us/eu/None for text), ``date``
#: (a text enrolment date; ``format`` a strptime format, ``None`` for ISO 8601), ``timestamp``
#: (a column typed as a date by the reader) or ``text`` (trimmed, empty is missing)
PARSERS: tuple[str, ...] = ("number", "date", "timestamp", "text")

_DATE_TYPES = ("TIMESTAMP", "DATE")


def profile_columns(con: Engine, src: Source) -> dict[str, dict[str, Any]]:
    """Per column: type (numeric, date, text), distinct and non-null counts, in one query."""

    info: dict[str, dict[str, Any]] = {}
    parts = []
    for col in src.columns:
        dtype = src.types[col].upper()
        parts.append(f"count({ident(col)})")
        parts.append(f"count(DISTINCT {ident(col)})")
        looks_numeric = (
            f"regexp_full_match(TRIM({ident(col)}), "
            "'[-+]?[£$€]?\\s*[-+]?[0-9][0-9 ,.]*([eE][-+]?[0-9]+)?\\s*[£$€%]?')"
        )
        parts.append(
            f"count({number_expr(col, dtype)}) FILTER (WHERE {looks_numeric})"
            if dtype == "VARCHAR"
            else f"count({ident(col)})"
        )
    row = con.row(f"SELECT count(*), {', '.join(parts)} FROM {ident(src.view)}")
    assert row is not None
    n = int(row[0])
    for i, col in enumerate(src.columns):
        nonnull, distinct, numeric = row[1 + 3 * i : 4 + 3 * i]
        dtype = src.types[col].upper()
        if any(t in dtype for t in _DATE_TYPES):
            kind = "date"
        elif (dtype != "VARCHAR" and dtype != "BOOLEAN") or (nonnull and numeric == nonnull):
            kind = "numeric"
        else:
            kind = "text"
        info[col] = {"kind": kind, "nonnull": int(nonnull), "distinct": int(distinct), "rows": n}
    return info


def reading_plan(
    con: Engine,
    src: Source,
    info: Mapping[str, Mapping[str, Any]],
    roles: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """How each column of ``src`` is parsed, decided from the data once (see :data:`PARSERS`).

    Numeric columns other than the id role are numbers (a text column's convention is chosen
    from a sample of its values); a text enrolment date gets the format that parses most of
    it; columns typed as dates stay timestamps; everything else is trimmed text.
    """
    plan: dict[str, dict[str, Any]] = {}
    for col in src.columns:
        dtype = src.types[col].upper()
        if info[col]["kind"] == "numeric" and col != roles.get("id"):
            convention = number_convention(con, src.view, col) if dtype == "VARCHAR" else None
            plan[col] = {"parse": "number", "convention": convention}
        elif col == roles.get("enrolment_date") and dtype == "VARCHAR":
            plan[col] = {"parse": "date", "format": choose_date_format(con, src.view, col)}
        elif info[col]["kind"] == "date":
            plan[col] = {"parse": "timestamp"}
        else:
            plan[col] = {"parse": "text"}
    return plan


def check_plan(plan: Any) -> dict[str, dict[str, Any]]:
    """Validate a reading plan loaded from JSON; raise :class:`ModelError` naming the fault."""
    if not isinstance(plan, dict):
        raise ModelError("preparation: 'reading' must map column names to parsers")
    for col, step in plan.items():
        parse = step.get("parse") if isinstance(step, dict) else None
        if not isinstance(col, str) or parse not in PARSERS:
            raise ModelError(
                f"preparation: column {col!r} has parser {parse!r}; use {', '.join(PARSERS)}"
            )
        if parse == "number" and step.get("convention") not in (None, "us", "eu"):
            raise ModelError(f"preparation: column {col!r} has an unknown number convention")
        if parse == "date" and not isinstance(step.get("format"), str | None):
            raise ModelError(f"preparation: column {col!r} has a date format that is not text")
    return plan


def date_formats(plan: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The format of each text date column of a plan (``"ISO 8601"`` when read as ISO)."""
    return {
        col: step["format"] or "ISO 8601" for col, step in plan.items() if step["parse"] == "date"
    }


def _expr(col: str, dtype: str, step: Mapping[str, Any]) -> str:
    """SQL reading one column by its plan; ``dtype`` is the column's type in this source."""
    parse = step["parse"]
    if parse == "number":
        return number_expr(col, dtype, step.get("convention"))
    dated = any(t in dtype for t in _DATE_TYPES)
    if parse == "date" and dtype == "VARCHAR":
        fmt = step.get("format")
        # ISO 8601 values are read as ISO whatever the format of the others (as in the audit)
        return DateReading(fmt, iso=True).sql(f"TRIM({ident(col)})")
    if parse == "date" or parse == "timestamp":
        if dated:
            return f"CAST({ident(col)} AS TIMESTAMP)"
        return f"TRY_CAST(TRIM(CAST({ident(col)} AS VARCHAR)) AS TIMESTAMP)"
    return f"NULLIF(TRIM(CAST({ident(col)} AS VARCHAR)), '')"


def read_table(con: Engine, src: Source, plan: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The columns of ``plan`` present in ``src``, in pandas: numbers parsed, dates parsed and
    text trimmed, by the plan (never re-detected). Columns the plan does not know are left out."""
    cols = [c for c in plan if c in src.types]
    if not cols:
        return pd.DataFrame(index=pd.RangeIndex(0))
    exprs = [f"{_expr(c, src.types[c].upper(), plan[c])} AS {ident(c)}" for c in cols]
    return con.frame(f"SELECT {', '.join(exprs)} FROM {ident(src.view)}")


@contextmanager
def opened(
    data: Source | pd.DataFrame | str | os.PathLike[str],
    con: Engine | None = None,
) -> Iterator[tuple[Engine, Source]]:
    """``(connection, source)`` for a source already open in ``con``, a DataFrame or a path.

    A DataFrame or a path is opened for the duration of the block (in ``con``, or in a
    connection of its own that is closed afterwards).
    """
    if isinstance(data, Source):
        if con is None:
            raise SchemaError(f"{data.label}: an open source needs the connection it is open in")
        yield con, data
        return
    own = con is None
    con = con or connect()
    src = None
    try:
        src = open_source(con, data, view="customer_rows")
        yield con, src
    finally:
        if src is not None:
            src.close()
        if own:
            con.close()
