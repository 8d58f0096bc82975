"""custseg compare: customers between the segments of two real runs (and the migration maths)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.errors import InputError
from custseg.lifecycle.compare import BY_CENTROID, BY_NUMBER, migration, nearest_centroids

MALL = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "mall_customers"
    / "Mall_Customers.csv"
)


def test_migration_counts_by_hand() -> None:
    before = pd.Series([1, 1, 2, 2, 3], index=["a", "b", "c", "d", "e"])
    after = pd.Series([1, 2, 2, 1, 2], index=["a", "b", "c", "d", "f"])
    m = migration(before, after, {1: "A", 2: "B", 3: "C"}, {1: "A", 2: "B", 3: "C"})
    assert m.counts.to_numpy().tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert m.row_percent().to_numpy().tolist() == [[50, 50, 0], [50, 50, 0], [0, 0, 0]]
    assert (m.appeared, m.disappeared, m.common, m.stayed()) == (["f"], ["e"], 4, 2)
    table = m.table()
    assert len(table) == 9 and table["customers"].sum() == 4
    doc = m.to_dict(ids=True)
    assert doc["appeared_ids"] == ["f"] and doc["matching"]["method"] == BY_NUMBER


def test_nearest_centroid_matching_by_hand() -> None:
    m = nearest_centroids(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[2.9, 4.0], [0.0, 0.1]]))
    assert m.method == BY_CENTROID
    assert m.after_to_before == {1: 2, 2: 1} and m.before_to_after == {1: 2, 2: 1}
    assert m.distance[1] == pytest.approx(0.1) and m.distance[2] == pytest.approx(0.1)


@pytest.fixture(scope="module")
def runs(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("compare_runs")
    made = {
        "sept": dict(as_of="2011-09-01", k=4),
        "dec": dict(k=4),
        "dec5": dict(k=5),
    }
    for name, kw in made.items():
        custseg.run(online_retail, base / name, seed=0, **kw)
    return {name: base / name for name in made}


def test_a_run_against_itself_keeps_everyone(runs: dict[str, Path], tmp_path: Path) -> None:
    c = custseg.compare(runs["dec"], runs["dec"], tmp_path / "same")
    m = c.migration
    assert m.matching.method == BY_NUMBER
    segments = pd.read_csv(runs["dec"] / "segments.csv", dtype={"customer_id": str})
    assert m.common == m.stayed() == len(segments)
    assert (np.diag(m.counts.to_numpy()) == segments["segment"].value_counts().sort_index()).all()
    assert m.appeared == [] and m.disappeared == []
    assert "matched by number and name" in c.sentence and "100.0 %" in c.sentence


def test_runs_months_apart(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "moves"
    c = custseg.compare(runs["sept"], runs["dec"], out)
    m = c.migration
    a = pd.read_csv(runs["sept"] / "segments.csv", dtype={"customer_id": str})
    b = pd.read_csv(runs["dec"] / "segments.csv", dtype={"customer_id": str})
    # every customer of September is in December's run; the new ones appeared
    assert m.disappeared == sorted(set(a["customer_id"]) - set(b["customer_id"]))
    assert m.appeared == sorted(set(b["customer_id"]) - set(a["customer_id"]))
    assert len(m.appeared) > 500
    assert m.common == len(a) - len(m.disappeared)
    merged = a.merge(b, on="customer_id", suffixes=("_a", "_b"))
    expected = pd.crosstab(merged["segment_a"], merged["segment_b"])
    assert (
        m.counts.to_numpy()
        == expected.reindex(index=range(1, 5), columns=range(1, 5), fill_value=0).to_numpy()
    ).all()
    assert np.allclose(m.row_percent().sum(axis=1), 100)
    names_a = json.loads((runs["sept"] / "model.json").read_text())["segment_names"]
    names_b = json.loads((runs["dec"] / "model.json").read_text())["segment_names"]
    assert m.matching.method == (BY_NUMBER if names_a == names_b else BY_CENTROID)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["compare.html", "compare.json", "manifest.json", "transitions.csv"]
    doc = json.loads((out / "compare.json").read_text())
    assert doc["counts"] == m.counts.to_numpy().tolist() and doc["appeared"] == len(m.appeared)
    assert len(doc["appeared_ids"]) == len(m.appeared)
    transitions = pd.read_csv(out / "transitions.csv")
    assert transitions["customers"].sum() == m.common
    html = (out / "compare.html").read_text()
    assert "fig-compare-sankey" in html and c.sentence.split(";")[0] in html


def test_different_k_is_matched_by_centroid_and_says_so(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    c = custseg.compare(runs["dec"], runs["dec5"], tmp_path / "k", lang="fr")
    m = c.migration
    assert m.matching.method == BY_CENTROID
    assert m.counts.shape == (4, 5)
    assert set(m.matching.after_to_before) == {1, 2, 3, 4, 5}
    assert set(m.matching.after_to_before.values()) <= {1, 2, 3, 4}
    assert "appariés au centroïde le plus proche, pas par numéro" in c.sentence
    # the same customers on both sides (same input, same as-of date)
    assert m.appeared == [] and m.disappeared == []
    # a segment of the 5 whose centroid sits on one of the 4 takes most of its customers
    pct = m.row_percent()
    best = {a: int(pct.loc[a].idxmax()) for a in pct.index}
    assert sum(m.matching.after_to_before[b] == a for a, b in best.items()) >= 3


@pytest.mark.skipif(not MALL.is_file(), reason="Mall_Customers.csv is not in the shared data")
def test_customer_table_runs(tmp_path: Path) -> None:
    custseg.run(MALL, tmp_path / "m4", seed=0, k=4)
    custseg.run(MALL, tmp_path / "m5", seed=0, k=5)
    c = custseg.compare(tmp_path / "m4", tmp_path / "m5")
    assert c.migration.common == 200 and c.migration.matching.method == BY_CENTROID


def test_compare_cli_and_errors(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["compare", str(runs["sept"]), str(runs["dec"]), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "compare.html").is_file()
    bad = CliRunner().invoke(
        app, ["compare", str(tmp_path / "nope"), str(runs["dec"]), "--out", str(out)]
    )
    assert (
        bad.exit_code == 1 and "is not a folder; give the --out folder of custseg run" in bad.output
    )
    with pytest.raises(
        InputError, match=r"--out .*dec holds the input dec; writing there would overwrite it"
    ):
        custseg.compare(runs["sept"], runs["dec"], runs["dec"])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"holds files custseg did not write \(notes.txt\)"):
        custseg.compare(runs["sept"], runs["dec"], tmp_path / "mine")
