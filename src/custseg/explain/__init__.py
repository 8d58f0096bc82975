"""Explanation of a segmentation: names, personas, profiles, verdict sentences, diagnostics.

Everything a reader is told about the segments is computed here; ``report/`` and the terminal
only render it.
"""
