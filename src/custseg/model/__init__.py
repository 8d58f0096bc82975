"""The model: the algorithm registry, the clustering estimator, the choice of k, RFM scoring
and persistence as JSON."""

from custseg.model.algorithms import ALGORITHMS, Algorithm, get_algorithm, register
from custseg.model.persistence import load
from custseg.model.rfm import RFM_FEATURES, RFMScorer
from custseg.model.segmenter import CustomerSegmenter, segment_numbers

__all__ = [
    "ALGORITHMS",
    "RFM_FEATURES",
    "Algorithm",
    "CustomerSegmenter",
    "RFMScorer",
    "get_algorithm",
    "load",
    "register",
    "segment_numbers",
]
