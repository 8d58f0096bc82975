"""Words a marketer reads for a customer table's columns and values.

Column names become readable (``MntWines`` → "spend on wines", ``NumWebPurchases`` → "web
purchases", ``Marital_Status`` → "marital status"; in French too), 0/1 flags become yes/no,
and known codes are translated. Names nobody catalogued are split at capitals and
underscores and written in lower case.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from custseg import i18n

_PRODUCT = re.compile(r"^Mnt([A-Z][A-Za-z]*)$")
_PURCHASES = re.compile(r"^Num([A-Z][a-z]+)Purchases$")
_CAMPAIGN = re.compile(r"^AcceptedCmp(\d+)$")
_FLAGS = {"0", "1", "0.0", "1.0", "False", "True", "false", "true"}


@cache
def _data() -> dict[str, Any]:
    text = resources.files("custseg.explain").joinpath("labels.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _words(name: str) -> list[str]:
    """``MntFishProducts`` → ``["fish", "products"]``; ``Family_Size`` → ``["family", "size"]``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace("_", " "))
    return [w.lower() for w in spaced.split() if w]


def _translate(words: list[str], lang: str) -> str:
    table: dict[str, str] = _data()["words"].get(lang, {})
    return " ".join(table.get(w, w) for w in words)


def product(column: str, lang: str) -> str | None:
    """What a spend column buys (``MntWines`` → "wines" / "vins"), or ``None``."""
    m = _PRODUCT.match(column)
    if not m:
        return None
    words = [w for w in _words(m.group(1)) if w not in {"products", "prods"}]
    return _translate(words, lang)


def readable(column: str, lang: str) -> str:
    """A column's name in plain words, in lower case, in ``lang``.

    Examples
    --------
    >>> readable("MntWines", "en"), readable("NumWebPurchases", "fr"), readable("AcceptedCmp3", "en")
    ('spend on wines', 'achats web', 'accepted campaign 3')
    >>> readable("Marital_Status", "fr"), readable("Some_NewColumn", "en")
    ('situation familiale', 'some new column')
    >>> readable("Marital_Status=Married", "fr")
    'situation familiale: marié(e)'
    """
    known: dict[str, str] = _data()["columns"].get(lang, {})
    if column in known:
        return known[column]
    if "=" in column:  # a one-hot dummy: column=category
        col, _, category = column.partition("=")
        return f"{readable(col, lang)}: {value(category, lang)}"
    if column.startswith("share_"):
        return i18n.t(lang, "share_of", what=readable(column.removeprefix("share_"), lang))
    what = product(column, lang)
    if what is not None:
        return f"spend on {what}" if lang == "en" else f"dépense en {what}"
    m = _PURCHASES.match(column)
    if m:
        kind = _translate([m.group(1).lower()], lang)
        return f"{kind} purchases" if lang == "en" else f"achats {kind}"
    m = _CAMPAIGN.match(column)
    if m:
        return (
            f"accepted campaign {m.group(1)}" if lang == "en" else f"campagne {m.group(1)} acceptée"
        )
    return _translate(_words(column), lang)


def value(category: Any, lang: str) -> str:
    """A category in plain words: 0/1 flags as no/yes, known codes translated.

    Examples
    --------
    >>> value("1.0", "en"), value("0", "fr"), value("Married", "fr"), value("Cat_4", "en")
    ('yes', 'non', 'marié(e)', 'Cat_4')
    """
    text = str(category)
    if text in _FLAGS:
        return i18n.t(lang, "yes" if text in {"1", "1.0", "True", "true"} else "no")
    known: dict[str, str] = _data()["values"].get(lang, {})
    return known.get(text, text)


def is_flag(categories: list[Any]) -> bool:
    """Whether a column's categories are a 0/1 (or true/false) flag."""
    return bool(categories) and all(str(c) in _FLAGS for c in categories)


def high(column: str, lang: str) -> str:
    """The word for "high" agreeing with the column's label (French: élevé / élevée)."""
    if lang != "fr":
        return i18n.t(lang, "high")
    feminine: list[str] = _data().get("feminine", {}).get("fr", [])
    return "élevée" if column in feminine else "élevé"
