"""The estimator, k selection and naming on hand-made and synthetic customers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score
from threadpoolctl import threadpool_limits

from custseg.errors import ModelError, NotFittedError, SchemaError, TooFewCustomersError
from custseg.explain import naming
from custseg.model import (
    RFM_FEATURES,
    CustomerSegmenter,
    RFMScorer,
    persistence,
    rfm,
    segment_numbers,
)
from custseg.model.segmenter import ParameterError
from custseg.model.selection import (
    adjusted_rand,
    distance_matrix,
    find_knee,
    silhouette_from_distances,
    silhouettes,
    verdict,
)
from tests.conftest import customers


def test_segments_are_ordered_by_value_and_recover_groups() -> None:
    X = customers()
    model = CustomerSegmenter(random_state=0).fit(X)
    assert model.k_ == 3
    means = X.groupby(model.labels_)["monetary"].mean()
    assert list(means.index) == [0, 1, 2]
    assert means.is_monotonic_decreasing
    assert set(model.labels_[:100]) == {0}
    # naming happens after fit, in the explain layer, on segment numbers 1..k
    slugs = naming.segment_slugs(
        segment_numbers(model.labels_), model.k_, RFMScorer().fit(X).transform(X)
    )
    assert slugs[1] == "champions"
    assert len(set(slugs.values())) == model.k_


def test_label_order_does_not_depend_on_row_order() -> None:
    X = customers()
    a = CustomerSegmenter(k=3, random_state=0).fit(X)
    shuffled = X.sample(frac=1.0, random_state=1)
    b = CustomerSegmenter(k=3, random_state=0).fit(shuffled)
    assert (pd.Series(b.labels_, index=shuffled.index).loc[X.index].to_numpy() == a.labels_).all()


def test_model_round_trips_through_json() -> None:
    X = customers()
    model = CustomerSegmenter(random_state=3).fit(X)
    scorer = RFMScorer().fit(X)
    text = json.dumps(persistence.to_dict(model, rfm=scorer))
    data = json.loads(text)
    again = persistence.from_dict(data)
    assert (again.predict(X) == model.labels_).all()
    again_rfm = persistence.rfm_scorer(data)
    assert again_rfm is not None and again_rfm.transform(X).equals(scorer.transform(X))
    assert json.dumps(persistence.to_dict(again, rfm=again_rfm)) == text
    assert persistence.segment_slugs(data) == {1: "segment_1", 2: "segment_2", 3: "segment_3"}


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_scoring_training_customers_reproduces_labels(seed: int) -> None:
    X = customers(90, seed=seed)
    model = CustomerSegmenter(k_max=5, random_state=seed, n_init=2).fit(X)
    reloaded = persistence.from_dict(json.loads(json.dumps(persistence.to_dict(model))))
    assert (reloaded.predict(X) == model.labels_).all()


def test_negative_monetary_is_clipped_not_an_outlier_segment() -> None:
    X = customers()
    X.loc[0, "monetary"] = -50_000.0
    model = CustomerSegmenter(random_state=0).fit(X)
    assert model.k_ == 3
    assert np.bincount(model.labels_).min() > 1


@pytest.mark.parametrize(
    ("kwargs", "rows", "error", "match"),
    [
        ({"k": 5}, 3, TooFewCustomersError, "3 customers but k = 5"),
        ({}, 2, TooFewCustomersError, "too few"),
        ({"k_min": 1}, 50, ParameterError, "'k_min' parameter .* range \\[2, inf\\)"),
        ({"k": 0}, 50, SchemaError, "'k' parameter"),
        ({"k_min": 5, "k_max": 3}, 50, SchemaError, "empty"),
    ],
    ids=["k-above-n", "n-too-small", "k-min-1", "k-0", "empty-range"],
)
def test_bad_parameters_are_clear_errors(kwargs: dict, rows: int, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        CustomerSegmenter(**kwargs).fit(customers().head(rows))


def test_missing_feature_and_nan_are_clear_errors() -> None:
    with pytest.raises(SchemaError, match="'monetary'"):
        CustomerSegmenter(RFM_FEATURES).fit(customers().drop(columns="monetary"))
    X = customers()
    X.loc[3, "frequency"] = np.nan
    with pytest.raises(SchemaError, match="'frequency' has 1 missing"):
        CustomerSegmenter().fit(X)


def test_predict_before_fit_and_damaged_model() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        CustomerSegmenter().predict(customers())
    with pytest.raises(ModelError, match="not a custseg model"):
        persistence.from_dict({"format": "pickle"})
    d = persistence.to_dict(CustomerSegmenter(k=2).fit(customers()))
    d["centroids"] = d["centroids"][:1]
    with pytest.raises(ModelError, match="inconsistent"):
        persistence.from_dict(d)
    d = persistence.to_dict(CustomerSegmenter(k=2).fit(customers()))
    d["params"]["algorithm"] = "pickle"
    with pytest.raises(ModelError, match="unknown clustering algorithm 'pickle'"):
        persistence.from_dict(d)


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_fast_silhouette_matches_scikit_learn(k: int) -> None:
    rng = np.random.default_rng(k)
    X = rng.normal(size=(400, 3))
    labels = rng.integers(0, k, 400)
    labels[:k] = np.arange(k)
    ours = silhouette_from_distances(pairwise_distances(X), labels)
    assert ours == pytest.approx(silhouette_score(X, labels), abs=1e-9)
    # the sweep's float32 distance matrix, computed by blocks, gives the same score
    D = distance_matrix(X * 1000.0, block=64)
    assert D.dtype == np.float32
    assert np.allclose(D, pairwise_distances(X * 1000.0), rtol=1e-6, atol=1e-3)
    assert silhouette_from_distances(D, labels) == pytest.approx(ours, abs=1e-6)
    # the sweep's blocked pass scores several labelings at once, the same way
    others = rng.integers(0, 2, 400)
    together = silhouettes(X, [labels, others, np.zeros(400, dtype=int)], block=64)
    assert together[0] == pytest.approx(ours, abs=1e-6)
    assert together[1] == pytest.approx(silhouette_score(X, others), abs=1e-6)
    assert together[2] == -1.0
    # blocks computed side by side (BLAS on one thread each) give the very same values
    with threadpool_limits(1, user_api="blas"):
        serial = silhouettes(X, [labels, others], block=64)
    assert silhouettes(X, [labels, others], block=64, workers=3) == serial
    # the blocks, computed in place, hold the values of the plain expression to the bit
    sq = np.einsum("ij,ij->i", X, X)
    plain = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (X @ X.T), 0.0))
    plain = plain.astype(np.float32)
    np.fill_diagonal(plain, 0.0)
    assert np.array_equal(distance_matrix(X, block=64), plain)


@given(
    st.integers(1, 400),
    st.integers(1, 12),
    st.integers(1, 12),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=200, deadline=None)
def test_adjusted_rand_is_scikit_learns_to_the_bit(
    n: int, ka: int, kb: int, agree: float, seed: int
) -> None:
    # the stability vote's own ARI must give the very float scikit-learn gives (results of a
    # run stay byte-identical): random labelings, partly agreeing, with unused labels
    rng = np.random.default_rng(seed)
    a = rng.integers(0, ka, n).astype(np.int32)
    b = np.where(rng.random(n) < agree, a % kb, rng.integers(0, kb, n)).astype(np.int32)
    assert adjusted_rand(a, b) == adjusted_rand_score(a, b)
    assert adjusted_rand(a, a) == adjusted_rand_score(a, a) == 1.0
    big = rng.integers(0, ka, 12_000)
    assert adjusted_rand(big, big[::-1]) == adjusted_rand_score(big, big[::-1])


def test_verdict_rules() -> None:
    ks = [2, 3, 4, 5, 6, 7]
    sil = [0.50, 0.30, 0.29, 0.30, 0.35, 0.34]
    ch = [900, 500, 510, 500, 600, 580]
    db = [0.8, 1.1, 1.0, 1.1, 0.95, 0.97]
    # the elbow at 5 is beaten on all three indices by 6 (near the elbow); k = 2 is better
    # still but three steps away from the elbow: it is reported, not chosen
    k, why = verdict(ks, sil, ch, db, knee=5)
    assert (k, why["rule"], why["path"]) == (6, "elbow_refined", [5, 6])
    assert why["best_by"]["silhouette"] == 2
    k, why = verdict(ks, sil, ch, db, knee=None)
    assert (k, why["rule"]) == (2, "mean_rank")
    assert find_knee([2, 3, 4, 5, 6, 7], [100, 50, 20, 17, 15, 14]) == 4


def test_rfm_grid_covers_every_cell_once() -> None:
    r, f = np.meshgrid(np.arange(1, 6), np.arange(1, 6))
    names = rfm.grid_segment(r.ravel(), f.ravel())
    assert "" not in set(names)
    assert {"champions", "lost", "new", "at_risk", "cant_lose", "hibernating"} <= set(names)
    assert rfm.grid_segment(np.array([5, 1, 1]), np.array([1, 5, 1])).tolist() == [
        "new",
        "cant_lose",
        "lost",
    ]


def test_scores_with_ties_are_consistent() -> None:
    freq = np.array([1] * 60 + [2] * 20 + [3, 5, 8, 13, 21] * 4)
    edges = rfm.score_edges(freq)
    scores = rfm.apply_score(freq, edges, reverse=False)
    assert (scores[freq == 1] == 1).all()  # equal values always get equal scores
    assert scores.max() == 5
    assert np.all(np.diff(scores[np.argsort(freq, kind="stable")]) >= 0)


def test_names_are_unique_even_with_many_segments() -> None:
    rng = np.random.default_rng(0)
    r = rng.integers(1, 6, 500)
    f = rng.integers(1, 6, 500)
    labels = rng.integers(1, 14, 500)
    names = naming.name_clusters(labels, r, f, rfm.grid_segment(r, f))
    assert len(names) == 13
    assert len(set(names.values())) == 13
    assert naming.display_name("at_risk_2", "fr") == "À risque 2"


def test_stability_is_measured_for_every_k_and_high_for_clear_groups() -> None:
    model = CustomerSegmenter(random_state=0).fit(customers())
    sel = model.selection_
    assert sel is not None and len(sel.stability) == len(sel.ks)
    assert all(v is None or -1.0 <= v <= 1.0 for v in sel.stability)
    assert sel.stability[sel.ks.index(3)] >= 0.95  # three well separated groups
    older = sel.to_dict()
    del older["stability"]  # a model.json written before stability was recorded still loads
    assert type(sel).from_dict(older).stability == []
