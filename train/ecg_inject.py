"""Synthetic, seeded anomalies injected into a fetal-ECG record (adfecgdb has no anomaly labels).

Each kind is applied to the raw channel (uV, fs Hz) over an episode; the returned mask marks the
samples an episode changed, so labels follow the data exactly. Amplitudes are relative to the
record's own robust scale (median absolute deviation), so they mean the same on every record.

- motion: electrode motion artefact, low-pass filtered noise (< 8 Hz) at 4x the scale, 1-3 s
- dropout: lead-off flatline at the last value before the episode, 1-4 s
- clipping: amplifier saturation, the signal clipped at 30 % of its local peak, 2-5 s
- wander: baseline wander burst, a 0.3-0.8 Hz sinusoid at 3x the scale, 3-6 s
- mains: 50 Hz interference at 2x the scale, 2-5 s (the 60 ms block mean is a comb filter with a
  zero at 50 Hz, so this kind is expected to be nearly invisible after preparation)
- dropped: a dropped beat, the QRS of one annotated beat (+-40 ms) replaced by a straight line
- early: a premature beat, beat k moved 35 % of its RR interval earlier by time warping, with the
  compensatory pause (beats k-1 and k+1 stay in place)
- brady / tachy: an episode of 6-10 beats time-warped to 1.4x / 0.7x its RR intervals (the record
  after the episode follows on, so its length is kept by trimming or repeating the tail)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

KINDS = ("motion", "dropout", "clipping", "wander", "mains", "dropped", "early", "brady", "tachy")


@dataclass(frozen=True)
class Injected:
    """samples (n,) float64 with anomalies; kind_mask (n,) int8: 0 normal, i + 1 for KINDS[i]."""

    samples: np.ndarray
    kind_mask: np.ndarray
    episodes: list[tuple[str, int, int]]  # kind, first sample, end sample


def _scale(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _additive(x: np.ndarray, a: int, b: int, rng: np.random.Generator, fs: float, kind: str) -> np.ndarray:
    n, s = b - a, _scale(x)
    t = np.arange(n) / fs
    if kind == "motion":
        sos = scipy.signal.butter(2, 8.0, fs=fs, output="sos")
        noise = scipy.signal.sosfiltfilt(sos, rng.standard_normal(n + 2000))[1000:-1000]
        return noise / noise.std() * 4 * s * np.hanning(n)
    if kind == "wander":
        return 3 * s * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 2 * np.pi))
    return 2 * s * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))  # mains


def _shift_tail(arr: np.ndarray, old: int, new: int) -> None:
    """In place: what started at `old` now starts at `new` (trimmed, or padded with its last value)."""
    tail = arr[old:].copy()
    room = arr.size - new
    arr[new:] = tail[:room] if tail.size >= room else np.concatenate([tail, np.repeat(tail[-1:], room - tail.size)])


def _warp(x: np.ndarray, anchors_from: np.ndarray, anchors_to: np.ndarray) -> np.ndarray:
    """Piecewise-linear time warp: the sample at anchors_from[i] lands at anchors_to[i] (relative)."""
    out_t = np.arange(int(anchors_to[-1]))
    src_t = np.interp(out_t, anchors_to, anchors_from)
    return np.interp(src_t, np.arange(x.size), x)


def inject(samples: np.ndarray, r_peaks: np.ndarray, fs: float, *, per_kind: int = 3, seed: int = 0,
           kinds: tuple[str, ...] = KINDS, gap_s: float = 2.0) -> Injected:
    """Inject `per_kind` episodes of each kind at seeded, non-overlapping places (>= gap_s apart).

    samples: (n,) raw channel; r_peaks: (k,) annotated R-peak sample indices, sorted.
    """
    rng = np.random.default_rng(seed)
    x = samples.astype(np.float64).copy()
    n = x.size
    mask = np.zeros(n, dtype=np.int8)
    taken = np.zeros(n, dtype=bool)
    episodes: list[tuple[str, int, int]] = []
    plan = [k for k in kinds for _ in range(per_kind)]
    rng.shuffle(plan)
    lengths_s = {"motion": (1, 3), "dropout": (1, 4), "clipping": (2, 5), "wander": (3, 6), "mains": (2, 5)}
    for kind in plan:
        for _attempt in range(200):
            if kind in lengths_s:
                length = int(rng.uniform(*lengths_s[kind]) * fs)
                a = int(rng.integers(int(gap_s * fs), n - length - int(gap_s * fs)))
                b = a + length
            else:
                beats = int(rng.integers(6, 11)) if kind in ("brady", "tachy") else 2
                k = int(rng.integers(2, r_peaks.size - beats - 2))
                a, b = int(r_peaks[k - 1]), int(r_peaks[k - 1 + beats])
            guard = int(gap_s * fs)
            if not taken[max(0, a - guard) : b + guard].any():
                break
        else:
            continue
        lo, hi = _apply(kind, x, a, b, r_peaks, fs, rng)
        if kind in ("brady", "tachy"):  # the record after the episode moved: move what is known of it
            for arr in (mask, taken):
                _shift_tail(arr, b, hi)
            factor = (hi - a) / (b - a)
            r_peaks = np.concatenate([r_peaks[r_peaks < a], a + (r_peaks[(r_peaks >= a) & (r_peaks <= b)] - a) * factor,
                                      r_peaks[r_peaks > b] + (hi - b)])
            r_peaks = np.round(r_peaks[r_peaks < n - 1]).astype(np.int64)
        taken[max(0, lo - int(gap_s * fs)) : hi + int(gap_s * fs)] = True
        mask[lo:hi] = KINDS.index(kind) + 1
        episodes.append((kind, lo, hi))
    return Injected(x, mask, sorted(episodes, key=lambda e: e[1]))


def _apply(kind: str, x: np.ndarray, a: int, b: int, r_peaks: np.ndarray, fs: float,
           rng: np.random.Generator) -> tuple[int, int]:
    """Change x in place; return the [first, end) samples that changed."""
    if kind in ("motion", "wander", "mains"):
        x[a:b] += _additive(x, a, b, rng, fs, kind)
        return a, b
    if kind == "dropout":
        x[a:b] = x[a - 1]
        return a, b
    if kind == "clipping":
        level = 0.3 * np.max(np.abs(x[a:b] - np.median(x[a:b])))
        centre = np.median(x[a:b])
        x[a:b] = np.clip(x[a:b], centre - level, centre + level)
        return a, b
    inside = r_peaks[(r_peaks >= a) & (r_peaks <= b)]
    half = int(0.04 * fs)
    if kind == "dropped":
        r = int(inside[1])
        lo, hi = r - half, r + half
        x[lo:hi] = np.linspace(x[lo - 1], x[hi], hi - lo)
        return lo, hi
    if kind == "early":
        r_prev, r, r_next = (int(v) for v in inside[:3])
        moved = r - int(0.35 * (r - r_prev))
        seg = _warp(x[r_prev:r_next], np.array([0, r - r_prev, r_next - r_prev]),
                    np.array([0, moved - r_prev, r_next - r_prev]))
        x[r_prev:r_next] = seg
        return r_prev, r_next
    factor = 1.4 if kind == "brady" else 0.7
    rel = (inside - a).astype(float)
    seg = _warp(x[a:b], rel, rel * factor)
    rest = x[b:].copy()
    tail = np.concatenate([seg, rest])
    if tail.size < x.size - a:  # tachy: repeat the end to keep the record's length
        tail = np.concatenate([tail, rest[-(x.size - a - tail.size) :]])
    x[a:] = tail[: x.size - a]
    return a, a + seg.size


def point_labels(kind_mask: np.ndarray, block: int) -> np.ndarray:
    """Per block-mean point, the kind that touched any of its samples (0 = none): (n // block,) int8."""
    n = kind_mask.size // block
    return kind_mask[: n * block].reshape(n, block).max(axis=1)

