"""Outlier fences of a customer table's numeric features, fitted once and replayed.

Policies: ``clip`` (winsorise the value at the fence), ``drop`` (drop the row) or ``keep``
(flag only). The fences are learned on the training rows; new rows are held to the same fences
with the same policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: what may be done with a value outside its fence
POLICIES: tuple[str, ...] = ("clip", "drop", "keep")


def fence(values: pd.Series, iqr: float) -> tuple[float, float, bool] | None:
    """Tukey fences, or ``None`` when the quartiles coincide (a mostly-constant count).

    Skewed non-negative columns (Bowley's quartile skewness above 0.25, which the outliers
    themselves cannot inflate) are fenced on the log scale. Returns (low, high, logged).
    """
    v = values.dropna().astype(float)
    q1, q2, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    if q3 <= q1:
        return None
    logged = bool((v >= 0).all() and (q3 + q1 - 2 * q2) / (q3 - q1) > 0.25)
    w = np.log1p(v) if logged else v
    q1, q3 = np.quantile(w, [0.25, 0.75])
    lo, hi = q1 - iqr * (q3 - q1), q3 + iqr * (q3 - q1)
    if logged:
        return float(np.expm1(lo)), float(np.expm1(hi)), True
    return float(lo), float(hi), False


def fit_fences(
    frame: pd.DataFrame,
    columns: Iterable[str],
    *,
    iqr: float,
    max_age: float,
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Fences ``{column: [low, high]}`` of the columns, and what they flag in ``frame``.

    An age above ``max_age`` is an outlier whatever the fences say. The flagged report gives per
    column its fences, whether they are on the log scale, the rows outside and up to ten values.
    """
    fences: dict[str, list[float]] = {}
    flagged: dict[str, Any] = {}
    for c in columns:
        found = fence(frame[c], iqr)
        if found is None:
            continue
        lo, hi, logged = found
        if c == "age":
            hi = min(hi, float(max_age))
        fences[c] = [lo, hi]
        bad = (frame[c] < lo) | (frame[c] > hi)
        if bad.any():
            flagged[c] = {
                "low": round(lo, 4),
                "high": round(hi, 4),
                "log_scale": logged,
                "rows": int(bad.sum()),
                "values": sorted({float(v) for v in frame.loc[bad, c].head(10)}),
            }
    return fences, flagged


def apply_fences(
    frame: pd.DataFrame, fences: Mapping[str, Sequence[float]], policy: str
) -> pd.DataFrame:
    """``frame`` held to the fences: values clipped, rows outside dropped, or left as they are.

    Missing values are not outliers (they are imputed afterwards).
    """
    if policy == "keep":
        return frame
    out = frame.copy()
    keep = pd.Series(True, index=out.index)
    for c, (lo, hi) in fences.items():
        if policy == "clip":
            out[c] = out[c].clip(lower=lo, upper=hi)
        else:
            keep &= ~((out[c] < lo) | (out[c] > hi))
    return out if policy == "clip" else out[keep]
