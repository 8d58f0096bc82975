"""Column roles of a customer table, recognised from their names or declared; customer ids.

The roles are data (:data:`ROLE_PATTERNS`), not the column names of one dataset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from custseg.errors import SchemaError
from custseg.sources.schema import normalize_name

#: role → regular expressions on normalised column names (lower case, alphanumerics only)
ROLE_PATTERNS: dict[str, tuple[str, ...]] = {
    "id": (
        r"^id$",
        r"^(customer|client|member|user|cust)(id|no|number|code)$",
        r"^id(client|customer)$",
        r"^codeclient$",
    ),
    "label": (r"^segmentation$", r"^segment$", r"^label$", r"^class$", r"^target$", r"^cluster$"),
    "outcome": (r"^response$", r"^responded$", r"^churn(ed)?$", r"^reponse$"),
    "birth_year": (r"^yearbirth$", r"^birthyear$", r"^yob$", r"^anneenaissance$"),
    "enrolment_date": (
        r"^dtcustomer$",
        r"^datecustomer$",
        r"^customersince$",
        r"^(signup|enrol?ment|registration"
        r"|join|joined|inscription|creation)(date)?$",
        r"^date(inscription|creation|adhesion)$",
    ),
    "spend": (r"^mnt", r"^spend(ing)?on", r"^amount", r"^depense", r"^montant"),
    "purchases": (r"^num\w*purchases$", r"^nb(achats|commandes)\w*$", r"purchases$"),
    "campaign": (r"^acceptedcmp\d+$", r"^accepted\w*campaign\w*$", r"^campagne\d+$"),
    "children": (r"^kidhome$", r"^teenhome$", r"^(nb)?(kids|children|teens|enfants)(home)?$"),
}


def detect_roles(
    columns: Sequence[str], declared: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Map columns to roles from :data:`ROLE_PATTERNS`; ``declared`` roles win.

    Single-column roles (id, label, birth_year, enrolment_date) map to a name, the others to a
    list of names.

    Examples
    --------
    >>> r = detect_roles(["ID", "Year_Birth", "MntWines", "MntFruits", "Kidhome", "Response"])
    >>> r["id"], r["birth_year"], r["spend"], r["children"], r["outcome"]
    ('ID', 'Year_Birth', ['MntWines', 'MntFruits'], ['Kidhome'], ['Response'])
    """
    declared = dict(declared or {})
    single = {"id", "label", "birth_year", "enrolment_date"}
    unknown = sorted(set(declared) - set(ROLE_PATTERNS))
    if unknown:
        raise SchemaError(
            f"unknown column role(s) {', '.join(unknown)}; use {', '.join(ROLE_PATTERNS)}"
        )
    roles: dict[str, Any] = {r: (None if r in single else []) for r in ROLE_PATTERNS}
    taken: set[str] = set()
    for role, value in declared.items():
        names = [value] if isinstance(value, str) else list(value)
        missing = [n for n in names if n not in columns]
        if missing:
            raise SchemaError(
                f"role {role} names no column {', '.join(map(repr, missing))}; "
                f"columns are: {', '.join(columns)}"
            )
        roles[role] = names[0] if role in single else names
        taken.update(names)
    for col in columns:
        if col in taken:
            continue
        key = normalize_name(col)
        for role, patterns in ROLE_PATTERNS.items():
            if role in declared:
                continue
            if any(re.search(p, key) for p in patterns):
                if role in single:
                    if roles[role] is None:
                        roles[role] = col
                        taken.add(col)
                        break
                    continue
                roles[role].append(col)
                taken.add(col)
                break
    return roles


def choose_id(
    columns: Sequence[str], info: Mapping[str, Mapping[str, Any]], rows: int, declared: str | None
) -> str | None:
    """The customer-id column: the id role, else a column unique on every row that is named
    like an id, else the first such text column, else ``None`` (customers numbered by row)."""
    if declared is not None:
        return declared
    unique = [c for c in columns if info[c]["distinct"] == rows and info[c]["kind"] != "date"]
    named = [
        c for c in unique if re.search(r"(^|[_\s.-])[Ii][Dd]$|[a-z]Id$|ID$|^[Ii][Dd]([_\s.-]|$)", c)
    ]
    texts = [c for c in unique if info[c]["kind"] == "text"]
    return (named or texts)[0] if named or texts else None


def identify(
    frame: pd.DataFrame, id_col: str | None, label: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Give every row a ``customer_id``, drop rows without one and exact duplicate rows.

    The id is the trimmed text of ``id_col``; a row whose id is missing is dropped (it could
    not be told apart nor reported). Without an id column, rows are numbered 1, 2, … in their
    order. Rows equal in every column are kept once. Returns the frame and the counts dropped
    (``missing_customer_id``, ``duplicate``).

    Raises
    ------
    SchemaError
        When one id is left on rows that differ (a transactions file, not a customer table).
    """
    frame = frame.copy()
    missing = 0
    if id_col is not None:
        frame["customer_id"] = frame[id_col].astype("string").str.strip()
        absent = frame["customer_id"].isna()
        missing = int(absent.sum())
        frame = frame[~absent]
    else:
        frame["customer_id"] = [str(i + 1) for i in range(len(frame))]
    dup = frame.duplicated(keep="first")
    frame = frame[~dup]
    if id_col is not None and frame["customer_id"].duplicated().any():
        n_dup = int(frame["customer_id"].duplicated().sum())
        raise SchemaError(
            f"{label}: column {id_col!r} is used as the customer id but {n_dup} ids repeat with "
            "different values; is this a transactions file? Use --kind transactions"
        )
    return frame, {"missing_customer_id": missing, "duplicate": int(dup.sum())}
