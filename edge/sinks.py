"""Where events go: a rotating JSON-lines log, and MQTT through a durable SQLite outbox.

MQTT delivery is at least once and survives broker outages and a killed process: an event is
written to the outbox (one SQLite transaction) before anything is sent, published with QoS 1, and
deleted only when the broker's PUBACK arrives. paho keeps QoS 1 messages in memory only, so the
outbox, not paho, is the source of truth: after a reconnect or a restart, every row still in it is
published again (a consumer may see an event twice; it de-duplicates by event_id).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.events import EventRecord

log = logging.getLogger(__name__)


class JsonlSink:
    """One JSON object per line; the file rotates at max_bytes keeping `backups` old files (stdlib)."""

    def __init__(self, path: Path, *, max_bytes: int = 10_000_000, backups: int = 5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._logger = logging.getLogger(f"vigil.events.{path}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)

    def emit(self, record: EventRecord) -> None:
        self._logger.info(record.to_json())
        self._handler.flush()

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._handler.close()


class Outbox:
    """Durable FIFO of (topic, payload) rows in SQLite (WAL, synchronous=FULL: a row survives a crash)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, "
                             "topic TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL)")

    def put(self, event_id: str, topic: str, payload: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                             (event_id, topic, payload, time.time()))

    def pending(self, limit: int, exclude: set[int]) -> list[tuple[int, str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload FROM outbox ORDER BY id LIMIT ?",
                                    (limit + len(exclude),)).fetchall()
        return [r for r in rows if r[0] not in exclude][:limit]

    def delete(self, row_ids: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in row_ids])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass(frozen=True)
class MqttSettings:
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
    discovery: bool = False  # Home Assistant MQTT discovery (edge.ha_discovery)
    discovery_prefix: str = "homeassistant"


class MqttSink:
    """Publishes events from the outbox to vigil/<gateway>/<stream>/events with QoS 1.

    A retained vigil/<gateway>/status says "online" while connected; the broker publishes the
    retained last will "offline" when the gateway disappears. paho runs its network loop in its own
    thread; `pump()` (called from the service's loop) publishes pending rows and deletes acked ones.
    """

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
        self.delivered = 0
        self.state = "connecting"  # connected | unreachable: why | refused: why | disconnected: why
        self.on_connected: list[Any] = []  # called on paho's thread after every (re)connect
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"vigil-{settings.gateway}",
                             clean_session=True)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca is not None:
            client.tls_set(ca_certs=settings.tls_ca, certfile=settings.tls_cert, keyfile=settings.tls_key)
        client.will_set(self.status_topic, json.dumps({"state": "offline"}), qos=1, retain=True)
        client.max_inflight_messages_set(settings.max_inflight)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        client.loop_start()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:  # said once per change by edge.health, not at every retry
            self.state = f"refused: {reason}"
            return
        self._generation += 1
        client.publish(self.status_topic, json.dumps({"state": "online", "time": time.time()}), qos=1, retain=True)
        for hook in self.on_connected:
            hook()
        self._connected.set()
        self.state = "connected"

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        exc = sys.exception()  # paho calls this inside its `except OSError`: the reason is the handled one
        self.state = f"unreachable: {exc or 'connection failed'}"

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._connected.clear()
        if self.state == "connected":
            self.state = f"disconnected: {reason}; events wait in the outbox"

    def publish(self, topic: str, payload: str, retain: bool) -> None:
        """Best effort, QoS 0 (Home Assistant states and configs): nothing kept while disconnected."""
        self._client.publish(topic, payload, qos=0, retain=retain)

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        self._acks.put(mid)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def emit(self, record: EventRecord) -> None:
        self.outbox.put(record.event_id, f"vigil/{record.gateway}/{record.stream}/events", record.to_json())

    def pump(self) -> None:
        """Delete acked rows; publish pending rows while connected (at most max_inflight at a time)."""
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

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush what the broker will take within timeout_s, mark the gateway offline, disconnect."""
        deadline = time.monotonic() + timeout_s
        while self.connected and len(self.outbox) and time.monotonic() < deadline:
            self.pump()
            time.sleep(0.02)
        if self.connected:
            offline = json.dumps({"state": "offline"})
            self._client.publish(self.status_topic, offline, qos=1, retain=True).wait_for_publish(1)
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()
