"""Customer tables: roles, cleaning ledger, engineered variables, mixed data, personas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg.errors import SchemaError
from custseg.model import persistence
from custseg.stages.customers import CustomerRules, detect_roles
from tests.conftest import SHARED_DATA

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.exists(), reason="../shared/data (public datasets) is not beside this clone"
)


def crm(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A marketing-campaign-like table with two clear groups of customers."""
    rng = np.random.default_rng(seed)
    rich = np.arange(n) < n // 2
    return pd.DataFrame(
        {
            "ID": np.arange(1000, 1000 + n),
            "Year_Birth": np.where(rich, rng.integers(1950, 1965, n), rng.integers(1985, 1998, n)),
            "Education": rng.choice(
                ["Graduation", "PhD", "Master", "Basic"], n, p=[0.5, 0.2, 0.25, 0.05]
            ),
            "Marital_Status": np.where(rich, "Married", rng.choice(["Single", "Together"], n)),
            "Income": np.where(
                rich, rng.normal(80_000, 8_000, n), rng.normal(30_000, 5_000, n)
            ).round(),
            "Kidhome": np.where(rich, 0, rng.integers(0, 3, n)),
            "Teenhome": rng.integers(0, 2, n),
            "Dt_Customer": pd.to_datetime("2013-01-01")
            + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
            "MntWines": np.where(rich, rng.integers(400, 1200, n), rng.integers(0, 60, n)),
            "MntMeatProducts": np.where(rich, rng.integers(200, 800, n), rng.integers(0, 40, n)),
            "NumWebPurchases": rng.integers(1, 10, n),
            "NumStorePurchases": np.where(rich, rng.integers(6, 13, n), rng.integers(2, 5, n)),
            "AcceptedCmp1": rng.integers(0, 2, n),
            "AcceptedCmp2": rng.integers(0, 2, n),
            "Z_CostContact": 3,
            "Response": rng.integers(0, 2, n),
        }
    )


def test_roles_are_detected_from_names_and_declared_roles_win() -> None:
    roles = detect_roles(list(crm().columns))
    assert roles["id"] == "ID"
    assert roles["birth_year"] == "Year_Birth"
    assert roles["enrolment_date"] == "Dt_Customer"
    assert roles["spend"] == ["MntWines", "MntMeatProducts"]
    assert roles["purchases"] == ["NumWebPurchases", "NumStorePurchases"]
    assert roles["campaign"] == ["AcceptedCmp1", "AcceptedCmp2"]
    assert roles["outcome"] == ["Response"]
    declared = detect_roles(["client", "wine", "meat"], {"id": "client", "spend": ["wine", "meat"]})
    assert (declared["id"], declared["spend"]) == ("client", ["wine", "meat"])
    with pytest.raises(SchemaError, match="role spend names no column 'beer'"):
        detect_roles(["a"], {"spend": ["beer"]})


def test_engineered_variables_by_hand() -> None:
    frame = crm(6)
    result = custseg.segment(frame, k=2)
    t = result.segments.set_index("customer_id").loc[str(frame.loc[0, "ID"])]
    row = frame.loc[0]
    as_of = frame["Dt_Customer"].max() + pd.Timedelta(days=1)
    assert result.ledger.as_of == as_of.date().isoformat()
    assert t["age"] == as_of.year - row["Year_Birth"]
    assert t["seniority_days"] == (as_of - row["Dt_Customer"]).days
    assert t["total_spend"] == row["MntWines"] + row["MntMeatProducts"]
    assert t["share_MntWines"] == pytest.approx(row["MntWines"] / t["total_spend"])
    assert t["children"] == row["Kidhome"] + row["Teenhome"]
    assert t["total_purchases"] == row["NumWebPurchases"] + row["NumStorePurchases"]
    assert t["accepted_campaigns"] == row["AcceptedCmp1"] + row["AcceptedCmp2"]
    aside = result.ledger.set_aside
    assert aside["ID"] == "identifier" and aside["Z_CostContact"] == "constant"
    assert aside["Response"].startswith("outcome")
    assert "Response" not in result.model.features


def test_two_groups_are_found_and_described() -> None:
    frame = crm()
    result = custseg.segment(frame, seed=1)
    assert result.kind == "customers"
    seg = result.segments.set_index("customer_id")["segment"]
    truth = pd.Series(frame["Income"].to_numpy() > 55_000, index=frame["ID"].astype(str))
    assert pd.crosstab(truth, seg.loc[truth.index]).gt(0).sum(axis=1).max() <= max(
        1, result.model.k_ // 2
    )
    top = result.personas[1]
    assert top["z"]["Income"] > 0.5
    assert "Married" in top["portrait"]
    assert result.profiles["segment_name"].is_unique


@pytest.mark.parametrize(
    "columns",
    [["Gender", "Profession", "Married"], ["Age", "Income"], ["Age", "Gender", "Profession"]],
    ids=["categorical-only", "numeric-only", "mixed"],
)
def test_each_kind_of_table_segments(columns: list[str]) -> None:
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "Gender": rng.choice(["F", "M"], n),
            "Profession": rng.choice(["Artist", "Doctor", "Engineer", "Lawyer"], n),
            "Married": rng.choice(["Yes", "No"], n),
            "Age": rng.integers(18, 80, n).astype(float),
            "Income": rng.lognormal(10, 0.5, n),
        }
    )[["customer_id", *columns]]
    result = custseg.segment(frame, kind="customers", k_max=6)
    assert len(result.segments) == n
    assert result.segments["segment"].nunique() == result.model.k_ >= 2
    doc = json.loads(json.dumps(result.model_document()))
    again = persistence.from_dict(doc["model"])
    assert (again.predict(result.segments) + 1 == result.segments["segment"].to_numpy()).all()


def test_a_table_with_no_usable_feature_is_a_clear_error() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "constant": [1, 1, 1], "note": ["x", "y", "z"]}
    )
    frame["note"] = [f"free text {i}" for i in range(3)]
    with pytest.raises(SchemaError, match="no column can be used as a feature"):
        custseg.segment(
            frame, kind="customers", k=2, customer_rules=CustomerRules(max_categories=2)
        )


def test_outlier_policies() -> None:
    frame = crm()
    frame.loc[0, "Income"] = 666_666
    frame.loc[1, "Year_Birth"] = 1893
    clip = custseg.segment(frame, k=2)
    assert clip.ledger.kept_rows == len(frame)
    assert clip.ledger.outliers["Income"]["rows"] == 1
    assert clip.ledger.outliers["age"]["values"][-1] >= 120
    assert clip.segments["Income"].max() < 666_666
    drop = custseg.segment(frame, k=2, customer_rules=CustomerRules(outliers="drop"))
    assert drop.ledger.dropped["outlier"] == 2
    assert drop.ledger.kept_rows + sum(drop.ledger.dropped.values()) == len(frame)


def test_auto_detection_tells_transactions_from_customers(online_retail: Path) -> None:
    assert custseg.segment(crm(60), k=2).kind == "customers"
    lines = pd.read_parquet(online_retail).head(3000)
    assert custseg.segment(lines, k=2).kind == "transactions"


@needs_shared
def test_marketing_campaign_end_to_end(tmp_path: Path) -> None:
    result = custseg.run(SHARED_DATA / "customer_personality" / "marketing_campaign.csv", tmp_path)
    led = result.ledger
    assert led.input_rows == 2240
    assert led.kept_rows + sum(led.dropped.values()) == 2240
    assert led.imputed["Income"]["rows"] == 24
    assert led.grouped["Marital_Status"] == ["Absurd", "Alone", "YOLO"]
    assert led.set_aside["Z_CostContact"] == "constant" and led.set_aside["Z_Revenue"] == "constant"
    assert led.outliers["age"]["rows"] == 3
    assert 666_666 in led.outliers["Income"]["values"]
    assert any("182 rows equal another row" in n for n in led.notes)
    assert result.verdict.startswith(f"k = {result.model.k_}")
    profiles = pd.read_csv(tmp_path / "profiles.csv")
    assert profiles["description"].str.startswith("Typical customer").all()
    assert "mean_Response" in profiles.columns
    doc = json.loads((tmp_path / "model.json").read_text())
    assert doc["kind"] == "customers" and set(doc["personas"]) == {
        str(s) for s in profiles["segment"]
    }


@needs_shared
def test_train_csv_reports_external_validity_honestly(tmp_path: Path) -> None:
    result = custseg.run(SHARED_DATA / "customer_segmentation" / "Train.csv", tmp_path, lang="fr")
    led = result.ledger
    assert led.input_rows == 8068 and led.kept_rows + sum(led.dropped.values()) == 8068
    assert led.set_aside["Segmentation"].startswith("label")
    assert "Segmentation" not in result.model.features + list(result.model.categorical)
    ext = result.external
    assert ext is not None and ext["customers"] == 8068
    assert -0.1 < ext["ari"] < 0.6 and 0.0 <= ext["ami"] < 0.6
    assert "ARI" in result.verdict and "Segmentation" in result.verdict
    assert set(result.model.categorical) >= {"Gender", "Profession"}
    assert led.imputed["Work_Experience"]["rows"] == 829


@needs_shared
def test_mall_customers_end_to_end(tmp_path: Path) -> None:
    result = custseg.run(SHARED_DATA / "mall_customers" / "Mall_Customers.csv", tmp_path, seed=0)
    assert result.ledger.input_rows == 200 and result.ledger.kept_rows == 200
    assert result.segments["customer_id"].iloc[0] == "0001"
    assert 3 <= result.model.k_ <= 8
    assert result.model.categorical == ["Genre"]


def test_customer_run_report_names_segments_and_dummies(tmp_path: Path) -> None:
    result = custseg.run(crm(), tmp_path, k=2)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    for name in result.segment_names.values():
        assert name in html
    # one-hot columns are named in plain words in the loadings: column: category
    assert "Marital status: Married" in html
    # one bar chart of category shares per segment for each categorical column
    assert 'id="fig-cat-1"' in html and "Marital status: share of each category" in html
    assert "None → None" not in html
    assert result.model.transformed_feature_names()[: len(result.model.features)] == list(
        result.model.features
    )


def test_cli_declares_roles_from_a_json_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from custseg.cli import app

    frame = crm(80).rename(columns={"MntWines": "wine", "MntMeatProducts": "meat", "ID": "client"})
    data = tmp_path / "crm.csv"
    frame.to_csv(data, index=False)
    roles = tmp_path / "roles.json"
    roles.write_text(json.dumps({"id": "client", "spend": ["wine", "meat"]}))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(data),
            "--kind",
            "customers",
            "--roles",
            str(roles),
            "--out",
            str(out),
            "--k",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "model.json").read_text())
    assert "total_spend" in doc["features"] and "share_wine" in doc["features"]
    audit = json.loads((out / "audit.json").read_text())
    assert audit["set_aside"]["client"] == "identifier"
    roles.write_text("[1, 2]")
    bad = CliRunner().invoke(app, ["run", str(data), "--roles", str(roles), "--out", str(out)])
    assert bad.exit_code == 1 and "--roles" in bad.output and "Traceback" not in bad.output
