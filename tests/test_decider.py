from __future__ import annotations

import itertools

import numpy as np
import pytest

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


def by_event(events: list) -> list[list]:
    """Transitions of a live decider grouped per event (in order: each group from its opened to its closed)."""
    groups: list[list] = []
    for e in events:
        if e.phase == "opened":
            groups.append([])
        groups[-1].append(e)
    return groups


def test_a_live_decider_reports_each_event_as_it_opens_moves_and_closes() -> None:
    """Opened, updates, closed per event, fed in chunks of any size; its closed events are exactly what a
    decider without updates reports."""
    rng = np.random.default_rng(3)
    s = np.where(rng.random(3000) < 0.4, 2.0 + rng.random(3000), 0.0).astype(np.float32)
    s[1000:1100] = 0.0  # a quiet stretch: at least two events
    s[2000:2600] = 3.0 + rng.random(600)  # a long anomaly: 150 s, updates at most every 5 s
    starts = np.arange(s.size) * 0.25
    plain = Decider(1.0, on_windows=3, off_windows=2)
    expected = plain.update(s, starts, 1.0) + plain.flush()
    live = Decider(1.0, on_windows=3, off_windows=2, update_every_s=5.0)
    cuts = np.sort(rng.choice(np.arange(1, s.size), 40, replace=False))
    events = [e for part, at in zip(np.split(s, cuts), np.split(starts, cuts), strict=True)
              for e in live.update(part, at, 1.0)] + live.flush()
    groups = by_event(events)
    assert [g[-1] for g in groups] == expected and len(expected) >= 2
    for group in groups:
        assert [e.phase for e in group] == ["opened"] + ["update"] * (len(group) - 2) + ["closed"]
        assert len({e.start_s for e in group}) == 1
        for a, b in itertools.pairwise(group):  # figures so far only grow; an update only when the end moved
            assert b.end_s >= a.end_s and b.peak_score >= a.peak_score and b.windows >= a.windows
            assert b.phase == "closed" or b.end_s > a.end_s
        updates = [e for e in group if e.phase == "update"]
        # reported 5 s of stream time apart, the first 5 s after the opening, the last before the window that
        # closes the event (which starts one window length after its end at the earliest)
        assert len(updates) <= (group[-1].end_s + 1.0 - group[0].start_s) / 5.0
    # within the long run over the threshold every window moves the end (its start + 1 s): one update every
    # 5 s of stream time, neither more nor fewer
    run = [e for e in events if e.phase == "update" and starts[2000] + 1.0 <= e.end_s <= starts[2599] + 1.0]
    assert len(run) >= 20
    assert all(5.0 <= b.end_s - a.end_s <= 5.0 + 0.25 for a, b in itertools.pairwise(run))


def test_a_live_decider_sends_no_update_while_the_figures_stand_still() -> None:
    """3 s windows every 0.5 s: an event that dips under the threshold for less than a window stays open
    with its end unchanged; however short the interval, an update comes only with a window over the
    threshold (one that moves the end), none while the scores are under it."""
    s = np.array([2.0] * 4 + [0.0] * 5 + [2.0] * 2 + [0.0] * 30, np.float32)
    live = Decider(1.0, on_windows=3, off_windows=3, update_every_s=0.1)
    events = live.update(s, np.arange(s.size) * 0.5, 3.0) + live.flush()
    phases = [e.phase for e in events]
    assert phases.count("opened") == 1 and phases.count("closed") == 1
    assert phases.count("update") == int((s[3:] > 1.0).sum())  # the over-threshold windows after the opening one
    assert len({e.end_s for e in events if e.phase != "closed"}) == len(events) - 1


def test_update_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="update_every_s must be > 0 s, got 0"):
        Decider(1.0, update_every_s=0)
