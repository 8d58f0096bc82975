"""CustomerSegmenter as a scikit-learn estimator, and the algorithm registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from custseg.errors import ModelError, NotFittedError, SchemaError
from custseg.model import ALGORITHMS, CustomerSegmenter, get_algorithm, segment_numbers
from custseg.model.selection import sweep
from tests.conftest import customers


@parametrize_with_checks([CustomerSegmenter()])
def test_scikit_learn_estimator_checks(estimator: CustomerSegmenter, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_labels_are_zero_based_and_ordered_by_value() -> None:
    X = customers()
    model = CustomerSegmenter(random_state=0).fit(X)
    assert model.labels_.dtype == np.int64
    assert sorted(np.unique(model.labels_)) == list(range(model.k_)) == [0, 1, 2]
    means = X.groupby(model.labels_)["monetary"].mean()
    assert means.is_monotonic_decreasing  # label 0 = highest mean monetary
    assert (model.labels_[:100] == 0).all() and (model.labels_[200:] == 2).all()
    assert segment_numbers(model.labels_[[0, 100, 200]]).tolist() == [1, 2, 3]


def test_fit_predict_and_predict_on_training_data_give_labels() -> None:
    X = customers()
    model = CustomerSegmenter(k=3, random_state=0)
    labels = model.fit_predict(X)
    assert (labels == model.labels_).all()
    assert (model.predict(X) == model.labels_).all()
    assert model.predict(X).min() == 0 and model.predict(X).max() == 2


def test_numpy_arrays_and_dataframes_give_the_same_segments() -> None:
    X = customers()[["monetary", "frequency", "recency_days"]]  # value first for arrays
    on_frame = CustomerSegmenter(k=3, random_state=0).fit(X)
    on_array = CustomerSegmenter(k=3, random_state=0).fit(X.to_numpy())
    assert (on_frame.labels_ == on_array.labels_).all()
    assert on_frame.feature_names_in_.tolist() == list(X.columns)
    assert not hasattr(on_array, "feature_names_in_") and on_array.n_features_in_ == 3
    assert on_array.get_feature_names_out().tolist() == ["x0", "x1", "x2"]
    np.testing.assert_allclose(on_array.transform(X.to_numpy()), on_frame.transform(X))


def test_named_features_pick_columns_from_a_wider_table_in_any_order() -> None:
    X = customers().assign(customer_id=range(300), note="x")
    model = CustomerSegmenter(["recency_days", "frequency", "monetary"], k=3).fit(X)
    assert model.n_features_in_ == 3
    shuffled = X[["note", "monetary", "customer_id", "frequency", "recency_days"]]
    assert (model.predict(shuffled) == model.labels_).all()
    with pytest.raises(SchemaError, match="no column 'monetary'"):
        model.predict(X.drop(columns="monetary"))
    with pytest.raises(SchemaError, match="pandas DataFrame"):
        CustomerSegmenter(["monetary"]).fit(X[["monetary"]].to_numpy())


def test_every_column_is_used_in_order_when_features_is_none() -> None:
    X = customers()
    model = CustomerSegmenter(k=3).fit(X)
    with pytest.raises(ValueError, match="same order"):
        model.predict(X[X.columns[::-1]])


def test_categorical_columns_are_one_hot_encoded() -> None:
    rng = np.random.default_rng(0)
    X = customers().assign(channel=rng.choice(["web", "shop"], 300))
    model = CustomerSegmenter(categorical=["channel"], k=3).fit(X)
    assert model.numeric_features_ == ["recency_days", "frequency", "monetary"]
    assert model.get_feature_names_out().tolist()[-2:] == ["channel=shop", "channel=web"]
    assert model.transform(X).shape == (300, 5)


def test_clone_and_get_set_params() -> None:
    model = CustomerSegmenter(k=3, random_state=4)
    params = model.get_params()
    assert params["k"] == 3 and params["algorithm"] == "kmeans" and params["features"] is None
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    twin.set_params(k=4, n_init=2)
    assert (twin.k, twin.n_init, model.k) == (4, 2, 3)
    fitted = model.fit(customers())
    unfitted = clone(fitted)
    assert not hasattr(unfitted, "labels_")


def test_in_a_pipeline_with_pandas_output() -> None:
    # neutral names: transaction features (monetary…) are clipped at 0, scaled ones must not be
    X = customers().set_axis(["days", "visits", "spend"], axis=1)
    pipe = Pipeline([("scale", StandardScaler()), ("segment", CustomerSegmenter(k=3))])
    labels = pipe.fit_predict(X)
    assert (labels == pipe.predict(X)).all() and set(labels) == {0, 1, 2}
    pipe.set_output(transform="pandas")
    out = pipe.fit(X).transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["days", "visits", "spend"]
    assert (out.index == X.index).all()
    named = pipe.predict(X)  # the scaler now hands over a DataFrame: the same segments
    assert (named == pipe[-1].labels_).all()
    assert (named == labels).all()
    on_arrays = make_pipeline(StandardScaler(), CustomerSegmenter(k=3)).fit(X.to_numpy())
    assert (on_arrays.predict(X.to_numpy()) == labels).all()


def test_set_output_pandas_on_the_estimator() -> None:
    X = customers()
    model = CustomerSegmenter(k=3).set_output(transform="pandas")
    out = model.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["recency_days", "frequency", "monetary"]
    np.testing.assert_allclose(out.to_numpy(), model.transform(X).to_numpy())


def test_unfitted_model_raises_both_not_fitted_errors() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        CustomerSegmenter().predict(customers())
    with pytest.raises(SklearnNotFittedError):
        CustomerSegmenter().transform(customers())


def test_the_algorithm_is_resolved_through_the_registry() -> None:
    assert "kmeans" in ALGORITHMS
    algo = get_algorithm("kmeans")
    assert algo.centroids and algo.predicts and algo.warm_start and algo.uses_k
    built = algo.build(4, n_init=3, random_state=7)
    assert (built.n_clusters, built.n_init, built.random_state) == (4, 3, 7)
    start = np.zeros((2, 3))
    assert algo.build(2, n_init=10, random_state=0, init=start).n_init == 1
    with pytest.raises(
        ModelError,
        match="unknown clustering algorithm 'optics'; use one of: dbscan, gmm, hdbscan, kmeans, ward",
    ):
        get_algorithm("optics")
    with pytest.raises(ModelError, match="unknown clustering algorithm 'optics'"):
        CustomerSegmenter(algorithm="optics").fit(customers())
    with pytest.raises(ModelError, match="unknown clustering algorithm"):
        sweep(np.zeros((10, 2)), [2], random_state=0, algorithm="optics")


def test_sweep_through_the_registry_matches_a_plain_kmeans() -> None:
    from sklearn.cluster import KMeans

    X = StandardScaler().fit_transform(customers())
    sel = sweep(X, [2, 3], random_state=0, n_init=4)
    km = KMeans(n_clusters=3, n_init=4, random_state=0).fit(X)
    np.testing.assert_allclose(sel.centers_of(3), km.cluster_centers_, rtol=0, atol=1e-12)
    assert sel.inertia[1] == pytest.approx(km.inertia_)


def test_a_text_column_among_the_features_is_named_in_the_error() -> None:
    table = customers().assign(channel=["web", "shop", "phone"] * 100)
    with pytest.raises(
        SchemaError, match=r"column 'channel' holds .*not a number.*categorical=\[\.\.\.\]"
    ):
        CustomerSegmenter(k=3).fit(table)
    fitted = CustomerSegmenter(k=3, features=None, categorical=["channel"]).fit(table)
    assert fitted.n_features_in_ == 4
