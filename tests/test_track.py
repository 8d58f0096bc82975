"""custseg track: a frozen model against fresh fits over time, on planted drift and Online Retail."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_drifting_transactions
from custseg.errors import CustsegError, InputError
from custseg.lifecycle.track import Every, held, mean_ari

DRIFT = date(2024, 7, 1)  # start 2023-01-01 + 18 months: the frequent customers stop buying


@pytest.mark.parametrize(
    ("text", "steps", "expected"),
    [
        ("1M", 1, date(2024, 2, 29)),
        ("2M", 3, date(2024, 7, 31)),
        ("2W", 2, date(2024, 2, 28)),
        ("10d", 1, date(2024, 2, 10)),
    ],
    ids=["month-clipped", "two-months", "weeks", "days"],
)
def test_every_steps(text: str, steps: int, expected: date) -> None:
    assert Every.parse(text).after(date(2024, 1, 31), steps) == expected


@pytest.mark.parametrize("text", ["", "M", "0M", "1Y", "1.5M", "-1M"], ids=repr)
def test_every_refuses_other_steps(text: str) -> None:
    with pytest.raises(
        CustsegError, match=r"--every .* is not a step; write a number and D, W or M"
    ):
        Every.parse(text)


def test_every_labels_in_both_languages() -> None:
    assert Every.parse("1M").label("en", 1) == "1 month"
    assert Every.parse("2W").label("en", 3) == "6 weeks"
    assert Every.parse("1M").label("fr", 2) == "2 mois"
    assert Every.parse("1W").label("fr", 1) == "1 semaine"


def test_mean_ari_and_held() -> None:
    a, b = pd.Series([0, 0, 1, 1]).to_numpy(), pd.Series([1, 1, 0, 0]).to_numpy()
    c = pd.Series([0, 1, 0, 1]).to_numpy()
    assert mean_ari([a, b]) == 1.0  # same partition, other numbers
    assert mean_ari([a], [c]) == pytest.approx(-0.5)
    assert held(0.8, 1.0, 0.8) and not held(0.79, 1.0, 0.8)
    assert held(0.6, 0.55, 0.8)  # fresh fits noisier than the threshold: the floor decides


@pytest.fixture(scope="module")
def drifted() -> custseg.lifecycle.TrackResult:
    lines, _ = make_drifting_transactions(600, seed=0, months=24, drift_month=18)
    return custseg.track(lines, k=4, every="2M")


def test_planted_drift_is_found_at_its_date_and_not_before(drifted) -> None:
    steps = drifted.steps
    assert drifted.start == date(2024, 1, 1)  # halfway through the 24 months
    assert steps["as_of"].tolist() == [
        "2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01",
        "2024-09-01", "2024-11-01", "2025-01-01",
    ]  # fmt: skip
    before = steps[pd.to_datetime(steps["as_of"]).dt.date <= DRIFT]
    after = steps[pd.to_datetime(steps["as_of"]).dt.date > DRIFT]
    assert (before["ari"] >= 0.9).all(), before["ari"].tolist()
    assert before["held"].all()
    assert after["ari"].iloc[0] < 0.8 < before["ari"].min()
    assert (after["ari"] < 0.75).all(), after["ari"].tolist()
    assert (steps["noise_floor"] >= 0.95).all()  # the fits agree with each other: not noise
    # the cadence stops at the planted date: 6 months held, the next step is the first failure
    assert drifted.cadence["steps_held"] == 3
    assert drifted.cadence["retrain_every"] == "6M"
    assert drifted.cadence["first_failure"] == "2024-09-01"
    assert drifted.sentence.startswith("Retrain every 6 months")
    assert "0.80" in drifted.sentence and "after 8 months" in drifted.sentence
    # centroids move at the drift: the frequent buyers' segment most of all
    assert after["max_drift"].min() > 2 * before["max_drift"].max()
    # every customer bought in the first month: nobody appears, and the cumulative features
    # keep every customer at every date
    assert (steps["customers"] == 600).all()
    assert sum(m.common for m in drifted.migrations) == 600 * 6


def test_same_data_without_the_drift_keeps_the_model(drifted) -> None:
    lines, _ = make_drifting_transactions(600, seed=0, months=24, drift_month=None)
    control = custseg.track(lines, k=4, every="2M")
    steps = control.steps
    # the lines before the planted date are the same: so are the numbers
    pd.testing.assert_series_equal(steps["ari"].iloc[:4], drifted.steps["ari"].iloc[:4])
    assert steps["ari"].iloc[4] > drifted.steps["ari"].iloc[4] + 0.15
    assert steps["held"].all()
    assert control.cadence["steps_held"] == 6
    assert control.sentence.startswith("No retraining needed within 12 months")


def test_track_writes_its_folder_and_replaces_it(drifted, tmp_path: Path) -> None:
    from custseg.outputs.lifecycle import save_track

    out = tmp_path / "track"
    written = save_track(drifted, out)
    assert sorted(p.name for p in written.values()) == sorted(
        ["track.csv", "track.json", "migrations.csv", "track.html"]
    )
    table = pd.read_csv(out / "track.csv")
    assert len(table) == 7 and {"as_of", "ari", "noise_floor", "held", "share_1"} <= set(table)
    assert (
        table["share_1"]
        .add(table["share_2"])
        .add(table["share_3"])
        .add(table["share_4"])
        .round(9)
        .eq(1)
        .all()
    )
    doc = json.loads((out / "track.json").read_text())
    assert doc["format"] == "custseg.track/1" and doc["k"] == 4 and doc["every"] == "2M"
    assert doc["sentence"] == drifted.sentence and len(doc["migrations"]) == 6
    moves = pd.read_csv(out / "migrations.csv")
    assert len(moves) == 6 * 4 * 4
    assert moves.groupby("from")["customers"].sum().eq(600).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(p.name for p in written.values())
    html = (out / "track.html").read_text()
    assert drifted.sentence in html and "fig-track-ari" in html and "https://" not in html[:2000]
    save_track(drifted, out)  # a second time into the same folder: replaced whole
    assert sorted(p.name for p in out.iterdir()) == sorted([*written, "manifest.json"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (out / "mine.txt").write_text("x")
    with pytest.raises(InputError, match=r"holds files custseg did not write \(mine.txt\)"):
        save_track(drifted, out)


def test_track_refuses_bad_settings() -> None:
    lines, _ = make_drifting_transactions(60, seed=1, months=6, drift_month=None)
    with pytest.raises(CustsegError, match="--start 2030-01-01 is outside the data"):
        custseg.track(lines, start="2030-01-01")
    with pytest.raises(CustsegError, match=r"--threshold 1\.5 must be above 0 and at most 1"):
        custseg.track(lines, threshold=1.5)
    with pytest.raises(CustsegError, match="--every 6M: no date after --start"):
        custseg.track(lines, every="6M")
    with pytest.raises(CustsegError, match=r"--start '2011-13-01' is not a date; write it as"):
        custseg.track(lines, start="2011-13-01")
    customers = pd.DataFrame({"CustomerID": [1, 2, 3], "Age": [20, 30, 40]})
    with pytest.raises(CustsegError, match="a table of one row per customer cannot be tracked"):
        custseg.track(customers)


def test_track_cli(tmp_path: Path) -> None:
    lines, _ = make_drifting_transactions(120, seed=2, months=6, drift_month=None)
    source = tmp_path / "lines.parquet"
    lines.to_parquet(source)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["track", str(source), "--out", str(out), "--every", "1M", "--k", "3", "--lang", "fr"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "track.json").read_text())
    assert doc["lang"] == "fr" and doc["k"] == 3
    printed = " ".join(result.output.split())
    assert "ARI" in printed and " ".join(doc["sentence"].split()) in printed
    bad = CliRunner().invoke(app, ["track", str(source), "--out", str(out), "--every", "1Y"])
    assert bad.exit_code == 1 and "--every '1Y' is not a step" in bad.output


@pytest.mark.slow
def test_online_retail_tracked_monthly_from_its_midpoint(online_retail: Path) -> None:
    result = custseg.track(online_retail, k=4, every="1M")
    steps = result.steps
    assert result.start == date(2011, 6, 6)  # 2010-12-01 → 2011-12-10, halfway
    assert len(steps) == 7 and steps["as_of"].iloc[-1] == "2011-12-06"
    assert steps["customers"].is_monotonic_increasing
    assert steps["ari"].iloc[0] > 0.95  # at T0 the fresh fits find the reference again
    assert steps["ari"].iloc[-1] < steps["ari"].iloc[1]  # the model ages
    assert (steps["noise_floor"] > 0.9).all()
    n = result.cadence["steps_held"]
    assert 0 <= n < 6
    assert result.sentence.startswith("Retrain every") or result.sentence.startswith("Retrain at")
    assert f"{result.threshold:.2f}" in result.sentence
