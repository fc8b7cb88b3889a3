"""Home Assistant MQTT discovery: each stream appears as a device's entities without YAML.

Per stream (Home Assistant's documented discovery fields, https://www.home-assistant.io/integrations/mqtt/):
  <prefix>/binary_sensor/vigil_<gateway>/<stream>_anomaly/config   ON while an anomaly event is open
  <prefix>/sensor/vigil_<gateway>/<stream>_score/config            last window score
  <prefix>/sensor/vigil_<gateway>/<stream>_fhr/config              fetal heart rate, bpm (ECG streams)
all reading one retained JSON state topic, vigil/<gateway>/<stream>/state:
  {"anomaly": "ON"|"OFF", "score": float|null, "threshold": float, "fhr_bpm": float|null, "state": "running"}
Availability is the gateway's retained status topic vigil/<gateway>/status ({"state": "online"} while
connected; the broker's last will makes it {"state": "offline"}), so every entity goes unavailable
when the gateway disappears. Configs and states are retained: Home Assistant restarting finds them.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from edge import __version__
from edge.modalities.base import modality_named
from edge.pipeline.stream_state import StreamState

DEFAULT_PREFIX = "homeassistant"


def _id(text: str) -> str:
    """Home Assistant's node_id/object_id alphabet: [a-zA-Z0-9_-]."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text)


def state_topic(gateway: str, stream: str) -> str:
    return f"vigil/{gateway}/{stream}/state"


def discovery_messages(gateway: str, streams: Iterable[tuple[str, str]],
                       prefix: str = DEFAULT_PREFIX) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) per entity for `streams` given as (name, modality)."""
    node = f"vigil_{_id(gateway)}"
    device = {"identifiers": [node], "name": f"vigil {gateway}", "manufacturer": "vigil",
              "model": "edge anomaly gateway", "sw_version": __version__}
    availability = [{"topic": f"vigil/{gateway}/status", "value_template": "{{ value_json.state }}",
                     "payload_available": "online", "payload_not_available": "offline"}]
    out = []
    for name, modality_name in streams:
        common = {"state_topic": state_topic(gateway, name), "availability": availability, "device": device,
                  "origin": {"name": "vigil", "sw_version": __version__}}
        sid = _id(name)
        entities: list[tuple[str, str, dict[str, Any]]] = [
            ("binary_sensor", "anomaly", {"name": f"{name} anomaly", "device_class": "problem",
                                          "value_template": "{{ value_json.anomaly }}",
                                          "payload_on": "ON", "payload_off": "OFF"}),
            ("sensor", "score", {"name": f"{name} score", "state_class": "measurement",
                                 "value_template": "{{ value_json.score }}", "icon": "mdi:chart-bell-curve",
                                 "json_attributes_topic": state_topic(gateway, name)}),
        ]
        if modality_named(modality_name).heart_rate:
            entities.append(("sensor", "fhr", {"name": f"{name} fetal heart rate", "state_class": "measurement",
                                               "unit_of_measurement": "bpm", "icon": "mdi:heart-pulse",
                                               "value_template": "{{ value_json.fhr_bpm }}"}))
        for component, what, fields in entities:
            config = {**fields, **common, "unique_id": f"{node}_{sid}_{what}"}
            out.append((f"{prefix}/{component}/{node}/{sid}_{what}/config", config))
    return out


def state_payload(state: StreamState) -> str:
    score = state.last_score if state.last_score == state.last_score else None  # NaN: no window yet
    fhr = state.fhr.rows[-1][1] if state.fhr.rows else None
    return json.dumps({"anomaly": "ON" if state.anomaly else "OFF", "score": score, "threshold": state.threshold,
                       "fhr_bpm": fhr, "state": state.state})


class Discovery:
    """Publishes each stream's configs at every (re)connect, and for a stream that appears later (the
    broker may answer before the streams start, a reload adds streams) at the next tick; each
    stream's state when it changes or every `every_s` seconds. `publish(topic, payload, retain)` is
    the MQTT sink's. on_connect runs on the MQTT client's thread, tick on the service's."""

    def __init__(self, gateway: str, states: Callable[[], Iterable[StreamState]],
                 publish: Callable[[str, str, bool], None], prefix: str = DEFAULT_PREFIX,
                 every_s: float = 10.0) -> None:
        self.gateway, self.prefix, self.every_s = gateway, prefix, every_s
        self._states, self._publish = states, publish
        self._last: dict[str, tuple[str, float]] = {}  # stream -> (anomaly flag, time sent)
        self._announced: set[str] = set()  # streams whose configs went out since the last connect
        self._lock = threading.Lock()

    def _announce(self, states: Iterable[StreamState]) -> None:
        with self._lock:
            new = [(s.name, s.modality) for s in states if s.name not in self._announced]
            for topic, config in discovery_messages(self.gateway, new, self.prefix):
                self._publish(topic, json.dumps(config), True)
            self._announced.update(name for name, _ in new)

    def on_connect(self) -> None:
        with self._lock:
            self._announced.clear()
            self._last.clear()  # states again, after the configs
        self._announce(self._states())

    def tick(self, now: float) -> None:
        states = list(self._states())
        self._announce(states)
        with self._lock:
            for s in states:
                flag = f"{s.anomaly}:{s.state}"
                last = self._last.get(s.name)
                if last is None or last[0] != flag or now - last[1] >= self.every_s:
                    self._publish(state_topic(self.gateway, s.name), state_payload(s), True)
                    self._last[s.name] = (flag, now)
