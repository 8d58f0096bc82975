"""The engine contract, run against every engine (DuckDB for now).

Each engine is one param of the ``engine`` fixture: adding Spark or PostgreSQL means adding
its name to :data:`ENGINES` (and its connection to ``connect``), not writing new tests. The
cases use small hand-computed data: the contract's operations, then the audit ledger and the
customer features of a transactions frame whose every number is worked out below.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlglot

from custseg.config import Settings
from custseg.engines import CONFINABLE, Engine, connect
from custseg.errors import CustsegError, EngineError
from custseg.sources.readers import open_source
from custseg.sources.schema import resolve_columns
from custseg.stages import features, quality
from custseg.stages import relations as rel
from custseg.stages.audit import CONDITIONAL_REASONS, RULE_ORDER, audit
from custseg.stages.features import TRANSACTION_FEATURES, customer_features

#: engines the suite runs on (PostgreSQL on the throwaway server of tests/postgres.py)
ENGINES = ["duckdb", "postgres", "spark"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh engine of each kind, one thread, its temporary files in ``tmp_path``."""
    scratch = tmp_path / "engine-tmp"
    scratch.mkdir()
    url = master = None
    if request.param == "spark":
        master = request.getfixturevalue("spark")
    if request.param == "postgres":
        server = request.getfixturevalue("postgres")
        url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    settings = Settings(threads=1, temp_dir=str(scratch))
    with connect(request.param, settings=settings, url=url, master=master) as e:
        yield e


def reads_files(engine: Engine) -> None:
    """Skip a case about files for a server engine: it reads its database's tables."""
    if engine.dialect == "postgres":
        pytest.skip("the PostgreSQL engine reads tables of its database, not files")


PEOPLE = pd.DataFrame(
    {
        "id": [1, 2, 3],
        "name": ["Ann", "O'Brien", None],
        "spend": [10.5, 0.0, 2.25],
        "seen": pd.to_datetime(["2011-01-01 10:00", "2011-02-03 00:00", "2011-12-31 23:59"]),
    }
)


# ---- the contract ------------------------------------------------------------------------
def test_dialect_is_a_sqlglot_dialect(engine: Engine) -> None:
    assert sqlglot.Dialect.get_or_raise(engine.dialect) is not None


def test_settings_are_kept(engine: Engine) -> None:
    assert engine.settings.threads == 1
    assert Path(engine.settings.temp_dir).name == "engine-tmp"


def test_register_a_pandas_frame_and_describe_its_types(engine: Engine) -> None:
    engine.register("people", PEOPLE)
    assert engine.exists("people")
    assert engine.describe("people") == {
        "id": "BIGINT",
        "name": "VARCHAR",
        "spend": "DOUBLE",
        "seen": "TIMESTAMP",
    }
    assert engine.rows("SELECT id, name FROM people ORDER BY id") == [
        (1, "Ann"),
        (2, "O'Brien"),
        (3, None),
    ]


def test_register_an_arrow_table(engine: Engine) -> None:
    table = pa.table({"k": pa.array([1, 2], pa.int32()), "s": ["a", "b"]})
    engine.register("t", table)
    assert engine.describe("t") == {"k": "INTEGER", "s": "VARCHAR"}
    assert engine.scalar("SELECT sum(k) FROM t") == 3


def test_register_again_replaces(engine: Engine) -> None:
    engine.register("t", pd.DataFrame({"x": [1]}))
    engine.register("t", pd.DataFrame({"y": [2, 3]}))
    assert engine.describe("t") == {"y": "BIGINT"}


def test_scan_files_in_place(engine: Engine, tmp_path: Path) -> None:
    reads_files(engine)
    parquet = tmp_path / "p.parquet"
    PEOPLE.to_parquet(parquet, index=False)
    engine.scan("p", parquet, format="parquet")
    assert engine.describe("p")["spend"] == "DOUBLE"
    csv = tmp_path / "c.csv"
    csv.write_text('id,note\n1,"a, ""quoted"" note"\n2\n', encoding="utf-8")
    engine.scan("c", csv, format="csv")
    assert engine.describe("c") == {"id": "VARCHAR", "note": "VARCHAR"}  # text, parsed later
    assert engine.rows("SELECT * FROM c ORDER BY id") == [("1", 'a, "quoted" note'), ("2", None)]
    csv.write_text("id,note\n3,x\n", encoding="utf-8")  # read at every use
    assert engine.rows("SELECT * FROM c") == [("3", "x")]


def test_numbered_rows_follow_the_input(engine: Engine, tmp_path: Path) -> None:
    """Engine.numbered gives each scanned row its position in the input, files one after
    the other: the numbers row_number() OVER () gives, read from the files (DuckDB)."""
    reads_files(engine)
    n = 50_000
    first = pd.DataFrame({"k": np.arange(n) % 7, "v": np.arange(1, n + 1)})
    second = first.iloc[:12_345].assign(v=lambda d: -d["v"])
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    first.to_parquet(files[0], index=False, row_group_size=4_096)
    second.to_parquet(files[1], index=False, row_group_size=1_000)
    expected = {"one": first["v"].tolist(), "two": first["v"].tolist() + second["v"].tolist()}
    for name, path in (("one", files[0]), ("two", files)):
        engine.scan(name, path, format="parquet")
        sql = engine.numbered(name)
        if engine.dialect == "duckdb":
            assert sql is not None
        if sql is None:
            continue
        got = engine.rows(f"SELECT v, _cs_line_no FROM ({sql}) AS t ORDER BY _cs_line_no")
        assert [v for v, _ in got] == expected[name]
        assert [i for _, i in got] == list(range(1, len(expected[name]) + 1))
        assert "_cs_line_no" not in engine.describe(name)  # the scanned relation is unchanged
        by_window = engine.rows(f"SELECT v, row_number() OVER () FROM {name}")
        assert sorted(by_window) == sorted(got)
    engine.scan("twice", [files[0], files[0]], format="parquet")
    assert engine.numbered("twice") is None  # one file's rows would be numbered twice
    for i, column in enumerate(("file_row_number", "Filename", "_CS_Line_No")):
        own = tmp_path / f"own-{i}.parquet"
        first.rename(columns={"k": column}).to_parquet(own, index=False)
        engine.scan("own", own, format="parquet")
        assert engine.numbered("own") is None  # a column of the file is never shadowed
    engine.create("own", "SELECT 1 AS x", view=True)
    assert engine.numbered("own") is None  # no longer a scan


def test_create_table_is_a_snapshot_and_view_follows(engine: Engine) -> None:
    engine.create("base", "SELECT * FROM range(3) AS r(x)")
    engine.create("snap", "SELECT sum(x) AS s FROM base")
    engine.create("live", "SELECT sum(x) AS s FROM base", view=True)
    engine.append("base", "SELECT 10")
    assert engine.scalar("SELECT s FROM snap") == 3
    assert engine.scalar("SELECT s FROM live") == 13
    engine.create("snap", "SELECT 1 AS one")  # replaced
    assert engine.describe("snap") == {"one": "INTEGER"}


def test_append_and_update(engine: Engine) -> None:
    engine.create("t", "SELECT 1 AS id, 'a' AS tag")
    engine.append("t", "SELECT ?, ?", [2, "b"])
    engine.update("t", {"tag": "upper(tag)", "id": "id * 10"}, "id = ?", [2])
    assert engine.rows("SELECT id, tag FROM t ORDER BY id") == [(1, "a"), (20, "B")]
    engine.update("t", {"tag": "NULL"}, "id IN (SELECT 1)")
    assert engine.rows("SELECT id, tag FROM t ORDER BY id") == [(1, None), (20, "B")]


def test_parameters_are_bound_not_pasted(engine: Engine) -> None:
    engine.register("people", PEOPLE)
    name = "O'Brien"
    assert engine.scalar("SELECT id FROM people WHERE name = ?", [name]) == 2
    evil = "x' OR '1' = '1"
    assert engine.rows("SELECT id FROM people WHERE name = ?", [evil]) == []
    assert engine.row("SELECT ? AS a, ? AS b", [1.5, None]) == (1.5, None)


def test_fetch_in_every_form(engine: Engine) -> None:
    engine.register("people", PEOPLE)
    sql = "SELECT id, spend FROM people ORDER BY id"
    frame = engine.frame(sql)
    assert list(frame.columns) == ["id", "spend"] and frame["spend"].tolist() == [10.5, 0.0, 2.25]
    table = engine.arrow(sql)
    assert isinstance(table, pa.Table) and table.column("id").to_pylist() == [1, 2, 3]
    arrays = engine.numpy(sql)
    assert np.asarray(arrays["spend"]).tolist() == [10.5, 0.0, 2.25]
    assert engine.row("SELECT * FROM people WHERE id > 99") is None
    assert engine.scalar("SELECT max(seen) FROM people") == datetime(2011, 12, 31, 23, 59)


def test_split_into_parts_and_drop(engine: Engine) -> None:
    engine.create("t", "SELECT x, 'v' || x AS label FROM range(10) AS r(x)")
    names = engine.split("part", "SELECT * FROM t", "x % 4", 5)  # part 4 gets no row
    assert names == ["part_0", "part_1", "part_2", "part_3", "part_4"]
    got = [sorted(r[0] for r in engine.rows(f"SELECT x FROM {n}")) for n in names]
    assert got == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7], []]
    assert list(engine.describe("part_4")) == ["x", "label"]
    for name in names:
        engine.drop(name)
        assert not engine.exists(name)
    assert list(Path(engine.settings.temp_dir).glob("custseg-parts-*")) == []


def test_drop_any_relation(engine: Engine) -> None:
    engine.register("f", PEOPLE)
    engine.create("t", "SELECT 1 AS x")
    engine.create("v", "SELECT 1 AS x", view=True)
    for name in ("f", "t", "v", "never_made"):
        engine.drop(name)
        assert not engine.exists(name)


def test_failures_are_engine_errors(engine: Engine) -> None:
    with pytest.raises(EngineError, match="no_such_table"):
        engine.rows("SELECT * FROM no_such_table")
    with pytest.raises(EngineError):
        engine.execute("SELEC 1")
    with pytest.raises(CustsegError):  # caught above the engines without their library
        engine.create("t", "SELECT CAST('x' AS INTEGER) AS n")
    with pytest.raises(EngineError):
        engine.describe("missing")


def test_query_log_keeps_what_runs(engine: Engine) -> None:
    engine.create("t", "SELECT 1 AS x")
    assert engine.query_log is None  # not kept until asked
    log = engine.log_queries()
    engine.create("u", "SELECT x FROM t")
    engine.rows("SELECT x * ? AS y FROM u", [3])
    assert len(log) == 2
    assert "SELECT x FROM t" in log[0] and log[0].count("u") >= 1
    mark = "%s" if engine.dialect == "postgres" else "?"  # psycopg's placeholder
    assert log[1].startswith("-- parameters: [3]") and log[1].endswith(
        f"SELECT x * {mark} AS y FROM u"
    )
    for statement in log:  # SQL of the engine's dialect, parameters as comments
        sqlglot.parse_one(statement, read=engine.dialect)


def test_forbid_external_access(engine: Engine, tmp_path: Path) -> None:
    assert engine.confinable == (engine.dialect in CONFINABLE)  # known before it starts
    if not engine.confinable:  # a server's or Spark's session: said, not pretended
        assert engine.dialect in ("postgres", "spark")
        with pytest.raises(EngineError, match="cannot lock its session"):
            engine.forbid_external_access()
        return
    allowed = tmp_path / "people.csv"
    PEOPLE.to_csv(allowed, index=False)
    other = tmp_path / "other.csv"
    PEOPLE.to_csv(other, index=False)
    engine.scan("people", allowed, format="csv")
    engine.register("f", PEOPLE)
    engine.create("t", "SELECT 1 AS x")
    engine.forbid_external_access([allowed])
    # what was created stays readable, the allowed file through its view
    assert engine.scalar("SELECT x FROM t") == 1
    assert engine.scalar("SELECT count(*) FROM f") == len(PEOPLE)
    assert engine.scalar("SELECT count(*) FROM people") == len(PEOPLE)
    written = tmp_path / "written.csv"
    for statement in (
        f"SELECT * FROM read_csv('{other}')",
        f"COPY t TO '{written}'",
        f"ATTACH '{tmp_path / 'other.db'}'",
        "SET enable_external_access = true",
    ):
        with pytest.raises(EngineError):
            engine.execute(statement)
    assert not written.exists() and not (tmp_path / "other.db").exists()


def test_closed_engine_refuses_work(engine: Engine) -> None:
    url = getattr(engine, "url", None)
    with connect(engine.dialect, settings=engine.settings, url=url) as other:
        other.create("t", "SELECT 1 AS x")
    with pytest.raises(EngineError):
        other.rows("SELECT 1")


# ---- the stages on the engine: a hand-computed ledger and features --------------------------
#: twelve lines, as of 2011-02-01; the comment gives each line's value and fate
TRANSACTIONS = [
    ("1", "P1", 2, "2011-01-01 10:00", 5.0, 1.0),  # 10, customer 1
    ("1", "P2", 1, "2011-01-01 10:00", 10.0, 1.0),  # 10
    ("1", "P2", 1, "2011-01-01 10:00", 10.0, 1.0),  # 10, exact copy: duplicate
    ("2", "P1", 4, "2011-01-11 09:00", 5.0, 1.0),  # 20
    ("C3", "P1", -2, "2011-01-12 09:00", 5.0, 1.0),  # -10, cancellation
    ("4", "POST", 1, "2011-01-15 12:00", 18.0, 1.0),  # 18, postage: non_product
    ("5", "P3", 1, "2011-01-31 12:00", 40.0, 1.0),  # 40
    ("6", "P1", 1, "2011-01-21 12:00", 7.0, None),  # 7, missing_customer_id
    ("7", "P1", 3, "2011-01-21 12:00", 0.0, 2.0),  # 0, zero_price
    ("8", "P4", 1, "2011-01-20 12:00", 7.0, 2.0),  # 7, customer 2
    ("C9", "P5", -1, "2011-01-22 12:00", 3.0, 3.0),  # -3, customer 3 bought nothing
    ("10", "P1", 1, "2011-02-05 10:00", 5.0, 2.0),  # 5, after_as_of
]


def _audited(engine: Engine) -> tuple:
    frame = pd.DataFrame(
        TRANSACTIONS,
        columns=["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"],
    )
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    src = open_source(engine, frame)
    ledger = audit(
        engine,
        src,
        resolve_columns(src.columns),
        as_of="2011-02-01",
        collectors=(features.collect, quality.collect),
    )
    return ledger, customer_features(engine, ledger.as_of).set_index("customer_id")


def test_ledger_of_hand_computed_lines(engine: Engine) -> None:
    ledger, _ = _audited(engine)
    assert (ledger.input_rows, ledger.kept_rows, ledger.customers) == (12, 6, 2)
    listed = [r for r in RULE_ORDER if r not in CONDITIONAL_REASONS]  # none of their lines
    expected = dict.fromkeys(listed, 0) | {
        "duplicate": 1,
        "non_product": 1,
        "missing_customer_id": 1,
        "zero_price": 1,
        "return_without_purchase": 1,
        "after_as_of": 1,
    }
    assert ledger.dropped == expected
    assert ledger.kept_by_kind == {"purchase": 5, "cancellation": 1, "return": 0}
    money = ledger.money
    assert (money["input_total"], money["kept_net"]) == (114.0, 77.0)
    assert (money["kept_purchases"], money["kept_returns"]) == (87.0, 10.0)
    assert money["dropped_by_reason"] == dict.fromkeys(listed, 0.0) | {
        "duplicate": 10.0,
        "non_product": 18.0,
        "missing_customer_id": 7.0,
        "return_without_purchase": -3.0,
        "after_as_of": 5.0,
    }
    assert ledger.period == {"first": "2011-01-01T10:00:00", "last": "2011-01-31T12:00:00"}
    reasons = engine.rows(f"SELECT reason FROM {rel.LINES} ORDER BY line_no")
    assert [r for (r,) in reasons][:3] == [None, None, "duplicate"]  # the first copy is kept


def test_features_of_hand_computed_lines(engine: Engine) -> None:
    _, f = _audited(engine)
    assert list(f.index) == ["1", "2"] and list(f.columns) == list(TRANSACTION_FEATURES)
    one, two = f.loc["1"], f.loc["2"]
    # customer 1: invoices 1 (20), 2 (20), 5 (40) and cancellation C3 (10)
    assert (one["recency_days"], one["frequency"], one["tenure_days"]) == (1, 3, 31)
    assert one["monetary"] == pytest.approx(70.0)
    assert one["avg_basket"] == pytest.approx(80.0 / 3)
    assert one["product_breadth"] == 3
    assert one["return_rate"] == pytest.approx(10.0 / 80.0)
    assert one["mean_days_between"] == pytest.approx(30.0 / 2)
    # customer 2: one invoice of 7 on 2011-01-20 (the zero-price line is dropped)
    assert (two["recency_days"], two["frequency"], two["tenure_days"]) == (12, 1, 12)
    assert (two["monetary"], two["avg_basket"], two["product_breadth"]) == (7.0, 7.0, 1)
    assert (two["return_rate"], two["mean_days_between"]) == (0.0, 0.0)


def test_quality_summary_of_hand_computed_lines(engine: Engine) -> None:
    _audited(engine)
    summary = quality.summarize(engine)
    assert summary["months"] == [{"month": "2011-01", "orders": 4, "customers": 2, "revenue": 77.0}]
    assert summary["distributions"]["order_value"]["n"] == 4  # invoices 1, 2, 5 and 8


def test_engine_errors_are_one_line(engine: Engine) -> None:
    with pytest.raises(EngineError) as caught:
        engine.rows("SELECT no_such_column FROM (SELECT 1 AS x) AS t")
    message = str(caught.value)
    assert "no_such_column" in message and "\n" not in message


def test_read_only_frame_runs_the_engine_s_own_sql(engine: Engine) -> None:
    """A query of the engine's own dialect runs as written (no transpiling from DuckDB's),
    its decimals as floats, as :meth:`Engine.frame` gives them."""
    engine.register("people", PEOPLE)
    own = {
        "duckdb": "SELECT name, CAST(spend AS DECIMAL(9,2)) AS spend, strftime(seen, '%Y') AS y "
        "FROM people WHERE id < 3 ORDER BY id",
        "postgres": "SELECT name, spend::numeric(9,2) AS spend, to_char(seen, 'YYYY') AS y "
        "FROM people WHERE id < 3 ORDER BY id",
        "spark": "SELECT name, CAST(spend AS DECIMAL(9,2)) AS spend, date_format(seen, 'yyyy') "
        "AS y FROM people WHERE id < 3 ORDER BY id",
    }[engine.dialect]
    got = engine.read_only_frame(own)
    assert got["name"].tolist() == ["Ann", "O'Brien"]
    assert got["spend"].tolist() == [10.5, 0.0] and got["spend"].dtype == np.float64
    assert got["y"].tolist() == ["2011", "2011"]


def test_read_only_frame_cannot_write_on_a_server(engine: Engine) -> None:
    """On PostgreSQL the query runs in a read-only transaction, rolled back: a write hidden in
    a query (a data-modifying WITH) is refused by the server itself, and a setting the query
    changes does not outlast it."""
    if engine.dialect != "postgres":
        pytest.skip("only a database server has read-only transactions")
    engine.register("people", PEOPLE)
    with pytest.raises(EngineError, match="read-only transaction"):
        engine.read_only_frame("WITH d AS (DELETE FROM people RETURNING *) SELECT count(*) FROM d")
    assert engine.scalar("SELECT count(*) FROM people") == len(PEOPLE)
    before = engine.read_only_frame("SELECT current_setting('work_mem') AS m")["m"].item()
    changed = engine.read_only_frame("SELECT set_config('work_mem', '1MB', false) AS m")
    assert changed["m"].item() == "1MB"
    assert engine.read_only_frame("SELECT current_setting('work_mem') AS m")["m"].item() == before
    # strings are read as standard SQL's (and sqlglot's) whatever the session says: with
    # standard_conforming_strings off, '\' would open an escaped quote
    engine.scalar("SELECT set_config('standard_conforming_strings', 'off', false)")
    assert engine.read_only_frame("SELECT '\\' AS b")["b"].item() == "\\"
