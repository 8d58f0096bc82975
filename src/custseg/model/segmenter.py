"""The estimator: customer features → skew correction → scaling → K-Means with k chosen → names.

:class:`CustomerSegmenter` follows scikit-learn's conventions: ``__init__`` stores parameters,
``fit`` validates and learns (state ends in ``_``), ``predict`` assigns segments. A fitted model
is data: :meth:`CustomerSegmenter.to_dict` holds everything needed to score a new customer
(transform and scaler parameters, centroids, RFM score edges, names) and :meth:`from_dict`
rebuilds it without executing anything.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.preprocessing import PowerTransformer
from threadpoolctl import threadpool_limits

from custseg.errors import ModelError, NotFittedError, SchemaError, TooFewCustomersError
from custseg.explain import naming
from custseg.model.selection import Selection, sweep
from custseg.stages.features import TRANSACTION_FEATURES

MODEL_FORMAT = "custseg.model/1"
RFM_FEATURES = ("recency_days", "frequency", "monetary")
#: features that cannot be negative; below 0 they are clipped before the transform (a customer
#: whose returns exceed purchases in the window is worth 0, not an outlier of negative value)
NON_NEGATIVE = frozenset(TRANSACTION_FEATURES)
#: the Yeo-Johnson exponents are estimated on a seeded sample of at most this many customers
LAMBDA_SAMPLE = 200_000
#: below this many customers K-Means runs on one thread (see CustomerSegmenter.fit)
SMALL_DATA = 50_000
#: the first of these present orders the segments by its mean (1 = highest); else the first feature
VALUE_FEATURES = ("monetary", "total_spend", "income", "Income")


def _versions() -> dict[str, str]:
    import sklearn

    from custseg.version import __version__

    return {
        "custseg": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
    }


def _distinct_rows(Xt: np.ndarray, enough: int) -> int:
    """Number of distinct rows, or at least ``enough`` when the first rows already hold that
    many (sorting millions of rows to learn that k_max segments are possible is wasted)."""
    head = len(np.unique(Xt[:2_000], axis=0))
    return head if head >= enough else len(np.unique(Xt, axis=0))


def _nearest(Xt: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index (0-based) of the nearest centroid of each row."""
    d = (
        np.einsum("ij,ij->i", Xt, Xt)[:, None]
        - 2.0 * Xt @ centers.T
        + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    return np.argmin(d, axis=1)


class CustomerSegmenter:
    """Segment customers from their features; choose k, order and name the segments.

    customers (one row each, feature columns) → segment numbers 1..k, 1 being the segment of
    highest mean monetary value.

    Parameters
    ----------
    features : numeric columns clustered on, after a Yeo-Johnson transform and standard scaling.
    categorical : categorical columns clustered on, one-hot encoded. Dummies are left at 0/1, so
        a mismatch on one categorical column adds 2 to the squared distance: exactly the
        expected squared difference between two customers on one standardised numeric column.
        Every column, numeric or categorical, thus weighs the same (K-Means on this mixed
        encoding approximates K-Prototypes with Huang's weighting, at K-Means' speed).
    k : number of segments; ``None`` chooses it in ``[k_min, k_max]`` (see :mod:`custseg.selection`).
    k_min, k_max : range of k tried when ``k`` is ``None``.
    n_init : K-Means restarts for every fit.
    random_state : seed of every random step (K-Means, samples).
    sweep_sample : fit the k sweep on at most this many customers (seeded sample); the final
        model is always fitted on all customers, starting from the sweep's centroids for the
        chosen k (one Lloyd run instead of ``n_init`` restarts).
    silhouette_sample : silhouette computed on at most this many customers (seeded sample).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"recency_days": [1, 2, 3, 200, 210, 220] * 5,
    ...                   "frequency": [20, 22, 21, 1, 2, 1] * 5,
    ...                   "monetary": [900.0, 1000, 950, 30, 40, 35] * 5})
    >>> model = CustomerSegmenter(k=2, random_state=0).fit(X)
    >>> model.labels_[:6].tolist()
    [1, 1, 1, 2, 2, 2]
    >>> model.predict(X.head(2)).tolist()
    [1, 1]
    """

    def __init__(
        self,
        features: Sequence[str] = RFM_FEATURES,
        *,
        categorical: Sequence[str] = (),
        k: int | None = None,
        k_min: int = 2,
        k_max: int = 10,
        n_init: int = 10,
        random_state: int = 0,
        sweep_sample: int = 20_000,
        silhouette_sample: int = 10_000,
    ) -> None:
        self.features = features
        self.categorical = categorical
        self.k = k
        self.k_min = k_min
        self.k_max = k_max
        self.n_init = n_init
        self.random_state = random_state
        self.sweep_sample = sweep_sample
        self.silhouette_sample = silhouette_sample

    # ---- learning -------------------------------------------------------------------------
    def _validate(self, X: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise SchemaError(
                f"customer table has no column {', '.join(map(repr, missing))}; "
                f"columns are: {', '.join(map(str, X.columns))}"
            )
        values = X[list(self.features)].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            col = list(self.features)[int(np.argwhere(bad)[0][1])]
            raise SchemaError(
                f"feature {col!r} has {int(bad.sum())} missing or infinite values; "
                "clean or impute them first"
            )
        return values

    def _validate_categorical(self, X: pd.DataFrame) -> None:
        missing = [c for c in self.categorical if c not in X.columns]
        if missing:
            raise SchemaError(
                f"customer table has no column {', '.join(map(repr, missing))}; "
                f"columns are: {', '.join(map(str, X.columns))}"
            )

    def _one_hot(self, X: pd.DataFrame) -> np.ndarray:
        blocks = []
        for col in self.categorical:
            cats = self.categories_[col]
            values = X[col].astype(str).to_numpy()
            blocks.append(
                (values[:, None] == np.asarray(cats, dtype=object)[None, :]).astype(float)
            )
        return np.hstack(blocks) if blocks else np.zeros((len(X), 0))

    def fit(self, X: pd.DataFrame, y: None = None) -> CustomerSegmenter:
        """Learn the transform, choose k, fit K-Means on all customers, order and name segments."""
        if not list(self.features) and not list(self.categorical):
            raise SchemaError("no feature to cluster on: give numeric or categorical columns")
        self._validate_categorical(X)
        values = self._validate(X)
        n = len(values)
        if self.k is not None:
            if self.k < 1:
                raise SchemaError(f"k must be at least 1, got {self.k}")
            if n < self.k:
                raise TooFewCustomersError(
                    f"{n} customers but k = {self.k} segments asked; lower --k"
                )
        elif self.k_min < 2 or self.k_max < self.k_min:
            raise SchemaError(
                f"k range [{self.k_min}, {self.k_max}] is empty or starts below 2; "
                "use e.g. --k-min 2 --k-max 10"
            )
        elif n <= self.k_min:
            raise TooFewCustomersError(
                f"{n} customers is too few to compare k from {self.k_min}; "
                f"segmenting needs more than {self.k_min} customers (or set --k)"
            )
        self.lower_ = np.array(
            [0.0 if f in NON_NEGATIVE else -np.inf for f in self.features], dtype=float
        )
        values = np.maximum(values, self.lower_)
        if values.shape[1]:
            # the exponent of each feature is estimated (maximum likelihood) on a seeded sample
            # of at most LAMBDA_SAMPLE customers: on 4 M customers the full estimate took 3.7 s
            # for an exponent its sample's standard error makes indistinguishable
            fit_on = values
            if n > LAMBDA_SAMPLE:
                rng = np.random.default_rng([self.random_state, 1])
                fit_on = values[np.sort(rng.choice(n, LAMBDA_SAMPLE, replace=False))]
            pt = PowerTransformer(method="yeo-johnson", standardize=False).fit(fit_on)
            self.lambdas_ = pt.lambdas_.astype(float)
        else:
            self.lambdas_ = np.zeros(0)
        transformed = self._power(values)
        self.mean_ = transformed.mean(axis=0)
        scale = transformed.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.categories_ = {c: sorted(X[c].astype(str).unique().tolist()) for c in self.categorical}
        Xt = np.hstack([(transformed - self.mean_) / self.scale_, self._one_hot(X)])

        distinct = _distinct_rows(Xt, self.k_max + 1)
        hi = min(self.k_max, n - 1, distinct)
        ks = list(range(self.k_min, hi + 1)) if hi >= self.k_min else []
        if self.k is not None and self.k not in ks:
            # a forced k is scored with the others when the indices are defined for it
            # (2 <= k < number of distinct customers); otherwise it is fitted unscored
            ks = sorted(set(ks) | {self.k}) if 2 <= self.k <= hi else []
        self.selection_: Selection | None
        k, centers, raw_labels = self._sweep_and_fit(Xt, ks, distinct)
        self.value_feature_ = next(
            (f for f in VALUE_FEATURES if f in self.features), next(iter(self.features), None)
        )
        if self.value_feature_ is not None:
            col = list(self.features).index(self.value_feature_)
            value_means = [
                values[raw_labels == c, col].mean() if (raw_labels == c).any() else -np.inf
                for c in range(k)
            ]
        else:  # categorical only: the largest segment first
            value_means = [float((raw_labels == c).sum()) for c in range(k)]
        order = sorted(range(k), key=lambda c: (-value_means[c], c))
        self.cluster_centers_ = centers[order]
        self.k_ = k
        self.n_features_in_ = len(self.features)
        self.feature_names_in_ = np.asarray(self.features, dtype=object)
        self.labels_ = (_nearest(Xt, self.cluster_centers_) + 1).astype("int64")  # = predict(X)
        found = len(np.unique(self.labels_))
        if found < k:
            warnings.warn(
                f"only {found} of the {k} segments asked received customers", stacklevel=2
            )
        self._fit_names(X)
        return self

    def _sweep_and_fit(
        self, Xt: np.ndarray, ks: list[int], distinct: int
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """Choose k (unless forced), fit the final K-Means on all customers: k, centroids, labels.

        The sweep fits samples of at most ``sweep_sample`` customers; on so few, OpenMP threads
        in K-Means mostly wait for each other (and spin on a busy machine), so it runs on one
        thread. When the sweep saw every customer its model for the chosen k is the final one;
        otherwise the final fit on all customers starts from the sweep's centroids (measured
        on 400 k customers: 0.2 s and the same inertia to 1e-9, against 2.7 s for 10 restarts).
        """
        n = Xt.shape[0]
        started = time.perf_counter()
        #: wall seconds of the k sweep and of the final fit (for benchmarks; never saved)
        self.fit_seconds_ = {"sweep": 0.0, "final_fit": 0.0}
        if ks:
            with threadpool_limits(1, user_api="openmp"):
                self.selection_ = sweep(
                    Xt,
                    ks,
                    random_state=self.random_state,
                    n_init=self.n_init,
                    sweep_sample=self.sweep_sample,
                    silhouette_sample=self.silhouette_sample,
                    forced_k=self.k,
                )
            k = self.selection_.chosen
            init = self.selection_.centers_of(k)
        else:
            if self.k is None:
                raise TooFewCustomersError(
                    f"only {distinct} distinct customers' feature values: too few to segment"
                )
            self.selection_ = None
            k = self.k
            init = None
        self.fit_seconds_["sweep"] = time.perf_counter() - started
        started = time.perf_counter()
        if (
            init is not None
            and self.selection_ is not None
            and self.selection_.sample.get("sweep") == n
        ):
            # the sweep fitted this very model: same customers, k, restarts and seed
            labels = _nearest(Xt, init)
            self.fit_seconds_["final_fit"] = time.perf_counter() - started
            return k, init, labels
        with threadpool_limits(1, user_api="openmp") if n < SMALL_DATA else nullcontext():
            if init is not None:
                km = KMeans(n_clusters=k, init=init, n_init=1).fit(Xt)
            else:
                km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
                km.fit(Xt)
        self.fit_seconds_["final_fit"] = time.perf_counter() - started
        return k, km.cluster_centers_, km.labels_

    def _fit_names(self, X: pd.DataFrame) -> None:
        self.rfm_edges_: dict[str, list[float]] = {}
        if all(f in X.columns for f in RFM_FEATURES):
            for f in RFM_FEATURES:
                self.rfm_edges_[f] = naming.score_edges(X[f])
            scores = self.rfm_scores(X)
            names = naming.name_clusters(
                self.labels_,
                scores["r_score"].to_numpy(),
                scores["f_score"].to_numpy(),
                scores["rfm_segment"].to_numpy(),
                tenure=X["tenure_days"].to_numpy() if "tenure_days" in X.columns else None,
            )
        else:
            names = {int(c): f"segment_{c}" for c in np.unique(self.labels_)}
        self.segment_slugs_ = {
            int(s): names.get(int(s), f"segment_{s}") for s in range(1, self.k_ + 1)
        }

    # ---- applying -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("this CustomerSegmenter is not fitted yet; call fit first")

    def _power(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values, dtype=float)
        for j, lmbda in enumerate(self.lambdas_):
            out[:, j] = stats.yeojohnson(values[:, j], lmbda=float(lmbda))
        return out

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Features → the scaled space the centroids live in."""
        self._check_fitted()
        values = np.maximum(self._validate(X), self.lower_)
        self._validate_categorical(X)
        return np.hstack([(self._power(values) - self.mean_) / self.scale_, self._one_hot(X)])

    def transformed_feature_names(self) -> list[str]:
        """Names of the columns of :meth:`transform`: features, then ``column=category`` dummies."""
        self._check_fitted()
        return [
            *self.features,
            *(f"{c}={v}" for c in self.categorical for v in self.categories_[c]),
        ]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Segment number (1..k) of each customer: the nearest centroid in the scaled space."""
        self._check_fitted()
        return (_nearest(self.transform(X), self.cluster_centers_) + 1).astype("int64")

    def rfm_scores(self, X: pd.DataFrame) -> pd.DataFrame:
        """r/f/m quintile scores (1–5, training edges) and the named RFM grid cell."""
        self._check_fitted()
        if not self.rfm_edges_:
            raise ModelError("this model was not fitted on recency, frequency and monetary")
        r = naming.apply_score(X["recency_days"], self.rfm_edges_["recency_days"], reverse=True)
        f = naming.apply_score(X["frequency"], self.rfm_edges_["frequency"], reverse=False)
        m = naming.apply_score(X["monetary"], self.rfm_edges_["monetary"], reverse=False)
        return pd.DataFrame(
            {"r_score": r, "f_score": f, "m_score": m, "rfm_segment": naming.grid_segment(r, f)},
            index=X.index,
        )

    # ---- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to score new customers, as JSON-able data."""
        self._check_fitted()
        return {
            "format": MODEL_FORMAT,
            "params": {
                "features": list(self.features),
                "categorical": list(self.categorical),
                "k": self.k,
                "k_min": self.k_min,
                "k_max": self.k_max,
                "n_init": self.n_init,
                "random_state": self.random_state,
                "sweep_sample": self.sweep_sample,
                "silhouette_sample": self.silhouette_sample,
            },
            "transform": {
                "steps": ["clip-lower", "yeo-johnson", "standardize"],
                "lower": [None if not np.isfinite(v) else float(v) for v in self.lower_],
                "lambdas": [float(v) for v in self.lambdas_],
                "mean": [float(v) for v in self.mean_],
                "scale": [float(v) for v in self.scale_],
            },
            "categories": self.categories_,
            "value_feature": self.value_feature_,
            "k": int(self.k_),
            "centroids": [[float(v) for v in row] for row in self.cluster_centers_],
            "ordering": f"segment 1 has the highest mean {self.value_feature_}"
            if self.value_feature_
            else "segment 1 is the largest",
            "segments": {str(s): slug for s, slug in self.segment_slugs_.items()},
            "rfm_edges": self.rfm_edges_,
            "rfm_grid": [
                {"slug": b["slug"], "r": list(b["r"]), "f": list(b["f"])} for b in naming.RFM_GRID
            ],
            "selection": self.selection_.to_dict() if self.selection_ is not None else None,
            "versions": _versions(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerSegmenter:
        """Rebuild a fitted model from :meth:`to_dict` output (no code is executed)."""
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise ModelError(f"not a custseg model (expected format {MODEL_FORMAT!r})")
        try:
            p = data["params"]
            model = cls(
                tuple(p["features"]),
                categorical=tuple(p.get("categorical", ())),
                k=p["k"],
                k_min=p["k_min"],
                k_max=p["k_max"],
                n_init=p["n_init"],
                random_state=p["random_state"],
                sweep_sample=p["sweep_sample"],
                silhouette_sample=p["silhouette_sample"],
            )
            tr = data["transform"]
            model.lower_ = np.array([-np.inf if v is None else v for v in tr["lower"]], dtype=float)
            model.lambdas_ = np.asarray(tr["lambdas"], dtype=float)
            model.mean_ = np.asarray(tr["mean"], dtype=float)
            model.scale_ = np.asarray(tr["scale"], dtype=float)
            model.cluster_centers_ = np.asarray(data["centroids"], dtype=float)
            model.categories_ = {c: list(v) for c, v in data.get("categories", {}).items()}
            model.value_feature_ = data.get("value_feature")
            model.k_ = int(data["k"])
            model.n_features_in_ = len(model.features)
            model.feature_names_in_ = np.asarray(model.features, dtype=object)
            model.segment_slugs_ = {int(s): v for s, v in data["segments"].items()}
            model.rfm_edges_ = {k: list(v) for k, v in data["rfm_edges"].items()}
            sel = data.get("selection")
            model.selection_ = Selection.from_dict(sel) if sel else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model file is incomplete or damaged ({exc!r})") from exc
        width = len(model.features) + sum(len(v) for v in model.categories_.values())
        if model.cluster_centers_.shape != (model.k_, width):
            raise ModelError("model file is inconsistent: centroids do not match k and features")
        return model

    @classmethod
    def load(cls, path: str | Path) -> CustomerSegmenter:
        """Read a ``model.json`` written by a run."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(
                f"{path}: cannot read the model ({exc}); give a run's model.json"
            ) from exc
        return cls.from_dict(data.get("model", data))
