"""custseg export-sql: the run's scoring as one SQL SELECT, executed on DuckDB and PostgreSQL.

The labels the query gives equal Python scoring (``custseg.score``) for every customer, for a
transactions model (synthetic lines and Online Retail) and customer-table models (Train.csv →
Test.csv; the marketing-campaign table with engineered variables). PostgreSQL is a real
server started by the tests (tests/postgres.py), Spark a local session of pyspark with its
default settings (as a user's); Snowflake and BigQuery output is checked by parsing it with
sqlglot.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlglot
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.engines import connect
from custseg.errors import CustsegError
from custseg.lifecycle.sql_export import DIALECTS, export_sql, portable_pattern
from custseg.model.run import RunModel
from tests.conftest import ONLINE_RETAIL, SHARED_DATA
from tests.postgres import load_frame

TRAIN = SHARED_DATA / "customer_segmentation" / "Train.csv"
TEST = SHARED_DATA / "customer_segmentation" / "Test.csv"
CAMPAIGN = SHARED_DATA / "customer_personality" / "marketing_campaign.csv"
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    lines, _ = make_transactions(400, seed=12)
    out = tmp_path_factory.mktemp("synthetic") / "run"
    custseg.run(lines, out, seed=0, k=4)
    return out, lines


@pytest.fixture(scope="module")
def train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not TRAIN.exists():
        pytest.skip(f"{TRAIN} is not on this machine")
    out = tmp_path_factory.mktemp("train") / "run"
    custseg.run(TRAIN, out, seed=0)
    return out


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    if not CAMPAIGN.exists():
        pytest.skip(f"{CAMPAIGN} is not on this machine")
    out = tmp_path_factory.mktemp("campaign") / "run"
    custseg.run(CAMPAIGN, out, seed=0)
    table = pd.read_csv(CAMPAIGN, sep="\t")
    table["Dt_Customer"] = pd.to_datetime(table["Dt_Customer"], format="%d-%m-%Y")
    return out, table


def on_duckdb(sql: str, table: pd.DataFrame, name: str) -> pd.DataFrame:
    with connect() as engine:
        engine.register(name, table)
        return engine.frame(sql)


def on_postgres(server, sql: str, table: pd.DataFrame, name: str) -> pd.DataFrame:
    with server.connect() as conn:
        load_frame(conn, name, table)
        with conn.cursor() as cur:
            cur.execute(sql)
            cols = [c.name for c in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=cols)


def on_spark(master: str, sql: str, table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The exported SQL run as it is in a Spark session of default settings (the table
    registered as a temporary view)."""
    from custseg.config import settings
    from custseg.engines.spark import spark_session

    session = spark_session(master, settings()).newSession()
    session.createDataFrame(table).createOrReplaceTempView(name)
    return session.sql(sql).toArrow().to_pandas()


def same_labels(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every customer scored by Python is in the SQL result, with the same segment and name."""
    got = got.assign(customer_id=got["customer_id"].astype(str)).set_index("customer_id")
    want = expected.set_index("customer_id")
    assert sorted(got.index) == sorted(want.index)
    got = got.loc[want.index]
    assert (got["segment"].astype(int).to_numpy() == want["segment"].to_numpy()).all()
    assert got["segment_name"].tolist() == want["segment_name"].tolist()
    assert got["distance"].astype(float).to_numpy() == pytest.approx(
        want["distance"].to_numpy(), rel=1e-9, abs=1e-9
    )


def test_synthetic_transactions_on_duckdb(synthetic) -> None:
    run, lines = synthetic
    model = RunModel.load(run)
    same_labels(
        on_duckdb(export_sql(model, table="lines"), lines, "lines"), custseg.score(run, lines).table
    )
    early = lines[lines["InvoiceDate"] < "2024-09-01"]
    same_labels(
        on_duckdb(export_sql(model, table="lines"), early, "lines"), custseg.score(run, early).table
    )
    as_of = pd.Timestamp("2024-06-15").date()
    same_labels(
        on_duckdb(export_sql(model, table="lines", as_of=as_of), lines, "lines"),
        custseg.score(run, lines, as_of=as_of).table,
    )


def test_synthetic_transactions_on_postgres(synthetic, postgres) -> None:
    run, lines = synthetic
    model = RunModel.load(run)
    renamed = lines.rename(columns={"Quantity": "qty"})
    sql = export_sql(model, dialect="postgres", table="lines", mapping={"quantity": "qty"})
    same_labels(on_postgres(postgres, sql, renamed, "lines"), custseg.score(run, lines).table)
    as_of = pd.Timestamp("2024-06-15").date()
    sql = export_sql(model, dialect="postgres", table="lines", as_of=as_of)
    same_labels(
        on_postgres(postgres, sql, lines, "lines"), custseg.score(run, lines, as_of=as_of).table
    )


@pytest.mark.slow
def test_online_retail_on_duckdb_and_postgres(tmp_path: Path, postgres) -> None:
    run = tmp_path / "run"
    custseg.run(ONLINE_RETAIL, run, seed=0)
    lines = pd.read_parquet(ONLINE_RETAIL)
    model = RunModel.load(run)
    segments = pd.read_parquet(run / "segments.parquet")
    got = on_duckdb(export_sql(model, table="retail"), lines, "retail")
    same_labels(got, custseg.score(run, lines).table)
    assert got["segment"].tolist() == segments["segment"].tolist()  # the run's own segments
    # PostgreSQL on the first 80,000 lines (loading all 541,909 through COPY takes long)
    part = lines.head(80_000)
    got = on_postgres(
        postgres, export_sql(model, dialect="postgres", table="retail"), part, "retail"
    )
    same_labels(got, custseg.score(run, part).table)


def test_synthetic_transactions_on_spark(synthetic, spark) -> None:
    run, lines = synthetic
    model = RunModel.load(run)
    sql = export_sql(model, dialect="spark", table="lines")
    same_labels(on_spark(spark, sql, lines, "lines"), custseg.score(run, lines).table)
    as_of = pd.Timestamp("2024-06-15").date()
    sql = export_sql(model, dialect="spark", table="lines", as_of=as_of)
    same_labels(on_spark(spark, sql, lines, "lines"), custseg.score(run, lines, as_of=as_of).table)


def test_customer_table_on_spark(train, spark) -> None:
    model = RunModel.load(train)
    test = pd.read_csv(TEST)
    expected = custseg.score(train, TEST).table
    got = on_spark(spark, export_sql(model, dialect="spark"), test, "customers")
    same_labels(got, expected)


def test_customer_table_train_to_test(train, postgres) -> None:
    model = RunModel.load(train)
    test = pd.read_csv(TEST)
    expected = custseg.score(train, TEST).table
    assert len(expected) == 2627
    same_labels(on_duckdb(export_sql(model), test, "customers"), expected)
    same_labels(
        on_postgres(postgres, export_sql(model, dialect="postgres"), test, "customers"), expected
    )


@pytest.mark.slow
def test_customer_table_with_engineered_variables(campaign, postgres) -> None:
    run, table = campaign
    model = RunModel.load(run)
    expected = custseg.score(run, CAMPAIGN).table
    segments = pd.read_parquet(run / "segments.parquet")
    assert expected["segment"].tolist() == segments["segment"].tolist()
    same_labels(on_duckdb(export_sql(model, table="crm"), table, "crm"), expected)
    sql = export_sql(model, dialect="postgres", table="crm")
    same_labels(on_postgres(postgres, sql, table, "crm"), expected)


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d not in {"duckdb", "postgres"}])
# Spark's SQL also runs above (test_*_on_spark); parsing it checks the other options too
def test_other_dialects_parse(synthetic, train, dialect: str) -> None:
    for run in (synthetic[0], train):
        sql = export_sql(RunModel.load(run), dialect=dialect)
        parsed = sqlglot.parse(sql, read=dialect)
        assert len([p for p in parsed if p is not None]) == 1
        assert parsed[0] is not None and parsed[0].find(sqlglot.exp.Select) is not None


def test_portable_patterns_and_errors(synthetic) -> None:
    assert portable_pattern("^(?i:gift_)") == "^([gG][iI][fF][tT]_)"
    assert portable_pattern("^A[0-9]+$") == "^A[0-9]+$"
    with pytest.raises(CustsegError, match="cannot be written portably"):
        portable_pattern("^(?i:[a-z]+)")
    with pytest.raises(CustsegError, match="--dialect 'oracle' unknown"):
        export_sql(RunModel.load(synthetic[0]), dialect="oracle")


def test_cli_export_sql(synthetic, tmp_path: Path) -> None:
    run, lines = synthetic
    out = tmp_path / "score.sql"
    result = runner.invoke(
        app,
        ["export-sql", str(run), "--dialect", "duckdb", "--table", "lines", "--output", str(out)],
    )
    assert result.exit_code == 0, result.output
    same_labels(on_duckdb(out.read_text(), lines, "lines"), custseg.score(run, lines).table)
    printed = runner.invoke(app, ["export-sql", str(run / "model.json"), "--dialect", "postgres"])
    assert printed.exit_code == 0 and '"transactions"' in printed.output
    bad = runner.invoke(app, ["export-sql", str(run), "--map", "quantity"])
    assert bad.exit_code == 1 and "--map 'quantity': write it as name=column" in bad.output


def test_ward_model_scores_in_sql_as_in_python(tmp_path: Path) -> None:
    """Ward's segments are scored by nearest centroid, so its SQL gives Python's labels."""
    lines, _ = make_transactions(300, seed=3)
    run = tmp_path / "ward"
    custseg.run(lines, run, seed=0, k=3, algorithm="ward")
    model = RunModel.load(run)
    assert model.segmenter.algorithm == "ward"
    same_labels(
        on_duckdb(export_sql(model, table="lines"), lines, "lines"), custseg.score(run, lines).table
    )


def test_models_without_sql_scoring_are_refused_in_one_line(tmp_path: Path) -> None:
    lines, _ = make_transactions(300, seed=3)
    gmm, split = tmp_path / "gmm", tmp_path / "split"
    custseg.run(lines, gmm, seed=0, k=3, algorithm="gmm")
    custseg.run(lines, split, seed=0, split="lifecycle")
    with pytest.raises(CustsegError, match="Gaussian mixture, which scores by the gaussian-post"):
        export_sql(RunModel.load(gmm))
    with pytest.raises(CustsegError, match="split by lifecycle"):
        export_sql(RunModel.load(split))
    result = runner.invoke(app, ["export-sql", str(gmm)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "custseg score" in result.output
