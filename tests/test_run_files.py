"""Run files read back safely (issue 12): tampered, truncated or hostile model.json, audit.json
and exploration.json give one-line errors, never a traceback; odd values in the model and report
path (a value near the largest float, identical customers, text in a numeric feature) too.

Everything runs the real library on small seeded tables; ``custseg report`` goes through typer's
:class:`~typer.testing.CliRunner`.
"""

from __future__ import annotations

import copy
import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.errors import CustsegError, InputError, ModelError
from custseg.model import persistence, schema
from custseg.report import manifest
from custseg.report.data import RunData, validate_run_documents
from custseg.report.html import render_run
from tests.test_customers import crm

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A transactions run and a customer-table run, each in its folder."""
    root = tmp_path_factory.mktemp("runs")
    lines, _ = make_transactions(60, seed=3)
    custseg.run(lines, root / "tx", seed=0, k=3)
    custseg.run(crm(120), root / "cu", seed=0)
    return {"tx": root / "tx", "cu": root / "cu"}


def _copy(runs: dict[str, Path], kind: str, tmp_path: Path) -> Path:
    folder = tmp_path / kind
    shutil.copytree(runs[kind], folder)
    return folder


def _report_fails(folder: Path, *needles: str) -> str:
    """``custseg report folder`` exits 1 with one line naming ``needles``; that line.

    The folder is sealed again first (as a run of another program, or a user who reseals after
    editing, would leave it), so that the file reaches its validation rather than the
    manifest's check (``tests/test_run_folder.py`` covers that one).
    """
    manifest.seal(folder)
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # typer's exit, not an exception
    message = " ".join(result.output.split())
    assert result.output.strip().count("\n") == 0, result.output
    assert message.startswith("error:"), message
    for needle in needles:
        assert needle in message, message
    return message


def _edit(path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _deep(n: int) -> str:
    return "[" * n + "]" * n


# ---- raw bytes: not JSON, not an object, not finite, too deep ----------------------------

RAW: dict[str, bytes] = {
    "pickle": pickle.dumps({"centroids": [[1.0]], "run": print}),
    "top-level list": b"[1, 2, 3]",
    "top-level string": b'"model"',
    "nested 100000 deep": _deep(100_000).encode(),
    "nested 100000 objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "empty": b"",
    "utf-16": '{"format": "custseg.run/1"}'.encode("utf-16"),
    "NaN": b'{"format": NaN}',
    "huge integer": b'{"k": ' + b"9" * 5_000 + b"}",
}


@pytest.mark.parametrize("name", ["model.json", "audit.json", "exploration.json"])
@pytest.mark.parametrize("form", sorted(RAW))
def test_a_run_file_that_is_not_a_json_object_is_one_line(
    runs: dict[str, Path], tmp_path: Path, name: str, form: str
) -> None:
    folder = _copy(runs, "tx", tmp_path)
    (folder / name).write_bytes(RAW[form])
    _report_fails(folder, name, "re-run custseg run")


def test_a_truncated_model_json_is_one_line(runs: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(runs, "tx", tmp_path)
    raw = (folder / "model.json").read_bytes()
    (folder / "model.json").write_bytes(raw[: len(raw) // 2])
    _report_fails(folder, "model.json", "not valid JSON", "line")
    with pytest.raises(ModelError, match="not valid JSON") as caught:
        custseg.load_model(folder)
    assert "\n" not in str(caught.value)


# ---- valid JSON, wrong content ---------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


MODEL_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "centroids of text": (_set(("model", "centroids"), "abc"), "$.model.centroids"),
    "a centroid of text": (_set(("model", "centroids", 0, 1), "x"), "$.model.centroids[0][1]"),
    "centroids one short": (_set(("model", "centroids"), [[0.0, 0.0, 0.0]]), "centroids"),
    "centroid row too wide": (_set(("model", "centroids", 0), [0.0] * 4), "centroids"),
    "k as text": (_set(("model", "k"), "3"), "$.model.k"),
    "k huge": (_set(("model", "k"), 10**9), "$.model.k"),
    "scale zero": (_set(("model", "transform", "scale", 0), 0), "scale"),
    "lambdas short": (_set(("model", "transform", "lambdas"), [1.0]), "transform"),
    "no model": (_drop(("model",)), "model"),
    "no centroids": (_drop(("model", "centroids")), "centroids"),
    "no input": (_drop(("input",)), "input"),
    "model a list": (_set(("model",), []), "$.model"),
    "params k_min negative": (_set(("model", "params", "k_min"), -1), "k_min"),
    "features a string": (_set(("model", "params", "features"), "recency_days"), "features"),
    "segments not 1..k": (_set(("model", "segments"), {"1": "a", "2": "b", "7": "c"}), "segments"),
    "segment key not a number": (_set(("segment_names", "x"), "y"), "segment_names"),
    "unknown language": (_set(("lang",), "xx"), "$.lang"),
    "unknown kind": (_set(("kind",), "pickle"), "kind"),
    "wrong format": (_set(("format",), "custseg.run/9"), "format"),
    "selection unknown key": (_set(("model", "selection", "run"), "rm -rf /"), "selection"),
    "selection lengths differ": (_set(("model", "selection", "silhouette"), [0.1]), "selection"),
    "selection reason a list": (_set(("model", "selection", "reason"), []), "reason"),
    "long string": (_set(("verdict",), "x" * 200_000), "verdict"),
    "as_of not a date": (_set(("as_of",), 20111209), "as_of"),
    "cleaning rules missing": (_drop(("cleaning_rules",)), "cleaning_rules"),
    "rule of wrong type": (_set(("cleaning_rules", "extreme_iqr"), "3"), "extreme_iqr"),
}


@pytest.mark.parametrize("edit", sorted(MODEL_EDITS))
def test_a_tampered_model_json_is_one_line(
    runs: dict[str, Path], tmp_path: Path, edit: str
) -> None:
    change, place = MODEL_EDITS[edit]
    folder = _copy(runs, "tx", tmp_path)
    _edit(folder / "model.json", change)
    message = _report_fails(folder, "model.json", place)
    assert len(message) < 400
    with pytest.raises(ModelError) as caught:
        custseg.load_model(folder)
    assert "\n" not in str(caught.value) and "model.json" in str(caught.value)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_centroids_are_refused(
    runs: dict[str, Path], tmp_path: Path, token: str
) -> None:
    folder = _copy(runs, "tx", tmp_path)
    path = folder / "model.json"
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    first = doc["model"]["centroids"][0][0]
    assert text.count(repr(first)) == 1
    path.write_text(text.replace(repr(first), token), encoding="utf-8")
    _report_fails(folder, "model.json", "finite" if "Inf" in token or token == "NaN" else "large")
    with pytest.raises(ModelError, match=r"model\.json"):
        custseg.load_model(folder)
    with pytest.raises(ModelError, match=r"model\.json"):
        persistence.load(path)


def test_a_tampered_customer_preparation_is_one_line(runs: dict[str, Path], tmp_path: Path) -> None:
    for change, place in [
        (_set(("preparation", "columns"), "age"), "$.preparation.columns"),
        (_set(("preparation", "fences", "age"), [1]), "fences"),
        (_drop(("preparation",)), "preparation"),
        (_set(("preparation", "rules", "outliers"), "eval"), "outliers"),
        (_set(("preparation", "medians", "age"), "1"), "medians"),
    ]:
        folder = _copy(runs, "cu", tmp_path / str(len(list(tmp_path.iterdir()))))
        _edit(folder / "model.json", change)
        _report_fails(folder, "model.json", place)
        with pytest.raises(ModelError, match=place.replace("$", r"\$").replace(".", r"\.")):
            custseg.load_model(folder)


AUDIT_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "input rows zero": (_set(("input_rows",), 0), "input_rows"),
    "input rows text": (_set(("input_rows",), "many"), "input_rows"),
    "dropped a list": (_set(("dropped",), [1]), "dropped"),
    "flagged unknown measure": (
        _set(("flagged", "pickle"), {"threshold": 1, "lines": 0, "largest": []}),
        "flagged",
    ),
    "flagged largest of text": (_set(("flagged", "price", "largest"), "x"), "largest"),
    "money reason missing": (_set(("money", "dropped_by_reason"), {}), "dropped_by_reason"),
    "money a number": (_set(("money",), 3), "money"),
    "period a string": (_set(("period",), "2011"), "period"),
    "no flagged": (_drop(("flagged",)), "flagged"),
}


@pytest.mark.parametrize("edit", sorted(AUDIT_EDITS))
def test_a_tampered_audit_json_is_one_line(
    runs: dict[str, Path], tmp_path: Path, edit: str
) -> None:
    change, place = AUDIT_EDITS[edit]
    folder = _copy(runs, "tx", tmp_path)
    _edit(folder / "audit.json", change)
    _report_fails(folder, "audit.json", place)


EXPLORATION_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "bin beyond floats": (
        _set(("distributions", "price", "histogram"), [[10**6, 3]]),
        "histogram",
    ),
    "unknown distribution": (_set(("distributions", "eval"), None), "distributions"),
    "box without median": (_drop(("distributions", "price", "box", "median")), "median"),
    "months an object": (_set(("months",), {}), "months"),
    "country without revenue": (_drop(("countries", 0, "revenue")), "revenue"),
    "no format": (_drop(("format",)), "format"),
}


@pytest.mark.parametrize("edit", sorted(EXPLORATION_EDITS))
def test_a_tampered_exploration_json_is_one_line(
    runs: dict[str, Path], tmp_path: Path, edit: str
) -> None:
    change, place = EXPLORATION_EDITS[edit]
    folder = _copy(runs, "tx", tmp_path)
    _edit(folder / "exploration.json", change)
    _report_fails(folder, "exploration.json", place)


def _paths(doc: Any, depth: int, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of ``doc`` down to ``depth`` levels (first item of each list only)."""
    found = [at] if at else []
    if depth == 0:
        return found
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, depth - 1, (*at, key))
    elif isinstance(doc, list) and doc:
        found += _paths(doc[0], depth - 1, (*at, 0))
    return found


#: mutations of each case rendered in full (a seeded sample of those the schemas accept; every
#: one of them, over five levels of model.json, rendered without a traceback when this was written)
RENDERED = 8


@pytest.mark.parametrize(
    ("kind", "name", "depth"),
    [
        ("tx", "model.json", 3),
        ("cu", "model.json", 2),
        ("tx", "audit.json", 3),
        ("cu", "audit.json", 2),
        ("tx", "exploration.json", 4),
    ],
)
def test_no_mutation_of_a_run_file_gives_a_traceback(
    runs: dict[str, Path], kind: str, name: str, depth: int
) -> None:
    """Every key deleted or replaced by a value of another type: the documents are either
    refused by :func:`validate_run_documents` with one line, or the report renders (checked on
    a seeded sample: rendering takes a tenth of a second)."""
    folder = runs[kind]
    base = RunData.from_dir(folder)
    docs = {"model.json": base.model_doc, "audit.json": base.audit, "exploration.json": None}
    docs["exploration.json"] = base.exploration
    accepted, refused = [], 0
    for path in _paths(docs[name], depth):
        for value in ("x", -1, 1e300, None, [], {}, [[1]], True, "delete"):
            doc = copy.deepcopy(docs[name])
            target = doc
            for key in path[:-1]:
                target = target[key]
            if value == "delete":
                if isinstance(target, list):
                    continue
                del target[path[-1]]
            else:
                target[path[-1]] = value
            run = RunData(base.segments, base.profiles, **_fields(docs, name, doc))
            try:
                validate_run_documents(run.model_doc, run.audit, run.exploration, folder=folder)
            except InputError as exc:
                assert "\n" not in str(exc) and name in str(exc)
                refused += 1
                continue
            accepted.append(run)
    assert refused > 0 and accepted
    rng = np.random.default_rng(0)
    for i in rng.choice(len(accepted), min(RENDERED, len(accepted)), replace=False):
        try:
            render_run(accepted[i])
        except CustsegError as exc:
            assert "\n" not in str(exc)


def _fields(docs: dict[str, Any], name: str, doc: Any) -> dict[str, Any]:
    fields = {
        "model_doc": docs["model.json"],
        "audit": docs["audit.json"],
        "exploration": docs["exploration.json"],
    }
    fields[{"model.json": "model_doc", "audit.json": "audit"}.get(name, "exploration")] = doc
    return fields


def test_the_real_run_files_pass_their_schemas(runs: dict[str, Path]) -> None:
    for folder in runs.values():
        for name in ("model.json", "audit.json", "exploration.json"):
            if (folder / name).is_file():
                schema.validate(schema.load_json(folder / name), name)
        assert custseg.load_model(folder).segmenter.k_ >= 2


def test_load_json_measures_depth_without_recursion(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"a": "' + "[" * 1_000 + '", "b": ' + _deep(schema.MAX_DEPTH - 1) + "}")
    assert schema.load_json(path)["a"].startswith("[[[")  # brackets inside strings do not count
    path.write_text('{"b": ' + _deep(schema.MAX_DEPTH) + "}")
    with pytest.raises(ModelError, match=r"nested 33 levels deep"):
        schema.load_json(path)
