"""Segments as rules (custseg.explain.rules): IMM trees, fidelity, price, SQL, outputs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import custseg
from custseg.explain.rules import explain_segments, imm_tree, readable_threshold
from custseg.model import CustomerSegmenter, segment_numbers
from custseg.report.html import render_dir

FEATURES = ["recency_days", "frequency", "monetary"]


def blobs(seed: int = 0, n: int = 300) -> pd.DataFrame:
    """Three groups of customers that thresholds separate exactly (known structure)."""
    rng = np.random.default_rng(seed)
    groups = [
        (rng.integers(1, 30, n), rng.integers(8, 15, n), rng.normal(4000, 300, n)),
        (rng.integers(60, 120, n), rng.integers(2, 5, n), rng.normal(800, 80, n)),
        (rng.integers(200, 360, n), rng.integers(1, 2, n), rng.normal(150, 20, n)),
    ]
    frame = pd.DataFrame(
        {f: np.concatenate([g[i] for g in groups]) for i, f in enumerate(FEATURES)}
    )
    frame["group"] = np.repeat([0, 1, 2], n)
    return frame


def fitted(frame: pd.DataFrame, k: int) -> tuple[CustomerSegmenter, np.ndarray]:
    model = CustomerSegmenter(FEATURES, k=k, random_state=0).fit(frame)
    return model, segment_numbers(model.labels_)


def test_rules_reproduce_separable_segments_exactly() -> None:
    frame = blobs()
    model, segments = fitted(frame, 3)
    rules = explain_segments(model, frame, segments)
    assert rules.fidelity == 1.0
    assert rules.price == pytest.approx(1.0)
    assert (rules.predict(frame) == segments).all()
    conds = rules.conditions()
    assert sorted(conds) == [1, 2, 3]
    # two thresholds suffice for three groups; every rule is short
    assert all(1 <= len(c) <= 2 for c in conds.values())
    assert rules.counts[1] == {"rule": 300, "segment": 300, "both": 300}


def test_fidelity_is_the_share_of_customers_the_rules_put_in_their_segment() -> None:
    # customers spread evenly: k-means cells are not boxes, so some customers cross any
    # threshold the rules can draw
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "recency_days": rng.integers(1, 365, 900),
            "frequency": rng.integers(1, 30, 900),
            "monetary": rng.uniform(10, 5000, 900),
        }
    )
    model, segments = fitted(frame, 4)
    rules = explain_segments(model, frame, segments)
    by_rule = rules.predict(frame)
    assert rules.fidelity == pytest.approx(float((by_rule == segments).mean()))
    assert 0.6 <= rules.fidelity < 1.0
    assert rules.price >= 1.0 - 1e-9
    assert sum(c["both"] for c in rules.counts.values()) == round(rules.fidelity * len(frame))
    # every customer gets exactly one segment by the rules (the leaves partition the space)
    assert set(np.unique(by_rule)) <= {1, 2, 3, 4} and (by_rule > 0).all()


def test_sql_rules_select_the_same_customers_in_duckdb() -> None:
    frame = blobs(seed=2)
    frame["recency_days"] = frame["recency_days"] + np.arange(len(frame)) % 37
    model, segments = fitted(frame, 3)
    rules = explain_segments(model, frame, segments)
    names = {1: "Champions", 2: "At Risk", 3: "Lost O'Hara"}
    customers = frame.assign(customer_id=np.arange(len(frame)))
    con = duckdb.connect()
    con.register("customers", customers)
    sql = rules.sql(names)
    case = sql[sql.index("SELECT") : sql.index("FROM customers;") + len("FROM customers")]
    got = con.execute(case).df().sort_values("customer_id")
    assert (got["segment"].to_numpy() == rules.predict(frame)).all()
    assert "-- Lost O'Hara" in sql  # names as comments
    for seg in (1, 2, 3):
        ids = con.execute(f"SELECT customer_id FROM customers WHERE {rules.where(seg)}").df()
        assert sorted(ids["customer_id"]) == sorted(np.flatnonzero(rules.predict(frame) == seg))


def test_imm_takes_the_threshold_with_fewest_mistakes() -> None:
    # feature 0 separates the two centres with one mistake, feature 1 with two
    X = np.array([[0.0, 0.0], [1.0, 0.0], [2.5, 3.0], [9.0, 1.0], [10.0, 9.0], [11.0, 10.0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    centres = np.array([[1.0, 1.0], [10.0, 6.0]])
    tree = imm_tree(X, labels, centres)
    assert tree["feature"] == 0 and 2.5 <= tree["cut"] < 9.0
    assert tree["left"] == {"cluster": 0} and tree["right"] == {"cluster": 1}


@pytest.mark.parametrize(
    ("a", "b", "integer", "expected"),
    [(44, 47, True, 45), (5, 6, True, 5), (0.123, 0.9, False, 0.5), (99.5, 101.0, False, 100.0)],
    ids=["days", "adjacent-integers", "fraction", "hundred"],
)
def test_thresholds_are_round_and_split_the_same(
    a: float, b: float, integer: bool, expected: float
) -> None:
    theta = readable_threshold(a, b, integer)
    assert theta == expected
    assert a <= theta < b


def test_a_run_writes_rules_csv_and_sql(tmp_path: Path) -> None:
    from custseg.datasets import make_transactions

    frame, _ = make_transactions(400, seed=5)
    out = tmp_path / "run"
    result = custseg.run(frame, out, seed=0, k_max=6)
    table = pd.read_csv(out / "rules.csv")
    assert list(table["segment"]) == list(range(1, result.model.k_ + 1))
    assert (table["customers_both"] <= table["customers_by_rule"]).all()
    assert table["customers_in_segment"].sum() == len(result.segments)
    sql = (out / "rules.sql").read_text(encoding="utf-8")
    assert sql.count("  CASE\n") == 1 and sql.count("\nWHERE ") == result.model.k_
    doc = result.model_document()["rules"]
    assert doc["fidelity"] == pytest.approx(
        table["customers_both"].sum() / len(result.segments), abs=1e-6
    )
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="segment-rules"' in html and 'id="fig-k-stability"' in html
    for rule in table["rule"]:
        assert rule in html
    fr = render_dir(out, "fr")
    assert "Les segments en règles" in fr and "Stabilité des segments selon k" in fr
