"""The ``mqtt`` sink: events published to a broker through a durable SQLite outbox (edge.sinks.outbox).

Configured by a ``[[sinks]]`` table with ``kind = "mqtt"`` or by the legacy ``[mqtt]`` table (the
same keys): host, port, username, password, tls_ca, tls_cert, tls_key, keepalive_s, discovery,
discovery_prefix. paho is imported when the sink opens, not when this module is.

Delivery is at least once and survives broker outages and a killed process: an event is written to
the outbox before anything is sent, published with QoS 1, and deleted only when the broker's PUBACK
arrives; after a reconnect or a restart, every row still in it is published again (a consumer may
see a record twice; it de-duplicates by event_id and phase, and an update by its end too).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edge.config_table import Table
from edge.errors import ConfigError
from edge.sinks.base import Sink, SinkConfig, SinkContext, register_sink
from edge.sinks.events import EventRecord
from edge.sinks.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttSettings(SinkConfig):
    """The broker (host, port, credentials, TLS PEM files), the gateway's name in topics, keepalive in s,
    the outbox file in the state directory, QoS 1 messages in flight, Home Assistant discovery."""

    kind: ClassVar[str] = "mqtt"
    keys: ClassVar[frozenset[str]] = frozenset({"host", "port", "username", "password", "tls_ca", "tls_cert",
                                                "tls_key", "keepalive_s", "discovery", "discovery_prefix"})
    legacy_table: ClassVar[str | None] = "mqtt"

    host: str = "localhost"
    port: int = 1883
    gateway: str = "gateway"
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    keepalive_s: int = 30
    outbox: str = "outbox.sqlite"
    max_inflight: int = 100
    discovery: bool = False  # Home Assistant MQTT discovery (edge.observe.home_assistant)
    discovery_prefix: str = "homeassistant"

    @classmethod
    def parse(cls, table: Table, context: SinkContext) -> MqttSettings:
        files = {}
        for key in ("tls_ca", "tls_cert", "tls_key"):
            path = table.path(key, None)
            if path is not None and not path.is_file():
                raise ConfigError(f"{table.key(key)}: {path} is not a file (expected a PEM file)")
            files[key] = None if path is None else str(path)
        port = table.get("port", int, 1883)
        if not 0 < port < 65536:
            raise ConfigError(f"{table.key('port')}: {port} (expected 1..65535)")
        if (files["tls_cert"] is None) != (files["tls_key"] is None):
            raise ConfigError(f"{table.where}: tls_cert and tls_key go together (expected both or neither)")
        return cls(host=table.get("host", str), port=port, gateway=context.gateway,
                   username=table.get("username", str, None), password=table.get("password", str, None),
                   keepalive_s=table.positive("keepalive_s", 30, int), tls_ca=files["tls_ca"],
                   tls_cert=files["tls_cert"], tls_key=files["tls_key"],
                   discovery=table.get("discovery", bool, False),
                   discovery_prefix=table.topic_level("discovery_prefix", "homeassistant"))

    @property
    def where(self) -> str:
        return f"MQTT {self.host}:{self.port}"


def client_id(gateway: str, state_dir: Path) -> str:
    """The MQTT client id of one gateway: its name and a digest of its state directory's absolute path.

    Stable across restarts and processes (the broker sees one client coming back, not a new one), distinct
    for two gateways of one name on two state directories (which would otherwise kick each other off).
    """
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
    return f"vigil-{gateway}-{digest}"


@register_sink
class MqttSink(Sink):
    """Publishes events from the outbox to vigil/<gateway>/<stream>/events with QoS 1.

    A retained vigil/<gateway>/status says "online" while connected; the broker publishes the
    retained last will "offline" when the gateway disappears. paho runs its network loop (and its
    reconnects, backing off from 1 s to 10 s) in its own thread; a delivery thread of this sink
    publishes pending rows and deletes acked ones, woken by each emit and at least every 0.2 s.
    Connection state changes are logged once each.
    """

    name = "mqtt"
    config_type = MqttSettings

    def __init__(self, settings: MqttSettings, state_dir: Path) -> None:
        import paho.mqtt.client as mqtt

        self.settings = settings
        self.outbox = Outbox(state_dir / settings.outbox)
        self.status_topic = f"vigil/{settings.gateway}/status"
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho message id -> outbox row id
        self._connected = threading.Event()
        self._generation = 0  # bumps on every (re)connect: in-flight ids of an old connection are void
        self._pumped_generation = 0
        self._state = "connecting"
        self.delivered = 0
        self.on_connected: list[Callable[[], None]] = []  # called on paho's thread after every (re)connect
        self._subscriptions: list[str] = []  # topics subscribed again at every (re)connect (clean session)
        self._hooks_lock = threading.Lock()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id(settings.gateway, state_dir),
                             clean_session=True)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca is not None:
            client.tls_set(ca_certs=settings.tls_ca, certfile=settings.tls_cert, keyfile=settings.tls_key)
        client.will_set(self.status_topic, json.dumps({"state": "offline"}), qos=1, retain=True)
        client.max_inflight_messages_set(settings.max_inflight)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._wake = threading.Event()
        self._pump_lock = threading.Lock()
        self._closing = threading.Event()
        self._disconnecting = threading.Event()  # set by close() just before it disconnects
        client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        client.loop_start()
        self._thread = threading.Thread(target=self._deliver, name="vigil-mqtt", daemon=True)
        self._thread.start()

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _set_state(self, state: str, reason: object = None, level: int = logging.WARNING) -> None:
        if state != self._state:
            self._state = state
            log.log(level, "MQTT %s %s%s", self.where, state, f": {reason}" if reason is not None else "")

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._set_state("refused", reason)
            return
        self._generation += 1
        client.publish(self.status_topic, json.dumps({"state": "online", "time": time.time()}), qos=1, retain=True)
        with self._hooks_lock:  # a hook added meanwhile sees either the loop or the connected flag
            for topic in self._subscriptions:
                client.subscribe(topic, qos=1)
            for hook in self.on_connected:
                hook()
            self._connected.set()
        self._set_state("connected", level=logging.INFO)
        self._wake.set()

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        exc = sys.exception()  # paho calls this inside its `except OSError`: the reason is the handled one
        self._set_state("unreachable", f"{exc or 'connection failed'}; events wait in the outbox")

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._connected.clear()
        if self._disconnecting.is_set():  # close() asked for it: a clean stop is not worth a warning
            self._set_state("disconnected", f"{reason} (the gateway closed the connection)", level=logging.INFO)
        else:
            self._set_state("disconnected", f"{reason}; events wait in the outbox")

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        self._acks.put(mid)
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def state(self) -> str:
        """connecting, connected, unreachable, refused or disconnected."""
        return self._state

    def add_connect_hook(self, hook: Callable[[], None]) -> None:
        """Call `hook()` after every (re)connect, and now if already connected: the client starts
        connecting in __init__, so a hook added later may have missed the first connect (a double call
        is harmless for what hooks publish: retained configs)."""
        with self._hooks_lock:
            self.on_connected.append(hook)
            if self._connected.is_set():
                hook()

    def subscribe(self, topic: str, callback: Callable[[str, bytes], None]) -> None:
        """Call `callback(topic, payload)` on paho's thread for each message on `topic`, from now on and
        after every reconnect (the session is clean: the broker forgets subscriptions)."""
        self._client.message_callback_add(topic, lambda _c, _u, m: callback(m.topic, bytes(m.payload)))
        with self._hooks_lock:
            self._subscriptions.append(topic)
            if self._connected.is_set():
                self._client.subscribe(topic, qos=1)

    @property
    def discovery_prefix(self) -> str | None:
        """Home Assistant discovery's topic prefix, None when discovery is off."""
        return self.settings.discovery_prefix if self.settings.discovery else None

    def backlog(self) -> int:
        """Events waiting in the outbox for the broker (a COUNT(*))."""
        return len(self.outbox)

    def publish(self, topic: str, payload: str, retain: bool) -> None:
        """Best effort, QoS 0 (Home Assistant configs and states): nothing is kept while disconnected."""
        self._client.publish(topic, payload, qos=0, retain=retain)

    def emit(self, record: EventRecord) -> None:
        self.outbox.put(record.key, f"vigil/{record.gateway}/{record.stream}/events", record.to_json())
        self._wake.set()

    def health(self) -> dict[str, object]:
        """The broker and its state; events acked by the broker, dropped while the disk refused the outbox
        (beyond its memory cap), waiting for the broker (``outbox``, ``pending``: on disk and in memory),
        held in memory for the disk."""
        backlog = len(self.outbox)
        return {"broker": self.where, "state": self._state, "outbox": backlog, "delivered": self.delivered,
                "dropped": self.outbox.dropped, "pending": backlog, "held": self.outbox.held}

    def _deliver(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            try:
                self.outbox.retry()  # rows held while the disk was full, written when it has room
                self.pump()
            except sqlite3.Error as exc:  # the outbox closed under us at shutdown, or the disk is full
                if not self._closing.is_set():
                    log.error("MQTT outbox: %s", exc)

    def pump(self) -> None:
        """Delete acked rows; publish pending rows while connected (at most max_inflight at a time).
        Runs on the delivery thread (and in close)."""
        with self._pump_lock:
            self._pump()

    def _pump(self) -> None:
        acked = []
        while not self._acks.empty():
            row = self._inflight.pop(self._acks.get(), None)
            if row is not None:
                acked.append(row)
        if acked:
            self.outbox.delete(acked)
            self.delivered += len(acked)
        if not self.connected or self._generation != self._pumped_generation:
            self._inflight.clear()  # what was in flight on a lost connection is republished from the outbox
            self._pumped_generation = self._generation
        if not self.connected:
            return
        room = self.settings.max_inflight - len(self._inflight)
        for row_id, topic, payload in self.outbox.pending(room, set(self._inflight.values())) if room > 0 else []:
            info = self._client.publish(topic, payload, qos=1)
            if info.rc != 0:
                break
            self._inflight[info.mid] = row_id

    def alive(self) -> bool:
        return self._thread.is_alive() or self._closing.is_set()

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until the outbox is empty, the broker is gone, or timeout_s passed."""
        deadline = time.monotonic() + timeout_s
        while self.connected and len(self.outbox) and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush what the broker will take within timeout_s, mark the gateway offline, disconnect."""
        self.flush(timeout_s)
        self._closing.set()
        self._wake.set()
        self._thread.join()
        self.pump()  # the acks that arrived last
        if self.connected:
            offline = json.dumps({"state": "offline"})
            self._client.publish(self.status_topic, offline, qos=1, retain=True).wait_for_publish(1)
        self._disconnecting.set()
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()
