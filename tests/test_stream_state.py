"""Per-stream state (what status lines, `vigil status` and pages read), fed by the service's stream loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from edge.config import parse_config
from edge.events import EventRecord
from edge.service import Service, prepare
from edge.sinks import Sink
from tests.conftest import ROOT

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]


class ListSink(Sink):
    """A sink is one class: this one keeps what it is given."""

    def __init__(self) -> None:
        self.records: list[EventRecord] = []

    def emit(self, record: EventRecord) -> None:
        self.records.append(record)


def test_a_replayed_file_fills_its_state_and_every_sink(tmp_path: Path) -> None:
    config = parse_config({"gateway": {"name": "gw", "state_dir": str(tmp_path)}, "streams": [
        {"name": "slider", "kind": "file", "bundle": str(DATA / "bundles" / "slider"), "path": str(WAV),
         "realtime": False}]}, tmp_path)
    service = Service(config)
    sink = ListSink()
    service.sinks = [sink]
    runner = prepare(config.streams[0])
    service.runners = {"slider": runner}
    asyncio.run(service._run_stream(runner))
    state = json.loads(json.dumps(service.states()[0].snapshot()))  # plain JSON types only
    assert state["state"] == "ended" and state["reason"] == "end of input"
    assert state["windows"] == runner.stream.windows > 100 and state["events"] == len(sink.records) >= 1
    assert state["stream_seconds"] == 5.0 and state["missing_fraction"] == 0.0
    assert len(state["recent_scores"]) == min(600, state["windows"])
    assert state["recent_events"] == [r.event_id for r in sink.records]
    assert state["threshold"] == runner.bundle.variant().window_threshold and state["variant"] == "int8"
    assert service.stalled() == []  # a file that ended is not a stalled stream
