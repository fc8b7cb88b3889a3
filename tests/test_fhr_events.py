"""FHR rules on constructed series with known answers (FIGO durations by default, shorter ones configured)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.fetal.fhr_events import FhrConfig, detect_fhr_events, event_scores, events_from_grid, fhr_from_peaks

RATE = 4.0


def grid_series(levels: list[tuple[float, float]], wiggle: float = 6.0,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant FHR (seconds, bpm), 4 Hz, with a 0.1 Hz wiggle of +-wiggle/2 bpm (variability)."""
    values = np.concatenate([np.full(round(s * RATE), bpm) for s, bpm in levels])
    t = np.arange(values.size) / RATE
    return t, values + wiggle / 2 * np.sin(2 * np.pi * 0.1 * t + np.random.default_rng(seed).uniform(0, 6))


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


def test_peaks_to_fhr_and_implausible_intervals_missing() -> None:
    peaks = np.array([0, 500, 1000, 1500, 4500, 5000])  # 1 kHz: 120 bpm, then a 3 s gap (20 bpm)
    t, bpm = fhr_from_peaks(peaks, 1000.0)
    assert t.tolist() == [0.5, 1.0, 1.5, 4.5, 5.0]
    assert bpm[[0, 1, 2, 4]].tolist() == [120.0, 120.0, 120.0, 120.0] and np.isnan(bpm[3])


def test_bradycardia_needs_ten_minutes_by_default() -> None:
    t, v = grid_series([(600, 140), (660, 100), (300, 140)])
    events = events_from_grid(t, v)
    brady = [e for e in events if e.kind == "bradycardia"]
    assert len(brady) == 1
    assert brady[0].start_s == pytest.approx(600, abs=2) and brady[0].end_s == pytest.approx(1260, abs=2)
    assert brady[0].level == pytest.approx(10, abs=1)
    t, v = grid_series([(600, 140), (480, 100), (300, 140)])  # 8 min: not bradycardia by FIGO
    assert "bradycardia" not in kinds(events_from_grid(t, v))
    assert "bradycardia" in kinds(events_from_grid(t, v, FhrConfig(brady_min_s=300)))


def test_tachycardia_and_short_episodes_when_configured() -> None:
    t, v = grid_series([(600, 140), (620, 175), (120, 140)])
    tachy = [e for e in events_from_grid(t, v) if e.kind == "tachycardia"]
    assert len(tachy) == 1 and tachy[0].end_s - tachy[0].start_s == pytest.approx(620, abs=2)
    t, v = grid_series([(120, 140), (4, 200), (120, 140)], wiggle=0)
    assert "tachycardia" not in kinds(events_from_grid(t, v))
    short = [e for e in events_from_grid(t, v, FhrConfig(tachy_min_s=2)) if e.kind == "tachycardia"]
    assert len(short) == 1 and short[0].start_s == pytest.approx(120) and short[0].score > 0.8


def test_deceleration_fifteen_bpm_for_fifteen_seconds() -> None:
    t, v = grid_series([(300, 140), (30, 110), (300, 140)])
    decel = [e for e in events_from_grid(t, v) if e.kind == "deceleration"]
    assert len(decel) == 1
    assert decel[0].start_s == pytest.approx(300, abs=3) and decel[0].end_s == pytest.approx(330, abs=3)
    assert decel[0].level == pytest.approx(30, abs=4)
    for levels in ([(300, 140), (30, 130), (300, 140)], [(300, 140), (10, 110), (300, 140)]):  # too shallow, too short
        t, v = grid_series(levels)
        assert "deceleration" not in kinds(events_from_grid(t, v))
    t, v = grid_series([(300, 140), (10, 110), (300, 140)])
    assert "deceleration" in kinds(events_from_grid(t, v, FhrConfig(decel_min_s=8)))


def test_reduced_variability_over_fifty_minutes() -> None:
    t, normal = grid_series([(1200, 140)], wiggle=12)
    _, flat = grid_series([(3300, 140)], wiggle=2, seed=1)
    v = np.concatenate([normal, flat])
    t = np.arange(v.size) / RATE
    reduced = [e for e in events_from_grid(t, v) if e.kind == "reduced_variability"]
    assert len(reduced) == 1
    assert reduced[0].start_s == pytest.approx(1200, abs=60) and reduced[0].end_s == pytest.approx(4500, abs=60)
    v2 = np.concatenate([normal, flat[: 2400 * 4]])  # 40 min: not yet
    assert "reduced_variability" not in kinds(events_from_grid(np.arange(v2.size) / RATE, v2))


def test_missing_points_break_events_and_short_gaps_are_bridged() -> None:
    t, v = grid_series([(120, 140), (8, 100), (120, 140)], wiggle=0)
    cfg = FhrConfig(brady_min_s=6)
    gapped = v.copy()
    gapped[round(123 * RATE) : round(124 * RATE)] = np.nan  # 1 s: bridged
    assert "bradycardia" in kinds(events_from_grid(t, gapped, cfg))
    gapped[round(122 * RATE) : round(126 * RATE)] = np.nan  # 4 s: splits the 8 s into two short runs
    assert "bradycardia" not in kinds(events_from_grid(t, gapped, cfg))


def test_beats_in_and_event_scores_on_the_grid() -> None:
    rr = np.concatenate([np.full(300, 60 / 140), np.full(10, 60 / 95), np.full(300, 60 / 140)])
    peaks = np.round(np.concatenate([[0], np.cumsum(rr)]) * 1000).astype(int)
    t, bpm = fhr_from_peaks(peaks, 1000.0)
    cfg = FhrConfig(brady_min_s=3)
    events = detect_fhr_events(t, bpm, peaks[-1] / 1000, cfg)
    assert kinds(events) == ["bradycardia"]
    start = peaks[300] / 1000
    assert events[0].start_s == pytest.approx(start, abs=0.75) and events[0].level == pytest.approx(15, abs=1)
    grid = np.arange(0, peaks[-1] / 1000, 0.25)
    s = event_scores(grid, events, "bradycardia")
    assert s[(grid > start + 1) & (grid < start + 5)].min() > 0 and s[grid < start - 2].max() == 0
