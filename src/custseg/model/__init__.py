"""The model: preparation, the clustering estimator, the choice of k and persistence as JSON."""

from custseg.model.segmenter import RFM_FEATURES, CustomerSegmenter

__all__ = ["RFM_FEATURES", "CustomerSegmenter"]
