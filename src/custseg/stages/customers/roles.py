"""Column roles of a customer table, recognised from their names or declared.

The roles are data (:data:`ROLE_PATTERNS`), not the column names of one dataset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

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
