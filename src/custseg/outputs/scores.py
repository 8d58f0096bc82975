"""A score folder: new customers scored by a run, written together and sealed like a run.

:func:`score` reads a run (its folder, checked against its seal, or the ``model.json`` inside
one), scores the customers of a new input with it (:mod:`custseg.lifecycle.score`) and, given
``out``, writes :data:`SCORE_FILES` there atomically (staged beside ``out``, sealed by
``manifest.json``, swapped in whole: see :mod:`custseg.outputs.folder`).
"""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.errors import InputError
from custseg.lifecycle.score import Scores
from custseg.lifecycle.score import score as score_rows
from custseg.model import schema
from custseg.model.run import RunModel
from custseg.outputs.files import write_csv, write_json, write_parquet, write_text
from custseg.outputs.folder import prepare_out
from custseg.pipeline import check_as_of
from custseg.report.drift import render_drift
from custseg.report.manifest import open_run
from custseg.sources.inputs import choose_input

#: the files of a score folder, in the order they are written
SCORE_FILES = ("scores.parquet", "scores.csv", "audit.json", "drift.json", "drift.html")


def read_run(model: str | os.PathLike[str]) -> tuple[RunModel, pd.DataFrame, str]:
    """The fitted chain of a run, its training customers (``segments.parquet``) and its
    language, from the run folder or the ``model.json`` inside it (the folder's seal checked)."""
    path = Path(model)
    folder = path if path.is_dir() else path.parent
    if not path.exists():
        raise InputError(f"{model}: no such run folder or model.json; give a custseg run's --out")
    try:
        _, data = open_run(folder, ("model.json", "segments.parquet"), os.fspath(folder))
    except InputError as exc:
        raise InputError(
            f"{exc}; scoring needs the run folder (its model.json and segments.parquet, "
            "the training customers the drift is measured against)"
        ) from None
    doc = schema.parse_json(data["model.json"], f"{folder}/model.json")
    run_model = RunModel.from_document(doc, f"{folder}/model.json")
    training = pd.read_parquet(io.BytesIO(data["segments.parquet"]))
    return run_model, training, str(doc.get("lang") or "en")


def score(
    model: str | os.PathLike[str],
    source: str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str] | None = None,
    *,
    as_of: date | str | None = None,
    mapping: dict[str, str] | None = None,
    lang: str | None = None,
    engine: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> Scores:
    """Score the customers of ``source`` with the run ``model``; with ``out``, write them.

    Parameters
    ----------
    model : a run folder (``custseg run --out``) or its ``model.json``.
    source : new transaction lines, or a customer table for a customer-table run (a path or
        a DataFrame).
    out : folder for ``scores.parquet``, ``scores.csv`` (customer_id, features, segment,
        segment_name, distance, far), ``audit.json`` (the ledger of ``source``),
        ``drift.json`` and ``drift.html``; ``None`` writes nothing.
    as_of : transactions: features as of this date (default: the day after the last kept
        line of ``source``); customer tables: ages and seniorities as of it (default: the run's).
    mapping : canonical → column of ``source``, where its columns are named otherwise.
    lang : language of the drift page (default: the run's).
    engine, table, query : the engine that reads ``source`` and runs the run's cleaning and
        features (default ``duckdb``); a ``postgresql://`` URL as ``source``, with the
        ``table`` or the ``query`` giving the lines, runs them inside PostgreSQL (as
        :func:`custseg.segment`). The scoring itself reads ``model.json`` in Python either way.

    Examples
    --------
    >>> import tempfile, custseg
    >>> from custseg.datasets import make_transactions
    >>> lines, _ = make_transactions(60, seed=5)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run = custseg.run(lines, tmp + "/run", seed=0, k=3)
    ...     scored = custseg.score(tmp + "/run", lines, tmp + "/scores")
    ...     files = sorted(os.listdir(tmp + "/scores"))
    >>> files
    ['audit.json', 'drift.html', 'drift.json', 'manifest.json', 'scores.csv', 'scores.parquet']
    >>> scored.table["segment"].tolist() == run.segments["segment"].tolist()
    True
    """
    when = check_as_of(as_of)
    found = choose_input(source, engine=engine, table=table, query=query)
    run_model, training, run_lang = read_run(model)
    lang = lang or run_lang
    staging = None
    if out is not None:
        staging = prepare_out(out, found.paths, files=SCORE_FILES)
    try:
        scores = score_rows(
            run_model,
            source,
            training,
            as_of=when,
            mapping=mapping,
            engine=found.engine,
            table=table,
            query=query,
        )
        if staging is not None:
            write_scores(scores, staging.folder, lang)
            staging.commit()
    finally:
        if staging is not None:
            staging.close()
    return scores


def drift_document(scores: Scores) -> dict[str, Any]:
    """The content of ``drift.json``."""
    return {
        "format": "custseg.drift/1",
        "kind": scores.kind,
        "as_of": scores.as_of,
        "source": scores.ledger.get("source"),
        **scores.drift,
    }


def write_scores(scores: Scores, folder: Path, lang: str) -> None:
    """Write the files of :data:`SCORE_FILES` into ``folder``."""
    try:
        write_parquet(folder / "scores.parquet", scores.table)
        write_csv(folder / "scores.csv", scores.table)
        write_json(folder / "audit.json", scores.ledger)
        doc = drift_document(scores)
        write_json(folder / "drift.json", doc)
        write_text(folder / "drift.html", render_drift(doc, lang))
    except OSError as exc:
        raise InputError(
            f"--out {folder.parent}: the scores could not be written ({exc.strerror or exc}); "
            "free some space or choose another folder"
        ) from None
