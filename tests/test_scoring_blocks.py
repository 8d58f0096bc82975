"""Scoring in blocks of rows, side by side on the cores: the same bits as in one piece."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from custseg.config import settings
from custseg.model import CustomerSegmenter
from custseg.model.segmenter import PREDICT_BLOCK, _nearest
from tests.conftest import customers


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Customers with a feature that goes negative (scipy's branch of Yeo-Johnson) and a
    categorical one, so that every path of the transform is taken."""
    rng = np.random.default_rng(seed)
    frame = customers(n=n, seed=seed)
    frame["balance"] = rng.normal(0.0, 50.0, len(frame))
    frame["channel"] = rng.choice(["web", "shop", "phone"], len(frame))
    return frame


@pytest.fixture(scope="module")
def model() -> CustomerSegmenter:
    return CustomerSegmenter(k=4, random_state=0, categorical=["channel"]).fit(_frame(600, 0))


def _scored(
    model: CustomerSegmenter, X: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """``transform`` and ``predict`` of ``X`` with ``CUSTSEG_THREADS=threads``."""
    monkeypatch.setenv("CUSTSEG_THREADS", str(threads))
    settings.cache_clear()
    try:
        return model.transform(X), model.predict(X)
    finally:
        monkeypatch.delenv("CUSTSEG_THREADS")
        settings.cache_clear()


def test_blocks_on_several_threads_give_the_bits_of_one_piece(
    model: CustomerSegmenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3.5 blocks of rows, the last one short; values far outside the training range too
    n = PREDICT_BLOCK * 3 + PREDICT_BLOCK // 2
    X = _frame(n, 1)
    n = len(X)  # whole thirds of n
    assert n % PREDICT_BLOCK != 0 and n > 3 * PREDICT_BLOCK
    X.loc[X.index[::997], "monetary"] *= 1e4
    X.loc[X.index[::1009], "balance"] *= -1e3
    one_thread = _scored(model, X, monkeypatch, 1)
    three_threads = _scored(model, X, monkeypatch, 3)
    Xt = one_thread[0]
    assert Xt.shape == (n, 4 + 3) and Xt.flags.c_contiguous
    assert np.array_equal(Xt, three_threads[0])
    assert np.array_equal(one_thread[1], three_threads[1])

    # the numeric columns: scipy's Yeo-Johnson of the whole clipped column, then the scaling
    numeric = X[list(model.numeric_features_)].to_numpy(dtype=float)
    clipped = np.maximum(numeric, model.lower_)
    for j, lam in enumerate(model.lambdas_):
        expected = (stats.yeojohnson(clipped[:, j], lmbda=float(lam)) - model.mean_[j]) / (
            model.scale_[j]
        )
        assert np.array_equal(
            Xt[:, j],
            expected,
        ), model.numeric_features_[j]
    # the one-hot columns: 0/1 by channel
    assert np.array_equal(
        Xt[:, 4:], (X["channel"].to_numpy()[:, None] == model.categories_["channel"]).astype(float)
    )
    # the labels: the nearest centroid of all rows at once
    assert np.array_equal(one_thread[1], _nearest(Xt, model.cluster_centers_))
    assert len(np.unique(one_thread[1])) == 4


@pytest.mark.parametrize("rows", [1, 2 * PREDICT_BLOCK])
def test_one_row_and_whole_blocks(
    model: CustomerSegmenter, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    X = _frame(rows + 3, 2).head(rows)
    one_thread = _scored(model, X, monkeypatch, 1)
    two_threads = _scored(model, X, monkeypatch, 2)
    assert one_thread[0].shape == (rows, 7)
    assert np.array_equal(one_thread[0], two_threads[0])
    assert np.array_equal(one_thread[1], two_threads[1])
    assert np.array_equal(one_thread[1], _nearest(one_thread[0], model.cluster_centers_))


def test_categorical_features_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No numeric feature: the output is the one-hot block alone, block by block."""
    frame = _frame(PREDICT_BLOCK + 300, 3)[["channel"]]
    model = CustomerSegmenter(k=3, random_state=0, features=[], categorical=["channel"])
    model.fit(frame.head(600))
    Xt = model.transform(frame)
    assert Xt.shape == (len(frame), 3)
    assert np.array_equal(
        Xt, (frame["channel"].to_numpy()[:, None] == model.categories_["channel"]).astype(float)
    )
    assert np.array_equal(model.predict(frame), _nearest(Xt, model.cluster_centers_))
