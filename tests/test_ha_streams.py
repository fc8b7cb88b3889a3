"""Home Assistant over a stream's life, against a real mosquitto: a waiting or failed stream makes its live
entities unavailable and says why; an event of any kind (the fetal stage's too) sets the problem sensor with
its kind; Home Assistant's birth message brings the configs again; a reload that removes a stream clears
its retained configs and does not take the gateway offline."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.bundle.loader import load_bundle
from edge.observe.home_assistant import HOLD_S
from edge.pipeline.decider import Event
from edge.pipeline.stream_state import StreamState
from edge.sinks.events import make_record
from tests.conftest import ROOT
from tests.mosquitto import Broker

pytestmark = pytest.mark.peer  # mosquitto in every test

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]
Seen = dict[str, str]
AUDIO_ENTITIES = 5  # anomaly, score, state, model, reliability


class Watcher:
    """Home Assistant's side: every message on the discovery prefix and vigil's topics, in order."""

    def __init__(self, port: int) -> None:
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe([("homeassistant/#", 1), ("vigil/#", 1)])

        def on_message(_c: Any, _u: Any, m: Any) -> None:
            with self.lock:
                self.log.append((m.topic, m.payload.decode()))

        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def latest(self) -> Seen:
        with self.lock:
            return dict(self.log)

    def wait(self, predicate: Callable[[Seen], bool], timeout: float = 15) -> Seen:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(seen := self.latest()):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"timed out; have {json.dumps(self.latest(), indent=1)[:3000]}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def config_topics(seen: Seen, stream: str) -> list[str]:
    return sorted(t for t, p in seen.items() if re.search(rf"/vigil_gw/{stream}_\w+/config$", t) and p)


def available(seen: Seen, config: dict[str, Any]) -> bool:
    """Whether Home Assistant shows the entity available: every availability topic says so (mode all)."""
    def says(a: dict[str, Any]) -> Any:
        key = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", a["value_template"])
        assert key, a
        return json.loads(seen[a["topic"]])[key.group(1)]
    return all(says(a) == a["payload_available"] for a in config["availability"])


def state(seen: Seen, stream: str) -> dict[str, Any]:
    payload = seen.get(f"vigil/gw/{stream}/state")
    return json.loads(payload) if payload else {}


@pytest.fixture()
def watcher(broker: Broker) -> Iterator[Watcher]:
    w = Watcher(broker.port)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture()
def observed(tmp_path: Path, broker: Broker) -> Iterator[tuple[list[StreamState], Any]]:
    """The service's observers and its real MQTT sink, in this process: (the streams' states, the Discovery)."""
    from edge.observe.observers import Observers
    from edge.service.config import parse_config
    from edge.sinks.base import broker_link, open_sink

    config = parse_config({"gateway": {"name": "gw", "state_dir": str(tmp_path)},
                           "mqtt": {"host": "127.0.0.1", "port": broker.port, "discovery": True}}, tmp_path)
    sinks = [open_sink(c, tmp_path) for c in config.sinks]
    states: list[StreamState] = []
    observers = Observers(config, lambda: states, lambda: broker_link(sinks))
    observers.attach_broker(broker_link(sinks))
    link = broker_link(sinks)
    deadline = time.monotonic() + 5
    while link is not None and not link.connected and time.monotonic() < deadline:  # what Observers.tick waits for
        time.sleep(0.02)
    try:
        yield states, observers.discovery
    finally:
        for sink in sinks:
            sink.close()


def gateway(tmp_path: Path, broker: Broker, streams: str) -> tuple[Path, subprocess.Popen[bytes]]:
    config = tmp_path / "gw.toml"
    head = (f'[gateway]\nname = "gw"\nstate_dir = "{tmp_path / "state"}"\nstatus_interval_s = 0.5\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndiscovery = true\n')
    config.write_text(head + streams)
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PULSE_SERVER": "unix:/nonexistent/pulse"})
    return config, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def file_stream(name: str) -> str:
    return (f'[[streams]]\nname = "{name}"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
            f'path = "{WAV}"\nloop = true\n')


def test_a_waiting_stream_is_unavailable_and_says_why(tmp_path: Path, broker: Broker, watcher: Watcher) -> None:
    _, proc = gateway(tmp_path, broker, file_stream("pump-1") + f'[[streams]]\nname = "mic-1"\nkind = "microphone"\n'
                      f'bundle = "{DATA / "bundles" / "pump"}"\ndevice = "no-such-mic"\n')
    try:
        seen = watcher.wait(lambda s: state(s, "mic-1").get("state") == "waiting"
                            and state(s, "pump-1").get("state") == "running"
                            and len(config_topics(s, "mic-1")) == AUDIO_ENTITIES)
        assert "no-such-mic" in state(seen, "mic-1")["reason"]
        configs = {t: json.loads(seen[t]) for t in config_topics(seen, "mic-1") + config_topics(seen, "pump-1")}
        shown = {re.sub(r".*/vigil_gw/(\S+)/config", r"\1", t): available(seen, c) for t, c in configs.items()}
        # the waiting stream's problem sensor is unavailable, not "OFF": its state sensor says why
        assert shown == {"mic-1_anomaly": False, "mic-1_score": False, "mic-1_state": True, "mic-1_model": True,
                         "mic-1_reliability": True, "pump-1_anomaly": True, "pump-1_score": True,
                         "pump-1_state": True, "pump-1_model": True, "pump-1_reliability": True}
        bundle = load_bundle(DATA / "bundles" / "pump")  # the model sensor: the sha256 that its events name
        assert state(seen, "mic-1")["model"] == f"{bundle.name} {bundle.default_variant} {bundle.variant().sha256[:12]}"
    finally:
        stop(proc)


def test_a_failed_stream_is_unavailable_with_its_reason(observed: tuple[list[StreamState], Any],
                                                        watcher: Watcher) -> None:
    states, discovery = observed
    pump = StreamState("pump-1", "microphone", "audio", "maha", "int8", 1.0, model="pump int8 0123456789ab")
    pump.set("running")
    states.append(pump)
    discovery.tick(time.monotonic())
    config_topic = "homeassistant/binary_sensor/vigil_gw/pump-1_anomaly/config"
    seen = watcher.wait(lambda s: config_topic in s and state(s, "pump-1").get("state") == "running")
    anomaly = json.loads(seen[config_topic])
    assert available(seen, anomaly) and state(seen, "pump-1")["anomaly"] == "OFF"
    pump.set("failed", "device sent 3 channels (expected 1)")
    discovery.tick(time.monotonic())
    seen = watcher.wait(lambda s: state(s, "pump-1").get("state") == "failed")
    assert not available(seen, anomaly)  # not "available and OFF (no problem)"
    assert state(seen, "pump-1")["reason"] == "device sent 3 channels (expected 1)"


def test_a_fetal_kind_event_sets_the_problem_sensor_with_its_kind(observed: tuple[list[StreamState], Any],
                                                                  watcher: Watcher) -> None:
    states, discovery = observed
    belly = StreamState("belly", "ble-ecg", "ecg", "donut", "int8", 1.0)
    belly.set("running")
    states.append(belly)
    now = time.monotonic()
    discovery.tick(now)
    watcher.wait(lambda s: state(s, "belly").get("anomaly") == "OFF")
    record = make_record(Event(10.0, 70.0, 95.0, 110.0, 60, "fetal-bradycardia"), gateway="gw", stream="belly",
                         detector="fetal-bradycardia", model_sha256="0" * 64, stream_epoch_s=0.0)
    belly.evented(record)  # the service's _emit: a stage's event arrives when it closes
    discovery.tick(now + 1)
    seen = watcher.wait(lambda s: state(s, "belly").get("anomaly") == "ON")
    assert state(seen, "belly")["kind"] == "fetal-bradycardia" and state(seen, "belly")["event_id"] == record.event_id
    problem = json.loads(seen["homeassistant/binary_sensor/vigil_gw/belly_anomaly/config"])
    assert problem["json_attributes_topic"] == "vigil/gw/belly/state" and available(seen, problem)
    discovery.tick(now + 2 + HOLD_S)  # held for HOLD_S, then no problem again
    seen = watcher.wait(lambda s: state(s, "belly").get("anomaly") == "OFF")
    assert state(seen, "belly")["kind"] is None


def test_home_assistants_birth_message_brings_the_configs_again(observed: tuple[list[StreamState], Any],
                                                                watcher: Watcher) -> None:
    states, discovery = observed
    states.append(StreamState("pump-1", "file", "audio", "maha", "int8", 1.0))
    discovery.tick(time.monotonic())
    watcher.wait(lambda s: len(config_topics(s, "pump-1")) == AUDIO_ENTITIES)

    def configs_received() -> int:
        with watcher.lock:
            return sum(t.endswith("/config") for t, _ in watcher.log)

    time.sleep(0.3)
    before = configs_received()
    assert before == AUDIO_ENTITIES
    watcher.client.publish("homeassistant/status", "offline")  # Home Assistant going away asks for nothing
    watcher.client.publish("homeassistant/status", "online")  # ... coming back does
    watcher.wait(lambda _: configs_received() >= 8)
    time.sleep(0.3)
    assert configs_received() == 2 * AUDIO_ENTITIES


def test_a_reload_clears_a_removed_streams_configs_without_going_offline(tmp_path: Path, broker: Broker,
                                                                         watcher: Watcher) -> None:
    config, proc = gateway(tmp_path, broker, file_stream("pump-1") + file_stream("pump-2"))
    try:
        watcher.wait(lambda s: len(config_topics(s, "pump-2")) == AUDIO_ENTITIES
                     and state(s, "pump-2").get("state") == "running")
        removed = [*config_topics(watcher.latest(), "pump-2"), "vigil/gw/pump-2/state"]
        config.write_text(config.read_text().replace(file_stream("pump-2"), ""))
        proc.send_signal(signal.SIGHUP)
        watcher.wait(lambda s: all(s[t] == "" for t in removed))  # empty retained payloads
        time.sleep(1.5)  # the kept stream publishes on after the reload
        assert proc.poll() is None
        with watcher.lock:
            statuses = [json.loads(p)["state"] for t, p in watcher.log if t == "vigil/gw/status"]
        assert statuses == ["online"]  # not offline/online around the reload
        late = Watcher(broker.port)  # what a restarted Home Assistant finds retained
        try:
            kept = late.wait(lambda s: len(config_topics(s, "pump-1")) == AUDIO_ENTITIES)
            assert not any("pump-2" in t for t in kept)
        finally:
            late.close()
    finally:
        stop(proc)


def test_a_stream_removed_while_stopped_is_cleared_at_the_next_start(tmp_path: Path, broker: Broker,
                                                                     watcher: Watcher) -> None:
    """The retained configs outlive the gateway: a stream taken out of the config between two runs must not
    stay in Home Assistant as a ghost entity. The next run finds the stream's retained state and clears it."""
    config, proc = gateway(tmp_path, broker, file_stream("pump-1") + file_stream("pump-2"))
    try:
        watcher.wait(lambda s: len(config_topics(s, "pump-2")) == AUDIO_ENTITIES
                     and state(s, "pump-2").get("state") == "running")
        removed = [*config_topics(watcher.latest(), "pump-2"), "vigil/gw/pump-2/state"]
    finally:
        stop(proc)
    config.write_text(config.read_text().replace(file_stream("pump-2"), ""))
    _, proc = gateway(tmp_path, broker, file_stream("pump-1"))
    try:
        watcher.wait(lambda s: all(s[t] == "" for t in removed))  # empty retained payloads
        late = Watcher(broker.port)  # what a restarted Home Assistant finds retained
        try:
            kept = late.wait(lambda s: len(config_topics(s, "pump-1")) == AUDIO_ENTITIES and
                             state(s, "pump-1").get("state") == "running")
            assert not any("pump-2" in t for t, p in kept.items() if p), kept
        finally:
            late.close()
    finally:
        stop(proc)
