"""Sudden fetal rate changes: the beat picker and the FHR tracker follow a tachycardia (0.7x the RR)
instead of holding the old rhythm, and still refuse missed or doubled beats."""

from __future__ import annotations

import numpy as np
import pytest

from edge.fetal.beat_tracker import detect_beats
from edge.fetal.fhr import FhrTracker
from tests.conftest import ROOT

FS = 1000.0


def _peaks(intervals_ms: list[float]) -> np.ndarray:
    return np.cumsum(np.r_[1000.0, intervals_ms]).astype(np.int64)


def test_tracker_follows_a_sudden_tachycardia() -> None:
    rr = [460.0] * 12 + [322.0] * 8 + [460.0] * 12  # 130 bpm, 8 beats at 186 bpm, back
    points = FhrTracker(FS).push(_peaks(rr))
    fast = [p.bpm for p in points if p.bpm > 170]
    assert len(fast) >= 7, [p.bpm for p in points]  # the old tracker: none until 6 rejections
    assert points[-1].bpm == pytest.approx(130.4, abs=0.5)
    assert [p.t for p in points] == sorted(p.t for p in points)


def test_tracker_still_refuses_missed_and_doubled_beats() -> None:
    one_missed = FhrTracker(FS).push(_peaks([460.0] * 10 + [920.0] + [460.0] * 5))
    assert all(125 < p.bpm < 135 for p in one_missed)
    three_missed = FhrTracker(FS).push(_peaks([460.0] * 10 + [920.0] * 3 + [460.0] * 5))
    assert all(125 < p.bpm < 135 for p in three_missed)  # half the rate three times: not a new rate
    split = FhrTracker(FS).push(_peaks([460.0] * 10 + [230.0] * 4 + [460.0] * 5))
    assert all(125 < p.bpm < 135 for p in split)


def test_detector_follows_an_injected_tachycardia_on_a_real_record() -> None:
    """adfecgdb r01, first 15 s, the leads time-warped to 0.7x RR over 10 beats after 4 s
    (train/fetal_inject.py's tachy): the beats inside are found (the fixed-period picker found 6 of 13)."""
    import pyedflib

    from train.ecg_inject import _warp

    reader = pyedflib.EdfReader(str(ROOT.parent / "shared" / "data" / "adfecgdb" / "r01.edf"))
    try:
        labels = reader.getSignalLabels()
        x = np.stack([reader.readSignal(i) for i, name in enumerate(labels) if name.startswith("Abdomen")], axis=1)
        onsets = np.round(np.asarray(reader.readAnnotations()[0]) * FS).astype(np.int64)
    finally:
        reader.close()
    x, ref = x[:15000], onsets[onsets < 15000]
    k = int(np.searchsorted(ref, 4000))
    a, b = int(ref[k]), int(ref[k + 10])
    inside = ref[k : k + 11]
    new = (inside - a) * 0.7
    warped = np.stack([_warp(x[a:b, j], (inside - a).astype(float), new) for j in range(x.shape[1])], axis=1)
    y = np.concatenate([x[:a], warped, x[b:]])[:15000]
    moved = np.concatenate([ref[:k], a + np.round(new).astype(np.int64), ref[k + 11 :] - (b - a) + warped.shape[0]])
    _, fetal = detect_beats(y, FS)
    target = moved[(moved >= a) & (moved <= a + new[-1])]
    hits = sum(int(np.min(np.abs(fetal - t)) <= 50) for t in target)
    assert hits >= 0.8 * target.size, (hits, target.size)
