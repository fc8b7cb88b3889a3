"""Maternal QRS detection over all abdominal leads of a block.

The maternal QRS dominates the abdominal leads (typically 5-10x the fetal one), so an energy
detector over the leads, each scaled by its own robust level so that no single noisy lead
decides, finds it reliably. Each beat is then aligned to the median maternal waveform over all
leads by cross-correlation, because template subtraction leaves a residual proportional to the
alignment jitter.
"""

from __future__ import annotations

import numpy as np

from edge.fetal.dsp import find_peaks
from edge.fetal.prep import bandpass, moving_average, robust_scale

MIN_RR_S = 0.33  # maternal rate at most ~180 bpm
BAND_HZ = (5.0, 25.0)  # maternal QRS energy; below most fetal QRS energy
ARTEFACT_LEVEL = 4.0  # energy peaks over this many times the typical beat's are artefact (breathing moves it < 2x)


def maternal_feature(x: np.ndarray, fs: float) -> np.ndarray:
    """x (n, leads) filtered µV -> (n,) QRS energy: leads scaled to their median energy, then weighted
    by the squared periodicity of their energy at maternal intervals (0.33-1.5 s), so that a lead of
    noise, however loud, does not outvote the leads where the maternal heart shows."""
    from edge.fetal.fqrs import periodicity

    y = bandpass(x, fs, *BAND_HZ)
    e = moving_average(y**2, round(0.06 * fs))
    e = e / robust_scale(e)
    q, _ = periodicity(e, fs, lag_s=(MIN_RR_S, 1.5))
    w = np.maximum(q, 0.0) ** 2
    if w.sum() <= 0:
        w = np.ones_like(w)
    return np.asarray(e @ (w / w.sum()))


def detect_maternal(x: np.ndarray, fs: float, *, align_s: float = 0.015) -> np.ndarray:
    """Maternal QRS fiducial points (sample indices, int64, sorted) of a block x (n, leads).

    x must already be band-passed (baseline and mains removed). Peaks of the energy feature above
    30 % of its typical beat level and under ARTEFACT_LEVEL times it, at least MIN_RR_S apart, then
    re-aligned within +-align_s. The typical level is the median of the feature's maxima over
    consecutive 1.5-s spans (each holds a maternal beat): a burst of artefact of a second or two does
    not raise it. (With the 99.5th percentile of the window as the level, a 2-s burst 6x the ECG on CinC
    2013 record a69 hid every maternal beat of two windows, and the fetal picker locked on them.)
    """
    n = x.shape[0]
    if n < fs:
        return np.empty(0, np.int64)
    f = maternal_feature(x, fs)
    span = round(1.5 * fs)
    level = float(np.median(f[: n // span * span].reshape(-1, span).max(axis=1))) if n >= span else float(f.max())
    peaks = find_peaks(f, height=0.3 * level, distance=max(1, round(MIN_RR_S * fs)))
    # the artefact's own peaks are no maternal beats: as beats they would join (and spoil) the template
    peaks = peaks[f[peaks] <= ARTEFACT_LEVEL * level]
    if peaks.size < 3:
        return peaks.astype(np.int64)
    return align_beats(x, peaks, fs, align_s)


def align_beats(x: np.ndarray, peaks: np.ndarray, fs: float, align_s: float) -> np.ndarray:
    """Shift each peak (within +-align_s) to best match the median beat over all leads."""
    half = round(0.05 * fs)
    shift = round(align_s * fs)
    n = x.shape[0]
    ok = (peaks - half - shift >= 0) & (peaks + half + shift < n)
    if ok.sum() < 3:
        return peaks.astype(np.int64)
    z = x / robust_scale(x)
    offsets = np.arange(-half, half + 1)
    seg = z[peaks[ok][:, None] + offsets[None, :]]  # (beats, 2*half+1, leads)
    template = np.median(seg, axis=0)
    lags = np.arange(-shift, shift + 1)
    idx = peaks[ok][:, None, None] + lags[None, :, None] + offsets[None, None, :]
    scores = np.einsum("bkol,ol->bk", z[idx], template)  # (beats, lags)
    out = peaks.astype(np.int64).copy()
    out[ok] = peaks[ok] + lags[np.argmax(scores, axis=1)]
    return np.unique(out)
