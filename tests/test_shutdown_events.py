"""An event still open when the service stops (SIGTERM, SIGINT) or reloads (SIGHUP)
is closed with its true end and reaches every sink (the JSON-lines log and MQTT)."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.mosquitto import Broker
from tests.test_mqtt import Subscriber, wait_for
from tests.test_service import DATA, NotifySocket, service, start, write_config

__all__ = ["service"]  # the fixture, used by name
pytestmark = pytest.mark.peer  # mosquitto

# the slider anomaly clip is over the threshold from its first window; with a decider that never
# closes an event by itself (off_windows huge), the only way its event is written is at the stop
CLIP = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]


def never_closing_bundle(tmp: Path) -> Path:
    bundle = tmp / "slider"
    shutil.copytree(DATA / "bundles" / "slider", bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["decider"] = {"on_windows": 3, "off_windows": 1_000_000}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_open_event_is_closed_with_its_true_end_into_every_sink(sig: signal.Signals,
                                                                service: tuple[NotifySocket, list],
                                                                tmp_path: Path) -> None:
    notify, procs = service
    broker = Broker().start()
    try:
        sub = Subscriber(broker.port)
        assert wait_for(sub.subscribed.is_set, 10)
        stream = {"name": "slider", "kind": "file", "bundle": str(never_closing_bundle(tmp_path)),
                  "path": str(CLIP), "stall_s": 5.0}
        config = write_config(tmp_path / "vigil.toml", [stream], tmp_path / "state", mqtt_port=broker.port)
        proc = start(config, notify, procs)
        ready = notify.wait_for("READY=1", 30)
        notify.collect(2.5)  # well inside the clip: the event is open
        sent = time.monotonic()
        proc.send_signal(sig)
        if sig == signal.SIGHUP:  # the reloaded stream starts over; the old one's event is closed first
            notify.wait_for("STATUS=reloaded", 20)
            notify.collect(2.5)  # the reloaded stream opens its own event (3 windows over the threshold)
            proc.send_signal(signal.SIGTERM)
        notify.collect(1.0)  # systemd reads its socket: a full one would block the service
        assert proc.wait(20) == 0
        records = [json.loads(line) for line in (tmp_path / "state" / "events.jsonl").read_text().splitlines()]
        log = [r for r in records if r["phase"] == "closed"]
        # the open event, closed at the stop, or before the reload (then the reloaded stream's own at the stop)
        assert len(log) == (2 if sig == signal.SIGHUP else 1), log
        assert {r["event_id"] for r in records} == {r["event_id"] for r in log}  # each opened one was closed
        first = log[0]
        assert first["stream"] == "slider" and first["start_s"] == 0.0
        # its true end: the end of the last window over the threshold, before the signal (stream time)
        assert 1.5 < first["end_s"] <= sent - ready + 0.5
        assert wait_for(lambda: {e["event_id"] for e in log} <= sub.events(), 10)  # every event reached MQTT
        sub.close()
    finally:
        broker.stop()
