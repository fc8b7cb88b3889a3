"""Fetal heart rate (FHR) anomalies as events: bradycardia, tachycardia, decelerations, reduced variability.

Definitions (FIGO 2015 intrapartum CTG consensus; NICE NG229 uses the same thresholds):
- baseline: the mean FHR level over 10 min excluding accelerations and decelerations; here the
  median of the valid FHR in a centred `baseline_window_s` window, then the mean of the points
  within +-`decel_drop_bpm` of that median (the excursions left out). The window is 20 min: a
  deceleration of 5-10 min (prolonged, FIGO reads it as one up to 10 min) is then less than half of
  it and does not pull the median down; over 10 min the window's seconds are taken every other one
  (the same statistic, half the work)
- bradycardia: FHR below 110 bpm for more than 10 min; tachycardia: above 160 bpm for more than
  10 min (the rule is applied to the FHR smoothed over `smooth_s`, so that with the clinical 10 min
  it is the baseline that is low or high; shorter durations are configurable, e.g. for episodes of
  a few beats)
- deceleration: FHR at least 15 bpm below the baseline for at least 15 s; one lasting more than 3 min
  (`prolonged_s`) is a prolonged deceleration, its own kind (``prolonged_deceleration``)
- reduced variability: the bandwidth of the FHR (`bandwidths`: the range of its middle 90 %) in 1 min
  segments below 5 bpm, outside decelerations, for more than 50 min (FIGO: "reduced variability ...
  for more than 50 min")

Input: an FHR series (t_s, bpm) with NaN for missing (beats lost, or bad signal quality marked by
edge.fetal.quality_segments.mask_fhr); it is put on a regular grid of `rate_hz` (4 Hz as cardiotocographs).
Gaps up to `bridge_s` are bridged by holding the previous value; longer gaps break events.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FhrConfig:
    """Thresholds in bpm, durations in seconds (the clinical ones by default)."""

    rate_hz: float = 4.0
    brady_bpm: float = 110.0
    tachy_bpm: float = 160.0
    brady_min_s: float = 600.0
    tachy_min_s: float = 600.0
    decel_drop_bpm: float = 15.0
    decel_min_s: float = 15.0
    decel_edge_bpm: float = 5.0  # a deceleration's start and end: where the fall from baseline crosses this
    prolonged_s: float = 180.0
    variability_bpm: float = 5.0
    variability_segment_s: float = 60.0
    variability_min_s: float = 3000.0
    baseline_window_s: float = 1200.0
    smooth_s: float = 1.0
    bridge_s: float = 2.0
    min_bpm: float = 50.0  # beat intervals giving an FHR outside [min_bpm, max_bpm] are missing
    max_bpm: float = 240.0


@dataclass(frozen=True)
class FhrEvent:
    """[start_s, end_s) seconds, kind, score 0..1 (severity), level in bpm: mean distance beyond the
    threshold (brady/tachy), mean fall below baseline (decel), or 5 minus the amplitude (variability)."""

    start_s: float
    end_s: float
    kind: str
    score: float
    level: float


def fhr_from_peaks(peaks: np.ndarray, fs: float, config: FhrConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Beat sample indices (k,) -> (t_s, bpm) (k - 1,): each interval's rate at its closing beat; implausible NaN."""
    cfg = config or FhrConfig()
    t = np.sort(np.asarray(peaks, dtype=float)) / fs
    rr = np.diff(t)
    with np.errstate(divide="ignore"):
        bpm = 60.0 / rr
    bpm[(bpm < cfg.min_bpm) | (bpm > cfg.max_bpm)] = np.nan
    return t[1:], bpm


def resample_fhr(t_s: np.ndarray, bpm: np.ndarray, duration_s: float | None = None,
             config: FhrConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(t_s, bpm) at beats -> a regular grid (m,) s and bpm (m,): each grid point holds the rate of the beat
    interval it falls in; NaN where that interval is missing or longer than 60 / min_bpm s."""
    cfg = config or FhrConfig()
    t_s, bpm = np.asarray(t_s, dtype=float), np.asarray(bpm, dtype=float)
    end = duration_s if duration_s is not None else (t_s[-1] if t_s.size else 0.0)
    grid = np.arange(0.0, end, 1.0 / cfg.rate_hz)
    if t_s.size == 0:
        return grid, np.full(grid.shape, np.nan)
    idx = np.searchsorted(t_s, grid, side="left")
    inside = idx < t_s.size
    values = np.full(grid.shape, np.nan)
    values[inside] = bpm[idx[inside]]
    starts = t_s[np.minimum(idx, t_s.size - 1)] - 60.0 / np.where(np.isnan(values), np.inf, values)
    values[grid < starts - 1e-9] = np.nan  # before the first beat of its interval
    return grid, values


def bridge_gaps(values: np.ndarray, longest: int) -> np.ndarray:
    """Hold the previous value over NaN runs of at most `longest` points."""
    out = values.copy()
    nan = np.isnan(out)
    if not nan.any() or longest <= 0:
        return out
    idx = np.where(~nan, np.arange(out.size), 0)
    np.maximum.accumulate(idx, out=idx)
    run_start = np.flatnonzero(np.diff(np.concatenate([[0], nan.astype(np.int8)])) == 1)
    run_end = np.flatnonzero(np.diff(np.concatenate([nan.astype(np.int8), [0]])) == -1) + 1
    for a, b in zip(run_start, run_end, strict=True):
        if b - a <= longest and a > 0:
            out[a:b] = out[idx[a - 1]]
    return out


def smooth_fhr(values: np.ndarray, width: int) -> np.ndarray:
    """Centred NaN-aware moving mean (NaN where the centre is NaN)."""
    if width <= 1:
        return values
    ok = ~np.isnan(values)
    c = np.cumsum(np.concatenate([[0.0], np.where(ok, values, 0.0)]))
    k = np.cumsum(np.concatenate([[0], ok.astype(int)]))
    lo = np.clip(np.arange(values.size) - width // 2, 0, values.size)
    hi = np.clip(lo + width, 0, values.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c[hi] - c[lo]) / (k[hi] - k[lo])
    return np.where(ok, mean, np.nan)


def baseline(values: np.ndarray, config: FhrConfig | None = None) -> np.ndarray:
    """Baseline bpm (m,) of a grid series (m,): per second, over a centred window (see module docstring)."""
    cfg = config or FhrConfig()
    per = max(1, round(cfg.rate_hz))
    m = values.size // per * per
    if m == 0:
        return np.full(values.shape, np.nan)
    w = max(1, min(round(cfg.baseline_window_s), m // per))
    with warnings.catch_warnings():  # all-NaN seconds or windows (long gaps) give NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        sec = np.nanmean(values[:m].reshape(-1, per), axis=1)
        padded = np.concatenate([np.full(w // 2, np.nan), sec, np.full(w - 1 - w // 2, np.nan)])
        win = np.lib.stride_tricks.sliding_window_view(padded, w)[:, :: max(1, w // 600)]
        med = _nanmedian_rows(win)
        with np.errstate(invalid="ignore"):
            near = np.abs(win - med[:, None]) <= cfg.decel_drop_bpm  # NaN compares False: left out
            base_sec = np.where(near, win, 0.0).sum(axis=1) / near.sum(axis=1)
    out = np.repeat(base_sec, per)
    return np.concatenate([out, np.full(values.size - out.size, out[-1] if out.size else np.nan)])


def _nanmedian_rows(win: np.ndarray) -> np.ndarray:
    """np.nanmedian(win, axis=1) of (n, w) by one sort (NaN sorts last): the same values, 3x faster, which
    counts when the live chain reads an hour of FHR every few seconds."""
    ordered = np.sort(win, axis=1)
    k = (~np.isnan(win)).sum(axis=1)
    rows = np.arange(win.shape[0])
    mid = (ordered[rows, np.maximum(k - 1, 0) // 2] + ordered[rows, k // 2 - (k == 0)]) / 2
    return np.where(k > 0, mid, np.nan)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of flags (m,) bool."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def detect_fhr_events(t_s: np.ndarray, bpm: np.ndarray, duration_s: float | None = None,
                      config: FhrConfig | None = None) -> list[FhrEvent]:
    """Events of an FHR series (t_s, bpm) at beats (NaN = missing), sorted by start."""
    cfg = config or FhrConfig()
    grid, raw = resample_fhr(t_s, bpm, duration_s, cfg)
    return events_from_grid(grid, raw, cfg)


def events_from_grid(grid: np.ndarray, raw: np.ndarray, config: FhrConfig | None = None) -> list[FhrEvent]:
    """Events of a regular FHR grid (m,) s / (m,) bpm with NaN missing."""
    cfg = config or FhrConfig()
    values = smooth_fhr(bridge_gaps(raw, round(cfg.bridge_s * cfg.rate_hz)), round(cfg.smooth_s * cfg.rate_hz))
    return events_from_values(grid, values, baseline(values, cfg), cfg)


def events_from_values(grid: np.ndarray, values: np.ndarray, base: np.ndarray,
                       config: FhrConfig | None = None) -> list[FhrEvent]:
    """Events of a grid (m,) s whose FHR (m,) bpm is already bridged and smoothed, with its baseline (m,) bpm."""
    cfg = config or FhrConfig()
    step = 1.0 / cfg.rate_hz
    events: list[FhrEvent] = []

    def add(flags: np.ndarray, kind: str, min_s: float, level_of: np.ndarray, scale: float) -> np.ndarray:
        kept = np.zeros(flags.shape, dtype=bool)
        for a, b in runs(flags):
            if (b - a) * step >= min_s:
                level = float(np.nanmean(level_of[a:b]))
                prolonged = kind == "deceleration" and (b - a) * step > cfg.prolonged_s
                named = "prolonged_deceleration" if prolonged else kind
                events.append(FhrEvent(round(float(grid[a]), 3), round(float(grid[b - 1]) + step, 3), named,
                                       round(float(np.clip(abs(level) / scale, 0.0, 1.0)), 3), round(level, 2)))
                kept[a:b] = True
        return kept

    with np.errstate(invalid="ignore"):
        add(values < cfg.brady_bpm, "bradycardia", cfg.brady_min_s, cfg.brady_bpm - values, 40.0)
        add(values > cfg.tachy_bpm, "tachycardia", cfg.tachy_min_s, values - cfg.tachy_bpm, 40.0)
        drop = base - values
        core = add(drop >= cfg.decel_drop_bpm, "_core", cfg.decel_min_s, drop, 60.0)
        events[:] = [e for e in events if e.kind != "_core"]
        # a deceleration runs from where the FHR leaves the baseline to where it is back (FIGO)
        decel = np.zeros(values.shape, dtype=bool)
        for a, b in runs(drop >= cfg.decel_edge_bpm):
            decel[a:b] = core[a:b].any()
        add(decel, "deceleration", cfg.decel_min_s, drop, 60.0)
    seg = max(1, round(cfg.variability_segment_s * cfg.rate_hz))
    amp = bandwidths(np.where(decel, np.nan, values), seg)
    if amp.size:
        with np.errstate(invalid="ignore"):
            low = np.repeat(amp < cfg.variability_bpm, seg)
        add(np.concatenate([low, np.zeros(values.size - low.size, dtype=bool)]), "reduced_variability",
            cfg.variability_min_s, np.repeat(cfg.variability_bpm - amp, seg), cfg.variability_bpm)
    return sorted(events, key=lambda e: (e.start_s, e.kind))


def bandwidths(level: np.ndarray, segment: int) -> np.ndarray:
    """Per whole segment of `segment` points from the start (n,) of level (m,) bpm, NaN = left out: the bandwidth,
    the range of the middle 90 % of its values (5th to 95th percentile: a spike of a few beats, often a beat missed
    or added, is not the band a reader sees on the trace); NaN where under half of the segment is valid."""
    n = level.size // segment
    out = np.full(n, np.nan)
    if n == 0:
        return out
    blocks = level[: n * segment].reshape(n, segment)
    enough = (~np.isnan(blocks)).mean(axis=1) >= 0.5
    if enough.any():
        lo, hi = np.nanpercentile(blocks[enough], [5.0, 95.0], axis=1)
        out[enough] = hi - lo
    return out


def event_scores(grid: np.ndarray, events: list[FhrEvent], kind: str) -> np.ndarray:
    """Per grid point (m,): the score of the `kind` event covering it, else 0."""
    out = np.zeros(grid.shape)
    for e in events:
        if e.kind == kind:
            inside = (grid >= e.start_s) & (grid < e.end_s)
            out[inside] = np.maximum(out[inside], e.score)
    return out
