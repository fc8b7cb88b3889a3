"""An event is reported while it lasts: an opened record, updates at a bounded rate, the closed record with
the figures `vigil score` gives, all under one event_id, in the log and over MQTT; the stream state knows the
open event (status, page, Home Assistant)."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from edge.observe.health import stream_summary
from edge.observe.home_assistant import state_payload
from edge.pipeline.decider import PHASES, Event
from edge.pipeline.stream_state import StreamState
from edge.sinks.events import make_record, schema
from tests.conftest import run_vigil
from tests.test_mqtt import Subscriber, wait_for
from tests.test_service import DATA, WAV, NotifySocket, audio_stream, service, start, write_config

__all__ = ["service"]  # the fixture, used by name
UPDATE_S = 1.0  # the config's event_update_s: shorter than the clip's event, longer than its windows' hop


def rebuild(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What a consumer does: records by event_id, in arrival order."""
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        events[r["event_id"]].append(r)
    return dict(events)


def test_the_stream_state_knows_the_open_event_until_it_closes() -> None:
    s = StreamState("mic", "microphone", "audio", "dense-ae", "int8", 1.0)
    opened = make_record(Event(2.0, 5.0, 3.0, 1.0, 3, phase="opened"), gateway="gw", stream="mic",
                         detector="dense-ae", model_sha256="0" * 64, stream_epoch_s=1.7e9)
    s.anomaly = True
    s.evented(opened)
    summary = stream_summary(s)["open_event"]
    assert summary["event_id"] == opened.event_id and (summary["start_s"], summary["peak_score"]) == (2.0, 3.0)
    assert json.loads(state_payload(s))["event_id"] == opened.event_id  # Home Assistant's problem sensor
    assert s.events == 0 and not s.recent_events  # counts and lists are of finished events
    update = make_record(Event(2.0, 9.0, 4.0, 1.0, 7, phase="update"), gateway="gw", stream="mic",
                         detector="dense-ae", model_sha256="0" * 64, stream_epoch_s=1.7e9, event_id=opened.event_id)
    s.evented(update)
    assert stream_summary(s)["open_event"]["peak_score"] == 4.0
    closed = make_record(Event(2.0, 9.5, 4.0, 1.0, 8), gateway="gw", stream="mic", detector="dense-ae",
                         model_sha256="0" * 64, stream_epoch_s=1.7e9, event_id=opened.event_id)
    s.anomaly = False
    s.evented(closed)
    assert stream_summary(s)["open_event"] is None and s.events == 1 and s.recent_events[-1] is closed
    assert len({opened.key, update.key, closed.key}) == 3  # the MQTT outbox keeps each record
    assert schema()["properties"]["phase"]["enum"] == list(PHASES)  # the schema names the phases the code makes


@pytest.mark.peer  # mosquitto
def test_a_replayed_anomaly_is_opened_updated_and_closed_in_every_sink(
        service: tuple[NotifySocket, list[subprocess.Popen[str]]], broker: Any, tmp_path: Path) -> None:
    import jsonschema

    scored = json.loads(run_vigil("score", "--bundle", str(DATA / "bundles" / "slider"), str(WAV), "--json",
                                  check=True).stdout)
    assert len(scored["events"]) == 1  # the clip is one anomaly over several windows
    today = scored["events"][0]
    window_s = today["end_s"] - scored["window_starts_s"][-1]
    sub = Subscriber(broker.port)
    assert wait_for(sub.subscribed.is_set, 10)
    notify, procs = service
    config = write_config(tmp_path / "vigil.toml", [audio_stream(realtime=False, loop=False)], tmp_path / "state",
                          mqtt_port=broker.port)
    config.write_text(config.read_text().replace("[gateway]", f"[gateway]\nevent_update_s = {UPDATE_S}"))
    proc = start(config, notify, procs)
    assert proc.wait(60) == 0  # a replay without loop: the service ends with its stream
    log = [json.loads(line) for line in (tmp_path / "state" / "events.jsonl").read_text().splitlines()]
    for record in log:
        jsonschema.validate(record, schema())
    events = rebuild(log)
    assert len(events) == 1
    (records,) = events.values()
    phases = [r["phase"] for r in records]
    assert phases == ["opened"] + ["update"] * (len(records) - 2) + ["closed"]
    opened, closed = records[0], records[-1]
    opening_window = opened["end_s"] - window_s  # the window that opened the event starts here
    over_after_opening = sum(score > today["threshold"] for score, at in zip(
        scored["window_scores"], scored["window_starts_s"], strict=True) if at > opening_window + 1e-6)
    # at most one update per UPDATE_S of stream time: fewer than the windows that moved the end
    assert 1 <= phases.count("update") <= (closed["end_s"] + window_s - opened["start_s"]) / UPDATE_S
    assert phases.count("update") < over_after_opening
    assert [r["end_s"] for r in records[:-1]] == sorted({r["end_s"] for r in records[:-1]})
    assert opened["windows"] < closed["windows"] and opened["end_s"] < closed["end_s"]
    # the closed record is the event the files path reports
    assert {k: closed[k] for k in ("start_s", "end_s")} == {k: round(today[k], 4) for k in ("start_s", "end_s")}
    assert {k: closed[k] for k in ("peak_score", "threshold", "windows")} == {
        k: today[k] for k in ("peak_score", "threshold", "windows")}
    # MQTT got every record of it, the same as the log (at least once: de-duplicated by id, phase and end)
    assert wait_for(lambda: len({(m["phase"], m["end_s"]) for t, m, _ in sub.messages if t.endswith("/events")})
                    == len(log), 10)
    published = {json.dumps(m, sort_keys=True) for t, m, _ in sub.messages if t.endswith("/events")}
    assert published == {json.dumps(r, sort_keys=True) for r in log}
    sub.close()
