"""Run files read back safely: bounded JSON parsing, then a JSON Schema of each document.

A run's ``model.json`` (the run document, its ``model`` part, its ``preparation`` part),
``audit.json`` and ``exploration.json`` are read back by ``custseg report``,
:func:`custseg.load_model` and :func:`custseg.model.persistence.load`. Such a file may have been
edited, truncated, replaced by another file or written by an attacker; reading it must give a
one-line :class:`~custseg.errors.ModelError` (or the caller's error class) naming the file and
the fault, never a traceback, and nothing in it is ever executed (JSON is parsed as data only).

Two steps:

1. :func:`load_json` reads the bytes with bounds: at most :data:`MAX_BYTES`, UTF-8 text, nesting
   at most :data:`MAX_DEPTH` deep (measured before parsing, without recursion, so that a file of
   100,000 nested brackets never reaches the recursive parser), numbers finite (JSON as Python
   writes it allows ``NaN`` and ``Infinity``, and ``1e999`` parses as infinity: all refused), and
   a top-level object.
2. :func:`validate` checks the parsed document against its schema (:data:`SCHEMAS`): types,
   required keys, enumerations, sizes (at most :data:`MAX_SEGMENTS` segments,
   :data:`MAX_COLUMNS` columns, strings of at most :data:`MAX_TEXT` characters) and the
   cross-field facts a schema cannot state (centroids k × width, one score per k tried...).

The schemas are JSON Schema (draft 2020-12) checked by ``jsonschema``, a well-kept library;
the facts relating two fields are checked by hand in :func:`check_model` and
:func:`check_exploration`.

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "model.json"
...     _ = path.write_text('{"centroids": [[NaN]]}')
...     try:
...         load_json(path)
...     except ModelError as exc:
...         print(str(exc).split(":", 1)[1].strip()[:40])
NaN is not a finite number; JSON run fil
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from custseg.errors import CustsegError, ModelError

#: largest run file read (bytes); real ones are a few tens of kilobytes
MAX_BYTES = 64 * 1024 * 1024
#: deepest nesting of arrays and objects accepted (real run files nest 6 levels at most)
MAX_DEPTH = 32
#: most segments a saved model may have
MAX_SEGMENTS = 1_000
#: most columns (features, dummies, source columns) a saved model may name
MAX_COLUMNS = 10_000
#: longest string in a run file (names, sentences, patterns)
MAX_TEXT = 100_000
#: most items of any other list (histogram bins, countries, months, flagged lines)
MAX_ITEMS = 1_000_000
#: the format of a run's model.json (written by :mod:`custseg.pipeline`)
RUN_FORMAT = "custseg.run/1"
#: the format of its ``model`` part written now (:mod:`custseg.model.persistence`), and the
#: formats still read (``/1``: before the algorithm registry)
MODEL_FORMAT = "custseg.model/2"
MODEL_FORMATS = ("custseg.model/1", MODEL_FORMAT)
#: the format of the model.json of a run split by lifecycle (``custseg run --split lifecycle``):
#: one sub-model per group of customers (:data:`SPLIT_RUN`); runs without a split keep
#: :data:`RUN_FORMAT`
SPLIT_RUN_FORMAT = "custseg.split-run/1"
#: what to do about a damaged run file, said by every error
REDO = "re-run custseg run to write it again"

# ---- reading ------------------------------------------------------------------------------

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _depth(raw: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text, strings skipped; no recursion."""
    bare = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    step = np.zeros(len(bare), dtype=np.int64)
    step[(bare == ord("[")) | (bare == ord("{"))] = 1
    step[(bare == ord("]")) | (bare == ord("}"))] = -1
    return int(np.cumsum(step).max()) if len(step) else 0


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number; JSON run files hold finite numbers only")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large a number (beyond ±1.8e308)")
    return value


def parse_json(raw: bytes, what: str, error: type[CustsegError] = ModelError) -> dict[str, Any]:
    """Parse the bytes of a run file (see the module docstring); ``what`` names it in errors."""
    if len(raw) > MAX_BYTES:
        raise error(f"{what}: {len(raw)} bytes, more than a run file holds; {REDO}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what}: not UTF-8 JSON text (byte {exc.start} is 0x{raw[exc.start]:02x}; a binary "
            f"file such as a pickle?); {REDO}"
        ) from exc
    depth = _depth(raw)
    if depth > MAX_DEPTH:
        raise error(f"{what}: nested {depth} levels deep (at most {MAX_DEPTH}); {REDO}")
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise error(
            f"{what}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); {REDO}"
        ) from exc
    except (ValueError, RecursionError) as exc:  # a refused number, an integer of 4,300 digits
        message = " ".join(str(exc).split())[:200]
        raise error(f"{what}: {message}; {REDO}") from exc
    if not isinstance(data, dict):
        raise error(f"{what}: holds a JSON {type(data).__name__}, not an object; {REDO}")
    return data


def load_json(path: str | Path, error: type[CustsegError] = ModelError) -> dict[str, Any]:
    """Read a run file safely: a JSON object of bounded size and depth, finite numbers only."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(f"{path}: {size} bytes, more than a run file holds; {REDO}")
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc}); {REDO}") from exc
    return parse_json(raw, str(path), error)


# ---- schemas ------------------------------------------------------------------------------

_NAME: dict[str, Any] = {"type": "string", "maxLength": 1_000}
_TEXT: dict[str, Any] = {"type": "string", "maxLength": MAX_TEXT}
_NAMES: dict[str, Any] = {"type": "array", "items": _NAME, "maxItems": MAX_COLUMNS}
_NUMBER: dict[str, Any] = {"type": "number"}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_NUMBERS: dict[str, Any] = {"type": "array", "items": _NUMBER, "maxItems": MAX_COLUMNS}
_SEGMENT_KEY = f"^[1-9][0-9]{{0,{len(str(MAX_SEGMENTS)) - 1}}}$"
_K: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_SEGMENTS}
_DATE: dict[str, Any] = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
#: an as-of date, or none ("" or null: a customer table without dates)
_AS_OF: dict[str, Any] = {"anyOf": [{"type": "null"}, {"const": ""}, _DATE]}
_METRICS = ("silhouette", "calinski_harabasz", "davies_bouldin")


def _object(
    properties: Mapping[str, Any], required: tuple[str, ...] = (), **more: Any
) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(required), **more}


def _by_segment(value: Mapping[str, Any]) -> dict[str, Any]:
    """An object keyed by segment number ("1", "2"…) whose values are ``value``."""
    return {
        "type": "object",
        "patternProperties": {_SEGMENT_KEY: value},
        "additionalProperties": False,
        "maxProperties": MAX_SEGMENTS,
    }


def _of_metrics(value: Mapping[str, Any]) -> dict[str, Any]:
    return _object({key: value for key in _METRICS}, _METRICS)


_SELECTION = _object(
    {
        "ks": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_SEGMENTS},
            "minItems": 1,
            "maxItems": MAX_SEGMENTS,
            "uniqueItems": True,
        },
        **{m: {**_NUMBERS, "maxItems": MAX_SEGMENTS} for m in ("inertia", *_METRICS)},
        "knee": {"type": ["integer", "null"]},
        "chosen": _K,
        "forced": {"type": "boolean"},
        "reason": {
            "type": "object",
            "if": {"not": {"properties": {"forced": {"const": True}}, "required": ["forced"]}},
            "then": {
                "properties": {
                    "rule": {
                        "enum": [
                            "elbow",
                            "elbow_refined",
                            "elbow_stable",
                            "mean_rank",
                            "no_clear_k",
                        ]
                    },
                    "k": {"type": "integer"},
                    "knee": {"type": ["integer", "null"]},
                    "mean_rank": _NUMBER,
                    "candidates": _COUNT,
                    "ranks": _of_metrics({"type": "integer"}),
                    "values": _of_metrics(_NUMBER),
                    "knee_values": {"anyOf": [{"type": "null"}, _of_metrics(_NUMBER)]},
                    "best_by": _of_metrics({"type": "integer"}),
                },
                "required": [
                    "rule",
                    "k",
                    "knee",
                    "mean_rank",
                    "candidates",
                    "ranks",
                    "values",
                    "knee_values",
                    "best_by",
                ],
            },
        },
        "sample": {
            "type": "object",
            "additionalProperties": _COUNT,
            "required": ["customers", "sweep", "silhouette"],
        },
        "stability": {
            "type": "array",
            "items": {"type": ["number", "null"]},
            "maxItems": MAX_SEGMENTS,
        },
    },
    ("ks", "inertia", *_METRICS, "knee", "chosen", "forced", "reason", "sample"),
    additionalProperties=False,
)

_MATRIX: dict[str, Any] = {"type": "array", "items": _NUMBERS, "maxItems": MAX_ITEMS}
#: how a model other than K-Means gives customers their segment (``scoring`` of the model part;
#: absent for K-Means, which scores by nearest centroid)
_SCORING = _object(
    {
        "rule": {"enum": ["nearest-centroid", "gaussian-posterior", "core-within-radius"]},
        "statement": _TEXT,
        "method": _object(
            {
                "algorithm": _NAME,
                "label": _NAME,
                "rule": _NAME,
                "parameters": {
                    "type": "object",
                    "additionalProperties": {"type": ["number", "string", "boolean", "null"]},
                    "maxProperties": 100,
                },
            },
            ("algorithm", "label", "rule"),
        ),
        "noise_segment": {"anyOf": [{"type": "null"}, _K]},
        "mixture": _object(
            {
                "weights": _NUMBERS,
                "means": _MATRIX,
                "covariances": {"type": "array", "items": _MATRIX, "maxItems": MAX_SEGMENTS},
            },
            ("weights", "means", "covariances"),
            additionalProperties=False,
        ),
        "core": _object(
            {
                "points": _MATRIX,
                "segments": {"type": "array", "items": _K, "maxItems": MAX_ITEMS},
                "radius": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 0},
                    "maxItems": MAX_ITEMS,
                },
            },
            ("points", "segments", "radius"),
            additionalProperties=False,
        ),
    },
    ("rule", "statement", "method", "noise_segment"),
    additionalProperties=False,
)

#: the ``model`` part of model.json (:mod:`custseg.model.persistence`)
MODEL: dict[str, Any] = _object(
    {
        "format": {"enum": list(MODEL_FORMATS)},
        "params": _object(
            {
                "features": {"anyOf": [{"type": "null"}, _NAMES]},
                "categorical": _NAMES,
                "k": {"anyOf": [{"type": "null"}, _K]},
                "k_min": {"type": "integer", "minimum": 2, "maximum": MAX_SEGMENTS},
                "k_max": {"type": "integer", "minimum": 2, "maximum": MAX_SEGMENTS},
                "n_init": {"type": "integer", "minimum": 1, "maximum": 10_000},
                "random_state": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**32 - 1},
                "sweep_sample": {"type": "integer", "minimum": 2, "maximum": 2**63 - 1},
                "silhouette_sample": {"type": "integer", "minimum": 2, "maximum": 2**63 - 1},
                "algorithm": _NAME,
            },
            (
                "features",
                "k",
                "k_min",
                "k_max",
                "n_init",
                "random_state",
                "sweep_sample",
                "silhouette_sample",
            ),
        ),
        "feature_names_in": {"anyOf": [{"type": "null"}, _NAMES]},
        "transform": _object(
            {
                "steps": {"type": "array", "items": _NAME, "maxItems": 100},
                "lower": {"type": "array", "items": {"type": ["number", "null"]}},
                "lambdas": _NUMBERS,
                "mean": _NUMBERS,
                "scale": {
                    "type": "array",
                    "items": {"type": "number", "exclusiveMinimum": 0},
                    "maxItems": MAX_COLUMNS,
                },
            },
            ("steps", "lower", "lambdas", "mean", "scale"),
        ),
        "categories": {"type": "object", "additionalProperties": _NAMES},
        "value_feature": {"anyOf": [{"type": "null"}, _NAME]},
        "k": _K,
        "centroids": {
            "type": "array",
            "items": _NUMBERS,
            "minItems": 1,
            "maxItems": MAX_SEGMENTS,
        },
        "segments": _by_segment(_NAME),
        "rfm_edges": {"type": "object", "additionalProperties": _NUMBERS},
        "rfm_grid": {
            "type": "array",
            "maxItems": 1_000,
            "items": _object(
                {
                    "slug": _NAME,
                    **{
                        key: {
                            "type": "array",
                            "items": {"type": "integer", "minimum": 1, "maximum": 5},
                            "minItems": 2,
                            "maxItems": 2,
                        }
                        for key in ("r", "f")
                    },
                },
                ("slug", "r", "f"),
            ),
        },
        "selection": {"anyOf": [{"type": "null"}, _SELECTION]},
        "versions": {"type": "object", "additionalProperties": _NAME},
        "scoring": _SCORING,
    },
    ("format", "params", "transform", "k", "centroids", "segments"),
    **{
        "if": {"properties": {"format": {"const": MODEL_FORMAT}}},
        "then": {"required": ["feature_names_in"]},
    },
)

_COLUMN_DEF = _object(
    {
        "name": _NAME,
        "op": _NAME,
        "sources": _NAMES,
        "total": _NAME,
        "optional": {"type": "boolean"},
        "vocabulary": _NAMES,
        "seen": _NAMES,
        "rare": _NAMES,
    },
    ("name", "op", "sources"),
)

#: the ``preparation`` part of a customer-table model.json
#: (:class:`custseg.stages.customers.CustomerPreparation`)
PREPARATION: dict[str, Any] = _object(
    {
        "format": {"const": "custseg.customer-preparation/1"},
        "rules": _object(
            {
                "outliers": {"enum": ["clip", "drop", "keep"]},
                "outlier_iqr": _NUMBER,
                "rare_share": _NUMBER,
                "max_categories": _COUNT,
                "max_age": _NUMBER,
            },
        ),
        "roles": {
            "type": "object",
            "additionalProperties": {
                "anyOf": [
                    _NAME,
                    _NAMES,
                    {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                ]
            },
        },
        "reading": {
            "type": "object",
            "maxProperties": MAX_COLUMNS,
            "additionalProperties": _object({"parse": _NAME}, ("parse",)),
        },
        "id": {"anyOf": [{"type": "null"}, _NAME]},
        "enrolment": {
            "anyOf": [
                {"type": "null"},
                _object({"column": _NAME, "numbers": {"type": ["string", "null"]}}, ("column",)),
            ]
        },
        "as_of": _AS_OF,
        "columns": {"type": "array", "items": _COLUMN_DEF, "maxItems": MAX_COLUMNS},
        "numeric": _NAMES,
        "categorical": _NAMES,
        "label": {"anyOf": [{"type": "null"}, _NAME]},
        "outcomes": _NAMES,
        "fences": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "items": _NUMBER,
                "minItems": 2,
                "maxItems": 2,
            },
        },
        "medians": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
    },
    (
        "format",
        "rules",
        "roles",
        "reading",
        "id",
        "enrolment",
        "as_of",
        "columns",
        "numeric",
        "categorical",
        "label",
        "outcomes",
        "fences",
        "medians",
    ),
)

#: a run's model.json (:meth:`custseg.pipeline.SegmentationResult.model_document`)
RUN: dict[str, Any] = _object(
    {
        "format": {"const": RUN_FORMAT},
        "kind": {"enum": ["transactions", "customers"]},
        "input": _object(
            {"name": _TEXT, "rows": _COUNT, "bytes": _COUNT, "sha256": _NAME}, ("name",)
        ),
        "as_of": _AS_OF,
        "columns": {"type": "object", "additionalProperties": _NAME},
        "cleaning_rules": {"type": ["object", "null"]},
        "features": {"type": "object", "additionalProperties": _TEXT},
        "preparation": PREPARATION,
        "lang": {"enum": ["en", "fr"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "segment_names": _by_segment(_TEXT),
        "personas": {"type": "object"},
        "external_validity": {"type": ["object", "null"]},
        "verdict": _TEXT,
        "model": MODEL,
        "rules": _object(
            {
                "method": _NAME,
                "features": _NAMES,
                "k": _K,
                "tree": {"type": "object"},
                "fidelity": _NUMBER,
                "price": _NUMBER,
                "counts": _by_segment(_object({"rule": _COUNT, "segment": _COUNT, "both": _COUNT})),
            },
            ("method", "features", "k", "tree", "fidelity", "price"),
        ),
    },
    (
        "format",
        "kind",
        "input",
        "as_of",
        "cleaning_rules",
        "lang",
        "segment_names",
        "verdict",
        "model",
    ),
    allOf=[
        {
            "if": {"properties": {"kind": {"const": "customers"}}},
            "then": {"required": ["preparation"]},
        },
        {
            "if": {"properties": {"kind": {"const": "transactions"}}},
            "then": {
                "required": ["columns", "cleaning_rules"],
                "properties": {
                    "as_of": _DATE,
                    "cleaning_rules": _object(
                        {
                            "cancellation_prefix": _NAME,
                            "adjustment_pattern": _NAME,
                            "adjustment_descriptions": _NAMES,
                            "non_product_codes": _NAMES,
                            "non_product_pattern": _NAME,
                            "extreme_iqr": _NUMBER,
                        },
                        (
                            "cancellation_prefix",
                            "adjustment_pattern",
                            "adjustment_descriptions",
                            "non_product_codes",
                            "non_product_pattern",
                            "extreme_iqr",
                        ),
                    ),
                },
            },
        },
    ],
)

_GROUP = _object(
    {
        "name": {"enum": ["repeat", "one_time"]},
        "frequency": _object(
            {
                "min": {"type": "integer", "minimum": 1},
                "max": {"type": ["integer", "null"], "minimum": 1},
            },
            ("min", "max"),
            additionalProperties=False,
        ),
        "customers": _COUNT,
        "first_segment": _K,
        "k": _K,
        "features": {**_NAMES, "minItems": 1},
        "left_out": {"type": "object", "additionalProperties": _NAME},
        "too_small": {"type": "boolean"},
        "segment_names": _by_segment(_TEXT),
        "verdict": _TEXT,
        "model": MODEL,
    },
    (
        "name",
        "frequency",
        "customers",
        "first_segment",
        "k",
        "features",
        "left_out",
        "too_small",
        "segment_names",
        "verdict",
        "model",
    ),
    additionalProperties=False,
)

#: the model.json of a run split by lifecycle (:class:`custseg.pipeline.SplitResult`): the
#: input, cleaning and as-of date of a transactions run, then ``split``: the feature that
#: routes a customer (``frequency``, their purchase invoices) and one group per range of it,
#: each with its own fitted model (:data:`MODEL`), segment numbers ``first_segment`` …
#: ``first_segment + k - 1`` of the run, names and verdict. A scorer computes a customer's
#: features, finds the group whose ``frequency`` range holds it, and predicts with that
#: group's model (segment = ``first_segment`` + label); see :func:`check_split`.
SPLIT_RUN: dict[str, Any] = _object(
    {
        **{
            key: RUN["properties"][key]
            for key in ("input", "columns", "features", "lang", "currency")
        },
        "format": {"const": SPLIT_RUN_FORMAT},
        "kind": {"const": "transactions"},
        "as_of": _DATE,
        "cleaning_rules": RUN["allOf"][1]["then"]["properties"]["cleaning_rules"],
        "segment_names": _by_segment(_TEXT),
        "personas": {"type": "object"},
        "verdict": _TEXT,
        "split": _object(
            {
                "by": {"const": "lifecycle"},
                "feature": {"const": "frequency"},
                "groups": {"type": "array", "items": _GROUP, "minItems": 1, "maxItems": 2},
            },
            ("by", "feature", "groups"),
            additionalProperties=False,
        ),
    },
    (
        "format",
        "kind",
        "input",
        "as_of",
        "columns",
        "cleaning_rules",
        "lang",
        "segment_names",
        "verdict",
        "split",
    ),
)

_MEASURES = ("quantity", "price", "line_value")
_FLAGGED = _object(
    {
        "threshold": {"type": ["number", "null"]},
        "lines": _COUNT,
        "largest": {
            "type": "array",
            "maxItems": 1_000,
            "items": _object(
                {"invoice": _TEXT, "customer_id": _TEXT, "value": {"type": ["number", "null"]}},
                ("invoice", "customer_id", "value"),
            ),
        },
    },
    ("threshold", "lines", "largest"),
)

#: a run's audit.json (:meth:`custseg.stages.ledger.Ledger.to_dict`), as the report reads it
AUDIT: dict[str, Any] = _object(
    {
        "source": _TEXT,
        "input_rows": {**_COUNT, "minimum": 1},
        "kept_rows": _COUNT,
        "dropped": {"type": "object", "additionalProperties": _COUNT, "maxProperties": 1_000},
        "money": _object(
            {
                "input_total": {"type": ["number", "null"]},
                "kept_net": {"type": ["number", "null"]},
                "dropped_by_reason": {
                    "type": "object",
                    "additionalProperties": {"type": ["number", "null"]},
                },
            }
        ),
        "as_of": _AS_OF,
        "period": _object(
            {key: {"type": ["string", "null"]} for key in ("first", "last")}, ("first", "last")
        ),
        "customers": _COUNT,
        "flagged": {
            "type": "object",
            "propertyNames": {"enum": list(_MEASURES)},
            "additionalProperties": _FLAGGED,
        },
    },
    ("input_rows", "kept_rows", "dropped", "flagged"),
    **{
        "if": {"properties": {"money": {"required": ["dropped_by_reason"]}}, "required": ["money"]},
        "then": {"properties": {"money": {"required": ["input_total", "kept_net"]}}},
    },
)

_DISTRIBUTION = _object(
    {
        "n": _COUNT,
        "box": _object(
            {
                key: {"type": ["number", "null"]}
                for key in ("min", "lowerfence", "q1", "median", "q3", "upperfence", "max", "mean")
            },
            ("lowerfence", "q1", "median", "q3", "upperfence", "mean"),
        ),
        "bins_per_decade": {"type": "integer", "minimum": 1, "maximum": 1_000},
        "histogram": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "array",
                "prefixItems": [{"type": "integer"}, _COUNT],
                "minItems": 2,
                "maxItems": 2,
            },
        },
    },
    ("box", "bins_per_decade", "histogram"),
)
_PLACE = {"customers": _COUNT, "revenue": {"type": ["number", "null"]}}

#: a run's exploration.json (:func:`custseg.stages.quality.summary`), as the report reads it
EXPLORATION: dict[str, Any] = _object(
    {
        "format": {"const": "custseg.exploration/1"},
        "distributions": {
            "type": "object",
            "propertyNames": {"enum": ["quantity", "price", "order_value"]},
            "additionalProperties": {"anyOf": [{"type": "null"}, _DISTRIBUTION]},
        },
        "countries": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": _object({"country": _TEXT, **_PLACE}, ("country", "customers", "revenue")),
        },
        "other_countries": {
            "anyOf": [
                {"type": "null"},
                _object({"countries": _COUNT, **_PLACE}, ("countries", "customers", "revenue")),
            ]
        },
        "has_country": {"type": "boolean"},
        "months": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": _object(
                {"month": _TEXT, "orders": _COUNT, "revenue": {"type": ["number", "null"]}},
                ("month", "orders", "revenue"),
            ),
        },
    },
    ("format", "distributions", "countries", "months"),
)

#: every document's schema, by the file name it is read from
SCHEMAS: dict[str, dict[str, Any]] = {
    "model.json": RUN,
    "split-run": SPLIT_RUN,
    "model": MODEL,
    "preparation": PREPARATION,
    "audit.json": AUDIT,
    "exploration.json": EXPLORATION,
}


@cache
def _validator(name: str) -> Any:
    """The validator of one of :data:`SCHEMAS`. The schemas are constants of this module,
    checked against the JSON Schema meta-schema by the tests (``check_schema``) rather than
    on every run: the check took 0.2 s of each ``custseg run`` and ``custseg report``."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SCHEMAS[name])


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if value is not None else "null"
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(error: Any) -> str:
    """One line for a jsonschema error: where, what was found, what was expected."""
    where = error.json_path
    kind, expected, found = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [k for k in expected if isinstance(found, dict) and k not in found]
        return f"{where} lacks {', '.join(map(repr, missing or expected))}"
    if kind == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        return f"{where} is {_short(found)}, not of type {wanted}"
    if kind in {"enum", "const"}:
        allowed = expected if kind == "enum" else [expected]
        return f"{where} is {_short(found)}, expected one of {', '.join(map(_short, allowed))}"
    if kind in {"maxItems", "maxLength", "maxProperties"}:
        return f"{where} is too large (at most {expected} items or characters)"
    if kind in {"minItems", "minLength"}:
        return f"{where} is too short (at least {expected} items)"
    if kind in {"additionalProperties", "patternProperties", "propertyNames"}:
        return f"{where} has an unexpected key ({' '.join(error.message.split())[:120]})"
    if kind in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return f"{where} is {_short(found)}, out of range ({kind} {expected})"
    return f"{where} is {_short(found)}, which is not valid ({kind})"


def validate(
    data: Any, name: str, what: str | None = None, error: type[CustsegError] = ModelError
) -> None:
    """Check ``data`` against the schema of ``name`` (a key of :data:`SCHEMAS`).

    Raises ``error`` (one line: ``what`` — the file — the place in the document, the fault and
    what to do). The cross-field checks of :func:`check_model` and :func:`check_exploration`
    run too.
    """
    from jsonschema.exceptions import best_match

    what = what or name
    if not isinstance(data, dict):
        raise error(f"{what}: holds a JSON {type(data).__name__}, not an object; {REDO}")
    if name == "model.json" and data.get("format") == SPLIT_RUN_FORMAT:
        name = "split-run"
    found = best_match(_validator(name).iter_errors(data))
    if found is not None:
        raise error(f"{what}: {_describe(found)}; {REDO}")
    try:
        if name == "model.json":
            check_model(data["model"], "$.model")
        elif name == "split-run":
            check_split(data)
        elif name == "model":
            check_model(data)
        elif name == "audit.json":
            check_audit(data)
        elif name == "exploration.json":
            check_exploration(data)
    except ModelError as exc:
        raise error(f"{what}: {exc}; {REDO}") from exc


def check_model(model: Mapping[str, Any], at: str = "$") -> None:
    """Facts of a (schema-valid) model part that relate two fields; raise :class:`ModelError`.

    ``at`` is the place of the model part in its document (``$.model`` in a run's model.json).
    """
    k = model["k"]
    centroids = model["centroids"]
    tr = model["transform"]
    width = len(tr["lambdas"])

    def inconsistent(what: str) -> ModelError:
        return ModelError(f"{at}.{what}: the model is inconsistent")

    for part in ("lower", "mean", "scale"):
        if len(tr[part]) != width:
            raise inconsistent(f"transform.{part} has {len(tr[part])} values for {width} features")
    n_out = width + sum(len(v) for v in model.get("categories", {}).values())
    if len(centroids) != k or any(len(row) != n_out for row in centroids):
        raise inconsistent(f"centroids is not {k} rows of {n_out} numbers (k × features)")
    if sorted(int(s) for s in model["segments"]) != list(range(1, k + 1)):
        raise inconsistent(f"segments does not name segments 1 to {k}")
    _check_scoring(model.get("scoring"), k, n_out, inconsistent)
    sel = model.get("selection")
    if sel:
        n = len(sel["ks"])
        for part in ("inertia", *_METRICS):
            if len(sel[part]) != n:
                raise inconsistent(f"selection.{part} has {len(sel[part])} values for {n} k")
        if sel.get("stability") and len(sel["stability"]) != n:
            raise inconsistent(f"selection.stability has {len(sel['stability'])} values for {n} k")
        if sel["chosen"] != k:
            raise inconsistent(f"selection.chosen is {sel['chosen']}, not k = {k}")


def check_split(doc: Mapping[str, Any]) -> None:
    """Facts of a (schema-valid) split run's model.json that relate two fields.

    Every group's model is consistent (:func:`check_model`) and clusters on the ``features``
    it lists; the groups' ``frequency`` ranges do not overlap; their segments follow each
    other from 1 (``first_segment``, ``k``) and ``segment_names`` names each of them once.
    """
    groups = doc["split"]["groups"]
    expected = 1
    ranges: list[tuple[int, float]] = []
    names = [g["name"] for g in groups]
    if len(set(names)) < len(names):
        raise ModelError("$.split.groups names a group twice")
    for i, g in enumerate(groups):
        at = f"$.split.groups[{i}]"
        check_model(g["model"], f"{at}.model")
        if g["k"] != g["model"]["k"]:
            raise ModelError(f"{at}.k is {g['k']}, its model has k = {g['model']['k']}")
        if g["first_segment"] != expected:
            raise ModelError(f"{at}.first_segment is {g['first_segment']}, expected {expected}")
        own = list(range(expected, expected + g["k"]))
        if sorted(int(s) for s in g["segment_names"]) != own:
            raise ModelError(f"{at}.segment_names does not name segments {own[0]} to {own[-1]}")
        if g["model"]["params"]["features"] != g["features"]:
            raise ModelError(f"{at}.features differ from its model's features")
        low, high = g["frequency"]["min"], g["frequency"]["max"]
        top = math.inf if high is None else high
        if top < low:
            raise ModelError(f"{at}.frequency has max {high} below min {low}")
        if any(low <= b and a <= top for a, b in ranges):
            raise ModelError(f"{at}.frequency overlaps the range of another group")
        ranges.append((low, top))
        expected += g["k"]
    if sorted(int(s) for s in doc["segment_names"]) != list(range(1, expected)):
        raise ModelError(f"$.segment_names does not name segments 1 to {expected - 1}")


def _check_scoring(
    scoring: Mapping[str, Any] | None, k: int, n_out: int, inconsistent: Any
) -> None:
    """Shapes of a model's ``scoring`` part against k and the width of the scaled space."""
    if not scoring:
        return
    rule = scoring["rule"]
    if rule == "gaussian-posterior":
        mix = scoring.get("mixture")
        if not mix:
            raise inconsistent("scoring.mixture is missing for the gaussian-posterior rule")
        if len(mix["weights"]) != k or any(w <= 0 for w in mix["weights"]):
            raise inconsistent(f"scoring.mixture.weights is not {k} positive numbers")
        if len(mix["means"]) != k or any(len(r) != n_out for r in mix["means"]):
            raise inconsistent(f"scoring.mixture.means is not {k} rows of {n_out} numbers")
        cov = mix["covariances"]
        if len(cov) != k or any(len(c) != n_out or any(len(r) != n_out for r in c) for c in cov):
            raise inconsistent(f"scoring.mixture.covariances is not {k} matrices {n_out} × {n_out}")
    elif rule == "core-within-radius":
        core, noise = scoring.get("core"), scoring.get("noise_segment")
        if not core or noise != k:
            raise inconsistent(f"scoring needs core points and noise_segment = k = {k}")
        m = len(core["points"])
        if not m or any(len(r) != n_out for r in core["points"]):
            raise inconsistent(f"scoring.core.points is not rows of {n_out} numbers")
        if len(core["segments"]) != m or len(core["radius"]) != m:
            raise inconsistent(f"scoring.core.segments and radius do not have {m} values")
        if any(s >= k for s in core["segments"]):
            raise inconsistent(f"scoring.core.segments holds a segment outside 1 to {k - 1}")


def check_audit(audit: Mapping[str, Any]) -> None:
    """Facts of a (schema-valid) audit.json that relate two fields."""
    money = audit.get("money") or {}
    by_reason = money.get("dropped_by_reason")
    if by_reason is not None:
        missing = [r for r, n in audit["dropped"].items() if n and r not in by_reason]
        if missing:
            raise ModelError(f"$.money.dropped_by_reason lacks {', '.join(map(repr, missing))}")


def check_exploration(exploration: Mapping[str, Any]) -> None:
    """Facts of a (schema-valid) exploration.json that relate two fields."""
    for name, dist in exploration["distributions"].items():
        if dist is None:
            continue
        per = dist["bins_per_decade"]
        if any(abs(b) > 300 * per for b, _ in dist["histogram"]):
            raise ModelError(f"$.distributions.{name}.histogram has a bin beyond 10^±300")
