"""Home Assistant discovery as Home Assistant would meet it: `vigil run` with `discovery = true`, a
real mosquitto, the retained configs and states read back by a late subscriber and checked against
the fields Home Assistant documents for MQTT binary_sensor and sensor entities; the entities go
unavailable through the broker's last will when the gateway is killed."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import ROOT
from tests.mosquitto import Broker

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]

# https://www.home-assistant.io/integrations/binary_sensor.mqtt/ and /integrations/sensor.mqtt/ (configuration
# variables), /integrations/mqtt/ (discovery: device, origin, availability)
COMMON = {"availability", "availability_mode", "availability_template", "availability_topic", "device",
          "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after", "force_update",
          "icon", "json_attributes_template", "json_attributes_topic", "name", "object_id", "default_entity_id",
          "payload_available", "payload_not_available", "platform", "qos", "state_topic", "unique_id",
          "value_template", "origin", "device_class"}
DOCUMENTED = {"binary_sensor": COMMON | {"off_delay", "payload_off", "payload_on"},
              "sensor": COMMON | {"last_reset_value_template", "options", "suggested_display_precision",
                                  "state_class", "unit_of_measurement"}}
DEVICE = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id",
          "name", "serial_number", "suggested_area", "sw_version", "via_device"}
ORIGIN = {"name", "sw_version", "support_url"}
AVAILABILITY = {"payload_available", "payload_not_available", "topic", "value_template"}
BINARY_SENSOR_CLASSES = {"battery", "problem", "safety", "running", "sound", "vibration", "moving", "power"}


def render(template: str, payload: dict[str, Any]) -> Any:
    """The one template form vigil uses, `{{ value_json.key }}`, as Home Assistant renders it."""
    match = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", template)
    assert match, f"unexpected template {template!r}"
    return payload[match.group(1)]


class Retained:
    """A late subscriber: what it receives at once is what the broker kept (retained)."""

    def __init__(self, port: int) -> None:
        self.messages: dict[str, tuple[str, bool]] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-test")
        self.client.on_connect = lambda c, *_: c.subscribe([("homeassistant/#", 1), ("vigil/#", 1)])
        self.lock = threading.Lock()

        def on_message(_c: Any, _u: Any, m: Any) -> None:
            with self.lock:  # the latest payload; retained: whether the broker had kept one for us
                kept = self.messages.get(m.topic, ("", False))[1]
                self.messages[m.topic] = (m.payload.decode(), kept or bool(m.retain))

        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def wait(self, predicate: Any, timeout: float = 15) -> dict[str, tuple[str, bool]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                snapshot = dict(self.messages)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.05)
        raise AssertionError(f"timed out; have {sorted(self.messages)}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def gateway(tmp_path: Path) -> Iterator[tuple[Broker, subprocess.Popen[bytes]]]:
    broker = Broker().start()
    config = tmp_path / "ha.toml"
    config.write_text(f'[gateway]\nname = "gw-ha"\nstate_dir = "{tmp_path / "state"}"\nstatus_interval_s = 0.5\n'
                      f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nkeepalive_s = 2\ndiscovery = true\n'
                      f'[[streams]]\nname = "pump-1"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
                      f'path = "{WAV}"\nloop = true\n'
                      f'[[streams]]\nname = "wearable-1"\nkind = "file"\nbundle = "{DATA / "bundles" / "ecg-donut"}"\n'
                      f'path = "{DATA / "samples" / "ecg" / "r10_60s.edf"}"\nloop = true\n')
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield broker, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        broker.stop()


@pytest.mark.peer  # mosquitto, in the gateway fixture
def test_discovery_configs_follow_home_assistants_documented_fields(
        gateway: tuple[Broker, subprocess.Popen[bytes]]) -> None:
    broker, proc = gateway
    early = Retained(broker.port)  # the gateway has published (its start takes seconds on a busy machine)
    try:
        early.wait(lambda m: sum(t.endswith("/config") for t in m) >= 10
                   and all(f"vigil/gw-ha/{s}/state" in m for s in ("pump-1", "wearable-1")), timeout=60)
    finally:
        early.close()
    ha = Retained(broker.port)  # Home Assistant subscribes later: only retained messages count
    try:
        configs = ha.wait(lambda m: sum(t.endswith("/config") for t in m) >= 10
                          and all(f"vigil/gw-ha/{s}/state" in m for s in ("pump-1", "wearable-1")))
        entities = {t: json.loads(p) for t, (p, retained) in configs.items() if t.endswith("/config") and retained}
        assert sorted(re.sub(r"^homeassistant/(\w+)/vigil_gw-ha/", r"\1 ", t).removesuffix("/config")
                      for t in entities) == ["binary_sensor pump-1_anomaly", "binary_sensor wearable-1_anomaly",
                                             "sensor pump-1_model", "sensor pump-1_reliability",
                                             "sensor pump-1_score", "sensor pump-1_state",
                                             "sensor wearable-1_fhr", "sensor wearable-1_model",
                                             "sensor wearable-1_score", "sensor wearable-1_state"]
        unique = set()
        for topic, config in entities.items():
            component = topic.split("/")[1]
            assert re.fullmatch(r"homeassistant/(binary_sensor|sensor)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config", topic)
            assert set(config) <= DOCUMENTED[component], set(config) - DOCUMENTED[component]
            assert {"state_topic", "unique_id", "name", "device", "availability"} <= set(config)
            assert set(config["device"]) <= DEVICE and config["device"]["identifiers"] == ["vigil_gw-ha"]
            assert set(config["origin"]) <= ORIGIN
            unique.add(config["unique_id"])
            # the state a late Home Assistant reads is retained, and the template picks a valid value from it
            payload, retained = configs[config["state_topic"]]
            assert retained
            value = render(config["value_template"], json.loads(payload))
            if component == "binary_sensor":
                assert config["device_class"] in BINARY_SENSOR_CLASSES
                assert value in (config["payload_on"], config["payload_off"])
            elif config.get("device_class") == "enum":
                assert value in config["options"] and config["entity_category"] == "diagnostic"
            elif topic.endswith("_model/config"):
                assert re.fullmatch(r"[\w-]+ \w+ [0-9a-f]{12}", value), value
            elif value is not None:
                assert isinstance(value, float)
            # every entity needs the gateway online; the live ones also their stream running (both: mode all)
            gateway_up, *stream_up = config["availability"]
            assert set(gateway_up) <= AVAILABILITY and gateway_up["topic"] == "vigil/gw-ha/status"
            assert len(stream_up) == (0 if "entity_category" in config else 1)
            for avail in config["availability"]:
                assert set(avail) <= AVAILABILITY
                status, status_retained = configs[avail["topic"]]
                assert status_retained
                assert render(avail["value_template"], json.loads(status)) == avail["payload_available"]
            assert config.get("availability_mode", "all") == "all"
        assert len(unique) == len(entities)
        fhr = entities["homeassistant/sensor/vigil_gw-ha/wearable-1_fhr/config"]
        assert fhr["unit_of_measurement"] == "bpm" and fhr["state_class"] == "measurement"

        # the gateway dies without a goodbye: the broker's last will makes every entity unavailable
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        avail = fhr["availability"][0]
        ha.wait(lambda m: render(avail["value_template"], json.loads(m[avail["topic"]][0]))
                == avail["payload_not_available"], timeout=10)
    finally:
        ha.close()


def test_a_stream_that_starts_after_the_broker_answered_is_announced_at_the_next_tick() -> None:
    """The broker can answer before the streams start (and a reload adds streams): their configs must
    still go out, once per connect."""
    from edge.observe.home_assistant import Discovery
    from edge.pipeline.stream_state import StreamState

    states: list[StreamState] = []
    sent: list[tuple[str, bool]] = []
    discovery = Discovery("gw", lambda: states, lambda topic, _payload, retain: sent.append((topic, retain)))
    discovery.on_connect()
    assert sent == []
    states.append(StreamState("pump-1", "file", "audio", "maha", "int8", 1.0))
    discovery.tick(0.0)
    configs = [t for t, retain in sent if t.endswith("/config") and retain]
    assert len(configs) == 5 and all("pump" in t for t in configs)
    sent.clear()
    discovery.tick(1.0)
    assert not any(t.endswith("/config") for t, _ in sent)  # once per connect
    discovery.on_connect()
    assert sum(t.endswith("/config") for t, _ in sent) == 5


def test_a_reloads_discovery_clears_the_streams_it_no_longer_has() -> None:
    """A reload builds a new Discovery from the last one: the removed stream's configs and state get empty
    retained payloads, the kept stream is neither cleared nor held ON for events counted before."""
    from edge.observe.home_assistant import Discovery
    from edge.pipeline.decider import Event
    from edge.pipeline.stream_state import StreamState
    from edge.sinks.events import make_record

    sent: list[tuple[str, str]] = []
    states = [StreamState(n, "file", "ecg", "donut", "int8", 1.0) for n in ("belly-1", "belly-2")]
    old = Discovery("gw", lambda: states, lambda topic, payload, _retain: sent.append((topic, payload)))
    old.tick(0.0)
    states[0].evented(make_record(Event(0.0, 30.0, 1.0, 1.0, 30, "fetal-flatline"), gateway="gw", stream="belly-1",
                                  detector="fetal-flatline", model_sha256="0" * 64, stream_epoch_s=0.0))
    old.tick(1.0)
    assert json.loads(dict(sent)["vigil/gw/belly-1/state"])["kind"] == "fetal-flatline"  # held ON
    gone = [t for t, _ in sent if "belly-2" in t]
    sent.clear()
    del states[1]
    new = Discovery("gw", lambda: states, lambda topic, payload, _retain: sent.append((topic, payload)), previous=old)
    new.tick(1000.0)
    assert sorted(t for t, p in sent if p == "") == sorted(set(gone))
    assert json.loads(dict(sent)["vigil/gw/belly-1/state"])["anomaly"] == "OFF"  # the hold ended, not restarted
