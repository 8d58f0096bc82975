"""Same answer everywhere: the audit and the features run inside PostgreSQL give DuckDB's.

The PostgreSQL engine runs the stages' SQL (written once, in DuckDB's dialect) transpiled by
sqlglot. On the same rows, loaded into the test server (tests/postgres.py), both engines must
give the same ledger (every reason's rows and money, as audit.json has them), the same
customer features (relative 1e-9) and, with the same seed, the same segments. Inputs: Online
Retail (a seeded quarter of its invoices; all 541,909 lines with CUSTSEG_CONFORMANCE_FULL=1)
and synthetic lines with every kind of noise the rules know, typed and as text.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.stages.audit.rules import RULE_ORDER
from custseg.stages.features import TRANSACTION_FEATURES
from tests.postgres import load_frame

ROOT = Path(__file__).resolve().parents[1]


def url_of(server, user: str = "postgres") -> str:
    return f"postgresql://{user}@127.0.0.1:{server.port}/postgres"


def noisy_lines() -> pd.DataFrame:
    """Synthetic lines with the noise of make_transactions (anonymous lines, cancellations,
    duplicates, postage, zero prices) plus one line or more for every other rule."""
    lines, _ = make_transactions(300, seed=7)
    lines = lines.copy()
    base = lines.iloc[0].to_dict()
    extra = []

    def line(**changes: object) -> None:
        extra.append({**base, **changes})

    line(InvoiceNo="A563185", Description="Adjust bad debt", Quantity=1, UnitPrice=11062.06)
    line(StockCode="gift_0001_20", Quantity=1, UnitPrice=16.67)
    line(StockCode="GIFT_0001_10", Quantity=2, UnitPrice=8.33)
    line(UnitPrice=-5.0)
    line(Quantity=0)
    line(UnitPrice=float("nan"))
    line(Quantity=float("inf") if lines["Quantity"].dtype.kind == "f" else 10**12)
    line(InvoiceDate=pd.Timestamp("2099-01-01 10:00"))
    line(InvoiceDate=pd.Timestamp("1900-01-01 10:00"))
    line(InvoiceNo="C999999", CustomerID=99999.0, Quantity=-3)  # return, nothing bought
    line(InvoiceNo="999998", CustomerID=99998.0, Quantity=-2)  # a return, not a cancellation
    line(InvoiceDate=pd.NaT)
    return pd.concat([lines, pd.DataFrame(extra)], ignore_index=True)


def as_text(lines: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, dates day-first, some ids with '.0' and surrounding spaces."""
    out = pd.DataFrame(index=lines.index)
    for col in lines.columns:
        out[col] = lines[col].astype(object).where(lines[col].notna(), None)
    out["InvoiceDate"] = [
        None if pd.isna(t) else t.strftime("%d/%m/%Y %H:%M") for t in lines["InvoiceDate"]
    ]
    out["CustomerID"] = [
        None if pd.isna(c) else (f" {c:.1f}" if i % 3 == 0 else f"{int(c)}")
        for i, c in enumerate(lines["CustomerID"])
    ]
    for col in ("Quantity", "UnitPrice"):
        out[col] = [None if pd.isna(v) else str(v) for v in lines[col]]
    return out


def as_european_text(lines: pd.DataFrame) -> pd.DataFrame:
    """Text columns again, with ISO dates, decimal commas, currency signs and thousands dots."""
    out = as_text(lines)
    out["InvoiceDate"] = [None if pd.isna(t) else str(t) for t in lines["InvoiceDate"]]
    out["UnitPrice"] = [
        None
        if pd.isna(v)
        else f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") + " €"
        for v in lines["UnitPrice"]
    ]
    return out


def same_answer(duck: custseg.SegmentationResult, pg: custseg.SegmentationResult) -> None:
    a, b = duck.ledger.to_dict(), pg.ledger.to_dict()
    a.pop("source"), b.pop("source")
    for key in a:
        assert a[key] == b[key], key
    x, y = duck.segments, pg.segments
    assert list(x["customer_id"]) == list(y["customer_id"])
    for col in TRANSACTION_FEATURES:
        np.testing.assert_allclose(
            y[col].to_numpy(float), x[col].to_numpy(float), rtol=1e-9, atol=0, err_msg=col
        )
    assert list(x["segment"]) == list(y["segment"])
    assert list(x["segment_name"]) == list(y["segment_name"])


#: share of Online Retail's invoices the test loads (a seeded sample, so that the suite stays
#: about a minute longer, not two); CUSTSEG_CONFORMANCE_FULL=1 loads all 541,909 lines
RETAIL_SHARE = 0.25


def retail_lines() -> pd.DataFrame:
    """Online Retail, whole with CUSTSEG_CONFORMANCE_FULL=1, else a seeded sample of invoices
    (every line of a sampled invoice, so cancellations and duplicates keep their kind)."""
    retail = pd.read_parquet(ROOT / "data" / "online_retail.parquet")
    if os.environ.get("CUSTSEG_CONFORMANCE_FULL") == "1":
        return retail
    invoices = retail["InvoiceNo"].astype(str).str.lstrip("C").unique()
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(invoices, int(len(invoices) * RETAIL_SHARE), replace=False))
    return retail[retail["InvoiceNo"].astype(str).str.lstrip("C").isin(chosen)].reset_index(
        drop=True
    )


@pytest.fixture(scope="module")
def loaded(postgres):
    retail = retail_lines()
    noisy = noisy_lines()
    text, eu = as_text(noisy), as_european_text(noisy)
    with postgres.connect() as conn:
        load_frame(conn, "retail", retail)
        load_frame(conn, "noisy", noisy)
        load_frame(conn, "noisy_text", text)
        load_frame(conn, "noisy_eu", eu)
    return {"retail": retail, "noisy": noisy, "noisy_text": text, "noisy_eu": eu}


@pytest.mark.parametrize("name", ["noisy", "noisy_text", "noisy_eu"])
def test_synthetic_noise_same_answer(postgres, loaded, name: str) -> None:
    frame = loaded[name]
    duck = custseg.segment(frame, seed=0)
    pg = custseg.segment(url_of(postgres), table=name, seed=0)
    same_answer(duck, pg)
    dropped = pg.ledger.dropped
    # every rule fires on this input, but the as-of cut (no --as-of is given)
    for reason in (r for r in RULE_ORDER if r != "after_as_of"):
        assert dropped.get(reason, 0) > 0, reason


def test_online_retail_same_answer(postgres, loaded) -> None:
    # k given: the choice of k reads only the features, compared here to 1e-9, and its sweep
    # would double the time of the test (the synthetic inputs above choose k)
    duck = custseg.segment(loaded["retail"], seed=0, k=5)
    pg = custseg.segment(url_of(postgres), table="retail", seed=0, k=5)
    same_answer(duck, pg)
    assert pg.ledger.input_rows == len(loaded["retail"])
    assert pg.ledger.dropped["duplicate"] > 0 and pg.ledger.kept_by_kind["cancellation"] > 0


def test_query_and_as_of(postgres, loaded) -> None:
    frame = loaded["noisy"]
    as_of = "2024-10-01"
    duck = custseg.segment(frame[frame["Country"] != "France"], seed=1, as_of=as_of)
    pg = custseg.segment(
        url_of(postgres),
        query='SELECT * FROM noisy WHERE "Country" <> \'France\' OR "Country" IS NULL',
        seed=1,
        as_of=as_of,
    )
    same_answer(duck, pg)
    assert pg.ledger.dropped["after_as_of"] > 0


def test_lifecycle_split_and_customer_table(postgres, loaded) -> None:
    """The other two paths of a run read the engine too: the same segments (small inputs)."""
    lines, _ = make_transactions(150, seed=2)
    with postgres.connect() as conn:
        load_frame(conn, "small", lines)
    try:
        duck = custseg.segment(lines, seed=0, split="lifecycle", k=3)
        pg = custseg.segment(url_of(postgres), table="small", seed=0, split="lifecycle", k=3)
        assert list(duck.segments["segment"]) == list(pg.segments["segment"])
        table = duck.segments[["customer_id", "recency_days", "frequency", "monetary"]]
        with postgres.connect() as conn:
            load_frame(conn, "crm", table)
        duck = custseg.segment(table, seed=0, kind="customers", k=3)
        pg = custseg.segment(url_of(postgres), table="crm", seed=0, kind="customers", k=3)
        assert list(duck.segments["segment"]) == list(pg.segments["segment"])
    finally:
        with postgres.connect() as conn:
            conn.execute("DROP TABLE IF EXISTS small")
            conn.execute("DROP TABLE IF EXISTS crm")


def test_cli_run_inside_postgres(postgres, loaded, tmp_path: Path) -> None:
    """The command line's run; then nothing of the run is left in the database."""
    out = tmp_path / "run"
    done = CliRunner().invoke(
        app, ["run", url_of(postgres), "--table", "noisy", "--out", str(out), "--seed", "0"]
    )
    assert done.exit_code == 0, done.output
    written = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    expected = custseg.segment(loaded["noisy"], seed=0).segments
    assert list(written["segment"]) == list(expected["segment"])
    with postgres.connect() as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'custseg%'"
        ).fetchall()
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    assert schemas == []
    assert sorted(t for (t,) in tables) == ["noisy", "noisy_eu", "noisy_text", "retail"]


def one_line_error(args: list[str]) -> str:
    done = CliRunner().invoke(app, ["run", *args])
    assert done.exit_code == 1, done.output
    assert "Traceback" not in done.output
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1, done.output
    return lines[0]


def test_error_cannot_connect(tmp_path: Path) -> None:
    url = "postgresql://ann:s3cret@127.0.0.1:1/shop"
    message = one_line_error([url, "--table", "lines", "--out", str(tmp_path / "o")])
    assert "postgresql://ann:***@127.0.0.1:1/shop" in message
    assert "s3cret" not in message
    assert "cannot connect" in message


def test_error_no_such_table(postgres, loaded, tmp_path: Path) -> None:
    message = one_line_error(
        [url_of(postgres), "--table", "sales.nothing", "--out", str(tmp_path / "o")]
    )
    assert "no table 'sales.nothing'" in message
    assert url_of(postgres) in message


def test_error_missing_column(postgres, loaded, tmp_path: Path) -> None:
    query = 'SELECT "InvoiceNo", "StockCode", "Quantity", "UnitPrice", "CustomerID" FROM noisy'
    message = one_line_error(
        [url_of(postgres), "--query", query, "--out", str(tmp_path / "o"), "--kind", "transactions"]
    )
    assert url_of(postgres) in message
    assert "date" in message


def test_error_table_without_database(tmp_path: Path) -> None:
    message = one_line_error(
        [str(ROOT / "data" / "online_retail.parquet"), "--table", "x", "--out", str(tmp_path)]
    )
    assert "not a postgresql:// URL" in message
