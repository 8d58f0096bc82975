"""The clustering algorithms (issue 13, point 1): each one on seeded data of known structure,
noise made an atypical group, model.json round trips and scoring for every algorithm, the
comparison of algorithms, and the run, report and command line using them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.errors import CustsegError, ModelError
from custseg.explain.methods import method_sentence, recommendation_sentence
from custseg.model import persistence, schema
from custseg.model.algorithms import (
    ALGORITHMS,
    WARD_SAMPLE,
    density_parameters,
    mixture_log_resp,
    nearest_centroid,
)
from custseg.model.compare import MAX_NOISE, compare, recommend
from custseg.model.run import RunModel
from custseg.model.segmenter import CustomerSegmenter

ALL = ("kmeans", "gmm", "ward", "dbscan", "hdbscan")
DENSITY = ("dbscan", "hdbscan")
CENTRES = [[0.0, 0.0, 0.0], [6.0, 6.0, 6.0], [-6.0, 6.0, 0.0]]


def blobs(n: int = 1_500, noise: int = 0, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three well-separated Gaussian blobs (truth 0, 1, 2) and ``noise`` uniform points (-1)."""
    X, y = make_blobs(n_samples=n, centers=CENTRES, cluster_std=0.7, random_state=seed)
    rng = np.random.default_rng(seed)
    far = rng.uniform(-20, 20, (noise, 3))
    frame = pd.DataFrame(np.vstack([X, far]), columns=["a", "b", "c"])
    return frame, np.r_[y, np.full(noise, -1)]


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[CustomerSegmenter, pd.DataFrame, np.ndarray]]:
    """Each algorithm fitted on three blobs; density methods with 40 uniform noise points."""
    out = {}
    for a in ALL:
        frame, truth = blobs(noise=40 if a in DENSITY else 0)
        model = CustomerSegmenter(algorithm=a, k_max=5, random_state=0).fit(frame)
        out[a] = (model, frame, truth)
    return out


def test_every_algorithm_is_registered() -> None:
    assert set(ALL) <= set(ALGORITHMS)
    assert {ALGORITHMS[a].rule for a in ALL} == {
        "nearest-centroid",
        "gaussian-posterior",
        "core-within-radius",
    }


@pytest.mark.parametrize("algorithm", ALL)
def test_algorithm_recovers_known_blobs(fitted: dict, algorithm: str) -> None:
    model, _, truth = fitted[algorithm]
    labels = model.labels_
    clean = truth >= 0
    assert adjusted_rand_score(truth[clean], labels[clean]) > 0.99
    if algorithm in DENSITY:  # three dense groups, then the atypical customers
        assert model.k_ == 4 and model.noise_label_ == 3
    else:
        assert model.k_ == 3 and model.noise_label_ is None


@pytest.mark.parametrize("algorithm", DENSITY)
def test_density_noise_is_the_atypical_group(fitted: dict, algorithm: str) -> None:
    model, _, truth = fitted[algorithm]
    noise = truth < 0
    atypical = model.labels_ == model.noise_label_
    # the injected uniform points fall in the atypical group; the blobs almost never do
    assert atypical[noise].mean() >= 0.9
    assert atypical[~noise].mean() <= 0.01
    params = model.method_["parameters"]
    assert params["atypical"] == int(atypical.sum())
    assert params["min_samples"] == max(2 * 3, round(np.log(len(truth))))


def test_dbscan_eps_is_the_knee_of_the_k_distance_curve() -> None:
    frame, _ = blobs(noise=40)
    X = frame.to_numpy()
    params = density_parameters(X, "dbscan")
    curve = np.sort(params["core_distance"])
    assert params["eps_from"] == "knee"
    # the knee sits where the curve turns up: below it the dense points, above it the noise
    assert curve[len(curve) // 2] < params["eps"] < curve[-1]
    assert density_parameters(X, "hdbscan")["min_cluster_size"] == round(0.01 * len(X))


@pytest.mark.parametrize("algorithm", ALL)
def test_model_json_round_trip_scores_alike(fitted: dict, algorithm: str) -> None:
    model, frame, _ = fitted[algorithm]
    doc = json.loads(json.dumps(persistence.to_dict(model), allow_nan=False))
    schema.validate(doc, "model", "model")
    assert ("scoring" in doc) == (algorithm != "kmeans")
    again = persistence.from_dict(doc)
    assert (again.predict(frame) == model.labels_).all()
    assert (model.predict(frame) == model.labels_).all()
    # new customers: the centre of a blob, and a point far from every blob
    new = pd.DataFrame([[6.0, 6.0, 6.0], [60.0, -60.0, 60.0]], columns=["a", "b", "c"])
    near, far = again.predict(new)
    assert near == model.labels_[np.argmin(((frame.to_numpy() - 6.0) ** 2).sum(axis=1))]
    if algorithm in DENSITY:
        assert far == model.noise_label_ == again.noise_label_


def test_gmm_scores_by_highest_posterior_like_scikit_learn() -> None:
    frame, _ = blobs()
    X = frame.to_numpy()
    gm = GaussianMixture(3, random_state=0).fit(X)
    ours = mixture_log_resp(X, gm.weights_, gm.means_, gm.covariances_).argmax(axis=1)
    assert (ours == gm.predict(X)).all()


def test_damaged_scoring_part_is_refused(fitted: dict) -> None:
    model, _, _ = fitted["gmm"]
    doc = json.loads(json.dumps(persistence.to_dict(model)))
    doc["scoring"]["mixture"]["weights"] = doc["scoring"]["mixture"]["weights"][:-1]
    with pytest.raises(ModelError, match="weights"):
        persistence.from_dict(doc)
    dens = json.loads(json.dumps(persistence.to_dict(fitted["dbscan"][0])))
    dens["scoring"]["core"]["radius"] = dens["scoring"]["core"]["radius"][:-1]
    with pytest.raises(ModelError, match="radius"):
        persistence.from_dict(dens)
    del dens["scoring"]
    with pytest.raises(ModelError, match="without its scoring"):
        persistence.from_dict(dens)


def test_ward_on_many_customers_is_fitted_on_a_sample_then_nearest_centroid() -> None:
    frame, truth = blobs(n=WARD_SAMPLE + 1_000)
    # a small sweep (the k is given): the final fit is the part under test
    model = CustomerSegmenter(
        algorithm="ward", k=3, k_max=4, random_state=0, sweep_sample=1_000
    ).fit(frame)
    params = model.method_["parameters"]
    assert params["sample"] == WARD_SAMPLE == params["max_sample"]
    Xt = model.transform(frame)
    assert (model.labels_ == nearest_centroid(Xt, model.cluster_centers_)).all()
    assert adjusted_rand_score(truth, model.labels_) > 0.99
    assert "seeded sample" in method_sentence(model, "en")


def test_density_methods_take_no_k() -> None:
    frame, _ = blobs()
    with pytest.raises(ModelError, match="finds the number of segments"):
        CustomerSegmenter(algorithm="dbscan", k=3).fit(frame)


def test_labels_are_ordered_by_value_with_atypical_last(fitted: dict) -> None:
    model, frame, _ = fitted["hdbscan"]
    first = frame.columns[0]
    means = [frame[first][model.labels_ == s].mean() for s in range(model.k_ - 1)]
    assert means == sorted(means, reverse=True)


def test_compare_scores_side_by_side_and_recommends(fitted: dict) -> None:
    hdbscan, frame, _ = fitted["hdbscan"]
    found = compare(
        frame,
        ["kmeans", "gmm", "hdbscan"],
        lambda a: CustomerSegmenter(algorithm=a, k_max=5, random_state=0),
        fitted={"hdbscan": hdbscan},
    )
    rows = {r["algorithm"]: r for r in found.rows}
    assert set(rows) == {"kmeans", "gmm", "hdbscan"}
    assert rows["hdbscan"]["sizes"] == np.bincount(hdbscan.labels_).tolist()
    assert rows["hdbscan"]["atypical_share"] == pytest.approx(40 / 1_540, abs=0.01)
    for r in rows.values():
        assert r["stability"] > 0.95  # three obvious blobs: every refit finds them again
        assert -1 <= r["silhouette"] <= 1 and r["davies_bouldin"] > 0
    assert found.recommended in rows
    assert found.reason["rule"] == "best_mean_rank"
    frame_out = found.to_frame()
    assert frame_out["recommended"].sum() == 1
    assert recommendation_sentence(found.to_dict(), "fr").startswith("Recommandé")


def test_recommend_sets_aside_noisy_unstable_and_failed() -> None:
    base = {"segments": 3, "silhouette": 0.5, "davies_bouldin": 0.7, "calinski_harabasz": 900.0}
    rows = [
        {"algorithm": "kmeans", **base, "atypical_share": 0.0, "stability": 0.6, "error": None},
        {"algorithm": "gmm", **base, "atypical_share": 0.0, "stability": 0.9, "error": None},
        {"algorithm": "dbscan", **base, "atypical_share": MAX_NOISE + 0.1, "stability": 1.0,
         "error": None},
        {"algorithm": "hdbscan", **base, "atypical_share": None, "stability": None,
         "error": "no segment"},
    ]  # fmt: skip
    best, reason = recommend(rows)
    assert best == "gmm"
    assert reason["excluded"] == {
        "kmeans": "unstable",
        "dbscan": "too_much_noise",
        "hdbscan": "failed",
    }


def test_run_with_density_method_names_atypical_and_scores_back(tmp_path: Path) -> None:
    lines, _ = make_transactions(400, seed=5)
    out = tmp_path / "run"
    result = custseg.run(lines, out, seed=0, algorithm="hdbscan", compare=["kmeans", "hdbscan"])
    model = result.model
    atypical = model.noise_label_ + 1
    assert result.segment_names[atypical] == "Atypical customers"
    assert result.segment_slugs[atypical] == "atypical"
    assert atypical in set(result.profiles["segment"])
    assert "HDBSCAN" in result.verdict and "min_cluster_size" in result.verdict
    scored = RunModel.load(out).predict(lines)
    own = result.segments.set_index("customer_id")["segment"]
    assert (scored.loc[own.index].to_numpy() == own.to_numpy()).all()
    assert (out / "compare.json").is_file() and (out / "compare.csv").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="algorithms-compared"' in html and "Atypical customers" in html
    # the report rebuilt in French from the folder says the same in French
    fr = custseg.report.render_dir(out, "fr")
    assert "Algorithmes comparés" in fr and "Clients atypiques" in fr and "HDBSCAN" in fr


@pytest.mark.parametrize("algorithm", ["gmm", "ward", "dbscan"])
def test_run_scores_its_own_input_back(tmp_path: Path, algorithm: str) -> None:
    lines, _ = make_transactions(300, seed=2)
    result = custseg.run(lines, tmp_path / "r", seed=0, k_max=5, algorithm=algorithm)
    scored = RunModel.load(tmp_path / "r").predict(lines)
    own = result.segments.set_index("customer_id")["segment"]
    assert (scored.loc[own.index].to_numpy() == own.to_numpy()).all()
    doc = json.loads((tmp_path / "r" / "model.json").read_text())
    assert doc["model"]["params"]["algorithm"] == algorithm
    assert doc["model"]["scoring"]["rule"] == ALGORITHMS[algorithm].rule


def test_customer_table_with_categoricals_states_the_k_prototypes_equivalent() -> None:
    rng = np.random.default_rng(0)
    n = 600
    group = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "income": np.where(group == 0, 20_000, 80_000) + rng.normal(0, 3_000, n),
            "age": np.where(group == 0, 25, 60) + rng.normal(0, 3, n),
            "channel": np.where(group == 0, "web", "store"),
        }
    )
    model = CustomerSegmenter(
        ["income", "age"], categorical=["channel"], algorithm="gmm", k=2, k_max=3, random_state=0
    ).fit(frame)
    assert adjusted_rand_score(group, model.labels_) == 1.0
    text = method_sentence(model, "en")
    assert "K-Prototypes" in text and "channel" in text and "one-hot" in text


def test_cli_algorithm_and_compare(tmp_path: Path) -> None:
    lines, _ = make_transactions(300, seed=4)
    src = tmp_path / "lines.csv"
    lines.to_csv(src, index=False)
    runner = CliRunner(env={"COLUMNS": "200"})
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "run",
            str(src),
            "--out",
            str(out),
            "--k-max",
            "5",
            "--algorithm",
            "gmm",
            "--compare",
            "kmeans,gmm",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Algorithms compared" in result.output and "Recommended" in result.output
    assert json.loads((out / "compare.json").read_text())["recommended"] in {"kmeans", "gmm"}
    bad = runner.invoke(app, ["run", str(src), "--out", str(tmp_path / "x"), "--compare", "optics"])
    assert bad.exit_code == 1 and "unknown clustering algorithm 'optics'" in bad.output


def test_a_k_with_a_density_method_is_refused_before_any_work() -> None:
    lines, _ = make_transactions(50, seed=1)
    with pytest.raises(CustsegError, match="--k cannot be used with --algorithm hdbscan"):
        custseg.segment(lines, k=3, algorithm="hdbscan")
    with pytest.raises(ModelError, match="unknown clustering algorithm 'optics'"):
        custseg.segment(lines, algorithm="optics")
