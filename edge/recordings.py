"""Recorded inputs: WAV, EDF and KPI CSV files as Blocks, and the ``file`` Source that replays them.

A Recording yields the blocks of one pass over a file at the rate and channel a bundle needs
(``Needs``): a WAV mixed down or channel-picked and resampled to the model's rate, an EDF channel by
label at its own rate (another rate is refused), a KPI CSV's completed points with their missing
mask. The ``file`` source replays a recording paced at real time (or as fast as possible) and
optionally looped, the stream index continuing across loops: a file replays like a live input.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from edge.config_table import Table, resolve
from edge.errors import ConfigError, InputFileError
from edge.sources import Block, Needs, Source, SourceConfig, register_source


def read_wav_samples(path: Path, *, sr: int, channel: int | None) -> np.ndarray:
    """The one place WAV audio is read for streams: float32 mono (n,) at ``sr`` Hz."""
    from edge.wav import load_mono

    return load_mono(path, sr=sr, channel=channel)


class Recording:
    """One pass over a file: ``blocks()`` of ``block`` samples from index 0; ``rate`` in Hz."""

    rate: float
    block: int
    samples: np.ndarray  # (n,) values in the recording's unit
    missing: np.ndarray | None = None

    @property
    def seconds(self) -> float:
        return self.samples.shape[0] / self.rate

    def blocks(self) -> Iterator[Block]:
        for start in range(0, self.samples.shape[0], self.block):
            gaps = None if self.missing is None else self.missing[start : start + self.block]
            yield Block(start, self.samples[start : start + self.block, None], gaps)


class WavRecording(Recording):
    def __init__(self, path: str | Path, *, sr: int, channel: int | None = None, block_s: float = 0.25) -> None:
        self.path, self.rate = Path(path), float(sr)
        self.samples = read_wav_samples(self.path, sr=sr, channel=channel)
        self.block = max(1, round(block_s * sr))


class EdfRecording(Recording):
    def __init__(self, path: str | Path, *, label: str, fs: float, block_s: float = 0.1) -> None:
        from edge.edf import read_edf_channel

        self.path = Path(path)
        channel = read_edf_channel(self.path, label)
        if channel.fs != fs:
            raise InputFileError(f"{path}: channel {label} is sampled at {channel.fs:g} Hz; the bundle expects "
                                 f"{fs:g} Hz (resample the recording first)")
        self.rate, self.samples = fs, channel.samples
        self.block = max(1, int(fs * block_s))


class CsvRecording(Recording):
    def __init__(self, path: str | Path, *, block: int = 64) -> None:
        from edge.kpi import read_kpi_csv

        self.path = Path(path)
        kpi = read_kpi_csv(self.path)
        self.rate, self.samples, self.missing, self.block = 1.0 / kpi.interval_s, kpi.values, kpi.missing, block


def open_recording(path: str | Path, needs: Needs, *, channel: int | None = None) -> Recording:
    """The recording of ``path`` as a bundle with these needs reads it (by modality)."""
    if needs.modality == "audio":
        return WavRecording(path, sr=int(needs.rate), channel=channel)
    if needs.modality == "ecg":
        return EdfRecording(path, label=needs.channel or "", fs=needs.rate)
    return CsvRecording(path)


@dataclass(frozen=True)
class FileConfig(SourceConfig):
    keys: ClassVar[frozenset[str]] = frozenset({"path", "realtime", "loop", "channel"})
    path: Path = Path()
    realtime: bool = True
    loop: bool = False
    channel: int | None = None

    @classmethod
    def parse(cls, table: Table) -> FileConfig:
        path = resolve(table.base, table.get("path", str))
        if not path.is_file():
            raise ConfigError(f"{table.key('path')}: {path} is not a file")
        channel = table.get("channel", int, None)
        if channel is not None and channel < 0:
            raise ConfigError(f"{table.key('channel')}: {channel} (expected a 0-based channel index)")
        return cls(path, table.get("realtime", bool, True), table.get("loop", bool, False), channel)


@register_source
class FileSource(Source):
    """Replays a recording: paced at real time (``realtime``) or as fast as possible, looped or once."""

    kind = "file"
    config_type = FileConfig

    def __init__(self, config: FileConfig, needs: Needs) -> None:
        self.config, self.needs = config, needs
        self.finite = not config.loop
        self.recording: Recording | None = None

    async def start(self) -> None:
        self.recording = open_recording(self.config.path, self.needs, channel=self.config.channel)

    async def blocks(self) -> AsyncIterator[Block]:
        """Each block is released when the wall clock reaches its end (realtime) or at once; the
        sleep also yields to the other streams when not paced."""
        recording = self.recording
        if recording is None:
            raise RuntimeError("FileSource.blocks() before start()")
        offset, t0 = 0, time.monotonic()
        while True:
            for block in recording.blocks():
                end = offset + block.start + block.samples.shape[0]
                delay = t0 + end / recording.rate - time.monotonic() if self.config.realtime else 0.0
                await asyncio.sleep(max(0.0, delay))
                yield Block(offset + block.start, block.samples, block.missing)
            offset += recording.samples.shape[0]
            if not self.config.loop:
                return
