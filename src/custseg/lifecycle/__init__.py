"""The model lives on: scoring new customers, the scoring as SQL, tracking and comparing runs.

Each module works on a fitted run (:class:`~custseg.model.run.RunModel`) and returns data;
writing folders and pages is :mod:`custseg.outputs` and :mod:`custseg.report`'s business.
"""

from custseg.lifecycle.compare import Comparison, Migration, compare_runs, migration
from custseg.lifecycle.track import TrackResult, track

__all__ = ["Comparison", "Migration", "TrackResult", "compare_runs", "migration", "track"]
