"""Array helpers of the signal-quality monitor (edge/fetal/quality.py): windows, moving means, missing samples.

All work along axis 0 (time) of (n, channels) float arrays; NumPy only.
"""

from __future__ import annotations

import numpy as np


def _windows(x: np.ndarray, centres: np.ndarray, width: int) -> np.ndarray:
    """(frames, width, ...) views of x (n, ...) centred on `centres` (indices into x, padded enough)."""
    view = np.lib.stride_tricks.sliding_window_view(x, width, axis=0)  # (n - width + 1, ..., width)
    return np.moveaxis(view[centres - width // 2], -1, 1)


def _boxcar(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 (same length; the ends are averages of what exists)."""
    width = max(1, width)
    c = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:])), x]), axis=0)
    n = x.shape[0]
    lo = np.clip(np.arange(n) - width // 2, 0, n)
    hi = np.clip(lo + width, 0, n)
    return (c[hi] - c[lo]) / (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1))


def _hold_missing(x: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Non-finite samples (lost frames, NaN in a record) hold the last finite value of their lead, so a
    stretch of missing samples reads as a flatline (no signal) and every feature stays finite."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    x = np.concatenate([last[None, :], x])
    bad = np.concatenate([np.zeros((1, x.shape[1]), dtype=bool), bad])
    idx = np.where(bad, 0, np.arange(x.shape[0])[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.take_along_axis(x, idx, axis=0)[1:]


def _mirror(x: np.ndarray, pad: int) -> np.ndarray:
    """The `pad` samples that mirror x's start about its first sample, nearest first: x[1], x[2], ...
    (the first sample repeated where x is shorter)."""
    r = x[1 : pad + 1]
    return np.concatenate([r, np.repeat(x[-1:] if r.size else x[:1], pad - r.shape[0], axis=0)])


def _run_lengths(flags: np.ndarray) -> np.ndarray:
    """Per sample (n, c) int: the length of the run of consecutive True along axis 0 it belongs to (0 if False)."""
    n = flags.shape[0]
    out = np.zeros(flags.shape, dtype=np.int64)
    for lead in range(flags.shape[1]):
        f = np.concatenate([[False], flags[:, lead], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(f))
        starts, ends = edges[::2], edges[1::2]
        marks = np.zeros(n + 1, dtype=np.int64)
        np.add.at(marks, starts, ends - starts)
        np.add.at(marks, ends, -(ends - starts))
        out[:, lead] = np.cumsum(marks[:n])
    return out


def low_fetal_scores(times_s: np.ndarray, hop_s: float, fetal_peaks_s: np.ndarray, top: float = 1.0) -> np.ndarray:
    """Per frame (f,): how far the gap between the fetal beats around the frame exceeds 1.7x their median interval,
    0..top (QualityConfig.low_fetal_max: a gap is the consequence of a fault, ranked under the signal faults).

    Before the first beat and after the last, the first frame's start and the last frame's end stand in for
    a beat: a recording is not short of fetal beats in the 0.2 s before its first one (a silent start or
    end longer than 1.7 intervals still is)."""
    centre = times_s + hop_s / 2
    peaks = np.sort(np.asarray(fetal_peaks_s, dtype=float))
    if peaks.size < 3 or centre.size == 0:
        return np.full(centre.shape, top, dtype=np.float32)
    med = float(np.median(np.diff(peaks)))
    idx = np.searchsorted(peaks, centre)
    prev = np.where(idx > 0, peaks[np.maximum(idx - 1, 0)], min(float(times_s[0]), peaks[0]))
    nxt = np.where(idx < peaks.size, peaks[np.minimum(idx, peaks.size - 1)], max(float(times_s[-1]) + hop_s, peaks[-1]))
    gap = nxt - prev
    return (top * np.clip((gap / med - 1.7) / 1.0, 0.0, 1.0)).astype(np.float32)
