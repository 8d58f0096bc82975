"""Read a transactions or customers source into the engine without loading it into Python.

Files are exposed to the engine as a relation named by the caller: Parquet and CSV are scanned
in place by the engine; CSV in a legacy encoding (CP1252/Latin-1, UTF-16) is first transcoded to a
temporary UTF-8 copy; Excel sheets and pandas DataFrames are registered as tables.
Inputs are only ever read.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.engines.base import Engine
from custseg.engines.sql import ident
from custseg.errors import EngineError, InputError

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".tab", ".dat"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
_SNIFF_BYTES = 4 << 20

#: the relation a source is exposed as, unless the caller names another
SOURCE_VIEW = "raw_input"


@dataclass
class Source:
    """A source opened in an engine: relation name, columns and where it came from."""

    view: str
    columns: list[str]
    types: dict[str, str]
    label: str
    kind: str
    fingerprint: dict[str, Any]
    encoding: str | None = None
    _tmpdir: str | None = field(default=None, repr=False)

    def estimated_rows(self, con: Engine) -> int:
        """The number of rows: exact for Parquet, Excel and DataFrames (no scan of the data);
        for CSV, the file size over the mean size of the first lines (no full read)."""
        if self.kind != "csv":
            return int(con.scalar(f"SELECT count(*) FROM {ident(self.view)}") or 0)
        path = Path(self.label)
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
        lines = max(head.count(b"\n"), 1)
        return int(path.stat().st_size / (len(head) / lines))

    def close(self) -> None:
        """Remove the temporary copy, if one was made."""
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def detect_encoding(path: Path) -> str:
    """Name the text encoding of a file: ``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp1252`` or ``latin-1``.

    A byte-order mark decides first. Otherwise the whole file is streamed through a strict
    UTF-8 decoder; a file that is not valid UTF-8 is taken as CP1252, the Windows superset of
    Latin-1 that spreadsheets in Western Europe write, or as Latin-1 when it holds one of the
    five bytes CP1252 leaves undefined. (Statistical detectors misread short CP1252 files as
    other code pages, so none is used.)
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            start = "utf-8-sig"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        else:
            start = "utf-8"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return start
        except UnicodeDecodeError:
            pass
        fh.seek(0)
        undefined = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
        while chunk := fh.read(1 << 22):
            if not undefined.isdisjoint(chunk):
                return "latin-1"
    return "cp1252"


def has_quoted_newline(path: Path, limit: int = 64 << 20) -> bool:
    """Whether a double-quoted CSV field spans lines within the first ``limit`` bytes.

    DuckDB's parallel CSV scanner cannot combine such fields with padding of short rows, so
    these files are read by one thread.
    """
    inside = False
    seen = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.count(b'"') % 2:
                inside = not inside
            if inside:
                return True
            seen += len(line)
            if seen > limit:
                break
    return False


def _transcode(path: Path, encoding: str, tmpdir: str) -> Path:
    target = Path(tmpdir) / (path.stem + ".utf8" + path.suffix)
    with (
        open(path, encoding=encoding, errors="strict", newline="") as src,
        open(target, "w", encoding="utf-8", newline="") as dst,
    ):
        shutil.copyfileobj(src, dst, 1 << 22)
    return target


def file_fingerprint(path: Path) -> dict[str, Any]:
    """sha256, size and name of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def frame_fingerprint(df: pd.DataFrame) -> dict[str, Any]:
    """A content hash of a DataFrame (values, column names and order)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return {"name": "<DataFrame>", "rows": len(df), "sha256": digest.hexdigest()}


def open_source(
    con: Engine,
    source: str | os.PathLike[str] | pd.DataFrame,
    view: str = SOURCE_VIEW,
    *,
    sheet: str | int | None = None,
) -> Source:
    """Expose ``source`` (a path or a DataFrame) to ``con`` as the view ``view``.

    CSV columns are read as text so that a stray value never aborts the read: types are
    decided later, value by value, and what cannot be parsed is counted in the audit.
    """
    if isinstance(source, pd.DataFrame):
        con.register(view, source)
        return _describe(con, view, "<DataFrame>", "dataframe", frame_fingerprint(source))
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a data file (CSV, Parquet or Excel)")
    suffix = path.suffix.lower()
    fingerprint = file_fingerprint(path)
    try:
        if suffix in PARQUET_SUFFIXES:
            con.scan(view, path, format="parquet")
            return _describe(con, view, str(path), "parquet", fingerprint)
        if suffix in EXCEL_SUFFIXES:
            return _open_excel(con, path, view, sheet, fingerprint)
        if suffix in CSV_SUFFIXES or suffix == "":
            return _open_csv(con, path, view, fingerprint)
    except InputError:
        raise
    except (EngineError, ValueError, OSError, UnicodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{path}: cannot be read as {suffix.lstrip('.') or 'CSV'} ({first}); "
            "check that the file is complete and of the type its extension says"
        ) from exc
    raise InputError(
        f"{path}: unsupported file type {suffix!r}; use CSV/TSV, Parquet or Excel (.xlsx)"
    )


def _open_csv(con: Engine, path: Path, view: str, fingerprint: dict[str, Any]) -> Source:
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    encoding = detect_encoding(path)
    tmpdir = None
    target = path
    if encoding not in {"utf-8", "utf-8-sig"}:
        tmpdir = tempfile.mkdtemp(prefix="custseg-", dir=con.settings.temp_dir)
        target = _transcode(path, encoding, tmpdir)
    con.scan(view, target, format="csv", parallel=not has_quoted_newline(target))
    src = _describe(con, view, str(path), "csv", fingerprint)
    src.encoding = encoding
    src._tmpdir = tmpdir
    return src


def _open_excel(
    con: Engine,
    path: Path,
    view: str,
    sheet: str | int | None,
    fingerprint: dict[str, Any],
) -> Source:
    try:
        frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, engine="calamine")
    except Exception as exc:  # calamine raises its own exception types for broken workbooks
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{path}: cannot be read as {path.suffix.lower().lstrip('.')} ({first}); check that "
            "the file is a complete Excel workbook of the type its extension says"
        ) from exc
    con.register(view, frame)
    return _describe(con, view, str(path), "excel", fingerprint)


def _describe(con: Engine, view: str, label: str, kind: str, fp: dict[str, Any]) -> Source:
    types = con.describe(view)
    if not types:
        raise InputError(f"{label}: no columns found; is the file empty?")
    return Source(view, list(types), types, label, kind, fp)
