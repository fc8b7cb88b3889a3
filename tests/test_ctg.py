"""The CTG reading (FIGO 2015) on constructed FHR series with known answers, one per rule, and on the
adfecgdb 5-min records' reference beats (too short for a category: a provisional baseline)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.fetal.chain import FetalChain
from edge.fetal.ctg import CtgReading, ctg_reading, reading_from_grid
from edge.fetal.fhr_events import fhr_from_peaks
from edge.io.edf import EdfFile
from tests.conftest import ROOT

RATE = 4.0
ADFECG = ROOT.parent / "shared" / "data" / "adfecgdb"


def trace(levels: list[tuple[float, float]], bandwidth: float = 10.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant FHR (seconds, bpm) at 4 Hz with a 3-cycles-per-minute oscillation of `bandwidth` bpm
    peak to peak (the variability a 1-min segment shows)."""
    v = np.concatenate([np.full(round(s * RATE), bpm, dtype=float) for s, bpm in levels])
    t = np.arange(v.size) / RATE
    return t, v + bandwidth / 2 * np.sin(2 * np.pi * t / 20 + np.random.default_rng(seed).uniform(0, 6))


def read(levels: list[tuple[float, float]], **kw: float) -> CtgReading:
    return reading_from_grid(*trace(levels, **kw))


def test_a_normal_twenty_minutes() -> None:
    r = read([(1200, 142)])
    assert (r.baseline_bpm, r.baseline_mean_bpm, r.category) == (140.0, pytest.approx(142, abs=0.5), "normal")
    assert r.variability_bpm == pytest.approx(10, abs=0.5) and not r.provisional and r.reason is None
    assert r.covered_s == 1200 and len(r.periods) == 2 and not r.decelerations and not r.accelerations


def test_a_deceleration_of_known_depth_and_duration_leaves_the_trace_normal() -> None:
    r = read([(600, 140), (60, 110), (540, 140)])
    (d,) = r.decelerations
    assert d.start_s == pytest.approx(600, abs=2) and d.end_s == pytest.approx(660, abs=2)
    assert d.bpm == pytest.approx(35, abs=2) and not d.prolonged  # 30 bpm fall + half the bandwidth
    assert r.baseline_mean_bpm == pytest.approx(140, abs=0.5)  # the deceleration is left out of the baseline
    assert r.category == "normal"  # one deceleration is not repetitive


def test_a_prolonged_deceleration_is_suspicious_and_over_five_minutes_pathological() -> None:
    r = read([(600, 140), (240, 100), (360, 140)])
    (d,) = r.decelerations
    assert d.prolonged and d.end_s - d.start_s == pytest.approx(240, abs=3)
    assert [e.kind for e in r.events] == ["prolonged_deceleration"]  # the live event's kind
    assert r.category == "suspicious" and "prolonged deceleration" in r.findings[0]
    r = read([(600, 140), (360, 100), (600, 140)])
    assert r.category == "pathological" and "over 5" in r.findings[0]


def test_repetitive_decelerations_over_thirty_minutes_are_pathological() -> None:
    every_3_min = [(150, 140), (30, 110)] * 12  # 36 min of decelerations every 3 min
    r = read([(300, 140), *every_3_min, (300, 140)])
    assert len(r.decelerations) == 12 and r.category == "pathological"
    assert "repetitive decelerations" in r.findings[0]
    r = read([(300, 140), *every_3_min[:8], (300, 140)])  # 24 min: repetitive, not yet pathological
    assert r.category == "suspicious" and "repetitive decelerations" in r.findings[0]


def test_bradycardia_and_tachycardia_over_ten_minutes() -> None:
    brady = read([(1200, 105)])
    assert brady.baseline_bpm == 105 and "bradycardia" in [e.kind for e in brady.events]
    assert brady.category == "suspicious"
    assert read([(1200, 95)]).category == "pathological"  # a baseline under 100 bpm
    tachy = read([(1200, 175)])
    assert tachy.baseline_bpm == 175 and "tachycardia" in [e.kind for e in tachy.events]
    assert tachy.category == "suspicious"


def test_reduced_variability_over_fifty_minutes_is_pathological_under_it_suspicious() -> None:
    r = read([(3300, 140)], bandwidth=2)
    assert r.variability_bpm == pytest.approx(2, abs=0.3) and "reduced_variability" in [e.kind for e in r.events]
    assert r.category == "pathological" and r.findings[0] == "reduced variability over 50 min"
    r = read([(1800, 140)], bandwidth=2)  # 30 min: low, not yet the reduced variability of FIGO
    assert r.category == "suspicious" and "variability 2.0 bpm" in r.findings[0]


def test_an_acceleration_is_found_and_kept_out_of_the_baseline() -> None:
    t, v = trace([(1200, 140)])
    rise = slice(round(600 * RATE), round(640 * RATE))
    v[rise] += 25 * np.sin(np.linspace(0, np.pi, rise.stop - rise.start))
    r = reading_from_grid(t, v)
    (a,) = r.accelerations
    assert 595 <= a.start_s <= 610 and 630 <= a.end_s <= 645 and a.bpm == pytest.approx(29, abs=3)
    assert r.category == "normal" and r.baseline_mean_bpm == pytest.approx(140, abs=0.5)


def test_too_short_has_no_baseline_and_says_why() -> None:
    r = read([(60, 140)])
    assert r.baseline_bpm is None and r.category is None and r.variability_bpm is None
    assert r.reason is not None and "60 s of valid FHR" in r.reason and "needs 120 s" in r.reason
    r = read([(300, 140)])  # 5 min: a provisional baseline, no category
    assert r.baseline_bpm == 140 and r.provisional and r.category is None and "10 min" in (r.reason or "")


def test_gaps_count_only_valid_fhr_and_a_mostly_missing_period_is_not_read() -> None:
    t, v = trace([(1200, 140)])
    v[round(300 * RATE) : round(420 * RATE)] = np.nan
    r = reading_from_grid(t, v)
    assert r.covered_s == 1080 and r.category == "normal" and r.baseline_bpm == 140
    v[round(600 * RATE) : round(1000 * RATE)] = np.nan  # the last 10 min only a third valid
    r = reading_from_grid(t, v)
    assert r.covered_s == 680 and r.periods[-1]["baseline_bpm"] is None
    assert r.periods[0]["baseline_bpm"] is not None and r.category == "normal"  # the earlier period is read
    v[: round(600 * RATE)] = np.nan
    r = reading_from_grid(t, v)
    assert r.category is None and r.provisional and "at least 50% valid" in (r.reason or "")


def test_a_live_chain_reports_each_event_once_as_its_history_slides() -> None:
    """The chain reads its recent history: a bradycardia reported once is not again, nor as a deceleration,
    when the history's start cuts into it, and a stream hours old is read from its history's start."""
    chain = FetalChain(1000.0, ["Abdomen_1"], quality=False, fhr_history_s=1500)
    t, v = trace([(3600, 140), (700, 100), (1800, 140)])
    reported = []
    for end in np.arange(90.0, t[-1], 90.0):
        inside = (t >= end - 90) & (t < end)
        chain._history.extend(zip(t[inside].tolist(), v[inside].tolist(), strict=True))
        out = type("Out", (), {"fhr_events": [], "events": [], "ctg": None})()
        chain._fhr_events(out, final=False)  # type: ignore[arg-type]
        reported += out.events
        assert out.ctg is not None and out.ctg.span_s <= 1510  # the history, not the 1.7 h since 0
    # live, the fall reads first as a prolonged deceleration (the baseline has not moved yet), then, past
    # 10 min, as the bradycardia it was; nothing more as the history slides over it
    assert [e.detector for e in reported] == ["fetal-prolonged_deceleration", "fetal-bradycardia"]
    assert all(e.start_s == pytest.approx(3600, abs=2) for e in reported)
    assert reported[1].end_s == pytest.approx(4300, abs=2)


def test_adfecgdb_reference_beats_give_a_provisional_baseline_and_no_category() -> None:
    """Each 5-min record (normal labour), from its annotated fetal beats: a baseline and variability in the
    normal ranges, the baseline provisional, and no FIGO category, as a clinician reads a 5-min strip."""
    for record in ("r01", "r04", "r07", "r08", "r10"):
        with EdfFile(ADFECG / f"{record}.edf") as edf:
            onsets, _, texts = edf.annotations()
        beats = np.array([o for o, text in zip(onsets, texts, strict=True) if text == "QRS"]) * 1000
        r = ctg_reading(*fhr_from_peaks(beats, 1000.0), 300.0)
        assert r.provisional and r.category is None and r.covered_s >= 280, (record, r.summary())
        assert r.baseline_bpm is not None and 110 <= r.baseline_bpm <= 160, (record, r.summary())
        assert r.variability_bpm is not None and 5 <= r.variability_bpm <= 25, (record, r.summary())
        assert "10 min" in (r.reason or "")
