"""What the report shows, computed from a run's outputs only (never from the input).

A run's folder (``segments.parquet``, ``profiles.csv``, ``model.json``, ``audit.json``,
``exploration.json``) → :class:`RunData` → :func:`prepare`: what every figure and table of the
report needs, computed by the explain layer (:mod:`custseg.explain.diagnostics`). A fresh run goes
through the same JSON/CSV round trip as its files, so the page rebuilt from the folder is
byte-identical to the one written by the run.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.errors import InputError, ModelError
from custseg.explain import naming
from custseg.explain.diagnostics import diagnose
from custseg.explain.personas import personas
from custseg.model import persistence, schema
from custseg.report import manifest

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationResult


@dataclass
class RunData:
    """A run as saved in its folder: tables and documents, nothing else."""

    segments: pd.DataFrame
    profiles: pd.DataFrame
    model_doc: dict[str, Any]
    audit: dict[str, Any]
    exploration: dict[str, Any] | None
    #: algorithms compared (``compare.json``), when the run compared any
    comparison: dict[str, Any] | None = None
    #: what changed since an earlier run (``changes.json``), when the run was given one
    changes: dict[str, Any] | None = None
    #: every customer's count when ``segments`` holds a sample of them (a result clustered in
    #: its engine, before it is read back from its folder)
    customers: int | None = None

    @classmethod
    def from_result(cls, result: SegmentationResult) -> RunData:
        """The run as it will read back from its files (JSON and CSV round trips)."""
        csv = result.profiles.to_csv(index=False, lineterminator="\n")
        exploration = getattr(result, "exploration", None)
        compared = getattr(result, "comparison", None)
        changes = getattr(result, "changes", None)
        return cls(
            segments=result.segments,
            profiles=pd.read_csv(io.StringIO(csv)),
            model_doc=_roundtrip(result.model_document()),
            audit=_roundtrip(result.ledger.to_dict()),
            exploration=_roundtrip(exploration) if exploration is not None else None,
            comparison=_roundtrip(compared.to_dict()) if compared is not None else None,
            changes=_roundtrip(changes) if changes is not None else None,
            customers=result.population.customers if result.population is not None else None,
        )

    @classmethod
    def from_dir(cls, folder: str | Path, shown: str | Path | None = None) -> RunData:
        """Read a sealed run folder; raise :class:`InputError` if it is not one whole run.

        Every file is checked against the folder's ``manifest.json`` (see
        :func:`custseg.report.manifest.open_run`) and parsed from the very bytes checked, so a
        folder mixing two runs, changed after its run, or left unsealed by an interrupted run
        is refused. ``shown`` names the folder in errors (default ``folder``).
        """
        label = shown if shown is not None else folder
        _, data = manifest.open_run(
            folder,
            (*manifest.NEEDED, "exploration.json", "compare.json", manifest.CHANGES),
            label,
        )
        try:
            segments = pd.read_parquet(io.BytesIO(data["segments.parquet"]))
            profiles = pd.read_csv(io.BytesIO(data["profiles.csv"]))
        except (OSError, ValueError) as exc:
            raise InputError(f"{label}: cannot read the run's outputs ({exc})") from exc
        exploration = data.get("exploration.json")
        folder_path = Path(label)
        model_doc, audit, exploration_doc = validate_run_documents(
            schema.parse_json(data["model.json"], str(folder_path / "model.json"), InputError),
            schema.parse_json(data["audit.json"], str(folder_path / "audit.json"), InputError),
            schema.parse_json(exploration, str(folder_path / "exploration.json"), InputError)
            if exploration is not None
            else None,
            folder=folder_path,
        )
        compared = data.get("compare.json")
        comparison = (
            schema.parse_json(compared, str(folder_path / "compare.json"), InputError)
            if compared is not None
            else None
        )
        changed = data.get(manifest.CHANGES)
        changes = (
            schema.parse_json(changed, str(folder_path / manifest.CHANGES), InputError)
            if changed is not None
            else None
        )
        if changes is not None and changes.get("format") != "custseg.changes/1":
            raise InputError(f"{folder_path / manifest.CHANGES}: not a custseg.changes/1 document")
        return cls(segments, profiles, model_doc, audit, exploration_doc, comparison, changes)


def read_run_document(path: Path) -> dict[str, Any]:
    """A run's JSON file read safely (:func:`custseg.model.schema.load_json`): a JSON object
    of bounded size and nesting, finite numbers only; else a one-line :class:`InputError`."""
    return schema.load_json(path, InputError)


def validate_run_documents(
    model_doc: Any, audit: Any, exploration: Any, *, folder: str | Path = "."
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Check a run's ``model.json``, ``audit.json`` and ``exploration.json`` (or ``None``)
    against their schemas (:mod:`custseg.model.schema`) before the report uses them.

    Raises a one-line :class:`InputError` naming the file and the fault; returns the three
    documents, unchanged.
    """
    folder = Path(folder)
    for name, doc in (
        ("model.json", model_doc),
        ("audit.json", audit),
        ("exploration.json", exploration),
    ):
        if doc is not None or name != "exploration.json":
            schema.validate(doc, name, str(folder / name), InputError)
    return model_doc, audit, exploration


def _roundtrip(data: Any) -> Any:
    return json.loads(json.dumps(data, ensure_ascii=False, allow_nan=False))


def _personas(
    segments: pd.DataFrame, model: Any, names: dict[int, str], lang: str
) -> tuple[dict[int, str], dict[int, str]]:
    """A customer table's persona names and portraits re-worded in ``lang`` (they are saved
    in the run's language only), from the segments table; ``names`` where a column is absent."""
    numeric = [str(c) for c in getattr(model, "numeric_features_", ()) or ()]
    categorical = [str(c) for c in getattr(model, "categorical", ()) or ()]
    if "segment" not in segments or not all(c in segments for c in (*numeric, *categorical)):
        return names, {}
    found = personas(segments, numeric, categorical, lang)
    return (
        {s: str(found[s]["name"]) if s in found else n for s, n in names.items()},
        {s: str(p["portrait"]) for s, p in found.items()},
    )


def prepare(run: RunData, lang: str | None = None) -> dict[str, Any]:
    """Every number the report needs, in ``lang`` (default: the run's language).

    The run's model is read back from ``model.json`` and the customers put in its scaled
    space; the numbers themselves come from :func:`custseg.explain.diagnostics.diagnose`
    (seeded samples of bounded size and aggregates, so the page has the same size for any
    number of customers).
    """
    doc = run.model_doc
    lang = lang or str(doc.get("lang", "en"))
    try:
        model = persistence.from_dict(doc.get("model", doc))
        slugs = persistence.segment_slugs(doc.get("model", doc))
    except ModelError as exc:
        raise InputError(f"model.json: {exc}") from exc
    ks = sorted(slugs)
    saved = doc.get("segment_names") or {}
    names = {
        s: str(saved[str(s)])
        if lang == doc.get("lang") and str(s) in saved
        else naming.segment_name(slugs[s], lang, s)
        for s in ks
    }
    portraits: dict[int, str] = {}
    if doc.get("kind") == "customers" and lang != doc.get("lang"):
        names, portraits = _personas(run.segments, model, names, lang)
    found = diagnose(
        run.segments,
        np.asarray(model.transform(run.segments), dtype=float),
        model.transformed_feature_names(),
        np.asarray(model.cluster_centers_, dtype=float),
        slugs=slugs,
        names=names,
        profiles=run.profiles,
        categorical=list(getattr(model, "categorical", ())),
        seed=model.random_state if isinstance(model.random_state, int) else 0,
        lang=lang,
        described_in=doc.get("lang"),
        sample_of=run.customers,
    )
    for card in found["cards"]:
        card["description"] = portraits.get(card["segment"], card["description"])
    return found | {
        "lang": lang,
        "kind": str(doc.get("kind", "transactions")),
        "segments": ks,
        "names": names,
        "slugs": slugs,
        "selection": model.selection_.to_dict() if model.selection_ is not None else None,
        "k": int(model.k_),
        "doc": doc,
        "audit": run.audit,
        "exploration": run.exploration,
    }
