"""A run folder: every output of a segmentation written together, with its report, atomically.

:func:`save` writes the files of a :class:`~custseg.pipeline.SegmentationResult` into a
folder; :func:`run` is :func:`custseg.pipeline.segment` followed by :func:`save`;
:func:`rewrite_report` rebuilds the report of a saved run.

A run folder is written whole or not at all. The files are written into a hidden staging
folder beside ``out`` (``.<name>.custseg-tmp-XXXX``), sealed by ``manifest.json`` (see
:mod:`custseg.report.manifest`), and swapped with ``out`` in one step (Linux
``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, the old folder first set aside). Where
``out`` cannot be renamed (a mount point, the working folder, a parent that is not writable)
the staging folder is made inside ``out`` and its files are moved in after the seal is removed,
the new seal written last. Readers check the seal, so a folder is always read as one whole
run or refused. ``out`` is checked before any work (see :func:`prepare_out`): it must be new,
empty, or hold only custseg's files; the leftovers of interrupted runs are removed then.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.errors import InputError
from custseg.lifecycle.compare import Side, run_changes
from custseg.model.schema import SPLIT_RUN_FORMAT
from custseg.outputs.files import write_csv, write_frames, write_json, write_parquet, write_text
from custseg.pipeline import SegmentationResult, SplitResult, Step, segment
from custseg.report import render_html, render_run
from custseg.report.data import RunData
from custseg.report.manifest import (
    CHANGES,
    FIGURES,
    KNOWN_FILES,
    MANIFEST,
    RUN_FILES,
    open_run,
    seal,
    sync_dir,
)
from custseg.sources.inputs import choose_input

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

OUTPUT_FILES = RUN_FILES

#: names of the staging folders (``TMP``) and of old folders set aside (``OLD``)
TMP = ".custseg-tmp-"
OLD = ".custseg-old-"
#: swap with two renames even where the kernel can exchange two folders (tests)
TWO_RENAMES = False
#: always commit in place, inside ``out`` (tests)
IN_PLACE = False

_OURS = "|".join(re.escape(n) for n in (*KNOWN_FILES, MANIFEST))
#: temporary files of the per-file writers, left in a folder by runs of older versions
_LEFTOVER = re.compile(
    rf"^(?:\.(?:{_OURS})\..+\.tmp|(?:{_OURS})\.(?:\d+|probe|header)|\.{_OURS}\.tmp)$"
)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _lock(folder: Path) -> int | None:
    """Hold a lock on ``folder`` while this process writes into it (released if it dies)."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _abandoned(folder: Path) -> bool:
    """Whether no live process holds the lock of a staging or set-aside folder."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); ``False`` where not supported."""
    if TWO_RENAMES or not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # pragma: no cover - a C library without it
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # an older kernel, or a file system that cannot
    raise OSError(code, os.strerror(code), str(b))


@dataclass
class Staging:
    """A run being written: its staging folder and how it will replace ``out``."""

    out: Path
    """the run folder to replace (symbolic links resolved)"""
    shown: str
    """``out`` as given, for messages"""
    folder: Path
    """where the files are written"""
    in_place: bool
    """``folder`` is inside ``out``, whose files are replaced one by one"""
    mode: int
    """permissions the run folder gets"""
    files: tuple[str, ...] = KNOWN_FILES
    """the names of the files this kind of folder holds (a run's, a score folder's…)"""
    _lock: int | None = field(default=None, repr=False)
    _done: bool = field(default=False, repr=False)

    def commit(self, known: dict[str, Any] | None = None) -> dict[str, Any]:
        """Seal the staging folder and put it in place of ``out``; return the manifest."""
        try:
            doc = seal(self.folder, known, self.files)
            if self.in_place:
                self._commit_in_place(doc)
            else:
                self._swap()
            self._done = True
        except OSError as exc:
            raise InputError(
                f"--out {self.shown}: the run could not be written ({exc.strerror or exc}); "
                "free some space or choose another folder"
            ) from None
        finally:
            self.close()
        return doc

    def _swap(self) -> None:
        os.chmod(self.folder, self.mode)
        parent = self.out.parent
        try:
            os.rename(self.folder, self.out)  # out absent (or an empty folder)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            if _exchange(self.folder, self.out):
                _remove(self.folder)  # now the old run
            else:
                aside = parent / f".{self.out.name}{OLD}{secrets.token_hex(4)}"
                os.rename(self.out, aside)
                os.rename(self.folder, self.out)
                _remove(aside)
        sync_dir(parent)

    def _commit_in_place(self, doc: dict[str, Any]) -> None:
        out = self.out
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out / MANIFEST)  # unsealed from here until the new seal is in
        sync_dir(out)
        new = {n.split("/")[0] for n in doc["files"]}
        for name in (*self.files, FIGURES):
            if name not in new and (out / name).exists():
                _remove(out / name)
        for name in sorted(new):
            if name == FIGURES:
                _remove(out / FIGURES)
            os.replace(self.folder / name, out / name)
        os.replace(self.folder / MANIFEST, out / MANIFEST)
        sync_dir(out)
        _remove(self.folder)

    def close(self) -> None:
        """Release the lock; remove the staging folder if the run was not committed."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if not self._done:
            _remove(self.folder)
            self._done = True


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_path(out: Path, shown: str) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {shown} is a file; give a folder")
    for up in out.parents:
        if up.exists():
            if not up.is_dir():
                raise InputError(
                    f"--out {shown}: {up} is a file, not a folder; give a path in a folder"
                )
            break


def _classify(
    out: Path, shown: str, foreign_ok: bool = False, files: tuple[str, ...] = KNOWN_FILES
) -> tuple[list[Path], bool]:
    """The leftovers of interrupted runs inside ``out``, and whether it holds other files.

    Other files (not in ``files``) are refused unless ``foreign_ok``.
    """
    leftovers: list[Path] = []
    foreign: list[str] = []
    for entry in sorted(os.listdir(out)):
        path = out / entry
        if entry in files or entry == MANIFEST:
            if path.is_symlink() or not path.is_file():
                foreign.append(entry)
        elif entry == FIGURES:
            if path.is_symlink() or not path.is_dir():
                foreign.append(entry)
        elif entry.startswith(TMP) or _LEFTOVER.match(entry):
            leftovers.append(path)
        else:
            foreign.append(entry)
    if foreign and not foreign_ok:
        listed = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise InputError(
            f"--out {shown} holds files custseg did not write ({listed}); choose a new or "
            "empty folder, or move them out (custseg replaces a run folder whole)"
        )
    return leftovers, bool(foreign)


def _clean_beside(out: Path) -> None:
    """Remove the staging folders of interrupted runs beside ``out``; restore a set-aside run."""
    parent = out.parent
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    stem = f".{out.name}"
    ours = [
        parent / e for e in sorted(entries) if e.startswith(stem + TMP) or e.startswith(stem + OLD)
    ]
    for path in ours:
        if not _abandoned(path):
            continue  # another run, still going
        if OLD in path.name and not out.exists() and (path / MANIFEST).is_file():
            with contextlib.suppress(OSError):
                os.rename(path, out)  # killed between the two renames: the old run is back
                continue
        _remove(path)


def prepare_out(
    out: str | os.PathLike[str],
    inputs: tuple[str | os.PathLike[str], ...] = (),
    foreign_ok: bool = False,
    files: tuple[str, ...] = KNOWN_FILES,
) -> Staging:
    """Check ``out`` and open a staging folder for a run, before any work.

    ``out`` must be a folder or a path that can become one; an existing folder must be
    writable and hold nothing but custseg's files (a previous run, the leftovers of an
    interrupted one), and no file of ``inputs``. With ``foreign_ok`` a folder holding other
    files is accepted and its run files are replaced in place, the other files kept. The
    leftovers of interrupted runs into ``out`` are removed. ``files`` names the files of the
    kind of folder written (a run's by default; a score folder's, …). Raises
    :class:`~custseg.errors.InputError` (one line) otherwise.
    """
    shown = os.fspath(out)
    target = Path(os.path.abspath(out))
    if target.is_symlink():
        target = target.resolve()
    _check_path(target, shown)
    for source in inputs:
        src = Path(os.path.abspath(source))
        if target.exists() and _is_within(src.resolve(), target.resolve()):
            raise InputError(
                f"--out {shown} holds the input {src.name}; writing there would overwrite it, "
                "choose another folder"
            )
    exists = target.is_dir()
    foreign = False
    if exists:
        leftovers, foreign = _classify(target, shown, foreign_ok, files)
        for path in leftovers:
            if not path.name.startswith(TMP) or _abandoned(path):
                _remove(path)
        if not os.access(target, os.W_OK | os.X_OK):
            raise InputError(
                f"--out {shown}: the folder is not writable; make it writable or choose "
                "another folder"
            )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"--out {shown}: cannot create the folder {target.parent} ({exc.strerror or exc}); "
            "create it or choose another place"
        ) from None
    _clean_beside(target)
    exists = target.is_dir()
    cwd = Path.cwd().resolve()
    in_place = exists and (
        IN_PLACE or foreign or os.path.ismount(target) or _is_within(cwd, target.resolve())
    )
    mode = (stat.S_IMODE(target.stat().st_mode) if exists else 0o777 & ~_umask()) | 0o700
    folder: Path | None = None
    if not in_place:
        try:
            folder = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP}", dir=target.parent))
        except OSError as exc:
            if not exists:
                raise InputError(
                    f"--out {shown}: cannot write in {target.parent} ({exc.strerror or exc}); "
                    "choose a folder you can write to"
                ) from None
            in_place = True
    if folder is None:
        try:
            folder = Path(tempfile.mkdtemp(prefix=TMP, dir=target))
        except OSError as exc:
            raise InputError(
                f"--out {shown}: cannot write in the folder ({exc.strerror or exc}); "
                "make it writable or choose another folder"
            ) from None
    return Staging(target, shown, folder, in_place, mode, files, _lock(folder))


def _write_run(result: SegmentationResult, out: Path) -> list[str]:
    """Write every output file of ``result`` into the folder ``out``; return their names.

    The customer tables (CSV and Parquet, the files that grow with the customers) are
    written by worker threads while this thread writes the small files and the report.
    """
    table = result.segments
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="custseg-save") as pool:
        tables: list[Future[Any]]
        if result.population is not None:  # every customer, from the engine's files
            tables = [pool.submit(write_frames, out, result.population.frames())]
        else:
            tables = [
                pool.submit(write_parquet, out / "segments.parquet", table),
                pool.submit(write_csv, out / "segments.csv", table),
            ]
        write_csv(out / "profiles.csv", result.profiles)
        write_json(out / "model.json", result.model_document())
        write_json(out / "audit.json", result.ledger.to_dict())
        if result.exploration is not None:
            write_json(out / "exploration.json", result.exploration)
        if result.rules is not None:
            names = result.segment_names
            write_csv(out / "rules.csv", result.rules.table(names, result.lang))
            write_text(out / "rules.sql", result.rules.sql(names))
        if result.comparison is not None:
            write_json(out / "compare.json", result.comparison.to_dict())
            write_csv(out / "compare.csv", result.comparison.to_frame())
        if result.changes is not None:
            write_json(out / CHANGES, result.changes)
        write_text(out / "report.html", render_html(result))
        for done in tables:
            done.result()
    return [n for n in KNOWN_FILES if (out / n).is_file()]


def _commit_run(result: SegmentationResult, staging: Staging) -> dict[str, Path]:
    try:
        try:
            names = _write_run(result, staging.folder)
        except OSError as exc:
            raise InputError(
                f"--out {staging.shown}: the run could not be written "
                f"({exc.strerror or exc}); free some space or choose another folder"
            ) from None
        staging.commit()
    finally:
        staging.close()
    return {name: Path(staging.shown) / name for name in names}


@dataclass
class Previous:
    """An earlier run (``previous=``, ``--previous``), checked and read before any work."""

    shown: str
    """the folder as given, for messages"""
    side: Side
    """its segments and model, as one side of a comparison"""
    run: str
    """its run id (its manifest's)"""

    @property
    def kind(self) -> str:
        """``transactions`` or ``customers``."""
        return str(self.side.model_doc.get("kind", "transactions"))

    def check(self, kind: str | None = None, split: bool = False) -> None:
        """Refuse a new run this earlier run cannot be compared with (one-line error)."""
        if split:
            raise InputError(
                f"--previous {self.shown}: a run split by lifecycle (--split) cannot be "
                "compared with an earlier run; run without --split or without --previous"
            )
        if kind in ("transactions", "customers") and kind != self.kind:
            raise InputError(
                f"--previous {self.shown} is a run on a {_KIND_WORDS[self.kind]}, this run on "
                f"a {_KIND_WORDS[kind]}; give an earlier run of the same kind"
            )

    def changes(self, result: SegmentationResult) -> dict[str, Any]:
        """What changed from this run to ``result``: the content of ``changes.json``."""
        self.check(result.kind, isinstance(result, SplitResult))
        data = RunData.from_result(result)
        new = Side("the new run", data.segments, data.model_doc)
        try:
            return run_changes(self.side, new, self.run)
        except InputError as exc:
            raise InputError(f"--previous {self.shown}: {exc}") from None


_KIND_WORDS = {"transactions": "transactions file", "customers": "customer table"}


def read_previous(previous: str | os.PathLike[str]) -> Previous:
    """The earlier run in the folder ``previous``, checked whole against its manifest.

    Raises :class:`~custseg.errors.InputError` (one line, naming the folder) when it is not
    one whole run, or is a run split by lifecycle (its segments are those of two models).
    """
    shown = os.fspath(previous)
    if not Path(previous).is_dir():
        raise InputError(
            f"--previous {shown} is not a folder; give the --out folder of an earlier custseg run"
        )
    try:
        doc, _ = open_run(previous, (), shown)
        data = RunData.from_dir(Path(previous), shown)
    except InputError as exc:
        raise InputError(f"--previous {exc}") from None
    if data.model_doc.get("format") == SPLIT_RUN_FORMAT:
        raise InputError(
            f"--previous {shown} is a run split by lifecycle (--split), whose segments cannot "
            "be matched with one segmentation's; give a run made without --split"
        )
    return Previous(shown, Side(f"--previous {shown}", data.segments, data.model_doc), doc["run"])


def save(
    result: SegmentationResult,
    out: str | os.PathLike[str],
    previous: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write every output file into the folder ``out``, replacing its previous run whole.

    With ``previous`` (an earlier run's folder), what changed since that run is saved in
    ``changes.json`` and shown in the report's summary. Returns the path of each file
    written. ``out`` is checked first (see :func:`prepare_out`); a reader never sees a folder
    mixing two runs, even if this process is killed meanwhile.
    """
    if previous is not None:
        result.changes = read_previous(previous).changes(result)
    return _commit_run(result, prepare_out(out))


def run(
    source: str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str],
    previous: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> SegmentationResult:
    """:func:`segment`, then write every output into ``out`` (checked before any work).

    With ``previous`` (an earlier run's folder, checked before any work too), the new
    segmentation is compared with it (:func:`custseg.lifecycle.compare.run_changes`): the
    result is saved in ``changes.json`` and the report's summary says what changed.
    """
    on_step: Step | None = kwargs.get("on_step")
    # the engine and the input checked before any work (a wrong --engine is one line)
    found = choose_input(
        source, engine=kwargs.get("engine"), table=kwargs.get("table"), query=kwargs.get("query")
    )
    inputs = found.paths
    earlier = read_previous(previous) if previous is not None else None
    if earlier is not None:
        earlier.check(kwargs.get("kind"), kwargs.get("split") is not None)
    staging = prepare_out(out, inputs)
    try:
        result = segment(source, **kwargs)
        if earlier is not None:
            result.changes = earlier.changes(result)
        if on_step:
            on_step("write", {"out": str(out)})
    except BaseException:
        staging.close()
        raise
    _commit_run(result, staging)
    return result


@contextlib.contextmanager
def _linked_run(
    folder: str | os.PathLike[str],
) -> Iterator[tuple[Staging, RunData, dict[str, Any]]]:
    """A staging folder holding the files of the sealed run in ``folder`` (linked, not copied)."""
    shown = os.fspath(folder)
    if not Path(folder).is_dir():
        raise InputError(f"{shown} is not a folder; give the --out folder of custseg run")
    open_run(folder, (), shown)  # refuse a folder that is not one whole run before touching it
    staging = prepare_out(folder, foreign_ok=True)
    try:
        for name in os.listdir(staging.out):
            src = staging.out / name
            if name == MANIFEST or name in KNOWN_FILES:
                _link(src, staging.folder / name)
            elif name == FIGURES:
                (staging.folder / FIGURES).mkdir()
                for fig in os.listdir(src):
                    _link(src / fig, staging.folder / FIGURES / fig)
        doc, _ = open_run(staging.folder, (), shown)  # the files linked are those checked
        yield staging, RunData.from_dir(staging.folder, shown), doc
    finally:
        staging.close()


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:  # a file system without hard links
        shutil.copy2(src, dst, follow_symlinks=False)


def rewrite_report(
    folder: str | os.PathLike[str], lang: str | None = None, png: bool = False
) -> tuple[Path, list[Path]]:
    """Rebuild ``report.html`` (and with ``png`` the key figures) of the run in ``folder``.

    The folder is replaced whole, as by a run: its other files are kept byte for byte and the
    folder sealed again. Returns the report's path and the figures written.
    """
    with _linked_run(folder) as (staging, data, doc):
        html = render_run(data, lang)
        known = {k: v for k, v in doc["files"].items() if k != "report.html"}
        write_text(staging.folder / "report.html", html)
        figures: list[Path] = []
        if png:
            from custseg.report.browser import export_png

            _remove(staging.folder / FIGURES)
            for k in [k for k in known if k.startswith(FIGURES + "/")]:
                del known[k]
            made = export_png(staging.folder / "report.html", staging.folder / FIGURES)
            figures = [Path(staging.shown) / FIGURES / p.name for p in made]
        staging.commit(known)
    return Path(staging.shown) / "report.html", figures
