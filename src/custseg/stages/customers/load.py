"""Reading a customer table out of the engine: column kinds profiled, values parsed."""

from __future__ import annotations

from typing import Any

import pandas as pd

from custseg.engines.base import Engine
from custseg.engines.sql import ident
from custseg.sources.readers import Source
from custseg.stages.audit.parse import (
    choose_date_format,
    number_convention,
    number_expr,
)


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
        if any(t in dtype for t in ("TIMESTAMP", "DATE")):
            kind = "date"
        elif (dtype != "VARCHAR" and dtype != "BOOLEAN") or (nonnull and numeric == nonnull):
            kind = "numeric"
        else:
            kind = "text"
        info[col] = {"kind": kind, "nonnull": int(nonnull), "distinct": int(distinct), "rows": n}
    return info


def load_table(
    con: Engine,
    src: Source,
    info: dict[str, dict[str, Any]],
    roles: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """The table in pandas with numbers parsed, dates parsed and text trimmed."""

    exprs: list[str] = []
    formats: dict[str, str | None] = {}
    for col in src.columns:
        dtype = src.types[col].upper()
        if info[col]["kind"] == "numeric" and col != roles.get("id"):
            convention = number_convention(con, src.view, col) if dtype == "VARCHAR" else None
            exprs.append(f"{number_expr(col, dtype, convention)} AS {ident(col)}")
        elif col == roles.get("enrolment_date") and dtype == "VARCHAR":
            fmt = choose_date_format(con, src.view, col)
            formats[col] = fmt or "ISO 8601"
            parse = (
                f"TRY_CAST(TRIM({ident(col)}) AS TIMESTAMP)"
                if fmt is None
                else f"try_strptime(TRIM({ident(col)}), '{fmt}')"
            )
            exprs.append(f"{parse} AS {ident(col)}")
        elif info[col]["kind"] == "date":
            exprs.append(f"CAST({ident(col)} AS TIMESTAMP) AS {ident(col)}")
        else:
            exprs.append(f"NULLIF(TRIM(CAST({ident(col)} AS VARCHAR)), '') AS {ident(col)}")
    frame = con.frame(f"SELECT {', '.join(exprs)} FROM {ident(src.view)}")
    return frame, formats
