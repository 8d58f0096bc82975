"""Output files written atomically: text, JSON, CSV and Parquet.

Each file is written to a temporary sibling and renamed over its target, so a reader never sees
half a file. Large tables are written without a Python loop over rows: the CSV by the DuckDB
engine (:meth:`~custseg.engines.duckdb.DuckDBEngine.copy_csv`), in row blocks written side by side by several threads and joined in order, with
pandas' own rendering (same bytes as ``DataFrame.to_csv``); the Parquet file by pyarrow.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg.config import settings
from custseg.engines.duckdb import DuckDBEngine
from custseg.errors import CustsegError, EngineError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return _atomic(path, lambda p: p.write_text(text, encoding="utf-8", newline="\n"))


def write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically, keys in the order given, 2-space indent, UTF-8.

    JSON has no NaN or infinity: a document holding one is refused before anything is written,
    with a one-line :class:`~custseg.errors.CustsegError` naming the file and the place.
    """
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        where = _non_finite(data, "$")
        if where is None:
            raise
        raise CustsegError(
            f"{path.name}: {where[0]} is {where[1]}, not a finite number; a value of the input "
            "is too large to compute with: check it for absurd values"
        ) from exc
    return write_text(path, text + "\n")


def _non_finite(data: Any, where: str) -> tuple[str, float] | None:
    """JSON path and value of the first NaN or infinity in ``data`` (``None``: none)."""
    if isinstance(data, float):
        return None if np.isfinite(data) else (where, data)
    if isinstance(data, dict):
        items: Any = ((f"{where}.{k}", v) for k, v in data.items())
    elif isinstance(data, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(data))
    else:
        return None
    for place, value in items:
        found = _non_finite(value, place)
        if found is not None:
            return found
    return None


#: fewest rows for which DuckDB writes the CSV (pandas is quicker on smaller tables)
CSV_DUCKDB_ROWS = 10_000


#: fewest rows per block of a CSV written by several threads: below 2 blocks' worth, one COPY
#: (during ``SegmentationResult.save`` the Parquet file and the report keep the other core busy;
#: at millions of rows the CSV is the longest task and is worth splitting)
CSV_BLOCK_ROWS = 1_000_000


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame as UTF-8 CSV without the index, atomically.

    The bytes are those of ``frame.to_csv(index=False, lineterminator="\\n")``: shortest
    round-trip floats (``0.0``, ``1e-05``), missing values empty, fields quoted only when they
    hold a comma, a quote or a line break. Large tables of numbers and text (the customer
    tables custseg writes) are rendered by DuckDB, in row blocks written side by side; small
    tables, other column types, or a DuckDB that does not render like pandas (see
    :func:`duckdb_csv_is_pandas_csv`) by pandas.
    """
    table = _csv_table(frame) if len(frame) >= CSV_DUCKDB_ROWS else None

    def write(target: Path) -> None:
        if table is None or not _duckdb_csv(target, table):
            frame.to_csv(target, index=False, lineterminator="\n")

    return _atomic(path, write)


def _csv_table(frame: pd.DataFrame) -> Any:
    """``frame`` as an Arrow table whose DuckDB CSV is pandas' CSV, or ``None``.

    Integers, float64 and text render alike; booleans become pandas' ``True`` / ``False``.
    Other column types, text with a carriage return (quoted by DuckDB, not by pandas), and
    column names that are not text, are empty, repeat or hold a line break give ``None``.
    """
    import pyarrow as pa

    names = list(frame.columns)
    if (
        not names
        or not all(isinstance(c, str) and c and "\r" not in c and "\n" not in c for c in names)
        or len(set(names)) < len(names)
    ):
        return None
    arrays = []
    for name in names:
        col = frame[name]
        dtype = col.dtype
        if isinstance(dtype, np.dtype) and (dtype.kind in "iu" or dtype == np.float64):
            arrays.append(pa.array(col.to_numpy(), from_pandas=True))  # NaN → missing
        elif isinstance(dtype, np.dtype) and dtype.kind == "b":
            arrays.append(pa.array(np.where(col.to_numpy(), "True", "False")))
        elif isinstance(dtype, pd.StringDtype) or (
            pd.api.types.is_object_dtype(dtype)
            and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")
        ):
            text = pa.array(col, type=pa.large_string(), from_pandas=True)
            if _holds_byte(text, 13):  # "\r"
                return None
            arrays.append(text)
        else:
            return None
    return pa.table(arrays, names=names)


def _holds_byte(text: Any, byte: int) -> bool:
    """Whether the character data of an Arrow text array holds ``byte`` (one scan, no copy)."""
    for chunk in getattr(text, "chunks", [text]):
        data = chunk.buffers()[2]
        if data is not None and (np.frombuffer(data, dtype=np.uint8) == byte).any():
            return True
    return False


def _duckdb_csv(path: Path, table: Any) -> bool:
    """Write ``table`` (Arrow) as CSV into ``path``: row blocks by parallel threads, joined.

    ``False`` (nothing written) when this DuckDB does not render CSV as pandas does.
    """

    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(table.column_names)
    header = head.getvalue().encode("utf-8")
    blocks = max(1, min(cpu_count(), -(-table.num_rows // CSV_BLOCK_ROWS)))
    size = -(-table.num_rows // blocks) if table.num_rows else 0
    # block 0 (with DuckDB's header line) straight into path, the others beside it
    parts = [path, *(path.with_name(f"{path.name}.{i}") for i in range(1, blocks))]
    # one DuckDB thread per block, the blocks side by side (DuckDB's own threads would only
    # wait on the single writer of each COPY); a cursor per thread
    con = DuckDBEngine(threads=1)
    if not duckdb_csv_is_pandas_csv(con, path.with_name(path.name + ".probe")):
        con.close()
        return False
    cursors = [con.cursor() for _ in range(blocks)]
    try:

        def block(i: int) -> None:
            cursors[i].copy_csv(table.slice(i * size, size), parts[i], header=i == 0)

        if blocks == 1:
            block(0)
        else:
            with ThreadPoolExecutor(blocks) as pool:
                list(pool.map(block, range(blocks)))
        with open(path, "rb") as f:
            first = f.read(len(header))
        if first != header:  # DuckDB spelled a column name unlike pandas: rewrite the line
            _rewrite_header(path, header)
        fd = os.open(path, os.O_WRONLY)
        try:
            os.lseek(fd, 0, os.SEEK_END)
            for part in parts[1:]:
                _append(fd, part)
        finally:
            os.close(fd)
    finally:
        for cur in cursors:
            cur.close()
        con.close()
        for part in parts[1:]:
            part.unlink(missing_ok=True)
    return True


def cpu_count() -> int:
    """Cores this process may use (``CUSTSEG_THREADS`` caps it, as it caps DuckDB)."""
    return settings().workers


def _rewrite_header(path: Path, header: bytes) -> None:
    """Replace the first line of ``path`` (no column name holds a line break) by ``header``."""
    with open(path, "rb") as f:
        skip = len(f.readline())
    fixed = path.with_name(path.name + ".header")
    try:
        fd = os.open(fixed, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, header)
            _append(fd, path, skip)
        finally:
            os.close(fd)
        os.replace(fixed, path)
    finally:
        fixed.unlink(missing_ok=True)


def _append(fd: int, src: Path, start: int = 0) -> None:
    """Write the bytes of ``src`` from ``start`` at ``fd``'s offset (in the kernel if it can)."""
    with open(src, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        pos = start
        try:
            while pos < size:
                done = os.copy_file_range(f.fileno(), fd, size - pos, pos)
                if not done:
                    break
                pos += done
        except (AttributeError, OSError):  # not Linux, or not between these two files
            pass
        f.seek(pos)
        while chunk := f.read(1 << 20):
            _write_all(fd, chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


#: values whose CSV rendering differs most between writers (floats, quoting, missing values)
_PROBE = {
    "x": [
        0.0,
        -0.0,
        1.0,
        0.1,
        1 / 3,
        1e-05,
        1e-4,
        1e16,
        1e15,
        2.5e-300,
        1.7976931348623157e308,
        123456.789,
        float("nan"),
        float("inf"),
        float("-inf"),
        5e-324,
        1e22,
        12345678901234567.0,
    ],
    "n": [0, -1, 2**62, -(2**63), 7, 10**15, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15],
    "s": [
        "a,b",
        'q"u',
        "new\nline",
        "",
        None,
        " lead",
        "é ü",
        "#1",
        "x#",
        "NULL",
        "nan",
        "\t",
        "'",
        '""',
        "a b",
        "-",
        "1e5",
        "z",
    ],
}


_PANDAS_CSV: list[bool] = []  # the probe's answer, once known


def duckdb_csv_is_pandas_csv(con: DuckDBEngine | None = None, scratch: Path | None = None) -> bool:
    """Whether DuckDB's CSV of :data:`_PROBE` is byte for byte pandas' (probed once).

    ``con`` (a DuckDB engine) and ``scratch`` (a file name to write and delete) are used
    when given; the answer is kept for the rest of the process.
    """
    if _PANDAS_CSV:
        return _PANDAS_CSV[0]

    frame = pd.DataFrame(_PROBE).astype({"s": "string"})
    table = _csv_table(frame)
    expected = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="custseg-") as tmp:
        target = scratch or Path(tmp) / "probe.csv"
        own = con is None
        engine = DuckDBEngine(threads=1) if con is None else con
        try:
            engine.copy_csv(table, target, header=True)
            same = target.read_bytes() == expected
        except EngineError:  # an older DuckDB, without an option used here
            same = False
        finally:
            target.unlink(missing_ok=True)
            if own:
                engine.close()
    _PANDAS_CSV[:] = [same]
    return same


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet (zstd) without the index, atomically."""
    return _atomic(path, lambda p: frame.to_parquet(p, index=False, compression="zstd"))


def write_frames(folder: Path, frames: Iterator[pd.DataFrame]) -> None:
    """Write the blocks of a customer table too large to hold at once as ``segments.csv`` and
    ``segments.parquet`` in ``folder``, each atomically, reading every block once.

    The CSV's bytes are those of one ``to_csv`` of the whole table (the header once, then each
    block's rows); the Parquet file has a row group per block (zstd).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_tmp = folder / ".segments.csv.part"
    parquet_tmp = folder / ".segments.parquet.part"
    writer: pq.ParquetWriter | None = None
    try:
        with open(csv_tmp, "w", encoding="utf-8", newline="") as csv_out:
            for i, frame in enumerate(frames):
                frame.to_csv(csv_out, index=False, header=i == 0, lineterminator="\n")
                block = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(parquet_tmp, block.schema, compression="zstd")
                writer.write_table(block)
        if writer is not None:
            writer.close()
            writer = None
        for tmp in (csv_tmp, parquet_tmp):
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(csv_tmp, folder / "segments.csv")
        os.replace(parquet_tmp, folder / "segments.parquet")
    finally:
        if writer is not None:
            writer.close()
        for tmp in (csv_tmp, parquet_tmp):
            tmp.unlink(missing_ok=True)
