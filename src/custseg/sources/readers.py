"""Read a transactions or customers source into DuckDB without loading it into Python.

Files are exposed to the engine as a view named by the caller: Parquet and CSV are scanned in
place by DuckDB; CSV in a legacy encoding (CP1252/Latin-1, UTF-16) is first transcoded to a
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

import duckdb
import pandas as pd

from custseg.engines.sql import literal
from custseg.errors import InputError

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".tab", ".dat"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
_SNIFF_BYTES = 4 << 20


@dataclass
class Source:
    """A source opened in DuckDB: view name, columns and where it came from."""

    view: str
    columns: list[str]
    types: dict[str, str]
    label: str
    kind: str
    fingerprint: dict[str, Any]
    encoding: str | None = None
    _tmpdir: str | None = field(default=None, repr=False)

    def estimated_rows(self, con: duckdb.DuckDBPyConnection) -> int:
        """The number of rows: exact for Parquet, Excel and DataFrames (no scan of the data);
        for CSV, the file size over the mean size of the first lines (no full read)."""
        if self.kind != "csv":
            row = con.execute(f'SELECT count(*) FROM "{self.view}"').fetchone()
            return int(row[0]) if row else 0
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
    con: duckdb.DuckDBPyConnection,
    source: str | os.PathLike[str] | pd.DataFrame,
    view: str = "raw_input",
    *,
    sheet: str | int | None = None,
) -> Source:
    """Expose ``source`` (a path or a DataFrame) to ``con`` as the view ``view``.

    CSV columns are read as text so that a stray value never aborts the read: types are
    decided later, value by value, and what cannot be parsed is counted in the audit.
    """
    if isinstance(source, pd.DataFrame):
        con.register(view + "_df", source)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM "{view}_df"')
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
            con.execute(
                f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM read_parquet({literal(str(path))})'
            )
            return _describe(con, view, str(path), "parquet", fingerprint)
        if suffix in EXCEL_SUFFIXES:
            return _open_excel(con, path, view, sheet, fingerprint)
        if suffix in CSV_SUFFIXES or suffix == "":
            return _open_csv(con, path, view, fingerprint)
    except InputError:
        raise
    except (duckdb.Error, ValueError, OSError, UnicodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{path}: cannot be read as {suffix.lstrip('.') or 'CSV'} ({first}); "
            "check that the file is complete and of the type its extension says"
        ) from exc
    raise InputError(
        f"{path}: unsupported file type {suffix!r}; use CSV/TSV, Parquet or Excel (.xlsx)"
    )


def _open_csv(
    con: duckdb.DuckDBPyConnection, path: Path, view: str, fingerprint: dict[str, Any]
) -> Source:
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    encoding = detect_encoding(path)
    tmpdir = None
    target = path
    if encoding not in {"utf-8", "utf-8-sig"}:
        tmpdir = tempfile.mkdtemp(prefix="custseg-")
        target = _transcode(path, encoding, tmpdir)
    parallel = "false" if has_quoted_newline(target) else "true"
    con.execute(
        f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM read_csv({literal(str(target))}, '
        "all_varchar = true, header = true, quote = '\"', escape = '\"', "
        f"strict_mode = false, null_padding = true, parallel = {parallel})"
    )
    src = _describe(con, view, str(path), "csv", fingerprint)
    src.encoding = encoding
    src._tmpdir = tmpdir
    return src


def _open_excel(
    con: duckdb.DuckDBPyConnection,
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
    con.register(view + "_df", frame)
    con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM "{view}_df"')
    return _describe(con, view, str(path), "excel", fingerprint)


def _describe(
    con: duckdb.DuckDBPyConnection, view: str, label: str, kind: str, fp: dict[str, Any]
) -> Source:
    rows = con.execute(f'DESCRIBE "{view}"').fetchall()
    columns = [r[0] for r in rows]
    if not columns:
        raise InputError(f"{label}: no columns found; is the file empty?")
    return Source(view, columns, {r[0]: r[1] for r in rows}, label, kind, fp)
