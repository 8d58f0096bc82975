"""The main job: a transactions source in, audited and named customer segments out.

transactions (file or DataFrame) → audit ledger → one row per customer (features computed by
DuckDB) → :class:`~custseg.model.CustomerSegmenter` → segments, profiles and a saved model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from custseg import i18n, naming
from custseg.audit import CleaningRules, Ledger, audit
from custseg.customers import CustomerLedger, CustomerRules, detect_roles, prepare_customers
from custseg.engines import connect
from custseg.errors import CustsegError, EmptyDataError, InputError, SchemaError
from custseg.explore import summarize
from custseg.features import FEATURE_DESCRIPTIONS, TRANSACTION_FEATURES, customer_features
from custseg.io import open_source
from custseg.model import RFM_FEATURES, CustomerSegmenter
from custseg.outputs import write_csv, write_json, write_parquet, write_text
from custseg.personas import external_validity, personas
from custseg.profiles import profile
from custseg.schema import ColumnMap, resolve_columns

RUN_FORMAT = "custseg.run/1"
OUTPUT_FILES = (
    "segments.parquet",
    "segments.csv",
    "profiles.csv",
    "model.json",
    "audit.json",
    "exploration.json",
    "report.html",
)

Step = Callable[[str, dict[str, Any]], None]


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
    exploration: dict[str, Any] | None = None  # data-quality aggregates (custseg.explore)
    kind: str = "transactions"
    segment_names: dict[int, str] = field(default_factory=dict)
    personas: dict[int, dict[str, Any]] = field(default_factory=dict)
    external: dict[str, Any] | None = None

    def model_document(self) -> dict[str, Any]:
        """The content of ``model.json``: the fitted model plus how its inputs were made."""
        if self.kind == "transactions":
            features = {f: FEATURE_DESCRIPTIONS[f] for f in TRANSACTION_FEATURES}
        else:
            features = {f: "numeric" for f in self.model.features} | {
                c: "categorical" for c in self.model.categorical
            }
        return {
            "format": RUN_FORMAT,
            "kind": self.kind,
            "input": self.fingerprint,
            "as_of": self.ledger.as_of,
            "columns": self.ledger.columns,
            "cleaning_rules": self.ledger.rules,
            "features": features,
            "lang": self.lang,
            "segment_names": {str(s): name for s, name in self.segment_names.items()},
            "personas": {str(s): p for s, p in self.personas.items()},
            "external_validity": self.external,
            "verdict": self.verdict,
            "model": self.model.to_dict(),
        }

    def save(self, out: str | os.PathLike[str]) -> dict[str, Path]:
        """Write every output file into ``out`` (created if needed), each atomically.

        The customer tables (CSV and Parquet, the files that grow with the customers) are
        written by worker threads while this thread writes the small files and the report.
        """
        from custseg.report import render_html

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        table = self.segments
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="custseg-save") as pool:
            tables = {
                "segments.parquet": pool.submit(write_parquet, out / "segments.parquet", table),
                "segments.csv": pool.submit(write_csv, out / "segments.csv", table),
            }
            small = {
                "profiles.csv": write_csv(out / "profiles.csv", self.profiles),
                "model.json": write_json(out / "model.json", self.model_document()),
                "audit.json": write_json(out / "audit.json", self.ledger.to_dict()),
            }
            if self.exploration is not None:
                small["exploration.json"] = write_json(out / "exploration.json", self.exploration)
            small["report.html"] = write_text(out / "report.html", render_html(self))
            return {name: done.result() for name, done in tables.items()} | small


def verdict_sentence(model: CustomerSegmenter, lang: str) -> str:
    """Say why the model has the k it has, in ``lang``."""
    from custseg.selection import verdict

    sel = model.selection_
    if sel is None:
        return i18n.t(lang, "verdict_forced", k=model.k_, auto="—")
    if sel.forced:
        auto_k, _ = verdict(
            sel.ks, sel.silhouette, sel.calinski_harabasz, sel.davies_bouldin, sel.knee
        )
        return i18n.t(lang, "verdict_forced", k=sel.chosen, auto=auto_k)
    r = sel.reason
    v, v0 = r["values"], r["knee_values"] or r["values"]

    def fmt(vals: dict[str, float]) -> dict[str, str]:
        return {
            "sil": i18n.number(vals["silhouette"], lang, 3),
            "ch": i18n.number(vals["calinski_harabasz"], lang),
            "db": i18n.number(vals["davies_bouldin"], lang, 3),
        }

    text = i18n.t(
        lang,
        f"verdict_{r['rule']}",
        k=r["k"],
        knee=r["knee"],
        mean_rank=r["mean_rank"],
        n=r["candidates"],
        r_sil=r["ranks"]["silhouette"],
        r_ch=r["ranks"]["calinski_harabasz"],
        r_db=r["ranks"]["davies_bouldin"],
        **fmt(v),
        **{f"{key}0": val for key, val in fmt(v0).items()},
    )
    b = r["best_by"]
    text += " " + i18n.t(
        lang,
        "verdict_best_by",
        sil_k=b["silhouette"],
        ch_k=b["calinski_harabasz"],
        db_k=b["davies_bouldin"],
    )
    stab = sel.stability[sel.ks.index(r["k"])] if sel.stability and r["k"] in sel.ks else None
    if stab is not None:
        text += " " + i18n.t(lang, "verdict_stability", k=r["k"], ari=i18n.number(stab, lang, 2))
    if sel.sample.get("silhouette", 0) < sel.sample.get("customers", 0):
        text += " " + i18n.t(lang, "sample_note", n=sel.sample["silhouette"])
    return text


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
    con: duckdb.DuckDBPyConnection | None = None,
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
    as_of : date recency is measured to; default the day after the last kept transaction.
    lang : ``"en"`` or ``"fr"`` for names and sentences.
    features : customer features clustered on (transactions).
    kind : ``"transactions"``, ``"customers"`` or ``"auto"`` (transactions when the customer,
        date and value columns of a line are recognised, customers when they are not but a
        customer-id column is).
    roles : declared column roles of a customer table (see :mod:`custseg.customers`).
    customer_rules : cleaning policy of a customer table.
    on_step : called as ``on_step(step, info)`` at the start of each stage (for progress).
    """
    i18n.catalog(lang)
    if kind not in {"auto", "transactions", "customers"}:
        raise CustsegError(f"kind {kind!r} unknown; use transactions, customers or auto")
    step = on_step or (lambda name, info: None)
    own = con is None
    con = con or connect()
    src = None
    try:
        label = source if not isinstance(source, pd.DataFrame) else "<DataFrame>"
        step("read", {"source": str(label)})
        src = open_source(con, source)
        colmap = _transactions_colmap(src, mapping, kind)
        common: dict[str, Any] = {
            "seed": seed,
            "k": k,
            "k_min": k_min,
            "k_max": k_max,
            "as_of": as_of,
            "lang": lang,
            "step": step,
        }
        if colmap is None:
            return _segment_customers(con, src, roles=roles, rules=customer_rules, **common)
        return _segment_transactions(
            con, src, colmap, features=features, rules=rules, currency=currency, **common
        )
    except duckdb.Error as exc:  # raised while scanning a file whose header read fine
        raise engine_error(src.label if src else str(source), exc) from exc
    finally:
        if src is not None:
            src.close()
        if own:
            con.close()


def engine_error(label: str, exc: Exception) -> InputError:
    """A one-line error for a failure of the SQL engine while it reads the input."""
    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return InputError(
        f"{label}: the data could not be read to the end ({first.strip()}); check the file "
        "for malformed lines, or convert it to Parquet"
    )


def _segment_transactions(
    con: duckdb.DuckDBPyConnection,
    src: Any,
    colmap: ColumnMap,
    *,
    seed: int,
    k: int | None,
    k_min: int,
    k_max: int,
    as_of: date | str | None,
    lang: str,
    features: Sequence[str],
    rules: CleaningRules | None,
    currency: str,
    step: Step,
) -> SegmentationResult:
    """Transaction lines in DuckDB → audited, featured, segmented and named customers."""
    step("audit", {})
    ledger = audit(con, src, colmap, rules, as_of=as_of)
    step("features", {})
    customers = customer_features(con, ledger.as_of)
    if customers.empty:
        raise EmptyDataError(f"{src.label}: no customer with a kept purchase; nothing to segment")
    step("sweep", {"customers": len(customers)})
    model = CustomerSegmenter(features, k=k, k_min=k_min, k_max=k_max, random_state=seed).fit(
        customers
    )
    step("fit", {})
    scores = model.rfm_scores(customers)
    table = customers.copy()
    table[["r_score", "f_score", "m_score"]] = scores[["r_score", "f_score", "m_score"]]
    cells = pd.Series(scores["rfm_segment"].to_numpy(), index=table.index)
    table["rfm_segment"] = cells.map({c: naming.display_name(c, lang) for c in cells.unique()})
    table["segment"] = model.labels_
    slugs = model.segment_slugs_
    labels = pd.Series(model.labels_, index=table.index)
    table["segment_name"] = labels.map({s: naming.display_name(v, lang) for s, v in slugs.items()})
    with_slug = table.assign(segment_slug=labels.map(slugs))
    profiles = profile(with_slug, list(TRANSACTION_FEATURES), lang, currency)
    return SegmentationResult(
        segments=table,
        profiles=profiles,
        ledger=ledger,
        model=model,
        fingerprint=src.fingerprint,
        lang=lang,
        verdict=verdict_sentence(model, lang),
        exploration=summarize(con),
        segment_names={s: naming.display_name(slug, lang) for s, slug in slugs.items()},
        personas=personas(table, list(TRANSACTION_FEATURES), [], lang),
    )


def _transactions_colmap(
    src: Any, mapping: Mapping[str, str] | None, kind: str
) -> ColumnMap | None:
    """The transaction column map, or ``None`` when the source is a customer table.

    ``auto`` takes the source for transactions when the customer, date and value columns of a
    transaction line are all recognised (the invoice is optional); for a customer table when
    they are not but a customer-id column is (``ID``, ``CustomerID``…); otherwise it asks.
    ``--kind`` settles any doubt.
    """
    if kind == "customers":
        return None
    if kind == "transactions" or mapping:
        return resolve_columns(src.columns, mapping, source=src.label)
    try:
        return resolve_columns(src.columns, mapping, source=src.label)
    except SchemaError as exc:
        if detect_roles(src.columns)["id"] is not None:
            return None
        raise SchemaError(
            f"{exc}; or, if each row is one customer, run with --kind customers"
        ) from exc


def _segment_customers(
    con: duckdb.DuckDBPyConnection,
    src: Any,
    *,
    seed: int,
    k: int | None,
    k_min: int,
    k_max: int,
    as_of: date | str | None,
    lang: str,
    roles: Mapping[str, Any] | None,
    rules: CustomerRules | None,
    step: Step,
) -> SegmentationResult:
    step("customers", {})
    table = prepare_customers(con, src, roles=roles, rules=rules, as_of=as_of)
    step("sweep", {"customers": len(table.frame)})
    model = CustomerSegmenter(
        table.numeric,
        categorical=table.categorical,
        k=k,
        k_min=k_min,
        k_max=k_max,
        random_state=seed,
    ).fit(table.frame)
    step("fit", {})
    out = table.frame.copy()
    out["segment"] = model.labels_
    found = personas(out, table.numeric, table.categorical, lang)
    names = {s: found[s]["name"] if s in found else f"{s}" for s in range(1, model.k_ + 1)}
    out["segment_name"] = [names[int(s)] for s in model.labels_]
    numeric = [
        *table.numeric,
        *[c for c in table.outcomes if pd.api.types.is_numeric_dtype(out[c])],
    ]
    revenue = "total_spend" if "total_spend" in out else None
    profiles = profile(out, numeric, lang, revenue=revenue)
    profiles.insert(2, "description", profiles["segment"].map(lambda s: found[int(s)]["portrait"]))
    external = (
        external_validity(model.labels_, out[table.label]) if table.label is not None else None
    )
    verdict = verdict_sentence(model, lang)
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
    )


def run(
    source: str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str],
    **kwargs: Any,
) -> SegmentationResult:
    """:func:`segment`, then write every output into ``out``."""
    on_step: Step | None = kwargs.get("on_step")
    result = segment(source, **kwargs)
    if on_step:
        on_step("write", {"out": str(out)})
    result.save(out)
    return result
