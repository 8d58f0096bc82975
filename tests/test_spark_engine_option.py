"""``--engine spark`` on run, explore, score, track and sql: the same answer as DuckDB's.

Lines of Online Retail (a seeded twentieth of its invoices, every line of a chosen invoice)
are written as a Hive-partitioned Parquet folder (``month=…/``, as a lake holds them), as
single Parquet files and as a table of Spark's catalog. The commands read them on Spark
(local mode, the session's JVM) and on DuckDB and must give the same run folder figures,
quality figures, scores, tracking and views of ``custseg sql`` (queried in Spark's SQL, what could
reach files or Java refused). Wrong combinations are one-line errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import custseg
from tests.test_engine_option import cli, frames_close, one_line_error, sample, views_equal

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT / "data" / "online_retail.parquet"
#: lines before this day train the run; the lines from it on are the new lines scored
SPLIT = pd.Timestamp("2011-09-01")


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """The sampled lines as files, a partitioned folder, and the catalog table sales.lines."""
    from custseg.config import settings
    from custseg.engines.spark import spark_session

    folder = tmp_path_factory.mktemp("lake")
    lines = sample(0.05)
    files = {
        "lines": folder / "lines.parquet",
        "old": folder / "old.parquet",
        "new": folder / "new.parquet",
        "parts": folder / "parts",
    }
    lines.to_parquet(files["lines"], index=False)
    lines[lines["InvoiceDate"] < SPLIT].to_parquet(files["old"], index=False)
    lines[lines["InvoiceDate"] >= SPLIT].to_parquet(files["new"], index=False)
    month = lines["InvoiceDate"].dt.strftime("%Y-%m")
    for key, part in lines.groupby(month):
        (files["parts"] / f"month={key}").mkdir(parents=True)
        part.to_parquet(files["parts"] / f"month={key}" / "part.parquet", index=False)
    session = spark_session(spark, settings())
    session.sql("CREATE DATABASE IF NOT EXISTS sales")
    session.sql("DROP TABLE IF EXISTS sales.lines")
    session.sql(f"CREATE TABLE sales.lines USING parquet LOCATION '{files['lines']}'")
    yield {"frame": lines, **files}
    session.sql("DROP TABLE IF EXISTS sales.lines")


def test_run_a_partitioned_folder_on_spark(lake, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CUSTSEG_SPARK_MASTER", raising=False)  # --spark-master sets it
    parts = str(lake["parts"])
    cli("run", parts, "--out", str(tmp_path / "duck"), "--seed", "0", "--k", "4")
    cli(
        "run", parts, "--engine", "spark", "--spark-master", "local[2]",
        "--out", str(tmp_path / "spark"), "--seed", "0", "--k", "4",
    )  # fmt: skip
    for name in ("segments.csv", "profiles.csv", "model.json", "audit.json"):
        duck = (tmp_path / "duck" / name).read_bytes()
        assert (tmp_path / "spark" / name).read_bytes() == duck, name
    audit = json.loads((tmp_path / "spark" / "audit.json").read_text())
    assert audit["input_rows"] == len(lake["frame"])


def test_run_a_table_of_the_catalog(lake, tmp_path: Path) -> None:
    cli("run", str(lake["lines"]), "--out", str(tmp_path / "duck"), "--seed", "0", "--k", "4")
    cli(
        "run", "--engine", "spark", "--table", "sales.lines",
        "--out", str(tmp_path / "spark"), "--seed", "0", "--k", "4",
    )  # fmt: skip
    duck = (tmp_path / "duck" / "segments.csv").read_bytes()
    assert (tmp_path / "spark" / "segments.csv").read_bytes() == duck
    manifest = (tmp_path / "spark" / "report.html").read_text(encoding="utf-8")
    assert "custseg run --engine spark --table sales.lines --out DIR" in manifest


def test_explore_on_spark_gives_the_figures_of_duckdb(lake) -> None:
    duck = custseg.explore(lake["lines"])
    spark = custseg.explore(lake["lines"], engine="spark")
    a, b = duck.ledger.to_dict(), spark.ledger.to_dict()
    assert a == b
    assert spark.summary == duck.summary
    assert spark.ledger.dropped["missing_customer_id"] > 0


def test_explore_sql_prints_the_spark_queries(lake) -> None:
    out = cli("explore", str(lake["lines"]), "--engine", "spark", "--sql")
    assert "Spark" in out and "CACHE TABLE" in out


def test_score_on_spark_equals_score_on_duckdb(lake, tmp_path: Path) -> None:
    run = tmp_path / "run"
    custseg.run(lake["old"], run, seed=0, k=4)
    cli("score", str(run), str(lake["new"]), "--out", str(tmp_path / "duck"))
    cli("score", str(run), str(lake["new"]), "--engine", "spark", "--out", str(tmp_path / "sp"))
    for name in ("scores.csv", "audit.json", "drift.json"):
        duck = (tmp_path / "duck" / name).read_bytes()
        assert (tmp_path / "sp" / name).read_bytes() == duck, name


def test_track_on_spark_equals_track_on_duckdb(lake, tmp_path: Path) -> None:
    options = ["--k", "3", "--every", "3M", "--start", "2011-06-01", "--seed", "0"]
    cli("track", str(lake["lines"]), "--out", str(tmp_path / "duck"), *options)
    cli("track", str(lake["lines"]), "--engine", "spark", "--out", str(tmp_path / "sp"), *options)
    for name in ("track.csv", "migrations.csv", "track.json"):
        duck = (tmp_path / "duck" / name).read_bytes()
        assert (tmp_path / "sp" / name).read_bytes() == duck, name


def test_sql_on_spark_gives_the_views_of_duckdb(lake) -> None:
    views_equal(lake["lines"], input=lake["lines"], engine="spark")
    # a table of Spark's catalog, no INPUT
    views_equal(lake["lines"], engine="spark", table="sales.lines")


def test_sql_on_spark_reads_spark_s_own_sql(lake, tmp_path: Path) -> None:
    """A query of Spark's SQL (``date_format``, ``percentile``, backquoted names) runs in Spark
    and gives what the same question asked of DuckDB gives; the command line prints it."""
    spark = (
        "SELECT date_format(`date`, 'yyyy-MM') AS month, count(DISTINCT customer_id) AS buyers, "
        "percentile(value, 0.5) AS median_value, xxhash64(1) IS NOT NULL AS hashed "
        "FROM clean_lines GROUP BY 1 ORDER BY 1"
    )
    duck = (
        "SELECT strftime(date, '%Y-%m') AS month, count(DISTINCT customer_id) AS buyers, "
        "quantile_cont(value, 0.5) AS median_value, true AS hashed "
        "FROM clean_lines GROUP BY 1 ORDER BY 1"
    )
    got = custseg.sql(lake["lines"], spark, engine="spark")
    frames_close(got, custseg.sql(lake["lines"], duck))
    assert len(got) == 13
    out = tmp_path / "months.csv"
    shown = cli(
        "sql", "--engine", "spark", "--spark-master", "local[2]", "--table", "sales.lines",
        spark, "--limit", "3", "--output", str(out),
    )  # fmt: skip
    assert "13 rows; the first 3 shown" in shown and "2010-12" in shown
    assert pd.read_csv(out)["buyers"].tolist() == got["buyers"].tolist()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT reflect('java.lang.System', 'getenv', 'HOME') FROM lines",
        "SELECT java_method('java.lang.System', 'exit', 0) FROM lines",
        "SELECT * FROM parquet.`/etc`",
        "SELECT * FROM global_temp.anything",
        "SELECT * FROM sales.lines",
        "SELECT * FROM read_files('/etc')",
        "SELECT default.anything(1) FROM lines",
        "INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT * FROM lines",
        "CACHE TABLE x AS SELECT * FROM lines",
        "SELECT TRANSFORM(invoice) USING 'touch /tmp/custseg-transform' AS (x) FROM lines",
        "SELECT anonymous_agg_func(\"'a' AS z FROM lines UNION ALL SELECT TRANSFORM('x') USING "
        "'touch /tmp/custseg-transform' AS (z) --\", 1) AS z FROM lines",
        "SELECT extract(\"day FROM now()) AS x, reflect('java.lang.System', 'getenv', "
        "'HOME') AS w, extract(day\", date) AS z FROM lines",
        "SELECT /*+ FROM --\\\nFROM */ 1 AS `x\n*/ reflect('java.lang.System', 'getenv', "
        "'HOME') AS h --` FROM lines",
    ],
)
def test_sql_on_spark_refuses_what_reaches_out(lake, query: str) -> None:
    message = one_line_error("sql", str(lake["lines"]), "--engine", "spark", query)
    assert "refused" in message or "is not one of the views" in message
    assert not Path("/tmp/custseg-transform").exists()


def test_sql_on_spark_runs_the_text_it_checked(lake, monkeypatch) -> None:
    """Spark replaces ${…} in a statement's text before parsing it (a setting, a variable of
    the environment): not in custseg sql, where a comment closed by such a substitution could
    otherwise hide a statement, and ${env:…} read the environment. Comments are not run."""
    monkeypatch.setenv("CUSTSEG_TEST_SECRET", "s3cret")
    got = custseg.sql(
        lake["lines"],
        "SELECT '${env:CUSTSEG_TEST_SECRET}' AS env, count(*) AS n "
        "-- *${spark.custseg.none}/ UNION ALL SELECT TRANSFORM('x') USING 'touch /tmp/custseg-t' --\n"
        "FROM lines",
        engine="spark",
    )
    assert got["env"].tolist() == ["${env:CUSTSEG_TEST_SECRET}"]
    assert got["n"].tolist() == [len(lake["frame"])]
    assert not Path("/tmp/custseg-t").exists()


def test_spark_errors_are_one_line(tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    assert "no INPUT" in one_line_error("run", "--out", out)
    assert "not both" in one_line_error(
        "run", str(RETAIL), "--engine", "spark", "--table", "sales.lines", "--out", out
    )
    assert "which the spark engine does not read" in one_line_error(
        "run", "postgresql://ann@db/shop", "--engine", "spark", "--table", "x", "--out", out
    )
    assert "segments of --run alone are read by DuckDB" in one_line_error(
        "sql", "--run", str(tmp_path), "--engine", "spark", "SELECT * FROM segments"
    )


def test_run_through_spark_connect(lake, spark_connect: str, tmp_path: Path) -> None:
    """``--spark-master sc://…``: the stages run in a Spark Connect server (another JVM, its
    own working folder), and the run folder is DuckDB's. In a process of its own: pyspark
    does not mix a Connect session with the in-process one of the other tests."""
    import subprocess
    import sys

    cli("run", str(lake["lines"]), "--out", str(tmp_path / "duck"), "--seed", "0", "--k", "4")
    done = subprocess.run(
        [
            sys.executable, "-m", "custseg", "run", str(lake["lines"]), "--engine", "spark",
            "--spark-master", spark_connect, "--out", str(tmp_path / "sc"),
            "--seed", "0", "--k", "4",
        ],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no log of the JVM or of pyspark on the terminal
    for name in ("segments.csv", "audit.json", "model.json"):
        duck = (tmp_path / "duck" / name).read_bytes()
        assert (tmp_path / "sc" / name).read_bytes() == duck, name
