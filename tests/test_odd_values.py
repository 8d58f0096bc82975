"""Odd values in the model and report path (issue 12): a value near the largest float, identical
customers with k = 3, text in a numeric feature at predict time, a non-finite number written to
JSON; each a one-line error or a documented handling, never a traceback.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.errors import CustsegError, SchemaError
from custseg.model.segmenter import CustomerSegmenter
from custseg.outputs.files import write_json
from custseg.report.data import RunData, prepare
from custseg.stages.customers import CustomerRules
from tests.test_customers import crm

runner = CliRunner()


def test_a_value_near_the_largest_float_fails_before_anything_is_written(
    tmp_path: Path,
) -> None:
    table = crm(100)
    table["MntWines"] = table["MntWines"].astype(float)
    table.loc[3, "MntWines"] = 1e308
    source = tmp_path / "big.csv"
    table.to_csv(source, index=False)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", str(source), "--out", str(out), "--outliers", "keep", "--kind", "customers"]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    message = " ".join(result.output.split())
    assert "'total_spend' holds 1e+308" in message and "--outliers clip" in message
    assert not out.exists() or not any(out.iterdir())
    # the same table with the default policy (clip) is segmented, with finite numbers only
    clipped = custseg.segment(source, kind="customers", k=2)
    assert np.isfinite(clipped.model.cluster_centers_).all()


def test_the_estimator_refuses_a_feature_whose_transform_overflows() -> None:
    X = pd.DataFrame({"income": [1e4, 2e4, 3e4, 4e4] * 5, "visits": [1.0, 2, 3, 4] * 5})
    X.loc[7, "income"] = 1.7e308
    with pytest.raises(SchemaError, match=r"'income' holds 1\.7e\+308 \(row 7\)"):
        CustomerSegmenter(k=2).fit(X)


def test_identical_customers_with_k_3_give_a_report_with_empty_segments(tmp_path: Path) -> None:
    n = 12
    frame = pd.DataFrame(
        {
            "InvoiceNo": [str(i) for i in range(n)],
            "CustomerID": [f"c{i}" for i in range(n)],
            "InvoiceDate": ["2011-01-01"] * n,
            "Quantity": [1] * n,
            "UnitPrice": [1.0] * n,
        }
    )
    source = tmp_path / "same.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.invoke(app, ["run", str(source), "--out", str(out), "--k", "3"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["report", str(out)])
    assert again.exit_code == 0, again.output
    cards = {c["segment"]: c for c in prepare(RunData.from_dir(out))["cards"]}
    assert [cards[s]["customers"] for s in (1, 2, 3)] == [12, 0, 0]
    assert [cards[s]["share_revenue"] for s in (1, 2, 3)] == [1.0, 0.0, 0.0]


def _fitted() -> tuple[CustomerSegmenter, pd.DataFrame]:
    X = pd.DataFrame(
        {
            "recency_days": [1, 2, 200, 210] * 3,
            "frequency": [20, 22, 1, 2] * 3,
            "monetary": [900.0, 950, 30, 40] * 3,
        }
    )
    return CustomerSegmenter(k=2).fit(X), X


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (["1", "abc", "3"], "'abc' (row 1)"),
        (pd.array(["1", "abc", "3"], dtype="string"), "'abc' (row 1)"),
        (pd.Categorical(["1", "abc", "3"]), "'abc' (row 1)"),
        ([1, [2], 3], "[2] (row 1)"),
        (pd.to_datetime(["2020-01-01"] * 3), "Timestamp('2020-01-01 00:00:00') (row 0)"),
        ([1, 2j, 3], "np.complex128(1+0j) (row 0)"),
    ],
)
def test_predict_on_text_in_a_numeric_feature_names_column_and_value(
    values: Any, shown: str
) -> None:
    model, X = _fitted()
    Y = X.head(3).copy()
    Y["monetary"] = values
    with pytest.raises(SchemaError) as caught:
        model.predict(Y)
    message = str(caught.value)
    assert f"column 'monetary' holds {shown}" in message and "\n" not in message
    assert "fitted on numbers" in message


def test_predict_on_text_in_an_array_names_the_cell() -> None:
    _, X = _fitted()
    model = CustomerSegmenter(k=2).fit(X.to_numpy())
    cells = X.head(3).to_numpy().astype(object)
    cells[1, 2] = "abc"
    with pytest.raises(SchemaError, match=r"column x2 holds 'abc' \(row 1\)"):
        model.predict(cells)


def test_write_json_refuses_non_finite_numbers_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    with pytest.raises(CustsegError, match=r"model.json: \$\.model\.scale\[1\] is inf"):
        write_json(path, {"model": {"scale": [1.0, float("inf")]}})
    assert not path.exists() and not list(tmp_path.iterdir())


def test_a_huge_value_in_a_profiled_column_keeps_the_profiles_finite(tmp_path: Path) -> None:
    """An outcome column (profiled, not clustered) holding 1e308 kept with --outliers keep:
    its segment means are finite numbers, neither rounded nor summed into infinity."""
    rng = np.random.default_rng(0)
    n = 200
    table = pd.DataFrame(
        {
            "ID": range(n),
            "Income": rng.normal(5e4, 1e4, n),
            "MntWines": rng.integers(0, 1000, n),
            "MntFruits": rng.integers(0, 100, n),
            "Response": rng.integers(0, 2, n).astype(float),
        }
    )
    table.loc[[0, 1], "Response"] = 1e308
    result = custseg.run(
        table, tmp_path / "out", k=2, customer_rules=CustomerRules(outliers="keep")
    )
    means = result.profiles["mean_Response"].to_numpy(dtype=float)
    assert np.isfinite(means).all()
    assert means.max() > 1e305  # the huge values are there, not dropped
    profiles = pd.read_csv(tmp_path / "out" / "profiles.csv")
    assert np.isfinite(profiles.select_dtypes("number").to_numpy(dtype=float)).all()
