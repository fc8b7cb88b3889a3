"""Maternal ECG cancellation by template subtraction, per lead.

Each maternal beat is cut from 0.35 to 0.65 of the median maternal RR around its fiducial point
(so consecutive cuts tile the cycle: P wave, QRS and T wave are all subtracted).
Methods (``none`` for a direct fetal lead such as a scalp electrode):

- ``ts``: the mean beat (template) subtracted as is;
- ``ts-scaled``: the template fitted to each beat by least squares (gain and offset);
- ``ts-shift``: the template, its time derivative and a constant fitted to each beat by least
  squares: gain, offset and a sub-sample shift (first-order Taylor term), because at 250-500 Hz the
  maternal R wave is a few samples wide and a one-sample misalignment leaves most of it behind;
- ``tspca``: each beat projected on the mean beat plus the first `components` principal
  components of the beat matrix (Kanjilal et al. 1997; Behar et al. 2014's TSpca). Fetal beats are
  not synchronous with the maternal ones, so they average out of the template and its components.

The choice is made by measurement (benchmarks/fetal_beats_eval.py prints the comparison).
"""

from __future__ import annotations

import numpy as np

METHODS = ("none", "ts", "ts-scaled", "ts-shift", "tspca")


def cancel_maternal(x: np.ndarray, peaks: np.ndarray, fs: float, *, method: str = "tspca",
                    components: int = 2) -> np.ndarray:
    """x (n, leads) filtered µV, maternal peaks (k,) -> residual (n, leads) with the maternal ECG removed."""
    if method not in METHODS:
        raise ValueError(f"cancellation method {method!r}: expected one of {', '.join(METHODS)}")
    n = x.shape[0]
    if method == "none" or peaks.size < 3:
        return x.copy()
    rr = float(np.median(np.diff(peaks)))
    pre, post = round(0.35 * rr), round(0.65 * rr)
    ok = (peaks - pre >= 0) & (peaks + post <= n)
    inner = peaks[ok]
    if inner.size < 3:
        return x.copy()
    offsets = np.arange(-pre, post)
    beats = x[inner[:, None] + offsets[None, :]]  # (k, L, leads)
    mean = beats.mean(axis=0)
    if method == "ts":
        fit = np.broadcast_to(mean, beats.shape)
    elif method == "ts-scaled":
        mc = mean - mean.mean(axis=0)
        bc = beats - beats.mean(axis=1, keepdims=True)
        gain = np.einsum("kil,il->kl", bc, mc) / np.maximum((mc**2).sum(axis=0), 1e-12)
        fit = gain[:, None, :] * mc[None] + beats.mean(axis=1, keepdims=True)
    elif method == "ts-shift":
        basis = np.stack([mean, np.gradient(mean, axis=0), np.ones_like(mean)], axis=1)  # (L, 3, leads)
        fit = np.empty_like(beats)
        for lead in range(x.shape[1]):
            b = basis[:, :, lead]
            coef, *_ = np.linalg.lstsq(b, beats[:, :, lead].T, rcond=None)  # (3, k)
            fit[:, :, lead] = (b @ coef).T
    else:
        fit = np.empty_like(beats)
        p = max(0, min(components, inner.size - 2))
        for lead in range(x.shape[1]):
            d = beats[:, :, lead] - mean[:, lead]
            if p:
                _u, _s, vt = np.linalg.svd(d, full_matrices=False)
                v = vt[:p]
                fit[:, :, lead] = mean[:, lead] + (d @ v.T) @ v
            else:
                fit[:, :, lead] = mean[:, lead]
    estimate = np.zeros_like(x)
    # later beats overwrite the overlap of a short RR; cuts start and end near the isoelectric line
    estimate[(inner[:, None] + offsets[None, :]).ravel()] = fit.reshape(-1, x.shape[1])
    # beats cut by the block edges: subtract the mean template over the part inside
    for p_ in peaks[~ok]:
        idx = p_ + offsets
        keep = (idx >= 0) & (idx < n)
        estimate[idx[keep]] = mean[keep]
    return x - estimate
