"""Output folders of ``custseg track`` and ``custseg compare``, written whole or not at all.

:func:`track` and :func:`compare` compute (:mod:`custseg.lifecycle`), render the page
(:mod:`custseg.report.track`, :mod:`custseg.report.compare`) and write the folder ``out``:
its files are written as a run folder is (:func:`custseg.outputs.folder.prepare_out`): into
a hidden staging folder beside it, sealed by ``manifest.json`` (each file's size and SHA-256,
written last) and put in place of ``out`` whole. ``out`` is checked before any work: it must be
new, empty, or hold only the files of the same command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.errors import InputError
from custseg.lifecycle.compare import Comparison, Side, compare_runs
from custseg.lifecycle.track import TrackResult
from custseg.lifecycle.track import track as track_stability
from custseg.outputs.files import write_csv, write_json, write_text
from custseg.outputs.folder import Staging, prepare_out
from custseg.report.data import RunData
from custseg.sources.inputs import choose_input

#: the files of a track folder, and of a compare folder
TRACK_FILES = ("track.csv", "track.json", "migrations.csv", "track.html")
COMPARE_FILES = ("transitions.csv", "compare.json", "compare.html")


def write_folder(
    out: str | os.PathLike[str],
    writers: Mapping[str, Callable[[Path], object]],
    names: tuple[str, ...],
    inputs: tuple[Any, ...] = (),
) -> dict[str, Path]:
    """Write the files of ``writers`` (name → ``write(path)``) as the folder ``out``, as a run
    folder is written (:func:`custseg.outputs.folder.prepare_out`: staged beside ``out``,
    sealed by ``manifest.json``, put in place whole). Returns each file's path."""
    staging = open_out(out, names, inputs)
    try:
        write_into(staging, writers)
    finally:
        staging.close()
    return {name: Path(os.fspath(out)) / name for name in writers}


def open_out(
    out: str | os.PathLike[str], names: tuple[str, ...], inputs: tuple[Any, ...] = ()
) -> Staging:
    """``out`` checked before any work (new, empty, or holding only ``names``, and none of
    ``inputs``) and its staging folder opened."""
    sources = tuple(s for s in inputs if isinstance(s, str | os.PathLike))
    return prepare_out(out, sources, files=names)


def write_into(staging: Staging, writers: Mapping[str, Callable[[Path], object]]) -> None:
    """Write the files into the staging folder, then seal it and put it in place."""
    try:
        for name, write in writers.items():
            write(staging.folder / name)
    except OSError as exc:
        raise InputError(
            f"--out {staging.shown}: the files could not be written ({exc.strerror or exc}); "
            "free some space or choose another folder"
        ) from None
    staging.commit()


def migrations_table(result: TrackResult) -> pd.DataFrame:
    """Every migration between consecutive dates, one row per (from, to, segment pair)."""
    frames = []
    dates = result.steps["as_of"].tolist()
    for i, move in enumerate(result.migrations):
        table = move.table()
        table.insert(0, "to", dates[i + 1])
        table.insert(0, "from", dates[i])
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def save_track(result: TrackResult, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``track.csv``, ``track.json``, ``migrations.csv`` and ``track.html`` into ``out``."""
    return write_folder(out, _track_writers(result), TRACK_FILES)


def _track_writers(result: TrackResult) -> dict[str, Callable[[Path], object]]:
    from custseg.report.track import render_track

    html = render_track(result)
    return {
        "track.csv": lambda p: write_csv(p, result.table()),
        "track.json": lambda p: write_json(p, result.to_dict()),
        "migrations.csv": lambda p: write_csv(p, migrations_table(result)),
        "track.html": lambda p: write_text(p, html),
    }


def track(
    source: str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> TrackResult:
    """:func:`custseg.lifecycle.track.track`, then (with ``out``) its files written there.

    ``out`` is checked before any work. See :func:`custseg.lifecycle.track.track` for the
    parameters (``start``, ``every``, ``k``, ``threshold``, ``seed``, ``lang``, ``engine``,
    ``table``, ``query``…).
    """
    # the engine and the input checked before any work (a wrong --engine is one line)
    found = choose_input(
        source, engine=kwargs.get("engine"), table=kwargs.get("table"), query=kwargs.get("query")
    )
    if out is None:
        return track_stability(source, **kwargs)
    staging = open_out(out, TRACK_FILES, found.paths)
    try:
        result = track_stability(source, **kwargs)
        write_into(staging, _track_writers(result))
    finally:
        staging.close()
    return result


def read_side(folder: str | os.PathLike[str]) -> Side:
    """A sealed run folder as one side of a comparison (checked by its manifest)."""
    shown = os.fspath(folder)
    if not Path(folder).is_dir():
        raise InputError(f"{shown} is not a folder; give the --out folder of custseg run")
    data = RunData.from_dir(Path(folder), shown)
    return Side(shown, data.segments, data.model_doc)


def compare(
    run_a: str | os.PathLike[str],
    run_b: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    lang: str | None = None,
) -> Comparison:
    """How the customers of run ``a`` moved to the segments of run ``b`` (two run folders);
    with ``out``, ``transitions.csv``, ``compare.json`` and ``compare.html`` written there.

    ``lang`` defaults to run ``b``'s language.
    """
    staging = open_out(out, COMPARE_FILES, (run_a, run_b)) if out is not None else None
    try:
        a, b = read_side(run_a), read_side(run_b)
        comparison = compare_runs(a, b, lang or str(b.model_doc.get("lang", "en")))
        if staging is not None:
            from custseg.report.compare import render_compare

            html = render_compare(comparison)
            write_into(
                staging,
                {
                    "transitions.csv": lambda p: write_csv(p, comparison.migration.table()),
                    "compare.json": lambda p: write_json(p, comparison.to_dict()),
                    "compare.html": lambda p: write_text(p, html),
                },
            )
    finally:
        if staging is not None:
            staging.close()
    return comparison
