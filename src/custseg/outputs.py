"""Atomic output writing: every file is written to a temporary name, then renamed into place."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def significant(x: float | None, digits: int) -> float | None:
    """``x`` rounded to ``digits`` significant digits, for compact and stable JSON.

    ``None``, NaN and infinities give ``None``.

    Examples
    --------
    >>> significant(80995.123, 4), significant(0.0012345, 2), significant(float("nan"), 3)
    (81000.0, 0.0012, None)
    """
    if x is None or not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return round(float(x), digits - 1 - math.floor(math.log10(abs(x))))


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
    """Write JSON atomically, keys in the order given, 2-space indent, UTF-8."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame as UTF-8 CSV without the index, atomically."""
    return _atomic(path, lambda p: frame.to_csv(p, index=False, lineterminator="\n"))


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet (zstd) without the index, atomically."""
    return _atomic(path, lambda p: frame.to_parquet(p, index=False, compression="zstd"))
