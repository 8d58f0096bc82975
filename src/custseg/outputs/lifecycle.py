"""Output folders of ``custseg track`` and ``custseg compare``, written whole or not at all.

:func:`track` and :func:`compare` compute (:mod:`custseg.lifecycle`), render the page
(:mod:`custseg.report.track`, :mod:`custseg.report.compare`) and write the folder ``out``:
its files are written into a hidden staging folder beside it, sealed by ``manifest.json``
(each file's size and SHA-256, written last) and put in place of ``out`` in one rename (an
older folder of the same command is set aside first, then removed). ``out`` is checked before
any work: it must be new, empty, or hold only the files of the same command.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.errors import InputError
from custseg.lifecycle.compare import Comparison, Side, compare_runs
from custseg.lifecycle.track import TrackResult
from custseg.lifecycle.track import track as track_stability
from custseg.outputs.files import write_csv, write_json, write_text
from custseg.outputs.folder import OLD, TMP
from custseg.report.data import RunData

#: the files of a track folder, and of a compare folder
TRACK_FILES = ("track.csv", "track.json", "migrations.csv", "track.html")
COMPARE_FILES = ("transitions.csv", "compare.json", "compare.html")
MANIFEST = "manifest.json"


def check_out(
    out: str | os.PathLike[str], names: tuple[str, ...], inputs: tuple[Any, ...] = ()
) -> Path:
    """``out`` as an absolute path, once checked: a folder (or a path that can become one)
    holding nothing but ``names`` and a manifest, and none of ``inputs``."""
    shown = os.fspath(out)
    target = Path(os.path.abspath(out))
    if target.exists() and not target.is_dir():
        raise InputError(f"--out {shown} is a file; give a folder")
    for source in inputs:
        if isinstance(source, str | os.PathLike):
            src = Path(os.path.abspath(source)).resolve()
            if target.exists() and (src == target.resolve() or target.resolve() in src.parents):
                raise InputError(f"--out {shown} holds the input {src.name}; choose another folder")
    if target.is_dir():
        foreign = sorted(e for e in os.listdir(target) if e not in names and e != MANIFEST)
        if foreign:
            listed = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise InputError(
                f"--out {shown} holds files this command did not write ({listed}); choose a "
                "new or empty folder"
            )
    return target


def write_folder(
    out: str | os.PathLike[str],
    writers: Mapping[str, Callable[[Path], object]],
    names: tuple[str, ...],
) -> dict[str, Path]:
    """Write the files of ``writers`` (name → ``write(path)``) as the folder ``out``.

    The folder is built aside, sealed by ``manifest.json`` and renamed into place; a reader
    sees the old folder or the new one, never a mix. Returns each file's path.
    """
    shown = os.fspath(out)
    target = check_out(out, names)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP}", dir=target.parent))
    except OSError as exc:
        raise InputError(
            f"--out {shown}: cannot write there ({exc.strerror or exc}); choose another folder"
        ) from None
    try:
        files: dict[str, dict[str, Any]] = {}
        for name, write in writers.items():
            write(staging / name)
            data = (staging / name).read_bytes()
            files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        write_text(staging / MANIFEST, json.dumps({"files": files}, indent=2) + "\n")
        mode = 0o777 & ~_umask()
        os.chmod(staging, mode)
        if target.exists():
            aside = target.parent / f".{target.name}{OLD}{secrets.token_hex(4)}"
            os.rename(target, aside)
            os.rename(staging, target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(staging, target)
    except OSError as exc:
        raise InputError(
            f"--out {shown}: the files could not be written ({exc.strerror or exc}); free "
            "some space or choose another folder"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            if staging.exists():
                shutil.rmtree(staging)
    return {name: Path(shown) / name for name in writers}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    from custseg.report.track import render_track

    html = render_track(result)
    return write_folder(
        out,
        {
            "track.csv": lambda p: write_csv(p, result.table()),
            "track.json": lambda p: write_json(p, result.to_dict()),
            "migrations.csv": lambda p: write_csv(p, migrations_table(result)),
            "track.html": lambda p: write_text(p, html),
        },
        TRACK_FILES,
    )


def track(
    source: str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> TrackResult:
    """:func:`custseg.lifecycle.track.track`, then (with ``out``) its files written there.

    ``out`` is checked before any work. See :func:`custseg.lifecycle.track.track` for the
    parameters (``start``, ``every``, ``k``, ``threshold``, ``seed``, ``lang``…).
    """
    if out is not None:
        check_out(out, TRACK_FILES, () if isinstance(source, pd.DataFrame) else (source,))
    result = track_stability(source, **kwargs)
    if out is not None:
        save_track(result, out)
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
    if out is not None:
        check_out(out, COMPARE_FILES, (run_a, run_b))
    a, b = read_side(run_a), read_side(run_b)
    comparison = compare_runs(a, b, lang or str(b.model_doc.get("lang", "en")))
    if out is not None:
        from custseg.report.compare import render_compare

        html = render_compare(comparison)
        write_folder(
            out,
            {
                "transitions.csv": lambda p: write_csv(p, comparison.migration.table()),
                "compare.json": lambda p: write_json(p, comparison.to_dict()),
                "compare.html": lambda p: write_text(p, html),
            },
            COMPARE_FILES,
        )
    return comparison
