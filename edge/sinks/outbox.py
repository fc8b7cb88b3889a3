"""The MQTT sink's durable outbox: events wait here, on disk, until the broker acknowledges them.

paho keeps QoS 1 messages in memory only, so the outbox, not paho, is the source of truth: a row
is written (one SQLite transaction) before anything is sent and deleted on the broker's PUBACK;
after a reconnect or a restart every row still here is published again.

A disk that refuses a row (full) does not lose it: rows wait in memory, in order (at most MAX_HELD;
beyond it the oldest are dropped and counted), and are written before any newer one when the disk
takes them again (at the next put and on the delivery thread's timer). The log says so once per change.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from edge.errors import ConfigError

log = logging.getLogger(__name__)
_INSERT = "INSERT OR IGNORE INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)"


def _full(folder: Path) -> bool:
    """Whether the file system holding `folder` has (next to) no room left: under 64 KiB for this user."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return folder.is_dir() and stat.f_bavail * stat.f_frsize < 65536


class Outbox:
    """Durable FIFO of (topic, payload) rows in SQLite (WAL, synchronous=FULL: a row survives a crash)."""

    MAX_HELD = 10_000  # rows held in memory while the disk refuses them (~5 MB of payloads)
    BATCH = 100  # rows per transaction when held rows are written: progress even when little room returns

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._held: collections.deque[tuple[str, str, str, float]] = collections.deque()
        self._acked: set[int] = set()  # rows the broker took whose DELETE the disk refused: not sent again
        self._failing: str | None = None  # why the disk refused the last write
        self.dropped = 0  # rows beyond MAX_HELD while the disk refused them
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._connect()
        except (sqlite3.Error, OSError) as exc:
            if not _full(path.parent):  # a folder or another file at its place (left as it is)
                raise ConfigError(f"MQTT outbox {path}: cannot open ({exc}); expected vigil's SQLite outbox in a "
                                  "writable state directory") from None
            self._refused(exc)  # a full disk at start: rows wait in memory, the file opens when room returns

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, "
                           "topic TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL)")
            except sqlite3.Error:
                db.close()
                raise
            self._db = db
        return self._db

    def put(self, key: str, topic: str, payload: str) -> None:
        """Queue a row: written now if the disk takes it (after every row held before it), else held. ``key``
        is unique per record (``EventRecord.key``, in the ``event_id`` column): a row put twice is kept once."""
        with self._lock:
            if len(self._held) >= self.MAX_HELD:
                self._write_held()  # room may have returned since the last try: drop nothing that now fits
            if len(self._held) >= self.MAX_HELD:
                self._held.popleft()
                self.dropped += 1
            self._held.append((key, topic, payload, time.time()))
            self._write_held()

    def retry(self) -> None:
        """Write held rows and delete acked ones if the disk takes them now (the delivery thread's timer)."""
        with self._lock:
            if self._held:
                self._write_held()
            if self._acked:
                self._delete(set())

    def _refused(self, exc: Exception) -> None:
        full = "full" in str(exc) or _full(self.path.parent)  # SQLITE_FULL: "database or disk is full"
        why = f"{exc}; the file system of {self.path.parent} {'is full' if full else 'refused a write'}"
        if self._failing is None:
            log.warning("MQTT outbox %s: cannot write (%s); events held in memory (at most %d) until it can",
                        self.path, why, self.MAX_HELD)
        self._failing = why

    def _write_held(self) -> None:
        checkpointed = False
        while self._held:
            batch = [self._held[i] for i in range(min(self.BATCH, len(self._held)))]
            try:  # one transaction per batch: all of it on disk, or none (rolled back)
                db = self._connect()
                db.execute("BEGIN IMMEDIATE")
                db.executemany(_INSERT, batch)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db is not None and self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back itself
                        self._db.execute("ROLLBACK")
                if self._db is not None and not checkpointed:
                    # the WAL grows by a page per commit until 1000 pages (4 MB) are checkpointed: on a small
                    # disk it is what fills it; moved into the database and truncated, its room returns
                    checkpointed = True
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    continue
                self._refused(exc)
                return
            for _ in batch:
                self._held.popleft()
        self._recovered()

    def _recovered(self) -> None:
        if self._failing is not None:
            log.warning("MQTT outbox %s: writing again (%d events dropped meanwhile)", self.path, self.dropped)
        self._failing = None

    @property
    def held(self) -> int:
        """Rows waiting in memory for room on the disk."""
        return len(self._held)

    def pending(self, limit: int, exclude: set[int]) -> list[tuple[int, str, str]]:
        with self._lock:
            if self._db is None:
                return []
            skip = exclude | self._acked
            rows = self._db.execute("SELECT id, topic, payload FROM outbox ORDER BY id LIMIT ?",
                                    (limit + len(skip),)).fetchall()
        return [r for r in rows if r[0] not in skip][:limit]

    def delete(self, row_ids: list[int]) -> None:
        with self._lock:
            self._delete(set(row_ids))

    def _delete(self, row_ids: set[int]) -> None:
        todo = sorted(self._acked | row_ids)
        try:  # a DELETE writes too (the WAL): on a full disk the rows are remembered as acked, not resent
            self._connect().executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in todo])
        except sqlite3.Error as exc:
            self._acked.update(row_ids)
            self._refused(exc)
            return
        self._acked.clear()
        if not self._held:
            self._recovered()

    def __len__(self) -> int:
        """Rows waiting for the broker: on disk (less those acked) and held in memory."""
        with self._lock:
            on_disk = 0 if self._db is None else int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            return on_disk - len(self._acked) + len(self._held)

    def close(self) -> None:
        with self._lock:
            if self._held:
                self._write_held()
            if self._held:
                log.error("MQTT outbox %s: %d events could not be written (%s)", self.path, len(self._held),
                          self._failing)
            if self._db is not None:
                self._db.close()
