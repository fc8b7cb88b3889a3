"""Where events go: one Sink protocol (emit, flush, close, health); a rotating JSON-lines log, and
MQTT through a durable SQLite outbox. A new destination (a page, a webhook) is one Sink class.

MQTT delivery is at least once and survives broker outages and a killed process: an event is
written to the outbox (one SQLite transaction) before anything is sent, published with QoS 1, and
deleted only when the broker's PUBACK arrives. paho keeps QoS 1 messages in memory only, so the
outbox, not paho, is the source of truth: after a reconnect or a restart, every row still in it is
published again (a consumer may see an event twice; it de-duplicates by event_id).
"""

from __future__ import annotations

import collections
import json
import logging
import logging.handlers
import queue
import sqlite3
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.sinks.events import EventRecord

log = logging.getLogger(__name__)


class Sink(ABC):
    """Receives every event record of every stream, on the service's loop (emit must not block long)."""

    name: str = "sink"

    @abstractmethod
    def emit(self, record: EventRecord) -> None: ...

    def flush(self) -> None:
        """Make what was emitted durable or delivered, as far as the sink can now."""
        return None

    def close(self) -> None:
        """Flush and release (the service closes sinks at shutdown and reload)."""
        self.flush()

    def health(self) -> dict[str, object]:
        """State for status lines and pages (outbox depth, connection...)."""
        return {}


class _Handler(logging.handlers.RotatingFileHandler):
    """Keeps a write error for JsonlSink instead of printing logging's "--- Logging error ---" traceback."""

    error: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        self.error = exc if isinstance(exc, OSError) else OSError(str(exc))


class JsonlSink(Sink):
    """One JSON object per line; the file rotates at max_bytes keeping `backups` old files (stdlib).

    A line that cannot be written (a full disk) is held in memory (at most MAX_PENDING) and written
    before the next one: the log says so once per outage, `health()` counts them.
    """

    name = "jsonl"
    MAX_PENDING = 10_000  # events held while the log cannot be written (~5 MB)

    def __init__(self, path: Path, *, max_bytes: int = 10_000_000, backups: int = 5) -> None:
        from edge.errors import ConfigError

        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handler = _Handler(path, maxBytes=max_bytes, backupCount=backups)
        except OSError as exc:  # a folder at its place, a file on the way, no permission
            raise ConfigError(f"events.jsonl: {path}: cannot open the event log ({exc.strerror}; expected a "
                              "writable file path)") from None
        self._logger = logging.getLogger(f"vigil.events.{path}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)
        self._pending: collections.deque[str] = collections.deque()
        self._failing = False  # the last write failed: the log said so once, and says when it recovers
        self.dropped = 0  # events beyond MAX_PENDING while the log could not be written

    def emit(self, record: EventRecord) -> None:
        if len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(record.to_json())
        self.flush()

    def flush(self) -> None:
        while self._pending:
            self._handler.error = None
            self._logger.info(self._pending[0])
            if self._handler.error is None:
                self._handler.flush()
            if self._handler.error is not None:
                if not self._failing:
                    log.warning("event log %s: cannot write (%s); events held in memory until it can",
                                self.path, self._handler.error)
                self._failing = True
                return
            self._pending.popleft()
        if self._failing:
            log.warning("event log %s: writing again", self.path)
        self._failing = False

    def close(self) -> None:
        self.flush()
        if self._pending:
            log.error("event log %s: %d events could not be written (%s)", self.path, len(self._pending),
                      self._handler.error)
        self._logger.removeHandler(self._handler)
        try:
            self._handler.close()
        except OSError as exc:
            log.error("event log %s: closing: %s", self.path, exc)

    def health(self) -> dict[str, object]:
        return {"jsonl_pending": len(self._pending), "jsonl_dropped": self.dropped} if self._failing else {}


class Outbox:
    """Durable FIFO of (topic, payload) rows in SQLite (WAL, synchronous=FULL: a row survives a crash)."""

    def __init__(self, path: Path) -> None:
        from edge.errors import ConfigError

        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, "
                                 "topic TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL)")
        except (sqlite3.Error, OSError) as exc:  # a folder or another file at its place (left as it is)
            raise ConfigError(f"MQTT outbox {path}: cannot open ({exc}); expected vigil's SQLite outbox in a "
                              "writable state directory") from None

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
    discovery: bool = False  # Home Assistant MQTT discovery (edge.observe.home_assistant)
    discovery_prefix: str = "homeassistant"


class MqttSink(Sink):
    """Publishes events from the outbox to vigil/<gateway>/<stream>/events with QoS 1.

    A retained vigil/<gateway>/status says "online" while connected; the broker publishes the
    retained last will "offline" when the gateway disappears. paho runs its network loop (and its
    reconnects, backing off from 1 s to 10 s) in its own thread; a delivery thread of this sink
    publishes pending rows and deletes acked ones, woken by each emit and at least every 0.2 s.
    Connection state changes are logged once each.
    """

    name = "mqtt"

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
        self.on_connected: list[Any] = []  # called on paho's thread after every (re)connect
        self._hooks_lock = threading.Lock()
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
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._wake = threading.Event()
        self._pump_lock = threading.Lock()
        self._closing = threading.Event()
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

    def add_connect_hook(self, hook: Any) -> None:
        """Call `hook()` after every (re)connect, and now if already connected: the client starts
        connecting in __init__, so a hook added later may have missed the first connect (a double call
        is harmless for what hooks publish: retained configs)."""
        with self._hooks_lock:
            self.on_connected.append(hook)
            if self._connected.is_set():
                hook()

    def publish(self, topic: str, payload: str, retain: bool) -> None:
        """Best effort, QoS 0 (Home Assistant configs and states): nothing is kept while disconnected."""
        self._client.publish(topic, payload, qos=0, retain=retain)

    def emit(self, record: EventRecord) -> None:
        self.outbox.put(record.event_id, f"vigil/{record.gateway}/{record.stream}/events", record.to_json())
        self._wake.set()

    def health(self) -> dict[str, object]:
        return {"broker": self.where, "state": self._state, "outbox": len(self.outbox), "delivered": self.delivered}

    def _deliver(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            try:
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
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()
