"""Tests for the synthetic transaction generator (custseg.datasets)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custseg.datasets import (
    COLUMNS,
    DEFAULT_SHARES,
    SCHEMA,
    SEGMENTS,
    iter_transaction_batches,
    make_transactions,
    write_transactions_parquet,
)

END = pd.Timestamp("2024-12-31")
N_CUSTOMERS = 2000


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return make_transactions(N_CUSTOMERS, seed=0)


def _clean(lines: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines of identified customers, without cancellations and postage."""
    keep = (
        lines["CustomerID"].notna()
        & ~lines["InvoiceNo"].str.startswith("C")
        & (lines["StockCode"] != "POST")
    )
    return lines[keep]


def _per_customer(lines: pd.DataFrame, end: pd.Timestamp = END) -> pd.DataFrame:
    clean = _clean(lines).assign(
        cid=lambda d: d["CustomerID"].astype("int64").astype(str),
        value=lambda d: d["Quantity"] * d["UnitPrice"],
    )
    g = clean.groupby("cid").agg(
        last=("InvoiceDate", "max"),
        first=("InvoiceDate", "min"),
        invoices=("InvoiceNo", "nunique"),
        value=("value", "sum"),
    )
    g["recency"] = (end - g["last"].dt.normalize()).dt.days
    g["tenure"] = (g["last"].dt.normalize() - g["first"].dt.normalize()).dt.days
    return g


# --- determinism -------------------------------------------------------------------------


def test_same_seed_same_data_and_different_seed_differs() -> None:
    a_lines, a_truth = make_transactions(300, seed=3)
    b_lines, b_truth = make_transactions(300, seed=3)
    pd.testing.assert_frame_equal(a_lines, b_lines)
    pd.testing.assert_series_equal(a_truth, b_truth)
    c_lines, c_truth = make_transactions(300, seed=4)
    assert not a_lines.equals(c_lines)
    assert not a_truth.equals(c_truth)


def test_batches_are_deterministic() -> None:
    first = list(iter_transaction_batches(20_000, seed=5, batch_customers=300))
    again = list(iter_transaction_batches(20_000, seed=5, batch_customers=300))
    assert len(first) == len(again) > 1
    assert all(x.equals(y) for x, y in zip(first, again, strict=True))
    other = list(iter_transaction_batches(20_000, seed=6, batch_customers=300))
    assert not first[0].equals(other[0])


# Pinned content: sha256 of the CSV text of small generated data, computed with the code as it
# was before _generate_block was split into one function per kind of draw. Each block draws
# from one generator in a fixed order, so moving or adding a draw (or changing a rule) changes
# these. When a change of the synthetic data is intended, say so and update the hashes.
_PINNED_LINES = {
    True: (1520, "516276501e10cf44381a3a684c31848377f718f0977a48e61ec277e1123c6d99"),
    False: (1443, "737f58bfcbdbdea70de7ef812e2c887e0491c283d0cc2ec0a8708c5af63a6ea1"),
}
_PINNED_TRUTH = "dd4234e6f20138ac079e469f55f4f2d54223b874e0b2fe39c23e33cebeda4fd8"
_PINNED_BATCHES = (3, 3012, "f763ca0ca330a89af8b3aa75ce77f4cbe68e8a50c87449057e633723ef7ff410")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("noise", [True, False])
def test_generated_content_is_pinned(noise: bool) -> None:
    lines, truth = make_transactions(60, seed=7, noise=noise)
    if noise:  # the pinned frame holds every kind of noise line
        assert lines["InvoiceNo"].str.startswith("C").any()
        assert lines["CustomerID"].isna().any()
        assert (lines["StockCode"] == "POST").any()
        assert (lines["UnitPrice"] == 0).any()
        assert lines.duplicated().any()
    assert (len(lines), _sha256(lines.to_csv(index=False))) == _PINNED_LINES[noise]
    assert _sha256(truth.to_csv()) == _PINNED_TRUTH


def test_streamed_content_is_pinned() -> None:
    # three blocks of 40 customers, the last one cut to fit max_lines
    batches = list(iter_transaction_batches(3_000, seed=1, batch_customers=40))
    frame = pa.Table.from_batches(batches).to_pandas()
    pinned = (len(batches), len(frame), _sha256(frame.to_csv(index=False)))
    assert pinned == _PINNED_BATCHES


# --- schema ------------------------------------------------------------------------------


def test_columns_and_dtypes(data: tuple[pd.DataFrame, pd.Series]) -> None:
    lines, _ = data
    assert tuple(lines.columns) == COLUMNS
    for col in ("InvoiceNo", "StockCode", "Description", "Country"):
        assert pd.api.types.is_string_dtype(lines[col]), col
        assert lines[col].notna().all(), col
    assert lines["Quantity"].dtype == np.int64
    assert lines["UnitPrice"].dtype == np.float64
    assert lines["CustomerID"].dtype == np.float64
    assert pd.api.types.is_datetime64_dtype(lines["InvoiceDate"])


def test_values_look_like_online_retail(data: tuple[pd.DataFrame, pd.Series]) -> None:
    lines, _ = data
    assert lines["InvoiceNo"].str.fullmatch(r"C?\d{6}").all()
    dates = lines["InvoiceDate"]
    assert (dates.dt.microsecond == 0).all()
    assert dates.max() <= END + pd.Timedelta(hours=23, minutes=59, seconds=59)
    purchases = lines[~lines["InvoiceNo"].str.startswith("C")]
    assert purchases["InvoiceDate"].dt.hour.between(8, 19).all()  # shop hours
    price = lines["UnitPrice"]
    assert (price >= 0).all()
    assert np.allclose(price.round(2), price)
    assert (lines.loc[lines["StockCode"] != "POST", "Quantity"] != 0).all()
    ids = lines["CustomerID"].dropna()
    assert (ids >= 10_000).all()
    assert (ids == ids.round()).all()
    assert (lines["Country"] == "United Kingdom").mean() > 0.8
    assert lines["Country"].nunique() > 3
    assert lines["StockCode"].nunique() > 1000
    # one description per stock code, like a catalogue
    assert (lines.groupby("StockCode")["Description"].nunique() == 1).all()
    # about 25 lines per customer
    assert 20 <= len(lines) / N_CUSTOMERS <= 30


def test_invoice_numbers_unique_and_follow_time(data: tuple[pd.DataFrame, pd.Series]) -> None:
    lines, _ = data
    purchases = lines[~lines["InvoiceNo"].str.startswith("C")]
    per_invoice = purchases.groupby("InvoiceNo").agg(
        n_dates=("InvoiceDate", "nunique"),
        n_customers=("CustomerID", lambda s: s.nunique(dropna=False)),
        date=("InvoiceDate", "first"),
    )
    assert (per_invoice["n_dates"] == 1).all()
    assert (per_invoice["n_customers"] == 1).all()
    per_invoice.index = per_invoice.index.astype("int64")
    assert per_invoice.sort_index()["date"].is_monotonic_increasing
    assert lines["InvoiceDate"].is_monotonic_increasing  # file ordered by invoice time


# --- truth -------------------------------------------------------------------------------


def test_truth_covers_every_customer(data: tuple[pd.DataFrame, pd.Series]) -> None:
    lines, truth = data
    assert truth.name == "segment"
    assert truth.index.is_monotonic_increasing
    assert truth.index.is_unique
    assert len(truth) == N_CUSTOMERS
    ids = set(lines["CustomerID"].dropna().astype("int64").astype(str))
    assert ids == set(truth.index)
    assert set(truth) <= set(SEGMENTS)
    shares = truth.value_counts(normalize=True)
    for name, share in DEFAULT_SHARES.items():
        assert shares[name] == pytest.approx(share, abs=0.01), name


def test_custom_shares() -> None:
    _, truth = make_transactions(500, seed=1, shares={"champions": 1, "lost": 3})
    assert truth.value_counts().to_dict() == {"lost": 375, "champions": 125}


def test_segments_land_in_documented_ranges(data: tuple[pd.DataFrame, pd.Series]) -> None:
    lines, truth = data
    g = _per_customer(lines)
    g["segment"] = truth.reindex(g.index)
    assert g["segment"].notna().all()
    for name, params in SEGMENTS.items():
        s = g[g["segment"] == name]
        assert len(s) > 100, name
        assert s["recency"].between(*params["recency_days"]).all(), name
        assert s["invoices"].between(*params["invoices"]).all(), name
        several = s[s["invoices"] > 1]
        assert several["tenure"].between(*params["tenure_days"]).all(), name
        basket = s["value"] / s["invoices"]
        assert basket.median() == pytest.approx(params["basket"], rel=0.15), name
        ratio = basket / params["basket"]
        assert ratio.between(1 / 2.5, 2.5).mean() >= 0.95, name
        assert ratio.between(1 / 5, 5).all(), name


def test_segments_are_recoverable_by_clustering(data: tuple[pd.DataFrame, pd.Series]) -> None:
    cluster = pytest.importorskip("sklearn.cluster")
    metrics = pytest.importorskip("sklearn.metrics")
    lines, truth = data
    g = _per_customer(lines)
    x = np.log1p(g[["recency", "invoices", "value"]].to_numpy(dtype=float))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    labels = cluster.KMeans(n_clusters=len(SEGMENTS), n_init=10, random_state=0).fit_predict(x)
    assert metrics.adjusted_rand_score(truth.reindex(g.index), labels) >= 0.9


def test_end_date_is_respected() -> None:
    end = pd.Timestamp("2023-06-30")
    lines, truth = make_transactions(300, seed=2, end="2023-06-30")
    assert lines["InvoiceDate"].max() < end + pd.Timedelta(days=1)
    g = _per_customer(lines, end)
    g["segment"] = truth.reindex(g.index)
    for name, params in SEGMENTS.items():
        assert g.loc[g["segment"] == name, "recency"].between(*params["recency_days"]).all()


# --- noise -------------------------------------------------------------------------------


def test_noise_rates(data: tuple[pd.DataFrame, pd.Series]) -> None:
    lines, _ = data
    assert 0.02 <= lines["CustomerID"].isna().mean() <= 0.04
    assert 0.003 <= lines.duplicated().mean() <= 0.008
    post = lines[lines["StockCode"] == "POST"]
    assert 0.005 <= len(post) / len(lines) <= 0.015
    assert (post["Description"] == "POSTAGE").all()
    assert post["Quantity"].between(1, 3).all()
    assert (post["UnitPrice"] > 0).all()
    assert post["CustomerID"].notna().all()
    assert 1 <= (lines["UnitPrice"] == 0).sum() <= 0.001 * len(lines)
    is_cancel = lines["InvoiceNo"].str.startswith("C")
    customer_invoices = lines.loc[~is_cancel & lines["CustomerID"].notna(), "InvoiceNo"].nunique()
    cancel_invoices = lines.loc[is_cancel, "InvoiceNo"].nunique()
    assert 0.01 <= cancel_invoices / customer_invoices <= 0.03


def test_cancellations_never_exceed_purchases(data: tuple[pd.DataFrame, pd.Series]) -> None:
    lines, _ = data
    is_cancel = lines["InvoiceNo"].str.startswith("C")
    cancels = lines[is_cancel].assign(InvoiceNo=lambda d: d["InvoiceNo"].str[1:])
    purchases = lines[~is_cancel]
    assert len(cancels) > 0
    assert (cancels["Quantity"] < 0).all()
    assert (purchases.loc[purchases["StockCode"] != "POST", "Quantity"] > 0).all()
    assert cancels["CustomerID"].notna().all()
    key = ["InvoiceNo", "StockCode"]
    bought = purchases.groupby(key)["Quantity"].sum()
    cancelled = -cancels.groupby(key)["Quantity"].sum()
    assert cancelled.index.isin(bought.index).all()
    assert (cancelled <= bought.reindex(cancelled.index)).all()
    # same customer, same price, strictly later
    orig = purchases.groupby("InvoiceNo").agg(cid=("CustomerID", "first"), t=("InvoiceDate", "max"))
    canc = cancels.groupby("InvoiceNo").agg(cid=("CustomerID", "first"), t=("InvoiceDate", "min"))
    joined = canc.merge(orig, left_index=True, right_index=True, suffixes=("", "_orig"))
    assert (joined["cid"] == joined["cid_orig"]).all()
    assert (joined["t"] > joined["t_orig"]).all()
    prices = purchases.groupby(key)["UnitPrice"].agg(set)
    cancel_prices = cancels.groupby(key)["UnitPrice"].agg(set)
    assert all(cp <= prices[k] for k, cp in cancel_prices.items())


def test_no_noise_gives_clean_lines() -> None:
    lines, truth = make_transactions(300, seed=7, noise=False)
    assert lines["CustomerID"].notna().all()
    assert not lines["InvoiceNo"].str.startswith("C").any()
    assert not (lines["StockCode"] == "POST").any()
    assert (lines["UnitPrice"] > 0).all()
    assert (lines["Quantity"] > 0).all()
    assert len(_clean(lines)) == len(lines)
    assert len(truth) == 300


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        make_transactions(0)
    with pytest.raises(ValueError):
        make_transactions(10, seed=-1)
    with pytest.raises(ValueError):
        make_transactions(10, shares={"whales": 1.0})
    with pytest.raises(ValueError):
        make_transactions(10, shares={"champions": 0.0})
    with pytest.raises(ValueError):
        iter_transaction_batches(-1)  # raised at call time, not at the first next()
    with pytest.raises(ValueError):
        iter_transaction_batches(100, seed=-3)


@pytest.mark.parametrize("noise", [True, False])
def test_single_customer(noise: bool) -> None:
    lines, truth = make_transactions(1, seed=9, noise=noise)
    assert len(truth) == 1
    assert len(lines) >= 1
    assert set(lines["CustomerID"].dropna().astype("int64").astype(str)) == set(truth.index)


# --- streaming ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n_lines", "noise"), [(3_000, True), (50_000, True), (50_000, False)])
def test_batches_total_and_unique_ids(n_lines: int, noise: bool) -> None:
    batches = list(iter_transaction_batches(n_lines, seed=1, noise=noise, batch_customers=400))
    assert all(b.schema.equals(SCHEMA) for b in batches)
    total = sum(b.num_rows for b in batches)
    assert abs(total - n_lines) <= 0.05 * n_lines
    ids = [set(b.column("CustomerID").drop_null().to_pylist()) for b in batches]
    assert sum(len(s) for s in ids) == len(set().union(*ids))
    invoices = [set(b.column("InvoiceNo").to_pylist()) for b in batches]
    assert sum(len(s) for s in invoices) == len(set().union(*invoices))
    if n_lines >= 50_000:
        assert len(batches) > 2
        per_customer = total / sum(len(s) for s in ids)
        assert 20 <= per_customer <= 30


def test_batches_edge_cases() -> None:
    assert list(iter_transaction_batches(0)) == []
    tiny = list(iter_transaction_batches(10, seed=0))  # never less than one customer
    assert len(tiny) == 1
    assert tiny[0].num_rows >= 1
    batches = list(iter_transaction_batches(100_000, seed=0))  # default: one big block
    assert len(batches) == 1
    assert abs(batches[0].num_rows - 100_000) <= 5_000


def test_write_parquet_round_trip(tmp_path) -> None:
    path = tmp_path / "lines.parquet"
    path.write_bytes(b"old content")  # replaced atomically
    n = write_transactions_parquet(path, 20_000, seed=2, batch_customers=300)
    table = pq.read_table(path)
    assert table.num_rows == n
    assert abs(n - 20_000) <= 1_000
    assert table.schema.equals(SCHEMA)
    expected = pa.Table.from_batches(
        list(iter_transaction_batches(20_000, seed=2, batch_customers=300)), schema=SCHEMA
    )
    assert table.equals(expected)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert [p.name for p in tmp_path.iterdir()] == ["lines.parquet"]  # no temp file left
    frame = pd.read_parquet(path)
    assert frame["CustomerID"].dtype == np.float64
    assert frame["CustomerID"].isna().any()


def test_write_parquet_bad_arguments_leave_no_file(tmp_path) -> None:
    with pytest.raises(ValueError):
        write_transactions_parquet(tmp_path / "x.parquet", -5)
    with pytest.raises(TypeError):
        write_transactions_parquet(tmp_path / "x.parquet", 100, colour="red")
    assert list(tmp_path.iterdir()) == []
