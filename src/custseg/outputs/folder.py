"""A run folder: every output of a segmentation written together, with its report.

:func:`save` writes the files of a :class:`~custseg.pipeline.SegmentationResult` into a folder,
each atomically; :func:`run` is :func:`custseg.pipeline.segment` followed by :func:`save`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from custseg.outputs.files import write_csv, write_json, write_parquet, write_text
from custseg.pipeline import SegmentationResult, Step, segment
from custseg.report import render_html

OUTPUT_FILES = (
    "segments.parquet",
    "segments.csv",
    "profiles.csv",
    "model.json",
    "audit.json",
    "exploration.json",
    "report.html",
)


def save(result: SegmentationResult, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write every output file into ``out`` (created if needed), each atomically.

    The customer tables (CSV and Parquet, the files that grow with the customers) are
    written by worker threads while this thread writes the small files and the report.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = result.segments
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="custseg-save") as pool:
        tables = {
            "segments.parquet": pool.submit(write_parquet, out / "segments.parquet", table),
            "segments.csv": pool.submit(write_csv, out / "segments.csv", table),
        }
        small = {
            "profiles.csv": write_csv(out / "profiles.csv", result.profiles),
            "model.json": write_json(out / "model.json", result.model_document()),
            "audit.json": write_json(out / "audit.json", result.ledger.to_dict()),
        }
        if result.exploration is not None:
            small["exploration.json"] = write_json(out / "exploration.json", result.exploration)
        small["report.html"] = write_text(out / "report.html", render_html(result))
        return {name: done.result() for name, done in tables.items()} | small


def run(
    source: str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str],
    **kwargs: Any,
) -> SegmentationResult:
    """:func:`segment`, then write every output into ``out``."""
    on_step: Step | None = kwargs.get("on_step")
    result = segment(source, **kwargs)
    if on_step:
        on_step("write", {"out": str(out)})
    save(result, out)
    return result
