"""Vectorized audio features shared by training and the gateway (NumPy/SciPy only).

Feature sets, each computed for *all complete windows of a block in one call*:

* ``seed_windows``: the acoustic write-up's per-window vector. 1.0 s windows, 0.5 s hop; per
  window 13 MFCC means, spectral centroid (Hz), spectral rolloff (Hz), spectral contrast (dB,
  mean over bands and frames) and zero-crossing rate (fraction): 17 values. Each window is
  analysed as librosa analyses a clip: centred frames (n_fft 2048, hop 512), zero padding.
* ``logmel_vectors``: the DCASE 2020 Task 2 baseline. Log-mel power (n_fft 1024, hop 512,
  128 mels, ``10 log10(mel + eps)``), 5 consecutive frames stacked into 640 values. Frames are
  not centred (``center=False``) so that a live stream and a whole clip give the same vectors.
* ``logmel_stats``: per-band mean and std of those log-mel frames over ~1 s windows (the few-shot
  detectors), or the means alone.

Both match librosa (the write-up's library) within the tolerances stated in
``tests/test_features_parity.py``. Everything is float32: one STFT per window, batched
``rfft``, one mel matmul, and no Python loop over samples or frames.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import scipy.fft
import scipy.sparse
from numpy.lib.stride_tricks import sliding_window_view

SEED_NAMES: tuple[str, ...] = (
    *(f"mfcc_{i}" for i in range(13)),
    "spectral_centroid_hz",
    "spectral_rolloff_hz",
    "spectral_contrast_db",
    "zero_crossing_rate",
)

_DB_AMIN = 1e-10
_DB_TOP = 80.0


def frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Zero-copy frames of the last axis: shape (..., n_frames, length), n = 1 + (n_x - length) // hop."""
    if x.shape[-1] < length:
        return np.empty((*x.shape[:-1], 0, length), dtype=x.dtype)
    return sliding_window_view(x, length, axis=-1)[..., ::hop, :]


@functools.lru_cache(maxsize=16)
def hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window of n_fft points (librosa's ``window="hann"``, scipy's get_window), float32.

    Written out because importing scipy.signal adds ~50 MB of resident memory on the gateway.
    """
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``)."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mel = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log_part, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    hz = f_sp * mel
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_part = min_log_hz * np.exp(logstep * (mel - min_log_mel))
    return np.where(mel >= min_log_mel, log_part, hz)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular mel filters, shape (n_mels, n_fft // 2 + 1), float32.

    Same filters as ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)`` (fmin 0, fmax sr/2).
    """
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _sparse_mel(sr: int, n_fft: int, n_mels: int) -> scipy.sparse.csr_array:
    # Each mel filter touches a few bins: a sparse product is ~5x faster than a dense matmul here.
    return scipy.sparse.csr_array(mel_filterbank(sr, n_fft, n_mels))


def mel_power(power: np.ndarray, *, sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Mel power of a power spectrogram (..., n_fft // 2 + 1) -> (..., n_mels), float32."""
    # filters @ frames.T, not frames @ filters.T: the same sums (bit-identical), without scipy building a
    # transposed matrix at every call (a third of the live microphone's feature time at a few frames a call)
    flat = (_sparse_mel(sr, n_fft, n_mels) @ power.reshape(-1, power.shape[-1]).T).T
    return np.asarray(flat, dtype=np.float32).reshape(*power.shape[:-1], n_mels)


def magnitude_spectrum(framed: np.ndarray, n_fft: int) -> np.ndarray:
    """|rfft(frame * hann)| for frames of shape (..., n_fft): shape (..., n_fft // 2 + 1), float32."""
    return np.abs(scipy.fft.rfft(framed * hann(n_fft), axis=-1))


def power_to_db(power: np.ndarray, *, reduce_axes: tuple[int, ...]) -> np.ndarray:
    """librosa's ``power_to_db`` (ref 1, amin 1e-10, top_db 80) with the max taken over reduce_axes."""
    db = 10.0 * np.log10(np.maximum(power, np.float32(_DB_AMIN)))
    floor = db.max(axis=reduce_axes, keepdims=True) - np.float32(_DB_TOP)
    return np.maximum(db, floor)


def logmel_vectors(
    y: np.ndarray,
    *,
    sr: int,
    n_fft: int = 1024,
    hop_length: int = 512,
    n_mels: int = 128,
    frames_per_vector: int = 5,
) -> np.ndarray:
    """DCASE 2020 baseline vectors of a mono block.

    y: float32 samples in [-1, 1], shape (n,). Returns float32 (n_vectors, n_mels * frames_per_vector)
    with n_vectors = n_frames - frames_per_vector + 1 and n_frames = 1 + (n - n_fft) // hop_length;
    vector v holds log-mel frames v .. v + frames_per_vector - 1, frame-major (as the baseline).
    Values are ``10 log10(mel power + float eps)`` in dB; power is |STFT|^2 of int16-scaled-to-1 audio.
    """
    y = np.asarray(y, dtype=np.float32)
    magnitude = magnitude_spectrum(frames(y, n_fft, hop_length), n_fft)
    mel = mel_power(magnitude * magnitude, sr=sr, n_fft=n_fft, n_mels=n_mels)
    log_mel = 10.0 * np.log10(mel + np.float32(np.finfo(np.float64).eps))
    n_vectors = log_mel.shape[0] - frames_per_vector + 1
    if n_vectors <= 0:
        return np.empty((0, n_mels * frames_per_vector), dtype=np.float32)
    stacked = frames(log_mel.T, frames_per_vector, 1)  # (n_mels, n_vectors, frames)
    return np.ascontiguousarray(stacked.transpose(1, 2, 0).reshape(n_vectors, -1), dtype=np.float32)


CONTRAST_FMIN, CONTRAST_BANDS = 200.0, 6  # librosa's spectral_contrast defaults: octaves from 200 Hz
CONTRAST_MIN_SR = 2 * CONTRAST_FMIN * 2 ** (CONTRAST_BANDS - 1)  # Hz: the last band must start below Nyquist


@functools.lru_cache(maxsize=16)
def _contrast_bands(sr: int, n_fft: int, fmin: float, n_bands: int, quantile: float) -> tuple[tuple[slice, int], ...]:
    """Per octave band: the FFT bins librosa's ``spectral_contrast`` sorts (a contiguous range, so a
    view), and how many of the lowest and highest it averages."""
    freq = np.fft.rfftfreq(n_fft, 1.0 / sr)
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    bands = []
    for k, (f_low, f_high) in enumerate(itertools.pairwise(octa)):
        band = (freq >= f_low) & (freq <= f_high)
        idx = np.flatnonzero(band)
        if k > 0:
            band[idx[0] - 1] = True
        if k == n_bands:
            band[idx[-1] + 1 :] = True
        n_avg = max(int(np.rint(quantile * band.sum())), 1)
        bins = np.flatnonzero(band)
        if k < n_bands:
            bins = bins[:-1]
        bands.append((slice(int(bins[0]), int(bins[-1]) + 1), n_avg))
    return tuple(bands)


def _zero_crossing_rate(windows: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """Mean zero-crossing rate per window as librosa computes it (edge padding, threshold 1e-10).

    windows: (n_windows, n). Returns (n_windows,). Crossings are counted once per hop-sized block
    and each frame adds up its blocks, so the cost is O(n) per window whatever the frame overlap.
    """
    if frame_length % hop_length:
        raise ValueError(f"frame_length {frame_length} must be a multiple of hop_length {hop_length}")
    half, per = frame_length // 2, frame_length // hop_length
    padded = np.pad(windows, ((0, 0), (half, half)), mode="edge")
    sign = np.signbit(np.where(np.abs(padded) <= 1e-10, np.float32(0.0), padded))
    n_frames = 1 + (padded.shape[1] - frame_length) // hop_length
    n_blocks = n_frames + per - 1
    crossings = np.zeros((windows.shape[0], n_blocks * hop_length), dtype=np.int16)
    usable = min(crossings.shape[1], padded.shape[1])
    crossings[:, 1:usable] = sign[:, 1:usable] != sign[:, : usable - 1]
    blocks = crossings.reshape(windows.shape[0], n_blocks, hop_length).sum(axis=-1)
    per_frame = frames(blocks, per, 1).sum(axis=-1)
    # librosa pads each frame's first comparison with False: drop the crossing at a frame's start
    per_frame -= crossings[:, : n_frames * hop_length : hop_length]
    return (per_frame / frame_length).mean(axis=1).astype(np.float32)


def _rolloff_bins(magnitude: np.ndarray, roll_percent: float, block: int = 32) -> np.ndarray:
    """Index of the first bin whose cumulative magnitude reaches roll_percent of the total.

    magnitude: (..., bins). A two-level search (cumulative sums of 32-bin blocks, then inside the
    one block that crosses) replaces a full cumsum over every bin, which dominated the cost.
    """
    n_bins = magnitude.shape[-1]
    n_full = n_bins // block
    head = magnitude[..., : n_full * block].reshape(*magnitude.shape[:-1], n_full, block)
    block_cum = np.cumsum(head.sum(axis=-1), axis=-1)
    total = block_cum[..., -1] + magnitude[..., n_full * block :].sum(axis=-1)
    threshold = roll_percent * total
    k = np.minimum((block_cum < threshold[..., None]).sum(axis=-1), n_full - 1)
    before = np.take_along_axis(block_cum, k[..., None], axis=-1)[..., 0] - np.take_along_axis(
        head.sum(axis=-1), k[..., None], axis=-1
    )[..., 0]
    inside = np.take_along_axis(head, k[..., None, None], axis=-2)[..., 0, :]
    reached = (before[..., None] + np.cumsum(inside, axis=-1)) >= threshold[..., None]
    found = reached.any(axis=-1)
    index = k * block + np.argmax(reached, axis=-1)
    return np.where(found, index, n_bins - 1)


def seed_windows(
    y: np.ndarray,
    *,
    sr: int,
    window_s: float = 1.0,
    hop_s: float = 0.5,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 13,
    n_mels: int = 128,
) -> np.ndarray:
    """The write-up's 17 features for every complete window of a mono block.

    y: float32 samples in [-1, 1], shape (n,). Returns float32 (n_windows, 17) in the order of
    ``SEED_NAMES``; n_windows = 1 + (n - window) // hop with window = round(window_s * sr).
    """
    y = np.asarray(y, dtype=np.float32)
    win, hop = round(window_s * sr), round(hop_s * sr)
    windows = frames(y, win, hop)  # (W, win)
    n_windows = windows.shape[0]
    if n_windows == 0:
        return np.empty((0, len(SEED_NAMES)), dtype=np.float32)
    half = n_fft // 2
    padded = np.pad(windows, ((0, 0), (half, half)))  # librosa: center=True, pad_mode="constant"
    magnitude = magnitude_spectrum(frames(padded, n_fft, hop_length), n_fft)  # (W, F, bins)

    mel = mel_power(magnitude * magnitude, sr=sr, n_fft=n_fft, n_mels=n_mels)
    mel_db = power_to_db(mel, reduce_axes=(1, 2))
    mfcc = scipy.fft.dct(mel_db, type=2, norm="ortho", axis=-1)[..., :n_mfcc].mean(axis=1)

    freq = np.fft.rfftfreq(n_fft, 1.0 / sr).astype(np.float32)
    total = magnitude.sum(axis=-1)
    centroid = np.where(total > 0, (magnitude @ freq) / np.where(total > 0, total, 1), 0).mean(axis=1)

    rolloff = freq[_rolloff_bins(magnitude, 0.85)].mean(axis=1)

    peaks, valleys = [], []
    for bins, n_avg in _contrast_bands(sr, n_fft, CONTRAST_FMIN, CONTRAST_BANDS, 0.02):
        band = magnitude[..., bins]
        if n_avg == 1:  # most bands: a min and a max instead of a sort
            valleys.append(band.min(axis=-1))
            peaks.append(band.max(axis=-1))
            continue
        ordered = np.sort(band, axis=-1)  # NumPy's SIMD sort beats np.partition at these sizes
        valleys.append(ordered[..., :n_avg].mean(axis=-1))
        peaks.append(ordered[..., -n_avg:].mean(axis=-1))
    peak, valley = np.stack(peaks, axis=-1), np.stack(valleys, axis=-1)  # (W, F, bands)
    contrast = power_to_db(peak, reduce_axes=(1, 2)) - power_to_db(valley, reduce_axes=(1, 2))

    zcr = _zero_crossing_rate(windows, frame_length=n_fft, hop_length=hop_length)
    out = np.column_stack([mfcc, centroid, rolloff, contrast.mean(axis=(1, 2)), zcr])
    return out.astype(np.float32, copy=False)


def logmel_stats(
    y: np.ndarray,
    *,
    sr: int,
    n_fft: int = 1024,
    hop_length: int = 512,
    n_mels: int = 128,
    frames_per_window: int = 32,
    hop_frames: int = 16,
    with_std: bool = True,
) -> np.ndarray:
    """Per-band log-mel statistics of every complete window of a mono block (few-shot detectors).

    y: float32 samples in [-1, 1], shape (n,). Log-mel frames as ``logmel_vectors`` (not centred,
    ``10 log10(mel power + eps)`` dB); a window is ``frames_per_window`` consecutive frames, windows
    step ``hop_frames`` frames. Returns float32 (n_windows, 2 * n_mels): the mean over the window of
    each band (dB, the spectrum's shape: whine, speed change, noise) then its standard deviation (dB,
    the band's fluctuation: clicks, modulation, bursts). n_windows = 1 + (n_frames - frames_per_window)
    // hop_frames with n_frames = 1 + (n - n_fft) // hop_length. ``with_std=False``: the means only,
    (n_windows, n_mels); with ``frames_per_window=hop_frames=1`` each row is one log-mel frame.
    """
    y = np.asarray(y, dtype=np.float32)
    magnitude = magnitude_spectrum(frames(y, n_fft, hop_length), n_fft)
    mel = mel_power(magnitude * magnitude, sr=sr, n_fft=n_fft, n_mels=n_mels)
    log_mel = 10.0 * np.log10(mel + np.float32(np.finfo(np.float64).eps))  # (n_frames, n_mels)
    n_windows = (log_mel.shape[0] - frames_per_window) // hop_frames + 1 if log_mel.shape[0] >= frames_per_window else 0
    if n_windows <= 0:
        return np.empty((0, (2 if with_std else 1) * n_mels), dtype=np.float32)
    # Window sums from cumulative sums of x and x^2 (float64: the difference of two large sums
    # must keep the variance of a quiet band): O(frames) whatever the window overlap.
    cum = np.zeros((log_mel.shape[0] + 1, 2, n_mels))
    np.cumsum(log_mel, axis=0, out=cum[1:, 0])
    np.cumsum(np.square(log_mel, dtype=np.float64), axis=0, out=cum[1:, 1])
    starts = np.arange(n_windows) * hop_frames
    sums = (cum[starts + frames_per_window] - cum[starts]) / frames_per_window  # (W, 2, n_mels)
    mean = sums[:, 0]
    if not with_std:
        return mean.astype(np.float32)
    std = np.sqrt(np.maximum(sums[:, 1] - mean * mean, 0.0))
    return np.concatenate([mean, std], axis=1).astype(np.float32)
