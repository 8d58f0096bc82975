"""The one-screen summary a report opens with (also shown by ``_repr_html_`` in Jupyter).

From :func:`custseg.report.data.prepare`'s cards: per segment its size, share of revenue (or
of the customer table's value column), one-line portrait and first recommended action;
segments listed by value (revenue, total spend), else by size. Plus the data period and the
currency.
"""

from __future__ import annotations

from typing import Any

from custseg import i18n
from custseg.report import formats
from custseg.report.figures import colour


def value_label(p: dict[str, Any], lang: str) -> str | None:
    """What the segments are ordered by: revenue (transactions), total spend, or ``None``."""
    if not p["cards"] or any(c["share_revenue"] is None for c in p["cards"]):
        return None
    if p.get("kind") == "transactions":
        return i18n.t(lang, "revenue").lower()
    return i18n.catalog(lang)["features"].get("total_spend", "total spend").lower()


def ordered_cards(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The cards by share of value (highest first), else by size; ties by segment number."""
    cards = list(p["cards"])
    if cards and all(c["share_revenue"] is not None for c in cards):
        return sorted(cards, key=lambda c: (-c["share_revenue"], c["segment"]))
    return sorted(cards, key=lambda c: (-c["customers"], c["segment"]))


def summary(p: dict[str, Any], currency: str) -> dict[str, Any]:
    """Everything the summary block shows, as text ready for the page."""
    lang = p["lang"]
    audit = p.get("audit") or {}
    period: dict[str, Any] = audit["period"] if isinstance(audit.get("period"), dict) else {}
    first, last = period.get("first"), period.get("last")
    if first and last:
        when = i18n.t(
            lang,
            "summary_period",
            first=formats.date_text(first, lang),
            last=formats.date_text(last, lang),
        )
    elif p["doc"].get("as_of"):
        when = i18n.t(lang, "summary_asof", date=formats.date_text(p["doc"]["as_of"], lang))
    else:
        when = ""
    values = {
        "customers": i18n.plural(lang, "customers", p["n"]),
        "segments": i18n.plural(lang, "segments", p["k"]),
        "period": when,
    }
    if currency:
        lead = i18n.t(
            lang, "summary_lead", currency=f"{formats.symbol(currency)} ({currency})", **values
        )
    else:
        lead = i18n.t(lang, "summary_lead_nocur", **values)
    if not when:
        lead = lead.replace(", .", ".").replace(" ,", ",")
    value = value_label(p, lang)
    rows = [
        {
            "segment": c["segment"],
            "name": c["name"],
            "colour": colour(c["segment"]),
            "customers": c["customers"],
            "share_customers": c["share_customers"],
            "share_value": c["share_revenue"],
            "portrait": c["description"],
            "action": c["actions"][0] if c["actions"] else "",
        }
        for c in ordered_cards(p)
    ]
    return {
        "lead": lead,
        "order": i18n.t(lang, "summary_order_value", value=value)
        if value
        else i18n.t(lang, "summary_order_size"),
        "value_header": (
            i18n.t(lang, "col_revenue_share")
            if p.get("kind") == "transactions"
            else i18n.t(lang, "col_spend_share", value=value)
        )
        if value
        else None,
        "rows": rows,
        "currency": currency,
    }
