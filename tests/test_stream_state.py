"""Per-stream state (what status lines, `vigil status` and pages read), fed by the service's stream loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from edge.detectors.base import load_detector
from edge.pipeline.file_scoring import score_file
from edge.service.config import parse_config
from edge.service.daemon import Service
from edge.service.runner import Runner, prepare
from edge.sinks.base import Sink
from edge.sinks.events import EventRecord
from tests.conftest import ROOT

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]


class ListSink(Sink):
    """A sink is one class: this one keeps what it is given."""

    def __init__(self) -> None:
        self.records: list[EventRecord] = []

    def emit(self, record: EventRecord) -> None:
        self.records.append(record)


def replay(tmp_path: Path) -> tuple[Service, ListSink, Runner]:
    """The slider anomaly clip through the service's stream loop, as fast as possible, into a ListSink."""
    config = parse_config({"gateway": {"name": "gw", "state_dir": str(tmp_path)}, "streams": [
        {"name": "slider", "kind": "file", "bundle": str(DATA / "bundles" / "slider"), "path": str(WAV),
         "realtime": False}]}, tmp_path)
    service = Service(config)
    sink = ListSink()
    service.sinks = [sink]
    runner = prepare(config.streams[0])
    service.runners = {"slider": runner}
    asyncio.run(service._run_stream(runner))
    return service, sink, runner


def test_a_replayed_file_fills_its_state_and_every_sink(tmp_path: Path) -> None:
    service, sink, runner = replay(tmp_path)
    state = json.loads(json.dumps(service.states()[0].snapshot()))  # plain JSON types only
    assert state["state"] == "ended" and state["reason"] == "end of input"
    whole = score_file(runner.bundle, load_detector(runner.bundle), WAV)  # the clip scored in one piece
    assert state["windows"] == runner.stream.windows == len(whole.window_scores) > 0
    assert state["events"] == len(sink.records) >= 1
    assert state["stream_seconds"] == 5.0 and state["missing_fraction"] == 0.0
    assert len(state["recent_scores"]) == min(600, state["windows"])
    assert state["recent_events"] == [r.event_id for r in sink.records]
    assert state["threshold"] == runner.bundle.variant().window_threshold
    assert state["variant"] == runner.bundle.default_variant
    assert service.stalled() == []  # a file that ended is not a stalled stream


def test_a_registered_stage_sees_every_block_and_its_events_reach_the_sinks(tmp_path: Path) -> None:
    """How a further analysis (a fetal-beat stage on ECG) plugs in: one factory per modality."""
    import numpy as np

    from edge.pipeline import stream as stream_module
    from edge.pipeline.decider import Event
    from edge.pipeline.stream import StreamOutput, register_stage
    from edge.sources.base import Block, Channels

    class CountingStage:
        detector, model_sha256 = "block-counter", "0" * 64

        def __init__(self) -> None:
            self.samples = 0
            self.opened: list[Channels] = []

        def open(self, channels: Channels) -> None:
            assert self.samples == 0  # before the first block
            self.opened.append(channels)

        def push(self, block: Block) -> StreamOutput:
            self.samples += block.samples.shape[0]
            return StreamOutput(np.empty(0, np.float32), np.empty(0, np.int64))

        def finish(self) -> list[Event]:
            return [Event(0.0, self.samples / 16000, 1.0, 0.5, 1)]

    made: list[CountingStage] = []
    factory = register_stage("audio")(lambda bundle: made.append(CountingStage()) or made[-1])
    try:
        _, sink, _ = replay(tmp_path)
    finally:
        stream_module._STAGES["audio"].remove(factory)
    (stage_event,) = [r for r in sink.records if r.detector == "block-counter"]
    assert made[0].samples == 80000 and stage_event.end_s == 5.0 and stage_event.model_sha256 == "0" * 64
    assert made[0].opened == [Channels()]  # once; a WAV file names no channel
    kind = json.loads((DATA / "bundles" / "slider" / "manifest.json").read_text())["detector"]["kind"]
    assert any(r.detector == kind for r in sink.records)  # the stream's own events still flow


def test_the_watchdog_counts_stuck_or_crashed_streams_not_waiting_ones(tmp_path: Path) -> None:
    """Service.stalled() (what stops WATCHDOG=1): a stream running without progress for its stall_s and a
    crashed one count; one whose microphone is absent waits (and retries) without counting."""
    import time

    config = parse_config({"gateway": {"name": "gw", "state_dir": str(tmp_path)}, "streams": [
        {"name": "pump", "kind": "microphone", "bundle": str(DATA / "bundles" / "pump"), "device": "no-such-mic",
         "stall_s": 0.1}]}, tmp_path)
    service, _, file_runner = replay(tmp_path)
    mic = prepare(config.streams[0])
    service.runners["pump"] = mic

    async def scenario() -> tuple[list[str], str, str | None]:
        await mic.source.start()
        mic.state.set("running")
        await asyncio.sleep(0.3)  # past stall_s: the source has tried its device
        stalled = service.stalled()
        await mic.source.stop()
        return stalled, mic.state.state, mic.state.reason

    stalled, state, reason = asyncio.run(scenario())
    assert stalled == [] and state == "waiting" and reason is not None and "'no-such-mic'" in reason
    file_runner.state.set("running")  # a stream that should deliver and has not for longer than its stall_s
    file_runner.state.progress_s = time.monotonic() - file_runner.config.stall_s - 1
    assert service.stalled() == ["slider"]
    file_runner.state.set("ended")
    file_runner.crashed = True
    assert service.stalled() == ["slider"]
