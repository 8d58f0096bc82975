"""Honest names and descriptions: no name or description contradicts the numbers beside it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custseg import i18n
from custseg.explain import naming
from custseg.model import rfm
from custseg.pipeline import SegmentationResult, segment

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DATASETS = {
    "online_retail": ROOT / "data" / "online_retail.parquet",
    "marketing_campaign": DATA / "customer_personality" / "marketing_campaign.csv",
    "train": DATA / "customer_segmentation" / "Train.csv",
    "mall": DATA / "mall_customers" / "Mall_Customers.csv",
}
RFM = ("recency_days", "frequency", "monetary")


@pytest.fixture(scope="module", params=sorted(DATASETS))
def run(request: pytest.FixtureRequest) -> SegmentationResult:
    path = DATASETS[request.param]
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared real datasets are not on this machine)")
    return segment(path, seed=0)


def test_every_description_agrees_with_the_numbers_beside_it(run: SegmentationResult) -> None:
    profiles, table = run.profiles, run.segments
    if run.kind == "transactions":
        base = {f: float(table[f].median()) for f in RFM}
        for _, row in profiles.iterrows():
            slug = run.segment_slugs[int(row["segment"])]
            medians = {f: float(row[f"median_{f}"]) for f in RFM}
            tagline = i18n.segment_text("en", naming._base(slug))["tagline"]
            if row["description"].startswith(tagline):
                assert naming.contradictions(slug, medians, base) == [], (slug, medians, base)
            # the numbers in the description are the medians of the profile
            assert f"{medians['recency_days']:,.0f} days ago" in row["description"]
            orders = re.search(r"(\d[\d.,]*) orders?\b", row["description"])
            assert orders is not None and float(orders.group(1)) == medians["frequency"]
    else:
        numeric = [c[len("median_") :] for c in profiles.columns if c.startswith("median_")]
        for _, row in profiles.iterrows():
            persona = run.personas[int(row["segment"])]
            for trait in row["segment_name"].split(" · "):
                level, _, label = trait.partition(" ")
                feature = next(
                    (f for f in numeric if label.lower() in (f.lower(), _label(f))), None
                )
                if feature is None or level.lower() not in ("high", "low"):
                    continue  # a category trait ("Ever_Married Yes"), stated with its shares
                med, mean = row[f"median_{feature}"], row[f"mean_{feature}"]
                base_med, base_mean = table[feature].median(), table[feature].mean()
                if level.lower() == "high":
                    assert med > base_med and mean > base_mean, (trait, med, base_med)
                else:
                    assert med < base_med and mean < base_mean, (trait, med, base_med)
            assert persona["name"] == row["segment_name"]


def _label(feature: str) -> str:
    labels: dict[str, str] = i18n.catalog("en")["features"]
    return labels.get(feature, feature).lower()


def test_no_tagline_claims_an_order_the_recency_in_days_does_not_have() -> None:
    # the old wording ("Lowest recency", "below-average recency") read as days for scores
    for lang in i18n.LANGUAGES:
        for slug, entry in i18n.catalog(lang)["segments"].items():
            assert "recency" not in entry["tagline"].lower(), (lang, slug)
            assert "récence" not in entry["tagline"].lower(), (lang, slug)


def test_long_lapsed_one_time_buyers_are_lost_not_hibernating() -> None:
    rng = np.random.default_rng(0)
    sizes = [300, 100, 200]
    frame = pd.DataFrame(
        {
            # 1: recent repeat buyers; 2: lapsed repeat buyers; 3: long-lapsed one-time buyers
            "recency_days": np.concatenate(
                [rng.integers(1, 30, 300), rng.integers(400, 500, 100), rng.integers(200, 300, 200)]
            ),
            "frequency": np.concatenate(
                [rng.integers(5, 20, 300), rng.integers(3, 7, 100), np.ones(200, dtype=int)]
            ),
            "monetary": np.concatenate(
                [
                    rng.uniform(2000, 5000, 300),
                    rng.uniform(300, 900, 100),
                    rng.uniform(20, 200, 200),
                ]
            ),
        }
    )
    labels = np.repeat([1, 2, 3], sizes)
    scores = rfm.RFMScorer().fit(frame).transform(frame)
    # by their RFM cells alone, the one-time buyers were named Hibernating
    assert naming.segment_slugs(labels, 3, scores, None)[3] == "hibernating"
    names = naming.segment_slugs(labels, 3, scores, None, features=frame)
    assert names[3] == "lost"
    base = {f: float(frame[f].median()) for f in RFM}
    for seg, slug in names.items():
        medians = {f: float(frame.loc[labels == seg, f].median()) for f in RFM}
        assert naming.contradictions(slug, medians, base) == [], (seg, slug)


def test_recent_buyers_with_few_orders_can_be_promising_not_loyal() -> None:
    base = {"recency_days": 50.0, "frequency": 3.0, "monetary": 600.0}
    recent_few = {"recency_days": 12.0, "frequency": 1.0, "monetary": 180.0}
    assert naming.contradictions("promising", recent_few, base) == []
    assert naming.contradictions("loyal", recent_few, base) == ["frequency"]
    assert naming.contradictions("champions", recent_few, base) == ["frequency", "monetary"]


def test_a_contradicted_tagline_is_left_out() -> None:
    base = {"recency_days": 50.0, "frequency": 2.0, "monetary": 650.0}
    medians = {"recency_days": 20.0, "frequency": 1.0, "monetary": 100.0}
    text = naming.describe("lost", medians, "en", base=base)
    assert text == "Median last purchase 20 days ago, 1 order, 100 net spend."
    assert naming.describe("promising", medians, "en", base=base).startswith("Bought more")
