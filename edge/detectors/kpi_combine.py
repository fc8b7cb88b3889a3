"""KPI scores combined: Donut, robust z-scores and spectral residual, each scaled by its validation normal scores.

Each part's score s becomes (s - median) / (p99 - median) of that score's normal points on the
validation part of the training series (the scales are stored in the bundle), so 1.0 means "as
high as the 1 % most unusual normal validation points" for every part. The combined score is the
largest of the parts the bundle lists under "parts" (a bundle before it: Donut and the z-score):
Donut's (signed, to the power donut_power, 0.5 by default: Donut's minus log-probability grows
with the squared deviation, the others with the deviation), z_weight times the z-score's, and
spectral residual's (edge.detectors.spectral_residual). A part without a score at a point (no earlier
points, a missing point) is left out there. The robust z-score of point t: |x_t - median| /
(1.4826 MAD) of the window's previous points that are not missing (window - 1 of them), as
train.series_baselines computes it over window points. The difference z-score ("dzscore") is the
same robust z of the last step x_t - x_{t-1} against the window's earlier steps: it sees a jump
or a spike at once, where the level's z-score waits until the new level leaves the window's spread.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

MAD_TO_STD = 1.4826
MIN_PAST = 10  # earlier points a robust z-score needs
SCALE_PERCENTILE = 99.0
PARTS = ("donut", "zscore", "sr", "dzscore")  # every part a combined score may list, the order of the menu


def window_zscore(windows: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """windows, missing (n, W) -> robust z of each window's last point against its first W - 1 (n,).

    NaN where the last point is missing or fewer than MIN_PAST earlier points are present (all W - 1
    in a narrower window): a median and MAD of one or two points are noise (a file's second point
    would score ~1e8).
    """
    past = np.where(missing[:, :-1], np.nan, windows[:, :-1].astype(np.float64))
    with warnings.catch_warnings():  # a window of only missing points has no median: NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(past, axis=1)
        mad = np.nanmedian(np.abs(past - med[:, None]), axis=1) * MAD_TO_STD
    z = np.abs(windows[:, -1] - med) / np.maximum(np.nan_to_num(mad, nan=0.0), 1e-9)
    too_few = np.sum(~missing[:, :-1], axis=1) < min(MIN_PAST, windows.shape[1] - 1)
    return np.where(missing[:, -1] | too_few, np.nan, z)


def window_dzscore(windows: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """windows, missing (n, W) -> robust z of each window's last step against its W - 2 earlier steps (n,).

    A step is missing where either of its points is; NaN as window_zscore.
    """
    return window_zscore(np.diff(windows.astype(np.float64), axis=1), missing[:, 1:] | missing[:, :-1])


def part_names(scales: dict[str, Any]) -> tuple[str, ...]:
    """The parts a bundle's scales combine (a bundle before spectral residual: Donut and the z-score)."""
    return tuple(scales.get("parts", ("donut", "zscore")))


def fit_part_scales(scores: dict[str, np.ndarray], labels: np.ndarray, *, z_weight: float = 1.0,
                    donut_power: float = 0.5) -> dict[str, Any]:
    """Validation scores (m,) per part (NaN = unscored) and labels (m,) -> the scales of combine_parts."""
    out: dict[str, Any] = {"kind": "max", "percentile": SCALE_PERCENTILE, "z_weight": z_weight,
                           "donut_power": donut_power, "parts": [p for p in PARTS if p in scores]}
    for name, s in scores.items():
        normal = s[~labels.astype(bool) & ~np.isnan(s)]
        med, top = (float(np.percentile(normal, q)) for q in (50.0, SCALE_PERCENTILE)) if normal.size else (0.0, 1.0)
        out[name] = [med, max(top - med, 1e-9)]
    return out


def combine_parts(scores: dict[str, np.ndarray], scales: dict[str, Any]) -> np.ndarray:
    """Scores (n,) per part (NaN allowed; at least the scales' parts) -> combined scores (n,) float64.

    NaN only where every part is NaN.
    """
    out: np.ndarray | None = None
    for name in part_names(scales):
        s = (np.asarray(scores[name], dtype=np.float64) - scales[name][0]) / scales[name][1]
        if name == "donut" and float(scales.get("donut_power", 1.0)) != 1.0:  # squared deviation -> deviation
            s = np.sign(s) * np.abs(s) ** float(scales["donut_power"])
        elif name == "zscore":
            s = s * float(scales["z_weight"])
        out = s if out is None else np.fmax(out, s)
    assert out is not None, "a combined score has at least one part"
    return out


def fit_scales(donut: np.ndarray, zscore: np.ndarray, labels: np.ndarray, *, z_weight: float = 1.0,
               donut_power: float = 0.5) -> dict[str, Any]:
    """Validation scores (m,) of Donut and the z-score, labels (m,) -> the scales of combined_scores."""
    return fit_part_scales({"donut": donut, "zscore": zscore}, labels, z_weight=z_weight, donut_power=donut_power)


def combined_scores(donut: np.ndarray, zscore: np.ndarray, scales: dict[str, Any]) -> np.ndarray:
    """Donut scores (n,) and robust z (n,) (NaN allowed) -> combined scores (n,) float64."""
    return combine_parts({"donut": donut, "zscore": zscore}, scales)


def series_zscore(values: np.ndarray, missing: np.ndarray, window: int, chunk: int = 8192) -> np.ndarray:
    """values, missing (n,) -> window_zscore of every point (n,), NaN for the first window - 1 (blocks of chunk)."""
    out = np.full(values.shape, np.nan)
    views = np.lib.stride_tricks.sliding_window_view(values, window)
    gaps = np.lib.stride_tricks.sliding_window_view(missing, window)
    for a in range(0, views.shape[0], chunk):
        out[a + window - 1 : a + window - 1 + len(views[a : a + chunk])] = window_zscore(views[a : a + chunk],
                                                                                          gaps[a : a + chunk])
    return out


def series_dzscore(values: np.ndarray, missing: np.ndarray, window: int) -> np.ndarray:
    """values, missing (n,) -> window_dzscore of the window points ending at every point (n,), NaN before."""
    out = np.full(values.shape, np.nan)
    if values.size >= window:
        out[1:] = series_zscore(np.diff(values.astype(np.float64)), missing[1:] | missing[:-1], window - 1)
    return out
