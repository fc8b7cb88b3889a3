"""The service in the field: a device that is absent is waited for while the watchdog stays fed and
the other streams go on; a stream that cannot work at all is refused before READY in one line; file
replays without ``loop`` end the service by themselves. Real `vigil run` processes under a notify socket."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from edge.bundle.loader import load_bundle
from edge.pipeline.assembly import assemble, replay
from edge.sources.backoff import Backoff
from edge.sources.base import needs_of
from edge.sources.file import open_file_recording
from tests.conftest import ROOT
from tests.test_service import DATA, NotifySocket, service, start, write_config

__all__ = ["service"]  # the fixture, used by name

ANOMALY = {m: sorted((DATA / "samples" / m).glob("anomaly_*.wav"))[0] for m in ("slider", "toycar")}


def file_stream(machine: str, **extra: object) -> dict[str, object]:
    return {"name": machine, "kind": "file", "bundle": str(DATA / "bundles" / machine),
            "path": str(ANOMALY[machine]), "realtime": False, **extra}


def expected_events(machine: str) -> list[tuple[float, float]]:
    """(start_s, end_s) of the events of the clip replayed in-process through the same pipeline."""
    bundle = load_bundle(DATA / "bundles" / machine)
    pipeline = assemble(bundle)
    done = replay(pipeline.stream, open_file_recording(ANOMALY[machine], needs_of(bundle)).blocks())
    return [(e.start_s, e.end_s) for e in done.events]


def logged(state: Path) -> list[dict[str, object]]:
    """The finished events in the log (its closed records)."""
    records = [json.loads(line) for line in (state / "events.jsonl").read_text().splitlines()]
    return [r for r in records if r["phase"] == "closed"]


def test_backoff_doubles_to_its_bound_jittered_and_resets() -> None:
    backoff = Backoff(1.0, 60.0, jitter=0.2, rng=random.Random(3))
    delays = [backoff.next() for _ in range(10)]
    bases = [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert all(0.8 * b <= d <= 1.2 * b for d, b in zip(delays, bases, strict=True)), delays
    assert len({round(d / b, 6) for d, b in zip(delays, bases, strict=True)}) > 1  # jittered, not lockstep
    backoff.reset()
    assert 0.8 <= backoff.next() <= 1.2


def test_missing_microphone_waits_while_the_watchdog_and_a_file_stream_go_on(
        service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    notify, procs = service
    mic = {"name": "pump-1", "kind": "microphone", "bundle": str(DATA / "bundles" / "pump"),
           "device": "no-such-mic", "stall_s": 1.0}
    state = tmp_path / "state"
    config = write_config(tmp_path / "mic.toml", [mic, file_stream("slider", stall_s=1.0)], state)
    proc = start(config, notify, procs, PULSE_SERVER="unix:/nonexistent/pulse")
    ready = notify.wait_for("READY=1", 30)
    notify.wait_for("STATUS=2 streams (pump-1 0 windows 0 events waiting (no audio input device 'no-such-mic'", 10)
    notify.collect(2.5)  # well past both streams' stall_s, the file stream ended
    dogs = [t for t, m in notify.messages if m == "WATCHDOG=1" and t > ready]
    assert len(dogs) >= 4 and max(b - a for a, b in pairwise([ready, *dogs, notify.messages[-1][0]])) < 1.0
    assert proc.poll() is None  # the microphone stream has not ended: the service runs on
    status = {s["name"]: s for s in json.loads((state / "status.json").read_text())["streams"]}
    assert status["pump-1"]["state"] == "waiting" and "'no-such-mic'" in status["pump-1"]["reason"]
    assert status["slider"]["state"] == "ended"
    events = logged(state)
    assert [(e["start_s"], e["end_s"]) for e in events] == [pytest.approx(x) for x in expected_events("slider")]
    assert events and {e["stream"] for e in events} == {"slider"}
    proc.terminate()
    assert proc.wait(20) == 0


def test_file_replays_without_loop_end_the_service(service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    notify, procs = service
    state = tmp_path / "state"
    proc = start(write_config(tmp_path / "bench.toml", [file_stream("slider"), file_stream("toycar")], state),
                 notify, procs)
    assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
    notify.collect(0.2)
    said = [m for _, m in notify.messages]
    assert "READY=1" in said and said.index("READY=1") < said.index("STOPPING=1")
    events = logged(state)
    for machine in ("slider", "toycar"):
        mine = [(e["start_s"], e["end_s"]) for e in events if e["stream"] == machine]
        assert mine == [pytest.approx(x) for x in expected_events(machine)] and mine


def not_a_flatbuffer(tmp_path: Path) -> Path:
    """The slider bundle with its model replaced by bytes that are no FlatBuffer, their sha256 in the manifest."""
    bundle = shutil.copytree(DATA / "bundles" / "slider", tmp_path / "broken")
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = manifest["models"][manifest["default_variant"]]
    variant = next(iter(entry.get("files", {"model": entry}).values()))  # the first model file
    data = b"not a model " * 64
    (bundle / variant["file"]).write_bytes(data)
    variant["sha256"], variant["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


@pytest.mark.parametrize(("case", "needles"), [
    ("ecg bundle on a wav", ["streams[0].path: ", ".wav: not a readable EDF", "streams[0].bundle reads: ecg"]),
    ("missing bundle", ["streams[0].bundle: ", "nowhere: not a bundle"]),
    ("not a flatbuffer", ["streams[0].bundle: ", ".tflite: ", "not a valid Flatbuffer"]),
])
def test_a_stream_that_cannot_work_is_refused_before_ready(case: str, needles: list[str],
                                                           service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    notify, procs = service
    if case == "not a flatbuffer":
        bundle = not_a_flatbuffer(tmp_path)
    else:
        bundle = DATA / "bundles" / "ecg-donut" if case.startswith("ecg") else tmp_path / "nowhere"
    config = write_config(tmp_path / "bad.toml", [file_stream("slider", bundle=str(bundle))], tmp_path / "state")
    proc = start(config, notify, procs)
    _, err = proc.communicate(timeout=60)
    notify.collect(0.2)
    assert proc.returncode == 2 and not notify.messages, notify.messages
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vigil: error: {config}: "), err
    assert all(n in lines[0] for n in needles), lines[0]


def test_score_refuses_a_model_that_is_not_a_flatbuffer_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "edge.cli", "score", "--bundle", str(not_a_flatbuffer(tmp_path)),
                             str(ANOMALY["slider"])], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert re.search(r"broken/[a-z-]+_(int8|float32)\.tflite: ", line) and "not a valid Flatbuffer" in line, line
