"""Two published unsupervised baselines for KPI series, scored point by point from past data only.

- Rolling robust z-score: |x_t - median| / (1.4826 MAD) of the previous `window` non-missing points.
- Spectral residual (Ren et al., "Time-Series Anomaly Detection Service at Microsoft", KDD 2019),
  as Microsoft's reference code (anomalydetector, msanomalydetector/spectral_residual.py) does it:
  the `window` points ending at t, extended by m = 5 copies of a prediction from the 6 points
  before t (so a spike at t does not raise its own extension); the saliency map S = |IFFT(exp(R +
  iP))| with R = log amplitude minus its trailing q = 3 mean; score(t) = |S_t - mean of the z = 21
  S ending at t| / that mean.
Missing points are forward-filled for spectral residual (it needs a continuous signal) and get
no score (NaN) from either method, as the metrics leave missing points out.
"""

from __future__ import annotations

import numpy as np

from edge.score_combine import series_zscore


def rolling_robust_zscore(values: np.ndarray, missing: np.ndarray, window: int = 120,
                          chunk: int = 8192) -> np.ndarray:
    """values, missing (n,) -> scores (n,), NaN before a full window and at missing points.

    The gateway's z-score (edge.score_combine, what a KPI bundle combines with Donut) over windows of
    `window` previous points plus the scored one, so the baseline and the bundle score alike.
    """
    return series_zscore(values, missing, window + 1, chunk)


def _forward_fill(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    index = np.where(missing, 0, np.arange(values.size))
    np.maximum.accumulate(index, out=index)
    filled = values[index].astype(np.float64)
    return filled


def spectral_residual(values: np.ndarray, missing: np.ndarray, window: int = 720, *, extend: int = 5,
                      q: int = 3, z: int = 21, chunk: int = 2048) -> np.ndarray:
    """values, missing (n,) -> scores (n,), NaN before a full window and at missing points."""
    from scipy.ndimage import uniform_filter1d

    x = _forward_fill(values, missing)
    out = np.full(x.shape, np.nan)
    views = np.lib.stride_tricks.sliding_window_view(x, window)  # row k ends at point k + window - 1
    for a in range(0, views.shape[0], chunk):
        w = views[a : a + chunk]
        before = w[:, -extend - 2 : -1]  # x_{t-6} .. x_{t-1}
        slopes = (before[:, -1:] - before[:, :-1]) / np.arange(extend, 0, -1)
        ext = before[:, 1] + slopes.sum(axis=1)  # the reference's predict_next
        seq = np.concatenate([w, np.repeat(ext[:, None], extend, axis=1)], axis=1)
        spectrum = np.fft.fft(seq, axis=1)
        amplitude = np.maximum(np.abs(spectrum), 1e-8)
        log_amp = np.log(amplitude)
        smooth = uniform_filter1d(log_amp, size=q, axis=1, mode="nearest", origin=(q - 1) // 2)  # trailing mean
        saliency = np.abs(np.fft.ifft(np.exp(log_amp - smooth) * spectrum / amplitude, axis=1))
        s_t = saliency[:, window - 1]
        local = saliency[:, window - z : window].mean(axis=1)
        out[np.arange(a, a + w.shape[0]) + window - 1] = np.abs(s_t - local) / np.maximum(local, 1e-8)
    return np.where(missing, np.nan, out)
