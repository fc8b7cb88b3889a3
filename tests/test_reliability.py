"""A bundle's reliability estimate (train/reliability.py): which held-out normal clips look unlike the rest,
and the advice a user reads. The estimate in a trained bundle: tests/test_fewshot.py."""

from __future__ import annotations

import numpy as np

from train.faults import FAULT_KINDS
from train.reliability import UNLIKE_Z, advice, unlike_clips


def test_a_clip_far_above_the_others_is_unlike_them() -> None:
    rng = np.random.default_rng(0)
    scores = 2.0 + 0.1 * rng.standard_normal(10)
    assert unlike_clips(scores) == []
    scores[[3, 7]] = 5.6  # two clips of another speed: held out, the others do not explain them
    assert unlike_clips(scores) == [3, 7]
    scores[[3, 7]] = np.median(scores) + 0.5 * UNLIKE_Z * 1.4826 * np.median(np.abs(scores - np.median(scores)))
    assert unlike_clips(scores) == []  # inside the spread: not called unlike
    assert unlike_clips(np.array([1.0, 9.0, 1.1])) == []  # too few others to say


def test_the_advice_asks_for_more_recording_only_when_needed() -> None:
    good = {k: 0.95 for k in FAULT_KINDS}
    said = advice(good, 0, 10)
    assert "enough recording" in said and "record more" not in said
    said = advice(good, 2, 10)
    assert said.startswith("2 of 10 normal clips look unlike the rest when held out: record more of the machine's "
                           "normal states")
    said = advice({**good, "speed": 0.62}, 0, 10)
    assert "speed faults are hard to tell from normal (AUC 0.62)" in said and "record more" not in said



def test_vigil_status_shows_the_bundles_estimate_and_advice() -> None:
    from edge.observe.health import format_status
    from edge.service.runner import reliability_of

    shown = reliability_of({"estimate": 0.84, "advice": "2 of 10 normal clips look unlike the rest", "faults": {}})
    assert shown == {"estimate": 0.84, "advice": "2 of 10 normal clips look unlike the rest"}
    assert reliability_of({}) is None and reliability_of({"estimate": "high"}) is None  # an older or odd bundle
    stream = {"name": "pump-1", "state": "running", "windows": 3, "events": 0, "missing_percent": 0.0,
              "reconnects": 0, "last_score": 1.0, "threshold": 2.0, "reliability": shown}
    text, _ = format_status({"gateway": "gw", "pid": 1, "time": 0.0, "streams": [stream, {**stream, "name": "ecg",
                                                                                          "reliability": None}]}, 0.0)
    assert "bundle reliability 0.84: 2 of 10 normal clips look unlike the rest" in text
    assert text.count("bundle reliability") == 1
