"""Translations, kept as data: one JSON file per language with the same keys."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from custseg.errors import CustsegError

LANGUAGES: tuple[str, ...] = ("en", "fr")


@cache
def catalog(lang: str) -> dict[str, Any]:
    """The whole catalogue of a language.

    Examples
    --------
    >>> catalog("fr")["segments"]["lost"]["name"]
    'Perdus'
    """
    if lang not in LANGUAGES:
        raise CustsegError(f"language {lang!r} is not available; use one of {', '.join(LANGUAGES)}")
    text = resources.files("custseg.i18n").joinpath(f"{lang}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def t(lang: str, key: str, **values: Any) -> str:
    """A sentence of the ``text`` section, formatted with ``values``.

    Examples
    --------
    >>> t("en", "written", out="runs/x")
    'Written to runs/x'
    """
    template: str = catalog(lang)["text"][key]
    return template.format(**values) if values else template


def segment_text(lang: str, slug: str) -> dict[str, str]:
    """Display name and tagline of a named segment."""
    entry: dict[str, str] = catalog(lang)["segments"][slug]
    return entry


def reason(lang: str, key: str) -> str:
    """Human label of a drop reason."""
    label: str = catalog(lang)["reasons"].get(key, key)
    return label


def number(value: float, lang: str, decimals: int = 0) -> str:
    """A number with the language's separators.

    Examples
    --------
    >>> number(1234567.891, "en", 2), number(1234567.891, "fr", 2)
    ('1,234,567.89', '1\u202f234\u202f567,89')
    """
    text = f"{value:,.{decimals}f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


#: the sign written next to an amount (the code itself when there is no common sign)
SYMBOLS: dict[str, str] = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥", "INR": "₹"}


def symbol(code: str) -> str:
    """The sign of a currency code (``GBP`` → ``£``), or the code itself."""
    return SYMBOLS.get(code, code)


def money(value: float, lang: str, code: str, decimals: int = 0) -> str:
    """An amount with its currency, the language's way (the number alone without a code).

    Examples
    --------
    >>> money(1234, "en", "GBP"), money(-5, "en", "USD"), money(1234, "en", "CHF")
    ('£1,234', '-$5', '1,234\xa0CHF')
    >>> money(1234, "fr", "EUR"), money(12, "en", "")
    ('1\u202f234\xa0€', '12')
    """
    text = number(value, lang, decimals)
    if not code:
        return text
    sign = symbol(code)
    if lang == "fr" or len(sign) > 1:
        return f"{text}\u00a0{sign}"
    return f"-{sign}{text[1:]}" if text.startswith("-") else f"{sign}{text}"


def plural(lang: str, key: str, count: float, **values: Any) -> str:
    """The ``plurals`` entry ``key`` in the form ``count`` takes in ``lang``, with ``{n}`` filled.

    English uses "one" for exactly 1; French for 0 and 1 (and values below 2). ``{n}`` is the
    count written with the language's separators; other placeholders come from ``values``.

    Examples
    --------
    >>> plural("en", "customers", 1), plural("en", "customers", 4334), plural("fr", "customers", 0)
    ('1 customer', '4,334 customers', '0 client')
    """
    forms: dict[str, str] = catalog(lang)["plurals"][key]
    one = abs(count) < 2 if lang == "fr" else count == 1
    decimals = 0 if float(count).is_integer() else 1
    return forms["one" if one else "other"].format(n=number(count, lang, decimals), **values)
