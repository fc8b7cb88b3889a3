"""Per-stream state for the page: the signal envelope is exact, bounded and kept only while someone
looks; readers get only what is new; the FHR slot (fed by a beat stage) reaches /metrics and Home
Assistant's state; /metrics names its series by Prometheus' conventions."""

from __future__ import annotations

import json
import platform
import re
import time

import numpy as np

import edge
from edge.observe.home_assistant import state_payload
from edge.observe.metrics import Metrics
from edge.pipeline.decider import Event
from edge.pipeline.stream_state import STATES, StreamState
from edge.sinks.events import make_record


def state(name: str = "mic", modality: str = "audio", threshold: float = 1.0) -> StreamState:
    return StreamState(name, "microphone", modality, "dense-ae", "int8", threshold)


def test_envelope_is_min_max_per_bucket_across_blocks_bounded_and_only_while_watched() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000 * 30).astype(np.float32)  # 30 s at 16 kHz, longer than the 10 s kept
    s = state()
    s.envelope(0, x[:16000], 16000)
    assert s.signal.count == 0  # nobody looks: nothing computed
    s.watch(60)
    for start in range(0, x.size, 1000):  # blocks that do not line up with the 320-sample buckets
        s.envelope(start, x[start : start + 1000, None], 16000)
    rows = np.array(s.signal.rows)
    assert rows.shape == (500, 3) and s.signal.count == x.size // 320  # 10 s x 50 points/s kept
    first = round(float(rows[0, 0]) * 16000)
    np.testing.assert_array_equal(rows[:, 1], x[first : first + 500 * 320].reshape(500, 320).min(axis=1))
    np.testing.assert_array_equal(rows[:, 2], x[first : first + 500 * 320].reshape(500, 320).max(axis=1))


def test_readers_get_only_new_points() -> None:
    s = state("ecg", "ecg", 6.7)
    s.watch(60)
    s.envelope(0, np.zeros(1000), 1000)
    seen = s.signal.count
    assert seen == 50 and s.signal.since(seen) == []
    s.envelope(1000, np.ones(100), 1000)
    assert [r[0] for r in s.signal.since(seen)] == [1.0, 1.02, 1.04, 1.06, 1.08]
    s.envelope(5000, np.ones(100), 1000)  # a jump: the partial bucket is dropped, rows restart at the new place
    assert s.signal.since(seen + 5)[0][0] == 5.0


def test_fhr_slot_reaches_metrics_and_home_assistant() -> None:
    s = state("wearable-1", "ecg", 6.7)
    assert json.loads(state_payload(s))["fhr_bpm"] is None
    assert "vigil_fhr_beats_per_minute{" not in Metrics(lambda: [s], lambda: None, lambda: None).render().decode()
    s.on_fhr(np.array([10.0, 10.4]), np.array([141.0, 143.5]))
    s.scored(np.array([10.0]), np.array([7.5], np.float32))
    s.anomaly = True
    text = Metrics(lambda: [s], lambda: 3, lambda: True).render().decode()
    assert 'vigil_fhr_beats_per_minute{stream="wearable-1"} 143.5' in text
    assert 'vigil_anomaly{stream="wearable-1"} 1.0' in text and "vigil_outbox_events 3.0" in text
    assert json.loads(state_payload(s)) == {"anomaly": "ON", "kind": "dense-ae", "event_id": None, "score": 7.5,
                                            "threshold": 6.7, "fhr_bpm": 143.5, "state": "starting", "reason": None,
                                            "available": "offline", "model": None, "reliability": None,
                                            "reliability_advice": None, "learning": None}


def test_a_waiting_stream_shows_in_metrics_with_its_state() -> None:
    s = state("pump-1")
    s.waiting_for("no audio input device 'usb' (devices: none)")
    text = Metrics(lambda: [s], lambda: None, lambda: None).render().decode()
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
             if line.startswith("vigil_stream_state{")}
    assert lines['vigil_stream_state{state="waiting",stream="pump-1"}'] == 1.0
    assert sum(lines.values()) == 1.0 and len(lines) == len(STATES)
    s.waiting_for(None)  # the device is back
    assert s.state == "running" and s.reason is None


def test_build_info_bundle_info_and_last_event_follow_prometheus_conventions() -> None:
    s = StreamState("kpi-1", "file", "kpi", "donut", "float32", 0.5, bundle="kpi-web", model_sha256="ab" * 32)
    text = Metrics(lambda: [s], lambda: None, lambda: None).render().decode()
    assert "vigil_stream_last_event_timestamp_seconds{" not in text  # no event yet: absent, not 1970
    assert f'vigil_stream_bundle_info{{bundle="kpi-web",detector="donut",sha256="{"ab" * 32}",stream="kpi-1"}} 1.0' \
        in text
    (build,) = [line for line in text.splitlines() if line.startswith("vigil_build_info{")]
    assert f'python="{platform.python_version()}"' in build and f'version="{edge.__version__}"' in build
    assert re.search(r'runtime="[a-z-]+( [0-9.]+)?"', build) and build.endswith(" 1.0")
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert not [n for n in names if n.startswith("vigil_process_")]
    before = time.time()
    s.evented(make_record(Event(1.0, 2.0, 3.0, 0.5, 4), gateway="g", stream="kpi-1", detector="donut",
                          model_sha256="ab" * 32, stream_epoch_s=before))
    text = Metrics(lambda: [s], lambda: None, lambda: None).render().decode()
    (line,) = [m for m in text.splitlines() if m.startswith("vigil_stream_last_event_timestamp_seconds{")]
    assert line.startswith('vigil_stream_last_event_timestamp_seconds{stream="kpi-1"} ')
    assert before <= float(line.split(" ")[1]) <= time.time()


def test_the_page_names_each_event_detector_kind_and_wall_clock_and_the_bundle() -> None:
    from edge.observe.web.server import LivePage

    s = StreamState("fetal", "file", "ecg", "donut", "int8", 6.7, bundle="ecg-donut", model_sha256="cd" * 32,
                    bundle_created="2026-11-25T20:36:57Z")
    for detector in ("donut", "fetal-flatline", "fetal-bradycardia", "fetal-prolonged_deceleration"):
        s.evented(make_record(Event(2.0, 4.5, 9.0, 6.7, 3, detector), gateway="g", stream="fetal",
                              detector=detector, model_sha256="cd" * 32, stream_epoch_s=1.8e9))
    (entry,) = LivePage(lambda: [s], dict, bytes).snapshot()["streams"]
    assert entry["bundle"] == {"name": "ecg-donut", "detector": "donut", "variant": "int8", "sha256": "cd" * 32,
                               "created": "2026-11-25T20:36:57Z"}
    assert [(e["detector"], e["kind"]) for e in entry["recent_events"]] == [
        ("donut", "anomaly"), ("fetal-flatline", "signal quality"), ("fetal-bradycardia", "heart rate"),
        ("fetal-prolonged_deceleration", "heart rate")]
    assert entry["ctg"] is None  # no reading yet; the fetal stage's latest one once it made one
    s.ctg = {"baseline_bpm": 140.0, "category": "normal"}
    assert LivePage(lambda: [s], dict, bytes).snapshot()["streams"][0]["ctg"] == s.ctg
    assert entry["recent_events"][0]["start"] == "2027-01-15T08:00:02.000Z"  # 1.8e9 s + 2 s, UTC
