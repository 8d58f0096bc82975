"""Same answer everywhere: the audit and the features run in Spark give DuckDB's.

The Spark engine (local mode, two cores) runs the stages' SQL, written once in DuckDB's dialect,
transpiled by sqlglot. On the same files, both engines must give the same ledger (every
reason's rows and money, as audit.json has them), the same customer features (relative 1e-9)
and, with the same seed, the same segments. Inputs: Online Retail (a seeded quarter of its
invoices; all 541,909 lines with CUSTSEG_CONFORMANCE_FULL=1) as Parquet, and the synthetic
lines with every kind of noise of tests/test_engine_conformance.py, typed as Parquet and as
text in CSV files (also gzip-compressed, and in a Hive-partitioned folder).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import custseg
from custseg.config import Settings
from custseg.engines import Engine, connect
from custseg.stages.audit.rules import RULE_ORDER
from tests.test_engine_conformance import (
    as_european_text,
    as_text,
    noisy_lines,
    retail_lines,
    same_answer,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The inputs, written once: Parquet and CSV (plain, gzip, Hive-partitioned)."""
    root = tmp_path_factory.mktemp("spark-inputs")
    noisy = noisy_lines()
    out = {
        "retail": root / "retail.parquet",
        "noisy": root / "noisy.parquet",
        "noisy_text": root / "noisy_text.csv",
        "noisy_eu": root / "noisy_eu.csv.gz",
        "noisy_parts": root / "noisy_parts",
    }
    retail_lines().to_parquet(out["retail"], index=False)
    noisy.to_parquet(out["noisy"], index=False)
    as_text(noisy).to_csv(out["noisy_text"], index=False)
    with gzip.open(out["noisy_eu"], "wt", encoding="utf-8", newline="") as fh:
        as_european_text(noisy).to_csv(fh, index=False, sep=";")
    for country, part in noisy.groupby(noisy["Country"].fillna("none")):
        folder = out["noisy_parts"] / f"region={country}"
        folder.mkdir(parents=True)
        part.drop(columns="Country").to_parquet(folder / "part.parquet", index=False)
    return out


@pytest.fixture
def engine(spark: str, tmp_path: Path) -> Iterator[Engine]:
    scratch = tmp_path / "engine-tmp"
    scratch.mkdir()
    with connect("spark", settings=Settings(threads=2, temp_dir=str(scratch)), master=spark) as e:
        yield e


@pytest.mark.parametrize("name", ["noisy", "noisy_text", "noisy_eu"])
def test_synthetic_noise_same_answer(engine: Engine, files: dict[str, Path], name: str) -> None:
    duck = custseg.segment(str(files[name]), seed=0)
    spark = custseg.segment(str(files[name]), seed=0, con=engine)
    same_answer(duck, spark)
    dropped = spark.ledger.dropped
    # every rule fires on this input, but the as-of cut (no --as-of is given)
    for reason in (r for r in RULE_ORDER if r != "after_as_of"):
        assert dropped.get(reason, 0) > 0, reason


def test_online_retail_same_answer(engine: Engine, files: dict[str, Path]) -> None:
    # k given: the choice of k reads only the features, compared here to 1e-9
    duck = custseg.segment(str(files["retail"]), seed=0, k=5)
    spark = custseg.segment(str(files["retail"]), seed=0, k=5, con=engine)
    same_answer(duck, spark)
    assert spark.ledger.input_rows == len(pd.read_parquet(files["retail"]))
    assert spark.ledger.dropped["duplicate"] > 0
    assert spark.ledger.kept_by_kind["cancellation"] > 0


def test_partitioned_folder_and_as_of(engine: Engine, files: dict[str, Path]) -> None:
    """A Hive-partitioned folder: its key is a column for both engines; an as-of cut."""
    folder = str(files["noisy_parts"])
    duck = custseg.segment(folder, seed=1, as_of="2024-10-01")
    spark = custseg.segment(folder, seed=1, as_of="2024-10-01", con=engine)
    same_answer(duck, spark)
    assert spark.ledger.dropped["after_as_of"] > 0


def test_lifecycle_split_and_customer_table(engine: Engine, tmp_path: Path) -> None:
    """The other two paths of a run read the engine too: the same segments (small inputs)."""
    from custseg.datasets import make_transactions

    lines, _ = make_transactions(150, seed=2)
    path = tmp_path / "small.parquet"
    lines.to_parquet(path, index=False)
    duck = custseg.segment(str(path), seed=0, split="lifecycle", k=3)
    spark = custseg.segment(str(path), seed=0, split="lifecycle", k=3, con=engine)
    assert list(duck.segments["segment"]) == list(spark.segments["segment"])
    crm = tmp_path / "crm.csv"
    duck.segments[["customer_id", "recency_days", "frequency", "monetary"]].to_csv(crm, index=False)
    duck = custseg.segment(str(crm), seed=0, kind="customers", k=3)
    spark = custseg.segment(str(crm), seed=0, kind="customers", k=3, con=engine)
    assert list(duck.segments["segment"]) == list(spark.segments["segment"])


def test_spark_table_of_the_catalog(engine: Engine, files: dict[str, Path]) -> None:
    """A table of Spark's catalog (a Parquet table, as a lake's tables are) is read in place."""
    from custseg.engines.spark import spark_session
    from custseg.sources.readers import open_table

    session = spark_session(None, engine.settings)
    session.sql("CREATE DATABASE IF NOT EXISTS sales")
    session.sql("DROP TABLE IF EXISTS sales.lines")
    session.sql(f"CREATE TABLE sales.lines USING parquet LOCATION '{files['noisy']}'")
    try:
        src = open_table(engine, "spark", table="sales.lines")
        assert engine.scalar(f"SELECT count(*) FROM {src.view}") == len(noisy_lines())
        with pytest.raises(custseg.CustsegError, match=r"no table 'sales\.nothing'"):
            open_table(engine, "spark", table="sales.nothing")
    finally:
        session.sql("DROP TABLE IF EXISTS sales.lines")


def test_a_stopped_spark_is_one_line_then_starts_again(engine: Engine, files) -> None:
    """Spark stopping under a run (its JVM out of memory…) is said as such, not blamed on the
    input; the next engine starts a new session. Last of the module: it stops the session."""
    from custseg.engines.spark import spark_session
    from custseg.errors import EngineStopped

    spark_session(None, engine.settings).sparkContext.stop()
    with pytest.raises(EngineStopped, match="Spark stopped while it ran") as caught:
        custseg.segment(str(files["noisy"]), seed=0, con=engine)
    assert "\n" not in str(caught.value) and "damaged" not in str(caught.value)
    with connect("spark", settings=engine.settings) as fresh:
        assert fresh.scalar("SELECT 40 + ?", [2]) == 42
