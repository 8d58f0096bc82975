"""The main job: a transactions source in, audited and named customer segments out.

transactions (file or DataFrame) → audit ledger → one row per customer (features computed by
DuckDB) → :class:`~custseg.model.CustomerSegmenter` → segments, profiles and a saved model.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg import i18n
from custseg.engines import Engine
from custseg.engines.sql import ident, literal
from custseg.errors import CustsegError, EmptyDataError, EngineError, SchemaError
from custseg.explain import lifecycle, naming
from custseg.explain.methods import ATYPICAL, run_verdict
from custseg.explain.personas import external_validity, personas
from custseg.explain.profiles import BASE, profile, profile_table
from custseg.explain.rules import SegmentRules, explain_segments
from custseg.model import (
    RFM_FEATURES,
    CustomerSegmenter,
    RFMScorer,
    persistence,
    schema,
    segment_numbers,
)
from custseg.model import sql as model_sql
from custseg.model.algorithms import get_algorithm
from custseg.model.compare import Comparison, compare
from custseg.model.rfm import SCORE_QUANTILES, has_rfm
from custseg.sources import ColumnMap, Source, resolve_columns
from custseg.sources.inputs import choose_input
from custseg.sources.readers import read_error
from custseg.sources.schema import transaction_roles
from custseg.stages import features as feature_stage
from custseg.stages import quality, relations
from custseg.stages.audit import CleaningRules, audit
from custseg.stages.customers import (
    CustomerLedger,
    CustomerPreparation,
    CustomerRules,
    detect_roles,
    prepare_customers,
)
from custseg.stages.features import FEATURE_DESCRIPTIONS, TRANSACTION_FEATURES, customer_features
from custseg.stages.ledger import Ledger

Step = Callable[[str, dict[str, Any]], None]


#: renders a result's one-screen summary as HTML; set by :mod:`custseg.report` (a layer above)
html_summary: Callable[[SegmentationResult], str] | None = None


@dataclass
class SegmentationResult:
    """Everything a run produces, before and after it is written to disk."""

    segments: pd.DataFrame
    profiles: pd.DataFrame
    ledger: Ledger | CustomerLedger
    model: CustomerSegmenter
    fingerprint: dict[str, Any]
    lang: str
    verdict: str
    exploration: dict[str, Any] | None = None  # data-quality aggregates (custseg.stages.quality)
    kind: str = "transactions"
    segment_names: dict[int, str] = field(default_factory=dict)
    personas: dict[int, dict[str, Any]] = field(default_factory=dict)
    external: dict[str, Any] | None = None
    #: slug of each segment number 1..k (custseg.explain.naming), saved with the model
    segment_slugs: dict[int, str] = field(default_factory=dict)
    #: the RFM scorer fitted on the customers (transactions), saved with the model
    rfm: RFMScorer | None = None
    #: the fitted customer-table preparation (customer tables only), saved in ``model.json``
    preparation: CustomerPreparation | None = None
    #: each segment as a rule on the features (custseg.explain.rules), saved in ``model.json``
    rules: SegmentRules | None = None
    #: algorithms fitted side by side (``compare=``), written to compare.json and compare.csv
    comparison: Comparison | None = None
    #: ISO 4217 code of the money amounts, given with ``currency=`` (``--currency``); saved in
    #: ``model.json`` when given (the report otherwise reads it from the data's countries)
    currency: str = ""
    #: what changed since an earlier run (``previous=``, ``--previous``): the content of
    #: ``changes.json`` (:func:`custseg.lifecycle.compare.run_changes`), set when the run is saved
    changes: dict[str, Any] | None = None
    #: customers clustered in the engine, too many to hold here (:class:`Population`): every
    #: customer's row of ``segments``, which then holds the sample the model was fitted on
    population: Population | None = None

    def _repr_html_(self) -> str:
        """The report's summary, shown by Jupyter when a cell ends with a result."""
        if html_summary is None:
            return ""
        return html_summary(self)

    def model_document(self) -> dict[str, Any]:
        """The content of ``model.json``: the fitted model plus how its inputs were made."""
        if self.kind == "transactions":
            features = {f: FEATURE_DESCRIPTIONS[f] for f in TRANSACTION_FEATURES}
        else:
            features = {f: "numeric" for f in self.model.numeric_features_} | {
                c: "categorical" for c in self.model.categorical
            }
        return {
            "format": schema.RUN_FORMAT,
            "kind": self.kind,
            "input": self.fingerprint,
            "as_of": self.ledger.as_of,
            "columns": self.ledger.columns,
            "cleaning_rules": self.ledger.rules,
            "features": features,
            **({"preparation": self.preparation.to_dict()} if self.preparation else {}),
            "lang": self.lang,
            "segment_names": {str(s): name for s, name in self.segment_names.items()},
            "personas": {str(s): p for s, p in self.personas.items()},
            "external_validity": self.external,
            "verdict": self.verdict,
            "model": persistence.to_dict(self.model, segments=self.segment_slugs, rfm=self.rfm),
            **({"rules": self.rules.to_dict()} if self.rules is not None else {}),
            **({"currency": self.currency} if self.currency else {}),
        }


@dataclass(frozen=True)
class SegmentOptions:
    """The settings of one segmentation, read once and handed to every stage of the pipeline.

    See :func:`segment` for the meaning of each field.
    """

    seed: int = 0
    k: int | None = None
    k_min: int = 2
    k_max: int = 10
    as_of: date | str | None = None
    lang: str = "en"
    features: Sequence[str] = RFM_FEATURES
    rules: CleaningRules | None = None
    roles: Mapping[str, Any] | None = None
    customer_rules: CustomerRules | None = None
    currency: str = ""
    #: ``None`` or ``"lifecycle"`` (one-time and repeat customers segmented apart)
    split: str | None = None
    algorithm: str = "kmeans"
    compare: tuple[str, ...] = ()

    def segmenter(
        self,
        features: Sequence[str],
        categorical: Sequence[str] = (),
        algorithm: str | None = None,
    ) -> CustomerSegmenter:
        """The estimator these settings ask for (with another ``algorithm``), unfitted.

        A density method finds its number of segments: a k given is not passed to it.
        """
        algo = get_algorithm(algorithm or self.algorithm)
        return CustomerSegmenter(
            features,
            categorical=categorical,
            algorithm=algo.name,
            k=self.k if algo.uses_k else None,
            k_min=self.k_min,
            k_max=self.k_max,
            random_state=self.seed,
        )

    def comparison(
        self,
        frame: pd.DataFrame,
        model: CustomerSegmenter,
        features: Sequence[str],
        categorical: Sequence[str] = (),
    ) -> Comparison | None:
        """The algorithms of ``compare`` fitted on ``frame`` beside the run's ``model``."""
        if not self.compare:
            return None
        return compare(
            frame,
            self.compare,
            lambda name: self.segmenter(features, categorical, name),
            fitted={model.algorithm: model},
            seed=self.seed,
        )


def segment(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    seed: int = 0,
    k: int | None = None,
    k_min: int = 2,
    k_max: int = 10,
    mapping: Mapping[str, str] | None = None,
    as_of: date | str | None = None,
    lang: str = "en",
    features: Sequence[str] = RFM_FEATURES,
    rules: CleaningRules | None = None,
    kind: str = "auto",
    roles: Mapping[str, Any] | None = None,
    customer_rules: CustomerRules | None = None,
    currency: str = "",
    on_step: Step | None = None,
    con: Engine | None = None,
    split: str | None = None,
    algorithm: str = "kmeans",
    compare: Sequence[str] = (),
    table: str | None = None,
    query: str | None = None,
    engine: str | None = None,
) -> SegmentationResult:
    """Segment the customers of a transactions or customer-table file or DataFrame.

    transaction lines → one row per customer with features, RFM scores, a segment number and
    a business name; or customer table (one row per customer) → engineered features, a
    segment number and a persona name; plus profiles, the audit ledger and the fitted model.

    Parameters
    ----------
    source : path to CSV/TSV, Parquet or Excel, or a pandas DataFrame of transaction lines.
    seed : random state of every random step; same input and seed give the same output.
    k : number of segments; ``None`` chooses it in ``[k_min, k_max]``.
    mapping : ``{canonical: source_column}`` overriding the alias recognition.
    as_of : date recency is measured to (a date or text YYYY-MM-DD; anything else raises a
        :class:`~custseg.errors.CustsegError`); default the day after the last kept transaction.
    lang : ``"en"`` or ``"fr"`` for names and sentences.
    features : customer features clustered on (transactions).
    kind : ``"transactions"``, ``"customers"`` or ``"auto"`` (transactions when the customer,
        date and value columns of a line are recognised, customers when they are not but a
        customer-id column is).
    roles : declared column roles of a customer table (see :mod:`custseg.stages.customers`).
    customer_rules : cleaning policy of a customer table.
    on_step : called as ``on_step(step, info)`` at the start of each stage (for progress).
    split : ``"lifecycle"``: customers who bought once and repeat customers are segmented
        apart (transactions only), each group with its own features, k, names and verdict,
        combined in one result with a ``lifecycle`` column (:class:`SplitResult`).
    currency : ISO 4217 code of the money amounts (``"EUR"``), shown by the report and saved
        in ``model.json``; default none given (the report reads the majority country's).
    algorithm : clustering algorithm (:data:`custseg.model.algorithms.ALGORITHMS`: ``kmeans``,
        ``gmm``, ``ward``, ``dbscan``, ``hdbscan``); density methods find their own number of
        segments and put the customers they leave as noise in an "atypical customers" segment.
    compare : algorithms also fitted on the same customers and compared side by side
        (:mod:`custseg.model.compare`; the result's ``comparison``).
    table, query : with a PostgreSQL URL as ``source`` (``postgresql://user@host:port/db``),
        the table (``schema.name``) or the query (PostgreSQL's SQL) giving the lines: the
        audit and the features run inside the server (the PostgreSQL engine), only the
        customer table comes back.
    engine : the engine that reads ``source`` and runs the audit and the features, a name of
        :data:`custseg.engines.ENGINES` (``--engine``); default ``duckdb``, or ``postgres``
        for a ``postgresql://`` URL (see :func:`custseg.sources.inputs.choose_input`).
    """
    i18n.catalog(lang)
    if k is not None and not get_algorithm(algorithm).uses_k:
        raise CustsegError(
            f"--k cannot be used with --algorithm {algorithm}: it finds the number of "
            "segments itself; leave --k out"
        )
    for name in compare:
        get_algorithm(name)
    if split not in {None, "lifecycle"}:
        raise CustsegError(f"split {split!r} unknown; use lifecycle (or no split)")
    if split is not None and (algorithm != "kmeans" or compare):
        raise CustsegError(
            f"--split {split} segments each group with K-Means only; leave out --algorithm "
            "and --compare, or run without --split"
        )
    as_of = check_as_of(as_of)
    currency = check_currency(currency)
    if kind not in {"auto", "transactions", "customers"}:
        raise CustsegError(f"kind {kind!r} unknown; use transactions, customers or auto")
    step = on_step or (lambda name, info: None)
    found = choose_input(source, engine=engine, table=table, query=query)
    own = con is None
    con = con or found.connect()
    src = None
    try:
        step("read", {"source": found.label})
        src = found.open(con)
        colmap = _transactions_colmap(src, mapping, kind)
        options = SegmentOptions(
            seed=seed,
            k=k,
            k_min=k_min,
            k_max=k_max,
            as_of=as_of,
            lang=lang,
            features=features,
            rules=rules,
            roles=roles,
            customer_rules=customer_rules,
            currency=currency,
            split=split,
            algorithm=algorithm,
            compare=tuple(compare),
        )
        if colmap is None and split is not None:
            raise CustsegError(
                f"{src.label}: --split {split} needs transaction lines (a customer, a date and "
                "a value per line); this file was read as a customer table"
            )
        result: SegmentationResult
        if colmap is None:
            result = _segment_customers(con, src, options, step)
        elif split is not None:
            result = _segment_lifecycle(con, src, colmap, options, step)
        else:
            result = _segment_transactions(con, src, colmap, options, step)
        result.currency = options.currency
        return result
    except EngineError as exc:  # raised while scanning a file whose header read fine
        raise engine_error(src.label if src else found.label, exc, src) from exc
    finally:
        if src is not None:
            src.close()
        if own:
            con.close()


def check_currency(code: str | None) -> str:
    """The currency given to :func:`segment`, as an upper-case ISO 4217 code ("" for none).

    Examples
    --------
    >>> check_currency(" eur "), check_currency(None)
    ('EUR', '')
    >>> check_currency("euros")
    Traceback (most recent call last):
    custseg.errors.CustsegError: --currency 'euros' is not a currency code; give its three letters (ISO 4217), such as EUR, GBP or USD
    """
    text = (code or "").strip()
    if text and not re.fullmatch(r"[A-Za-z]{3}", text):
        raise CustsegError(
            f"--currency {code!r} is not a currency code; give its three letters (ISO 4217), "
            "such as EUR, GBP or USD"
        )
    return text.upper()


def check_as_of(as_of: date | str | None) -> date | None:
    """The as-of date given to :func:`segment` or :func:`explore`, as a date.

    A :class:`~datetime.date` (or datetime, whose day is taken) or text written YYYY-MM-DD;
    anything else raises a one-line :class:`CustsegError` naming the value.

    Examples
    --------
    >>> check_as_of("2011-12-31")
    datetime.date(2011, 12, 31)
    """
    if as_of is None:
        return None
    if isinstance(as_of, datetime):
        return as_of.date()
    if isinstance(as_of, date):
        return as_of
    text = as_of.strip() if isinstance(as_of, str) else None
    if text is not None and len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise CustsegError(f"as_of {as_of!r} is not a date; write it as YYYY-MM-DD (e.g. 2011-12-31)")


def engine_error(label: str, exc: Exception, src: Source | None = None) -> CustsegError:
    """A one-line error for a failure of the SQL engine while it reads the input (a damaged
    file when ``src`` is Parquet); an engine that stopped keeps its own error."""
    return read_error(src, label, exc)


def _audit_lines(
    con: Engine, src: Source, colmap: ColumnMap, options: SegmentOptions, step: Step
) -> Ledger:
    """The audit of the transaction lines, leaving the per-customer totals in ``con``."""
    step("audit", {})
    return audit(
        con,
        src,
        colmap,
        options.rules,
        as_of=options.as_of,
        collectors=(feature_stage.collect, quality.collect),
    )


def _audited_customers(
    con: Engine, src: Source, colmap: ColumnMap, options: SegmentOptions, step: Step
) -> tuple[Ledger, pd.DataFrame]:
    """The audit of the transaction lines, then one row of features per customer."""
    ledger = _audit_lines(con, src, colmap, options, step)
    step("features", {})
    customers = customer_features(con, ledger.as_of)
    if customers.empty:
        raise EmptyDataError(f"{src.label}: no customer with a kept purchase; nothing to segment")
    return ledger, customers


def _segment_transactions(
    con: Engine, src: Source, colmap: ColumnMap, options: SegmentOptions, step: Step
) -> SegmentationResult:
    """Transaction lines in the engine → audited, featured, segmented and named customers.

    On an engine that clusters (Spark), customers more than the settings'
    ``local_customers`` stay in it: :func:`_segment_in_engine`.
    """
    lang = options.lang
    if con.clusters and options.algorithm == "kmeans" and not options.compare:
        ledger = _audit_lines(con, src, colmap, options, step)
        step("features", {})
        n = feature_stage.keep_customer_features(con, ledger.as_of)
        if n == 0:
            raise EmptyDataError(
                f"{src.label}: no customer with a kept purchase; nothing to segment"
            )
        if n > con.settings.local_customers:
            return _segment_in_engine(con, src, ledger, n, options, step)
        customers = feature_stage.typed_features(
            con.frame(f"SELECT * FROM {relations.CUSTOMER_FEATURES} ORDER BY customer_id")
        )
    else:
        ledger, customers = _audited_customers(con, src, colmap, options, step)
    step("sweep", {"customers": len(customers)})
    model = options.segmenter(options.features).fit(customers)
    step("fit", {})
    segments = segment_numbers(model.labels_)
    rfm = RFMScorer().fit(customers)
    scores = rfm.transform(customers)
    tenure = customers["tenure_days"].to_numpy() if "tenure_days" in customers else None
    recency = customers["recency_days"].to_numpy()
    slugs = _slugs(model, segments, scores, tenure, recency, customers)
    table = _named_table(customers, scores, segments, slugs, lang)
    labels = pd.Series(segments, index=table.index)
    with_slug = table.assign(segment_slug=labels.map(slugs))
    profiles = profile(with_slug, list(TRANSACTION_FEATURES), lang, options.currency)
    return SegmentationResult(
        segments=table,
        profiles=profiles,
        ledger=ledger,
        model=model,
        fingerprint=src.fingerprint,
        lang=lang,
        verdict=run_verdict(model, lang),
        exploration=quality.summarize(con),
        segment_names={s: naming.display_name(slug, lang) for s, slug in slugs.items()},
        personas=personas(table, list(TRANSACTION_FEATURES), [], lang),
        segment_slugs=slugs,
        rfm=rfm,
        rules=explain_segments(model, table, segments, random_state=options.seed),
        comparison=options.comparison(customers, model, options.features),
    )


def _named_table(
    customers: pd.DataFrame,
    scores: pd.DataFrame,
    segments: np.ndarray,
    slugs: Mapping[int, str],
    lang: str,
) -> pd.DataFrame:
    """The ``segments`` table: the customers' features, RFM scores and cell, segment number
    and name."""
    table = customers.copy()
    table[["r_score", "f_score", "m_score"]] = scores[["r_score", "f_score", "m_score"]]
    cells = pd.Series(scores["rfm_segment"].to_numpy(), index=table.index)
    table["rfm_segment"] = cells.map({c: naming.display_name(c, lang) for c in cells.unique()})
    table["segment"] = segments
    labels = pd.Series(segments, index=table.index)
    table["segment_name"] = labels.map({s: naming.display_name(v, lang) for s, v in slugs.items()})
    return table


@dataclass
class Population:
    """Every customer's row of ``segments`` for a run clustered in its engine
    (:func:`_segment_in_engine`): Parquet files the engine wrote, in customer order, read
    back in blocks when the run is saved. The result's ``segments`` then holds the seeded
    sample the segmenter was fitted on."""

    customers: int
    """customers segmented (rows of the files)"""
    sample: int
    """customers of the sample k, the scaling and the names were chosen on"""
    master: str
    """where they were clustered (the Spark master)"""
    files: list[Path]
    """the Parquet files, in row order"""
    folder: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    """the temporary folder holding the files, removed with this object"""

    def frames(self, rows: int = 1_000_000) -> Iterator[pd.DataFrame]:
        """The rows of ``segments``, ``rows`` at a time, typed as a run's ``segments``."""
        import pyarrow.parquet as pq

        for path in self.files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                yield feature_stage.typed_features(batch.to_pandas())


def _segment_in_engine(
    con: Engine, src: Source, ledger: Ledger, n: int, options: SegmentOptions, step: Step
) -> SegmentationResult:
    """Customers too many to bring back to Python (more than the settings'
    ``local_customers``) on an engine that clusters (Spark): they stay in it.

    A seeded sample of ``cluster_sample`` customers comes back and the segmenter is fitted on
    it: the preparation (clipping, Yeo-Johnson exponents, scaling) and k, chosen by the sweep
    as in any run. The engine then scales every customer with that preparation (the SQL of
    :mod:`custseg.model.sql`) and runs its own K-Means on all of them (Spark MLlib,
    initialised by k-means|| with the seed). Its centroids, ordered by value as the estimator
    orders its own, replace the sample's: ``model.json`` has the format of any run, and
    ``custseg score`` gives every customer the segment written here. Every customer's
    segment, RFM scores (quintile edges over all customers) and names are computed and
    written by the engine, and the profiles are sums over all customers computed in it; the
    names, personas, rules and the report's figures come from the sample, labelled by the
    final centroids.
    """
    lang = options.lang
    master = str(getattr(con, "master", con.dialect))
    features = relations.CUSTOMER_FEATURES
    size = min(con.settings.cluster_sample, n)
    step("sample", {"customers": n, "sample": size})
    sample = feature_stage.typed_features(
        con.frame(
            f"SELECT * FROM (SELECT * FROM {features} ORDER BY "
            f"hash(customer_id, {int(options.seed)}), customer_id LIMIT {size}) AS s "
            "ORDER BY customer_id"
        )
    )
    step("sweep", {"customers": size})
    model = options.segmenter(options.features).fit(sample)
    step("cluster", {"customers": n})
    dims = model_sql.scaled_columns(model)
    names = [f"z{i}" for i in range(len(dims))]
    scaled = ", ".join(f"{e} AS {z}" for e, z in zip(dims, names, strict=True))
    con.create(relations.CUSTOMERS_SCALED, f"SELECT *, {scaled} FROM {features}")
    k = int(model.k_)
    centers = con.kmeans(relations.CUSTOMERS_SCALED, names, k, seed=options.seed)
    value = ident(str(model.value_feature_))
    nearest = model_sql.nearest_label([f"d{s}" for s in range(1, len(centers) + 1)])
    rows = con.rows(
        f"SELECT segment, avg(CAST({value} AS DOUBLE)) FROM (SELECT {value}, {nearest} AS "
        f"segment FROM (SELECT {value}, {', '.join(model_sql.distances(names, centers))} "
        f"FROM {relations.CUSTOMERS_SCALED}) AS d) AS l GROUP BY segment"
    )
    means = {int(s): float(m) for s, m in rows}
    if len(centers) == k:  # MLlib gives fewer when the customers have fewer distinct values
        order = sorted(range(k), key=lambda c: (-means.get(c + 1, -np.inf), c))
        model.cluster_centers_ = centers[order]
    model.labels_ = model.predict(sample)

    rfm = RFMScorer()
    quantiles = ", ".join(
        f"quantile_cont({ident(f)}, {q})" for f in RFM_FEATURES for q in SCORE_QUANTILES
    )
    edges = con.row(f"SELECT {quantiles} FROM {features}") or ()
    q = len(SCORE_QUANTILES)
    rfm.edges_ = {
        f: [float(v) for v in edges[i * q : (i + 1) * q]] for i, f in enumerate(RFM_FEATURES)
    }
    segments = segment_numbers(model.labels_)
    scores = rfm.transform(sample)
    tenure = sample["tenure_days"].to_numpy()
    slugs = _slugs(model, segments, scores, tenure, sample["recency_days"].to_numpy(), sample)
    table = _named_table(sample, scores, segments, slugs, lang)
    display = {s: naming.display_name(slug, lang) for s, slug in slugs.items()}

    def case(column: str, values: Mapping[Any, str]) -> str:
        whens = " ".join(f"WHEN {literal(str(a))} THEN {literal(b)}" for a, b in values.items())
        return f"CASE CAST({column} AS VARCHAR) {whens} END"

    cols = ", ".join(ident(c) for c in ["customer_id", *TRANSACTION_FEATURES])
    dist = ", ".join(model_sql.distances(names, model.cluster_centers_))
    cells = {box["slug"]: naming.display_name(box["slug"], lang) for box in rfm.grid}
    cells.setdefault("need_attention", naming.display_name("need_attention", lang))
    label = model_sql.nearest_label([f"d{s}" for s in range(1, k + 1)])
    con.create(
        relations.CUSTOMER_SEGMENTS,
        f"SELECT {cols}, r_score, f_score, m_score, {case('rfm_cell', cells)} AS rfm_segment, "
        f"segment, {case('segment', display)} AS segment_name "
        f"FROM (SELECT {cols}, r_score, f_score, m_score, {model_sql.rfm_cell(rfm)} AS rfm_cell, "
        f"CAST({label} AS BIGINT) AS segment "
        f"FROM (SELECT {cols}, {', '.join(model_sql.rfm_scores(rfm))}, {dist} "
        f"FROM {relations.CUSTOMERS_SCALED}) AS d) AS l",
    )
    step("profiles", {})
    feats = list(TRANSACTION_FEATURES)
    sums = con.frame(
        "SELECT segment, count(*) AS customers, sum(monetary) AS revenue, "
        + ", ".join(
            f"avg({ident(f)}) AS mean_{f}, quantile_cont({ident(f)}, 0.5) AS median_{f}"
            for f in feats
        )
        + f" FROM {relations.CUSTOMER_SEGMENTS} GROUP BY segment ORDER BY segment"
    )
    sums["segment"] = sums["segment"].astype("int64")
    sums["customers"] = sums["customers"].astype("int64")
    sums.insert(1, "segment_name", sums["segment"].map(display))
    base_row = con.row(
        "SELECT sum(monetary), "
        + ", ".join(f"quantile_cont({ident(f)}, 0.5)" for f in BASE)
        + f" FROM {features}"
    ) or (0.0,)
    base = {f: float(v) for f, v in zip(BASE, base_row[1:], strict=True)}
    profiles = profile_table(
        sums,
        feats,
        n,
        float(base_row[0] or 0.0),
        lang,
        options.currency,
        slugs=sums["segment"].map(slugs),
        base=base,
    )
    folder = tempfile.TemporaryDirectory(prefix="custseg-segments-", dir=con.settings.temp_dir)
    files = con.write_parquet(
        f"SELECT * FROM {relations.CUSTOMER_SEGMENTS} ORDER BY customer_id",
        Path(folder.name) / "segments",
    )
    verdict = (
        run_verdict(model, lang)
        + " "
        + i18n.t(
            lang,
            "verdict_in_engine",
            master=master,
            customers=i18n.number(n, lang),
            sample=i18n.number(size, lang),
        )
    )
    return SegmentationResult(
        segments=table,
        profiles=profiles,
        ledger=ledger,
        model=model,
        fingerprint=src.fingerprint,
        lang=lang,
        verdict=verdict,
        exploration=quality.summarize(con),
        segment_names=display,
        personas=personas(table, feats, [], lang),
        segment_slugs=slugs,
        rfm=rfm,
        rules=explain_segments(model, table, segments, random_state=options.seed),
        population=Population(n, size, master, files, folder),
    )


@dataclass
class GroupResult:
    """One group of a lifecycle split (:func:`_segment_lifecycle`): its customers' model."""

    name: str
    """``"repeat"`` or ``"one_time"`` (:data:`custseg.explain.lifecycle.GROUPS`)"""
    customers: int
    model: CustomerSegmenter
    rfm: RFMScorer
    slugs: dict[int, str]
    """grid name of each of the group's segments, numbered 1..k within the group"""
    first: int
    """run-wide number of the group's first segment (its segments are first … first + k - 1)"""
    features: list[str]
    dropped: dict[str, str]
    verdict: str
    too_small: bool = False

    def to_dict(self, names: Mapping[int, str]) -> dict[str, Any]:
        """The group in ``model.json`` (see :data:`custseg.model.schema.SPLIT_RUN`)."""
        low, high = lifecycle.RULES[self.name]
        return {
            "name": self.name,
            "frequency": {"min": low, "max": high},
            "customers": self.customers,
            "first_segment": self.first,
            "k": int(self.model.k_),
            "features": list(self.features),
            "left_out": dict(self.dropped),
            "too_small": self.too_small,
            "segment_names": {
                str(self.first + s - 1): names[self.first + s - 1] for s in self.slugs
            },
            "verdict": self.verdict,
            "model": persistence.to_dict(self.model, segments=self.slugs, rfm=self.rfm),
        }


@dataclass
class SplitResult(SegmentationResult):
    """A run with ``split="lifecycle"``: one result whose segments span several groups.

    ``segments`` and ``profiles`` hold every group (a ``lifecycle`` column says which);
    segment numbers run through the groups (repeat customers' segments first); ``groups``
    holds each group's own model, names and verdict; ``model`` is the first group's.
    """

    groups: list[GroupResult] = field(default_factory=list)

    def model_document(self) -> dict[str, Any]:
        """The content of ``model.json``: the shared input and cleaning, then every group."""
        return {
            "format": schema.SPLIT_RUN_FORMAT,
            "kind": self.kind,
            "input": self.fingerprint,
            "as_of": self.ledger.as_of,
            "columns": self.ledger.columns,
            "cleaning_rules": self.ledger.rules,
            "features": {f: FEATURE_DESCRIPTIONS[f] for f in TRANSACTION_FEATURES},
            "lang": self.lang,
            "segment_names": {str(s): name for s, name in self.segment_names.items()},
            "personas": {str(s): p for s, p in self.personas.items()},
            "verdict": self.verdict,
            **({"currency": self.currency} if self.currency else {}),
            "split": {
                "by": "lifecycle",
                "feature": lifecycle.SPLIT_FEATURE,
                "groups": [g.to_dict(self.segment_names) for g in self.groups],
            },
        }


def _fit_group(
    name: str, customers: pd.DataFrame, options: SegmentOptions, first: int
) -> GroupResult:
    """Features, segmenter, RFM names and verdict of one lifecycle group."""
    lang = options.lang
    n = len(customers)
    features, dropped = lifecycle.group_features(customers, list(options.features))
    small = lifecycle.too_small(n, options.k_min)
    if small:
        # one segment, nothing clustered: the features only give the model its shape
        features = features or [f for f in options.features if f not in dropped] or ["monetary"]
        dropped = {}
        model = CustomerSegmenter(features, k=1, random_state=options.seed).fit(customers)
    else:
        k = min(options.k, n) if options.k is not None else None
        model = CustomerSegmenter(
            features,
            k=k,
            k_min=options.k_min,
            k_max=options.k_max,
            random_state=options.seed,
        ).fit(customers)
    rfm = RFMScorer().fit(customers)
    local = segment_numbers(model.labels_)
    once = name == "one_time"
    slugs = naming.segment_slugs(
        local,
        model.k_,
        rfm.transform(customers),
        customers["tenure_days"].to_numpy() if once else None,
        customers["recency_days"].to_numpy(),
        exclude=() if once else lifecycle.FIRST_PURCHASE,
        features=customers,
    )
    text = lifecycle.group_verdict(model, features, dropped, small, n, options.k_min, lang)
    return GroupResult(name, n, model, rfm, slugs, first, features, dropped, text, small)


def _segment_lifecycle(
    con: Engine, src: Source, colmap: ColumnMap, options: SegmentOptions, step: Step
) -> SplitResult:
    """Transaction lines → one-time and repeat customers segmented apart, then combined."""
    lang = options.lang
    ledger, customers = _audited_customers(con, src, colmap, options, step)
    group_of = lifecycle.lifecycle_groups(customers["frequency"])
    groups: list[GroupResult] = []
    parts: list[pd.DataFrame] = []
    first = 1
    for name in lifecycle.GROUPS:
        members = customers[group_of == name]
        if members.empty:
            continue
        step("sweep", {"customers": len(members)})
        g = _fit_group(name, members.reset_index(drop=True), options, first)
        table = members.copy()
        scores = g.rfm.transform(members)
        table[["r_score", "f_score", "m_score"]] = scores[["r_score", "f_score", "m_score"]]
        cells = pd.Series(scores["rfm_segment"].to_numpy(), index=table.index)
        table["rfm_segment"] = cells.map({c: naming.display_name(c, lang) for c in cells.unique()})
        local = segment_numbers(g.model.labels_)
        table["segment"] = local + (first - 1)
        table["segment_slug"] = pd.Series(local, index=table.index).map(g.slugs)
        table["lifecycle"] = name
        parts.append(table)
        groups.append(g)
        first += int(g.model.k_)
    step("fit", {})
    names = lifecycle.group_names([(g.name, g.first, g.slugs) for g in groups], lang)
    table = pd.concat(parts).sort_index()
    table.insert(table.columns.get_loc("segment") + 1, "segment_name", table["segment"].map(names))
    profiles = profile(table, list(TRANSACTION_FEATURES), lang, options.currency)
    profiles["lifecycle"] = profiles["segment"].map(table.groupby("segment")["lifecycle"].first())
    table = table.drop(columns="segment_slug")
    n = len(table)
    verdict = " ".join(
        i18n.t(
            lang,
            "lifecycle_group",
            group=lifecycle.group_label(g.name, lang),
            n=i18n.number(g.customers, lang),
            share=i18n.number(100 * g.customers / n, lang, 1),
        )
        + " "
        + g.verdict
        for g in groups
    )
    slugs = {g.first + s - 1: slug for g in groups for s, slug in g.slugs.items()}
    return SplitResult(
        segments=table.reset_index(drop=True),
        profiles=profiles,
        ledger=ledger,
        model=groups[0].model,
        fingerprint=src.fingerprint,
        lang=lang,
        verdict=verdict,
        exploration=quality.summarize(con),
        segment_names=names,
        personas=personas(table, list(TRANSACTION_FEATURES), [], lang),
        segment_slugs=slugs,
        rfm=groups[0].rfm,
        groups=groups,
    )


def _slugs(
    model: CustomerSegmenter,
    segments: Any,
    scores: pd.DataFrame | None,
    tenure: Any,
    recency: Any = None,
    features: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Slug of each segment number; a density method's noise is the atypical group, the
    others are named on their own customers."""
    noise = getattr(model, "noise_label_", None)
    if noise is None:
        return naming.segment_slugs(segments, model.k_, scores, tenure, recency, features=features)
    keep = segments != noise + 1
    slugs = naming.segment_slugs(
        segments[keep],
        model.k_,
        scores[keep] if scores is not None else None,
        tenure[keep] if tenure is not None else None,
        recency[keep] if recency is not None else None,
        features=features[keep] if features is not None else None,
    )
    return slugs | {noise + 1: ATYPICAL}


def _transactions_colmap(
    src: Source, mapping: Mapping[str, str] | None, kind: str
) -> ColumnMap | None:
    """The transaction column map, or ``None`` when the source is a customer table.

    ``auto`` takes the source for transactions when the customer, date and value columns of a
    transaction line are all recognised (the invoice is optional); for a customer table when
    they are not, a customer-id column is (``ID``, ``CustomerID``…) and no column is named
    like an invoice, a date, a quantity or a price of a line (then the error names the
    missing role and the ``--map`` that fixes it); otherwise it asks. ``--kind`` settles any
    doubt.
    """
    if kind == "customers":
        return None
    if kind == "transactions" or mapping:
        return resolve_columns(src.columns, mapping, source=src.label)
    try:
        return resolve_columns(src.columns, mapping, source=src.label)
    except SchemaError as exc:
        found = transaction_roles(src.columns)
        if detect_roles(src.columns)["id"] is not None and not found:
            return None
        if found:
            raise SchemaError(
                f"{exc} (the file looks like transaction lines: it has "
                f"{', '.join(f'{r} {c!r}' for r, c in found.items())}); or, if each row "
                "is one customer, run with --kind customers"
            ) from exc
        raise SchemaError(
            f"{exc}; or, if each row is one customer, run with --kind customers"
        ) from exc


def _segment_customers(
    con: Engine, src: Source, options: SegmentOptions, step: Step
) -> SegmentationResult:
    """A customer table in the engine → prepared, segmented customers described by personas."""
    lang = options.lang
    step("customers", {})
    table = prepare_customers(
        con, src, roles=options.roles, rules=options.customer_rules, as_of=options.as_of
    )
    step("sweep", {"customers": len(table.frame)})
    model = options.segmenter(table.numeric, table.categorical).fit(table.frame)
    step("fit", {})
    segments = segment_numbers(model.labels_)
    # a customer table with recency, frequency and monetary columns is named like transactions
    rfm = RFMScorer().fit(table.frame) if has_rfm(table.frame.columns) else None
    slugs = _slugs(
        model,
        segments,
        rfm.transform(table.frame) if rfm is not None else None,
        table.frame["tenure_days"].to_numpy() if "tenure_days" in table.frame else None,
        table.frame["recency_days"].to_numpy() if rfm is not None else None,
        table.frame if rfm is not None else None,
    )
    out = table.frame.copy()
    out["segment"] = segments
    found = personas(out, table.numeric, table.categorical, lang)
    names = {s: found[s]["name"] if s in found else f"{s}" for s in range(1, model.k_ + 1)}
    if model.noise_label_ is not None:
        names[model.noise_label_ + 1] = naming.display_name(ATYPICAL, lang)
    out["segment_name"] = [names[int(s)] for s in segments]
    numeric = [
        *table.numeric,
        *[c for c in table.outcomes if pd.api.types.is_numeric_dtype(out[c])],
    ]
    revenue = "total_spend" if "total_spend" in out else None
    profiles = profile(out, numeric, lang, revenue=revenue)
    profiles.insert(2, "description", profiles["segment"].map(lambda s: found[int(s)]["portrait"]))
    external = external_validity(segments, out[table.label]) if table.label is not None else None
    verdict = run_verdict(model, lang)
    if external is not None:
        verdict += " " + i18n.t(
            lang,
            "external_validity",
            column=external["column"],
            ari=i18n.number(external["ari"], lang, 3),
            ami=i18n.number(external["ami"], lang, 3),
        )
    return SegmentationResult(
        segments=out,
        profiles=profiles,
        ledger=table.ledger,
        model=model,
        fingerprint=src.fingerprint,
        lang=lang,
        verdict=verdict,
        kind="customers",
        segment_names=names,
        personas=found,
        external=external,
        segment_slugs=slugs,
        rfm=rfm,
        preparation=table.preparation,
        rules=explain_segments(model, out, segments, random_state=options.seed),
        comparison=options.comparison(table.frame, model, table.numeric, table.categorical),
    )


@dataclass
class Exploration:
    """What ``custseg explore`` shows: the audit ledger and the data-quality aggregates."""

    ledger: Ledger
    summary: dict[str, Any]
    fingerprint: dict[str, Any]
    #: the SQL statements the engine ran, in order (with ``explore(..., log_sql=True)``)
    queries: list[str] = field(default_factory=list)
    #: the SQL dialect of the engine that ran them (sqlglot's name: ``duckdb``, ``postgres``…)
    dialect: str = "duckdb"


def explore(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    mapping: Mapping[str, str] | None = None,
    as_of: date | str | None = None,
    rules: CleaningRules | None = None,
    log_sql: bool = False,
    engine: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> Exploration:
    """Audit a transactions source and summarise its quality, without segmenting.

    transaction lines → ledger + data-quality aggregates (see :func:`custseg.stages.quality.summarize`).
    With ``log_sql``, the result's ``queries`` holds every SQL statement the engine ran, in
    the engine's dialect (:meth:`~custseg.engines.base.Engine.log_queries`; the result's
    ``dialect`` names it). ``engine``, ``table`` and ``query`` are those of :func:`segment`:
    with a ``postgresql://`` URL, the audit and the aggregates run inside the server.

    Examples
    --------
    >>> from custseg.datasets import make_transactions
    >>> frame, _ = make_transactions(50, seed=1)
    >>> ex = explore(frame)
    >>> ex.ledger.input_rows == len(frame), sorted(ex.summary["distributions"])
    (True, ['order_value', 'price', 'quantity'])
    """
    as_of = check_as_of(as_of)
    found = choose_input(source, engine=engine, table=table, query=query)
    con = found.connect()
    queries = con.log_queries() if log_sql else []
    src = None
    try:
        src = found.open(con)
        colmap = resolve_columns(src.columns, mapping, source=src.label)
        ledger = audit(
            con,
            src,
            colmap,
            rules,
            as_of=as_of,
            collectors=(feature_stage.collect, quality.collect),
        )
        summary = quality.summarize(con)
        return Exploration(
            ledger=ledger,
            summary=summary,
            fingerprint=src.fingerprint,
            queries=list(queries),
            dialect=con.dialect,
        )
    except EngineError as exc:
        raise engine_error(src.label if src else found.label, exc, src) from exc
    finally:
        if src is not None:
            src.close()
        con.close()
