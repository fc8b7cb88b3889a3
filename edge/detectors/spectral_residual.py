"""Spectral residual (Ren et al., "Time-Series Anomaly Detection Service at Microsoft", KDD 2019), NumPy only.

As Microsoft's reference code (anomalydetector, msanomalydetector/spectral_residual.py): the
WINDOW points ending at t, extended by EXTEND copies of a prediction from the 6 points before t
(so a spike at t does not raise its own extension); the saliency map S = |IFFT(exp(R + iP))| with
R = log amplitude minus its trailing Q-point mean; score(t) = |S_t - mean of the Z values of S
ending at t| / that mean (dimensionless, >= 0).

Missing points are filled from the last present point before them in the window (the first
present point for a window that starts in a gap); a missing last point, or a window without any
present point, gets no score (NaN). The gateway scores one batch of windows at a time, so memory
stays a batch of (n, WINDOW) arrays whatever the recording's length.
"""

from __future__ import annotations

import numpy as np

WINDOW = 720
EXTEND = 5
Q = 3
Z = 21


def _fill(windows: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """(n, W) values and missing mask -> values with each missing point set to the last present one."""
    w = windows.shape[1]
    index = np.where(missing, -1, np.arange(w)[None, :])
    np.maximum.accumulate(index, axis=1, out=index)
    first = np.argmax(~missing, axis=1)  # leading gap: the first present point
    index = np.where(index < 0, first[:, None], index)
    return np.take_along_axis(windows.astype(np.float64), index, axis=1)


def _trailing_mean(a: np.ndarray, q: int) -> np.ndarray:
    """(n, m) -> mean of each row's q entries ending at each column (the first entry repeated before it)."""
    padded = np.concatenate([np.repeat(a[:, :1], q - 1, axis=1), a], axis=1)
    c = np.cumsum(padded, axis=1)
    c = np.concatenate([np.zeros((a.shape[0], 1)), c], axis=1)
    return (c[:, q:] - c[:, :-q]) / q


def window_sr(windows: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """windows, missing (n, W >= 7) -> spectral residual score of each window's last point (n,) float64."""
    w = _fill(windows, missing)
    width = w.shape[1]
    before = w[:, -EXTEND - 2 : -1]  # x_{t-6} .. x_{t-1}
    slopes = (before[:, -1:] - before[:, :-1]) / np.arange(EXTEND, 0, -1)
    ext = before[:, 1] + slopes.sum(axis=1)  # the reference's predict_next
    seq = np.concatenate([w, np.repeat(ext[:, None], EXTEND, axis=1)], axis=1)
    spectrum = np.fft.fft(seq, axis=1)
    amplitude = np.maximum(np.abs(spectrum), 1e-8)
    log_amp = np.log(amplitude)
    saliency = np.abs(np.fft.ifft(np.exp(log_amp - _trailing_mean(log_amp, Q)) * spectrum / amplitude, axis=1))
    local = saliency[:, width - min(Z, width) : width].mean(axis=1)
    out = np.abs(saliency[:, width - 1] - local) / np.maximum(local, 1e-8)
    return np.where(missing[:, -1] | missing.all(axis=1), np.nan, out)


def series_sr(values: np.ndarray, missing: np.ndarray, window: int = WINDOW, chunk: int = 1024) -> np.ndarray:
    """values, missing (n,) -> window_sr of every point (n,), NaN for the first window - 1 (blocks of chunk)."""
    out = np.full(values.shape, np.nan)
    if values.size < window:
        return out
    views = np.lib.stride_tricks.sliding_window_view(values, window)
    gaps = np.lib.stride_tricks.sliding_window_view(missing, window)
    for a in range(0, views.shape[0], chunk):
        block = window_sr(views[a : a + chunk], gaps[a : a + chunk])
        out[a + window - 1 : a + window - 1 + block.size] = block
    return out
