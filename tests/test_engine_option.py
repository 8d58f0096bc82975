"""``--engine`` on run, explore, score and track: the same answer from PostgreSQL as from a file.

Lines of Online Retail (a seeded tenth of its invoices, every line of a chosen invoice) are
written to a Parquet file and loaded into a table of the test server (tests/postgres.py, in a
schema of this module's own). Then ``explore``, ``score`` and ``track`` read them from the file
(DuckDB) and from the database (``postgresql://… --table``, the cleaning and the features
inside PostgreSQL) and must give the same ledger, quality figures, scores and tracking. The
wrong combinations of ``--engine`` and INPUT are one-line errors, without a server.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.engines import ENGINES, choose
from custseg.errors import CustsegError
from custseg.sources.inputs import choose_input
from tests.postgres import load_frame

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT / "data" / "online_retail.parquet"
#: the schema the module's tables live in (the conformance suite checks ``public``)
SCHEMA = "engineopt"
#: lines before this day train the run; the lines from it on are the new lines scored
SPLIT = pd.Timestamp("2011-09-01")


def url_of(server) -> str:
    return f"postgresql://postgres@127.0.0.1:{server.port}/postgres"


def sample(share: float = 0.1) -> pd.DataFrame:
    """A seeded ``share`` of Online Retail's invoices, every line of each (so cancellations
    and duplicates keep their kind)."""
    retail = pd.read_parquet(RETAIL)
    invoices = retail["InvoiceNo"].astype(str).str.lstrip("C")
    rng = np.random.default_rng(0)
    unique = invoices.unique()
    chosen = set(rng.choice(unique, int(len(unique) * share), replace=False))
    return retail[invoices.isin(chosen)].reset_index(drop=True)


@pytest.fixture(scope="module")
def shop(postgres, tmp_path_factory):
    """The sampled lines as Parquet files and as tables ``engineopt.lines`` (all of them) and
    ``engineopt.new_lines`` (from :data:`SPLIT` on); dropped afterwards."""
    folder = tmp_path_factory.mktemp("shop")
    lines = sample()
    new = lines[lines["InvoiceDate"] >= SPLIT].reset_index(drop=True)
    old = lines[lines["InvoiceDate"] < SPLIT].reset_index(drop=True)
    files = {"lines": folder / "lines.parquet", "new": folder / "new.parquet"}
    lines.to_parquet(files["lines"], index=False)
    new.to_parquet(files["new"], index=False)
    old.to_parquet(folder / "old.parquet", index=False)
    with postgres.connect() as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"SET search_path TO {SCHEMA}")
        load_frame(conn, "lines", lines)
        load_frame(conn, "new_lines", new)
    yield {"url": url_of(postgres), "folder": folder, "frame": lines, **files}
    with postgres.connect() as conn:
        conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
        conn.commit()


def cli(*args: str) -> str:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def ledgers_equal(a: dict, b: dict) -> None:
    a, b = dict(a), dict(b)
    assert a.pop("source") != b.pop("source")  # the file, the database: all else is equal
    assert a == b


# ---- explore -----------------------------------------------------------------------------
def test_explore_on_postgres_gives_the_quality_figures_of_duckdb(shop) -> None:
    duck = custseg.explore(shop["lines"])
    pg = custseg.explore(shop["url"], table=f"{SCHEMA}.lines", engine="postgres")
    ledgers_equal(duck.ledger.to_dict(), pg.ledger.to_dict())
    assert pg.summary == duck.summary
    assert pg.ledger.input_rows == len(shop["frame"])
    assert pg.ledger.dropped["missing_customer_id"] > 0 and pg.ledger.dropped["duplicate"] > 0


def test_explore_sql_prints_the_postgres_queries(shop, tmp_path: Path) -> None:
    page = tmp_path / "quality.html"
    query = f"SELECT * FROM {SCHEMA}.lines WHERE \"Country\" = 'France'"
    out = cli("explore", shop["url"], "--query", query, "--sql", "--html", str(page))
    assert "SQL run by the exploration, in PostgreSQL's dialect" in out
    # the view over the user's query comes first, then the audit's statements
    assert f"AS {query};" in out
    assert "CREATE UNLOGGED TABLE" in out
    assert page.is_file()
    frame = shop["frame"]
    duck = custseg.explore(frame[frame["Country"] == "France"])
    read = next(line for line in out.splitlines() if "Rows read" in line)
    assert read.split("│")[2].strip() == f"{duck.ledger.input_rows:,}"


# ---- score -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(shop, tmp_path_factory) -> Path:
    """A run fitted on the lines before :data:`SPLIT` (a file, DuckDB)."""
    out = tmp_path_factory.mktemp("run") / "run"
    custseg.run(shop["folder"] / "old.parquet", out, seed=0, k=4)
    return out


def read_scores(folder: Path) -> dict:
    return {
        "scores": pd.read_parquet(folder / "scores.parquet"),
        "audit": json.loads((folder / "audit.json").read_text()),
        "drift": json.loads((folder / "drift.json").read_text()),
        "csv": (folder / "scores.csv").read_bytes(),
    }


def test_score_on_postgres_equals_score_of_a_file(shop, trained, tmp_path: Path) -> None:
    cli("score", str(trained), str(shop["new"]), "--out", str(tmp_path / "file"))
    cli(
        "score", str(trained), shop["url"], "--table", f"{SCHEMA}.new_lines",
        "--out", str(tmp_path / "pg"),
    )  # fmt: skip
    file, pg = read_scores(tmp_path / "file"), read_scores(tmp_path / "pg")
    pd.testing.assert_frame_equal(pg["scores"], file["scores"], check_exact=True)
    assert pg["csv"] == file["csv"]
    ledgers_equal(file["audit"], pg["audit"])
    assert pg["audit"]["source"].startswith(shop["url"])
    file["drift"].pop("source"), pg["drift"].pop("source")
    assert pg["drift"] == file["drift"]
    assert len(pg["scores"]) > 100 and pg["scores"]["segment"].nunique() > 1


def test_score_query_and_engine_from_python(shop, trained) -> None:
    """``engine="postgres"`` and a query, from Python; the scores of the same lines."""
    frame = shop["frame"]
    new = frame[frame["InvoiceDate"] >= pd.Timestamp("2011-11-01")]
    query = f"SELECT * FROM {SCHEMA}.lines WHERE \"InvoiceDate\" >= '2011-11-01'"
    pg = custseg.score(trained, shop["url"], engine="postgres", query=query)
    file = custseg.score(trained, new.reset_index(drop=True))
    pd.testing.assert_frame_equal(pg.table, file.table, check_exact=True)


# ---- track -------------------------------------------------------------------------------
def test_track_on_postgres_equals_track_of_a_file(shop, tmp_path: Path) -> None:
    options = ["--k", "3", "--every", "2M", "--start", "2011-06-01", "--seed", "0"]
    cli("track", str(shop["lines"]), "--out", str(tmp_path / "file"), *options)
    cli(
        "track", shop["url"], "--engine", "postgres", "--table", f"{SCHEMA}.lines",
        "--out", str(tmp_path / "pg"), *options,
    )  # fmt: skip
    for name in ("track.csv", "migrations.csv"):
        assert (tmp_path / "pg" / name).read_bytes() == (tmp_path / "file" / name).read_bytes()
    file = json.loads((tmp_path / "file" / "track.json").read_text())
    pg = json.loads((tmp_path / "pg" / "track.json").read_text())
    assert pg.pop("source") == f"{shop['url']} --table {SCHEMA}.lines"
    file.pop("source")
    assert pg == file
    assert len(pg["steps"]) == 4  # June, August, October, December


# ---- the wrong combinations: one line each, before any connection -----------------------
def one_line_error(*args: str) -> str:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 1, done.output
    assert "Traceback" not in done.output
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1, done.output
    assert lines[0].startswith("error: ")
    return lines[0]


URL = "postgresql://ann:s3cret@127.0.0.1:1/shop"


def commands(tmp: Path, source: str, *extra: str) -> list[list[str]]:
    """The four commands reading ``source``, with ``extra`` options."""
    return [
        ["run", source, "--out", str(tmp / "run"), *extra],
        ["explore", source, *extra],
        ["score", str(tmp / "no-run"), source, "--out", str(tmp / "scores"), *extra],
        ["track", source, "--out", str(tmp / "track"), *extra],
    ]


@pytest.mark.parametrize("command", ["run", "explore", "score", "track"])
def test_postgres_engine_with_a_file_is_one_line(command: str, tmp_path: Path) -> None:
    args = next(
        a for a in commands(tmp_path, str(RETAIL), "--engine", "postgres") if a[0] == command
    )
    message = one_line_error(*args)
    assert "--engine postgres reads a database" in message
    assert "postgresql://user@host:port/db" in message and "--table" in message
    assert not (tmp_path / "run").exists() and not (tmp_path / "track").exists()


@pytest.mark.parametrize("command", ["run", "explore", "score", "track"])
def test_url_with_duckdb_is_one_line(command: str, tmp_path: Path) -> None:
    args = next(
        a
        for a in commands(tmp_path, URL, "--table", "lines", "--engine", "duckdb")
        if a[0] == command
    )
    message = one_line_error(*args)
    assert "is a PostgreSQL database, which the duckdb engine does not read" in message
    assert "leave out --engine duckdb" in message
    assert "s3cret" not in message and "ann:***@" in message  # and no connection was tried
    assert "cannot connect" not in message


@pytest.mark.parametrize("command", ["run", "explore", "score", "track"])
def test_unknown_engine_lists_the_engines(command: str, tmp_path: Path) -> None:
    args = next(a for a in commands(tmp_path, str(RETAIL), "--engine", "oracle") if a[0] == command)
    message = one_line_error(*args)
    assert f"--engine 'oracle' is not known; use one of {', '.join(ENGINES)}" in message


@pytest.mark.parametrize("command", ["run", "explore", "score", "track"])
def test_table_with_a_file_is_one_line(command: str, tmp_path: Path) -> None:
    args = next(a for a in commands(tmp_path, str(RETAIL), "--table", "lines") if a[0] == command)
    message = one_line_error(*args)
    assert "not a postgresql:// URL" in message


@pytest.mark.parametrize("command", ["run", "explore", "score", "track"])
def test_url_without_table_or_query_is_one_line(command: str, tmp_path: Path) -> None:
    args = next(a for a in commands(tmp_path, URL) if a[0] == command)
    message = one_line_error(*args)
    assert "name the lines to read with --table NAME or --query" in message
    assert "s3cret" not in message


def test_choice_of_engine() -> None:
    assert choose(None, "sales.csv") == "duckdb"
    assert choose(None, "postgres://db/shop") == "postgres"
    assert choose(" Postgres ", "postgresql://db/shop") == "postgres"
    assert choose("duckdb", Path("sales.csv")) == "duckdb"
    with pytest.raises(CustsegError, match="a DataFrame is not a postgresql:// URL"):
        choose("postgres", pd.DataFrame())
    found = choose_input("postgresql://ann:pw@db/shop", query="SELECT 1")
    assert (found.engine, found.paths) == ("postgres", ())
    assert found.label == 'postgresql://ann:***@db/shop --query "SELECT 1"'
    assert choose_input("sales.csv").paths == ("sales.csv",)


def test_score_a_customer_table_on_postgres(postgres, shop, tmp_path: Path) -> None:
    """A customer-table run scores rows of a database table as it scores the same rows."""
    from custseg.datasets import make_transactions

    lines, _ = make_transactions(150, seed=2)
    table = custseg.segment(lines, seed=0, k=3).segments
    table = table[["customer_id", "recency_days", "frequency", "monetary"]]
    run = tmp_path / "crm"
    custseg.run(table, run, seed=0, k=3, kind="customers")
    with postgres.connect() as conn:
        conn.execute(f"SET search_path TO {SCHEMA}")
        load_frame(conn, "crm", table)
    pg = custseg.score(run, shop["url"], table=f"{SCHEMA}.crm")
    file = custseg.score(run, table)
    pd.testing.assert_frame_equal(pg.table, file.table, check_exact=True)
    assert pg.ledger["kept_rows"] == len(table)
