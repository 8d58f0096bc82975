"""The estimator: customer features → skew correction → scaling → clustering with k chosen.

:class:`CustomerSegmenter` is a scikit-learn estimator (a clusterer and a transformer):
``__init__`` stores parameters, ``fit`` validates them and the data and learns (state ends in
``_``), ``predict`` gives each customer the label (0..k-1) of its nearest centroid, ``transform``
the scaled space the centroids live in. Labels are ordered by value: label 0 is the segment of
highest mean value (see :data:`VALUE_FEATURES`); outputs show them as segment numbers 1..k
(:func:`segment_numbers`). The clustering algorithm is a parameter resolved through
:mod:`custseg.model.algorithms`. A fitted model is data: :mod:`custseg.model.persistence` writes
and reads it as plain JSON. Naming the segments is explanation (:mod:`custseg.explain.naming`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.preprocessing import PowerTransformer
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from custseg.errors import (
    CustsegError,
    ModelError,
    NotFittedError,
    SchemaError,
    TooFewCustomersError,
)
from custseg.model.algorithms import (
    WARD_SAMPLE,
    core_assign,
    fit_density,
    get_algorithm,
    mixture_log_resp,
)
from custseg.model.rfm import RFM_FEATURES
from custseg.model.selection import Selection, sweep
from custseg.stages.features import TRANSACTION_FEATURES

#: features that cannot be negative; below 0 they are clipped before the transform (a customer
#: whose returns exceed purchases in the window is worth 0, not an outlier of negative value)
NON_NEGATIVE = frozenset(TRANSACTION_FEATURES)
#: the Yeo-Johnson exponents are estimated on a seeded sample of at most this many customers
LAMBDA_SAMPLE = 200_000
#: below this many customers the final fit runs on one thread (see CustomerSegmenter.fit)
SMALL_DATA = 50_000
#: the first of these present orders the labels by its mean (0 = highest); else the first feature
VALUE_FEATURES = ("monetary", "total_spend", "income", "Income")

__all__ = [
    "RFM_FEATURES",
    "CustomerSegmenter",
    "ParameterError",
    "segment_numbers",
]


class ParameterError(SchemaError, InvalidParameterError):
    """A parameter of :class:`CustomerSegmenter` has a type or value it cannot take.

    Both a :class:`~custseg.errors.CustsegError` (the command line prints it on one line) and
    scikit-learn's ``InvalidParameterError``.
    """


def segment_numbers(labels: ArrayLike) -> np.ndarray:
    """User-facing segment numbers (1..k) of labels (0..k-1): segment 1 is label 0.

    Outputs (``segments.csv``, profiles, the report) number segments from 1, ordered by value;
    the estimator's ``labels_`` and ``predict`` count from 0, as scikit-learn's clusterers do.

    Examples
    --------
    >>> segment_numbers([0, 2, 1]).tolist()
    [1, 3, 2]
    """
    return np.asarray(labels, dtype="int64") + 1


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


#: rows per block of :func:`_nearest_in_blocks` and of the scaling: a block's distances stay in
#: the CPU cache
PREDICT_BLOCK = 65_536


def _in_row_blocks(n: int, work: Callable[[int, int], None]) -> None:
    """Call ``work(start, stop)`` on the blocks of :data:`PREDICT_BLOCK` rows of ``n``, side by
    side on the usable cores (``CUSTSEG_THREADS`` caps them). NumPy's ufuncs and a
    one-thread BLAS product release the GIL, so the blocks run in parallel; each block does
    the arithmetic it did in one thread, so the results are the same bits. Measured on 4 M
    customers, 2 cores: scoring 11.2 M → 17.1 M customers/s (``bench/score_bench.py``).
    """
    from custseg.config import settings

    starts = range(0, n, PREDICT_BLOCK)
    workers = min(settings().workers, len(starts))
    if workers < 2:
        for start in starts:
            work(start, min(start + PREDICT_BLOCK, n))
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="custseg-score") as pool:
        # list(): waits for every block and raises the first block's error, if any
        list(pool.map(lambda start: work(start, min(start + PREDICT_BLOCK, n)), starts))


def _nearest_in_blocks(Xt: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """:func:`_nearest`, block by block on one BLAS thread per block (the blocks side by side,
    :func:`_in_row_blocks`): the same arithmetic, so the same distances bit for bit, without
    a matrix of n × k distances and without BLAS threads (a product with a handful of
    columns is too small to share; on a busy machine the threads' waiting made scoring many
    times slower).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, C = rng.normal(size=(100_000, 3)), rng.normal(size=(5, 3))
    >>> bool((_nearest_in_blocks(X, C) == _nearest(X, C)).all())
    True
    """
    norms = np.einsum("ij,ij->i", centers, centers)[None, :]
    labels = np.empty(len(Xt), dtype=np.intp)

    def block(start: int, stop: int) -> None:
        x = Xt[start:stop]
        # in place on the product: -2g + |x|^2 + |c|^2 is |x|^2 - 2g + |c|^2 bit for bit
        # (negation and the factor 2 are exact, a - b == a + -b), without three more
        # block-sized temporaries (measured: 0.14-0.18 s -> 0.11 s CPU for 2 M rows)
        d = x @ centers.T
        np.multiply(d, -2.0, out=d)
        np.add(d, np.einsum("ij,ij->i", x, x)[:, None], out=d)
        np.add(d, norms, out=d)
        labels[start:stop] = np.argmin(d, axis=1)

    with threadpool_limits(1, user_api="blas"):
        _in_row_blocks(len(Xt), block)
    return labels


def _numbers_only(frame: pd.DataFrame, *, fitting: bool = True) -> None:
    """Raise a :class:`SchemaError` naming the first column of ``frame`` that holds something
    other than numbers (text, dates, complex numbers), with its first such value and row."""
    for col in frame.columns:
        dtype = frame[col].dtype
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
        ):
            continue
        present = frame[col].dropna()
        if (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        ):
            cells = present.astype(object)
            bad = cells[
                pd.to_numeric(cells, errors="coerce").isna()
                | cells.map(lambda v: isinstance(v, complex)).astype(bool)
            ]
        else:  # dates, durations, complex numbers
            bad = present
        if len(bad):
            shown = repr(bad.iloc[0])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            hint = (
                "name it in categorical=[...] to cluster on it as categories, or leave it out "
                "of features"
                if fitting
                else "the model was fitted on numbers there: give numbers"
            )
            raise SchemaError(
                f"column {str(col)!r} holds {shown} (row {bad.index[0]}), not a number; {hint}"
            )


def _first_text_cell(X: Any) -> tuple[int, int, str] | None:
    """Row, column and value (repr, shortened) of the first cell of a 2-D array-like that is
    not a number; ``None`` when there is none or ``X`` is not a table of cells."""
    try:
        cells = np.asarray(X, dtype=object)
    except ValueError:  # ragged rows
        return None
    if cells.ndim != 2:
        return None
    for (i, j), v in np.ndenumerate(cells):
        try:
            float(v)
        except (TypeError, ValueError):
            shown = repr(v)
            return i, j, shown if len(shown) <= 60 else shown[:57] + "..."
    return None


def _too_large(values: np.ndarray, names: list[str], bad: np.ndarray, X: Any) -> None:
    """Raise a :class:`SchemaError` when a numeric feature (``bad``: per column) overflowed
    the transform, naming it, its largest value and that value's row."""
    if not bad.any():
        return
    j = int(np.flatnonzero(bad)[0])
    i = int(np.argmax(np.abs(values[:, j])))
    row = X.index[i] if isinstance(X, pd.DataFrame) else i
    raise SchemaError(
        f"feature {names[j]!r} holds {values[i, j]:.6g} (row {row}), too large to compute "
        "with (its transform overflows); check the input for an absurd value, or clip or drop "
        "outliers (--outliers clip)"
    )


class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
    """Raised when the estimator is used before ``fit``: custseg's error and scikit-learn's."""


class CustomerSegmenter(ClusterMixin, TransformerMixin, BaseEstimator):
    """Segment customers from their features; choose k and order the segments by value.

    customers (one row each, feature columns) → labels 0..k-1, label 0 being the segment of
    highest mean value (monetary, else total spend or income, else the first feature).

    Numeric features are clipped at 0 when they cannot be negative (transaction features),
    Yeo-Johnson transformed and standardised; categorical ones are one-hot encoded. The
    mixins come before ``BaseEstimator``, as scikit-learn requires.

    Parameters
    ----------
    features : sequence of str or None, default=None
        Numeric columns clustered on (names, in a pandas DataFrame; any other column is
        ignored and the order of columns is free). ``None``: every column of ``X`` that is not
        in ``categorical`` (a NumPy array, or a DataFrame whose columns must then come in the
        same order at predict time, as for any scikit-learn estimator). Transaction features
        (:data:`custseg.stages.features.TRANSACTION_FEATURES`: ``recency_days``, ``monetary``…)
        are recognised by name and clipped at 0: give them unscaled.
    categorical : sequence of str, default=()
        Categorical columns clustered on (names; needs a DataFrame), one-hot encoded. Dummies
        are left at 0/1, so a mismatch on one categorical column adds 2 to the squared
        distance: exactly the expected squared difference between two customers on one
        standardised numeric column. Every column, numeric or categorical, thus weighs the
        same (K-Means on this mixed encoding approximates K-Prototypes with Huang's
        weighting, at K-Means' speed).
    algorithm : str, default="kmeans"
        Clustering algorithm, by its name in :data:`custseg.model.algorithms.ALGORITHMS`:
        ``kmeans``, ``gmm`` (Gaussian mixture, scored by highest posterior probability),
        ``ward`` (agglomerative on a sample of at most 5,000 customers, then nearest
        centroid), ``dbscan`` or ``hdbscan`` (density methods on a sample of at most 10,000
        customers, parameters chosen from the data; ``k`` must be unset; the customers they
        leave as noise get the last label, ``noise_label_``, the "atypical customers").
    k : int or None, default=None
        Number of segments; ``None`` chooses it in ``[k_min, k_max]`` (see
        :mod:`custseg.model.selection`).
    k_min, k_max : int, default=2, 10
        Range of k tried when ``k`` is ``None``.
    n_init : int, default=10
        Restarts of every fit (k-means++ seedings).
    random_state : int, RandomState instance or None, default=0
        Seed of every random step (the clustering, the samples, the exponents' sample).
    sweep_sample : int, default=20_000
        Fit the k sweep on at most this many customers (seeded sample); the final model is
        always fitted on all customers, starting from the sweep's centroids for the chosen k
        (one Lloyd run instead of ``n_init`` restarts).
    silhouette_sample : int, default=10_000
        Silhouette computed on at most this many customers (seeded sample).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Label (0..k-1) of each training customer; equal to ``predict(X)``.
    cluster_centers_ : ndarray of shape (k_, n_features_out)
        Centroids in the transformed space, row i being label i (ordered by value).
    k_ : int
        Number of segments (chosen or forced).
    numeric_features_, categories_ : list of str, dict of list of str
        Numeric columns, and the categories of each categorical column.
    lower_, lambdas_, mean_, scale_ : ndarray of shape (len(numeric_features_),)
        Clipping bound, Yeo-Johnson exponent, mean and scale of each numeric feature.
    noise_label_ : int or None
        Label of the atypical customers (density methods: ``k_ - 1``); ``None`` otherwise.
    method_ : dict
        The algorithm, its scoring rule and the parameters it was fitted with.
    value_feature_ : str or None
        The feature whose mean orders the labels (``None``: by size, categorical only).
    selection_ : Selection or None
        Scores of every k tried and the verdict; ``None`` when no k could be scored.
    n_features_in_ : int
        Number of columns validated (numeric and categorical).
    feature_names_in_ : ndarray of str
        Their names, when ``X`` was a DataFrame with string column names.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"recency_days": [1, 2, 3, 200, 210, 220] * 5,
    ...                   "frequency": [20, 22, 21, 1, 2, 1] * 5,
    ...                   "monetary": [900.0, 1000, 950, 30, 40, 35] * 5})
    >>> model = CustomerSegmenter(k=2, random_state=0).fit(X)
    >>> model.labels_[:6].tolist()
    [0, 0, 0, 1, 1, 1]
    >>> model.predict(X.head(2)).tolist()
    [0, 0]
    >>> segment_numbers(model.predict(X.tail(1))).tolist()
    [2]

    On an array the labels are ordered by the first column:

    >>> array = X[["monetary", "frequency", "recency_days"]].to_numpy()
    >>> CustomerSegmenter(k=2).fit_predict(array)[:6].tolist()
    [0, 0, 0, 1, 1, 1]
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "features": ["array-like", None],
        "categorical": ["array-like"],
        "algorithm": [str],
        "k": [Interval(Integral, 1, None, closed="left"), None],
        "k_min": [Interval(Integral, 2, None, closed="left")],
        "k_max": [Interval(Integral, 2, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "sweep_sample": [Interval(Integral, 2, None, closed="left")],
        "silhouette_sample": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(
        self,
        features: Sequence[str] | None = None,
        *,
        categorical: Sequence[str] = (),
        algorithm: str = "kmeans",
        k: int | None = None,
        k_min: int = 2,
        k_max: int = 10,
        n_init: int = 10,
        random_state: int | np.random.RandomState | None = 0,
        sweep_sample: int = 20_000,
        silhouette_sample: int = 10_000,
    ) -> None:
        self.features = features
        self.categorical = categorical
        self.algorithm = algorithm
        self.k = k
        self.k_min = k_min
        self.k_max = k_max
        self.n_init = n_init
        self.random_state = random_state
        self.sweep_sample = sweep_sample
        self.silhouette_sample = silhouette_sample

    def _validate_params(self) -> None:
        """scikit-learn's parameter validation, its errors made custseg errors too."""
        try:
            super()._validate_params()
        except InvalidParameterError as exc:
            raise ParameterError(str(exc)) from exc

    # ---- input ----------------------------------------------------------------------------
    def _input(self, X: Any, *, reset: bool) -> tuple[np.ndarray, list[str], pd.DataFrame | None]:
        """Validate ``X``: its numeric block (float64), the numeric names, its categorical block.

        Sets (``reset``) or checks ``n_features_in_`` and ``feature_names_in_``, over the
        columns used: with ``features`` given they are picked by name from a DataFrame; with
        ``features=None`` every column of ``X`` is used, in its order.
        """
        categorical = list(self.categorical)
        min_samples = 1 if not reset or self.k == 1 else 2
        try:
            if isinstance(X, pd.DataFrame):
                if self.features is None:
                    frame = X
                else:
                    frame = X[self._present(X, [*self.features, *categorical])]
                self._present(frame, categorical)
                validate_data(self, frame, reset=reset, skip_check_array=True)
                numeric = [c for c in frame.columns if c not in set(categorical)]
                if numeric or not categorical:
                    _numbers_only(frame[numeric], fitting=reset)
                    values = check_array(
                        frame[numeric],
                        dtype=np.float64,
                        ensure_all_finite=False,
                        ensure_min_samples=min_samples,
                        estimator=self,
                        input_name="X",
                    )
                elif len(frame) < min_samples:  # categorical columns only
                    raise SchemaError(
                        f"{len(frame)} customer(s) (n_samples={len(frame)}): too few to segment"
                    )
                else:
                    values = np.zeros((len(frame), 0))
                names = [str(c) for c in numeric]
                cats = frame[categorical] if categorical else None
            else:
                if self.features is not None or categorical:
                    raise SchemaError(
                        "features and categorical name columns of a pandas DataFrame; give one, "
                        "or leave them unset to cluster on every column of the array"
                    )
                values = validate_data(
                    self,
                    X,
                    reset=reset,
                    dtype=np.float64,
                    ensure_all_finite=False,
                    ensure_min_samples=min_samples,
                )
                names = [f"x{i}" for i in range(values.shape[1])]
                cats = None
        except CustsegError:
            raise
        except ValueError as exc:  # scikit-learn's checks, as custseg errors (one line)
            text = str(exc)
            cell = (
                _first_text_cell(X)
                if not isinstance(X, pd.DataFrame) and "could not convert" in text
                else None
            )
            if cell is not None:
                raise SchemaError(
                    f"column x{cell[1]} holds {cell[2]} (row {cell[0]}), not a number; "
                    "give numbers, or a DataFrame with the text columns named in categorical"
                ) from exc
            raise SchemaError(" ".join(text.split())[:1_000] or repr(exc)) from exc
        bad = ~np.isfinite(values)
        if bad.any():
            col = names[int(np.argwhere(bad)[0][1])]
            raise SchemaError(
                f"feature {col!r} has {int(bad.sum())} missing or infinite values (NaN or "
                "inf); clean or impute them first"
            )
        return values, names, cats

    @staticmethod
    def _present(X: pd.DataFrame, columns: list[Any]) -> list[Any]:
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise SchemaError(
                f"customer table has no column {', '.join(map(repr, missing))}; "
                f"columns are: {', '.join(map(str, X.columns))}"
            )
        return columns

    def _one_hot(self, cats: pd.DataFrame | None, n: int) -> np.ndarray:
        blocks = []
        for col in self.categorical:
            assert cats is not None
            known = self.categories_[col]
            values = cats[col].astype(str).to_numpy()
            blocks.append(
                (values[:, None] == np.asarray(known, dtype=object)[None, :]).astype(float)
            )
        return np.hstack(blocks) if blocks else np.zeros((n, 0))

    def _seed(self) -> int:
        """The integer seed of every random step (``random_state`` as given when an int)."""
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    # ---- learning -------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: None = None) -> CustomerSegmenter:
        """Learn the transform, choose k, cluster all customers and order the labels by value.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            One row per customer.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self : CustomerSegmenter
            The fitted estimator.
        """
        algorithm = get_algorithm(self.algorithm)
        if not algorithm.uses_k and self.k is not None:
            raise ModelError(
                f"algorithm {self.algorithm!r} finds the number of segments itself; "
                "leave k unset (no --k)"
            )
        values, names, cats = self._input(X, reset=True)
        n = len(values)
        if self.k is not None:
            if n < self.k:
                raise TooFewCustomersError(
                    f"{n} customers but k = {self.k} segments asked; lower --k"
                )
        elif self.k_max < self.k_min:
            raise SchemaError(
                f"k range [{self.k_min}, {self.k_max}] is empty; use e.g. --k-min 2 --k-max 10"
            )
        elif n <= self.k_min:
            raise TooFewCustomersError(
                f"{n} customers is too few to compare k from {self.k_min}; "
                f"segmenting needs more than {self.k_min} customers (or set --k)"
            )
        seed = self._seed()
        self.numeric_features_ = names
        self.lower_ = np.array([0.0 if f in NON_NEGATIVE else -np.inf for f in names], dtype=float)
        values = np.maximum(values, self.lower_)
        if values.shape[1]:
            # the exponent of each feature is estimated (maximum likelihood) on a seeded sample
            # of at most LAMBDA_SAMPLE customers: on 4 M customers the full estimate took 3.7 s
            # for an exponent its sample's standard error makes indistinguishable
            fit_on = values
            if n > LAMBDA_SAMPLE:
                rng = np.random.default_rng([seed, 1])
                fit_on = values[np.sort(rng.choice(n, LAMBDA_SAMPLE, replace=False))]
            # a value near the largest float overflows here; it is refused just below, with
            # its feature named, rather than warned about by NumPy
            with np.errstate(over="ignore", invalid="ignore"):
                pt = PowerTransformer(method="yeo-johnson", standardize=False).fit(fit_on)
            self.lambdas_ = pt.lambdas_.astype(float)
        else:
            self.lambdas_ = np.zeros(0)
        with np.errstate(over="ignore", invalid="ignore"):
            transformed = self._power(values)
            self.mean_ = transformed.mean(axis=0)
            scale = transformed.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        _too_large(
            values,
            names,
            ~np.isfinite(self.lambdas_)
            | ~np.isfinite(self.mean_)
            | ~np.isfinite(self.scale_)
            | ~np.isfinite(transformed).all(axis=0),
            X,
        )
        self.categories_ = {
            c: sorted(cats[c].astype(str).unique().tolist())
            for c in self.categorical
            if cats is not None
        }
        Xt = np.hstack([(transformed - self.mean_) / self.scale_, self._one_hot(cats, n)])

        self.noise_label_: int | None = None
        self.mixture_: dict[str, np.ndarray] | None = None
        self.core_: dict[str, np.ndarray] | None = None
        self.method_: dict[str, Any] = {
            "algorithm": algorithm.name,
            "label": algorithm.label,
            "rule": algorithm.rule,
        }
        if not algorithm.uses_k:
            return self._fit_density(Xt, values, names, seed)
        distinct = _distinct_rows(Xt, self.k_max + 1)
        hi = min(self.k_max, n - 1, distinct)
        ks = list(range(self.k_min, hi + 1)) if hi >= self.k_min else []
        if self.k is not None and self.k not in ks:
            # a forced k is scored with the others when the indices are defined for it
            # (2 <= k < number of distinct customers); otherwise it is fitted unscored
            ks = sorted(set(ks) | {self.k}) if 2 <= self.k <= hi else []
        self.selection_: Selection | None
        k, centers, raw_labels, fitted = self._sweep_and_fit(Xt, ks, distinct, seed)
        order = self._value_order(values, names, raw_labels, k)
        self.cluster_centers_ = centers[order]
        self.k_ = k
        if algorithm.rule == "gaussian-posterior":
            self.mixture_ = {
                "weights": np.asarray(fitted.weights_)[order],
                "means": np.asarray(fitted.cluster_centers_)[order],
                "covariances": np.asarray(fitted.covariances_)[order],
            }
            self.method_["parameters"] = {"covariance_type": "full", "n_init": self.n_init}
        elif algorithm.name == "ward":
            self.method_["parameters"] = {
                "linkage": "ward",
                "sample": min(n, WARD_SAMPLE),
                "max_sample": WARD_SAMPLE,
            }
        self.labels_ = self._assign(Xt)  # = predict(X)
        found = len(np.unique(self.labels_))
        if found < k:
            warnings.warn(
                f"only {found} of the {k} segments asked received customers", stacklevel=2
            )
        return self

    def _value_order(
        self, values: np.ndarray, names: list[str], raw_labels: np.ndarray, k: int
    ) -> list[int]:
        """Raw labels 0..k-1 in decreasing mean value (sets ``value_feature_``)."""
        self.value_feature_ = next(
            (f for f in VALUE_FEATURES if f in names), next(iter(names), None)
        )
        if self.value_feature_ is not None:
            col = names.index(self.value_feature_)
            value_means = [
                values[raw_labels == c, col].mean() if (raw_labels == c).any() else -np.inf
                for c in range(k)
            ]
        else:  # categorical only: the largest segment first
            value_means = [float((raw_labels == c).sum()) for c in range(k)]
        return sorted(range(k), key=lambda c: (-value_means[c], c))

    def _fit_density(
        self, Xt: np.ndarray, values: np.ndarray, names: list[str], seed: int
    ) -> CustomerSegmenter:
        """DBSCAN or HDBSCAN: segments found by density, noise made the atypical group.

        The method is fitted on a seeded sample (:func:`custseg.model.algorithms.fit_density`,
        its parameters chosen from the data); every customer, the sample included, then gets
        the segment of its nearest core point when within that point's radius, else the
        atypical group. Segments are ordered by value; the atypical group comes last (label
        ``noise_label_`` = k_ - 1), even when no customer falls in it (its centroid is then
        the mean of all customers).
        """
        started = time.perf_counter()
        fitted = fit_density(Xt, self.algorithm, seed)
        c = int(fitted.labels.max()) + 1
        raw = core_assign(Xt, fitted.points, fitted.labels, fitted.radius, noise=c)
        order = self._value_order(values, names, raw, c)
        remap = np.empty(c + 1, dtype="int64")
        remap[order] = np.arange(c)
        remap[c] = c
        self.core_ = {
            "points": fitted.points,
            "labels": remap[fitted.labels],
            "radius": fitted.radius,
        }
        self.noise_label_ = c
        self.k_ = c + 1
        self.selection_ = None
        self.method_["parameters"] = fitted.parameters
        self.labels_ = remap[raw]
        self.method_["parameters"] |= {
            "customers": len(raw),
            "atypical": int((self.labels_ == c).sum()),
        }
        self.cluster_centers_ = np.vstack(
            [
                Xt[self.labels_ == s].mean(axis=0) if (self.labels_ == s).any() else Xt.mean(0)
                for s in range(self.k_)
            ]
        )
        self.fit_seconds_ = {"sweep": 0.0, "final_fit": time.perf_counter() - started}
        return self

    def _assign(self, Xt: np.ndarray) -> np.ndarray:
        """Labels of rows of the scaled space by the algorithm's rule (see
        :mod:`custseg.model.algorithms`): nearest centroid, highest posterior probability
        (Gaussian mixture), or nearest core point within its radius else atypical (density)."""
        if getattr(self, "mixture_", None) is not None:
            m = self.mixture_
            assert m is not None
            resp = mixture_log_resp(Xt, m["weights"], m["means"], m["covariances"])
            return resp.argmax(axis=1).astype("int64")
        if getattr(self, "core_", None) is not None:
            core = self.core_
            assert core is not None and self.noise_label_ is not None
            return core_assign(
                Xt, core["points"], core["labels"], core["radius"], self.noise_label_
            )
        return _nearest_in_blocks(Xt, self.cluster_centers_).astype("int64")

    def _sweep_and_fit(
        self, Xt: np.ndarray, ks: list[int], distinct: int, seed: int
    ) -> tuple[int, np.ndarray, np.ndarray, Any]:
        """Choose k (unless forced), fit the final clusterer on all customers: k, centroids,
        labels.

        The sweep fits samples of at most ``sweep_sample`` customers; on so few, OpenMP threads
        mostly wait for each other (and spin on a busy machine), so it runs on one thread.
        When the sweep saw every customer its model for the chosen k is the final one;
        otherwise the final fit on all customers starts from the sweep's centroids (measured
        on 400 k customers: 0.2 s and the same inertia to 1e-9, against 2.7 s for 10 restarts).
        """
        algorithm = get_algorithm(self.algorithm)
        n = Xt.shape[0]
        started = time.perf_counter()
        #: wall seconds of the k sweep and of the final fit (for benchmarks; never saved)
        self.fit_seconds_ = {"sweep": 0.0, "final_fit": 0.0}
        if ks:
            with threadpool_limits(1, user_api="openmp"):
                self.selection_ = sweep(
                    Xt,
                    ks,
                    algorithm=self.algorithm,
                    random_state=seed,
                    n_init=self.n_init,
                    sweep_sample=self.sweep_sample,
                    silhouette_sample=self.silhouette_sample,
                    forced_k=self.k,
                )
            k = self.selection_.chosen
            init = self.selection_.centers_of(k) if algorithm.warm_start else None
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
            and algorithm.rule == "nearest-centroid"
            and self.selection_ is not None
            and self.selection_.sample.get("sweep") == n
        ):
            # the sweep fitted this very model: same customers, k, restarts and seed
            labels = _nearest(Xt, init)
            self.fit_seconds_["final_fit"] = time.perf_counter() - started
            return k, init, labels, None
        with threadpool_limits(1, user_api="openmp") if n < SMALL_DATA else nullcontext():
            model = algorithm.build(k, n_init=self.n_init, random_state=seed, init=init).fit(Xt)
        self.fit_seconds_["final_fit"] = time.perf_counter() - started
        return k, model.cluster_centers_, model.labels_, model

    # ---- applying -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "cluster_centers_")
        except SklearnNotFittedError as exc:
            raise EstimatorNotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit first"
            ) from exc

    def _power(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values, dtype=float)
        for j, lmbda in enumerate(self.lambdas_):
            out[:, j] = stats.yeojohnson(values[:, j], lmbda=float(lmbda))
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Features → the scaled space the centroids live in.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Customers, with the columns the model was fitted on.

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_features_out)
            Clipped, Yeo-Johnson transformed and standardised numeric features, then the 0/1
            dummies of the categories (columns named by :meth:`get_feature_names_out`).
        """
        self._check_fitted()
        values, names, cats = self._input(X, reset=False)
        n, p = values.shape
        one_hot = self._one_hot(cats, n)
        # the output as np.hstack([scaled, one_hot]) gives it (C order), filled block by block
        out = np.empty((n, p + one_hot.shape[1]))
        out[:, p:] = one_hot
        plan = self._scaling_plan(values)
        finite = np.ones((-(-n // PREDICT_BLOCK), p), dtype=bool)

        def block(start: int, stop: int) -> None:
            # one float64 copy of the block, column-major so that each column's ufuncs run
            # on contiguous memory that stays in the CPU cache
            scaled = np.maximum(values[start:stop], self.lower_, order="F")
            self._scale_in_place(scaled, plan)
            finite[start // PREDICT_BLOCK] = np.isfinite(scaled).all(axis=0)
            out[start:stop, :p] = scaled

        _in_row_blocks(n, block)
        bad = np.asarray(~finite.all(axis=0))
        if bad.any():  # the clipped input again, for the message
            _too_large(np.maximum(values, self.lower_), names, bad, X)
        return out

    def _scaling_plan(self, values: np.ndarray) -> list[tuple[int, float, str]]:
        """How each column of ``values`` is Yeo-Johnson transformed, decided on the whole
        column: ``log`` (λ = 0), ``power``, or ``scipy`` when the clipped column holds a
        negative value (scipy's masked branches). The values are finite (:meth:`_input`), so
        the clipped column is non-negative when its lower bound is, or else when the column
        itself is."""
        eps = np.finfo(np.float64).eps
        plan = []
        for j, lmbda in enumerate(self.lambdas_):
            lam = float(lmbda)
            positive = self.lower_[j] >= 0 or bool((values[:, j] >= 0).all())
            how = "log" if abs(lam) < eps else "power"
            plan.append((j, lam, how if positive else "scipy"))
        return plan

    def _scale_in_place(self, values: np.ndarray, plan: list[tuple[int, float, str]]) -> None:
        """``(yeojohnson(values) - mean_) / scale_``, column by column in place (a block of
        rows, column-major): the same float operations in the same order as
        :func:`scipy.stats.yeojohnson` (``log1p``, ``* lambda``, ``expm1``, ``/ lambda``), so
        the same bits, without scipy's masked copies and per-column allocations (measured:
        0.15 s of the 0.70 s of scoring 2 M customers). A column with negative values goes
        through scipy itself (``plan``, :meth:`_scaling_plan`); scipy works value by value,
        so a block gives the bits of the whole column."""
        # errstate is per thread: the caller's does not reach the pool's threads
        with np.errstate(over="ignore", invalid="ignore"):
            for j, lam, how in plan:
                col = values[:, j]
                if how == "scipy":
                    col[:] = stats.yeojohnson(col, lmbda=lam)
                else:
                    np.log1p(col, out=col)
                if how == "power":
                    np.multiply(col, lam, out=col)
                    np.expm1(col, out=col)
                    np.divide(col, lam, out=col)
                np.subtract(col, self.mean_[j], out=col)
                np.divide(col, self.scale_[j], out=col)

    def predict(self, X: Any) -> np.ndarray:
        """Label (0..k-1) of each customer by the algorithm's rule in the scaled space.

        Nearest centroid (K-Means, Ward), highest posterior probability (Gaussian mixture),
        or the nearest core point's segment when within its radius, else ``noise_label_``
        (DBSCAN, HDBSCAN); the same rule gave ``labels_``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Customers, with the columns the model was fitted on.

        Returns
        -------
        labels : ndarray of int64, shape (n_samples,)
            0 is the segment of highest value; :func:`segment_numbers` gives 1..k.
        """
        self._check_fitted()
        return self._assign(self.transform(X))

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Names of the columns of :meth:`transform`: features, then ``column=category`` dummies.

        Parameters
        ----------
        input_features : array-like of str or None
            Input names; must equal ``feature_names_in_`` when the model has them.

        Returns
        -------
        names : ndarray of str (object dtype)
        """
        self._check_fitted()
        known = getattr(self, "feature_names_in_", None)
        if input_features is None:
            given = (
                known
                if known is not None
                else np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
            )
        else:
            given = np.asarray(input_features, dtype=object)
            if known is not None and not np.array_equal(known, given):
                raise ValueError("input_features is not equal to feature_names_in_")
            if len(given) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of features "
                    f"({self.n_features_in_}), got {len(given)}"
                )
        categorical = set(self.categorical)
        numeric = [str(c) for c in given if c not in categorical]
        dummies = [f"{c}={v}" for c in self.categorical for v in self.categories_[c]]
        return np.asarray([*numeric, *dummies], dtype=object)

    def transformed_feature_names(self) -> list[str]:
        """Names of the columns of :meth:`transform` (:meth:`get_feature_names_out`, a list)."""
        return [str(c) for c in self.get_feature_names_out()]
