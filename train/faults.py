"""Seeded synthetic machine faults injected into normal clips, for evaluation only.

Real anomalies are scarce; these faults let a detector (and the choice of a detector) be checked
on a machine whose anomalous sound nobody recorded. They are never mixed with real anomalies in a
report, and never used for fitting. Each fault changes one contiguous segment of the clip (2-5 s
unless given) and its label is where the audio changed, sample-exact: ``Fault.start`` is the
first sample that differs from the input and ``Fault.end`` one past the last.

Kinds (levels relative to the clip's RMS level, so a quiet machine gets a quiet fault):

* ``clicks``: impulsive clicks at a bearing-defect-like rate (8-40 per s), each a 2-6 kHz
  resonance decaying in ~1 ms, peak 2-4x the clip's RMS.
* ``whine``: a steady tone at a random frequency (300-6000 Hz), -12 to -6 dB re the clip RMS.
* ``modulation``: amplitude modulation (imbalance) at 2-20 Hz, depth 0.3-0.6.
* ``burst``: band-limited noise (random centre 200-6000 Hz, one octave wide), -6 to 0 dB re RMS.
* ``speed``: the machine's harmonics shifted by a speed change of 3-8 % (the segment is
  resampled, so every partial moves by the same ratio), with 10 ms cross-fades at both ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

FAULT_KINDS = ("clicks", "whine", "modulation", "burst", "speed")


@dataclass(frozen=True)
class Fault:
    """Where a fault changed the audio: samples [start, end) of the clip, kind and its parameters."""

    kind: str
    start: int
    end: int
    sr: int
    params: dict[str, float]

    @property
    def start_s(self) -> float:
        return self.start / self.sr

    @property
    def end_s(self) -> float:
        return self.end / self.sr

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "start_s": round(self.start_s, 6), "end_s": round(self.end_s, 6)}


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) or 1e-4


def _clicks(seg: np.ndarray, sr: int, rng: np.random.Generator, level: float) -> tuple[np.ndarray, dict[str, float]]:
    rate, freq, peak = rng.uniform(8, 40), rng.uniform(2000, 6000), level * rng.uniform(2, 4)
    t = np.arange(round(0.008 * sr)) / sr
    click = peak * np.exp(-t / 0.001) * np.sin(2 * np.pi * freq * t)
    add = np.zeros(seg.size)
    for onset in np.arange(0, seg.size - click.size, sr / rate).astype(int):
        add[onset:onset + click.size] += click
    return seg + add, {"rate_hz": rate, "resonance_hz": freq, "peak_rel_rms": peak / level}


def _whine(seg: np.ndarray, sr: int, rng: np.random.Generator, level: float) -> tuple[np.ndarray, dict[str, float]]:
    freq, db = rng.uniform(300, 6000), rng.uniform(-12, -6)
    amp = np.sqrt(2) * level * 10 ** (db / 20)
    return seg + amp * np.sin(2 * np.pi * freq * np.arange(seg.size) / sr + rng.uniform(0, 2 * np.pi)), \
        {"frequency_hz": freq, "level_db_re_rms": db}


def _modulation(seg: np.ndarray, sr: int, rng: np.random.Generator, _level: float,
                ) -> tuple[np.ndarray, dict[str, float]]:
    freq, depth = rng.uniform(2, 20), rng.uniform(0.3, 0.6)
    # starts at phase 0 with sin: the gain is 1 at the first sample, so the label starts where it departs
    return seg * (1 + depth * np.sin(2 * np.pi * freq * np.arange(seg.size) / sr)), \
        {"frequency_hz": freq, "depth": depth}


def _burst(seg: np.ndarray, sr: int, rng: np.random.Generator, level: float) -> tuple[np.ndarray, dict[str, float]]:
    centre, db = rng.uniform(200, 6000), rng.uniform(-6, 0)
    spectrum = np.fft.rfft(rng.standard_normal(seg.size))
    freq = np.fft.rfftfreq(seg.size, 1 / sr)
    spectrum[(freq < centre / np.sqrt(2)) | (freq > centre * np.sqrt(2))] = 0
    noise = np.fft.irfft(spectrum, n=seg.size)
    noise *= level * 10 ** (db / 20) / _rms(noise)
    return seg + noise, {"centre_hz": centre, "level_db_re_rms": db}


def _speed(seg: np.ndarray, sr: int, rng: np.random.Generator, level: float,
           source: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, float]]:
    assert source is not None
    ratio = 1 + rng.uniform(0.03, 0.08) * rng.choice([-1, 1])
    n = seg.size
    # read the source (segment plus what follows it) at `ratio` times the speed
    moved = np.interp(np.arange(n) * ratio, np.arange(source.size), source)
    fade = np.ones(n)
    ramp = min(round(0.01 * sr), n // 2)
    fade[:ramp] = np.linspace(0, 1, ramp)
    fade[n - ramp:] = np.linspace(1, 0, ramp)
    return seg * (1 - fade) + moved * fade, {"speed_ratio": ratio}


_KINDS = {"clicks": _clicks, "whine": _whine, "modulation": _modulation, "burst": _burst}


def inject(y: np.ndarray, sr: int, kind: str, seed: int, *, duration_s: tuple[float, float] = (2.0, 5.0),
           ) -> tuple[np.ndarray, Fault]:
    """A copy of mono float32 y (n,) with one fault of `kind` in a seeded segment; and its label.

    The same (y, kind, seed) always gives the same output. Raises ValueError for an unknown kind
    or a clip shorter than the shortest segment.
    """
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind {kind!r}: expected one of {', '.join(FAULT_KINDS)}")
    rng = np.random.default_rng([seed, FAULT_KINDS.index(kind)])
    y = np.asarray(y, dtype=np.float32)
    length = min(round(rng.uniform(*duration_s) * sr), y.size)
    if length < round(0.05 * sr):
        raise ValueError(f"{y.size} samples: too short for a fault segment (expected at least 0.05 s)")
    # the speed fault reads up to 8 % past its segment: leave that room
    room = round(length * 0.09) if kind == "speed" else 0
    start = int(rng.integers(0, max(1, y.size - length - room + 1)))
    length = min(length, y.size - start - room)
    seg = y[start:start + length].astype(np.float64)
    level = _rms(y)
    if kind == "speed":
        changed, params = _speed(seg, sr, rng, level, source=y[start:start + length + room].astype(np.float64))
    else:
        changed, params = _KINDS[kind](seg, sr, rng, level)
    out = y.copy()
    out[start:start + length] = changed.astype(np.float32)
    diff = np.flatnonzero(out != y)
    if diff.size == 0:  # a silent clip can be left unchanged by a multiplicative fault
        return out, Fault(kind, start, start, sr, {k: float(v) for k, v in params.items()})
    return out, Fault(kind, int(diff[0]), int(diff[-1]) + 1, sr, {k: float(v) for k, v in params.items()})
