"""The Challenge 2013 scorer (benchmarks/cinc2013_score.py) on beat series with known answers."""

from __future__ import annotations

import numpy as np

from benchmarks.cinc2013_score import challenge_scores, mxm_pairs, rr_measurements, tach

FS = 1000.0


def beats(rr_ms: float, start: int = 300, end: int = 60_000) -> np.ndarray:
    return np.arange(start, end, rr_ms).round().astype(np.int64)


def test_tach_of_a_steady_rhythm_is_its_rate() -> None:
    hr = tach(beats(500), 300, 59_800, FS)
    assert len(hr) == 12
    assert np.allclose(hr, 120.0, atol=0.5)


def test_identical_beats_score_zero_and_a_steady_offset_scores_its_square() -> None:
    ref = beats(500)
    same = challenge_scores(ref, ref, FS)
    assert same.fhr_mse == 0.0 and same.rr_rms_ms == 0.0 and same.tach_samples == 12
    faster = challenge_scores(ref, beats(480), FS)  # 125 bpm against 120: (125 - 120)^2
    assert abs(faster.fhr_mse - 25.0) < 2.0
    assert 19.0 < faster.rr_rms_ms < 22.0  # 20 ms per interval; mxm adds one pair of its last values
    assert abs(faster.rr_rms_pct - 100 * faster.rr_rms_ms / 500) < 0.5


def test_tach_stops_where_the_detected_beats_stop() -> None:
    ref = beats(500)
    short = challenge_scores(ref, beats(500, end=30_000), FS)
    assert short.tach_samples < 12
    assert short.fhr_mse < 1.0  # the Challenge scored only the samples the test series reached


def test_tach_replaces_an_outlier_by_the_previous_rate() -> None:
    b = beats(500).tolist()
    extra = sorted(b + [b[60] + k for k in range(25, 500, 25)])  # 19 false beats inside one interval: a spike
    hr = tach(np.array(extra), b[0], b[-1], FS)
    assert max(hr) < 130.0


def test_mxm_pairs_each_test_interval_with_the_nearest_reference_one() -> None:
    ref = [(0, 500), (500, 500), (1000, 400), (1400, 600)]
    test = [(10, 490), (990, 410), (1390, 610)]
    pairs, read = mxm_pairs(ref, test, 0, 2000)
    assert [(t, r, d) for t, r, d in pairs[:3]] == [(10, 500.0, 490.0), (990, 400.0, 410.0), (1390, 600.0, 610.0)]
    assert read == 3
    assert rr_measurements(np.array([0, 500, 1000])) == [(0, 500), (500, 500)]
