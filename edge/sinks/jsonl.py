"""The ``jsonl`` sink: one JSON object per line in a rotating log on disk (the event log).

Configured by a ``[[sinks]]`` table with ``kind = "jsonl"`` (keys ``path``, ``max_bytes``,
``backups``) or by the legacy ``[events]`` table (the same keys, the path named ``jsonl``); without
either, the service keeps this log at ``events.jsonl`` in the state directory.
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import sys
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


class _Handler(logging.handlers.RotatingFileHandler):
    """Keeps a write error for JsonlSink instead of printing logging's "--- Logging error ---" traceback."""

    error: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        self.error = exc if isinstance(exc, OSError) else OSError(str(exc))


@register_sink
class JsonlSink(Sink):
    """One JSON object per line; the file rotates at max_bytes keeping `backups` old files (stdlib).

    A line that cannot be written (a full disk) is held in memory (at most MAX_PENDING) and written
    before the next one: the log says so once per outage, `health()` counts them.
    """

    name = "jsonl"
    config_type = JsonlConfig
    MAX_PENDING = 10_000  # events held while the log cannot be written (~5 MB)

    def __init__(self, path: Path, *, max_bytes: int = 10_000_000, backups: int = 5,
                 key: str = "events.jsonl") -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handler = _Handler(path, maxBytes=max_bytes, backupCount=backups)
        except OSError as exc:  # a folder at its place, a file on the way, no permission
            raise ConfigError(f"{key}: {path}: cannot open the event log ({exc.strerror}; expected a "
                              "writable file path)") from None
        self._logger = logging.getLogger(f"vigil.events.{path}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)
        self._pending: collections.deque[str] = collections.deque()
        self._failing = False  # the last write failed: the log said so once, and says when it recovers
        self.dropped = 0  # events beyond MAX_PENDING while the log could not be written

    @classmethod
    def create(cls, config: SinkConfig, state_dir: Path) -> JsonlSink:
        assert isinstance(config, JsonlConfig)
        return cls(config.path, max_bytes=config.max_bytes, backups=config.backups, key=config.key)

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
