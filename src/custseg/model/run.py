"""The whole fitted chain of a run: raw rows in, segment numbers out.

A run's ``model.json`` holds everything between a raw input row and a segment: for transaction
lines, the column map, the cleaning rules and the as-of date (the features are the stage's one
SQL definition); for a customer table, the fitted :class:`~custseg.stages.customers.
CustomerPreparation`; then the fitted :class:`~custseg.model.segmenter.CustomerSegmenter`.
:class:`RunModel` reads it back (validated, nothing executed) and replays the chain on raw rows,
so that scoring a run's own input gives back its segments exactly.

Examples
--------
>>> import tempfile, custseg
>>> from custseg.datasets import make_transactions
>>> lines, _ = make_transactions(60, seed=3)
>>> with tempfile.TemporaryDirectory() as out:
...     result = custseg.run(lines, out, seed=0, k=3)
...     model = RunModel.load(out)
...     scored = model.predict(lines)
>>> bool((scored.to_numpy() == result.segments.set_index("customer_id")["segment"]).all())
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.errors import ModelError
from custseg.model import persistence, schema
from custseg.model.segmenter import CustomerSegmenter
from custseg.sources import resolve_columns
from custseg.sources.inputs import choose_input
from custseg.stages import features
from custseg.stages.audit import CleaningRules, audit
from custseg.stages.customers import CustomerPreparation

#: the run document formats :meth:`RunModel.from_document` reads
RUN_FORMATS = frozenset({schema.RUN_FORMAT, schema.SPLIT_RUN_FORMAT})


@dataclass(frozen=True)
class SplitGroup:
    """One group of a run split by lifecycle: which customers it takes, and its model.

    A customer whose ``feature`` (frequency: purchase invoices) is within ``low`` … ``high``
    (``None``: no upper bound) is scored by ``segmenter``; its segment is
    ``first + label``, the segment numbers of ``segments.csv``.
    """

    name: str
    feature: str
    low: int
    high: int | None
    first: int
    segmenter: CustomerSegmenter

    def holds(self, values: pd.Series) -> pd.Series:
        """Whether each customer (by its ``feature`` value) belongs to this group."""
        inside = values >= self.low
        return inside & (values <= self.high) if self.high is not None else inside


def cleaning_rules(data: Mapping[str, Any]) -> CleaningRules:
    """The :class:`CleaningRules` saved in a run (``cleaning_rules`` of model.json)."""
    try:
        return CleaningRules(
            cancellation_prefix=str(data["cancellation_prefix"]),
            adjustment_pattern=str(data["adjustment_pattern"]),
            adjustment_descriptions=tuple(map(str, data["adjustment_descriptions"])),
            non_product_codes=tuple(map(str, data["non_product_codes"])),
            non_product_pattern=str(data["non_product_pattern"]),
            extreme_iqr=float(data["extreme_iqr"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model.json: cleaning_rules are incomplete or damaged ({exc!r})") from exc


@dataclass
class RunModel:
    """A run's fitted chain: how raw rows become customer features, and the segmenter.

    Attributes
    ----------
    kind : ``"transactions"`` or ``"customers"``.
    segmenter : the fitted estimator (labels 0..k-1; segment numbers are labels + 1).
    segment_names : display name of each segment number, in the run's language.
    columns : transactions: the canonical → source column map used by the run.
    rules : transactions: the cleaning rules.
    as_of : transactions: the date recency was measured to.
    preparation : customer tables: the fitted preparation.
    groups : a run split by lifecycle (``--split lifecycle``): the groups a customer is routed
        to, each with its own segmenter (``segmenter`` is then the first group's); empty
        otherwise.
    """

    kind: str
    segmenter: CustomerSegmenter
    segment_names: dict[int, str]
    columns: dict[str, str]
    rules: CleaningRules | None
    as_of: date | None
    preparation: CustomerPreparation | None
    groups: tuple[SplitGroup, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], source: str = "model.json") -> RunModel:
        """Rebuild the chain from a run's ``model.json`` content (validated, nothing executed).

        The content is checked against :data:`custseg.model.schema.RUN` (its ``model`` and
        ``preparation`` parts included) before use; ``source`` names it in errors.
        """
        if not isinstance(doc, Mapping) or doc.get("format") not in RUN_FORMATS:
            raise ModelError(
                f"{source}: not a custseg run model (expected format "
                f"{' or '.join(sorted(RUN_FORMATS))}); give a run's model.json"
            )
        kind = doc.get("kind")
        if kind not in {"transactions", "customers"}:
            raise ModelError(f"{source}: unknown kind {kind!r}; expected transactions or customers")
        if kind == "customers" and "preparation" not in doc:
            raise ModelError(
                f"{source}: a customer-table model without its preparation (written by an "
                "older custseg); re-run custseg run to save it"
            )
        schema.validate(dict(doc), "model.json", source)
        groups: tuple[SplitGroup, ...] = ()
        if doc.get("format") == schema.SPLIT_RUN_FORMAT:
            split = doc["split"]
            groups = tuple(
                SplitGroup(
                    str(g["name"]),
                    str(split["feature"]),
                    int(g["frequency"]["min"]),
                    None if g["frequency"]["max"] is None else int(g["frequency"]["max"]),
                    int(g["first_segment"]),
                    persistence.from_dict(g["model"]),
                )
                for g in split["groups"]
            )
            segmenter = groups[0].segmenter
        else:
            segmenter = persistence.from_dict(doc.get("model", {}))
        names = doc.get("segment_names") or {}
        if not isinstance(names, Mapping):
            raise ModelError("model.json: segment_names must be an object")
        segment_names = {int(s): str(v) for s, v in names.items()}
        if kind == "customers":
            return cls(
                kind, segmenter, segment_names, {}, None, None,
                CustomerPreparation.from_dict(doc["preparation"]),
            )  # fmt: skip
        columns = doc.get("columns")
        if not isinstance(columns, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
        ):
            raise ModelError("model.json: columns must map canonical names to source columns")
        try:
            as_of = date.fromisoformat(str(doc["as_of"]))
        except (KeyError, ValueError) as exc:
            raise ModelError(f"model.json: as_of is missing or not a date ({exc})") from exc
        rules = cleaning_rules(doc.get("cleaning_rules") or {})
        return cls(kind, segmenter, segment_names, dict(columns), rules, as_of, None, groups)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunModel:
        """Read a run folder's ``model.json`` (or the file itself)."""
        path = Path(path)
        if path.is_dir():
            path = path / "model.json"
        doc = schema.load_json(path)  # bounded, finite numbers, an object: see custseg.model.schema
        try:
            return cls.from_document(doc, str(path))
        except ModelError as exc:
            message = str(exc)
            raise ModelError(
                message if message.startswith(f"{path}:") else f"{path}: {message}"
            ) from exc

    def features(
        self,
        source: str | os.PathLike[str] | pd.DataFrame,
        *,
        engine: str | None = None,
        table: str | None = None,
        query: str | None = None,
    ) -> pd.DataFrame:
        """Raw rows (a file or a DataFrame) → one row per customer with the model's features.

        Transactions are audited with the run's cleaning rules and as-of date (lines on or
        after it are outside the observation period), then aggregated by the feature stage; a
        customer table goes through the saved preparation. ``engine``, ``table`` and
        ``query`` choose the engine that reads the rows, as for :func:`custseg.segment`
        (a ``postgresql://`` URL with a table or a query: inside PostgreSQL).
        """
        found = choose_input(source, engine=engine, table=table, query=query)
        if self.preparation is None and (self.rules is None or self.as_of is None):
            raise ModelError("a transactions model needs its cleaning rules and as-of date")
        with found.connect() as con:
            if self.preparation is not None:
                rows = found.open(con, view="customer_rows")
                try:
                    return self.preparation.transform(rows, con=con)
                finally:
                    rows.close()
            src = found.open(con)
            try:
                assert self.rules is not None and self.as_of is not None
                colmap = resolve_columns(src.columns, self.columns, source=src.label)
                audit(
                    con,
                    src,
                    colmap,
                    self.rules,
                    as_of=self.as_of,
                    collectors=(features.collect,),
                )
                return features.customer_features(con, self.as_of)
            finally:
                src.close()

    def predict(
        self,
        source: str | os.PathLike[str] | pd.DataFrame,
        *,
        engine: str | None = None,
        table: str | None = None,
        query: str | None = None,
    ) -> pd.Series:
        """The segment number (1..k, as in ``segments.csv``) of every customer of ``source``,
        indexed by ``customer_id`` (``engine``, ``table``, ``query``: see :meth:`features`)."""
        customers = self.features(source, engine=engine, table=table, query=query)
        index = pd.Index(customers["customer_id"], name="customer_id")
        if customers.empty:  # every row dropped by the cleaning: no customer to score
            return pd.Series([], index=index, name="segment", dtype="int64")
        if self.groups:
            return self._predict_split(customers).set_axis(index)
        return pd.Series(self.segmenter.predict(customers) + 1, index=index, name="segment")

    def _predict_split(self, table: pd.DataFrame) -> pd.Series:
        """Each customer scored by the model of its group (see :class:`SplitGroup`)."""
        out = pd.Series(0, index=table.index, name="segment", dtype="int64")
        for group in self.groups:
            inside = group.holds(table[group.feature])
            if inside.any():
                labels = group.segmenter.predict(table[inside])
                out[inside] = labels + group.first
        if (out == 0).any():  # no group takes them (ranges that do not cover every value)
            first = table.loc[out == 0, "customer_id"].iloc[0]
            raise ModelError(
                f"customer {first}: no group of the split model takes "
                f"{self.groups[0].feature} = {table.loc[out == 0, self.groups[0].feature].iloc[0]}"
            )
        return out
