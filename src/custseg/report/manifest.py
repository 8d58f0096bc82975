"""The seal of a run folder: ``manifest.json``, written last, checked by every reader.

A run folder holds the files of one run and ``manifest.json``, which lists every one of them
(``figures/*.png`` included) with its size and SHA-256, and a run id derived from them. The
writer (:mod:`custseg.outputs.folder`) builds the folder aside and seals it before swapping it
in; a reader (:func:`open_run`) reads every file through one handle on the folder and checks
its bytes against the manifest, so it never uses files of two runs, a file changed after the
run, or a folder left unsealed by an interrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from custseg.errors import InputError
from custseg.model import schema

MANIFEST = "manifest.json"
FORMAT = "custseg.run/1"

#: the files of a run, in the order they are written (``exploration.json``: transactions only)
RUN_FILES = (
    "segments.parquet",
    "segments.csv",
    "profiles.csv",
    "model.json",
    "audit.json",
    "exploration.json",
    "report.html",
    "rules.csv",
    "rules.sql",
)
#: files a run writes only when asked (``--compare``)
COMPARE_FILES = ("compare.json", "compare.csv")
#: what changed since an earlier run, written only when asked (``--previous``)
CHANGES = "changes.json"
#: every file a run folder may hold besides its manifest and figures
KNOWN_FILES = (*RUN_FILES, *COMPARE_FILES, CHANGES)
#: the files a report is rebuilt from
NEEDED = ("segments.parquet", "profiles.csv", "model.json", "audit.json")
#: the folder of ``custseg report --png``
FIGURES = "figures"

_NAME = re.compile(r"^(?:figures/)?[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_MAX_MANIFEST = 1 << 20
_CHUNK = 1 << 20


def run_files(folder: Path, files: Collection[str] = KNOWN_FILES) -> list[str]:
    """The files of a run folder being sealed: the run's files (``files``: those of another
    kind of folder, such as a score folder), then ``figures/*``, sorted."""
    names = sorted(n for n in os.listdir(folder) if n in files)
    figures = folder / FIGURES
    if figures.is_dir():
        names += sorted(f"{FIGURES}/{n}" for n in os.listdir(figures))
    return names


def _digest(path: Path, sync: bool) -> dict[str, Any]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
        if sync:
            os.fsync(f.fileno())
    return {"bytes": size, "sha256": h.hexdigest()}


def run_id(files: Mapping[str, Mapping[str, Any]]) -> str:
    """The id of a run: a digest of its files' names, sizes and digests (same files, same id)."""
    canon = json.dumps(files, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(canon).hexdigest()[:16]


def seal(
    folder: Path,
    known: Mapping[str, Mapping[str, Any]] | None = None,
    files: Collection[str] = KNOWN_FILES,
) -> dict[str, Any]:
    """Write ``folder/manifest.json`` for the run files in ``folder``; return the manifest.

    Every file is flushed to disk first (so a crash of the machine cannot leave a sealed
    folder with a file the manifest does not describe). ``known`` gives the entries of files
    already described (linked from a sealed run), which are not read again; ``files`` the
    names a folder of another kind holds (see :func:`run_files`).
    """
    known = known or {}
    names = run_files(folder, files)
    entries: dict[str, dict[str, Any]] = {}
    for name in names:
        path = folder / name
        size = path.stat().st_size
        entry = known.get(name)
        if entry is not None and entry.get("bytes") == size:
            entries[name] = {"bytes": size, "sha256": entry["sha256"]}
        else:
            entries[name] = _digest(path, sync=True)
    doc = {"format": FORMAT, "run": run_id(entries), "files": entries}
    tmp = folder / f".{MANIFEST}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, folder / MANIFEST)
    sync_dir(folder)
    return doc


def sync_dir(folder: Path) -> None:
    """Flush a folder's entries (names created or renamed in it) to disk, where supported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - a file system that cannot
        pass
    finally:
        os.close(fd)


def _refuse(folder: Path | str, what: str) -> InputError:
    return InputError(f"{folder}: {what}; run custseg run into this folder again")


def _parse(raw: bytes, folder: Path | str) -> dict[str, dict[str, Any]]:
    """The ``files`` of a manifest, each name and entry checked."""
    # bounded size and depth, finite numbers, an object: the reader of every run file
    doc = schema.parse_json(raw, f"{folder}/{MANIFEST}", InputError)
    files = doc.get("files")
    if doc.get("format") != FORMAT or not isinstance(files, dict):
        raise _refuse(folder, f"{MANIFEST} is not a custseg run manifest ({FORMAT})")
    for name, entry in files.items():
        if (
            not _NAME.match(name)
            or (name not in KNOWN_FILES and not name.startswith(FIGURES + "/"))
            or not isinstance(entry, dict)
            or type(entry.get("bytes")) is not int
            or entry["bytes"] < 0
            or not isinstance(entry.get("sha256"), str)
            or not _SHA.match(entry["sha256"])
        ):
            raise _refuse(folder, f"{MANIFEST} lists {str(name)[:80]!r} with a bad entry")
    if doc.get("run") != run_id(files):
        raise _refuse(folder, f"{MANIFEST} has a run id that does not match its files")
    return files


def _read_at(dir_fd: int, name: str, limit: int | None = None) -> tuple[bytes, int]:
    """The bytes of ``name`` in the folder ``dir_fd`` (a regular file, not a link)."""
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(name)
        if limit is not None and info.st_size > limit:
            raise ValueError(f"{name} is larger than {limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(), info.st_size
    finally:
        os.close(fd)


def _hash_at(dir_fd: int, name: str, keep: bool) -> tuple[int, str, bytes | None]:
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(name)
        h = hashlib.sha256()
        parts: list[bytes] = []
        size = 0
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
                if keep:
                    parts.append(chunk)
        return size, h.hexdigest(), b"".join(parts) if keep else None
    finally:
        os.close(fd)


def _present(dir_fd: int) -> set[str]:
    """The run files and figures in the folder ``dir_fd``."""
    names = {n for n in os.listdir(dir_fd) if n in KNOWN_FILES}
    try:
        fig = os.open(FIGURES, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0), dir_fd=dir_fd)
    except OSError:
        return names
    try:
        names |= {f"{FIGURES}/{n}" for n in os.listdir(fig)}
    finally:
        os.close(fig)
    return names


def open_run(
    folder: str | os.PathLike[str],
    read: Collection[str] = NEEDED,
    shown: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Check a sealed run folder whole; return its manifest and the bytes of the files ``read``.

    Every file is read through one handle on the folder, so a run swapped in meanwhile is
    never mixed with the one being read; each file's size and SHA-256 must be those of
    ``manifest.json``, and no run file may be present that the manifest does not list.
    Raises :class:`~custseg.errors.InputError` (one line, naming ``shown`` or ``folder``).
    """
    label = os.fspath(shown if shown is not None else folder)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise InputError(
            f"{label} is not a readable folder ({exc.strerror}); "
            "give the --out folder of custseg run"
        ) from None
    try:
        present = _present(dir_fd)
        try:
            raw, _ = _read_at(dir_fd, MANIFEST, _MAX_MANIFEST)
        except FileNotFoundError:
            missing = [n for n in NEEDED if n not in present]
            if missing:
                raise InputError(
                    f"{label}: not a custseg run folder (missing {', '.join(missing)}); "
                    "give the --out folder of custseg run"
                ) from None
            raise _refuse(
                label,
                f"no {MANIFEST}, so its files may not be of one complete run "
                "(an interrupted run, or an older custseg)",
            ) from None
        except (OSError, ValueError) as exc:
            raise _refuse(label, f"{MANIFEST} cannot be read ({exc})") from None
        files = _parse(raw, label)
        missing = [n for n in NEEDED if n not in files]
        if missing:
            raise _refuse(label, f"{MANIFEST} does not list {', '.join(missing)}")
        stray = sorted(present - set(files))
        if stray:
            raise _refuse(label, f"{stray[0]} is not part of the run sealed by {MANIFEST}")
        kept: dict[str, bytes] = {}
        for name, entry in files.items():
            try:
                size, digest, data = _hash_at(dir_fd, name, keep=name in read)
            except OSError as exc:
                raise _refuse(
                    label, f"{name} of the run cannot be read ({exc.strerror or exc})"
                ) from None
            if size != entry["bytes"] or digest != entry["sha256"]:
                raise _refuse(
                    label,
                    f"{name} does not match {MANIFEST} (changed after the run, "
                    "or left by another run)",
                )
            if data is not None:
                kept[name] = data
        return {"format": FORMAT, "run": run_id(files), "files": files}, kept
    finally:
        os.close(dir_fd)
