"""Shared fixtures: the shipped Online Retail file and a helper to audit small frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custseg.config import settings
from custseg.engines import Engine, connect
from custseg.sources.readers import open_source
from custseg.sources.schema import resolve_columns
from custseg.stages import features, quality
from custseg.stages.audit import CleaningRules, audit
from custseg.stages.ledger import Ledger

#: the collectors a run passes to the audit: per-customer totals and data-quality aggregates
COLLECTORS = (features.collect, quality.collect)

ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = ROOT / "data" / "online_retail.parquet"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def online_retail() -> Path:
    """The UCI Online Retail file shipped in data/ (541,909 lines)."""
    return ONLINE_RETAIL


def lines(
    rows: list[tuple],
    columns: tuple[str, ...] = (
        "InvoiceNo",
        "StockCode",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
    ),
) -> pd.DataFrame:
    """A transactions frame from tuples; dates given as ISO strings are parsed."""
    frame = pd.DataFrame(rows, columns=list(columns))
    if "InvoiceDate" in frame:
        frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], format="ISO8601")
    return frame


def run_audit(
    frame: pd.DataFrame, rules: CleaningRules | None = None, **kw: object
) -> tuple[Ledger, pd.DataFrame, Engine]:
    """Audit a frame; return the ledger, the ``lines`` table (in input order) and the engine."""
    con = connect()
    src = open_source(con, frame)
    ledger = audit(con, src, resolve_columns(src.columns), rules, collectors=COLLECTORS, **kw)  # type: ignore[arg-type]
    return ledger, con.frame("SELECT * FROM lines ORDER BY line_no"), con


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch):
    """Set (value) or unset (``None``) an environment variable for one test, and read the
    settings (:func:`custseg.config.settings`) again."""

    def set_(name: str, value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
        settings.cache_clear()

    yield set_
    settings.cache_clear()


def customers(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three clear groups of customers: recent big spenders, middling, lapsed small buyers."""
    rng = np.random.default_rng(seed)
    parts = []
    for rec, freq, money in ((5, 30, 5000), (60, 6, 600), (300, 1, 40)):
        m = n // 3
        parts.append(
            pd.DataFrame(
                {
                    "recency_days": rng.integers(max(rec // 2, 0), rec * 2 + 1, m),
                    "frequency": np.maximum(1, rng.poisson(freq, m)),
                    "monetary": money * rng.lognormal(0, 0.3, m),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL 15 server for the session (see tests/postgres.py); skipped with
    the reason when none can be started here."""
    from tests import postgres as pg

    why = pg.unavailable()
    if why is not None:
        pytest.skip(why)
    server = pg.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark() -> str:
    """The master of a local Spark of two cores (one JVM for the whole session, started by the
    first engine); skipped with the reason where pyspark or Java cannot be had."""
    import importlib.util
    import os
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed: pip install 'custseg[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java 17: apt-get install openjdk-17-jre-headless")
    return "local[2]"


@pytest.fixture(scope="session")
def spark_connect(spark: str, tmp_path_factory: pytest.TempPathFactory):
    """A Spark Connect server (pyspark's own ``sbin/start-connect-server.sh``, local[2]) on a
    free port for the session: its ``sc://`` URL; stopped at the end."""
    import importlib.util
    import socket
    import subprocess
    import time

    if importlib.util.find_spec("grpc") is None:
        pytest.skip("Spark Connect needs pip install 'pyspark[connect]'")
    import pyspark

    home = Path(pyspark.__file__).parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs = tmp_path_factory.mktemp("spark-connect")
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(logs),
        "SPARK_PID_DIR": str(logs),
        "SPARK_IDENT_STRING": f"custseg-{port}",
    }
    start = [
        "bash", str(home / "sbin" / "start-connect-server.sh"), "--master", "local[2]",
        "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.ui.enabled=false",
    ]  # fmt: skip
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(1)
        else:
            pytest.skip(f"the Spark Connect server did not listen on {port} within 180 s")
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop = ["bash", str(home / "sbin" / "stop-connect-server.sh")]
        subprocess.run(stop, env=env, capture_output=True, timeout=120)
