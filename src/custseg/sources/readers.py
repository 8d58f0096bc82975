"""Read a transactions or customers source into the engine without loading it into Python.

A source is a file, a glob or a folder of parts (Hive-style partition folders such as
``year=2011/month=12/`` become columns), a named pipe or ``-`` for standard input, or a pandas
DataFrame. It is exposed to the engine as a relation named by the caller: Parquet and CSV are
scanned in place by the engine (CSV also compressed as ``.gz`` or ``.zst``); CSV in a legacy
encoding (CP1252/Latin-1, UTF-16 with or without a byte-order mark) or compressed in a way
the engine cannot read (``.bz2``, ``.xz``) is first decompressed and transcoded, streamed, to a
temporary UTF-8 copy; a pipe is first copied, streamed, to a temporary file; Excel sheets and
DataFrames are registered as tables. Inputs are only ever read.

Before the engine reads a CSV file its structure is checked in one streamed pass: a quote
that opens a field and swallows the following lines (an unbalanced quote) is refused with the
line it opens on, instead of merging those lines into one field.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import glob
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import pandas as pd

from custseg.engines.base import Engine
from custseg.engines.sql import ident
from custseg.errors import CustsegError, EngineError, EngineStopped, InputError, SchemaError
from custseg.sources.schema import ALIASES, check_unique_names, normalize_name

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".tab", ".dat"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
#: compression suffixes of CSV files, and how Python opens them (``None``: not available)
COMPRESSION_SUFFIXES = (".gz", ".zst", ".bz2", ".xz")
#: compressions the engine reads itself; the others are decompressed to a temporary copy
NATIVE_COMPRESSION = {".gz", ".zst"}
_DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 4 << 20
_HEAD = 1 << 16

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
    #: the input files, in the order they are read (empty for a DataFrame)
    files: list[Path] = field(default_factory=list)
    #: whether the engine reads a compressed file (its size says little of its lines)
    compressed: bool = False
    #: the column of ``view`` holding each row's 1-based position in the input, when the
    #: relation carries it (a part of a split input); else the rows are numbered as read
    line_no: str | None = None
    _tmpdir: str | None = field(default=None, repr=False)

    def estimated_rows(self, con: Engine) -> int:
        """The number of rows: exact for Parquet, Excel, DataFrames and compressed CSV (no
        scan of the data but for the latter); for plain CSV, each file's size over the mean
        size of its first lines (no full read)."""
        if self.kind != "csv" or self.compressed or not self.files:
            return int(con.scalar(f"SELECT count(*) FROM {ident(self.view)}") or 0)
        total = 0
        for path in self.files:
            with path.open("rb") as fh:
                head = fh.read(1 << 20)
            lines = max(head.count(b"\n"), 1)
            total += int(path.stat().st_size / (max(len(head), 1) / lines))
        return total

    def close(self) -> None:
        """Remove the temporary copies, if any were made."""
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


class _Scratch:
    """A temporary folder made on first use, in the engine's temporary folder."""

    def __init__(self, con: Engine) -> None:
        self._root = con.settings.temp_dir
        self.path: str | None = None

    def file(self, name: str) -> Path:
        """A path for a temporary file (its parent folders made)."""
        if self.path is None:
            self.path = tempfile.mkdtemp(prefix="custseg-", dir=self._root)
        target = Path(self.path) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def remove(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


# ---- bytes, compression and encodings ------------------------------------------------------
def compression_of(path: Path) -> str | None:
    """The compression suffix of ``path`` (``.gz``, ``.zst``, ``.bz2``, ``.xz``) or ``None``."""
    suffix = path.suffix.lower()
    return suffix if suffix in COMPRESSION_SUFFIXES else None


def _zstandard() -> Any:
    """The ``zstandard`` module, or ``None`` when it is not installed (it is optional)."""
    try:
        import zstandard  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return zstandard


def can_decompress(path: Path) -> bool:
    """Whether Python can read the bytes of ``path`` (a ``.zst`` file needs ``zstandard``)."""
    return compression_of(path) != ".zst" or _zstandard() is not None


def open_bytes(path: Path) -> IO[bytes]:
    """The bytes of ``path``, decompressed as its suffix says, streamed."""
    comp = compression_of(path)
    if comp == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if comp == ".bz2":
        return bz2.open(path, "rb")
    if comp == ".xz":
        return lzma.open(path, "rb")
    if comp == ".zst":
        module = _zstandard()
        if module is None:
            raise InputError(
                f"{path}: reading a .zst file here needs the zstandard package; "
                "pip install zstandard, or decompress the file first"
            )
        reader: IO[bytes] = module.open(path, "rb")
        return reader
    return open(path, "rb")


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` when NUL bytes fill every other byte of ``head`` (text of
    mostly ASCII characters written as UTF-16 without a byte-order mark), else ``None``."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    odd, even = head[1 : 2 * pairs : 2].count(0), head[0 : 2 * pairs : 2].count(0)
    if odd >= 0.4 * pairs and even <= 0.1 * pairs:
        return "utf-16-le"
    if even >= 0.4 * pairs and odd <= 0.1 * pairs:
        return "utf-16-be"
    return None


def detect_encoding(path: Path) -> str:
    """Name the text encoding of a file: ``utf-8``, ``utf-8-sig``, ``utf-16`` (with a byte-order
    mark), ``utf-16-le`` or ``utf-16-be`` (without), ``cp1252`` or ``latin-1``.

    A compressed file (``.gz``, ``.bz2``, ``.xz``, ``.zst``) is read decompressed. A byte-order
    mark decides first; then UTF-16 without one, told by NUL bytes in every other byte.
    Otherwise the whole file is streamed through a strict UTF-8 decoder; a file that is not
    valid UTF-8 is taken as CP1252, the Windows superset of Latin-1 that spreadsheets in
    Western Europe write, or as Latin-1 when it holds one of the five bytes CP1252 leaves
    undefined. (Statistical detectors misread short CP1252 files as other code pages, so none
    is used.)
    """
    with open_bytes(path) as fh:
        head = fh.read(_HEAD)
        if head.startswith(codecs.BOM_UTF8):
            start = "utf-8-sig"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        else:
            start = "utf-8"
            wide = _utf16_without_bom(head)
            if wide is not None:
                return wide
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            decoder.decode(head)
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return start
        except UnicodeDecodeError:
            pass
    undefined = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
    with open_bytes(path) as fh:
        while chunk := fh.read(_CHUNK):
            if not undefined.isdisjoint(chunk):
                return "latin-1"
    return "cp1252"


def _copy_utf8(path: Path, encoding: str, target: Path) -> None:
    """Decompress and transcode ``path`` to UTF-8 at ``target``, streamed."""
    with (
        open_bytes(path) as raw,
        io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="") as src,
        open(target, "w", encoding="utf-8", newline="") as dst,
    ):
        shutil.copyfileobj(src, dst, _CHUNK)


# ---- CSV structure -------------------------------------------------------------------------
def _closing_quote(line: bytes, start: int) -> int:
    """Index of the quote closing a field opened before ``start`` (``""`` is a quote inside
    the field), or -1 when the field runs past the line."""
    j = line.find(b'"', start)
    while j >= 0 and line[j + 1 : j + 2] == b'"':
        j = line.find(b'"', j + 2)
    return j


@dataclass
class _Quotes:
    """The state of the quote check between lines of a CSV file."""

    delimiter: bytes
    columns: int
    label: str
    inside: bool = False
    opened: int = 0
    records: int = 0
    spans: bool = False

    def line(self, number: int, line: bytes) -> None:
        """Follow the quotes of line ``number``: a quote opens a field only at a field's start
        (after a delimiter or at the start of a line), as the engine reads them."""
        start = 0
        if self.inside:
            end = _closing_quote(line, 0)
            if end < 0:
                self._continued(number, line)
                return
            self.inside = False
            start = end + 1
        dq = self.delimiter + b'"'
        while True:
            if start == 0 and line.startswith(b'"'):
                opening = 0
            else:
                found = line.find(dq, start)
                if found < 0:
                    return
                opening = found + len(self.delimiter)
            end = _closing_quote(line, opening + 1)
            if end < 0:
                self.inside, self.opened, self.records, self.spans = True, number, 0, True
                return
            start = end + 1

    def _continued(self, number: int, line: bytes) -> None:
        """A whole line inside a quoted field: a line with a record's delimiters is a record
        swallowed by a stray quote (one is enough with three columns or more, two with two)."""
        if self.columns < 2 or line.count(self.delimiter) < self.columns - 1:
            return
        self.records += 1
        if self.records >= (1 if self.columns >= 3 else 2):
            raise InputError(
                f"{self.label}: line {self.opened}: a quote opens a field that never closes on "
                f"its line and swallows the lines after it (line {number} holds a whole record); "
                'remove the stray quote or double it ("") and quote the whole field'
            )

    def end(self, lines: int) -> None:
        if self.inside:
            raise InputError(
                f"{self.label}: line {self.opened}: a quote opens a field that is never closed "
                f"(the file ends inside it, {lines - self.opened + 1} lines later); remove the "
                'stray quote or double it ("") and quote the whole field'
            )


def _opens_field(text: bytes, delimiter: bytes) -> bool:
    """Whether a quote of ``text`` stands at a field's start (after a delimiter or a newline)."""
    at = text.find(b'"')
    while at >= 0:
        if at == 0 or text[at - 1 : at] in (b"\n", delimiter):
            return True
        at = text.find(b'"', at + 1)
    return False


def check_csv_structure(fh: IO[bytes], delimiter: str, columns: int, label: str) -> bool:
    """Follow the quotes of a UTF-8 CSV stream: whether quoted fields span lines.

    Raises :class:`InputError` naming the line where a quote opens a field that swallows
    whole records or runs to the end of the file. Blocks without a quote that could open a
    field are skipped at the speed of a regular expression; only the others are followed
    line by line.
    """
    state = _Quotes(delimiter.encode(), columns, label)
    d = re.escape(state.delimiter)
    field = rb'"[^"\n]*+(?:""[^"\n]*+)*+"'  # a quoted field closed on its line
    after_delimiter = re.compile(d + field)
    at_line_start = re.compile(rb"^" + field, re.M)
    dq = state.delimiter + b'"'
    number = 0
    while block := fh.read(_CHUNK):
        if not block.endswith(b"\n"):
            block += fh.readline()
        if not state.inside:
            rest = block
            if dq in rest:
                rest = after_delimiter.sub(state.delimiter, rest)
            if _opens_field(rest, state.delimiter):
                rest = at_line_start.sub(b"", rest)
            if not _opens_field(rest, state.delimiter):
                number += block.count(b"\n")
                continue
        for line in block.split(b"\n"):
            number += 1
            state.line(number, line)
        number -= 1  # the split leaves an empty piece after the last newline
    state.end(number)
    return state.spans


def _guess_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass
class _CsvPart:
    """One CSV file made ready for the engine."""

    path: Path
    target: Path
    encoding: str | None
    delimiter: str | None  # from a ``sep=`` line, else detected by the engine
    skip: int
    header: list[str]
    spans: bool


_SEP_LINE = re.compile(r"\ufeff?sep=(.)", re.IGNORECASE)


def _prepare_csv(path: Path, scratch: _Scratch, name: str) -> _CsvPart:
    """Decode, check and if needed copy one CSV file (``name``: its place in the scratch)."""
    comp = compression_of(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    if not can_decompress(path):  # .zst without zstandard: the engine reads it as UTF-8
        return _CsvPart(path, path, None, None, 0, [], True)
    with open_bytes(path) as fh:
        head = fh.read(_HEAD)
    if not head.strip(b"\x00 \t\r\n"):
        raise InputError(f"{path}: the file is empty")
    encoding = detect_encoding(path)
    text = head.decode(encoding, errors="replace")
    lines = re.split(r"\r\n|\n|\r", text.lstrip("\ufeff"), maxsplit=2)
    delimiter, skip = None, 0
    sep = _SEP_LINE.fullmatch(lines[0])
    if sep is not None:  # Excel's first line naming the separator
        delimiter, skip = sep.group(1), 1
    header_line = lines[skip] if len(lines) > skip else ""
    guess = delimiter or _guess_delimiter(header_line)
    try:
        header = next(csv.reader([header_line], delimiter=guess), [])
    except csv.Error:  # a NUL byte…: the engine decides
        header = []
    target = path
    if encoding not in {"utf-8", "utf-8-sig"} or (comp and comp not in NATIVE_COMPRESSION):
        plain = name[: -len(comp)] if comp else name
        target = scratch.file(plain)
        try:
            _copy_utf8(path, encoding, target)
        except UnicodeDecodeError as exc:
            what = (
                "it ends inside a character: is it truncated?"
                if exc.reason == "truncated data"
                else exc.reason
            )
            raise InputError(
                f"{path}: is not valid {encoding} text ({what}); save it again as UTF-8"
            ) from exc
    with open_bytes(target) as fh:
        spans = check_csv_structure(fh, guess, max(len(header), 1), str(path))
    return _CsvPart(path, target, encoding, delimiter, skip, header, spans)


# ---- files, globs, folders and pipes -------------------------------------------------------
def kind_of(path: Path) -> str | None:
    """``csv``, ``parquet`` or ``excel`` from a file's name (a compressed CSV is ``csv``)."""
    name = path
    if compression_of(path):
        name = path.with_suffix("")
        if name.suffix.lower() not in CSV_SUFFIXES and name.suffix:
            return None
        return "csv"
    suffix = name.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    if suffix in CSV_SUFFIXES or suffix == "":
        return "csv"
    return None


def _sniffed_name(head: bytes) -> str:
    """A file name whose suffix says what ``head``, the first bytes of a stream, is."""
    if head.startswith(b"PAR1"):
        return "stdin.parquet"
    if head.startswith(b"\x1f\x8b"):
        return "stdin.csv.gz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "stdin.csv.zst"
    if head.startswith(b"BZh"):
        return "stdin.csv.bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "stdin.csv.xz"
    if head.startswith(b"PK\x03\x04"):
        return "stdin.ods" if b"opendocument" in head[:100] else "stdin.xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "stdin.xls"
    return "stdin.csv"


def _spool(stream: IO[bytes], scratch: _Scratch, label: str) -> Path:
    """Copy a pipe to a temporary file, streamed; its type is told from its first bytes."""
    head = stream.read(_HEAD)
    if not head:
        raise InputError(f"{label}: nothing was read (the stream is empty)")
    target = scratch.file(_sniffed_name(head))
    with open(target, "wb") as out:
        out.write(head)
        shutil.copyfileobj(stream, out, _CHUNK)
    return target


def _is_part(path: Path, root: Path) -> bool:
    """Whether a file found in a folder is a data part (not hidden, not a marker such as
    ``_SUCCESS``, of a type custseg reads)."""
    rel = path.relative_to(root).parts
    if any(p.startswith((".", "_")) and "=" not in p for p in rel):
        return False
    return kind_of(path) in {"csv", "parquet"} and (
        path.suffix.lower() != "" or compression_of(path) is not None
    )


def _locate(source: str | os.PathLike[str], scratch: _Scratch) -> tuple[str, list[Path], Path]:
    """The label of ``source``, its files in reading order, and the folder they are named
    relative to in the fingerprint."""
    text = os.fspath(source)
    if text == "-":
        return "<stdin>", [_spool(sys.stdin.buffer, scratch, "<stdin>")], Path(".")
    path = Path(text)
    if path.is_dir():
        files = sorted((p for p in path.rglob("*") if p.is_file() and _is_part(p, path)), key=str)
        if not files:
            raise InputError(
                f"{path}: is a folder without any CSV or Parquet file; give a data file or a "
                "folder of parts"
            )
        return str(path), files, path
    if path.exists():
        if not path.is_file():  # a named pipe, /dev/stdin…
            with open(path, "rb") as fh:
                return str(path), [_spool(fh, scratch, str(path))], path.parent
        return str(path), [path], path.parent
    if glob.has_magic(text):
        files = sorted(
            (Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()), key=str
        )
        if not files:
            raise InputError(f"{text}: no file matches this pattern; check the path")
        root = Path(os.path.commonpath([str(p.parent) for p in files]))
        return text, files, root
    raise InputError(f"{path}: no such file; check the path")


def file_fingerprint(path: Path) -> dict[str, Any]:
    """sha256, size and name of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def files_fingerprint(label: str, files: Sequence[Path], root: Path) -> dict[str, Any]:
    """The fingerprint of several files: each file's name (relative to ``root``), size and
    sha256, in name order, and a sha256 of that list (name, size and sha256 of each)."""
    entries = sorted(
        (file_fingerprint(p) | {"name": p.relative_to(root).as_posix()} for p in files),
        key=lambda e: str(e["name"]),
    )
    digest = hashlib.sha256()
    for e in entries:
        digest.update(f"{e['name']}\0{e['bytes']}\0{e['sha256']}\n".encode())
    return {
        "name": label,
        "bytes": sum(int(e["bytes"]) for e in entries),
        "sha256": digest.hexdigest(),
        "files": entries,
    }


def frame_fingerprint(df: pd.DataFrame) -> dict[str, Any]:
    """A content hash of a DataFrame (values, column names and order)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return {"name": "<DataFrame>", "rows": len(df), "sha256": digest.hexdigest()}


# ---- opening ---------------------------------------------------------------------------------
def open_source(
    con: Engine,
    source: str | os.PathLike[str] | pd.DataFrame,
    view: str = SOURCE_VIEW,
    *,
    sheet: str | int | None = None,
) -> Source:
    """Expose ``source`` to ``con`` as the view ``view``.

    ``source`` is a DataFrame, a file, a glob (``parts/*.parquet``), a folder of CSV or
    Parquet parts, a named pipe, or ``"-"`` for standard input (read once to a temporary
    file, its type told from its first bytes). The parts of a glob or folder must have the
    same columns; their fingerprint lists every file. CSV columns are read as text so that a
    stray value never aborts the read: types are decided later, value by value, and what
    cannot be parsed is counted in the audit.
    """
    if isinstance(source, pd.DataFrame):
        check_unique_names(list(source.columns), "<DataFrame>")
        con.register(view, source)
        return _describe(con, view, "<DataFrame>", "dataframe", frame_fingerprint(source))
    scratch = _Scratch(con)
    try:
        label, files, root = _locate(source, scratch)
        src = _open_files(con, view, label, files, root, sheet, scratch)
    except BaseException:
        scratch.remove()
        raise
    src._tmpdir = scratch.path
    return src


def open_table(
    con: Engine,
    label: str,
    *,
    table: str | None = None,
    query: str | None = None,
    view: str = SOURCE_VIEW,
    command: str | None = None,
) -> Source:
    """Expose a table of the engine's database (``table``) or the rows of ``query`` as the
    view ``view``; ``label`` names the database (its password hidden), ``command`` what
    stands before ``--table`` on the command line (default ``label``: the URL)."""
    if (table is None) == (query is None):
        raise InputError(
            f'{label}: name the lines to read with --table NAME or --query "SELECT …" '
            "(one of the two)"
        )
    con.source(view, table=table, query=query)
    what = f"{label} table {table}" if table is not None else f"{label} query"
    # the name as the command line takes it back (the report's "reproduce" line)
    given = command or label
    name = f"{given} --table {table}" if table is not None else f'{given} --query "{query}"'
    fingerprint: dict[str, Any] = {"name": name, "database": label, "table": table, "query": query}
    src = _describe(con, view, what, "database", fingerprint)
    fingerprint["rows"] = int(con.scalar(f"SELECT count(*) FROM {ident(view)}") or 0)
    return src


def _open_files(
    con: Engine,
    view: str,
    label: str,
    files: list[Path],
    root: Path,
    sheet: str | int | None,
    scratch: _Scratch,
) -> Source:
    kinds = [kind_of(p) for p in files]
    for path, kind in zip(files, kinds, strict=True):
        if kind is None:
            raise InputError(
                f"{path}: unsupported file type {path.suffix.lower()!r}; use CSV/TSV (also "
                "compressed: .csv.gz, .csv.zst…), Parquet or Excel (.xlsx)"
            )
        if kind != kinds[0]:
            raise InputError(
                f"{path}: is {kind} while {files[0]} is {kinds[0]}; the parts of one input "
                "must be of one type"
            )
    single = len(files) == 1
    if single and label != "<stdin>" and Path(label) == files[0]:
        fingerprint = file_fingerprint(files[0])
    elif single:  # a pipe or standard input, copied to a temporary file
        fingerprint = file_fingerprint(files[0]) | {"name": Path(label).name or label}
    else:
        fingerprint = files_fingerprint(label, files, root)
    kind = kinds[0]
    shown = files[0].suffix.lower().lstrip(".") or "CSV"
    try:
        if kind == "excel":
            if not single:
                raise InputError(
                    f"{label}: holds {len(files)} Excel workbooks; give one workbook, or CSV "
                    "or Parquet parts"
                )
            return _open_excel(con, files[0], label, view, sheet, fingerprint)
        if kind == "parquet":
            return _open_parquet(con, view, label, files, fingerprint)
        return _open_csv(con, view, label, files, root, fingerprint, scratch)
    except (InputError, SchemaError, EngineStopped):
        raise
    except (EngineError, ValueError, OSError, UnicodeError, EOFError, lzma.LZMAError) as exc:
        raise InputError(
            f"{label}: cannot be read as {shown} ({_first_line(exc)}); check that the file is "
            f"complete and of the type its extension says{_zstd_hint(files)}"
        ) from exc


def _zstd_hint(files: Sequence[Path]) -> str:
    """What to do when a ``.zst`` file Python cannot open fails in the engine."""
    if any(not can_decompress(p) for p in files):
        return (
            "; a .zst file that is not UTF-8 text needs the zstandard package "
            "(pip install zstandard), or decompress it first"
        )
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_parquet(path: Path) -> None:
    """Refuse a file that does not start and end with Parquet's magic bytes."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty")
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(max(size - 4, 0))
        tail = fh.read(4)
    if head not in (b"PAR1", b"PARE"):
        raise InputError(
            f"{path}: is not a Parquet file (it does not start with Parquet's signature); "
            "give the file its true extension, or export it again as Parquet"
        )
    if size < 12 or tail not in (b"PAR1", b"PARE"):
        raise InputError(
            f"{path}: is a damaged Parquet file (truncated: its end is missing); copy or "
            "export it again"
        )


def damaged_parquet(label: str, exc: BaseException) -> CustsegError:
    """The error for a Parquet file the engine cannot read (the engine's own when the engine
    stopped: the file is not at fault)."""
    if isinstance(exc, EngineStopped):
        return EngineStopped(str(exc))
    return InputError(
        f"{label}: is a damaged Parquet file ({_first_line(exc)}); copy or export it again"
    )


def _open_parquet(
    con: Engine, view: str, label: str, files: list[Path], fingerprint: dict[str, Any]
) -> Source:
    first: list[str] | None = None
    for path in files:
        _check_parquet(path)
        if len(files) == 1:
            break
        try:
            con.scan(view, path, format="parquet")
            columns = list(con.describe(view))
        except EngineError as exc:
            raise damaged_parquet(str(path), exc) from exc
        if first is None:
            first = columns
        else:
            _same_columns(files[0], first, path, columns)
    try:
        con.scan(view, files[0] if len(files) == 1 else files, format="parquet")
        src = _describe(con, view, label, "parquet", fingerprint)
    except EngineError as exc:
        raise damaged_parquet(label, exc) from exc
    src.files = list(files)
    return src


def _same_columns(first: Path, expected: list[str], path: Path, columns: list[str]) -> None:
    if [c.casefold() for c in columns] != [c.casefold() for c in expected]:
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        what = (
            f"lacks {', '.join(map(repr, missing))}" * bool(missing)
            + (" and " if missing and extra else "")
            + f"has {', '.join(map(repr, extra))}" * bool(extra)
        ) or "has the same columns in another order"
        raise InputError(
            f"{path}: its columns differ from those of {first} (it {what}); the parts of one "
            "input must have the same columns"
        )


def _open_csv(
    con: Engine,
    view: str,
    label: str,
    files: list[Path],
    root: Path,
    fingerprint: dict[str, Any],
    scratch: _Scratch,
) -> Source:
    parts: list[_CsvPart] = []
    for path in files:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        part = _prepare_csv(path, scratch, name)
        if parts:
            head = parts[0]
            if part.header and head.header:
                _same_columns(head.path, head.header, part.path, part.header)
            if (part.delimiter, part.skip) != (head.delimiter, head.skip):
                raise InputError(
                    f"{part.path}: its first line "
                    + ("names" if part.skip else "does not name")
                    + f" the separator while that of {head.path} "
                    + ("does" if head.skip else "does not")
                    + "; the parts of one input must be written alike"
                )
        parts.append(part)
    targets = [p.target for p in parts]
    head = parts[0]
    con.scan(
        view,
        targets[0] if len(targets) == 1 else targets,
        format="csv",
        parallel=not any(p.spans for p in parts),
        delimiter=head.delimiter,
        skip=head.skip,
    )
    src = _describe(con, view, label, "csv", fingerprint)
    for part in parts:
        if len(part.header) == len(src.columns):
            check_unique_names(part.header, str(part.path))
    src.encoding = head.encoding
    # the rows are estimated from the files as given (their copies, when compressed)
    src.files = [p.path if compression_of(p.path) is None else p.target for p in parts]
    src.compressed = any(compression_of(t) for t in targets)
    return src


def _excel_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers in a column named like a date (``InvoiceDate``, ``date``…) read as the Excel
    serial dates they are (days since 1899-12-30), when every value is in 1950-2100."""
    dates = {normalize_name(a) for a in ALIASES["date"]}
    out = frame
    for col in frame.columns:
        values = frame[col]
        if normalize_name(str(col)) not in dates or not pd.api.types.is_numeric_dtype(values):
            continue
        if pd.api.types.is_bool_dtype(values):
            continue
        known = values.dropna()
        if known.empty or not known.between(18264, 73051).all():  # 1950-01-01 … 2100-01-01
            continue
        if out is frame:
            out = frame.copy()
        out[col] = pd.to_datetime(values, unit="D", origin="1899-12-30").dt.round("s")
    return out


def _open_excel(
    con: Engine,
    path: Path,
    label: str,
    view: str,
    sheet: str | int | None,
    fingerprint: dict[str, Any],
) -> Source:
    kind = path.suffix.lower().lstrip(".")
    try:
        which = 0 if sheet is None else sheet
        frame = pd.read_excel(path, sheet_name=which, engine="calamine")
        header = pd.read_excel(path, sheet_name=which, engine="calamine", header=None, nrows=1)
    except Exception as exc:  # calamine raises its own exception types for broken workbooks
        raise InputError(
            f"{label}: cannot be read as {kind} ({_first_line(exc)}); check that "
            "the file is a complete Excel workbook of the type its extension says"
        ) from exc
    if len(header):
        check_unique_names([v for v in header.iloc[0].tolist() if pd.notna(v)], label)
    con.register(view, _excel_dates(frame))
    src = _describe(con, view, label, "excel", fingerprint)
    src.files = [path]
    return src


def _describe(con: Engine, view: str, label: str, kind: str, fp: dict[str, Any]) -> Source:
    types = con.describe(view)
    if not types:
        raise InputError(f"{label}: no columns found; is the file empty?")
    return Source(view, list(types), types, label, kind, fp)


def read_error(src: Source | None, label: str, exc: BaseException) -> CustsegError:
    """A one-line error for a failure of the engine while it reads a source to the end."""
    if isinstance(exc, EngineStopped):
        return EngineStopped(str(exc))
    if src is not None and src.kind == "parquet":
        return damaged_parquet(label, exc)
    return InputError(
        f"{label}: the data could not be read to the end ({_first_line(exc)}); check the file "
        f"for malformed lines, or convert it to Parquet{_zstd_hint(src.files if src else [])}"
    )
