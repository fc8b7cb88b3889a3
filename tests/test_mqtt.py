"""MQTT against a real mosquitto: events survive a broker outage and a killed process, none lost."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.pipeline.decider import Event
from edge.sinks.events import make_record
from edge.sinks.jsonl import JsonlSink
from edge.sinks.mqtt import MqttSettings, MqttSink
from edge.sinks.outbox import Outbox
from tests.conftest import ROOT
from tests.mosquitto import Broker


class Subscriber:
    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-subscriber", clean_session=False)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe("vigil/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_disconnect = lambda *_: self.subscribed.clear()
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, json.loads(m.payload), bool(m.retain)))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def events(self) -> set[str]:
        return {m["event_id"] for t, m, _ in self.messages if t.endswith("/events")}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def record(i: int) -> Any:
    return make_record(Event(i, i + 1.0, 3.0, 1.0, 2), gateway="gw1", stream="mic", detector="dense-ae",
                       model_sha256="0" * 64, stream_epoch_s=1.7e9)


def wait_for(condition: Callable[[], bool], timeout: float, step: Callable[[], None] = lambda: None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step()
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_broker_outage_loses_nothing(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port)
    sink = MqttSink(MqttSettings(host="127.0.0.1", port=broker.port, gateway="gw1", keepalive_s=2), tmp_path)
    assert wait_for(lambda: sink.connected, 5)
    sent = [record(i) for i in range(200)]
    for r in sent[:100]:
        sink.emit(r)
    assert wait_for(lambda: len(sink.outbox) == 0, 10)  # delivered by the sink's own thread
    broker.stop()  # the broker goes away while events keep coming
    for r in sent[100:]:
        sink.emit(r)
    time.sleep(3)
    assert len(sink.outbox) >= 100  # held on disk, not in paho's memory
    broker.start()
    assert wait_for(sub.subscribed.is_set, 10)
    assert wait_for(lambda: len(sink.outbox) == 0, 30)
    assert wait_for(lambda: sub.events() == {r.event_id for r in sent}, 15)
    topics = {t for t, _, _ in sub.messages}
    assert "vigil/gw1/mic/events" in topics
    sink.close()
    assert wait_for(lambda: any(t == "vigil/gw1/status" and m["state"] == "offline" for t, m, _ in sub.messages), 5)
    sub.close()


KILLED = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from edge.sinks.mqtt import MqttSettings, MqttSink
from tests.test_mqtt import record
sink = MqttSink(MqttSettings(host="127.0.0.1", port={port}, gateway="gw1", keepalive_s=1), Path({state!r}))
for i in range(1000, 1050):
    sink.emit(record(i))
print("queued", flush=True)
time.sleep(60)
"""


def test_killed_process_delivers_its_outbox_after_restart(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port)
    broker.stop()  # nothing can be delivered before the kill
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(root=str(ROOT), port=broker.port,
                                                                 state=str(tmp_path))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "queued"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    broker.start()
    assert wait_for(sub.subscribed.is_set, 10)  # a broker without persistence only delivers to live subscribers
    outbox = Outbox(tmp_path / "outbox.sqlite")
    assert len(outbox) == 50  # what the killed process queued is on disk
    outbox.close()
    sink = MqttSink(MqttSettings(host="127.0.0.1", port=broker.port, gateway="gw1"), tmp_path)
    assert wait_for(lambda: len(sink.outbox) == 0, 20)  # delivered by the sink's own thread
    assert wait_for(lambda: len(sub.events()) == 50, 15)
    assert {m["start_s"] for t, m, _ in sub.messages if t.endswith("/events")} == {float(i) for i in range(1000, 1050)}
    sink.close()
    sub.close()


def test_last_will_marks_a_vanished_gateway_offline(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port)
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(root=str(ROOT), port=broker.port,
                                                                 state=str(tmp_path))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "queued"
    assert wait_for(lambda: any(m.get("state") == "online" for _, m, _ in sub.messages), 5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    # the broker publishes the will after 1.5 x keepalive (1 s) without traffic
    assert wait_for(lambda: any(t == "vigil/gw1/status" and m["state"] == "offline" for t, m, _ in sub.messages), 10)
    sub.close()


def test_a_clean_close_logs_info_and_a_lost_broker_a_warning(broker: Broker, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.sinks.mqtt")
    sink = MqttSink(MqttSettings(host="127.0.0.1", port=broker.port, gateway="gw1"), tmp_path)
    assert wait_for(lambda: sink.connected, 5)
    sink.close()
    (closed,) = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert closed.levelno == logging.INFO and "closed the connection" in closed.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    sink = MqttSink(MqttSettings(host="127.0.0.1", port=broker.port, gateway="gw1"), tmp_path / "again")
    assert wait_for(lambda: sink.connected, 5)
    broker.stop()  # not asked for: still a warning, saying where the events wait
    assert wait_for(lambda: not sink.connected, 5)
    lost = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert lost and lost[0].levelno == logging.WARNING and "events wait in the outbox" in lost[0].getMessage()
    sink.close()


def test_jsonl_sink_rotates(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "events.jsonl", max_bytes=2000, backups=3)
    records = [record(i) for i in range(40)]
    for r in records:
        sink.emit(r)
    sink.close()
    files = sorted(tmp_path.glob("events.jsonl*"))
    assert [f.name for f in files] == ["events.jsonl", "events.jsonl.1", "events.jsonl.2", "events.jsonl.3"]
    kept = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert {k["event_id"] for k in kept} <= {r.event_id for r in records} and len(kept) >= 20
    assert all(f.stat().st_size <= 2000 for f in files)
