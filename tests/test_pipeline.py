"""The main job end to end: synthetic truth recovered, real data reconciled, runs reproducible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import custseg
from custseg.datasets import make_transactions
from custseg.model import persistence, segment_numbers
from custseg.outputs.folder import OUTPUT_FILES


@pytest.mark.parametrize("seed", [0, 7, 2024])
def test_automatic_k_recovers_latent_segments(seed: int) -> None:
    frame, truth = make_transactions(2500, seed=seed)
    result = custseg.segment(frame, seed=seed)
    seg = result.segments.set_index("customer_id")
    assert set(truth.index) == set(seg.index)
    assert result.model.k_ == truth.nunique()
    ari = adjusted_rand_score(truth, seg.loc[truth.index, "segment"])
    assert ari >= 0.9
    # each latent segment gets the business name it was generated as
    names = pd.crosstab(truth, seg.loc[truth.index, "segment_name"]).idxmax(axis=1).to_dict()
    assert names == {
        "champions": "Champions",
        "loyal": "Loyal",
        "new": "New",
        "at_risk": "At Risk",
        "lost": "Lost",
    }
    # the noise was cleaned: missing ids, duplicates and postage lines are in the ledger
    d = result.ledger.dropped
    assert d["missing_customer_id"] > 0 and d["duplicate"] > 0 and d["non_product"] > 0
    assert result.ledger.kept_by_kind["cancellation"] > 0


@pytest.fixture(scope="module")
def retail_run(
    online_retail: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, custseg.SegmentationResult]:
    out = tmp_path_factory.mktemp("retail")
    return out, custseg.run(online_retail, out, seed=0)


def test_the_saved_model_scores_the_raw_lines_into_the_run_segments(
    retail_run: tuple[Path, custseg.SegmentationResult], online_retail: Path
) -> None:
    out, _ = retail_run
    saved = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    scored = custseg.load_model(out).predict(online_retail)  # the 541,909 raw lines
    assert scored.index.tolist() == saved["customer_id"].tolist()
    assert (scored.to_numpy() == saved["segment"].to_numpy()).all()


def test_online_retail_outputs(
    retail_run: tuple[Path, custseg.SegmentationResult], online_retail: Path
) -> None:
    out, result = retail_run
    for name in OUTPUT_FILES:
        assert (out / name).stat().st_size > 0, name
    audit = json.loads((out / "audit.json").read_text())
    assert audit["input_rows"] == 541_909
    assert audit["kept_rows"] + sum(audit["dropped"].values()) == 541_909
    table = pd.read_parquet(out / "segments.parquet")
    assert list(table.columns[:1]) == ["customer_id"]
    for col in (
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "avg_basket",
        "product_breadth",
        "return_rate",
        "mean_days_between",
        "r_score",
        "f_score",
        "m_score",
        "rfm_segment",
        "segment",
        "segment_name",
    ):
        assert col in table.columns, col
    assert table["customer_id"].is_unique and len(table) == audit["customers"]
    # money: customers' net spend reconciles with the kept lines to the penny
    assert round(table["monetary"].sum(), 2) == pytest.approx(audit["money"]["kept_net"], abs=0.005)
    csv = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    assert csv["customer_id"].tolist() == table["customer_id"].tolist()
    profiles = pd.read_csv(out / "profiles.csv")
    assert profiles["customers"].sum() == len(table)
    assert profiles["share_revenue"].sum() == pytest.approx(1.0, abs=1e-4)
    assert profiles["segment_name"].is_unique
    assert profiles["mean_monetary"].is_monotonic_decreasing
    assert 2 <= result.model.k_ <= 10
    assert result.verdict.startswith(f"k = {result.model.k_}")
    assert f"Stability of k = {result.model.k_}:" in result.verdict
    # the input was not touched
    assert online_retail.stat().st_size == 2_902_186


def test_model_json_scores_the_training_customers(
    retail_run: tuple[Path, custseg.SegmentationResult],
) -> None:
    out, _ = retail_run
    doc = json.loads((out / "model.json").read_text())
    assert (
        doc["input"]["sha256"] == "240f47af1447fcac03765453c6eda598513eb2c1c630bbf52e61359ac5dfe891"
    )
    model = persistence.load(out / "model.json")
    table = pd.read_parquet(out / "segments.parquet")
    assert (segment_numbers(model.predict(table)) == table["segment"].to_numpy()).all()
    assert set(doc["segment_names"].values()) == set(table["segment_name"])
    html = (out / "report.html").read_text()
    # self-contained: scripts are inline, nothing is fetched (the browser test checks it live)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)


def test_same_seed_same_bytes(
    online_retail: Path, retail_run: tuple[Path, custseg.SegmentationResult], tmp_path: Path
) -> None:
    first, _ = retail_run
    custseg.run(online_retail, tmp_path, seed=0)
    for name in ("segments.csv", "profiles.csv", "model.json", "segments.parquet", "audit.json"):
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_french_run_names_segments_in_french() -> None:
    frame, _ = make_transactions(600, seed=3)
    result = custseg.segment(frame, seed=0, lang="fr")
    assert {"Champions", "Fidèles", "Nouveaux", "À risque", "Perdus"} == set(
        result.segments["segment_name"]
    )
    assert result.verdict.startswith("k = 5 :")
    assert "Dernier achat" in result.profiles["description"].iloc[0]


def test_forced_k_and_as_of() -> None:
    frame, _ = make_transactions(600, seed=4)
    result = custseg.segment(frame, k=3, as_of="2025-01-31")
    assert result.model.k_ == 3
    assert "set by the user" in result.verdict
    assert result.ledger.as_of == "2025-01-31"
    assert result.segments["recency_days"].min() >= 31


@pytest.mark.parametrize("ids", ["numbers", "text", "csv"])
def test_cleaning_in_parts_gives_the_same_outputs(ids: str, tmp_path: Path, setenv) -> None:
    """Large inputs are cleaned one set of customers at a time; the files must not change."""
    from custseg.engines import connect
    from custseg.sources.readers import open_source
    from custseg.stages.audit.partition import partitions

    frame, _ = make_transactions(600, seed=11)
    if ids == "text":  # ids written two ways ("12346" and " 12346.0 ") must meet in one part
        num = frame["CustomerID"]
        text = num.map(lambda v: None if pd.isna(v) else f"{int(v)}")
        text[1::2] = num[1::2].map(lambda v: None if pd.isna(v) else f" {v:.1f} ")
        frame = frame.assign(CustomerID=text)
    source: pd.DataFrame | Path = frame
    if ids == "csv":  # text read as text; the number of lines is estimated from the file size
        source = tmp_path / "lines.csv"
        frame.to_csv(source, index=False)
    whole = custseg.run(source, tmp_path / "whole", seed=0)
    setenv("CUSTSEG_PARTITION_LINES", str(len(frame) // 4))
    con = connect()
    assert partitions(con, open_source(con, source)) in (4, 5, 6)
    parts = custseg.run(source, tmp_path / "parts", seed=0)
    assert parts.ledger.to_dict() == whole.ledger.to_dict()
    assert whole.ledger.dropped["duplicate"] > 0 and whole.ledger.flagged  # rules across lines
    for name in OUTPUT_FILES:
        assert (tmp_path / "parts" / name).read_bytes() == (
            tmp_path / "whole" / name
        ).read_bytes(), name


def test_csv_split_into_more_parts_than_customers(tmp_path: Path, setenv) -> None:
    """Parts that receive no customer are empty, not an error; the ledger is unchanged."""
    frame, _ = make_transactions(6, seed=4)
    frame = frame.head(24)
    source = tmp_path / "few.csv"
    frame.to_csv(source, index=False)
    whole = custseg.segment(source, seed=0, k=2)
    setenv("CUSTSEG_PARTITION_LINES", "2")
    parts = custseg.segment(source, seed=0, k=2)
    assert parts.ledger.to_dict() == whole.ledger.to_dict()
    assert parts.segments.equals(whole.segments)
