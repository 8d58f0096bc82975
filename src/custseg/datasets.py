"""Seeded synthetic retail transactions with known latent customer segments.

The lines look like the UCI *Online Retail* file (same columns, same kinds of dirt) and every
customer belongs to one latent segment of :data:`SEGMENTS`, so a segmentation pipeline can be
scored against the truth. Generation is vectorised with numpy: a block of customers is drawn
in one go (customers -> invoices -> lines -> noise) and turned into a pyarrow record batch.
:func:`make_transactions` returns one block as pandas objects; :func:`iter_transaction_batches`
streams as many blocks as needed for a number of lines and :func:`write_transactions_parquet`
writes them to Parquet without ever holding more than one block in memory.

Everything is deterministic for a seed: the product catalogue and each block use their own
:class:`numpy.random.SeedSequence` derived from ``seed``.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "COLUMNS",
    "DEFAULT_SHARES",
    "DRIFT_SEGMENTS",
    "ONE_TIME_SEGMENTS",
    "SCHEMA",
    "SEGMENTS",
    "iter_transaction_batches",
    "make_drifting_transactions",
    "make_transactions",
    "write_transactions_parquet",
]

#: Latent segments (data, not code). Ranges are inclusive integer ranges:
#:
#: ``recency_days``
#:     days between ``end`` and the day of the customer's last purchase;
#: ``invoices``
#:     number of distinct purchase invoices;
#: ``tenure_days``
#:     days between first and last purchase (irrelevant with a single invoice);
#: ``basket``
#:     mean invoice value: a customer's net value is about ``invoices * basket`` with a
#:     lognormal customer factor (sigma 0.3) and a smaller per-invoice one (sigma 0.15);
#: ``lines_per_invoice``
#:     mean number of product lines per invoice (``1 + Poisson(mean - 1)``);
#: ``share``
#:     share of customers in the default mix (:data:`DEFAULT_SHARES`).
SEGMENTS: dict[str, dict[str, Any]] = {
    "champions": {
        "recency_days": (1, 20),
        "invoices": (20, 40),
        "tenure_days": (300, 700),
        "basket": 300.0,
        "lines_per_invoice": 2.6,
        "share": 0.15,
    },
    "loyal": {
        "recency_days": (20, 60),
        "invoices": (8, 15),
        "tenure_days": (300, 700),
        "basket": 150.0,
        "lines_per_invoice": 2.3,
        "share": 0.25,
    },
    "new": {
        "recency_days": (1, 30),
        "invoices": (1, 2),
        "tenure_days": (0, 30),
        "basket": 60.0,
        "lines_per_invoice": 2.0,
        "share": 0.20,
    },
    "at_risk": {
        "recency_days": (150, 250),
        "invoices": (6, 12),
        "tenure_days": (300, 700),
        "basket": 200.0,
        "lines_per_invoice": 2.3,
        "share": 0.20,
    },
    "lost": {
        "recency_days": (300, 365),
        "invoices": (1, 2),
        "tenure_days": (0, 60),
        "basket": 30.0,
        "lines_per_invoice": 1.5,
        "share": 0.20,
    },
}

#: Latent segments of customers who bought exactly once, used by ``make_transactions(...,
#: one_time=share)`` to make a base where most customers bought once (an Olist-like
#: marketplace: about 97 % of its customers ordered once). They differ by recency and basket.
ONE_TIME_SEGMENTS: dict[str, dict[str, Any]] = {
    "one_time_recent": {
        "recency_days": (1, 90),
        "invoices": (1, 1),
        "tenure_days": (0, 0),
        "basket": 90.0,
        "lines_per_invoice": 1.6,
        "share": 0.35,
    },
    "one_time_lapsed": {
        "recency_days": (200, 365),
        "invoices": (1, 1),
        "tenure_days": (0, 0),
        "basket": 50.0,
        "lines_per_invoice": 1.4,
        "share": 0.5,
    },
    "one_time_big": {
        "recency_days": (30, 300),
        "invoices": (1, 1),
        "tenure_days": (0, 0),
        "basket": 700.0,
        "lines_per_invoice": 4.0,
        "share": 0.15,
    },
}

#: the repeat segments of a one-time base (every customer of them bought at least 6 times)
_REPEAT_SEGMENTS = ("champions", "loyal", "at_risk")

#: Default mix of segments (segment name -> share of customers).
DEFAULT_SHARES: dict[str, float] = {name: float(p["share"]) for name, p in SEGMENTS.items()}

#: Column names, in the order of the UCI Online Retail file.
COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

#: Arrow schema of the generated lines (``InvoiceDate`` holds whole seconds).
SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("InvoiceNo", pa.string(), nullable=False),
        pa.field("StockCode", pa.string(), nullable=False),
        pa.field("Description", pa.string(), nullable=False),
        pa.field("Quantity", pa.int64(), nullable=False),
        pa.field("InvoiceDate", pa.timestamp("us"), nullable=False),
        pa.field("UnitPrice", pa.float64(), nullable=False),
        pa.field("CustomerID", pa.float64(), nullable=True),
        pa.field("Country", pa.string(), nullable=False),
    ]
)

# --- generation constants -------------------------------------------------------------------
_FIRST_CUSTOMER_ID = 10_000
_FIRST_INVOICE = 100_000  # 6 digits for the first 900 000 invoices, more digits after that
_N_PRODUCTS = 3_000
_CUSTOMER_SIGMA = 0.3  # lognormal sigma of a customer's mean basket around the segment's
_INVOICE_SIGMA = 0.15  # lognormal sigma of one invoice around the customer's mean basket
_SHOP_OPEN_S = 8 * 3600
_SHOP_CLOSE_S = 20 * 3600
_DAY_S = 86_400
_MAX_CANCEL_DELAY_DAYS = 7
_ROW_GROUP_SIZE = 1_000_000  # Parquet rows per row group
# typical quantities a line is bought in; the product is then picked so that price ~ value/qty
# (as a 100-entry lookup table: step -> percent of lines)
_QTY_STEP_TABLE = np.repeat(
    np.array([1, 2, 3, 4, 6, 8, 10, 12, 24], dtype=np.float64),
    [16, 16, 12, 12, 12, 7, 7, 12, 6],
)
_PRICE_JITTER = 4  # pick among catalogue neighbours (+-) of the ideal price
# noise rates (fractions of lines unless said otherwise)
_ANON_RATE = 0.03  # lines without CustomerID (extra anonymous invoices)
_ANON_LINES_PER_INVOICE = 4.0
_ANON_BASKET = 80.0
_CANCEL_RATE = 0.02  # fraction of customer invoices that get a cancellation
_DUP_RATE = 0.005
_POST_RATE = 0.01
_ZERO_PRICE_RATE = 0.0003
_POST_PRICES = np.array([18.0, 15.0, 40.0])
_POST_PRICE_P = np.array([0.7, 0.2, 0.1])
_POST_WEIGHT_ABROAD = 10.0  # postage is mostly charged to customers outside the UK
# expected extra lines per customer product line (used to size streamed blocks)
# (cancellation lines: 2 % of invoices x about 1.7 of their 2.4 lines ~ 0.014)
_OTHER_NOISE = _DUP_RATE + _POST_RATE + _ZERO_PRICE_RATE + 0.014
_NOISE_FACTOR = (1.0 + _OTHER_NOISE) / (1.0 - _ANON_RATE)

_HOME = "United Kingdom"
#: customer country -> share of customers (anonymous invoices are 95 % home)
_COUNTRY_SHARES: dict[str, float] = {
    _HOME: 0.89,
    "Germany": 0.022,
    "France": 0.02,
    "EIRE": 0.017,
    "Spain": 0.007,
    "Netherlands": 0.007,
    "Belgium": 0.006,
    "Switzerland": 0.006,
    "Portugal": 0.005,
    "Australia": 0.004,
    "Norway": 0.004,
    "Italy": 0.004,
    "Channel Islands": 0.003,
    "Finland": 0.003,
    "Sweden": 0.002,
}
_COUNTRIES: tuple[str, ...] = tuple(_COUNTRY_SHARES)  # index 0 is home
_COUNTRY_P = np.array(list(_COUNTRY_SHARES.values()))
_COUNTRY_P = _COUNTRY_P / _COUNTRY_P.sum()
_ANON_HOME_SHARE = 0.95


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


# words of the catalogue's descriptions ("WHITE HEART T-LIGHT HOLDER")
_ADJECTIVES = _words(
    "WHITE|RED|PINK|BLUE|GREEN|IVORY|BLACK|VINTAGE|RETRO|SMALL|LARGE|JUMBO|MINI|GLASS|WOODEN|"
    "ENAMEL|ZINC|PAPER|CERAMIC|FELT|SILVER|GOLD|PASTEL|FRENCH|ANTIQUE"
)
_THEMES = _words(
    "HEART|REGENCY|SPOTTY|POLKADOT|FLORAL|CHRISTMAS|BIRD|BUNNY|STAR|PAISLEY|ROSE|SKULL|LOVE|"
    "GARDEN|KITCHEN|PARTY|DOLLY GIRL|SPACEBOY|WOODLAND|ALPHABET|CAKE|TEA|LACE|STRIPE"
)
_ITEMS = _words(
    "T-LIGHT HOLDER|LANTERN|BAG|LUNCH BOX|MUG|TEACUP AND SAUCER|CAKE STAND|BUNTING|NOTEBOOK|"
    "CANDLE|PHOTO FRAME|CLOCK|CUSHION COVER|DOORMAT|HOT WATER BOTTLE|STORAGE TIN|JAM JAR|"
    "WALL SIGN|GIFT WRAP|PLATE|BOWL|PURSE|UMBRELLA|APRON|DRAWER KNOB|COAT HANGER|NAPKINS|"
    "PLASTERS IN TIN|WATER BOTTLE|BAKING SET"
)
_POST_CODE = "POST"
_POST_DESCRIPTION = "POSTAGE"


@dataclass(frozen=True)
class _Catalogue:
    """Products sorted by price; the last entry of codes/descriptions is postage."""

    prices: np.ndarray  # float64, ascending, length _N_PRODUCTS
    codes: pa.Array  # string, length _N_PRODUCTS + 1
    descriptions: pa.Array  # string, length _N_PRODUCTS + 1


@dataclass(frozen=True)
class _Block:
    batch: pa.RecordBatch
    customer_ids: np.ndarray  # int64, increasing
    segments: np.ndarray  # int8 codes into SEGMENTS order
    next_customer_id: int
    next_invoice: int
    truncated: bool


@dataclass(frozen=True)
class _SegmentTable:
    names: tuple[str, ...]
    rec_lo: np.ndarray
    rec_hi: np.ndarray
    inv_lo: np.ndarray
    inv_hi: np.ndarray
    ten_lo: np.ndarray
    ten_hi: np.ndarray
    basket: np.ndarray
    lines_per_invoice: np.ndarray


def _segment_table(segments: Mapping[str, Mapping[str, Any]] = SEGMENTS) -> _SegmentTable:
    names = tuple(segments)

    def col(key: str, i: int | None = None) -> np.ndarray:
        vals = [segments[n][key] if i is None else segments[n][key][i] for n in names]
        return np.asarray(vals, dtype=np.float64 if i is None else np.int64)

    table = _SegmentTable(
        names=names,
        rec_lo=col("recency_days", 0),
        rec_hi=col("recency_days", 1),
        inv_lo=col("invoices", 0),
        inv_hi=col("invoices", 1),
        ten_lo=col("tenure_days", 0),
        ten_hi=col("tenure_days", 1),
        basket=col("basket"),
        lines_per_invoice=col("lines_per_invoice"),
    )
    if (table.inv_lo < 1).any() or (table.rec_lo < 0).any() or (table.ten_lo < 0).any():
        raise ValueError("SEGMENTS: invoices must be >= 1, recency and tenure >= 0")
    if (table.lines_per_invoice < 1).any() or (table.basket <= 0).any():
        raise ValueError("SEGMENTS: lines_per_invoice must be >= 1 and basket > 0")
    return table


def _one_time_table(
    one_time: float, shares: Mapping[str, float] | None
) -> tuple[_SegmentTable, np.ndarray]:
    """Segments and mix of a base where a share ``one_time`` of the customers bought once.

    The one-time customers follow :data:`ONE_TIME_SEGMENTS`; the others the repeat segments
    (champions, loyal, at risk) of ``shares`` (default :data:`DEFAULT_SHARES`).
    """
    if isinstance(one_time, bool) or not 0.0 <= float(one_time) <= 1.0:
        raise ValueError(f"one_time must be a share between 0 and 1, got {one_time!r}")
    repeat = {n: SEGMENTS[n] for n in _REPEAT_SEGMENTS}
    table = _segment_table({**repeat, **ONE_TIME_SEGMENTS})
    mix = DEFAULT_SHARES if shares is None else shares
    unknown = set(mix) - set(SEGMENTS)
    if unknown:
        raise ValueError(f"unknown segment(s) {sorted(unknown)}; known: {list(SEGMENTS)}")
    rep = np.array([max(float(mix.get(n, 0.0)), 0.0) for n in _REPEAT_SEGMENTS])
    rep = rep / rep.sum() if rep.sum() > 0 else np.full(len(rep), 1.0 / len(rep))
    once = np.array([float(p["share"]) for p in ONE_TIME_SEGMENTS.values()])
    vec = np.concatenate([(1.0 - float(one_time)) * rep, float(one_time) * once / once.sum()])
    return table, vec


def _share_vector(names: tuple[str, ...], shares: Mapping[str, float] | None) -> np.ndarray:
    mix = DEFAULT_SHARES if shares is None else shares
    unknown = set(mix) - set(names)
    if unknown:
        raise ValueError(f"unknown segment(s) {sorted(unknown)}; known: {list(names)}")
    vec = np.array([float(mix.get(n, 0.0)) for n in names])
    if (vec < 0).any() or not np.isfinite(vec).all() or vec.sum() <= 0:
        raise ValueError("shares must be finite, non-negative and not all zero")
    return vec / vec.sum()


def _apportion(p: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``p`` (largest remainder)."""
    raw = p * n
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    if short > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


def _end_day(end: str | date | datetime | pd.Timestamp) -> int:
    ts = pd.Timestamp(end)
    if ts is pd.NaT:
        raise ValueError("end must be a date")
    return int((ts.normalize() - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1))


def _seed_sequence(seed: int, *key: int) -> np.random.SeedSequence:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return np.random.SeedSequence([int(seed), *key])


def _make_catalogue(seed: int) -> _Catalogue:
    rng = np.random.default_rng(_seed_sequence(seed, 0))
    prices = np.round(np.exp(rng.normal(math.log(3.0), 0.9, _N_PRODUCTS)), 2)
    prices = np.sort(np.clip(prices, 0.19, 160.0))
    numbers = rng.choice(np.arange(10_002, 90_000), _N_PRODUCTS, replace=False)
    suffixed = rng.random(_N_PRODUCTS) < 0.12
    letters = rng.choice(np.array(list("ABCDEFGHJKLMNPRSTW")), _N_PRODUCTS)
    adjectives = rng.choice(np.array(_ADJECTIVES), _N_PRODUCTS)
    themes = rng.choice(np.array(_THEMES), _N_PRODUCTS)
    items = rng.choice(np.array(_ITEMS), _N_PRODUCTS)
    # a few thousand catalogue entries, not per line: plain Python is fine here
    codes = [f"{n}{c}" if s else str(n) for n, c, s in zip(numbers, letters, suffixed, strict=True)]
    desc = [f"{a} {t} {i}" for a, t, i in zip(adjectives, themes, items, strict=True)]
    return _Catalogue(
        prices=prices,
        codes=pa.array([*codes, _POST_CODE], type=pa.string()),
        descriptions=pa.array([*desc, _POST_DESCRIPTION], type=pa.string()),
    )


def _pick(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    """``n`` distinct indices drawn with probability proportional to ``weights``."""
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    if n >= len(weights):
        return np.arange(len(weights))
    keys = np.log(rng.random(len(weights))) / weights  # Efraimidis-Spirakis
    return np.sort(np.argpartition(-keys, n - 1)[:n])


# --- one block --------------------------------------------------------------------------
# Each _draw_* function draws one kind of data from the block's generator. _generate_block
# calls them in a fixed order: that order *is* the stream of random numbers, so moving a call
# (or adding a draw) changes every generated dataset. tests/test_datasets.py pins the output.


@dataclass(frozen=True)
class _Shape:
    """Segments and invoice sizes of a block's customers (drawn before any truncation)."""

    segments: np.ndarray  # int8 codes into SEGMENTS order, one per customer
    invoices: np.ndarray  # number of purchase invoices of each customer
    invoice_customer: np.ndarray  # customer (row in the block) of each invoice, grouped
    invoice_lines: np.ndarray  # number of product lines of each invoice


@dataclass(frozen=True)
class _Customers:
    """Drawn attributes of a block's identified customers (row i is the i-th customer)."""

    recency: np.ndarray  # days between ``end`` and the day of the last purchase
    tenure: np.ndarray  # days between first and last purchase
    basket: np.ndarray  # mean invoice value
    country: np.ndarray  # index into _COUNTRIES
    ids: np.ndarray  # int64 customer ids, increasing


@dataclass(frozen=True)
class _Invoices:
    """Purchase invoices of a block: the customer invoices first, then anonymous ones."""

    customer: np.ndarray  # customer (row in the block) of each invoice, -1 when anonymous
    ts: np.ndarray  # int64 seconds since 1970-01-01
    value: np.ndarray  # float64 value the invoice's product lines add up to (about)
    lines: np.ndarray  # number of product lines
    country: np.ndarray  # index into _COUNTRIES


@dataclass(frozen=True)
class _ProductLines:
    """Product lines of a block, grouped by invoice in invoice order."""

    invoice: np.ndarray  # invoice of each line
    first: np.ndarray  # first line of each invoice
    product: np.ndarray  # index into the catalogue
    quantity: np.ndarray  # int64, >= 1
    price: np.ndarray  # float64 unit price


@dataclass(frozen=True)
class _NoiseLines:
    """Extra lines of one kind, each tied to an event.

    An event is an invoice ``i`` (``0 <= i < n_invoices``) or ``n_invoices + k`` for the
    ``k``-th cancellation.
    """

    event: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price: np.ndarray


@dataclass(frozen=True)
class _Cancellations:
    """Cancellation invoices and the lines they take back."""

    invoice: np.ndarray  # cancelled invoice of each cancellation, ascending
    ts: np.ndarray  # int64 seconds since 1970-01-01
    lines: _NoiseLines  # events n_invoices + k


@dataclass(frozen=True)
class _Events:
    """Invoices and cancellations in row order: by time, then invoice number."""

    order: np.ndarray  # event (invoice i, or n_invoices + k) at each position
    invoice: np.ndarray  # invoice of the event at each position (cancelled one for "C")
    ts: np.ndarray  # int64 seconds of the event at each position
    invoice_no: np.ndarray  # number of each invoice (consecutive in time order)


@dataclass(frozen=True)
class _Rows:
    """Final rows of a block: every event's lines, contiguous, in event order."""

    counts: np.ndarray  # number of rows of the event at each position of _Events.order
    product: np.ndarray
    quantity: np.ndarray
    price: np.ndarray


def _draw_shape(
    rng: np.random.Generator, st: _SegmentTable, shares: np.ndarray, n_customers: int
) -> _Shape:
    """Draw each customer's segment and invoice count, and each invoice's number of lines."""
    seg = np.repeat(np.arange(len(st.names), dtype=np.int8), _apportion(shares, n_customers))
    rng.shuffle(seg)
    n_inv = rng.integers(st.inv_lo[seg], st.inv_hi[seg], endpoint=True)
    inv_cust = np.repeat(np.arange(n_customers), n_inv)
    lpi = 1 + rng.poisson(st.lines_per_invoice[seg][inv_cust] - 1.0)
    return _Shape(segments=seg, invoices=n_inv, invoice_customer=inv_cust, invoice_lines=lpi)


def _truncate_shape(shape: _Shape, max_lines: int, noise: bool) -> tuple[_Shape, bool]:
    """Keep the prefix of customers whose lines (noise included) best fit ``max_lines``.

    Draws nothing; keeps at least one customer. Returns the shape and whether it was cut.
    """
    n_customers = len(shape.segments)
    factor = _NOISE_FACTOR if noise else 1.0
    per_customer = np.bincount(
        shape.invoice_customer, weights=shape.invoice_lines, minlength=n_customers
    )
    cum = np.cumsum(per_customer) * factor
    k = int(np.searchsorted(cum, max_lines, side="right"))
    if k < n_customers and (k == 0 or cum[k] - max_lines < max_lines - cum[k - 1]):
        k += 1
    if k >= n_customers:
        return shape, False
    n_inv = shape.invoices[:k]
    m = int(n_inv.sum())
    cut = _Shape(
        segments=shape.segments[:k],
        invoices=n_inv,
        invoice_customer=shape.invoice_customer[:m],
        invoice_lines=shape.invoice_lines[:m],
    )
    return cut, True


def _draw_customers(
    rng: np.random.Generator, st: _SegmentTable, seg: np.ndarray, first_customer_id: int
) -> _Customers:
    """Draw recency, tenure, mean basket, country and id of each customer of segment ``seg``."""
    n_customers = len(seg)
    rec = rng.integers(st.rec_lo[seg], st.rec_hi[seg], endpoint=True)
    tenure = rng.integers(st.ten_lo[seg], st.ten_hi[seg], endpoint=True)
    basket = st.basket[seg] * np.exp(rng.normal(0.0, _CUSTOMER_SIGMA, n_customers))
    country = rng.choice(len(_COUNTRIES), n_customers, p=_COUNTRY_P)
    ids = first_customer_id + np.cumsum(rng.integers(1, 3, n_customers, endpoint=True))
    return _Customers(recency=rec, tenure=tenure, basket=basket, country=country, ids=ids)


def _draw_customer_invoices(
    rng: np.random.Generator, shape: _Shape, customers: _Customers, end_day: int
) -> _Invoices:
    """Draw the time and value of each customer invoice.

    A customer's invoice #0 is on their last day, #1 on their first day and the others in
    between; times are within shop hours.
    """
    inv_cust, n_inv = shape.invoice_customer, shape.invoices
    n_ci = len(inv_cust)
    pos = np.arange(n_ci) - np.repeat(np.cumsum(n_inv) - n_inv, n_inv)
    ten_i = customers.tenure[inv_cust]
    offset = rng.integers(0, ten_i, endpoint=True)
    offset = np.where(pos == 0, 0, np.where(pos == 1, ten_i, offset))
    day = end_day - customers.recency[inv_cust] - offset
    ts = day * _DAY_S + rng.integers(_SHOP_OPEN_S, _SHOP_CLOSE_S, n_ci)
    value = customers.basket[inv_cust] * np.exp(rng.normal(0.0, _INVOICE_SIGMA, n_ci))
    return _Invoices(
        customer=inv_cust,
        ts=ts,
        value=value,
        lines=shape.invoice_lines,
        country=customers.country[inv_cust],
    )


def _draw_anonymous_invoices(
    rng: np.random.Generator, customer_lines: int, end_day: int
) -> _Invoices:
    """Draw invoices without CustomerID, about ``_ANON_RATE`` of all the block's lines.

    ``customer_lines`` is the number of product lines of the customer invoices.
    """
    target = _ANON_RATE * _NOISE_FACTOR * float(customer_lines)
    n_ai = round(target / _ANON_LINES_PER_INVOICE)
    lpi = 1 + rng.poisson(_ANON_LINES_PER_INVOICE - 1.0, n_ai)
    day = end_day - rng.integers(0, 365, n_ai)
    ts = day * _DAY_S + rng.integers(_SHOP_OPEN_S, _SHOP_CLOSE_S, n_ai)
    value = np.exp(rng.normal(math.log(_ANON_BASKET), 0.6, n_ai))
    home = rng.random(n_ai) < _ANON_HOME_SHARE
    country = np.where(home, 0, rng.choice(len(_COUNTRIES), n_ai, p=_COUNTRY_P))
    return _Invoices(customer=np.full(n_ai, -1), ts=ts, value=value, lines=lpi, country=country)


def _concat_invoices(first: _Invoices, then: _Invoices) -> _Invoices:
    """Invoices of ``first`` followed by those of ``then``."""
    return _Invoices(
        customer=np.concatenate([first.customer, then.customer]),
        ts=np.concatenate([first.ts, then.ts]),
        value=np.concatenate([first.value, then.value]),
        lines=np.concatenate([first.lines, then.lines]),
        country=np.concatenate([first.country, then.country]),
    )


def _draw_product_lines(
    rng: np.random.Generator, cat: _Catalogue, invoices: _Invoices
) -> _ProductLines:
    """Split each invoice's value over its lines; choose a quantity, then a fitting product.

    A product dearer than the catalogue allows is replaced by more units of a random product
    from the dearer half.
    """
    lpi = invoices.lines
    n_invoices = len(lpi)
    line_inv = np.repeat(np.arange(n_invoices), lpi)
    first_line = np.cumsum(lpi) - lpi
    n_lines = len(line_inv)
    w = rng.standard_exponential(n_lines)
    w_sum = np.bincount(line_inv, weights=w, minlength=n_invoices)
    target_value = invoices.value[line_inv] * w / w_sum[line_inv]
    qty_step = _QTY_STEP_TABLE[rng.integers(0, len(_QTY_STEP_TABLE), n_lines)]
    prod = np.searchsorted(cat.prices, target_value / qty_step)
    prod += rng.integers(-_PRICE_JITTER, _PRICE_JITTER, n_lines, endpoint=True)
    too_dear = prod > _N_PRODUCTS - 1 - 3 * _PRICE_JITTER
    prod[too_dear] = rng.integers(_N_PRODUCTS // 2, _N_PRODUCTS, int(too_dear.sum()))
    np.clip(prod, 0, _N_PRODUCTS - 1, out=prod)
    price = cat.prices[prod]
    qty = np.maximum(1, np.rint(target_value / price)).astype(np.int64)
    return _ProductLines(
        invoice=line_inv, first=first_line, product=prod, quantity=qty, price=price
    )


def _draw_duplicates(rng: np.random.Generator, lines: _ProductLines) -> _NoiseLines:
    """Draw exact copies of about ``_DUP_RATE`` of the product lines, on the same invoice."""
    n_lines = len(lines.invoice)
    dup = np.sort(rng.choice(n_lines, round(_DUP_RATE * n_lines), replace=False))
    return _NoiseLines(
        event=lines.invoice[dup],
        product=lines.product[dup],
        quantity=lines.quantity[dup],
        price=lines.price[dup],
    )


def _draw_postage(
    rng: np.random.Generator, invoices: _Invoices, n_customer_invoices: int, n_lines: int
) -> _NoiseLines:
    """Draw postage lines (about ``_POST_RATE`` of ``n_lines``) on customer invoices.

    At most one per invoice, mostly on invoices of customers abroad.
    """
    n_ci = n_customer_invoices
    weights = np.where(invoices.country[:n_ci] != 0, _POST_WEIGHT_ABROAD, 1.0)
    post = _pick(rng, min(n_ci, round(_POST_RATE * n_lines)), weights)
    qty = rng.integers(1, 3, len(post), endpoint=True)
    price = rng.choice(_POST_PRICES, len(post), p=_POST_PRICE_P)
    return _NoiseLines(
        event=post, product=np.full(len(post), _N_PRODUCTS), quantity=qty, price=price
    )


def _draw_free_lines(rng: np.random.Generator, n_invoices: int, n_lines: int) -> _NoiseLines:
    """Draw a handful (at least one) of zero-price product lines on any invoice."""
    n_zero = max(1, round(_ZERO_PRICE_RATE * n_lines))
    event = rng.integers(0, n_invoices, n_zero)
    product = rng.integers(0, _N_PRODUCTS, n_zero)
    qty = rng.integers(1, 12, n_zero, endpoint=True)
    return _NoiseLines(event=event, product=product, quantity=qty, price=np.zeros(n_zero))


def _draw_cancellations(
    rng: np.random.Generator,
    invoices: _Invoices,
    lines: _ProductLines,
    n_customer_invoices: int,
    end_day: int,
) -> _Cancellations:
    """Draw cancellations of about ``_CANCEL_RATE`` of the customer invoices.

    A cancellation is numbered ``"C"`` + the invoice's number, has the same customer, comes
    later but not after ``end`` (same day: 1 minute to 2 hours later) and takes back some
    lines of the invoice (at least its first), each for 1..bought units.
    """
    n_ci = n_customer_invoices
    n_invoices = len(invoices.customer)
    line_inv = lines.invoice
    n_cx = round(_CANCEL_RATE * n_ci)
    cx_inv = np.sort(rng.choice(n_ci, n_cx, replace=False))
    cx_rank = np.full(n_invoices, -1, dtype=np.int64)
    cx_rank[cx_inv] = np.arange(n_cx)
    cand = np.flatnonzero(cx_rank[line_inv] >= 0)
    keep = (rng.random(len(cand)) < 0.5) | (cand == lines.first[line_inv[cand]])
    cl = cand[keep]
    o_day, o_tod = np.divmod(invoices.ts[cx_inv], _DAY_S)
    delay = rng.integers(0, np.minimum(_MAX_CANCEL_DELAY_DAYS, end_day - o_day), endpoint=True)
    same_day = o_tod + rng.integers(60, 2 * 3600, n_cx)
    other_day = rng.integers(_SHOP_OPEN_S, _SHOP_CLOSE_S, n_cx)
    ts = (o_day + delay) * _DAY_S + np.where(delay == 0, same_day, other_day)
    taken = _NoiseLines(
        event=n_invoices + cx_rank[line_inv[cl]],
        product=lines.product[cl],
        quantity=-rng.integers(1, lines.quantity[cl], endpoint=True),
        price=lines.price[cl],
    )
    return _Cancellations(invoice=cx_inv, ts=ts, lines=taken)


def _draw_noise(
    rng: np.random.Generator,
    invoices: _Invoices,
    lines: _ProductLines,
    n_customer_invoices: int,
    end_day: int,
) -> tuple[list[_NoiseLines], _Cancellations]:
    """Draw every kind of noise line; the order of the kinds is the order of their rows."""
    n_lines = len(lines.invoice)
    duplicates = _draw_duplicates(rng, lines)
    postage = _draw_postage(rng, invoices, n_customer_invoices, n_lines)
    free = _draw_free_lines(rng, len(invoices.customer), n_lines)
    cancellations = _draw_cancellations(rng, invoices, lines, n_customer_invoices, end_day)
    return [duplicates, postage, free, cancellations.lines], cancellations


def _order_events(
    ts: np.ndarray, cx_inv: np.ndarray, cx_ts: np.ndarray, first_invoice: int
) -> _Events:
    """Order invoices and cancellations by (time, invoice number); number invoices in order.

    Invoices get consecutive numbers from ``first_invoice`` in time order; a cancellation
    sorts by its own time and the number of the invoice it cancels. Draws nothing.
    """
    n_invoices = len(ts)
    t0 = int(ts.min())
    inv_order = np.argsort(((ts - t0) << 31) | np.arange(n_invoices))
    local_no = np.empty(n_invoices, dtype=np.int64)
    local_no[inv_order] = np.arange(n_invoices)
    if len(cx_inv):
        cx_key = ((cx_ts - t0) << 31) | local_no[cx_inv]
        cx_order = np.argsort(cx_key)
        at = np.searchsorted((((ts - t0) << 31) | local_no)[inv_order], cx_key[cx_order])
        ev_order = np.insert(inv_order, at, n_invoices + cx_order)
    else:
        ev_order = inv_order
    return _Events(
        order=ev_order,
        invoice=np.concatenate([np.arange(n_invoices), cx_inv])[ev_order],
        ts=np.concatenate([ts, cx_ts])[ev_order],
        invoice_no=first_invoice + local_no,
    )


def _place_rows(
    lines: _ProductLines,
    noise_lines: list[_NoiseLines],
    invoice_lines: np.ndarray,
    ev_order: np.ndarray,
) -> _Rows:
    """Place every line at its final row without sorting the lines.

    Rows are grouped by event in event order; within an invoice the product lines come first,
    then its noise lines in the order drawn. Draws nothing.
    """
    lpi = invoice_lines
    n_invoices = len(lpi)
    n_events = len(ev_order)
    n_lines = len(lines.invoice)
    line_inv, first_line = lines.invoice, lines.first
    xe = np.concatenate([x.event for x in noise_lines]) if noise_lines else np.empty(0, np.int64)
    counts = np.concatenate([lpi, np.zeros(n_events - n_invoices, dtype=np.int64)])
    counts += np.bincount(xe, minlength=n_events)
    ev_counts = counts[ev_order]
    start = np.empty(n_events, dtype=np.int64)
    start[ev_order] = np.cumsum(ev_counts) - ev_counts
    total = n_lines + len(xe)
    row_prod = np.empty(total, dtype=np.int64)
    row_qty = np.empty(total, dtype=np.int64)
    row_price = np.empty(total, dtype=np.float64)
    dest = start[line_inv] + (np.arange(n_lines) - first_line[line_inv])
    row_prod[dest], row_qty[dest], row_price[dest] = lines.product, lines.quantity, lines.price
    if len(xe):
        xo = np.argsort(xe, kind="stable")
        xe_sorted = xe[xo]
        new_group = np.r_[True, xe_sorted[1:] != xe_sorted[:-1]]
        group_first = np.maximum.accumulate(np.where(new_group, np.arange(len(xe)), 0))
        after = np.where(xe_sorted < n_invoices, lpi[np.minimum(xe_sorted, n_invoices - 1)], 0)
        dest = start[xe_sorted] + after + (np.arange(len(xe)) - group_first)
        row_prod[dest] = np.concatenate([x.product for x in noise_lines])[xo]
        row_qty[dest] = np.concatenate([x.quantity for x in noise_lines])[xo]
        row_price[dest] = np.concatenate([x.price for x in noise_lines])[xo]
    return _Rows(counts=ev_counts, product=row_prod, quantity=row_qty, price=row_price)


def _record_batch(
    cat: _Catalogue,
    invoices: _Invoices,
    customer_ids: np.ndarray,
    events: _Events,
    rows: _Rows,
) -> pa.RecordBatch:
    """Build the Arrow columns of the rows (strings by ``take`` from small dictionaries)."""
    n_invoices = len(invoices.customer)
    n_events = len(events.order)
    ev_counts = rows.counts
    ev_str = pa.array(events.invoice_no[events.invoice]).cast(pa.string())
    if n_events > n_invoices:  # cancellations: "C" + the cancelled invoice's number
        ev_str = pc.if_else(
            pa.array(events.order >= n_invoices), pc.utf8_replace_slice(ev_str, 0, 0, "C"), ev_str
        )
    row_event = pa.array(np.repeat(np.arange(n_events), ev_counts))
    ev_cust = invoices.customer[events.invoice]
    ev_anon = ev_cust < 0
    ev_customer_id = np.where(
        ev_anon, np.nan, customer_ids[np.maximum(ev_cust, 0)].astype(np.float64)
    )
    row_anon = np.repeat(ev_anon, ev_counts)
    row_product = pa.array(rows.product)
    columns = [
        ev_str.take(row_event),
        cat.codes.take(row_product),
        cat.descriptions.take(row_product),
        pa.array(rows.quantity, type=pa.int64()),
        pa.array(
            (np.repeat(events.ts, ev_counts) * 1_000_000).view("datetime64[us]"),
            type=pa.timestamp("us"),
        ),
        pa.array(rows.price, type=pa.float64()),
        pa.array(np.repeat(ev_customer_id, ev_counts), type=pa.float64(), mask=row_anon),
        pa.array(_COUNTRIES, type=pa.string()).take(
            pa.array(np.repeat(invoices.country[events.invoice], ev_counts))
        ),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def _generate_block(
    rng: np.random.Generator,
    cat: _Catalogue,
    seg_table: _SegmentTable,
    shares: np.ndarray,
    n_customers: int,
    *,
    first_customer_id: int,
    first_invoice: int,
    end_day: int,
    noise: bool,
    max_lines: int | None = None,
) -> _Block:
    """Draw one block of customers and all their lines (the single core implementation).

    The calls below consume ``rng`` in a fixed order (see the note above :class:`_Shape`).
    """
    shape = _draw_shape(rng, seg_table, shares, n_customers)
    truncated = False
    if max_lines is not None:
        shape, truncated = _truncate_shape(shape, max_lines, noise)
    customers = _draw_customers(rng, seg_table, shape.segments, first_customer_id)
    invoices = _draw_customer_invoices(rng, shape, customers, end_day)
    n_customer_invoices = len(invoices.customer)
    if noise:
        customer_lines = int(invoices.lines.sum())
        anonymous = _draw_anonymous_invoices(rng, customer_lines, end_day)
        invoices = _concat_invoices(invoices, anonymous)
    lines = _draw_product_lines(rng, cat, invoices)
    noise_lines: list[_NoiseLines] = []
    cx_inv = np.empty(0, dtype=np.int64)
    cx_ts = np.empty(0, dtype=np.int64)
    if noise:
        noise_lines, cancellations = _draw_noise(rng, invoices, lines, n_customer_invoices, end_day)
        cx_inv, cx_ts = cancellations.invoice, cancellations.ts
    events = _order_events(invoices.ts, cx_inv, cx_ts, first_invoice)
    rows = _place_rows(lines, noise_lines, invoices.lines, events.order)
    ids = customers.ids
    return _Block(
        batch=_record_batch(cat, invoices, ids, events, rows),
        customer_ids=ids,
        segments=shape.segments,
        next_customer_id=int(ids[-1]) + 1 if len(ids) else first_customer_id,
        next_invoice=first_invoice + len(invoices.customer),
        truncated=truncated,
    )


def make_transactions(
    n_customers: int = 2000,
    *,
    seed: int = 0,
    end: str | date | datetime | pd.Timestamp = "2024-12-31",
    noise: bool = True,
    shares: Mapping[str, float] | None = None,
    one_time: float | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Synthetic Online-Retail-like transaction lines with known customer segments.

    Parameters
    ----------
    n_customers : int, default 2000
        Number of (identified) customers. Segment counts follow ``shares`` exactly
        (largest-remainder rounding); which customer gets which segment is random.
    seed : int, default 0
        Non-negative seed; the same seed gives identical outputs.
    end : str or date-like, default "2024-12-31"
        Last day of the data: every ``InvoiceDate`` is on or before ``end`` 23:59:59.
    noise : bool, default True
        Add the dirt of the real file: ~3 % anonymous lines (``CustomerID`` missing),
        cancellations of ~2 % of invoices (``InvoiceNo`` ``"C" + number``, negative
        ``Quantity``, never more than bought, later but not after ``end``), ~0.5 % exact
        duplicate lines, ~1 % postage lines (``StockCode`` ``"POST"``) and a handful of
        zero-price lines. With ``noise=False`` only clean purchase lines are produced.
    shares : mapping of str to float, optional
        Segment mix (names from :data:`SEGMENTS`, normalised to sum to 1; missing names get
        0). Defaults to :data:`DEFAULT_SHARES`.
    one_time : float, optional
        Make a base where this share of the customers bought exactly once (0.97 for an
        Olist-like marketplace): they are drawn from :data:`ONE_TIME_SEGMENTS` (recent,
        lapsed, big one-off baskets), the others from the repeat segments champions, loyal
        and at risk, mixed as in ``shares``. ``None`` (default): the mix of ``shares``.

    Returns
    -------
    lines : pandas.DataFrame
        Columns ``InvoiceNo`` (str, 6 digits for the first 900 000 invoices; cancellations
        ``"C" + the cancelled invoice's number``), ``StockCode`` (str), ``Description`` (str),
        ``Quantity`` (int64), ``InvoiceDate`` (datetime64[us], whole seconds, shop hours),
        ``UnitPrice`` (float64, 2 decimals), ``CustomerID`` (float64, NaN when missing,
        ids from 10001 upwards) and ``Country`` (str), ordered by invoice time.
    truth : pandas.Series
        Segment name of every customer, indexed by customer id as str (``"10001"``),
        named ``"segment"``, sorted by index.

    Examples
    --------
    >>> lines, truth = make_transactions(200, seed=1)
    >>> list(lines.columns)
    ['InvoiceNo', 'StockCode', 'Description', 'Quantity', 'InvoiceDate', 'UnitPrice', 'CustomerID', 'Country']
    >>> truth.value_counts().sort_index().to_dict()
    {'at_risk': 40, 'champions': 30, 'lost': 40, 'loyal': 50, 'new': 40}
    >>> bool(lines["InvoiceDate"].max() <= pd.Timestamp("2024-12-31 23:59:59"))
    True
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise TypeError("n_customers must be an int")
    if n_customers < 1:
        raise ValueError("n_customers must be >= 1")
    if one_time is None:
        seg_table = _segment_table()
        mix = _share_vector(seg_table.names, shares)
    else:
        seg_table, mix = _one_time_table(one_time, shares)
    block = _generate_block(
        np.random.default_rng(_seed_sequence(seed, 1, 0)),
        _make_catalogue(seed),
        seg_table,
        mix,
        int(n_customers),
        first_customer_id=_FIRST_CUSTOMER_ID,
        first_invoice=_FIRST_INVOICE,
        end_day=_end_day(end),
        noise=noise,
    )
    lines = block.batch.to_pandas()
    truth = pd.Series(
        np.asarray(seg_table.names, dtype=object)[block.segments],
        index=pd.Index(block.customer_ids.astype(str), name="CustomerID"),
        name="segment",
    ).sort_index()
    return lines, truth


def _expected_lines_per_customer(seg_table: _SegmentTable, shares: np.ndarray) -> float:
    invoices = (seg_table.inv_lo + seg_table.inv_hi) / 2.0
    return float((shares * invoices * seg_table.lines_per_invoice).sum())


def iter_transaction_batches(
    n_lines: int,
    *,
    seed: int = 0,
    end: str | date | datetime | pd.Timestamp = "2024-12-31",
    noise: bool = True,
    batch_customers: int = 200_000,
) -> Iterator[pa.RecordBatch]:
    """Stream synthetic transaction lines as pyarrow record batches.

    Parameters
    ----------
    n_lines : int
        Wanted number of lines; the total is about that (within a few per cent, plus or
        minus one customer's lines for tiny requests). 0 yields nothing.
    seed : int, default 0
        Non-negative seed; the same arguments give identical batches.
    end : str or date-like, default "2024-12-31"
        Last day of the data (see :func:`make_transactions`).
    noise : bool, default True
        Add realistic dirt (see :func:`make_transactions`).
    batch_customers : int, default 200_000
        Customers per batch (about 26 lines each with the default mix, so ~5 M lines and
        roughly 0.5-1 GB of peak memory per batch).

    Yields
    ------
    pyarrow.RecordBatch
        Lines with schema :data:`SCHEMA` (same columns as :func:`make_transactions`;
        ``CustomerID`` float64 with nulls). Customer ids and invoice numbers are unique
        across batches; segments follow :data:`DEFAULT_SHARES`.
    """
    if isinstance(n_lines, bool) or not isinstance(n_lines, int | np.integer):
        raise TypeError("n_lines must be an int")
    if n_lines < 0:
        raise ValueError("n_lines must be >= 0")
    if isinstance(batch_customers, bool) or not isinstance(batch_customers, int | np.integer):
        raise TypeError("batch_customers must be an int")
    if batch_customers < 1:
        raise ValueError("batch_customers must be >= 1")
    _seed_sequence(seed)  # validate now, not at the first next()
    return _iter_batches(
        int(n_lines),
        seed=seed,
        end_day=_end_day(end),
        noise=noise,
        batch_customers=int(batch_customers),
    )


def _iter_batches(
    n_lines: int, *, seed: int, end_day: int, noise: bool, batch_customers: int
) -> Iterator[pa.RecordBatch]:
    seg_table = _segment_table()
    shares = _share_vector(seg_table.names, None)
    catalogue = _make_catalogue(seed)
    per_customer = _expected_lines_per_customer(seg_table, shares)
    per_customer *= _NOISE_FACTOR if noise else 1.0
    next_id, next_invoice, produced, index = _FIRST_CUSTOMER_ID, _FIRST_INVOICE, 0, 0
    # at least one customer when n_lines > 0; stop when less than half a customer is missing
    while n_lines > 0 and (index == 0 or n_lines - produced > per_customer / 2):
        remaining = n_lines - produced
        n_cust = min(batch_customers, math.ceil(remaining / per_customer * 1.3) + 10)
        block = _generate_block(
            np.random.default_rng(_seed_sequence(seed, 1, index)),
            catalogue,
            seg_table,
            shares,
            n_cust,
            first_customer_id=next_id,
            first_invoice=next_invoice,
            end_day=end_day,
            noise=noise,
            max_lines=remaining,
        )
        yield block.batch
        produced += block.batch.num_rows
        next_id, next_invoice, index = block.next_customer_id, block.next_invoice, index + 1
        if block.truncated:
            break


def write_transactions_parquet(
    path: str | os.PathLike[str],
    n_lines: int,
    *,
    seed: int = 0,
    **kw: Any,
) -> int:
    """Write synthetic transaction lines to a Parquet file, streaming batch by batch.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. It is written to a temporary file in the same folder and moved
        into place with :func:`os.replace`, so readers never see a partial file.
    n_lines : int
        Wanted number of lines (see :func:`iter_transaction_batches`).
    seed : int, default 0
        Non-negative seed.
    **kw
        Passed on to :func:`iter_transaction_batches` (``end``, ``noise``,
        ``batch_customers``).

    Returns
    -------
    int
        Number of lines written.
    """
    target = Path(path)
    batches = iter_transaction_batches(n_lines, seed=seed, **kw)  # validates before any I/O
    # a unique hidden name next to the target (same file system, so os.replace is atomic);
    # created by the writer itself, hence with the usual permissions
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    written = 0
    try:
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch, row_group_size=_ROW_GROUP_SIZE)
                written += batch.num_rows
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


#: Behaviours of :func:`make_drifting_transactions` (data, not code): mean purchase invoices
#: per month and mean invoice value of each latent segment.
DRIFT_SEGMENTS: dict[str, dict[str, float]] = {
    "frequent": {"per_month": 6.0, "basket": 150.0},
    "regular": {"per_month": 1.0, "basket": 50.0},
    "occasional": {"per_month": 0.15, "basket": 15.0},
}


def make_drifting_transactions(
    n_customers: int = 600,
    *,
    seed: int = 0,
    start: str | date = "2023-01-01",
    months: int = 12,
    drift_month: int | None = 9,
    stopping: str = "frequent",
    stopping_share: float = 1.0,
) -> tuple[pd.DataFrame, pd.Series]:
    """Clean transaction lines of a stationary shop into which a drift is planted.

    Every customer of a :data:`DRIFT_SEGMENTS` segment (equal thirds) makes a first purchase
    in the first month after ``start``, then buys as a Poisson process at the segment's rate
    until ``start + months``; invoice values are lognormal around the segment's basket (sigma
    0.2 per customer, 0.15 per invoice). From ``start + drift_month`` months on, the
    customers of the segment ``stopping`` (the first ``stopping_share`` of them, by customer
    id) buy nothing more (``drift_month=None``: no drift).
    Lines have the columns of :data:`COLUMNS` (one line per invoice, no noise).

    Returns
    -------
    lines : pandas.DataFrame
        Ordered by ``InvoiceDate``.
    truth : pandas.Series
        Segment name of every customer, indexed by customer id as text.

    Examples
    --------
    >>> lines, truth = make_drifting_transactions(30, seed=1)
    >>> sorted(truth.value_counts().to_dict().items())
    [('frequent', 10), ('occasional', 10), ('regular', 10)]
    >>> stop = pd.Timestamp("2023-10-01")
    >>> frequent = lines["CustomerID"].astype(int).astype(str).isin(truth[truth == "frequent"].index)
    >>> bool((lines.loc[frequent, "InvoiceDate"] < stop).all())
    True
    """
    if stopping not in DRIFT_SEGMENTS:
        raise ValueError(f"stopping must be one of {', '.join(DRIFT_SEGMENTS)}")
    rng = np.random.default_rng(_seed_sequence(seed, 3, 0))
    names = tuple(DRIFT_SEGMENTS)
    seg = rng.permutation(
        np.repeat(
            np.arange(len(names)), _apportion(np.full(len(names), 1 / len(names)), n_customers)
        )
    )
    rate = np.array([DRIFT_SEGMENTS[s]["per_month"] for s in names])[seg]
    basket = np.array([DRIFT_SEGMENTS[s]["basket"] for s in names])[seg]
    basket = basket * np.exp(rng.normal(0.0, 0.2, n_customers))
    t0 = pd.Timestamp(start)
    span = float((t0 + pd.DateOffset(months=months) - t0).days)
    first = rng.uniform(0.0, 30.0, n_customers)
    extra = rng.poisson(rate * (span - first) / (365.25 / 12))
    cust = np.concatenate([np.arange(n_customers), np.repeat(np.arange(n_customers), extra)])
    day = np.concatenate(
        [
            first,
            first[cust[n_customers:]]
            + rng.uniform(0.0, 1.0, int(extra.sum())) * (span - first[cust[n_customers:]]),
        ]
    )
    value = np.round(basket[cust] * np.exp(rng.normal(0.0, 0.15, len(cust))), 2)
    when = t0 + pd.to_timedelta(np.floor(day * _DAY_S), unit="s")
    keep = np.ones(len(cust), dtype=bool)
    if drift_month is not None:
        stop = t0 + pd.DateOffset(months=drift_month)
        stopped = (np.asarray(names)[seg] == stopping) & (
            np.arange(n_customers) < stopping_share * n_customers
        )
        keep = ~(stopped[cust] & (when >= stop))
    order = np.argsort(np.asarray(when[keep]), kind="stable")
    cust, when, value = cust[keep][order], when[keep][order], value[keep][order]
    ids = _FIRST_CUSTOMER_ID + 1 + np.arange(n_customers)
    lines = pd.DataFrame(
        {
            "InvoiceNo": (_FIRST_INVOICE + np.arange(len(cust))).astype(str),
            "StockCode": "85123A",
            "Description": "WHITE HANGING HEART T-LIGHT HOLDER",
            "Quantity": np.ones(len(cust), dtype="int64"),
            "InvoiceDate": np.asarray(when, dtype="datetime64[us]"),
            "UnitPrice": value,
            "CustomerID": ids[cust].astype("float64"),
            "Country": _HOME,
        }
    )
    truth = pd.Series(
        np.asarray(names, dtype=object)[seg],
        index=pd.Index(ids.astype(str), name="CustomerID"),
        name="segment",
    ).sort_index()
    return lines, truth
