"""The few scipy.signal routines the fetal chain needs, written out for the gateway's memory.

Importing scipy.signal adds about 49 MB of resident memory (it pulls in scipy.stats, optimize and
interpolate), a third of the live gateway's total; these use NumPy, scipy.fft and one LAPACK routine of
scipy.linalg (+6 MB). Each is tested against scipy.signal for what the chain uses: `find_peaks` (1-D,
height, distance) exactly; band-pass designs of orders 1-4, notches, zero-phase filtering and the FFT
convolution to rounding. Inputs scipy refuses are refused here too, with a ValueError.

Shapes: x is (n,) or (n, channels), filtered along axis 0; sample rates in Hz.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.linalg.lapack import dtbtrs


def find_peaks(x: np.ndarray, height: float | None = None, distance: float | None = None) -> np.ndarray:
    """Indices of the local maxima of x (n,), as scipy.signal.find_peaks(x, height=, distance=)[0]: a flat
    top counts once, at its middle (rounded down); neither end sample is a peak; then those at least
    `height` high; then, highest first, each removes its lower neighbours closer than `distance` samples."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"find_peaks: expected a 1-D array, got shape {x.shape}")
    if distance is not None and distance < 1:
        raise ValueError(f"find_peaks: distance {distance}: expected at least 1 sample")
    if x.size < 3:
        return np.empty(0, np.intp)
    change = np.flatnonzero(x[1:] != x[:-1]) + 1  # starts of the runs of equal values after the first
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [x.size - 1]])
    v = x[starts]
    inner = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])) + 1  # runs higher than both neighbours
    peaks = (starts[inner] + ends[inner]) // 2
    if height is not None:
        peaks = peaks[x[peaks] >= height]
    if distance is not None and peaks.size > 1:
        peaks = peaks[_by_distance(peaks, x[peaks], float(np.ceil(distance)))]
    return peaks


def _by_distance(peaks: np.ndarray, priority: np.ndarray, distance: float) -> np.ndarray:
    """Keep mask (m,) of scipy's _select_by_peak_distance: in the same argsort order (ties alike), each kept
    peak drops the peaks within `distance` on either side (a contiguous slice of the sorted peaks)."""
    lo = np.searchsorted(peaks, peaks - distance, side="right")  # first index with peaks[j] - peaks[k] < distance
    hi = np.searchsorted(peaks, peaks + distance, side="left")  # one past the last with peaks[k] - peaks[j] < ...
    keep = np.ones(peaks.size, dtype=bool)
    for j in np.argsort(priority)[::-1].tolist():
        if keep[j]:
            keep[lo[j]:j] = False
            keep[j + 1:hi[j]] = False
    return keep


def fftconvolve_same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """scipy.signal.fftconvolve(a, b, mode="same") of two real 1-D arrays: (len(a),), centred as scipy does."""
    if a.size == 0 or b.size == 0:
        return np.empty(0)
    n = a.size + b.size - 1
    size = scipy.fft.next_fast_len(n, True)
    full = scipy.fft.irfft(scipy.fft.rfft(a, size) * scipy.fft.rfft(b, size), size)[:n]
    start = (n - a.size) // 2
    return full[start:start + a.size]


def butter_bandpass_sos(order: int, low: float, high: float, fs: float) -> np.ndarray:
    """Digital Butterworth band-pass, `order` analogue poles per edge, as second-order sections (order, 6):
    the analogue prototype moved to the band (prewarped edges) and mapped by the bilinear transform, as
    scipy.signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos") designs it. Edges in Hz,
    0 < low < high < fs / 2."""
    if order < 1 or not 0 < low < high < fs / 2:
        raise ValueError(f"band-pass {low}-{high} Hz of order {order} at {fs} Hz: expected order >= 1 and "
                         "0 < low < high < fs / 2")
    fs2 = 2.0 * fs
    w_low, w_high = (fs2 * np.tan(np.pi * f / fs) for f in (low, high))  # prewarped edges, rad/s
    bw, w0 = w_high - w_low, np.sqrt(w_low * w_high)
    m = np.arange(-order + 1, order, 2)
    proto = -np.exp(1j * np.pi * m / (2 * order))  # as scipy's buttap: the real pole of an odd order is exactly -1
    half = proto * bw / 2
    root = np.sqrt(half**2 - w0**2)
    poles_s = np.concatenate([half + root, half - root])  # 2 * order analogue poles; `order` zeros at s = 0
    poles_z = (fs2 + poles_s) / (fs2 - poles_s)
    # the zeros at s = 0 map to z = 1, those at infinity to z = -1
    gain = float(np.real(bw**order * fs2**order / np.prod(fs2 - poles_s)))
    # a section per conjugate pair, and one per two real poles (an odd order's real prototype pole gives two
    # real poles on a wide band, a conjugate pair on a narrow one)
    upper = poles_z[poles_z.imag > 0]
    real = np.sort(poles_z[poles_z.imag == 0].real)
    a1 = np.concatenate([-2.0 * upper.real, -(real[0::2] + real[1::2])])
    a2 = np.concatenate([np.abs(upper) ** 2, real[0::2] * real[1::2]])
    sos = np.zeros((order, 6))
    sos[:, 0], sos[:, 2] = 1.0, -1.0  # each section: zeros at z = 1 and z = -1
    sos[:, 3], sos[:, 4], sos[:, 5] = 1.0, a1, a2
    sos[0, :3] *= gain
    return sos


def notch_sos(f0: float, q: float, fs: float) -> np.ndarray:
    """A second-order notch at f0 Hz (0 < f0 < fs / 2) of quality q, one section (1, 6), as
    scipy.signal.iirnotch(f0, q, fs=fs)."""
    if not 0 < f0 < fs / 2:
        raise ValueError(f"notch at {f0} Hz with fs {fs} Hz: expected 0 < f0 < fs / 2")
    w0 = 2.0 * np.pi * f0 / fs
    beta = np.tan(w0 / q / 2.0)  # scipy's sqrt(1 - gb^2) / gb is 1 for its gb = 1 / sqrt(2)
    gain = 1.0 / (1.0 + beta)
    c = -2.0 * gain * np.cos(w0)
    return np.array([[gain, c, gain, 1.0, c, 2.0 * gain - 1.0]])


def sosfiltfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Zero-phase filtering along axis 0, as scipy.signal.sosfiltfilt(sos, x, axis=0): odd extension by
    3 * (2 * sections + 1) samples, steady-state initial conditions, forward then backward.
    x (n,) or (n, c) -> float64 of the same shape."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.ndim == 1
    data = x[:, None] if flat else x.reshape(x.shape[0], -1)
    sos = sos / sos[:, 3:4]  # a0 = 1
    sections = sos.shape[0]
    taps = 2 * sections + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * taps
    if data.shape[0] <= edge:
        raise ValueError(f"the input along axis 0 must be longer than the filter's padding ({edge} samples); "
                         f"got {data.shape[0]}")
    if data.shape[1] == 0:  # nothing to filter (LAPACK must not see an empty right-hand side)
        return x.copy()
    ext = np.concatenate([2 * data[:1] - data[edge:0:-1], data, 2 * data[-1:] - data[-2:-edge - 2:-1]])
    zi = _sosfilt_zi(sos)  # (sections, 2)
    y = _sosfilt(sos, ext, zi[:, :, None] * ext[0])
    y = _sosfilt(sos, y[::-1], zi[:, :, None] * y[-1])[::-1]
    y = y[edge:-edge]
    return y[:, 0].copy() if flat else y.reshape(x.shape)


def _sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """Each section's steady-state state for a unit step, scaled by the gain of the sections before it
    (sections, 2); sos with a0 = 1."""
    zi = np.empty((sos.shape[0], 2))
    scale = 1.0
    for k, (b0, b1, b2, _a0, a1, a2) in enumerate(sos):
        rhs = np.array([b1 - a1 * b0, b2 - a2 * b0])
        zi[k] = scale * np.linalg.solve(np.array([[1.0 + a1, -1.0], [a2, 1.0]]), rhs)
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2)
    return zi


def _sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """The sections (a0 = 1) in cascade over x (n, c) from states zi (sections, 2, c). Each biquad's recursion
    y[t] + a1 y[t-1] + a2 y[t-2] = b0 x[t] + b1 x[t-1] + b2 x[t-2] (the states enter at t = 0 and 1) is a
    banded lower-triangular system, solved by LAPACK for all channels at once: a Python loop over samples
    would cost the gateway more than the filtering."""
    y = np.array(x, dtype=np.float64, order="F")
    n = y.shape[0]
    for (b0, b1, b2, _a0, a1, a2), z in zip(sos, zi, strict=True):
        rhs = b0 * y
        rhs[1:] += b1 * y[:-1]
        rhs[2:] += b2 * y[:-2]
        rhs[0] += z[0]
        if n > 1:
            rhs[1] += z[1]
        band = np.empty((3, n))
        band[0], band[1], band[2] = 1.0, a1, a2
        y, info = dtbtrs(band, np.asfortranarray(rhs), uplo="L", diag="U")  # unit diagonal: no division
        if info != 0:
            raise ValueError(f"IIR section solve failed (LAPACK info {info})")
    return np.asarray(y)
