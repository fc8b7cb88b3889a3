"""The ``jsonl`` sink: one JSON object per line in a rotating log on disk (the event log).

Configured by a ``[[sinks]]`` table with ``kind = "jsonl"`` (keys ``path``, ``max_bytes``,
``backups``) or by the legacy ``[events]`` table (the same keys, the path named ``jsonl``); without
either, the service keeps this log at ``events.jsonl`` in the state directory.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from edge.config_table import Table, resolve
from edge.errors import ConfigError
from edge.sinks.base import Sink, SinkConfig, SinkContext, register_sink
from edge.sinks.events import EventRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JsonlConfig(SinkConfig):
    """The log file (resolved against the state directory), its size in bytes before it rotates, and how
    many rotated files are kept. ``key``: the config key that named the path, for errors at open."""

    kind: ClassVar[str] = "jsonl"
    keys: ClassVar[frozenset[str]] = frozenset({"path", "max_bytes", "backups"})
    legacy_table: ClassVar[str | None] = "events"
    always: ClassVar[bool] = True

    path: Path = Path("events.jsonl")
    max_bytes: int = 10_000_000
    backups: int = 5
    key: str = field(default="events.jsonl", compare=False)

    @classmethod
    def table_keys(cls, legacy: bool) -> frozenset[str]:
        return cls.keys - {"path"} | {"jsonl"} if legacy else cls.keys  # [events] named the path after the format

    @classmethod
    def parse(cls, table: Table, context: SinkContext) -> JsonlConfig:
        name = "jsonl" if context.legacy else "path"
        path = resolve(context.state_dir, table.get(name, str, "events.jsonl"))
        blocked = next((p for p in (path, *path.parents) if p.exists()), None)  # refused here, not after a reload
        if blocked is not None and blocked.is_dir() == (blocked == path):
            raise ConfigError(f"{table.key(name)}: {path}: {blocked} is a {'folder' if blocked == path else 'file'} "
                              "(expected a file path for the event log in a folder)")
        max_bytes = table.positive("max_bytes", 10_000_000, int)
        backups = table.get("backups", int, 5)
        if backups < 0:
            raise ConfigError(f"{table.key('backups')}: {backups} (expected 0 or more old files to keep)")
        return cls(path, max_bytes, backups, table.key(name))

    def moved(self, state_dir: Path) -> JsonlConfig:
        return replace(self, path=state_dir / self.path.name)

    @property
    def where(self) -> str:
        return str(self.path)


def repair_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a crash mid-write) off the log, so the next line starts a line.

    The cut bytes are appended to ``<log>.torn`` (one line per repair) when the disk takes them, else
    dropped; either way a warning names the file and the byte count. Returns the bytes cut (0: none).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        cut, end = 0, size
        while end > 0:  # the last newline, read backwards in blocks (the log may be megabytes)
            start = max(0, end - 65536)
            f.seek(start)
            at = f.read(end - start).rfind(b"\n")
            if at >= 0:
                cut = start + at + 1
                break
            end = start
        f.seek(cut)
        torn = f.read()
        aside = path.with_name(path.name + ".torn")
        try:
            with aside.open("ab") as out:
                out.write(torn + b"\n")
            where = f"moved to {aside}"
        except OSError as exc:
            where = f"dropped ({aside}: {exc.strerror})"
        f.truncate(cut)
    log.warning("event log %s: its last line was torn (%d bytes without a newline, from a crash); %s",
                path, len(torn), where)
    return len(torn)


def _refusal(exc: OSError, path: Path) -> str:
    """Why a write failed, naming the directory whose file system refused it."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{exc.strerror}: the file system of {path.parent} is full"
    return f"{exc.strerror or exc} in {path.parent}"


@register_sink
class JsonlSink(Sink):
    """One JSON object per line; the file rotates before it would reach max_bytes, keeping `backups` old
    files (``events.jsonl.1`` the newest; no rotation with 0 backups).

    A line is written whole or not at all: one ``write`` of the complete line, and a short or failed
    write is truncated back to the end of the last whole line. A line the disk refuses (full) is held in
    memory, in order, with every later one (at most MAX_PENDING; beyond it the oldest are dropped and
    counted) and written before anything newer when the disk takes it again: at the next emit, flush or
    retry (the service retries on its timer). The log says so once per change (refused, writing again).
    """

    name = "jsonl"
    config_type = JsonlConfig
    MAX_PENDING = 10_000  # events held while the log cannot be written (~5 MB of lines)

    def __init__(self, path: Path, *, max_bytes: int = 10_000_000, backups: int = 5,
                 key: str = "events.jsonl") -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            repair_torn_tail(path)
            self._fd = self._open()
        except OSError as exc:  # a folder at its place, a file on the way, no permission
            raise ConfigError(f"{key}: {path}: cannot open the event log ({exc.strerror}; expected a "
                              "writable file path)") from None
        self._size = os.fstat(self._fd).st_size  # the end of the last whole line
        self._pending: collections.deque[bytes] = collections.deque()
        self._failing: str | None = None  # why the last write failed: said once, and again when it recovers
        self.delivered = 0  # lines written
        self.dropped = 0  # events beyond MAX_PENDING while the log could not be written

    @classmethod
    def create(cls, config: SinkConfig, state_dir: Path) -> JsonlSink:
        assert isinstance(config, JsonlConfig)
        return cls(config.path, max_bytes=config.max_bytes, backups=config.backups, key=config.key)

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def emit(self, record: EventRecord) -> None:
        if len(self._pending) >= self.MAX_PENDING:
            self._write()  # room may have returned since the last try: drop nothing that now fits
        if len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append((record.to_json() + "\n").encode())
        self._write()

    def flush(self) -> None:
        self._write()

    def retry(self) -> None:
        if self._pending:
            self._write()

    def _rotate(self) -> None:
        """events.jsonl -> .1 -> .2 ... (the oldest beyond `backups` replaced), then a new empty log."""
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        fd = self._open()
        os.close(self._fd)
        self._fd, self._size = fd, 0

    def _write_line(self, line: bytes) -> None:
        if self.backups > 0 and self._size and self._size + len(line) >= self.max_bytes:
            self._rotate()
        try:
            written = os.write(self._fd, line)  # the whole line in one call
            if written != len(line):  # the disk took a part: no room (a full disk or a size limit)
                raise OSError(errno.ENOSPC, f"no room for a whole line ({written} of {len(line)} bytes taken)")
        except OSError:
            os.ftruncate(self._fd, self._size)  # a short write leaves no part of a line behind
            raise
        self._size += written

    def _write(self) -> None:
        while self._pending:
            try:
                self._write_line(self._pending[0])
            except OSError as exc:
                why = _refusal(exc, self.path)
                if self._failing is None:
                    log.warning("event log %s: cannot write (%s); events held in memory (at most %d) until it "
                                "can", self.path, why, self.MAX_PENDING)
                self._failing = why
                return
            self._pending.popleft()
            self.delivered += 1
        if self._failing is not None:
            log.warning("event log %s: writing again (%d events dropped meanwhile)", self.path, self.dropped)
        self._failing = None

    def close(self) -> None:
        self.flush()
        if self._pending:
            log.error("event log %s: %d events could not be written (%s)", self.path, len(self._pending),
                      self._failing)
        try:
            os.close(self._fd)
        except OSError as exc:
            log.error("event log %s: closing: %s", self.path, exc)

    def health(self) -> dict[str, object]:
        """Lines written, events dropped beyond MAX_PENDING, events held in memory for the disk."""
        return {"delivered": self.delivered, "dropped": self.dropped, "pending": len(self._pending),
                "held": len(self._pending)}
