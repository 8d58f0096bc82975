"""The SQL the stages send to an engine is portable: sqlglot transpiles every statement.

The stages write their SQL once, in DuckDB's dialect. An engine that records what it is asked
(a real DuckDB engine, not a mock) runs the audit (in one part and, from a CSV file, in
several), the features, the quality summary and the loading of a customer table; every
recorded statement must then transpile to Spark SQL and PostgreSQL and parse back there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest
import sqlglot

from custseg.config import Settings
from custseg.datasets import make_transactions
from custseg.engines.base import Params
from custseg.engines.duckdb import DuckDBEngine
from custseg.sources.readers import open_source
from custseg.sources.schema import resolve_columns
from custseg.stages import features, quality
from custseg.stages.audit import audit
from custseg.stages.customers import prepare_customers
from custseg.stages.features import customer_features

T = TypeVar("T")

#: the dialects the next engines speak
TARGETS = ("spark", "postgres")


class RecordingEngine(DuckDBEngine):
    """A DuckDB engine that keeps the SQL it is given (not what it runs to carry it out)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.statements: list[str] = []
        self._depth = 0

    def _record(self, sql: str, call: Callable[[], T]) -> T:
        if self._depth == 0:
            self.statements.append(sql)
        self._depth += 1
        try:
            return call()
        finally:
            self._depth -= 1

    def create(self, name: str, query: str, params: Params = None, *, view: bool = False) -> None:
        self._record(
            query, lambda: super(RecordingEngine, self).create(name, query, params, view=view)
        )

    def append(self, name: str, query: str, params: Params = None) -> None:
        self._record(query, lambda: super(RecordingEngine, self).append(name, query, params))

    def update(
        self, name: str, assignments: Mapping[str, str], where: str, params: Params = None
    ) -> None:
        sets = ", ".join(f"{c} = {e}" for c, e in assignments.items())
        self._record(
            f"UPDATE {name} SET {sets} WHERE {where}",
            lambda: super(RecordingEngine, self).update(name, assignments, where, params),
        )

    def split(self, name: str, query: str, key: str, parts: int) -> list[str]:
        return self._record(
            f"SELECT *, {key} AS part FROM ({query}) AS q",
            lambda: super(RecordingEngine, self).split(name, query, key, parts),
        )

    def execute(self, sql: str, params: Params = None) -> None:
        self._record(sql, lambda: super(RecordingEngine, self).execute(sql, params))

    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self._record(sql, lambda: super(RecordingEngine, self).rows(sql, params))

    def row(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        return self._record(sql, lambda: super(RecordingEngine, self).row(sql, params))

    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        return self._record(sql, lambda: super(RecordingEngine, self).frame(sql, params))

    def numpy(self, sql: str, params: Params = None) -> Any:
        return self._record(sql, lambda: super(RecordingEngine, self).numpy(sql, params))


def _stage_statements(tmp_path: Path) -> list[str]:
    frame, _ = make_transactions(80, seed=3)
    csv = tmp_path / "lines.csv"
    frame.to_csv(csv, index=False)
    customers = pd.DataFrame(
        {
            "ID": ["1", "2", "3", "4", "5", "6"],
            "Income": ["1,200.50", "980", "2,300", None, "1,100", "1,250"],
            "Dt_Customer": ["04-09-2012", "08-03-2014", "21-08-2013", "10-02-2014", "", "1-1-2013"],
            "Education": ["Basic", "PhD", "Master", "PhD", "Basic", "Master"],
            "Spend": [10.0, 250.5, 80.0, 40.0, 12.5, 99.0],
        }
    )
    statements: list[str] = []
    one_part = Settings(threads=1, temp_dir=str(tmp_path))
    parts = Settings(threads=1, partition_lines=len(frame) // 3, temp_dir=str(tmp_path))
    for source, settings in ((frame, one_part), (csv, parts)):  # the CSV is split in parts
        with RecordingEngine(settings) as engine:
            src = open_source(engine, source)
            ledger = audit(
                engine,
                src,
                resolve_columns(src.columns),
                collectors=(features.collect, quality.collect),
            )
            customer_features(engine, ledger.as_of)
            quality.summarize(engine)
            statements += engine.statements
    with RecordingEngine(Settings(threads=1, temp_dir=str(tmp_path))) as engine:
        prepare_customers(engine, open_source(engine, customers), as_of="2015-01-01")
        statements += engine.statements
    return statements


@pytest.fixture(scope="module")
def stage_statements(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return _stage_statements(tmp_path_factory.mktemp("stage-sql"))


def test_the_stages_were_recorded(stage_statements: list[str]) -> None:
    text = "\n".join(stage_statements)
    for needle in (
        "UPDATE lines",
        "_cs_invoices",
        "AS part FROM",
        "_cs_months",
        "regexp_full_match",
    ):
        assert needle in text, needle


@pytest.mark.parametrize("dialect", TARGETS)
def test_every_stage_statement_transpiles(stage_statements: list[str], dialect: str) -> None:
    failures = []
    for sql in stage_statements:
        try:
            out = sqlglot.transpile(sql, read="duckdb", write=dialect)[0]
            sqlglot.parse_one(out, read=dialect)
        except sqlglot.errors.SqlglotError as exc:
            failures.append(f"{' '.join(sql.split())[:120]} → {exc}")
    assert not failures, "\n".join(failures)
