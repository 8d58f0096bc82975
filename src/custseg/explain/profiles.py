"""Per-segment profiles: size, share of customers and revenue, mean and median of each feature."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from custseg.explain import naming


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
    total_customers = len(customers)
    revenue = revenue if revenue in customers else None
    total_revenue = float(customers[revenue].sum()) if revenue else 0.0
    out = pd.DataFrame({"segment": sorted(customers["segment"].unique())})
    out["segment_name"] = out["segment"].map(g["segment_name"].first())
    out["customers"] = out["segment"].map(g.size()).astype("int64")
    out["share_customers"] = (out["customers"] / total_customers).round(6)
    if revenue:
        out["revenue"] = out["segment"].map(g[revenue].sum()).round(2)
        out["share_revenue"] = (out["revenue"] / total_revenue).round(6) if total_revenue else 0.0
    for f in features:
        out[f"mean_{f}"] = out["segment"].map(g[f].mean()).round(4)
        out[f"median_{f}"] = out["segment"].map(g[f].median()).round(4)
    if "segment_slug" in customers and all(
        f"median_{f}" in out for f in ("recency_days", "frequency", "monetary")
    ):
        slugs = out["segment"].map(g["segment_slug"].first())
        out.insert(
            2,
            "description",
            [
                naming.describe(
                    slug,
                    {f: row[f"median_{f}"] for f in ("recency_days", "frequency", "monetary")},
                    lang,
                    currency,
                )
                for slug, (_, row) in zip(slugs, out.iterrows(), strict=True)
            ],
        )
    return out
