"""``--split lifecycle``: one-time and repeat customers segmented apart, on bases where most
customers bought once (synthetic, Olist-like) and on Online Retail.

What "no nonsense segments" means here is :func:`custseg.explain.lifecycle.contradictions`:
names distinct; no "buy often" name (champions, loyal, at risk…) on a segment whose median
customer bought once, no "new" on one whose median customer bought more; names ranked by
recency (champions/new above … above lost) in the order of the segments' median recencies;
"champions" only on the segment of highest median spend. A group's model never clusters on a
feature that is constant within it (frequency for one-time buyers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.errors import CustsegError, ModelError
from custseg.explain.lifecycle import (
    contradictions,
    group_features,
    group_names,
    lifecycle_groups,
    too_small,
)
from custseg.explain.naming import recency_order
from custseg.model import schema
from custseg.pipeline import SplitResult
from custseg.report.data import RunData
from custseg.report.html import render_run

from .conftest import ONLINE_RETAIL, SHARED_DATA

OLIST_CUSTOMERS = SHARED_DATA / "olist" / "olist_customers_dataset.parquet"
runner = CliRunner(env={"COLUMNS": "200"})


def olist_one_time_share() -> float:
    """Share of Olist's real customers (``customer_unique_id``) with one order: ~0.97."""
    ids = pd.read_parquet(OLIST_CUSTOMERS, columns=["customer_unique_id"])["customer_unique_id"]
    orders = ids.value_counts()
    return float((orders == 1).mean())


@pytest.fixture(scope="module")
def one_time_share() -> float:
    """Olist's share when its file is there, else the 0.97 the issue quotes."""
    return round(olist_one_time_share(), 3) if OLIST_CUSTOMERS.exists() else 0.97


@pytest.fixture(scope="module")
def one_time_base(one_time_share: float) -> pd.DataFrame:
    lines, _ = make_transactions(4000, seed=0, one_time=one_time_share)
    return lines


def group_slugs(result: SplitResult, group: str) -> dict[int, str]:
    g = next(g for g in result.groups if g.name == group)
    return {g.first + s - 1: slug for s, slug in g.slugs.items()}


# ---- the generator ------------------------------------------------------------------------


@pytest.mark.skipif(not OLIST_CUSTOMERS.exists(), reason="Olist customers file absent")
def test_olist_is_a_one_time_base() -> None:
    # 96,096 customers, 2,997 of whom ordered more than once
    assert olist_one_time_share() == pytest.approx(1 - 2_997 / 96_096, abs=1e-9)


def test_generator_makes_a_one_time_base(one_time_share: float) -> None:
    lines, truth = make_transactions(3000, seed=1, one_time=one_time_share)
    invoices = (
        lines[~lines["InvoiceNo"].str.startswith("C") & lines["CustomerID"].notna()]
        .groupby("CustomerID")["InvoiceNo"]
        .nunique()
    )
    assert (invoices == 1).mean() == pytest.approx(one_time_share, abs=0.005)
    assert set(truth) == {
        "champions",
        "loyal",
        "at_risk",
        "one_time_recent",
        "one_time_lapsed",
        "one_time_big",
    }
    once = truth[truth.str.startswith("one_time")].index.astype(float)
    assert (invoices.loc[once] == 1).all()


def test_generator_default_is_unchanged() -> None:
    a, ta = make_transactions(200, seed=4)
    b, tb = make_transactions(200, seed=4, one_time=None)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_series_equal(ta, tb)


@pytest.mark.parametrize("bad", [-0.1, 1.5, True], ids=["negative", "above-1", "bool"])
def test_generator_refuses_a_bad_share(bad: Any) -> None:
    with pytest.raises(ValueError, match="one_time must be a share"):
        make_transactions(50, seed=0, one_time=bad)


# ---- the pieces ---------------------------------------------------------------------------


def test_groups_and_features_of_one_time_buyers() -> None:
    assert lifecycle_groups(pd.Series([1, 1, 2, 30])).tolist() == [
        "one_time",
        "one_time",
        "repeat",
        "repeat",
    ]
    once = pd.DataFrame(
        {
            "recency_days": [3, 90, 200, 10],
            "frequency": [1, 1, 1, 1],
            "monetary": [20.0, 50, 900, 5],
            "tenure_days": [3, 90, 200, 10],
            "mean_days_between": [0.0, 0, 0, 0],
            "product_breadth": [1, 2, 9, 1],
        }
    )
    used, dropped = group_features(
        once, ["recency_days", "frequency", "monetary", "tenure_days", "mean_days_between"]
    )
    assert used == ["recency_days", "monetary", "product_breadth"]
    assert dropped == {
        "frequency": "constant",
        "tenure_days": "same as recency_days",
        "mean_days_between": "constant",
    }
    assert too_small(3, 2) and not too_small(4, 2)


def test_names_are_kept_in_recency_order() -> None:
    # a "lost" segment more recent than a "hibernating" one swaps names with it
    assert recency_order({1: "lost", 2: "hibernating", 3: "champions"}, {1: 90, 2: 300, 3: 5}) == {
        1: "hibernating",
        2: "lost",
        3: "champions",
    }
    # already in order: untouched
    names = {1: "champions", 2: "at_risk", 3: "lost"}
    assert recency_order(names, {1: 5.0, 2: 100.0, 3: 300.0}) == names


def test_contradictions_are_found() -> None:
    profiles = pd.DataFrame(
        {
            "segment": [1, 2, 3, 4],
            "segment_name": ["Champions", "New", "New", "Lost"],
            "median_recency_days": [200.0, 10.0, 20.0, 30.0],
            "median_frequency": [1.0, 3.0, 1.0, 1.0],
            "median_monetary": [10.0, 500.0, 20.0, 5.0],
        }
    )
    found = contradictions(profiles, {1: "champions", 2: "new", 3: "new_2", 4: "lost"})
    assert "the name 'New' is given to more than one segment" in found
    assert "Champions is named as buying often but its median customer bought once" in found
    assert "New is named as first-time buyers but its median is 3" in found
    assert (
        "Lost (median recency 30 days) is named as less recent than Champions (200 days)" in found
    )
    assert "Champions is named champions but another segment spends more" in found


def test_a_name_in_both_groups_says_its_group() -> None:
    names = group_names([("repeat", 1, {1: "lost"}), ("one_time", 2, {1: "lost", 2: "new"})], "fr")
    assert names == {
        1: "Perdus (clients réguliers)",
        2: "Perdus (clients d'un seul achat)",
        3: "Nouveaux",
    }


# ---- plain RFM on a one-time base ---------------------------------------------------------


def test_plain_rfm_on_a_one_time_base_makes_sense(one_time_base: pd.DataFrame) -> None:
    result = custseg.segment(one_time_base, seed=0)
    assert contradictions(result.profiles, result.segment_slugs) == []
    names = result.profiles["segment_name"].tolist()
    assert len(set(names)) == len(names)
    # the repeat buyers (3 %) are one segment of their own, named for buying often
    repeat = result.profiles[result.profiles["median_frequency"] > 1]
    assert len(repeat) == 1 and repeat["segment_name"].iloc[0] == "Champions"


# ---- the split ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_run(one_time_base: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("split") / "run"
    return custseg.run(one_time_base, out, seed=0, split="lifecycle"), out


def test_split_on_a_one_time_base(split_run: Any) -> None:
    result, out = split_run
    assert isinstance(result, SplitResult)
    seg = result.segments
    assert seg.columns[-1] == "lifecycle"
    assert ((seg["frequency"] == 1) == (seg["lifecycle"] == "one_time")).all()
    assert [g.name for g in result.groups] == ["repeat", "one_time"]
    repeat, once = result.groups
    assert repeat.customers + once.customers == len(seg)
    assert once.customers / len(seg) == pytest.approx(0.97, abs=0.005)
    assert "frequency" not in once.features and once.dropped["frequency"] == "constant"
    assert "frequency" in repeat.features
    assert list(once.model.features) == once.features
    # segment numbers run through both groups, each group its own k
    assert once.first == repeat.first + repeat.model.k_
    assert sorted(seg["segment"].unique()) == list(range(1, once.first + once.model.k_))
    for g in result.groups:
        rows = result.profiles[result.profiles["lifecycle"] == g.name]
        assert len(rows) == g.model.k_
        assert contradictions(rows, group_slugs(result, g.name)) == []
        assert g.model.selection_ is not None  # k chosen, not forced
    names = result.profiles["segment_name"].tolist()
    assert len(set(names)) == len(names)
    # one-time buyers all have median frequency 1 and a name that does not say "often"
    assert (
        result.profiles.loc[result.profiles["lifecycle"] == "one_time", "median_frequency"] == 1
    ).all()
    assert "Orders (the same for every customer of the group)" in result.verdict
    # the files: a lifecycle column, and model.json routing customers to their group's model
    csv = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    assert csv["lifecycle"].tolist() == seg["lifecycle"].tolist()
    assert (
        pd.read_csv(out / "profiles.csv")["lifecycle"].tolist()
        == result.profiles["lifecycle"].tolist()
    )
    doc = json.loads((out / "model.json").read_text())
    assert doc["format"] == schema.SPLIT_RUN_FORMAT
    assert [g["frequency"] for g in doc["split"]["groups"]] == [
        {"min": 2, "max": None},
        {"min": 1, "max": 1},
    ]
    assert doc["split"]["groups"][1]["left_out"] == {"frequency": "constant"}


def test_split_model_scores_each_customer_with_its_group(
    split_run: Any, one_time_base: pd.DataFrame
) -> None:
    result, out = split_run
    model = custseg.load_model(out)
    assert [g.name for g in model.groups] == ["repeat", "one_time"]
    scored = model.predict(one_time_base)
    expected = result.segments.set_index("customer_id")["segment"]
    assert (scored == expected.loc[scored.index]).all() and len(scored) == len(expected)


def test_split_report_shows_both_groups(split_run: Any) -> None:
    _, out = split_run
    html = (out / "report.html").read_text()
    for text in (
        'id="lifecycle-repeat"',
        'id="lifecycle-one_time"',
        "Repeat customers",
        "One-time buyers",
        "fig-lifecycle-sizes",
        "--split lifecycle",
    ):
        assert text in html
    french = render_run(RunData.from_dir(out), "fr")
    assert "Clients d&#39;un seul achat" in french and "Écartés" in french
    assert "(identique pour tous les clients du groupe)" in french


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["split"]["groups"][1].update(first_segment=1), "first_segment is 1"),
        (
            lambda d: d["split"]["groups"][1]["frequency"].update(max=3),
            "overlaps the range of another group",
        ),
        (lambda d: d["split"]["groups"][0].update(features=["monetary"]), "differ from its model"),
        (lambda d: d["split"].update(feature="monetary"), "split.feature"),
    ],
    ids=["numbering", "overlap", "features", "feature"],
)
def test_split_model_json_is_validated(split_run: Any, change: Any, message: str) -> None:
    _, out = split_run
    doc = json.loads((out / "model.json").read_text())
    schema.validate(doc, "model.json")
    change(doc)
    with pytest.raises(ModelError, match=message) as info:
        custseg.RunModel.from_document(doc)
    assert "\n" not in str(info.value)


def test_a_group_too_small_is_one_segment() -> None:
    lines, _ = make_transactions(2000, seed=2, one_time=0.999)
    result = custseg.segment(lines, seed=0, split="lifecycle")
    repeat, once = result.groups
    assert repeat.customers == 2 and repeat.too_small and repeat.model.k_ == 1
    assert repeat.verdict == (
        "only 2 customers, fewer than 2 × k_min = 4: kept as one segment, not segmented."
    )
    assert repeat.dropped == {}
    assert not once.too_small and once.model.k_ >= 2
    assert result.profiles["segment"].tolist()[0] == 1


def test_split_needs_transactions() -> None:
    table = pd.DataFrame({"ID": [1, 2, 3, 4], "Income": [10.0, 20, 30, 40]})
    with pytest.raises(CustsegError, match="--split lifecycle needs transaction lines"):
        custseg.segment(table, split="lifecycle")
    with pytest.raises(CustsegError, match="split 'age' unknown"):
        custseg.segment(table, split="age")


def test_cli_refuses_an_unknown_split(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", str(ONLINE_RETAIL), "--out", str(tmp_path / "x"), "--split", "age"]
    )
    assert result.exit_code == 1 and "--split 'age' is not known; use lifecycle" in result.output


# ---- Online Retail -------------------------------------------------------------------------


@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="data/online_retail.parquet absent")
def test_online_retail_split_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", str(ONLINE_RETAIL), "--out", str(out), "--seed", "0", "--split", "lifecycle"]
    )
    assert result.exit_code == 0, result.output
    assert "One-time buyers (1,505 customers, 34.7 %)" in result.output
    # one summary table per group
    for title in ("Customer segments · Repeat customers", "Customer segments · One-time buyers"):
        assert title in result.output
    seg = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    assert len(seg) == 4_334
    assert seg["lifecycle"].value_counts().to_dict() == {"repeat": 2_829, "one_time": 1_505}
    profiles = pd.read_csv(out / "profiles.csv")
    doc = json.loads((out / "model.json").read_text())
    for g in doc["split"]["groups"]:
        rows = profiles[profiles["lifecycle"] == g["name"]]
        slugs = {g["first_segment"] + int(s) - 1: v for s, v in g["model"]["segments"].items()}
        assert contradictions(rows, slugs) == [], g["name"]
        assert g["k"] >= 2 and not g["too_small"]
    once = doc["split"]["groups"][1]
    assert once["features"] == ["recency_days", "monetary", "product_breadth"]
    assert len(set(profiles["segment_name"])) == len(profiles)
    assert np.isclose(profiles["share_customers"].sum(), 1.0, atol=1e-4)
