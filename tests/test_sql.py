"""``custseg sql`` and ``custseg explore --sql``: read-only SQL over an input, its audit and a run.

Real behaviour on the shipped Online Retail file (one run, module-scoped) and on small seeded
synthetic lines; no mock. The views must agree with what a run writes: the audit ledger
(``audit.json``), the customers' features (``segments.parquet``).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import custseg
from custseg.cli import app
from custseg.config import settings
from custseg.datasets import make_transactions
from custseg.outputs.query import QueryError, QueryRefused, check_query
from custseg.stages.features import TRANSACTION_FEATURES

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO / "data" / "online_retail.parquet"
REAL_ROWS = 541_909

runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def stderr_of(result: Result) -> str:
    try:
        return result.stderr
    except ValueError:  # Click < 8.2 without mix_stderr=False
        return result.output


def one_line_error(result: Result) -> str:
    """Exit code 1 by a deliberate exit, one line on stderr starting with ``error:``."""
    assert result.exit_code == 1, f"exit {result.exit_code}\n{result.output}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    message = stderr_of(result).strip()
    assert "Traceback" not in result.output + message
    assert message.startswith("error:"), message
    assert len(message.splitlines()) == 1, message
    return message


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of Online Retail, seed 0."""
    out = tmp_path_factory.mktemp("sql") / "run"
    custseg.run(REAL_DATA, out, seed=0)
    return out


@pytest.fixture(scope="module")
def audit_doc(run_dir: Path) -> dict:
    return json.loads((run_dir / "audit.json").read_text(encoding="utf-8"))


# --- the views agree with the run ---------------------------------------------------------


def test_line_counts_add_up(audit_doc: dict) -> None:
    counts = custseg.sql(
        REAL_DATA,
        "SELECT (SELECT count(*) FROM lines) AS lines, "
        "(SELECT count(*) FROM clean_lines) AS kept, "
        "(SELECT count(*) FROM dropped_lines) AS dropped",
    ).iloc[0]
    assert counts["lines"] == REAL_ROWS == audit_doc["input_rows"]
    assert counts["kept"] == audit_doc["kept_rows"]
    assert counts["kept"] + counts["dropped"] == counts["lines"]


def test_dropped_lines_per_reason_are_the_ledger(audit_doc: dict) -> None:
    frame = custseg.sql(
        REAL_DATA, "SELECT reason, count(*) AS n FROM dropped_lines GROUP BY reason"
    )
    found = dict(zip(frame["reason"], frame["n"].astype(int), strict=True))
    expected = {r: n for r, n in audit_doc["dropped"].items() if n}
    assert found == expected


def test_customers_are_the_runs_features(run_dir: Path) -> None:
    # with --run, the run's as-of date and cleaning rules are used
    ours = custseg.sql(REAL_DATA, "SELECT * FROM customers ORDER BY customer_id", run=run_dir)
    theirs = pd.read_parquet(run_dir / "segments.parquet").sort_values("customer_id")
    assert list(ours.columns) == ["customer_id", *TRANSACTION_FEATURES]
    assert ours["customer_id"].tolist() == theirs["customer_id"].astype(str).tolist()
    for col in TRANSACTION_FEATURES:
        np.testing.assert_allclose(
            ours[col].to_numpy(float), theirs[col].to_numpy(float), rtol=1e-9, atol=1e-9
        )


def test_lines_carry_canonical_names() -> None:
    frame = custseg.sql(REAL_DATA, "SELECT * FROM lines LIMIT 1")
    for name in ("customer_id", "invoice", "date", "quantity", "price", "product"):
        assert name in frame.columns
    assert "CustomerID" not in frame.columns


def _whole_and_in_parts(
    source: object, query: str, lines: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The query's rows with the input cleaned in one part, then in parts of a quarter."""
    whole = custseg.sql(source, query)
    monkeypatch.setenv("CUSTSEG_PARTITION_LINES", str(lines // 4))
    settings.cache_clear()
    try:
        assert settings().partition_lines < lines
        parts = custseg.sql(source, query)
    finally:
        monkeypatch.delenv("CUSTSEG_PARTITION_LINES")
        settings.cache_clear()
    return whole, parts


def test_lines_of_an_input_cleaned_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # an input cleaned in parts drops each part's lines: the views keep every part's
    frame, _ = make_transactions(300, seed=3)
    query = (
        "SELECT coalesce(reason, 'kept') AS r, count(*) AS n, sum(value) AS v "
        "FROM (SELECT reason, value FROM dropped_lines UNION ALL "
        "SELECT NULL, value FROM clean_lines) GROUP BY r ORDER BY r"
    )
    whole, parts = _whole_and_in_parts(frame, query, len(frame), monkeypatch)
    pd.testing.assert_frame_equal(whole, parts)
    assert whole["n"].sum() == len(frame)


@pytest.mark.parametrize("kind", ["parquet", "parquet files", "csv", "frame"])
def test_line_numbers_of_an_input_cleaned_in_parts_are_the_input_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # the lines are numbered before the input is split (Parquet and CSV) or filtered (a
    # frame) into parts: line_no is the row's position in the input (files one after the
    # other), as in one part
    frame, _ = make_transactions(300, seed=3)
    folder = tmp_path / "lines"
    folder.mkdir()
    source: object = frame
    if kind == "csv":
        source = folder / "lines.csv"
        frame.to_csv(source, index=False)
    elif kind.startswith("parquet"):
        files = 3 if kind == "parquet files" else 1
        for i, chunk in enumerate(np.array_split(np.arange(len(frame)), files)):
            frame.iloc[chunk].to_parquet(folder / f"part-{i}.parquet", index=False)
        source = folder if files > 1 else folder / "part-0.parquet"
    query = (
        "SELECT line_no, reason, quantity FROM dropped_lines UNION ALL "
        "SELECT line_no, NULL, quantity FROM clean_lines ORDER BY line_no"
    )
    whole, parts = _whole_and_in_parts(source, query, len(frame), monkeypatch)
    pd.testing.assert_frame_equal(whole, parts)
    assert whole["line_no"].tolist() == list(range(1, len(frame) + 1))
    assert (whole["reason"] == "duplicate").sum() > 0
    np.testing.assert_array_equal(whole["quantity"], frame["Quantity"].to_numpy(float))


# --- the command line ---------------------------------------------------------------------


def test_run_segments_view(run_dir: Path) -> None:
    result = invoke(
        "sql",
        "--run",
        run_dir,
        "SELECT segment, count(*) AS customers FROM segments GROUP BY segment ORDER BY segment",
    )
    assert result.exit_code == 0, result.output
    sizes = pd.read_parquet(run_dir / "segments.parquet")["segment"].value_counts().sort_index()
    lines = [ln.split() for ln in result.stdout.splitlines()]
    for segment, n in sizes.items():
        assert [str(segment), "│", str(n)] in lines
    assert f"{len(sizes)} rows" in result.stdout


def test_limit_says_how_many_rows(run_dir: Path) -> None:
    result = invoke("sql", "--run", run_dir, "SELECT * FROM segments", "--limit", "3")
    assert result.exit_code == 0, result.output
    n = len(pd.read_parquet(run_dir / "segments.parquet"))
    assert f"{n:,} rows; the first 3 shown" in result.stdout
    result = invoke("sql", "--run", run_dir, "SELECT count(*) FROM segments", "--lang", "fr")
    assert result.stdout.rstrip().endswith("1 ligne")
    message = one_line_error(invoke("sql", "--run", run_dir, "SELECT 1", "--output", "x.json"))
    assert ".csv or a .parquet" in message


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_output_round_trips(run_dir: Path, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"rows.{suffix}"
    query = "SELECT customer_id, monetary, segment_name FROM segments ORDER BY customer_id"
    result = invoke("sql", "--run", run_dir, query, "--output", target, "--limit", "0")
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left
    back = pd.read_csv(target, dtype={"customer_id": str}) if suffix == "csv" else None
    back = back if back is not None else pd.read_parquet(target)
    expected = pd.read_parquet(run_dir / "segments.parquet")[
        ["customer_id", "monetary", "segment_name"]
    ]
    expected = expected.sort_values("customer_id").reset_index(drop=True)
    assert back["customer_id"].astype(str).tolist() == expected["customer_id"].tolist()
    np.testing.assert_allclose(back["monetary"], expected["monetary"], rtol=1e-12)
    assert back["segment_name"].tolist() == expected["segment_name"].tolist()


REFUSED = {
    "insert": "INSERT INTO segments SELECT * FROM segments",
    "update": "UPDATE segments SET segment = 1",
    "delete": "DELETE FROM segments",
    "create": "CREATE TABLE t AS SELECT * FROM segments",
    "drop": "DROP TABLE segments",
    "copy": "COPY segments TO '/tmp/custseg-sql-copy.csv'",
    "copy-query": "COPY (SELECT 1) TO '/tmp/custseg-sql-copy.csv'",
    "attach": "ATTACH '/tmp/custseg-sql.duckdb' AS other",
    "pragma": "PRAGMA database_list",
    "set": "SET threads = 1",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "two statements": "SELECT 1; SELECT 2",
    "select into": "SELECT * INTO t FROM segments",
    "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
    "read_parquet": "SELECT count(*) FROM read_parquet('data/online_retail.parquet')",
    "glob": "SELECT * FROM glob('/etc/*')",
    "query function": "SELECT * FROM query('SELECT 1')",
    "file in FROM": "SELECT * FROM '/etc/passwd'",
    "read in a subquery": "SELECT (SELECT count(*) FROM read_text('/etc/passwd')) AS n",
    "read in a CTE": "WITH f AS (SELECT * FROM read_csv_auto('/etc/passwd')) SELECT * FROM f",
    "getenv": "SELECT getenv('HOME')",
    "catalog": "SELECT * FROM information_schema.tables",
    "internal relation": "SELECT * FROM _cs_ledger",
    "settings through LATERAL": "SELECT s.name FROM (SELECT 1) t, LATERAL duckdb_settings() s",
    "settings as a value": "SELECT unnest(duckdb_settings())",
    "SQL as JSON": "SELECT * FROM (SELECT 1) t, LATERAL json_execute_serialized_sql("
    "json_serialize_sql('SELECT 1'))",
    "a CTE of another subquery": "SELECT * FROM duckdb_tables WHERE EXISTS "
    "(WITH duckdb_tables AS (SELECT 1) SELECT 1 FROM duckdb_tables)",
}


@pytest.mark.parametrize("query", REFUSED.values(), ids=REFUSED.keys())
def test_refused_statements(run_dir: Path, query: str) -> None:
    message = one_line_error(invoke("sql", "--run", run_dir, query))
    assert "refused" in message or "not one of the views" in message
    assert not Path("/tmp/custseg-sql-copy.csv").exists()
    assert not Path("/tmp/custseg-sql.duckdb").exists()


def test_refused_before_the_input_is_read(tmp_path: Path) -> None:
    # a refused query costs nothing: the (missing) input is not even opened
    message = one_line_error(invoke("sql", tmp_path / "missing.csv", "DROP TABLE lines"))
    assert "refused: statement DROP" in message


def test_sql_errors_name_the_views(run_dir: Path) -> None:
    message = one_line_error(invoke("sql", "--run", run_dir, "SELECT nope FROM segments"))
    assert "nope" in message and "segments(customer_id" in message
    message = one_line_error(invoke("sql", "--run", run_dir, "SELEC 1 FROM segments"))
    assert "cannot be parsed" in message or "syntax" in message.lower()
    message = one_line_error(invoke("sql", "--run", run_dir, "SELECT * FROM lines"))
    assert "lines" in message and "views" in message  # no input given: no view lines


def test_check_query_reads_the_tree() -> None:
    check_query("WITH t AS (SELECT * FROM lines) SELECT count(*) FROM t UNION SELECT 1")
    check_query("SELECT * FROM range(3)")
    check_query("SELECT 'read_csv(x)' AS text FROM lines")  # a string, not a call
    with pytest.raises(QueryRefused):
        check_query("SELECT * FROM lines; DROP TABLE lines")
    with pytest.raises(QueryError):
        check_query("SELECT * FROM elsewhere")


#: the views' columns, as the checks after the views exist see them
COLUMNS = {
    "lines": {"invoice": "VARCHAR", "date": "TIMESTAMP"},
    "clean_lines": {"customer_id": "VARCHAR", "value": "DOUBLE"},
    "customers": {"customer_id": "VARCHAR", "monetary": "DOUBLE"},
}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_a_cte_name_holds_only_where_sql_sees_it(dialect: str) -> None:
    """A CTE names a relation in the query that defines it, and inside a WITH only after
    itself (itself too when recursive): never in another subquery, never before."""
    ok = [
        "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b",
        "WITH a AS (SELECT 1 AS x) SELECT * FROM a UNION ALL SELECT * FROM a",
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT * FROM r",
        "WITH a AS (SELECT 1 AS x) SELECT * FROM lines WHERE 1 IN (SELECT x FROM a)",
        "SELECT * FROM (WITH a AS (SELECT 1 AS x) SELECT * FROM a) q",
    ]
    for query in ok:
        check_query(query, COLUMNS, dialect=dialect, confined=dialect == "duckdb")
    for query in (
        "SELECT * FROM pg_authid WHERE EXISTS (WITH pg_authid AS (SELECT 1) SELECT 1 FROM pg_authid)",
        "WITH a AS (SELECT * FROM secrets), secrets AS (SELECT 1) SELECT * FROM a",
        "SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) q, t",
    ):
        with pytest.raises(QueryError, match="is not one of the views"):
            check_query(query, COLUMNS, dialect=dialect, confined=dialect == "duckdb")


def test_unconfined_engines_hold_functions_casts_and_column_paths() -> None:
    """On PostgreSQL and Spark (sessions that cannot be locked): the functions of the server,
    of Java, of a schema, the shell of Spark's TRANSFORM, casts to the catalog's reg* types
    and PostgreSQL's column-notation calls (t.f is f(t)) are refused; SQL's own functions,
    LATERAL subqueries, Spark's LATERAL VIEW explode and generate_series pass."""

    def pg(query: str) -> str:
        return check_query(query, COLUMNS, dialect="postgres", confined=False)

    def spark(query: str) -> str:
        return check_query(query, COLUMNS, dialect="spark", confined=False)

    assert pg("SELECT age(date), date_trunc('month', date) FROM lines") == (
        "SELECT AGE(date), DATE_TRUNC('MONTH', date) FROM lines"
    )
    pg("SELECT * FROM generate_series(1, 3)")
    pg("SELECT l.invoice, m.total FROM lines AS l, LATERAL (SELECT sum(value) AS total "
       "FROM clean_lines) AS m")  # fmt: skip
    spark("SELECT x FROM lines LATERAL VIEW explode(array(1, 2)) t AS x")
    for query in (
        "SELECT pg_read_file('/etc/passwd') FROM lines",
        "SELECT public.f(1) FROM lines",
        "SELECT CAST(CAST(1 AS oid) AS regclass) FROM lines",
        "SELECT 'pg_authid'::regclass",
        "SELECT CAST('pg_authid' AS pg_catalog.regclass)",
    ):
        with pytest.raises(QueryRefused):
            pg(query)
    with pytest.raises(QueryError, match="is not one of the views"):  # a quoted name keeps its case
        pg('WITH "Pg_authid" AS (SELECT 1 AS x) SELECT rolname FROM pg_authid')
    with pytest.raises(QueryError, match=r"l\.json_build_object is not a column"):
        pg("SELECT l.json_build_object FROM lines AS l")
    # sqlglot writes some arguments out as SQL: refused, and what runs must read back the same
    for query in (
        "SELECT ('/etc/passwd').pg_read_file AS x FROM lines",
        "SELECT (l.invoice).pg_read_file FROM lines AS l",
        "SELECT anonymous_agg_func('pg_read_file', '/etc/hostname') AS x FROM lines",
        "SELECT dynamic_identifier('current_setting(''data_directory'')') AS y FROM lines",
        "SELECT date_part('day FROM now()) AS x, pg_read_file(lower(''/ETC/HOSTNAME'')) AS y, "
        "extract(day', date) AS z FROM lines",
    ):
        with pytest.raises(QueryRefused):
            pg(query)
    with pytest.raises(QueryRefused):
        spark('SELECT extract("day FROM now()) AS x, 1 AS y, extract(day", date) AS z FROM lines')
    for query in (  # and what is written back reads back the same: these pass
        "SELECT date_part('year', date), extract(epoch FROM date), age(date) FROM lines",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value), median(value) FROM clean_lines",
    ):
        text = pg(query)
        assert pg(text) == text
    text = spark("SELECT date_format(date, 'yyyy-MM'), datediff(date, date), year(date) FROM lines")
    assert spark(text) == text
    # text the check cannot read (an operator's name, a hint sqlglot keeps raw) is refused,
    # and no line break or comment mark may be left in the text run, even in a string: an
    # engine reading ``#--`` or a ``--\\`` comment otherwise than sqlglot would see other SQL
    with pytest.raises(QueryRefused, match="OPERATOR"):
        pg("SELECT 1 OPERATOR(#--) '\n) 1 AS a, pg_read_file($$/etc/passwd$$) --' FROM lines")
    with pytest.raises(QueryRefused, match="OPERATOR"):
        pg("SELECT 1 OPERATOR(public.+) 1 FROM lines")
    with pytest.raises(QueryRefused, match="HINT"):
        spark("SELECT /*+ FROM --\\\nFROM */ 1 AS `x\n*/ reflect('a', 'b') AS p --` FROM lines")
    with pytest.raises(QueryRefused, match="comment mark"):
        pg("SELECT 'a--b' AS text FROM lines")
    # an unquoted name is plain ASCII (Spark reads 'ſ' as S in its keywords); window frames pass
    with pytest.raises(QueryRefused, match="not plain ASCII"):
        spark("SELECT 1 AS uſing FROM lines")
    frame = "SUM(quantity) OVER (ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    assert frame in pg(f"SELECT {frame} AS s FROM lines")
    assert frame in spark(
        "SELECT sum(quantity) OVER (ORDER BY date ROWS UNBOUNDED PRECEDING) FROM lines"
    )
    # the text run is the checked tree: comments, the only free text it could carry, left out
    assert spark("SELECT 'a' AS a -- *${x}/ UNION ALL SELECT 1\nFROM lines") == (
        "SELECT 'a' AS a FROM lines"
    )
    for query in (
        "SELECT TRANSFORM(invoice) USING 'id' AS (x) FROM lines",
        "SELECT reflect('java.lang.System', 'getenv', 'HOME') FROM lines",
        "SELECT x FROM lines LATERAL VIEW java_method('a', 'b') t AS x",
    ):
        with pytest.raises(QueryRefused):
            spark(query)


def test_values_are_printed_as_written(run_dir: Path) -> None:
    """A value that looks like Rich's markup is printed as it is, not read as markup."""
    result = invoke("sql", "--run", run_dir, "SELECT '[bold]x[/]' AS a, '[/tmp/y]' AS b")
    assert result.exit_code == 0, result.output
    assert "[bold]x[/]" in result.stdout and "[/tmp/y]" in result.stdout


# --- explore --sql ------------------------------------------------------------------------


def test_explore_prints_sql_duckdb_parses() -> None:
    result = invoke("explore", REAL_DATA, "--sql")
    assert result.exit_code == 0, result.output
    head = "SQL run by the exploration"
    assert head in result.stdout
    text = result.stdout.split(head, 1)[1].split("\n", 1)[1]
    statements = duckdb.connect().extract_statements(text)
    assert len(statements) > 10
    assert 'CREATE OR REPLACE TEMP TABLE "lines"' in text
    assert "read_parquet" in text
