"""Home Assistant MQTT discovery: each stream appears as a device's entities without YAML.

Per stream (Home Assistant's documented discovery fields, https://www.home-assistant.io/integrations/mqtt/):
  <prefix>/binary_sensor/vigil_<gateway>/<stream>_anomaly/config   problem: ON while an event is open
  <prefix>/sensor/vigil_<gateway>/<stream>_score/config            last window score
  <prefix>/sensor/vigil_<gateway>/<stream>_fhr/config              fetal heart rate, bpm (ECG streams)
  <prefix>/sensor/vigil_<gateway>/<stream>_state/config            diagnostic: starting, running, waiting, ...
  <prefix>/sensor/vigil_<gateway>/<stream>_model/config            diagnostic: bundle, variant, sha256 prefix
  <prefix>/sensor/vigil_<gateway>/<stream>_reliability/config      diagnostic: the bundle's estimate (audio)
all reading one retained JSON state topic, vigil/<gateway>/<stream>/state:
  {"anomaly": "ON"|"OFF", "kind": str|null, "event_id": str|null, "score": float|null, "threshold": float,
   "fhr_bpm": float|null, "state": "running", "reason": str|null, "available": "online"|"offline",
   "model": "slider int8 3f2a9c1e0b7d", "reliability": 0.84|null, "reliability_advice": str|null,
   "learning": {"learned_s", "total_s", "windows"}|null}  (learning: no events until the period is learned)

Events of the stream's own detector set "anomaly" while they are open (with the "event_id" of their
opened record); events that a further stage
reports when they close (the fetal stage's ``fetal-flatline``, ``fetal-bradycardia``, ...) set it for
HOLD_S seconds from their arrival. "kind" is the detector that raised the problem (in the binary
sensor's attributes).

Availability, two levels. Every entity needs the gateway's retained status topic vigil/<gateway>/status
({"state": "online"} while connected; the broker's last will makes it {"state": "offline"}). The
anomaly, score and FHR entities also need their stream to be running ("available" in its state):
a waiting, failed or ended stream makes them unavailable rather than "OFF, no problem", while the
diagnostic state sensor (not tied to the stream) says which and why (``reason`` in its attributes).
Configs and states are retained: Home Assistant restarting finds them; it also announces itself on
<prefix>/status ("online"), which makes the configs go out again. A stream removed (by a reload, or from
the config while the gateway was stopped) has its retained configs and state cleared with empty payloads, so
no ghost entity stays: the gateway subscribes to its own retained state topics, and a stream found there that
is not configured is cleared as a removed one.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from edge import __version__
from edge.modalities.base import modalities, modality_named
from edge.pipeline.stream_state import STATES, StreamState

DEFAULT_PREFIX = "homeassistant"
HOLD_S = 60.0  # a problem reported only when it closed stays ON this long: seen on a dashboard, not a blink


def _id(text: str) -> str:
    """Home Assistant's node_id/object_id alphabet: [a-zA-Z0-9_-]."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text)


def state_topic(gateway: str, stream: str) -> str:
    return f"vigil/{gateway}/{stream}/state"


def state_filter(gateway: str) -> str:
    """Every stream's state topic of `gateway` (an MQTT filter): the broker's retained ones tell which streams
    an earlier run announced."""
    return state_topic(gateway, "+")


def discovery_messages(gateway: str, streams: Iterable[tuple[str, str]],
                       prefix: str = DEFAULT_PREFIX) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) per entity for `streams` given as (name, modality)."""
    node = f"vigil_{_id(gateway)}"
    device = {"identifiers": [node], "name": f"vigil {gateway}", "manufacturer": "vigil",
              "model": "edge anomaly gateway", "sw_version": __version__}
    gateway_up = {"topic": f"vigil/{gateway}/status", "value_template": "{{ value_json.state }}",
                  "payload_available": "online", "payload_not_available": "offline"}
    out = []
    for name, modality_name in streams:
        topic = state_topic(gateway, name)
        stream_up = {"topic": topic, "value_template": "{{ value_json.available }}",
                     "payload_available": "online", "payload_not_available": "offline"}
        live = {"availability": [gateway_up, stream_up], "availability_mode": "all"}
        diagnostic = {"availability": [gateway_up], "entity_category": "diagnostic"}
        sid = _id(name)
        entities: list[tuple[str, str, dict[str, Any]]] = [
            ("binary_sensor", "anomaly", {"name": f"{name} anomaly", "device_class": "problem",
                                          "value_template": "{{ value_json.anomaly }}", "json_attributes_topic": topic,
                                          "payload_on": "ON", "payload_off": "OFF", **live}),
            ("sensor", "score", {"name": f"{name} score", "state_class": "measurement",
                                 "value_template": "{{ value_json.score }}", "icon": "mdi:chart-bell-curve",
                                 "json_attributes_topic": topic, **live}),
        ]
        if modality_named(modality_name).heart_rate:
            entities.append(("sensor", "fhr", {"name": f"{name} fetal heart rate", "state_class": "measurement",
                                               "unit_of_measurement": "bpm", "icon": "mdi:heart-pulse",
                                               "value_template": "{{ value_json.fhr_bpm }}", **live}))
        entities += [
            ("sensor", "state", {"name": f"{name} state", "device_class": "enum", "options": list(STATES),
                                 "value_template": "{{ value_json.state }}", "icon": "mdi:list-status",
                                 "json_attributes_topic": topic, **diagnostic}),
            ("sensor", "model", {"name": f"{name} model", "value_template": "{{ value_json.model }}",
                                 "icon": "mdi:package-variant", **diagnostic}),
        ]
        if modality_named(modality_name).machine_type:  # machine-sound bundles carry a reliability estimate
            entities.append(("sensor", "reliability", {
                "name": f"{name} bundle reliability", "state_class": "measurement", "icon": "mdi:shield-check",
                "value_template": "{{ value_json.reliability }}", "json_attributes_topic": topic,
                "json_attributes_template": "{{ {'advice': value_json.reliability_advice} | tojson }}",
                **diagnostic}))
        for component, what, fields in entities:
            config = {**fields, "state_topic": topic, "device": device,
                      "origin": {"name": "vigil", "sw_version": __version__}, "unique_id": f"{node}_{sid}_{what}"}
            out.append((f"{prefix}/{component}/{node}/{sid}_{what}/config", config))
    return out


def state_payload(state: StreamState, held: tuple[str, str] | None = None) -> str:
    """The stream's retained state; `held`: (kind, event_id) of a problem reported at its close, still held ON."""
    score = state.last_score if state.last_score == state.last_score else None  # NaN: no window yet
    fhr = state.fhr.rows[-1][1] if state.fhr.rows else None
    kind = event_id = None
    if state.anomaly:  # the stream's own event, open now (its id from its opened record)
        kind = state.detector
        event_id = state.open_event.event_id if state.open_event is not None else None
    elif held is not None:
        kind, event_id = held
    return json.dumps({"anomaly": "ON" if kind is not None else "OFF", "kind": kind, "event_id": event_id,
                       "score": score, "threshold": state.threshold, "fhr_bpm": fhr, "state": state.state,
                       "reason": state.reason, "available": "online" if state.state == "running" else "offline",
                       "model": state.model or None,
                       "reliability": None if state.reliability is None else state.reliability["estimate"],
                       "reliability_advice": None if state.reliability is None else state.reliability["advice"],
                       "learning": state.learning})


class Discovery:
    """Publishes each stream's configs at every (re)connect and when Home Assistant announces itself
    (`on_birth`), and for a stream that appears later (the broker may answer before the streams start,
    a reload adds streams) at the next tick; clears a stream's configs at the first tick after it is gone;
    each stream's state when it changes or every `every_s` seconds. `publish(topic, payload, retain)` is
    the MQTT sink's. on_connect and on_birth run on the MQTT client's thread, tick on the service's.
    `previous`: the Discovery before a reload, of the same gateway and prefix: what it left retained on the
    broker is cleared if its stream is gone, the events it counted are not new."""

    def __init__(self, gateway: str, states: Callable[[], Iterable[StreamState]],
                 publish: Callable[[str, str, bool], None], prefix: str = DEFAULT_PREFIX,
                 every_s: float = 10.0, previous: Discovery | None = None) -> None:
        self.gateway, self.prefix, self.every_s = gateway, prefix, every_s
        self._states, self._publish = states, publish
        self._last: dict[str, tuple[str, float]] = {}  # stream -> (what the sensors show, time sent)
        self._announced: set[str] = set()  # streams whose configs went out since the last connect or birth
        self.retained: dict[str, list[str]] = {}  # stream -> its config topics on the broker
        self._seen: dict[str, tuple[int, int]] = {}  # stream -> (id of its StreamState, events counted so far)
        self._held: dict[str, tuple[str, str, float]] = {}  # stream -> (kind, event_id, held until, monotonic s)
        self._lock = threading.Lock()
        if previous is not None and (previous.gateway, previous.prefix) == (gateway, prefix):
            with previous._lock:  # a stream kept by a reload keeps its StreamState: its events are not new
                self.retained, self._seen, self._held = dict(previous.retained), dict(previous._seen), \
                    dict(previous._held)

    @property
    def birth_topic(self) -> str:
        """Where Home Assistant announces itself (its birth message, "online")."""
        return f"{self.prefix}/status"

    def _announce(self, states: Iterable[StreamState]) -> None:
        with self._lock:
            new = [(s.name, s.modality) for s in states if s.name not in self._announced]
            for name, modality in new:
                messages = discovery_messages(self.gateway, [(name, modality)], self.prefix)
                for topic, config in messages:
                    self._publish(topic, json.dumps(config), True)
                topics = [topic for topic, _ in messages]
                for topic in self.retained.get(name, []):  # an earlier run's entity this modality has not
                    if topic not in topics:
                        self._publish(topic, "", True)
                self.retained[name] = topics
                self._announced.add(name)

    def on_retained_state(self, topic: str, payload: bytes) -> None:
        """A stream's state on the broker (the retained one from an earlier run, or one just sent): a stream
        not known here gets every config topic it may have had, cleared at the next tick unless configured."""
        name = topic.split("/")[2]
        if not payload:  # a cleared one, ours or an earlier run's
            return
        with self._lock:
            if name not in self.retained:
                self.retained[name] = sorted({t for m in modalities() for t, _ in
                                              discovery_messages(self.gateway, [(name, m)], self.prefix)})

    def _again(self) -> None:
        with self._lock:
            self._announced.clear()
            self._last.clear()  # states again, after the configs
        self._announce(self._states())

    def on_connect(self) -> None:
        self._again()

    def on_birth(self, _topic: str, payload: bytes) -> None:
        """Home Assistant (re)started and forgot what it was told (unless retained): tell it again."""
        if payload.strip() == b"online":
            self._again()

    def _clear_gone(self, names: set[str]) -> None:
        """Empty retained payloads on the configs and state of streams no longer configured."""
        with self._lock:
            for name in [n for n in self.retained if n not in names]:
                for topic in self.retained.pop(name):
                    self._publish(topic, "", True)
                self._publish(state_topic(self.gateway, name), "", True)
                self._announced.discard(name)
                self._last.pop(name, None)

    def _problem(self, s: StreamState, now: float) -> tuple[str, str] | None:
        """The (kind, event_id) held ON for events reported at their close (kinds other than the stream's own)."""
        seen_id, seen = self._seen.get(s.name, (id(s), 0))
        new = s.events - (seen if seen_id == id(s) else 0)  # a reload's new state of that name counts afresh
        self._seen[s.name] = (id(s), s.events)
        for record in list(s.recent_events)[len(s.recent_events) - min(new, len(s.recent_events)):]:
            if record.detector != s.detector:
                self._held[s.name] = (record.detector, record.event_id, now + HOLD_S)
        held = self._held.get(s.name)
        if held is None or now >= held[2]:
            self._held.pop(s.name, None)
            return None
        return held[0], held[1]

    def tick(self, now: float) -> None:
        """`now`: monotonic seconds."""
        states = list(self._states())
        self._clear_gone({s.name for s in states})
        self._announce(states)
        with self._lock:
            for s in states:
                held = self._problem(s, now)
                flag = f"{s.anomaly}:{s.state}:{held}:{s.open_event and s.open_event.event_id}"
                last = self._last.get(s.name)
                if last is None or last[0] != flag or now - last[1] >= self.every_s:
                    self._publish(state_topic(self.gateway, s.name), state_payload(s, held), True)
                    self._last[s.name] = (flag, now)
