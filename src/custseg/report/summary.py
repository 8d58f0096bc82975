"""The one-screen summary a report opens with (also shown by ``_repr_html_`` in Jupyter).

From :func:`custseg.report.data.prepare`'s cards: per segment its size, share of revenue (or
of the customer table's value column), one-line portrait and first recommended action;
segments listed by value (revenue, total spend), else by size. Plus the data period and the
currency, and — when the run was given an earlier one (``changes.json``, ``--previous``) — what
changed since it: customers then and now, new and gone, the share who kept their segment, and
each segment's share of the customers then and now.
"""

from __future__ import annotations

from typing import Any

from custseg import i18n
from custseg.explain import naming
from custseg.lifecycle.compare import BY_NUMBER
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


def changed(changes: dict[str, Any], lang: str) -> dict[str, Any]:
    """The "what changed" block of the summary, from ``changes.json``, in ``lang``.

    Examples
    --------
    >>> c = {"previous": {"as_of": "2011-06-30", "input": "a.csv"}, "customers_before": 1,
    ...      "customers_after": 3, "common": 1, "new": 2, "gone": 0, "stayed_share": 1.0,
    ...      "matching": "number_and_name", "k_before": 2, "k_after": 2,
    ...      "segments": [{"segment": 1, "matched": 1, "name_before": "A", "slug_before": "",
    ...                    "share_before": 1.0, "share_after": 0.333333}]}
    >>> block = changed(c, "en")
    >>> block["heading"]
    'What changed since the run of 30 Jun 2011'
    >>> block["sentence"]  # doctest: +NORMALIZE_WHITESPACE
    '1 customer then, 3 customers now: 2 new, 0 gone. Of 1 customer in both runs, 100.0 % kept
    their segment (segments matched by number and name).'
    >>> block["segments"][1]
    {'then': '100.0 %', 'now': '33.3 %', 'matched': ''}
    >>> changed(c, "fr")["heading"]
    'Ce qui a changé depuis l’exécution du 30 juin 2011'
    """
    previous = changes.get("previous") or {}
    as_of = previous.get("as_of")
    heading = (
        i18n.t(lang, "changes_h", date=formats.date_text(as_of, lang))
        if as_of
        else i18n.t(lang, "changes_h_nodate")
    )
    if changes["matching"] == BY_NUMBER:
        how = i18n.t(lang, "changes_by_number")
    elif changes["k_before"] != changes["k_after"]:
        how = i18n.t(lang, "changes_by_centroid_k", k_a=changes["k_before"], k_b=changes["k_after"])
    else:
        how = i18n.t(lang, "changes_by_centroid_names")
    sentence = i18n.t(
        lang,
        "changes_sentence",
        before=i18n.plural(lang, "customers", changes["customers_before"]),
        after=i18n.plural(lang, "customers_now", changes["customers_after"]),
        new=i18n.plural(lang, "new_customers", changes["new"]),
        gone=i18n.plural(lang, "gone_customers", changes["gone"]),
        common=i18n.plural(lang, "customers_in_both", changes["common"]),
        share=i18n.number(100 * changes["stayed_share"], lang, 1),
        how=how,
    )
    by_number = changes["matching"] == BY_NUMBER
    segments = {
        int(s["segment"]): {
            "then": f"{i18n.number(100 * s['share_before'], lang, 1)} %",
            "now": f"{i18n.number(100 * s['share_after'], lang, 1)} %",
            "matched": ""
            if by_number
            else i18n.t(
                lang,
                "changes_matched",
                segment=s["matched"],
                name=naming.segment_name(s["slug_before"], lang, s["matched"])
                if s.get("slug_before") and lang != previous.get("lang")
                else s["name_before"],
            ),
        }
        for s in changes["segments"]
    }
    source = previous.get("input") or ""
    return {
        "heading": heading,
        "sentence": sentence,
        "header": i18n.t(lang, "col_share_then_now"),
        "segments": segments,
        "note": i18n.t(lang, "changes_note", input=source) if source else "",
    }


def summary(
    p: dict[str, Any], currency: str, changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything the summary block shows, as text ready for the page (with ``changes``, the
    content of ``changes.json``, what changed since an earlier run)."""
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
        "changes": changed(changes, lang) if changes else None,
    }
