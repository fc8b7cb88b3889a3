"""Donut's score combined with a rolling robust z-score, both scaled by their validation normal scores.

Each score s becomes (s - median) / (p99 - median) of that score's normal points on the validation
part of the training series (the scales are stored in the bundle), so 1.0 means "as high as the
1 % most unusual normal validation points" for either. The combined score is the larger of
Donut's (signed, to the power donut_power, 0.5 by default: Donut's minus log-probability grows
with the squared deviation, the z-score with the deviation) and z_weight times the z-score's. A
point without a z-score (the first window, a missing point) keeps Donut's. The robust z-score of
point t: |x_t - median| / (1.4826 MAD) of the window's previous points that are not missing
(window - 1 of them), as train.series_baselines computes it over window points.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

MAD_TO_STD = 1.4826
SCALE_PERCENTILE = 99.0


def window_zscore(windows: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """windows, missing (n, W) -> robust z of each window's last point against its first W - 1 (n,).

    NaN where the last point is missing or no earlier point is present.
    """
    past = np.where(missing[:, :-1], np.nan, windows[:, :-1].astype(np.float64))
    with warnings.catch_warnings():  # a window of only missing points has no median: NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(past, axis=1)
        mad = np.nanmedian(np.abs(past - med[:, None]), axis=1) * MAD_TO_STD
    z = np.abs(windows[:, -1] - med) / np.maximum(np.nan_to_num(mad, nan=0.0), 1e-9)
    return np.where(missing[:, -1], np.nan, z)


def fit_scales(donut: np.ndarray, zscore: np.ndarray, labels: np.ndarray, *, z_weight: float = 1.0,
               donut_power: float = 0.5) -> dict[str, Any]:
    """Validation scores (m,) of both (NaN = unscored) and labels (m,) -> the scales of combined_scores."""
    out: dict[str, Any] = {"kind": "max", "percentile": SCALE_PERCENTILE, "z_weight": z_weight,
                           "donut_power": donut_power}
    for name, s in (("donut", donut), ("zscore", zscore)):
        normal = s[~labels.astype(bool) & ~np.isnan(s)]
        med, top = (float(np.percentile(normal, q)) for q in (50.0, SCALE_PERCENTILE)) if normal.size else (0.0, 1.0)
        out[name] = [med, max(top - med, 1e-9)]
    return out


def combined_scores(donut: np.ndarray, zscore: np.ndarray, scales: dict[str, Any]) -> np.ndarray:
    """Donut scores (n,) and robust z (n,) (NaN allowed) -> combined scores (n,) float64."""
    d = (donut - scales["donut"][0]) / scales["donut"][1]
    power = float(scales.get("donut_power", 1.0))
    if power != 1.0:  # Donut's score grows with the squared deviation, the z-score with the deviation
        d = np.sign(d) * np.abs(d) ** power
    z = (zscore - scales["zscore"][0]) / scales["zscore"][1] * float(scales["z_weight"])
    return np.where(np.isnan(z), d, np.fmax(d, z))


def series_zscore(values: np.ndarray, missing: np.ndarray, window: int, chunk: int = 8192) -> np.ndarray:
    """values, missing (n,) -> window_zscore of every point (n,), NaN for the first window - 1 (blocks of chunk)."""
    out = np.full(values.shape, np.nan)
    views = np.lib.stride_tricks.sliding_window_view(values, window)
    gaps = np.lib.stride_tricks.sliding_window_view(missing, window)
    for a in range(0, views.shape[0], chunk):
        out[a + window - 1 : a + window - 1 + len(views[a : a + chunk])] = window_zscore(views[a : a + chunk],
                                                                                          gaps[a : a + chunk])
    return out
