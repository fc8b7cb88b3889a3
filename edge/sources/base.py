"""The Source seam: every input (recorded file, microphone, BLE device) delivers Blocks to a stream.

A Block is (first sample index, samples (n, channels), missing mask (n,) or None). Sources number
samples as the device or file does: a sample lost on the way is simply absent, and the Stream
fills the hole with missing samples at the exact place (one place for every source).

Each kind is one class with its own config dataclass, registered under its config ``kind``:
the config loader and the service look kinds up here and have no per-kind branches.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from edge.config_table import Table
from edge.errors import ConfigError

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle

# modules holding Source kinds (imported on first lookup; none imports a device library at import time)
_MODULES = ("edge.sources.file", "edge.sources.microphone", "edge.sources.ble")


@dataclass(frozen=True)
class Block:
    """Samples [start, start + n) of a stream: ``samples`` (n, channels) float32 (float64 for
    recordings read as float64), ``missing`` bool (n,) or None (nothing missing). Column 0 is the
    channel the stream's bundle reads; a source with more channels names them in ``Channels``."""

    start: int
    samples: np.ndarray
    missing: np.ndarray | None = None


@dataclass(frozen=True)
class Channels:
    """What a source's Blocks hold beside their samples, for stages that read more than column 0 (the
    fetal stage reads the abdominal leads): ``labels`` of the sample columns (() = unnamed), and for a
    file, ``rewind``: its blocks (m, channels) again from its start (NaN where lost), so that a stage
    can learn the leads' typical values first, as `vigil beats` does. Leads are in µV beyond column 0."""

    labels: tuple[str, ...] = ()
    rewind: Callable[[], Iterator[np.ndarray]] | None = None


@dataclass(frozen=True)
class Needs:
    """What a stream's bundle needs from its source: modality, rate in Hz, channel label (or None)."""

    modality: str
    rate: float
    channel: str | None = None
    unit: str = ""  # the unit the model's points are in (ECG: uV); "" = as the source gives them


def needs_of(bundle: Bundle) -> Needs:
    return bundle.input_modality.needs(bundle.window_spec)


@dataclass(frozen=True)
class SourceConfig:
    """A kind's settings from its ``[[streams]]`` table (beside name, kind, bundle, variant, stall_s)."""

    keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, table: Table) -> SourceConfig:
        return cls()


class Source(ABC):
    """start, an async iterator of Blocks, stop. ``failure`` says why a source gave up (None if it did not);
    a device source whose device is absent or lost does not give up: it says so in ``waiting()`` and retries."""

    kind: ClassVar[str]
    config_type: ClassVar[type[SourceConfig]] = SourceConfig
    modalities: ClassVar[tuple[str, ...] | None] = None  # the modalities it can feed; None: every one
    failure: str | None = None

    @classmethod
    def check(cls, config: SourceConfig, needs: Needs, where: str) -> None:
        """Refuse (ConfigError naming ``where``) a config this kind cannot serve to such a bundle."""
        if cls.modalities is not None and needs.modality not in cls.modalities:
            raise ConfigError(f"{where}: kind {cls.kind} cannot feed a {needs.modality} bundle "
                              f"(it feeds {', '.join(cls.modalities)})")

    @classmethod
    def create(cls, config: SourceConfig, needs: Needs) -> Source:
        """The source of one configured stream (kinds with other constructors override this)."""
        factory: Callable[..., Source] = cls
        return factory(config, needs)

    async def start(self) -> None:
        """Open the device or file (errors are VigilErrors naming it)."""
        return None

    async def stop(self) -> None:
        """Stop delivering; blocks() ends after what is still held."""
        return None

    @abstractmethod
    def blocks(self) -> AsyncIterator[Block]: ...

    def health(self) -> dict[str, Any]:
        """Counters for status lines and pages (frames, bad frames, reconnects, overflows...)."""
        return {}

    def waiting(self) -> str | None:
        """Why the source waits for its device (absent, lost, not connected yet; it retries with
        ``edge.sources.backoff``), or None while it has it. The stream shows state ``waiting`` with this reason."""
        return None

    def channels(self) -> Channels:
        """What its Blocks' columns are (known once the first block came: a device says it on connecting)."""
        return Channels()


_KINDS: dict[str, type[Source]] = {}
S = TypeVar("S", bound=type[Source])


def register_source(cls: S) -> S:
    """Class decorator: the source serves ``[[streams]]`` of ``kind = cls.kind``."""
    _KINDS[cls.kind] = cls
    return cls


def source_kinds() -> dict[str, type[Source]]:
    """Every registered kind, by name (each module holding kinds is imported on the first call)."""
    for module in _MODULES:
        importlib.import_module(module)  # cached after the first time
    return dict(sorted(_KINDS.items()))


def open_source(kind: str, config: SourceConfig, needs: Needs) -> Source:
    return source_kinds()[kind].create(config, needs)
