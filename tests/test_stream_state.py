"""Per-stream state: the signal envelope is exact and bounded, readers get only what is new, and the
FHR slot (fed by a beat stage) reaches /metrics and Home Assistant's state."""

from __future__ import annotations

import json

import numpy as np

from edge.ha_discovery import state_payload
from edge.metrics import Metrics
from edge.stream_state import StreamState


def test_envelope_is_min_max_per_bucket_across_blocks_and_bounded() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000 * 30).astype(np.float32)  # 30 s at 16 kHz, longer than the 10 s kept
    state = StreamState("mic", "microphone", "audio", 1.0)
    state.on_block(0, x[:16000], 16000)
    assert state.signal.count == 0 and state.samples == 16000  # nobody looks: counted, no envelope
    state.watch(60)
    for start in range(0, x.size, 1000):  # blocks that do not line up with the 320-sample buckets
        state.on_block(start, x[start : start + 1000], 16000)
    rows = np.array(state.signal.rows)
    assert rows.shape == (500, 3) and state.signal.count == x.size // 320  # 10 s x 50 points/s kept
    first = round(float(rows[0, 0]) * 16000)
    np.testing.assert_array_equal(rows[:, 1], x[first : first + 500 * 320].reshape(500, 320).min(axis=1))
    np.testing.assert_array_equal(rows[:, 2], x[first : first + 500 * 320].reshape(500, 320).max(axis=1))
    assert state.samples == x.size + 16000 and state.state == "running"


def test_readers_get_only_new_points_and_missing_is_counted() -> None:
    state = StreamState("ecg", "ble-ecg", "ecg", 6.7)
    missing = np.zeros(1000, bool)
    missing[:100] = True
    state.watch(60)
    state.on_block(0, np.zeros(1000), 1000, missing)
    seen = state.signal.count
    assert seen == 50 and state.signal.since(seen) == []
    state.on_block(1000, np.ones(100), 1000)
    assert [r[0] for r in state.signal.since(seen)] == [1.0, 1.02, 1.04, 1.06, 1.08]
    assert state.missing_ratio == 100 / 1100


def test_fhr_slot_reaches_metrics_and_home_assistant() -> None:
    state = StreamState("wearable-1", "ble-ecg", "ecg", 6.7)
    assert json.loads(state_payload(state))["fhr_bpm"] is None
    assert "vigil_fhr_beats_per_minute{" not in Metrics(lambda: [state], lambda: None, lambda: None).render().decode()
    state.on_fhr(np.array([10.0, 10.4]), np.array([141.0, 143.5]))
    state.on_scores(np.array([10.0]), np.array([7.5], np.float32), anomaly=True)
    text = Metrics(lambda: [state], lambda: 3, lambda: True).render().decode()
    assert 'vigil_fhr_beats_per_minute{stream="wearable-1"} 143.5' in text
    assert 'vigil_anomaly{stream="wearable-1"} 1.0' in text and "vigil_outbox_events 3.0" in text
    assert json.loads(state_payload(state)) == {"anomaly": "ON", "score": 7.5, "threshold": 6.7, "fhr_bpm": 143.5,
                                                "state": "starting"}
