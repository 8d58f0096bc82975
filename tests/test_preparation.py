"""The customer-table preparation: fitted once, saved in model.json, replayed on raw rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg.errors import ModelError, NotFittedError, SchemaError
from custseg.model import CustomerSegmenter
from custseg.model.run import RunModel
from custseg.stages.customers import CustomerPreparation, CustomerRules
from tests.conftest import SHARED_DATA

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.exists(), reason="../shared/data (public datasets) is not beside this clone"
)

#: the three real customer tables: path under ../shared/data and field separator
TABLES = {
    "marketing_campaign": ("customer_personality/marketing_campaign.csv", "\t"),
    "train": ("customer_segmentation/Train.csv", ","),
    "mall": ("mall_customers/Mall_Customers.csv", ","),
}


def round_trip(prep: CustomerPreparation) -> CustomerPreparation:
    """The preparation through JSON text and back."""
    return CustomerPreparation.from_dict(json.loads(json.dumps(prep.to_dict())))


@pytest.fixture(scope="module", params=list(TABLES), ids=list(TABLES))
def real_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One saved run (seed 0) of a real customer table, with the raw rows read by pandas."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data (public datasets) is not beside this clone")
    rel, sep = TABLES[request.param]
    path = SHARED_DATA / rel
    out = tmp_path_factory.mktemp(request.param)
    result = custseg.run(path, out, seed=0)
    # raw rows as a user would read them: every value as text, only empty fields missing
    raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    return {
        "path": path,
        "raw": raw,
        "result": result,
        "doc": json.loads((out / "model.json").read_text(encoding="utf-8")),
        "segments": pd.read_csv(out / "segments.csv", dtype={"customer_id": str}),
    }


@needs_shared
def test_fitted_on_the_file_it_is_the_saved_preparation(real_run: dict[str, Any]) -> None:
    prep = CustomerPreparation().fit(real_run["path"])
    assert prep.to_dict() == real_run["doc"]["preparation"]
    assert round_trip(prep).to_dict() == prep.to_dict()


@needs_shared
@pytest.mark.parametrize("rows", ["file", "dataframe"])
def test_replaying_the_saved_preparation_gives_the_training_features(
    real_run: dict[str, Any], rows: str
) -> None:
    prep = CustomerPreparation.from_dict(real_run["doc"]["preparation"])
    data = real_run["path"] if rows == "file" else real_run["raw"]
    features = real_run["result"].segments.drop(columns=["segment", "segment_name"])
    pd.testing.assert_frame_equal(prep.transform(data), features, check_exact=True)


@needs_shared
def test_the_saved_model_scores_raw_rows_into_the_run_segments(real_run: dict[str, Any]) -> None:
    model = RunModel.from_document(real_run["doc"])
    scored = model.predict(real_run["raw"])
    segments = real_run["segments"]
    assert scored.index.tolist() == segments["customer_id"].tolist()
    assert (scored.to_numpy() == segments["segment"].to_numpy()).all()
    # the estimator alone gives the labels 0..k-1 of the same customers
    labels = model.segmenter.predict(model.features(real_run["raw"]))
    assert (labels + 1 == segments["segment"].to_numpy()).all()


# ---- small hand-made tables ---------------------------------------------------------------


def crm(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A customer table with an id, numbers, an ordered column, categories (one with rare
    values), an enrolment date, spend and a label."""
    rng = np.random.default_rng(seed)
    status = rng.choice(["Married", "Single", "Together"], n)
    status[:2] = ["YOLO", "Alone"]  # 1 % each: grouped into Other
    return pd.DataFrame(
        {
            "ID": [f"c{i:03d}" for i in range(n)],
            "Year_Birth": rng.integers(1950, 2000, n),
            "Income": rng.normal(50_000, 10_000, n).round(),
            "Spending_Score": rng.choice(["Low", "Average", "High"], n),
            "Marital_Status": status,
            "Gender": rng.choice(["F", "M"], n),
            "Dt_Customer": pd.Timestamp("2013-01-01")
            + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
            "MntWines": rng.integers(0, 1000, n),
            "MntFruits": rng.integers(0, 100, n),
            "Segmentation": rng.choice(["A", "B"], n),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> CustomerPreparation:
    return round_trip(CustomerPreparation().fit(crm()))


def new_rows(**changes: list[Any]) -> pd.DataFrame:
    """Three new customers like those of :func:`crm`, with ``changes`` applied."""
    rows = pd.DataFrame(
        {
            "ID": ["n1", "n2", "n3"],
            "Year_Birth": [1980, 1990, 1970],
            "Income": [40_000.0, 60_000.0, 55_000.0],
            "Spending_Score": ["Low", "High", "Average"],
            "Marital_Status": ["Married", "Single", "Together"],
            "Gender": ["F", "M", "F"],
            "Dt_Customer": pd.to_datetime(["2013-02-01", "2014-01-01", "2013-06-01"]),
            "MntWines": [100, 200, 300],
            "MntFruits": [10, 20, 30],
        }
    )
    for col, values in changes.items():
        rows[col] = values
    return rows


def test_what_is_learned(fitted: CustomerPreparation) -> None:
    assert fitted.id_ == "ID" and fitted.label_ == "Segmentation"
    assert fitted.numeric_[:3] == ["age", "seniority_days", "total_spend"]
    assert "Spending_Score" in fitted.numeric_ and "Income" in fitted.numeric_
    assert fitted.categorical_ == ["Marital_Status", "Gender"]
    spec = {d["name"]: d for d in fitted.columns_}
    assert spec["Marital_Status"]["rare"] == ["Alone", "YOLO"]
    assert spec["Spending_Score"]["vocabulary"] == ["low", "average", "high"]
    assert fitted.as_of_ == (crm()["Dt_Customer"].max() + pd.Timedelta(days=1)).date()
    assert set(fitted.fences_) >= {"Income", "age", "total_spend"}


def test_new_rows_are_prepared_like_training_rows(fitted: CustomerPreparation) -> None:
    out = fitted.transform(new_rows()).set_index("customer_id")
    as_of = pd.Timestamp(fitted.as_of_)
    assert out.loc["n1", "age"] == as_of.year - 1980
    assert out.loc["n2", "seniority_days"] == (as_of - pd.Timestamp("2014-01-01")).days
    assert out.loc["n3", "total_spend"] == 330
    assert out.loc["n3", "share_MntWines"] == pytest.approx(300 / 330)
    assert out["Spending_Score"].tolist() == [0.0, 2.0, 1.0]
    assert "Segmentation" not in out  # the label is not needed to prepare rows
    assert list(out.columns) == [
        c for c in fitted.transform(crm()).columns if c not in {"customer_id", "Segmentation"}
    ]


def test_unseen_categories_become_other_or_unknown(fitted: CustomerPreparation) -> None:
    rows = new_rows(Marital_Status=["Widow", "Alone", "Married"], Gender=["X", None, "M"])
    out = fitted.transform(rows)
    # a column with rare categories grouped: unseen → Other, rare → Other
    assert out["Marital_Status"].tolist() == ["Other", "Other", "Married"]
    # no grouping: unseen and missing → Unknown, which the model one-hot encodes as all zeros
    assert out["Gender"].tolist() == ["Unknown", "Unknown", "M"]
    model = CustomerSegmenter(
        fitted.numeric_, categorical=fitted.categorical_, k=2, random_state=0
    ).fit(fitted.transform(crm()))
    assert set(model.predict(out)) <= set(range(model.k_ + 1))


def test_missing_values_get_the_training_medians(fitted: CustomerPreparation) -> None:
    rows = new_rows(
        Income=[None, 1e9, 50_000.0],
        Spending_Score=["Low", "Enormous", None],
        MntWines=[None, None, 5],
        MntFruits=[None, 1, 5],
    )
    out = fitted.transform(rows)
    assert out.loc[0, "Income"] == fitted.medians_["Income"]
    assert out.loc[1, "Income"] == fitted.fences_["Income"][1]  # clipped to the fence
    # outside the ordered vocabulary, or missing: the median rank
    assert out.loc[1:, "Spending_Score"].tolist() == [fitted.medians_["Spending_Score"]] * 2
    assert out.loc[0, "total_spend"] == fitted.medians_["total_spend"]  # no spend at all
    assert out.loc[0, "share_MntWines"] == 0.0
    assert not out[fitted.numeric_].isna().any().any()


def test_rows_without_an_id_are_dropped_and_duplicates_kept_once(
    fitted: CustomerPreparation,
) -> None:
    rows = pd.concat([new_rows(ID=["n1", None, "n3"]), new_rows().head(1)], ignore_index=True)
    assert fitted.transform(rows)["customer_id"].tolist() == ["n1", "n3"]


def test_a_table_without_id_numbers_its_rows() -> None:
    frame = crm().drop(columns=["ID", "Segmentation"])
    prep = round_trip(CustomerPreparation().fit(frame))
    assert prep.id_ is None
    assert prep.transform(new_rows().drop(columns="ID"))["customer_id"].tolist() == ["1", "2", "3"]


def test_a_needed_column_missing_is_named(fitted: CustomerPreparation) -> None:
    with pytest.raises(SchemaError, match=r"no column 'MntFruits', which the customer prep"):
        fitted.transform(new_rows().drop(columns="MntFruits"))
    with pytest.raises(SchemaError, match=r"no column 'ID'"):
        fitted.transform(new_rows().drop(columns="ID"))


def test_saved_number_convention_and_date_format_are_applied_to_new_rows() -> None:
    n = 60
    frame = pd.DataFrame(
        {
            "ID": [str(i) for i in range(n)],
            # decimal commas with dots between thousands: the European convention
            "Income": [f"{40 + i}.{i % 10}00,50" for i in range(n)],
            # month first: 12/31/2012 cannot be read day first
            "Dt_Customer": [f"12/{i % 28 + 1:02d}/2012" for i in range(n - 1)] + ["12/31/2012"],
            "Gender": ["F", "M"] * (n // 2),
        }
    )
    prep = round_trip(CustomerPreparation().fit(frame))
    assert prep.reading_["Income"] == {"parse": "number", "convention": "eu"}
    assert prep.reading_["Dt_Customer"] == {"parse": "date", "format": "%m/%d/%Y"}
    rows = pd.DataFrame(
        {"ID": ["x"], "Income": ["42.500"], "Dt_Customer": ["01/02/2013"], "Gender": ["F"]}
    )
    out = prep.transform(rows)
    assert out.loc[0, "Income"] == 42_500.0  # not 42.5: the saved convention, not a new guess
    assert (
        out.loc[0, "seniority_days"]
        == (pd.Timestamp("2013-01-01") - pd.Timestamp("2013-01-02")).days
    )


def test_the_drop_policy_drops_new_rows_outside_the_fences() -> None:
    prep = CustomerPreparation(rules=CustomerRules(outliers="drop")).fit(crm())
    rows = new_rows(Income=[40_000.0, 1e9, -1e9])
    assert prep.transform(rows)["customer_id"].tolist() == ["n1"]
    keep = CustomerPreparation(rules=CustomerRules(outliers="keep")).fit(crm())
    assert keep.transform(rows)["Income"].tolist() == [40_000.0, 1e9, -1e9]


def test_not_fitted_and_damaged_preparations_are_clear_errors(
    fitted: CustomerPreparation,
) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        CustomerPreparation().transform(new_rows())
    with pytest.raises(ModelError, match="not a custseg customer preparation"):
        CustomerPreparation.from_dict({"format": "other"})
    doc = fitted.to_dict()
    bad_op = json.loads(json.dumps(doc))
    bad_op["columns"][0]["op"] = "eval"
    with pytest.raises(ModelError, match="operation 'eval'"):
        CustomerPreparation.from_dict(bad_op)
    bad_parser = json.loads(json.dumps(doc))
    bad_parser["reading"]["Income"] = {"parse": "python"}
    with pytest.raises(ModelError, match="parser 'python'"):
        CustomerPreparation.from_dict(bad_parser)
    incomplete = {k: v for k, v in doc.items() if k != "medians"}
    with pytest.raises(ModelError, match="incomplete or damaged"):
        CustomerPreparation.from_dict(incomplete)
    unknown = json.loads(json.dumps(doc))
    unknown["numeric"].append("ghost")
    with pytest.raises(ModelError, match="'ghost' has no column definition"):
        CustomerPreparation.from_dict(unknown)


def test_a_customer_run_saves_its_preparation_and_a_transaction_run_does_not(
    online_retail: Path,
) -> None:
    result = custseg.segment(crm(), k=2)
    doc = json.loads(json.dumps(result.model_document()))
    scored = RunModel.from_document(doc).predict(crm())
    assert (scored.to_numpy() == result.segments["segment"].to_numpy()).all()
    lines = pd.read_parquet(online_retail).head(2000)
    run = custseg.segment(lines, k=2)
    assert "preparation" not in run.model_document()
    # a transactions model replays the cleaning rules and features on the raw lines
    scored = RunModel.from_document(json.loads(json.dumps(run.model_document()))).predict(lines)
    assert scored.index.tolist() == run.segments["customer_id"].tolist()
    assert (scored.to_numpy() == run.segments["segment"].to_numpy()).all()


def test_a_customer_model_scores_rows_without_an_id_as_no_customer() -> None:
    doc = json.loads(json.dumps(custseg.segment(crm(), k=2).model_document()))
    rows = crm().head(5).assign(ID=None)
    scored = RunModel.from_document(doc).predict(rows)
    assert scored.empty and scored.name == "segment"


def test_a_run_model_refuses_a_document_of_another_kind() -> None:
    with pytest.raises(custseg.ModelError, match="not a custseg run model"):
        RunModel.from_document({"format": "custseg.model/2"})
    doc = json.loads(json.dumps(custseg.segment(crm(), k=2).model_document()))
    del doc["preparation"]
    with pytest.raises(custseg.ModelError, match="without its preparation"):
        RunModel.from_document(doc)
