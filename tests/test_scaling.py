"""What `SegmentationResult.save` writes must not cost more per customer than it has to.

* The report shows customers only through bounded seeded samples and aggregates: tiling the
  customer table ×10 (new ids) leaves the page's size and the Python work of building it
  unchanged (a regression guard against per-customer data or loops in the report).
* The large CSV is written by DuckDB in row blocks, with exactly pandas' bytes.
"""

from __future__ import annotations

import cProfile
import dataclasses
import pstats
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg.datasets import make_transactions
from custseg.explain import diagnostics
from custseg.outputs import files as outputs
from custseg.outputs.folder import OUTPUT_FILES
from custseg.report import data as report_data
from custseg.report.data import RunData
from custseg.report.html import plotly_js, render_run


@pytest.fixture(scope="module")
def result() -> custseg.SegmentationResult:
    frame, _ = make_transactions(400, seed=3)
    return custseg.segment(frame, seed=0, k_max=5)


def tiled(result: custseg.SegmentationResult, times: int) -> custseg.SegmentationResult:
    """The same run with its customer table repeated ``times`` times under new ids."""
    seg = result.segments
    parts = [seg.assign(customer_id=seg["customer_id"].astype(str) + f"-{i}") for i in range(times)]
    return dataclasses.replace(result, segments=pd.concat(parts, ignore_index=True))


def _render(result: custseg.SegmentationResult) -> tuple[str, int]:
    """The page without the plotly.js bundle, and the Python calls made to build it."""
    run = RunData.from_result(result)
    profile = cProfile.Profile()
    profile.enable()
    html = render_run(run)
    profile.disable()
    return html.replace(plotly_js(), ""), pstats.Stats(profile).total_calls


def test_report_does_not_grow_with_the_customers(
    result: custseg.SegmentationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    # samples smaller than the 400 customers, so that both runs below are sampled
    monkeypatch.setattr(diagnostics, "PCA_SAMPLE", 300)
    monkeypatch.setattr(diagnostics, "TSNE_SAMPLE", 150)
    _render(result)  # templates compiled, modules imported
    page, calls = _render(result)
    page10, calls10 = _render(tiled(result, 10))
    assert len(result.segments) == 400
    # only numbers grow (counts get a digit longer): no figure holds one point per customer
    assert abs(len(page10) - len(page)) < 0.02 * len(page)
    # no Python work per customer: 3,600 more customers, (almost) not one more call
    assert calls10 < calls + 300, (calls, calls10)


def test_report_of_a_tiled_table_keeps_the_aggregates(result: custseg.SegmentationResult) -> None:
    p1 = report_data.prepare(RunData.from_result(result))
    p3 = report_data.prepare(RunData.from_result(tiled(result, 3)))
    assert p3["n"] == 3 * p1["n"]
    for c1, c3 in zip(p1["cards"], p3["cards"], strict=True):
        assert c3["customers"] == 3 * c1["customers"]
        assert c3["share_customers"] == pytest.approx(c1["share_customers"])
        assert c3["share_revenue"] == pytest.approx(c1["share_revenue"])
        assert c3["medians"] == c1["medians"]
        # the farthest customer's three copies tie: the first row comes first
        if c1["outliers"]:
            assert c3["outliers"][0]["customer_id"] == c1["outliers"][0]["customer_id"] + "-0"
    for col, boxes in p1["boxes"].items():
        for s, box in boxes.items():
            assert p3["boxes"][col][s]["median"] == box["median"], (col, s)
            assert p3["boxes"][col][s]["mean"] == pytest.approx(box["mean"]), (col, s)
    assert p3["base_medians"] == p1["base_medians"]
    assert p3["rf_grid"]["count"] == [[3 * c for c in row] for row in p1["rf_grid"]["count"]]
    for row1, row3 in zip(p1["rf_grid"]["mean"], p3["rf_grid"]["mean"], strict=True):
        assert row3 == [None if a is None else pytest.approx(a) for a in row1]
    assert p3["snake"] == {s: pytest.approx(v) for s, v in p1["snake"].items()}


def test_box_statistics_of_integers_match_numpy() -> None:
    rng = np.random.default_rng(4)
    for size in (1, 2, 3, 4, 5, 7, 100, 1001):
        values = rng.integers(-3, 40, size) ** 2 // 7
        counts = np.bincount(values - values.min())
        counted = diagnostics._box_counted(counts, int(values.min()))
        assert counted == diagnostics._box(values.astype(float)), size


# ---- the CSV writer --------------------------------------------------------------------------

TRICKY = pd.DataFrame(
    {
        "customer_id": ["a,b", 'q"u', "new\nline", "", None, " lead", "é ü", "#1", "x#", "NULL"],
        "x": [
            0.0,
            -0.0,
            1e-05,
            1e16,
            1 / 3,
            float("nan"),
            float("inf"),
            -float("inf"),
            5e-324,
            123456.789,
        ],
        "n": np.array([0, -1, 2**62, -(2**63), 7, 10**15, 3, 4, 5, 6], dtype=np.int64),
        "u": np.arange(10, dtype=np.uint8),
        "flag": [True, False] * 5,
        "plain, name": ["Lost"] * 10,
    }
).astype({"customer_id": "str"})


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(TRICKY, id="tricky"),
        pytest.param(TRICKY.astype({"customer_id": object}), id="object-text"),
        pytest.param(TRICKY.assign(**{'quote"d': 1.5, "#": "b"}), id="odd-names"),
        pytest.param(TRICKY.rename(columns={"u": ""}), id="empty-name"),  # → pandas
        pytest.param(TRICKY.iloc[:0], id="no-rows"),
        pytest.param(TRICKY.assign(customer_id="a\rb"), id="carriage-return"),  # → pandas
        pytest.param(TRICKY.assign(day=pd.Timestamp("2011-01-02")), id="dates"),  # → pandas
        pytest.param(TRICKY.assign(k=pd.array([1, None] * 5, dtype="Int64")), id="nullable"),
    ],
)
def test_write_csv_writes_the_bytes_of_pandas(
    frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "CSV_DUCKDB_ROWS", 0)  # DuckDB even for a small table
    monkeypatch.setattr(outputs, "CSV_BLOCK_ROWS", 3)  # … in several blocks
    monkeypatch.setattr(outputs, "cpu_count", lambda: 3)
    big = pd.concat([frame] * 3, ignore_index=True)
    path = outputs.write_csv(tmp_path / "t.csv", big)
    assert path.read_bytes() == big.to_csv(index=False, lineterminator="\n").encode("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # no block left behind


def test_duckdb_writes_the_large_csv() -> None:
    if not outputs.duckdb_csv_is_pandas_csv():
        pytest.skip("this DuckDB does not render CSV like pandas; pandas writes it")
    assert outputs._csv_table(TRICKY) is not None
    assert outputs._csv_table(TRICKY.assign(customer_id="a\rb")) is None
    assert outputs._csv_table(TRICKY.assign(day=pd.Timestamp("2011-01-02"))) is None


def test_the_customer_tables_of_a_run_are_pandas_bytes(
    result: custseg.SegmentationResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "CSV_DUCKDB_ROWS", 0)
    monkeypatch.setattr(outputs, "CSV_BLOCK_ROWS", 150)
    paths = custseg.save(result, tmp_path)
    for name, frame in (("segments.csv", result.segments), ("profiles.csv", result.profiles)):
        expected = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
        assert paths[name].read_bytes() == expected, name
    assert tuple(paths) == OUTPUT_FILES


def test_write_csv_joins_blocks_without_copy_file_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*args: object, **kwargs: object) -> int:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(outputs.os, "copy_file_range", unsupported, raising=False)
    monkeypatch.setattr(outputs, "CSV_DUCKDB_ROWS", 0)
    monkeypatch.setattr(outputs, "CSV_BLOCK_ROWS", 4)
    monkeypatch.setattr(outputs, "cpu_count", lambda: 4)
    frame = pd.concat([TRICKY] * 2, ignore_index=True)
    path = outputs.write_csv(tmp_path / "t.csv", frame)
    assert path.read_bytes() == frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    # a header line DuckDB would spell differently is replaced, the rows kept
    path.write_bytes(b'"a",b\n1,2\n' * 3)
    outputs._rewrite_header(path, b"a,b\n")
    assert path.read_bytes() == b"a,b\n1,2\n" + b'"a",b\n1,2\n' * 2


def test_write_csv_falls_back_to_pandas_when_duckdb_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custseg.engines.duckdb import DuckDBEngine
    from custseg.errors import EngineError

    def old_duckdb(*args: object, **kwargs: object) -> None:
        raise EngineError('Not implemented Error: Unrecognized option "comment" for csv')

    monkeypatch.setattr(outputs, "_PANDAS_CSV", [])  # probe again, with this DuckDB
    monkeypatch.setattr(DuckDBEngine, "copy_csv", old_duckdb)
    monkeypatch.setattr(outputs, "CSV_DUCKDB_ROWS", 0)
    path = outputs.write_csv(tmp_path / "t.csv", TRICKY)
    assert path.read_bytes() == TRICKY.to_csv(index=False, lineterminator="\n").encode("utf-8")
    assert outputs.duckdb_csv_is_pandas_csv() is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
