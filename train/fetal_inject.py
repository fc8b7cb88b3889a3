"""Seeded anomalies injected into the abdominal leads of a fetal-ECG record, with the beats moved along.

Extends train/ecg_inject.py (its amplitudes, lengths and time warping are reused as they are) to
several leads and to the FHR:

- quality faults (flatline = ecg_inject's lead-off "dropout", clipping, mains, motion, wander) go into
  a seeded, non-empty subset of the leads (one lead, some, or all: electrodes fail alone, motion
  moves several); each lead's amplitude follows its own robust scale, as in ecg_inject
- rhythm episodes (brady, tachy as ecg_inject: 6-10 beats warped to 1.4x / 0.7x their RR) and
  decel, a deceleration: 20-40 s of beats whose RR intervals are stretched by a raised-cosine
  profile so that the FHR falls by 20-35 % of itself (at 140 bpm: 28-49 bpm, above FIGO's 15 bpm)
  and recovers; every lead is warped by the same anchors, so the mixture stays one heart
- the reference fetal beats are returned moved by the same warps, so FHR labels follow the data
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.ecg_inject import _additive, _shift_tail, _warp

QUALITY_KINDS = ("flatline", "clipping", "mains", "motion", "wander")
RHYTHM_KINDS = ("brady", "tachy", "decel")
KINDS = QUALITY_KINDS + RHYTHM_KINDS
_LENGTHS_S = {"motion": (1, 3), "flatline": (1, 4), "clipping": (2, 5), "wander": (3, 6), "mains": (2, 5)}


@dataclass(frozen=True)
class LeadInjection:
    """samples (n, c) float64; kind_mask (n,) int8: 0 normal, i + 1 for KINDS[i]; lead_mask (n, c) bool
    (the leads a quality fault touched); r_peaks (k,) the reference beats after the warps."""

    samples: np.ndarray
    kind_mask: np.ndarray
    lead_mask: np.ndarray
    r_peaks: np.ndarray
    episodes: list[tuple[str, int, int, tuple[int, ...]]]  # kind, first sample, end sample, leads


def _scale(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _quality(kind: str, x: np.ndarray, a: int, b: int, fs: float, rng: np.random.Generator,
             strength: float = 1.0) -> None:
    if kind in ("motion", "wander", "mains"):
        x[a:b] += strength * _additive(x, a, b, rng, fs, kind)
    elif kind == "flatline":
        x[a:b] = x[a - 1]
    else:  # clipping, as ecg_inject: at 30 % of the episode's peak around its median (0.3 ** strength)
        centre = np.median(x[a:b])
        level = 0.3**strength * np.max(np.abs(x[a:b] - centre))
        x[a:b] = np.clip(x[a:b], centre - level, centre + level)


def _rhythm_anchors(kind: str, inside: np.ndarray, a: int, rng: np.random.Generator) -> np.ndarray:
    """New positions (relative to a) of the beats `inside` (absolute, the first at a)."""
    rel = (inside - a).astype(float)
    if kind in ("brady", "tachy"):
        return rel * (1.4 if kind == "brady" else 0.7)
    rr = np.diff(rel)
    depth = rng.uniform(0.2, 0.35)  # FHR falls to (1 - depth) of itself at the nadir
    profile = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(rr.size) + 0.5) / rr.size)
    return np.concatenate([[0.0], np.cumsum(rr / (1.0 - depth * profile))])


def inject_leads(samples: np.ndarray, r_peaks: np.ndarray, fs: float, *, per_kind: int = 3, seed: int = 0,
                 kinds: tuple[str, ...] = KINDS, gap_s: float = 2.0, all_leads: bool = False,
                 strength: float = 1.0, length_scale: float = 1.0) -> LeadInjection:
    """Inject `per_kind` episodes of each kind into samples (n, c) at seeded, non-overlapping places.

    r_peaks: (k,) annotated fetal beats (sample indices, sorted). Episodes keep >= gap_s apart.
    all_leads: every quality fault in every lead (else a seeded subset of one to all leads).
    strength: scales the quality faults (motion, wander and mains amplitude x strength; clipping at
    0.3 ** strength of the episode's peak; flatline unchanged); length_scale: scales their durations. The
    defaults are ecg_inject's faults; other values check that a detector does not rely on one size.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(samples, dtype=np.float64).copy()
    n, c = x.shape
    # samples the record lost (NaN) stay lost, where they were; meanwhile they hold the lead's median so
    # that a fault's filters and medians are not NaN over its whole episode
    lost = np.isnan(x)
    if lost.any():
        x = np.where(lost, np.nanmedian(x, axis=0), x)
    peaks = np.asarray(r_peaks, dtype=np.int64).copy()
    mask = np.zeros(n, dtype=np.int8)
    lead_mask = np.zeros((n, c), dtype=bool)
    taken = np.zeros(n, dtype=bool)
    episodes: list[tuple[str, int, int, tuple[int, ...]]] = []
    plan = [k for k in kinds for _ in range(per_kind)]
    rng.shuffle(plan)
    guard = int(gap_s * fs)
    for kind in plan:
        for _attempt in range(200):
            if kind in _LENGTHS_S:
                length = int(rng.uniform(*_LENGTHS_S[kind]) * fs * length_scale)
                a = int(rng.integers(guard, n - length - guard))
                b = a + length
            else:
                beats = int(rng.integers(6, 11)) if kind != "decel" else int(rng.uniform(20, 40) * fs / np.median(
                    np.diff(peaks)))
                k = int(rng.integers(2, peaks.size - beats - 2))
                a, b = int(peaks[k - 1]), int(peaks[k - 1 + beats])
            if not taken[max(0, a - guard) : b + guard].any():
                break
        else:
            continue
        if kind in QUALITY_KINDS:
            subset = rng.choice(c, size=int(rng.integers(1, c + 1)), replace=False)
            leads = tuple(range(c)) if all_leads else tuple(sorted(subset.tolist()))
            for lead in leads:
                _quality(kind, x[:, lead], a, b, fs, rng, strength)
                lead_mask[a:b, lead] = True
            hi = b
        else:
            leads = tuple(range(c))
            inside = peaks[(peaks >= a) & (peaks <= b)]
            new = _rhythm_anchors(kind, inside, a, rng)
            if a + int(new[-1]) >= n - guard:  # stretched past the record's end (a decel near it): leave it out
                continue
            for lead in range(c):
                seg = _warp(x[a:b, lead], (inside - a).astype(float), new)
                rest = x[b:, lead].copy()
                tail = np.concatenate([seg, rest])
                if tail.size < n - a:  # shorter episode: repeat the end to keep the record's length
                    tail = np.concatenate([tail, rest[-(n - a - tail.size) :]])
                x[a:, lead] = tail[: n - a]
            hi = a + int(new[-1])
            for arr in (mask, taken):
                _shift_tail(arr, b, hi)
            for lead in range(c):
                _shift_tail(lead_mask[:, lead], b, hi)
            peaks = np.concatenate([peaks[peaks < a], a + np.round(new).astype(np.int64), peaks[peaks > b] + (hi - b)])
            peaks = peaks[peaks < n - 1]
        taken[max(0, a - guard) : hi + guard] = True
        mask[a:hi] = KINDS.index(kind) + 1
        episodes.append((kind, a, hi, leads))
    x[lost] = np.nan
    return LeadInjection(x, mask, lead_mask, np.unique(peaks), sorted(episodes, key=lambda e: e[1]))
