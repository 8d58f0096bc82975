"""Customers too many to bring back to Python: K-Means runs in Spark (MLlib).

The threshold (``local_customers``, 20 million by default) and the sample k is chosen on
(``cluster_sample``) are lowered so that Online Retail's 4,334 customers take that path on a
local Spark: a seeded sample of 2,000 comes back for the sweep, MLlib clusters all of them.
The run must have every customer, the features and RFM scores DuckDB computes, profiles
equal to pandas' over the written table, a ``model.json`` of the usual format whose scoring
gives back every segment, a report counting every customer, and the same bytes when rerun.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.config import Settings
from custseg.explain.profiles import profile
from custseg.stages.features import TRANSACTION_FEATURES

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT / "data" / "online_retail.parquet"
ID = {"customer_id": str}


def engine(master: str):
    from custseg.engines.spark import SparkEngine

    return SparkEngine(
        Settings(threads=2, local_customers=1_000, cluster_sample=2_000), master=master
    )


@pytest.fixture(scope="module")
def runs(spark: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Online Retail clustered in Spark (twice) and, for reference, in Python on DuckDB."""
    tmp = tmp_path_factory.mktemp("spark-clustering")
    out = {"spark": tmp / "spark", "again": tmp / "again", "duck": tmp / "duck"}
    for name in ("spark", "again"):
        with engine(spark) as con:
            custseg.run(RETAIL, out[name], seed=0, con=con)
    custseg.run(RETAIL, out["duck"], seed=0)
    return out


def keys(doc: object, path: str = "") -> set[str]:
    if not isinstance(doc, dict):
        return set()
    return {f"{path}/{k}" for k in doc} | {
        p for k, v in doc.items() for p in keys(v, f"{path}/{k}")
    }


def test_every_customer_has_duckdbs_features_and_rfm_scores(runs) -> None:
    spark = pd.read_csv(runs["spark"] / "segments.csv", dtype=ID)
    duck = pd.read_csv(runs["duck"] / "segments.csv", dtype=ID)
    assert list(spark.columns) == list(duck.columns)
    assert spark["customer_id"].tolist() == duck["customer_id"].tolist()  # all 4,334, in order
    same = ["customer_id", *TRANSACTION_FEATURES, "r_score", "f_score", "m_score", "rfm_segment"]
    pd.testing.assert_frame_equal(spark[same], duck[same], check_exact=False, rtol=1e-12)
    parquet = pd.read_parquet(runs["spark"] / "segments.parquet")
    assert parquet.dtypes.equals(pd.read_parquet(runs["duck"] / "segments.parquet").dtypes)
    assert parquet["customer_id"].tolist() == spark["customer_id"].tolist()
    assert (parquet["segment"].to_numpy() == spark["segment"].to_numpy()).all()


def test_mllib_finds_the_segments_python_finds(runs) -> None:
    spark = pd.read_csv(runs["spark"] / "segments.csv", dtype=ID)
    duck = pd.read_csv(runs["duck"] / "segments.csv", dtype=ID)
    doc = json.loads((runs["spark"] / "model.json").read_text())
    assert doc["model"]["k"] == json.loads((runs["duck"] / "model.json").read_text())["model"]["k"]
    assert adjusted_rand_score(duck["segment"], spark["segment"]) > 0.8
    # segments are numbered by value, as any run's: segment 1 spends the most
    spend = spark.groupby("segment")["monetary"].mean()
    assert spend.is_monotonic_decreasing


def test_profiles_are_those_of_every_customer(runs) -> None:
    table = pd.read_csv(runs["spark"] / "segments.csv", dtype=ID)
    doc = json.loads((runs["spark"] / "model.json").read_text())
    slugs = {int(s): slug for s, slug in doc["model"]["segments"].items()}
    expected = profile(table.assign(segment_slug=table["segment"].map(slugs)), TRANSACTION_FEATURES)
    got = pd.read_csv(runs["spark"] / "profiles.csv")
    expected = pd.read_csv(pd.io.common.StringIO(expected.to_csv(index=False)))
    pd.testing.assert_frame_equal(got, expected)
    assert got["customers"].sum() == len(table) == 4334


def test_model_json_has_the_usual_format_and_scores_back_every_segment(runs, tmp_path) -> None:
    doc = json.loads((runs["spark"] / "model.json").read_text())
    assert keys(doc) == keys(json.loads((runs["duck"] / "model.json").read_text()))
    assert "MLlib" in doc["verdict"] and "4,334" in doc["verdict"] and "2,000" in doc["verdict"]
    done = CliRunner().invoke(
        app, ["score", str(runs["spark"]), str(RETAIL), "--out", str(tmp_path / "scores")]
    )
    assert done.exit_code == 0, done.output
    scores = pd.read_csv(tmp_path / "scores" / "scores.csv", dtype=ID)
    table = pd.read_csv(runs["spark"] / "segments.csv", dtype=ID)
    both = table.merge(scores, on="customer_id", suffixes=("", "_scored"))
    assert len(both) == len(table)
    assert (both["segment"] == both["segment_scored"]).all()


def test_report_counts_every_customer_and_rerun_is_identical(runs) -> None:
    html = (runs["spark"] / "report.html").read_text()
    assert "4,334 customers" in html
    # the summary's sizes and revenue shares are every customer's, not the sample's
    for _, row in pd.read_csv(runs["spark"] / "profiles.csv").iterrows():
        assert f"{100 * row['share_revenue']:.1f} %" in html
        assert f">{row['customers']:,}<" in html
    for name in ("segments.csv", "segments.parquet", "profiles.csv", "model.json", "report.html"):
        assert (runs["spark"] / name).read_bytes() == (runs["again"] / name).read_bytes(), name
