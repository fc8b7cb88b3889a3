from __future__ import annotations

import itertools

import numpy as np

from edge.pipeline.decider import Decider


def feed(decider: Decider, scores: list[float]) -> list:
    s = np.array(scores, dtype=np.float32)
    return decider.update(s, np.arange(s.size) * 0.5, 1.0) + decider.flush()


def test_debounce_ignores_short_bursts_and_reports_long_ones() -> None:
    events = feed(Decider(1.0, on_windows=3, off_windows=2), [0, 2, 2, 0, 0, 2, 3, 5, 2, 0, 2, 0, 0, 0])
    assert len(events) == 1
    event = events[0]
    assert event.start_s == 2.5 and event.peak_score == 5 and event.windows == 5
    assert event.end_s == 5.0 + 1.0  # end of the last window over the threshold


def test_open_event_is_flushed_at_end_of_stream() -> None:
    decider = Decider(0.5, on_windows=1, off_windows=3)
    assert decider.update(np.array([1.0, 1.0]), np.array([0.0, 1.0]), 1.0) == []
    (event,) = decider.flush()
    assert (event.start_s, event.end_s, event.windows) == (0.0, 2.0, 2)
    assert decider.flush() == []


def test_scores_at_threshold_are_not_anomalous() -> None:
    assert feed(Decider(1.0, on_windows=1), [1.0, 1.0, 1.0]) == []


def test_events_never_overlap_and_one_anomaly_is_one_event() -> None:
    """3 s windows every 0.5 s: an anomaly that dips under the threshold for less than a window is one
    event (an older decider reported 0.0-4.0 s and then 3.0-7.0 s)."""
    scores = [2, 2, 2, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    s = np.array(scores, dtype=np.float32)
    starts = np.arange(s.size) * 0.5
    decider = Decider(1.0, on_windows=3, off_windows=3)
    events = decider.update(s, starts, 3.0) + decider.flush()
    assert [(e.start_s, e.end_s, e.windows) for e in events] == [(0.0, 7.0, 6)]


def test_separate_anomalies_stay_separate_and_ordered() -> None:
    rng = np.random.default_rng(0)
    s = np.where(rng.random(2000) < 0.3, 2.0, 0.0).astype(np.float32)
    s[500:600] = 0.0  # a quiet stretch longer than a window splits the anomalies
    decider = Decider(1.0, on_windows=2, off_windows=2)
    events = decider.update(s, np.arange(s.size) * 0.25, 1.0) + decider.flush()
    assert len(events) >= 2
    assert all(b.start_s - a.end_s > 1.0 for a, b in itertools.pairwise(events))
