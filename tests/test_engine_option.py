"""``--engine`` on run, explore, score, track and sql: the same answer from PostgreSQL as from a file.

Lines of Online Retail (a seeded tenth of its invoices, every line of a chosen invoice) are
written to a Parquet file and loaded into a table of the test server (tests/postgres.py, in a
schema of this module's own). Then ``explore``, ``score`` and ``track`` read them from the file
(DuckDB) and from the database (``postgresql://… --table``, the cleaning and the features
inside PostgreSQL) and must give the same ledger, quality figures, scores and tracking; ``sql``
gives the same views, queried in PostgreSQL's SQL, and refuses what could write or reach the
server (:func:`views_equal`, also run against Spark). The wrong combinations of ``--engine`` and INPUT are one-line errors, without a server.
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
from custseg.outputs.query import query_views
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


# ---- sql ---------------------------------------------------------------------------------
#: the views of ``custseg sql`` summed up in one query of SQL every engine reads: lines,
#: kept lines per kind and dropped lines per reason, their quantities and values
VIEW_SUMMARY = (
    "SELECT 'clean_lines' AS view, kind AS what, count(*) AS n, sum(quantity) AS quantity, "
    "sum(value) AS value, count(DISTINCT invoice) AS invoices FROM clean_lines GROUP BY kind "
    "UNION ALL SELECT 'dropped_lines', reason, count(*), sum(quantity), sum(value), "
    "count(DISTINCT invoice) FROM dropped_lines GROUP BY reason "
    "UNION ALL SELECT 'lines', 'all', count(*), sum(quantity), 0.0, count(DISTINCT customer_id) "
    "FROM lines ORDER BY 1, 2"
)


def frames_close(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, rows and values (numbers to 1e-9 relative, as the features must be)."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        x, y = a[col].reset_index(drop=True), b[col].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            np.testing.assert_allclose(x.astype(float), y.astype(float), rtol=1e-9, err_msg=col)
        else:
            assert x.astype(str).tolist() == y.astype(str).tolist(), col


def views_equal(file: Path, **engine: str) -> None:
    """``custseg sql`` over ``engine`` (``engine=``, ``table=``/``input=``…) gives every view
    as DuckDB gives it over ``file``: the same columns, the customers' types, each customer's
    features (1e-9) and the lines' counts, quantities and values per kind and reason."""
    customers = "SELECT * FROM customers ORDER BY customer_id"
    duck = query_views(file, customers)
    other = query_views(query=customers, **engine)
    assert (
        list(other.views)
        == list(duck.views)
        == [
            "lines",
            "clean_lines",
            "dropped_lines",
            "customers",
        ]
    )
    for view in ("clean_lines", "dropped_lines", "customers"):
        assert list(other.views[view]) == list(duck.views[view]), view
    assert other.views["customers"] == duck.views["customers"]
    frames_close(other.frame, duck.frame)
    summary = custseg.sql(query=VIEW_SUMMARY, **engine)
    frames_close(summary, custseg.sql(file, VIEW_SUMMARY))
    assert set(summary["view"]) == {"lines", "clean_lines", "dropped_lines"}


def test_sql_on_postgres_gives_the_views_of_duckdb(shop) -> None:
    views_equal(shop["lines"], input=shop["url"], table=f"{SCHEMA}.lines")
    dropped = custseg.sql(
        shop["url"], "SELECT count(*) AS n FROM dropped_lines", table=f"{SCHEMA}.lines"
    )
    assert dropped["n"].item() > 0


def test_sql_on_postgres_reads_postgresql_s_own_sql(shop, tmp_path: Path) -> None:
    """A query of PostgreSQL's SQL (``::`` casts, ``to_char``, ``FILTER``, ``DISTINCT ON``)
    runs inside the server and gives what the same question asked of DuckDB gives."""
    pg = (
        "SELECT to_char(date_trunc('month', date), 'YYYY-MM') AS month, "
        "count(DISTINCT customer_id) AS customers, round(sum(value)::numeric, 2) AS revenue, "
        "count(*) FILTER (WHERE kind = 'cancellation') AS cancellations "
        "FROM clean_lines GROUP BY 1 ORDER BY 1"
    )
    duck = (
        "SELECT strftime(date_trunc('month', date), '%Y-%m') AS month, "
        "count(DISTINCT customer_id) AS customers, round(sum(value), 2) AS revenue, "
        "count(*) FILTER (WHERE kind = 'cancellation') AS cancellations "
        "FROM clean_lines GROUP BY 1 ORDER BY 1"
    )
    got = custseg.sql(shop["url"], pg, table=f"{SCHEMA}.lines")
    frames_close(got, custseg.sql(shop["lines"], duck))
    assert len(got) == 13 and got["cancellations"].sum() > 0
    first = custseg.sql(
        shop["url"],
        "SELECT DISTINCT ON (customer_id) customer_id, invoice FROM clean_lines "
        "ORDER BY customer_id, date, invoice",
        table=f"{SCHEMA}.lines",
    )
    assert first["customer_id"].is_unique and len(first) == len(
        custseg.sql(shop["lines"], "SELECT * FROM customers")
    )
    # the command line: a Rich table, and every row written with --output
    out = tmp_path / "months.parquet"
    shown = cli(
        "sql", shop["url"], "--table", f"{SCHEMA}.lines", pg, "--limit", "2", "--output", str(out)
    )
    assert "13 rows; the first 2 shown" in shown and "2010-12" in shown
    frames_close(pd.read_parquet(out), got)


def test_sql_on_postgres_with_a_run_folder(shop, trained) -> None:
    """``--run`` with a database: the segments of the run joined to the features the server
    computes (the run's as-of date), the same as over the file."""
    query = (
        "SELECT s.segment, count(*) AS n, avg(c.monetary) AS spend, max(c.recency_days) AS r "
        "FROM customers c JOIN segments s USING (customer_id) GROUP BY 1 ORDER BY 1"
    )
    before = f"SELECT * FROM {SCHEMA}.lines WHERE \"InvoiceDate\" < '{SPLIT.date()}'"
    pg = custseg.sql(shop["url"], query, lines_query=before, run=trained)
    duck = custseg.sql(shop["folder"] / "old.parquet", query, run=trained)
    assert pg["n"].sum() > 0
    frames_close(pg, duck)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT pg_read_file('/etc/passwd') FROM lines",
        "SELECT pg_catalog.pg_read_file('/etc/passwd')",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT lo_import('/etc/passwd')",
        "SELECT query_to_xml('SELECT * FROM pg_authid', true, true, '')",
        "SELECT dblink('dbname=postgres', 'SELECT 1')",
        "SELECT pg_terminate_backend(pid) FROM lines",
        "SELECT public.anything(1) FROM lines",
        "SELECT nextval('some_sequence')",
        "SELECT * FROM lines FOR UPDATE",
        "SELECT * FROM pg_catalog.pg_user",
        "SELECT * FROM pg_ls_dir('.')",
        f"SELECT * FROM {SCHEMA}.lines",
        "SELECT 1; DROP TABLE lines",
        "WITH d AS (DELETE FROM lines RETURNING *) SELECT * FROM d",
        "SELECT rolname FROM pg_authid WHERE EXISTS "
        "(WITH pg_authid AS (SELECT 1) SELECT 1 FROM pg_authid)",
        "SELECT name, setting FROM pg_settings WHERE EXISTS "
        "(WITH pg_settings AS (SELECT 1) SELECT 1 FROM pg_settings)",
        "SELECT CAST(CAST(1259 AS oid) AS regclass) FROM lines",
        "SELECT l.json_build_object FROM lines AS l",
        'WITH "Pg_authid" AS (SELECT 1 AS x) SELECT rolname, rolpassword FROM pg_authid',
        "SELECT CAST('pg_authid' AS pg_catalog.regclass)::oid AS oid",
        "SELECT ('/etc/passwd').pg_read_file AS x FROM lines LIMIT 1",
        "SELECT anonymous_agg_func('pg_read_file', '/etc/hostname') AS x FROM lines",
        "SELECT date_part('day FROM now()) AS x, pg_read_file(lower(''/ETC/HOSTNAME'')) AS y, "
        "extract(day', date) AS z FROM lines LIMIT 1",
        "SELECT 1 OPERATOR(#--) '\n) 1 AS a, pg_read_file($$/etc/passwd$$) AS p --' FROM lines",
    ],
)
def test_sql_on_postgres_refuses_what_reaches_the_server(shop, query: str) -> None:
    message = one_line_error("sql", shop["url"], "--table", f"{SCHEMA}.lines", query)
    assert "refused" in message or "is not one of the views" in message or "not a column" in message
    with postgres_connect(shop) as conn:  # the data is as it was
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.lines").fetchone()[0] == len(
            shop["frame"]
        )


def postgres_connect(shop):
    import psycopg

    return psycopg.connect(shop["url"])


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
    """The five commands reading ``source``, with ``extra`` options."""
    return [
        ["run", source, "--out", str(tmp / "run"), *extra],
        ["explore", source, *extra],
        ["score", str(tmp / "no-run"), source, "--out", str(tmp / "scores"), *extra],
        ["track", source, "--out", str(tmp / "track"), *extra],
        ["sql", source, "SELECT count(*) FROM lines", *extra],
    ]


@pytest.mark.parametrize("command", ["run", "explore", "score", "track", "sql"])
def test_postgres_engine_with_a_file_is_one_line(command: str, tmp_path: Path) -> None:
    args = next(
        a for a in commands(tmp_path, str(RETAIL), "--engine", "postgres") if a[0] == command
    )
    message = one_line_error(*args)
    assert "--engine postgres reads a database" in message
    assert "postgresql://user@host:port/db" in message and "--table" in message
    assert not (tmp_path / "run").exists() and not (tmp_path / "track").exists()


@pytest.mark.parametrize("command", ["run", "explore", "score", "track", "sql"])
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


@pytest.mark.parametrize("command", ["run", "explore", "score", "track", "sql"])
def test_unknown_engine_lists_the_engines(command: str, tmp_path: Path) -> None:
    args = next(a for a in commands(tmp_path, str(RETAIL), "--engine", "oracle") if a[0] == command)
    message = one_line_error(*args)
    assert f"--engine 'oracle' is not known; use one of {', '.join(ENGINES)}" in message


@pytest.mark.parametrize("command", ["run", "explore", "score", "track", "sql"])
def test_table_with_a_file_is_one_line(command: str, tmp_path: Path) -> None:
    args = next(a for a in commands(tmp_path, str(RETAIL), "--table", "lines") if a[0] == command)
    message = one_line_error(*args)
    assert "not a postgresql:// URL" in message


@pytest.mark.parametrize("command", ["run", "explore", "score", "track", "sql"])
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


def test_sql_refused_before_any_connection() -> None:
    """A query PostgreSQL or Spark would refuse is refused before the server is reached or
    Spark starts (the URL points to no server)."""
    message = one_line_error("sql", URL, "--table", "lines", "SELECT pg_read_file('x')")
    assert "refused: the function pg_read_file()" in message and "cannot connect" not in message
    message = one_line_error(
        "sql", str(RETAIL), "--engine", "spark", "SELECT java_method('a', 'b') FROM lines"
    )
    assert "refused: the function java_method()" in message
