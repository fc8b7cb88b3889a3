"""Filtering of abdominal ECG blocks: zero-phase band-pass and mains notches.

The filters are edge.fetal.dsp's, not scipy.signal's (whose import costs the gateway about 49 MB). Filter
designs are cached per (band, fs) because a stream filters thousands of blocks with the same design.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edge.fetal.dsp import butter_bandpass_sos, notch_sos, sosfiltfilt


@lru_cache(maxsize=32)
def _bandpass_sos(low: float, high: float, fs: float, order: int) -> np.ndarray:
    return butter_bandpass_sos(order, low, min(high, 0.45 * fs), fs)


@lru_cache(maxsize=32)
def _notch_sos(f0: float, fs: float, q: float) -> np.ndarray:
    return notch_sos(f0, q, fs)


def bandpass(x: np.ndarray, fs: float, low: float, high: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0. x (n, ...) -> float64 (n, ...)."""
    return sosfiltfilt(_bandpass_sos(low, high, fs, order), x)


def notch_mains(x: np.ndarray, fs: float, mains: tuple[float, ...] = (50.0, 60.0), q: float = 30.0) -> np.ndarray:
    """Zero-phase notches at the mains frequencies below Nyquist. x (n, ...) -> float64 (n, ...)."""
    for f0 in mains:
        if f0 < 0.45 * fs:
            x = sosfiltfilt(_notch_sos(f0, fs, q), x)
    return np.asarray(x)


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 (same length, edges averaged over what exists)."""
    width = max(1, int(width))
    if width == 1:
        return x
    c = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:])), x], axis=0), axis=0)
    n = x.shape[0]
    lo = np.clip(np.arange(n) - width // 2, 0, n)
    hi = np.clip(np.arange(n) + (width - width // 2), 0, n)
    shape = (n,) + (1,) * (x.ndim - 1)
    return (c[hi] - c[lo]) / (hi - lo).reshape(shape)


def robust_scale(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Median absolute deviation (scaled to a Gaussian sigma), floored to stay positive."""
    med = np.median(x, axis=axis, keepdims=True)
    mad = np.median(np.abs(x - med), axis=axis) * 1.4826
    return np.maximum(mad, 1e-9)
