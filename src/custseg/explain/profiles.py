"""Per-segment profiles: size, share of customers and revenue, mean and median of each feature."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from custseg.explain import naming


def _means(g: pd.core.groupby.DataFrameGroupBy, f: str) -> pd.Series:
    """Mean of ``f`` per segment. A sum that overflows (values near 1e308, kept with
    ``--outliers keep``) is summed again over values divided by the count first, so a mean of
    finite values is finite; other means are left as pandas computes them (same bytes)."""
    means = g[f].mean()
    if np.isfinite(means.to_numpy(dtype=float)).all():
        return means
    for seg in means.index[~np.isfinite(means.to_numpy(dtype=float))]:
        v = g.get_group(seg)[f].to_numpy(dtype=float)
        if np.isfinite(v).all():  # finite values whose sum overflowed
            means.loc[seg] = float((v / len(v)).sum())
    return means


def _round(values: pd.Series, digits: int) -> pd.Series:
    """``values.round(digits)``, except where rounding itself overflows (values near 1e308,
    which have no decimals to round anyway): those are kept as they are."""
    with np.errstate(over="ignore"):
        rounded = values.round(digits)
    return rounded.where(np.isfinite(rounded) | ~np.isfinite(values), values)


def profile(
    customers: pd.DataFrame,
    features: Sequence[str],
    lang: str = "en",
    currency: str = "",
    *,
    revenue: str | None = "monetary",
) -> pd.DataFrame:
    """One row per segment (the ``segments`` table → profiles), in segment order.

    Columns: segment, segment_name, description, customers, share_customers, revenue,
    share_revenue, then ``mean_<feature>`` and ``median_<feature>`` for every feature.
    """
    g = customers.groupby("segment", sort=True)
    revenue = revenue if revenue in customers else None
    sums = pd.DataFrame({"segment": sorted(customers["segment"].unique())})
    sums["segment_name"] = sums["segment"].map(g["segment_name"].first())
    sums["customers"] = sums["segment"].map(g.size()).astype("int64")
    if revenue:
        sums["revenue"] = sums["segment"].map(g[revenue].sum())
    for f in features:
        sums[f"mean_{f}"] = sums["segment"].map(_means(g, f))
        sums[f"median_{f}"] = sums["segment"].map(g[f].median())
    slugs = None
    base: dict[str, float] = {}
    if "segment_slug" in customers:
        slugs = sums["segment"].map(g["segment_slug"].first())
        base = {f: float(customers[f].median()) for f in BASE if f in customers}
    total_revenue = float(customers[revenue].sum()) if revenue else 0.0
    return profile_table(
        sums, features, len(customers), total_revenue, lang, currency, slugs=slugs, base=base
    )


#: the features whose median over every customer each description is written against
BASE = ("recency_days", "frequency", "monetary")


def profile_table(
    sums: pd.DataFrame,
    features: Sequence[str],
    total_customers: int,
    total_revenue: float,
    lang: str = "en",
    currency: str = "",
    *,
    slugs: pd.Series | None = None,
    base: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The profiles from per-segment sums computed elsewhere (pandas in :func:`profile`, or
    the engine's SQL for customers kept in it): ``sums`` has, per segment in order,
    ``segment``, ``segment_name``, ``customers``, ``revenue`` (when money is profiled) and
    the unrounded ``mean_<feature>`` and ``median_<feature>``; ``slugs`` the grid name of each
    and ``base`` the medians over every customer of :data:`BASE`, for the descriptions."""
    out = sums[["segment", "segment_name", "customers"]].copy()
    out["share_customers"] = (out["customers"] / total_customers).round(6)
    if "revenue" in sums:
        out["revenue"] = sums["revenue"].round(2)
        out["share_revenue"] = (out["revenue"] / total_revenue).round(6) if total_revenue else 0.0
    for f in features:
        out[f"mean_{f}"] = _round(sums[f"mean_{f}"], 4)
        out[f"median_{f}"] = _round(sums[f"median_{f}"], 4)
    if slugs is not None and base and all(f"median_{f}" in out for f in BASE):
        out.insert(
            2,
            "description",
            [
                naming.describe(
                    slug,
                    {f: row[f"median_{f}"] for f in BASE},
                    lang,
                    currency,
                    base,
                )
                for slug, (_, row) in zip(slugs, out.iterrows(), strict=True)
            ],
        )
    return out
