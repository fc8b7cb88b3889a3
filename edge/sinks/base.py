"""The Sink seam: where events go. One base class (emit, flush, close, health) and a registry of kinds.

Each kind is one class with its own config dataclass, registered under its ``kind``: a
``[[sinks]]`` table names the kind and gives that kind's keys, and the config loader and the
service look kinds up here with no per-kind branches. Kind modules are imported on the first
lookup and import their libraries (paho for MQTT) only when a sink is opened.

A sink that holds a broker connection (MQTT) also offers what health lines, metrics and Home
Assistant discovery read (:class:`BrokerLink`); observers find it by that, not by its kind.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from edge.config_table import Table
from edge.sinks.events import EventRecord

# modules holding Sink kinds (imported on first lookup; none imports a client library at import time)
_MODULES = ("edge.sinks.jsonl", "edge.sinks.mqtt")


@dataclass(frozen=True)
class SinkContext:
    """What a kind's settings may depend on beyond its table: the gateway's name (MQTT topics), the
    state directory (relative paths, outboxes) and whether the table is the kind's legacy table."""

    gateway: str
    state_dir: Path
    legacy: bool = False


@dataclass(frozen=True)
class SinkConfig:
    """A kind's settings, from its ``[[sinks]]`` table (beside ``kind``) or its legacy top-level table.

    ``legacy_table``: the top-level table that configured this kind before ``[[sinks]]`` existed
    (``[events]``, ``[mqtt]``), still read and meaning the same sink. ``always``: the service keeps
    this kind with its defaults when no table configures it (the event log on disk).
    """

    kind: ClassVar[str] = ""
    keys: ClassVar[frozenset[str]] = frozenset()
    legacy_table: ClassVar[str | None] = None
    always: ClassVar[bool] = False

    @classmethod
    def table_keys(cls, legacy: bool) -> frozenset[str]:
        """The keys its table may hold (beside ``kind`` in ``[[sinks]]``); the loader refuses any other."""
        return cls.keys

    @classmethod
    def parse(cls, table: Table, context: SinkContext) -> SinkConfig:
        """The settings from a table whose keys were checked (errors are ConfigErrors naming the key path)."""
        return cls()

    def moved(self, state_dir: Path) -> SinkConfig:
        """The same sink with its files in another state directory (`vigil run --state-dir`)."""
        return self

    @property
    def where(self) -> str:
        """Where this sink puts events, for one line to the user (a file path, a broker)."""
        return self.kind


class Sink(ABC):
    """Receives every event record of every stream, on the service's loop (emit must not block long)."""

    name: str = "sink"
    config_type: ClassVar[type[SinkConfig]] = SinkConfig

    @classmethod
    def create(cls, config: SinkConfig, state_dir: Path) -> Sink:
        """The sink of one configured table (kinds whose constructor takes other arguments override this)."""
        factory: Callable[..., Sink] = cls
        return factory(config, state_dir)

    @abstractmethod
    def emit(self, record: EventRecord) -> None: ...

    def flush(self) -> None:
        """Make what was emitted durable or delivered, as far as the sink can now."""
        return None

    def retry(self) -> None:
        """Write what waits in memory for the disk, if it has room now (the service calls this on its
        timer: a sink that holds events while its disk is full must not wait for the next event)."""
        return None

    def close(self) -> None:
        """Flush and release (the service closes sinks at shutdown and reload)."""
        self.flush()

    def health(self) -> dict[str, object]:
        """State for status lines, pages and metrics. Sinks that count say ``delivered`` (events written or
        acked), ``dropped`` (lost: beyond a memory cap while the disk refused them), ``pending`` (waiting to
        be delivered) and ``held`` (of those, waiting in memory for the disk); a broker sink adds its
        connection and ``outbox`` depth."""
        return {}

    def alive(self) -> bool:
        """Whether the sink can still take and deliver events (False: its delivery thread died; the service
        then stops feeding the systemd watchdog, and a restart brings a fresh one)."""
        return True


@runtime_checkable
class BrokerLink(Protocol):
    """A sink's connection to a message broker, as the observers read and use it."""

    @property
    def state(self) -> str:
        """connecting, connected, unreachable, refused or disconnected."""
        ...

    @property
    def connected(self) -> bool: ...

    @property
    def discovery_prefix(self) -> str | None:
        """The Home Assistant discovery topic prefix, or None when discovery is off."""
        ...

    def backlog(self) -> int:
        """Events waiting for the broker."""
        ...

    def publish(self, topic: str, payload: str, retain: bool) -> None: ...

    def add_connect_hook(self, hook: Callable[[], None]) -> None: ...

    def subscribe(self, topic: str, callback: Callable[[str, bytes], None]) -> None:
        """Messages on `topic` to `callback(topic, payload)`, kept across reconnects."""
        ...


def broker_link(sinks: Iterable[Sink]) -> BrokerLink | None:
    """The first sink with a broker connection, or None."""
    return next((s for s in sinks if isinstance(s, BrokerLink)), None)


_KINDS: dict[str, type[Sink]] = {}
S = TypeVar("S", bound=type[Sink])


def register_sink(cls: S) -> S:
    """Class decorator: the sink serves ``[[sinks]]`` of ``kind = cls.config_type.kind``."""
    _KINDS[cls.config_type.kind] = cls
    return cls


def sink_kinds() -> dict[str, type[Sink]]:
    """Every registered kind, by name (each module holding kinds is imported on the first call)."""
    for module in _MODULES:
        importlib.import_module(module)  # cached after the first time
    return dict(sorted(_KINDS.items()))


def open_sink(config: SinkConfig, state_dir: Path) -> Sink:
    return sink_kinds()[config.kind].create(config, state_dir)
