"""The MQTT sink's durable outbox: events wait here, on disk, until the broker acknowledges them.

paho keeps QoS 1 messages in memory only, so the outbox, not paho, is the source of truth: a row
is written (one SQLite transaction) before anything is sent and deleted on the broker's PUBACK;
after a reconnect or a restart every row still here is published again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from edge.errors import ConfigError


class Outbox:
    """Durable FIFO of (topic, payload) rows in SQLite (WAL, synchronous=FULL: a row survives a crash)."""

    def __init__(self, path: Path) -> None:
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
