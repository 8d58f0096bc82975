"""custseg: customer segmentation from raw purchase data.

transaction lines → audited, cleaned lines → one row per customer (RFM and more, computed by
DuckDB) → skew-corrected, scaled K-Means with k chosen and explained → named segments, profiles,
a JSON model and a report.

The public names are imported on first use (PEP 562), so that ``import custseg`` and the
command line's ``--help`` do not load pandas, scikit-learn or DuckDB.

Examples
--------
>>> import custseg
>>> sorted(custseg.__all__)[:3]
['CleaningRules', 'CustomerSegmenter', 'CustsegError']
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from custseg.errors import (
    CustsegError,
    EmptyDataError,
    InputError,
    ModelError,
    NotFittedError,
    SchemaError,
    TooFewCustomersError,
)
from custseg.version import __version__

if TYPE_CHECKING:
    from custseg.model import CustomerSegmenter
    from custseg.model.run import RunModel
    from custseg.outputs.folder import run, save
    from custseg.outputs.lifecycle import compare, track
    from custseg.outputs.query import sql
    from custseg.outputs.scores import score
    from custseg.pipeline import SegmentationResult, explore, segment
    from custseg.stages.audit import CleaningRules
    from custseg.stages.ledger import Ledger

    load_model = RunModel.load

#: public name → (module, attribute), imported by :func:`__getattr__` on first use
_LAZY: dict[str, tuple[str, str]] = {
    "CleaningRules": ("custseg.stages.audit", "CleaningRules"),
    "CustomerSegmenter": ("custseg.model", "CustomerSegmenter"),
    "Ledger": ("custseg.stages.ledger", "Ledger"),
    "RunModel": ("custseg.model.run", "RunModel"),
    "SegmentationResult": ("custseg.pipeline", "SegmentationResult"),
    "compare": ("custseg.outputs.lifecycle", "compare"),
    "explore": ("custseg.pipeline", "explore"),
    "run": ("custseg.outputs.folder", "run"),
    "save": ("custseg.outputs.folder", "save"),
    "score": ("custseg.outputs.scores", "score"),
    "segment": ("custseg.pipeline", "segment"),
    "sql": ("custseg.outputs.query", "sql"),
    "track": ("custseg.outputs.lifecycle", "track"),
}

__all__ = [
    "CleaningRules",
    "CustomerSegmenter",
    "CustsegError",
    "EmptyDataError",
    "InputError",
    "Ledger",
    "ModelError",
    "NotFittedError",
    "RunModel",
    "SchemaError",
    "SegmentationResult",
    "TooFewCustomersError",
    "__version__",
    "compare",
    "explore",
    "load_model",
    "run",
    "save",
    "score",
    "segment",
    "sql",
    "track",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it in the module (PEP 562).

    Examples
    --------
    >>> import custseg
    >>> custseg.load_model.__qualname__
    'RunModel.load'
    >>> custseg.model.load.__module__  # subpackages too, as when they were imported eagerly
    'custseg.model.persistence'
    """
    if name == "load_model":
        value: Any = import_module("custseg.model.run").RunModel.load
    elif name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(import_module(module), attribute)
    elif not name.startswith("_") and find_spec(f"custseg.{name}") is not None:
        value = import_module(f"custseg.{name}")  # a subpackage, e.g. custseg.model.load
    else:
        raise AttributeError(f"module 'custseg' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy public ones included."""
    return sorted(set(globals()) | set(__all__))
