"""custseg score: new customers scored by a run, the ledger of their input, the drift summary.

Scoring a run's own input reproduces its segments exactly (Online Retail, a synthetic base and
the Train.csv customer table); Train.csv's model scores every row of Test.csv; a column the
model needs and the input lacks is a one-line error naming it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.errors import CustsegError, SchemaError
from custseg.lifecycle.score import FAR_QUANTILE, psi, psi_level
from custseg.outputs.scores import SCORE_FILES
from custseg.report.manifest import MANIFEST
from tests.conftest import ONLINE_RETAIL, SHARED_DATA

TRAIN = SHARED_DATA / "customer_segmentation" / "Train.csv"
TEST = SHARED_DATA / "customer_segmentation" / "Test.csv"
needs_train = pytest.mark.skipif(
    not TRAIN.exists() or not TEST.exists(), reason=f"{TRAIN.parent} is not on this machine"
)
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A run of 300 synthetic customers (k = 4) and its transaction lines."""
    lines, _ = make_transactions(300, seed=11)
    out = tmp_path_factory.mktemp("synthetic") / "run"
    custseg.run(lines, out, seed=0, k=4)
    return out, lines


@pytest.fixture(scope="module")
def retail_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("retail") / "run"
    custseg.run(ONLINE_RETAIL, out, seed=0)
    return out


@pytest.fixture(scope="module")
def train_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not TRAIN.exists():
        pytest.skip(f"{TRAIN} is not on this machine")
    out = tmp_path_factory.mktemp("train") / "run"
    custseg.run(TRAIN, out, seed=0)
    return out


def _same_segments(run: Path, scores: pd.DataFrame) -> None:
    segments = pd.read_parquet(run / "segments.parquet")
    assert scores["customer_id"].tolist() == segments["customer_id"].tolist()
    assert scores["segment"].tolist() == segments["segment"].tolist()
    assert scores["segment_name"].tolist() == segments["segment_name"].tolist()


def test_own_input_reproduces_segments_and_writes_the_folder(synthetic, tmp_path: Path) -> None:
    run, lines = synthetic
    scored = custseg.score(run, lines, tmp_path / "s")
    _same_segments(run, scored.table)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted((*SCORE_FILES, MANIFEST))
    written = pd.read_parquet(tmp_path / "s" / "scores.parquet")
    assert list(written.columns[-4:]) == ["segment", "segment_name", "distance", "far"]
    assert (
        pd.read_csv(tmp_path / "s" / "scores.csv")["segment"].tolist()
        == written["segment"].tolist()
    )
    # the model's own customers: every share equal, every PSI 0, no centroid moves
    drift = json.loads((tmp_path / "s" / "drift.json").read_text())
    assert all(s["training"] == s["new"] for s in drift["shares"])
    assert all(e["psi"] == 0 and e["median_shift"] == 0 for e in drift["psi"].values())
    assert all(c["move"] < 1e-9 for c in drift["centroids"] if c["customers"])
    # far: beyond the training quantile, so at most 1 % of the training customers
    assert 0 < written["far"].sum() <= (1 - FAR_QUANTILE) * len(written) + 1
    assert (written.loc[written["far"], "distance"] > drift["far"]["threshold"]).all()
    ledger = json.loads((tmp_path / "s" / "audit.json").read_text())
    assert ledger["input_rows"] == len(lines)
    # a second score into the same folder replaces it whole
    custseg.score(run / "model.json", lines.head(2000), tmp_path / "s")
    assert json.loads((tmp_path / "s" / "audit.json").read_text())["input_rows"] == 2000


def test_as_of_defaults_to_the_day_after_the_new_data(synthetic) -> None:
    run, lines = synthetic
    early = lines[lines["InvoiceDate"] < "2024-07-01"]
    scored = custseg.score(run, early)
    last = early.loc[early["CustomerID"].notna(), "InvoiceDate"].max().date()
    assert scored.as_of == (last + timedelta(days=1)).isoformat()
    given = custseg.score(run, lines, as_of="2024-07-01")
    assert given.as_of == "2024-07-01"
    assert given.ledger["dropped"]["after_as_of"] > 0
    # same customers and features as of the same date, whatever lines follow it
    a = scored.table.set_index("customer_id")
    b = custseg.score(run, early, as_of=scored.as_of).table.set_index("customer_id")
    pd.testing.assert_frame_equal(a, b)


def test_planted_drift_is_seen(synthetic) -> None:
    """Every customer's quantities ×20: spend moves far (major PSI, median ×20), recency not."""
    run, lines = synthetic
    richer = lines.assign(Quantity=lines["Quantity"] * 20)
    drift = custseg.score(run, richer).drift
    assert drift["psi"]["monetary"]["level"] == "major"
    assert drift["psi"]["recency_days"]["level"] == "stable"
    med = drift["psi"]["monetary"]
    assert med["median_new"] == pytest.approx(20 * med["median_training"], rel=1e-6)
    assert drift["largest_psi"] in {"monetary", "avg_basket"}
    top = drift["shares"][0]
    assert top["new_share"] > top["training_share"]


def test_psi_by_hand() -> None:
    # training deciles of 0..999 → ten bins of 100; 'now' puts half the mass in the last bin
    x = np.arange(1000.0)
    now = np.concatenate([np.arange(0, 500.0, 1.1111), np.full(500, 999.0)])
    now = now[:1000]
    e = np.full(10, 0.1)
    a = np.bincount(np.minimum((now // 99.9).astype(int), 9), minlength=10) / len(now)
    expected = float(np.sum((np.maximum(a, 1e-4) - e) * np.log(np.maximum(a, 1e-4) / e)))
    assert psi(x, now) == pytest.approx(expected, rel=1e-9)
    assert psi(x, x) == 0
    assert [psi_level(v) for v in (0.05, 0.1, 0.2, 0.25, 3)] == [
        "stable",
        "moderate",
        "moderate",
        "major",
        "major",
    ]


def test_missing_column_is_one_line_naming_it(synthetic) -> None:
    run, lines = synthetic
    with pytest.raises(
        SchemaError, match=r"no column 'Quantity' \(quantity\), which the model needs"
    ) as info:
        custseg.score(run, lines.drop(columns=["Quantity"]))
    assert "\n" not in str(info.value)
    # a column named otherwise is mapped; a column the features do not read may be absent
    renamed = lines.rename(columns={"Quantity": "Qty"}).drop(columns=["Country"])
    scored = custseg.score(run, renamed, mapping={"quantity": "Qty"})
    _same_segments(run, scored.table)


def test_model_json_outside_a_run_folder_is_refused(synthetic, tmp_path: Path) -> None:
    run, lines = synthetic
    alone = tmp_path / "model.json"
    alone.write_bytes((run / "model.json").read_bytes())
    with pytest.raises(CustsegError, match="scoring needs the run folder"):
        custseg.score(alone, lines)


def test_cli_score(synthetic, tmp_path: Path) -> None:
    run, lines = synthetic
    data = tmp_path / "lines.parquet"
    lines.to_parquet(data)
    result = runner.invoke(
        app, ["score", str(run), str(data), "--out", str(tmp_path / "s"), "--lang", "fr"]
    )
    assert result.exit_code == 0, result.output
    assert "clients scorés" in result.output and "Parts des segments" in result.output
    html = (tmp_path / "s" / "drift.html").read_text()
    assert '<html lang="fr">' in html and "Dérive des variables" in html
    bad = runner.invoke(
        app, ["score", str(run), str(data), "--out", str(tmp_path / "t"), "--as-of", "2024-13-01"]
    )
    assert bad.exit_code == 1 and "is not a date" in bad.output


@pytest.mark.slow
def test_online_retail_scored_by_its_own_run(retail_run: Path, tmp_path: Path) -> None:
    scored = custseg.score(retail_run, ONLINE_RETAIL, tmp_path / "s")
    _same_segments(retail_run, scored.table)
    assert scored.as_of == "2011-12-10"
    assert scored.ledger == json.loads((retail_run / "audit.json").read_text()) | {
        "source": scored.ledger["source"]
    }


@needs_train
@pytest.mark.slow
def test_customer_table_scored_by_its_own_run_and_test_csv(train_run: Path, tmp_path: Path) -> None:
    _same_segments(train_run, custseg.score(train_run, TRAIN).table)
    test = custseg.score(train_run, TEST, tmp_path / "s")
    rows = pd.read_csv(TEST)
    assert len(test.table) == len(rows) == 2627
    assert sorted(test.table["customer_id"]) == sorted(rows["ID"].astype(str))
    assert test.ledger["input_rows"] == test.ledger["kept_rows"] == 2627
    assert test.ledger["unscored"] == []
    assert test.table["segment"].between(1, int(test.table["segment"].max())).all()
    # rows that cannot be scored are listed one by one, with the reason
    damaged = pd.concat([rows.head(5), rows.head(1)], ignore_index=True)
    damaged["ID"] = damaged["ID"].astype(str)
    damaged.loc[2, "ID"] = None
    partial = custseg.score(train_run, damaged)
    assert len(partial.table) == 4
    assert partial.ledger["dropped"] == {"missing_customer_id": 1, "duplicate": 1, "outlier": 0}
    assert partial.ledger["unscored"] == [
        {"row": 3, "customer_id": None, "reason": "missing_customer_id"},
        {"row": 6, "customer_id": str(rows["ID"][0]), "reason": "duplicate"},
    ]
    with pytest.raises(SchemaError, match="no column 'Age'") as info:
        custseg.score(train_run, rows.drop(columns=["Age"]))
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def split_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A run of 400 synthetic customers split by lifecycle, and its transaction lines."""
    lines, _ = make_transactions(400, seed=5)
    out = tmp_path_factory.mktemp("split") / "run"
    custseg.run(lines, out, seed=0, split="lifecycle")
    return out, lines


def test_split_run_scores_each_customer_with_its_groups_model(split_run, tmp_path: Path) -> None:
    run, lines = split_run
    scored = custseg.score(run, lines, tmp_path / "s")
    _same_segments(run, scored.table)
    doc = json.loads((run / "model.json").read_text())
    groups = doc["split"]["groups"]
    assert {g["name"] for g in groups} == {"repeat", "one_time"}
    drift = scored.drift
    # every segment of every group once, numbered as in segments.csv, shares of the whole run
    assert [r["segment"] for r in drift["shares"]] == list(range(1, len(doc["segment_names"]) + 1))
    assert sum(r["new_share"] for r in drift["shares"]) == pytest.approx(1.0)
    assert all(r["new"] == r["training"] for r in drift["shares"])
    # far is decided per group, on each group's own distances
    far = drift["far"]
    assert [g["group"] for g in far["groups"]] == [g["name"] for g in groups]
    assert far["customers"] == sum(g["customers"] for g in far["groups"])
    assert far["customers"] == int(scored.table["far"].sum())
    assert all(r["psi"] == 0.0 for r in drift["psi"].values())
    html = (tmp_path / "s" / "drift.html").read_text()
    first = far["groups"][0]
    # the page gives each group's distances, never a dash for the whole run
    assert f"repeat customers {first['threshold']:.2f}" in html and "(—)" not in html


def test_split_run_scores_customers_who_changed_group(split_run) -> None:
    """Customers with one invoice in the new data are scored by the one-time group's model."""
    run, lines = split_run
    first = lines.sort_values("InvoiceDate").groupby("CustomerID").head(1)
    once = lines[lines["InvoiceNo"].isin(first["InvoiceNo"])]
    scored = custseg.score(run, once)
    doc = json.loads((run / "model.json").read_text())
    one_time = next(g for g in doc["split"]["groups"] if g["name"] == "one_time")
    own = {int(s) for s in one_time["segment_names"]}
    assert set(scored.table["segment"]) <= own
    assert (scored.table["frequency"] == 1).all()
