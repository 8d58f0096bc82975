"""Marketing actions and the budget split per segment: heuristics kept as data (``actions.json``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def actions_catalog() -> dict[str, Any]:
    """Marketing actions and budget weights per segment slug (``explain/actions.json``)."""
    text = resources.files("custseg.explain").joinpath("actions.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def base_slug(slug: str) -> str:
    """``at_risk_2`` → ``at_risk``; other slugs unchanged."""
    head, _, tail = slug.rpartition("_")
    return head if tail.isdigit() and head else slug


def actions_for(slug: str) -> dict[str, Any]:
    """The catalogue entry of a segment slug (its base slug), or the default entry."""
    cat = actions_catalog()
    entry: dict[str, Any] = cat["segments"].get(base_slug(slug), cat["default"])
    return entry


def budget_split(slugs: dict[int, str], counts: dict[int, int]) -> dict[int, dict[str, float]]:
    """Each segment's budget weight (per customer, from the catalogue) and share of the budget.

    A segment's share is its weight times its customers, over the sum of these products.

    Examples
    --------
    >>> split = budget_split({1: "champions", 2: "lost"}, {1: 10, 2: 10})
    >>> round(split[1]["share"] + split[2]["share"], 6)
    1.0
    """
    weights = {s: float(actions_for(slug)["budget_weight"]) for s, slug in slugs.items()}
    weighted = {s: weights[s] * counts[s] for s in slugs}
    total = sum(weighted.values()) or 1.0
    return {s: {"weight": weights[s], "share": weighted[s] / total} for s in slugs}
