"""Issue 10 item 2: an event still open when the service stops (SIGTERM, SIGINT) or reloads (SIGHUP)
is closed with its true end and reaches every sink (the JSON-lines log and MQTT)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.mosquitto import Broker
from tests.test_mqtt import Subscriber, wait_for
from tests.test_service import DATA, NotifySocket, service, start, write_config

__all__ = ["service"]  # the fixture, used by name

# the slider anomaly clip is over the threshold from its first window to its last: one event, open
# until the clip's end (5 s of stream time at real time)
CLIP = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]
STREAM = {"name": "slider", "kind": "file", "bundle": str(DATA / "bundles" / "slider"), "path": str(CLIP),
          "stall_s": 5.0}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_open_event_is_closed_with_its_true_end_into_every_sink(sig: signal.Signals,
                                                                service: tuple[NotifySocket, list],
                                                                tmp_path: Path) -> None:
    notify, procs = service
    broker = Broker().start()
    try:
        sub = Subscriber(broker.port)
        assert wait_for(sub.subscribed.is_set, 10)
        config = write_config(tmp_path / "vigil.toml", [STREAM], tmp_path / "state", mqtt_port=broker.port)
        proc = start(config, notify, procs)
        ready = notify.wait_for("READY=1", 30)
        notify.collect(2.5)  # well inside the clip: the event is open
        sent = time.monotonic()
        proc.send_signal(sig)
        if sig == signal.SIGHUP:  # the reloaded stream starts over; the old one's event is closed first
            notify.wait_for("STATUS=reloaded", 20)
            notify.collect(0.5)
            proc.send_signal(signal.SIGTERM)
        notify.collect(1.0)  # systemd reads its socket: a full one would block the service
        assert proc.wait(20) == 0
        log = [json.loads(line) for line in (tmp_path / "state" / "events.jsonl").read_text().splitlines()]
        first = log[0]
        assert first["stream"] == "slider" and first["start_s"] == 0.0
        # its true end: the end of the last window over the threshold, before the signal (stream time)
        assert 1.5 < first["end_s"] <= sent - ready + 0.5
        assert wait_for(lambda: {e["event_id"] for e in log} <= sub.events(), 10)  # every event reached MQTT
        sub.close()
    finally:
        broker.stop()
