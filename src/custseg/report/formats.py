"""How the report writes dates, money and counts in each language.

Dates are written the language's way ("1 Dec 2010", "1 déc. 2010"), never as raw ISO
timestamps. The currency of a run is the one given with ``--currency`` (kept in
``model.json``), else detected from the data: the country holding most of the revenue (Online
Retail: United Kingdom → pounds). Without either, amounts carry no currency sign.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any

from custseg import i18n

#: the currency of a country's sales (ISO 4217), for the countries retail data names
COUNTRY_CURRENCY: dict[str, str] = {
    "united kingdom": "GBP",
    "uk": "GBP",
    "great britain": "GBP",
    "eire": "EUR",
    "ireland": "EUR",
    "france": "EUR",
    "germany": "EUR",
    "spain": "EUR",
    "italy": "EUR",
    "portugal": "EUR",
    "netherlands": "EUR",
    "belgium": "EUR",
    "austria": "EUR",
    "finland": "EUR",
    "greece": "EUR",
    "luxembourg": "EUR",
    "united states": "USD",
    "usa": "USD",
    "canada": "CAD",
    "australia": "AUD",
    "japan": "JPY",
    "switzerland": "CHF",
    "sweden": "SEK",
    "norway": "NOK",
    "denmark": "DKK",
    "poland": "PLN",
    "brazil": "BRL",
    "india": "INR",
}
#: the sign written next to an amount (the code itself when there is no common sign)
SYMBOLS = i18n.SYMBOLS
#: share of the revenue a country must hold for its currency to be the run's
MAJORITY = 0.5


def detect_currency(doc: dict[str, Any], exploration: dict[str, Any] | None) -> str:
    """The run's currency code: ``model.json``'s ``currency``, else the majority country's.

    Examples
    --------
    >>> ex = {"has_country": True, "countries": [{"country": "United Kingdom", "revenue": 90.0},
    ...       {"country": "France", "revenue": 10.0}], "other_countries": None}
    >>> detect_currency({}, ex), detect_currency({"currency": "usd"}, ex), detect_currency({}, None)
    ('GBP', 'USD', '')
    """
    given = doc.get("currency")
    if isinstance(given, str) and given.strip():
        return given.strip().upper()
    if not isinstance(exploration, dict) or not exploration.get("has_country"):
        return ""
    rows = [r for r in exploration.get("countries") or [] if isinstance(r, dict)]
    other = exploration.get("other_countries")
    revenue = {str(r.get("country", "")): _amount(r.get("revenue")) for r in rows}
    total = sum(revenue.values()) + (
        _amount(other.get("revenue")) if isinstance(other, dict) else 0
    )
    if total <= 0 or not revenue:
        return ""
    top = max(revenue, key=lambda c: revenue[c])
    if revenue[top] / total < MAJORITY:
        return ""
    return COUNTRY_CURRENCY.get(top.strip().lower(), "")


def _amount(value: Any) -> float:
    """A revenue figure of ``exploration.json``, 0 when it is not a positive finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if 0 < value < float("inf") else 0.0


def symbol(code: str) -> str:
    """The sign of a currency code (``GBP`` → ``£``), or the code itself."""
    return i18n.symbol(code)


def money(value: float | None, lang: str, code: str, decimals: int = 0) -> str:
    """An amount with its currency, the language's way: ``£1,234`` / ``1 234 £``."""
    if value is None:
        return "—"
    return i18n.money(value, lang, code, decimals)


def with_currency(label: str, lang: str, code: str) -> str:
    """A money label followed by its currency: ``Revenue (£)``."""
    return i18n.t(lang, "currency_in", what=label, currency=symbol(code)) if code else label


def to_date(value: Any) -> date | None:
    """A date from a ``date``, a ``datetime`` or ISO text (``2011-12-09T12:50:00``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value).strip()).date()
    except ValueError:
        return None


def date_text(value: Any, lang: str) -> str:
    """A date in the language's words: ``9 Dec 2011`` / ``9 déc. 2011`` (``1er`` in French).

    Examples
    --------
    >>> date_text("2011-12-09T12:50:00", "en"), date_text("2010-12-01", "fr")
    ('9 Dec 2011', '1er déc. 2010')
    """
    d = to_date(value)
    if d is None:
        return "—" if value in (None, "") else str(value)
    month = i18n.catalog(lang)["months"][d.month - 1]
    day = "1er" if lang == "fr" and d.day == 1 else str(d.day)
    return f"{day} {month} {d.year}"


def month_text(value: str, lang: str) -> str:
    """A month ``2011-12`` in words: ``Dec 2011`` / ``déc. 2011``."""
    try:
        year, month = (int(x) for x in str(value)[:7].split("-"))
    except ValueError:
        return str(value)
    return f"{i18n.catalog(lang)['months'][month - 1]} {year}"


def month_ticks(months: list[str], lang: str) -> list[str]:
    """Axis labels of consecutive months ``2011-01``…: the month, with the year under the
    first one and under every January (``Dec<br>2010``, ``Jan<br>2011``, ``Feb`` …)."""
    names = i18n.catalog(lang)["months"]
    out = []
    for i, m in enumerate(months):
        try:
            year, month = (int(x) for x in str(m)[:7].split("-"))
        except ValueError:
            out.append(str(m))
            continue
        out.append(f"{names[month - 1]}<br>{year}" if i == 0 or month == 1 else names[month - 1])
    return out


def partial_last_month(months: list[dict[str, Any]], last: Any) -> int | None:
    """Days covered by the last month when the data stops before its end, else ``None``."""
    d = to_date(last)
    if not months or d is None or str(months[-1].get("month", ""))[:7] != d.isoformat()[:7]:
        return None
    days = calendar.monthrange(d.year, d.month)[1]
    return d.day if d.day < days else None
