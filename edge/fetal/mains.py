"""Mains (50/60 Hz) levels of abdominal leads and their score (used by edge/fetal/quality.py).

Per frame, lead and line frequency: the power of the line bins (+-2 Hz) of a `window_s` Hann spectrum
and the median power of the bins 5-12 Hz away, both in dB. Two rises are derived from them against the
lead's typical values (medians over its history):

- relative: the line-over-neighbours dB less its typical value. Steady mains does not count, but on a
  lead that already carries it a fault adds little: a 50 Hz episode of 2x the lead's scale on a steady
  0.5x sine rises 9-14 dB, against 20-30 dB on a clean lead.
- excess: the line power ADDED over the typical line power, over the typical neighbour power, in dB
  (10 log10(1 + max(P - P_typ, 0) / N_typ)). Powers, not dB, are subtracted, so the same episode measures
  about the same on a clean lead and on one full of steady mains (a steady sine's line power hardly moves).

The powers come from one of two estimators. `line_powers`: a Hann spectrum of the window. `phasor_powers`
(the default): the window's half-period difference (x(t) - x(t - 1/(2 f)): twice the line, no baseline)
demodulated at each frequency, and the mean of the middle KEEP of the real and imaginary parts over the
window (a trimmed mean). A line is a steady phasor there and survives; a QRS complex is a few tens of ms of
the window, in the tails, and does not (a plain median did as well, but jumps on a coarse ADC).
On set-a records whose maternal QRS is large over a quiet background (a02, a09: std 4-5x the MAD), the QRS
filled the spectrum's line and neighbour bins, so a 50 Hz episode of 2x the MAD rose only 5-13 dB over its
neighbours, under the 15 dB onset (reports/fetal-quality, eighth round). A coarse ADC (set-a: 8 uV steps on
some leads) makes most differences 0: the neighbours' power is floored at the phasor power of the
quantization noise of the smallest step seen in the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LINES_HZ = (50.0, 60.0)
_FLOOR_DB = -200.0  # a line at or above Nyquist - 12 Hz: no power, no rise


def line_powers(w: np.ndarray, fs: float, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """w (frames, n, leads) windows of n = window_s * fs samples -> (line dB, neighbour dB), each (frames, 2, leads)."""
    n = w.shape[1]
    w = (w - w.mean(axis=1, keepdims=True)) * np.hanning(n)[None, :, None]
    power = np.abs(np.fft.rfft(w, axis=1)) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    line_db = np.full((w.shape[0], len(LINES_HZ), w.shape[2]), _FLOOR_DB)
    near_db = line_db.copy()
    for i, f0 in enumerate(LINES_HZ):
        if f0 + 12 >= fs / 2:
            continue
        line = np.abs(freqs - f0) <= 1.0 + 0.5 / window_s
        near = (np.abs(freqs - f0) >= 5) & (np.abs(freqs - f0) <= 12) & (np.abs(freqs - (110 - f0)) > 3)
        line_db[:, i] = 10 * np.log10(power[:, line].max(axis=1))
        near_db[:, i] = 10 * np.log10(np.median(power[:, near], axis=1))
    return line_db, near_db


KEEP = 0.2  # the middle share of the demodulated products averaged (chosen on half the set-a-dev records)


def _midmean(x: np.ndarray) -> np.ndarray:
    """The mean of the middle KEEP along axis 1 (frames, n, leads) -> (frames, leads): robust to a QRS
    complex as a median, and smooth where a coarse ADC makes most values 0 (a median jumps there)."""
    n = x.shape[1]
    lo = min(round(n * (1 - KEEP) / 2), (n - 1) // 2)
    hi = n - lo
    return np.asarray(np.partition(x, (lo, hi - 1), axis=1)[:, lo:hi].mean(axis=1))


def phasor_powers(w: np.ndarray, fs: float, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """w (frames, n, leads) windows -> (line dB, neighbour dB), each (frames, 2, leads): the power (uV^2) of the
    trimmed-mean demodulated phasor (module docstring) at the line, and the median of it at the neighbours
    (every 2 Hz 5-12 Hz away, not within 3 Hz of the other line), floored at quantization noise."""
    line_db = np.full((w.shape[0], len(LINES_HZ), w.shape[2]), _FLOOR_DB)
    near_db = line_db.copy()
    for i, f0 in enumerate(LINES_HZ):
        if f0 + 12 >= fs / 2:
            continue
        lag = max(1, round(fs / (2 * f0)))
        d = w[:, lag:] - w[:, :-lag]
        t = np.arange(lag, w.shape[1]) / fs
        freqs = [f for f in np.arange(f0 - 12, f0 + 12.1, 2.0) if abs(f - f0) >= 5 and abs(f - (110 - f0)) > 3]
        powers = []
        for f in (f0, *freqs):
            re = _midmean(d * np.cos(2 * np.pi * f * t)[None, :, None])
            im = _midmean(d * np.sin(2 * np.pi * f * t)[None, :, None])
            powers.append((re**2 + im**2) / (2 * np.sin(np.pi * f * lag / fs)) ** 2)
        # the average of n products of white noise of variance s^2 (the difference of two quantization
        # errors of the smallest step q: s^2 = q^2 / 6) has a power of about pi s^2 / (2 n), /4 for the gain
        ad = np.abs(d)
        step = np.where(ad > 0, ad, np.inf).min(axis=1)
        quant = np.pi * np.where(np.isfinite(step), step, 0.0) ** 2 / 6 / (8 * d.shape[1])
        line_db[:, i] = 10 * np.log10(powers[0] + 1e-20)
        near_db[:, i] = 10 * np.log10(np.maximum(np.median(powers[1:], axis=0), quant) + 1e-20)
    return line_db, near_db


def excess_db(line_db: np.ndarray, near_db: np.ndarray, typ_line_db: np.ndarray, high_line_db: np.ndarray,
              typ_near_db: np.ndarray) -> np.ndarray:
    """(frames, 2, leads) line and neighbour dB; (2, leads) their typical (median) values and the line's 84th
    percentile -> (frames, leads) the largest line's added power, dB (0 = nothing added).

    The added power is taken over the larger of the neighbours' power (the typical or this frame's:
    broadband noise such as motion lifts the line bins too) and the line's own usual spread (84th
    percentile less median, in power): over a steady sine of amplitude A, the lead's own 50 Hz content S
    moves the line power by about 2 A S, which grows with A.
    """
    spread = np.power(10.0, high_line_db / 10) - np.power(10.0, typ_line_db / 10)
    floor = 10 * np.log10(np.maximum(np.maximum(np.power(10.0, near_db / 10), np.power(10.0, typ_near_db / 10)),
                                     spread))
    added = np.power(10.0, (line_db - floor) / 10) - np.power(10.0, (typ_line_db - floor) / 10)
    return np.asarray(10 * np.log10(1.0 + np.maximum(added, 0.0))).max(axis=1)


def mains_score(rise_db: np.ndarray, db: np.ndarray, cfg: Any) -> np.ndarray:
    """Mains score from the rise (relative or excess dB, as cfg.mains_excess says) and from the line's dB over
    its neighbours themselves (same shapes); the second at most `mains_absolute_max`."""
    rise = 1.0 - np.exp(-np.maximum(rise_db - cfg.mains_onset_db, 0.0) / cfg.mains_spread_db)
    level = 1.0 - np.exp(-np.maximum(db - cfg.mains_absolute_db, 0.0) / cfg.mains_spread_db)
    return np.asarray(np.maximum(rise, cfg.mains_absolute_max * level))
