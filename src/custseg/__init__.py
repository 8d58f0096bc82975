"""custseg: customer segmentation from raw purchase data.

transaction lines → audited, cleaned lines → one row per customer (RFM and more, computed by
DuckDB) → skew-corrected, scaled K-Means with k chosen and explained → named segments, profiles,
a JSON model and a report.

Examples
--------
>>> import custseg
>>> sorted(custseg.__all__)[:3]
['CleaningRules', 'CustomerSegmenter', 'CustsegError']
"""

from custseg.errors import (
    CustsegError,
    EmptyDataError,
    InputError,
    ModelError,
    NotFittedError,
    SchemaError,
    TooFewCustomersError,
)
from custseg.model import CustomerSegmenter
from custseg.model.run import RunModel
from custseg.outputs.folder import run, save
from custseg.outputs.lifecycle import compare, track
from custseg.pipeline import SegmentationResult, explore, segment
from custseg.stages.audit import CleaningRules
from custseg.stages.ledger import Ledger
from custseg.version import __version__

load_model = RunModel.load

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
    "segment",
    "track",
]
