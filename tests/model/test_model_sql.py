"""The fitted model as SQL (custseg.model.sql), run on DuckDB: the same numbers as Python.

The scaled columns equal the segmenter's ``transform``, the nearest-centroid label its
``predict`` and the RFM scores :class:`~custseg.model.rfm.RFMScorer`'s, values lying
exactly on a quintile edge included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.engines import connect
from custseg.model import CustomerSegmenter, RFMScorer
from custseg.model import sql as model_sql
from custseg.model.rfm import RFM_GRID


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 2_000
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "recency_days": rng.integers(0, 400, n),
            "frequency": rng.integers(1, 12, n),
            "monetary": np.round(rng.lognormal(5, 1.5, n) - 20, 2),  # some negative
            "return_rate": rng.beta(0.5, 6, n),
        }
    )


def test_scaled_columns_and_nearest_label_are_transform_and_predict(customers) -> None:
    features = ["recency_days", "frequency", "monetary", "return_rate"]
    seg = CustomerSegmenter(features, k=4, random_state=0).fit(customers)
    dims = model_sql.scaled_columns(seg)
    names = [f"z{i}" for i in range(len(dims))]
    label = model_sql.nearest_label([f"d{s}" for s in range(1, 5)])
    sql = (
        f"SELECT customer_id, {', '.join(names)}, {label} AS segment FROM ("
        f"SELECT *, {', '.join(model_sql.distances(names, seg.cluster_centers_))} FROM ("
        f"SELECT customer_id, {', '.join(f'{e} AS {z}' for e, z in zip(dims, names, strict=True))} "
        "FROM customers) AS s) AS d ORDER BY customer_id"
    )
    with connect() as con:
        con.register("customers", customers)
        got = con.frame(sql)
    np.testing.assert_allclose(got[names].to_numpy(), seg.transform(customers), rtol=1e-9)
    assert (got["segment"].to_numpy() == seg.predict(customers) + 1).all()


@pytest.mark.parametrize("shift", [0.0, 0.5], ids=["values-on-edges", "values-between"])
def test_rfm_scores_and_cell_are_the_scorers(customers, shift) -> None:
    rfm = RFMScorer().fit(customers)
    scored = customers.assign(
        recency_days=customers["recency_days"] + shift,
        monetary=customers["monetary"].where(customers.index % 7 != 0, rfm.edges_["monetary"][1]),
    )
    sql = (
        f"SELECT customer_id, r_score, f_score, m_score, {model_sql.rfm_cell(rfm)} AS cell "
        f"FROM (SELECT customer_id, {', '.join(model_sql.rfm_scores(rfm))} FROM customers) AS s "
        "ORDER BY customer_id"
    )
    with connect() as con:
        con.register("customers", scored)
        got = con.frame(sql)
    want = rfm.transform(scored)
    for col in ("r_score", "f_score", "m_score"):
        assert (got[col].to_numpy() == want[col].to_numpy()).all(), col
    assert (got["cell"].to_numpy() == want["rfm_segment"].to_numpy()).all()
    assert set(got["cell"]) <= {box["slug"] for box in RFM_GRID}
