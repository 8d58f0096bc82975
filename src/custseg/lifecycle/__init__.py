"""Segments that live on: stability over time (track) and migration between runs (compare)."""

from custseg.lifecycle.compare import Comparison, Migration, compare_runs, migration
from custseg.lifecycle.track import TrackResult, track

__all__ = ["Comparison", "Migration", "TrackResult", "compare_runs", "migration", "track"]
