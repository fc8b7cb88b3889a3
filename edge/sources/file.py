"""Recorded inputs: WAV, EDF and KPI CSV files as Blocks, and the ``file`` Source that replays them.

A FileRecording yields the blocks of one pass over a file at the rate and channel a bundle needs
(``Needs``): a WAV mixed down or channel-picked and resampled to the model's rate, an EDF channel by
label at its own rate (another rate is refused), a KPI CSV's completed points with their missing
mask. The ``file`` source replays a recording paced at real time (or as fast as possible) and
optionally looped, the stream index continuing across loops: a file replays like a live input.
WAV and EDF are read from the file block by block as they are replayed (edge.io.audio_file,
edge.io.edf): memory does not grow with the recording.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edge.config_table import Table, resolve
from edge.errors import ConfigError, InputFileError, VigilError
from edge.sources.base import Block, Channels, Needs, Source, SourceConfig, register_source


class FileRecording:
    """One pass over a file: ``blocks()`` of ``block`` samples from index 0, read from the file as
    they are needed (memory does not grow with the file); ``frames`` at ``rate`` Hz."""

    rate: float
    block: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def blocks(self) -> Iterator[Block]:
        start = 0
        for samples, missing in self._pieces():
            yield Block(start, samples[:, None], missing)
            start += samples.shape[0]

    def _pieces(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        raise NotImplementedError

    def channels(self) -> Channels:
        """What the blocks' columns are (Source.channels)."""
        return Channels()

    def read_all(self) -> np.ndarray:
        """Every sample (n,) at once: for short recordings (tests, clips), never for streams."""
        return np.concatenate([b.samples[:, 0] for b in self.blocks()])


class WavRecording(FileRecording):
    """Audio (WAV of any kind, FLAC, OGG) mixed down or channel-picked and resampled to ``sr``, float32."""

    def __init__(self, path: str | Path, *, sr: int, channel: int | None = None, block_s: float = 0.25) -> None:
        from edge.io.audio_file import AudioFile

        self.path, self.rate, self.channel, self.sr = Path(path), float(sr), channel, sr
        with AudioFile(self.path, sr_out=sr, channel=channel) as audio:  # opened now to refuse a bad file now
            self.frames = audio.frames_out
        self.block = max(1, round(block_s * sr))

    def _pieces(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        from edge.io.audio_file import AudioFile, rechunk

        with AudioFile(self.path, sr_out=self.sr, channel=self.channel) as audio:
            for samples in rechunk(audio.blocks(), self.block):
                yield samples, None


class EdfRecording(FileRecording):
    """One EDF channel by label at its own rate (another rate than ``fs`` is refused), float64."""

    def __init__(self, path: str | Path, *, label: str, fs: float, block_s: float = 0.1, unit: str = "") -> None:
        from edge.io.edf import EdfFile

        self.path, self.label = Path(path), label
        with EdfFile(self.path) as edf:
            rate, self.frames = edf.fs(label), edf.n_samples(label)
            self.factor = edf.factor(label, unit)  # mV file, uV model: x 1000
        if rate != fs:
            raise InputFileError(f"{path}: channel {label} is sampled at {rate:g} Hz; the bundle expects "
                                 f"{fs:g} Hz (resample the recording first)")
        self.rate = fs
        self.block = max(1, int(fs * block_s))
        self.abdominal = _abdominal_leads(self.path, fs)
        self._reader: Any = None  # the multi-lead reader while blocks() runs (edge.io.multilead)

    def channels(self) -> Channels:
        """The channel, then the file's abdominal leads (µV) if it has them, which ``rewind`` reads again
        from the start."""
        if self.abdominal is None:
            return Channels((self.label,))
        return Channels((self.label, *self.abdominal), self._rewind)

    def _rewind(self) -> Iterator[np.ndarray]:
        """Blocks of every column from the start, on the reader ``blocks()`` holds open (pyedflib opens a file
        once per process), else on one of its own."""
        from edge.io.edf import lost_in
        from edge.io.multilead import open_leads

        rec = self._reader or open_leads(self.path, [self.label, *(self.abdominal or ())])
        try:
            runs, at = rec.lost_runs(), 0
            for x in rec.blocks(round(self.rate)):
                lost = lost_in(runs, at, x.shape[0])
                at += x.shape[0]
                x[:, :1] *= self.factor / rec._scales[0]
                yield x if lost is None else np.where(lost[:, None], np.nan, x)
        finally:
            if rec is not self._reader:
                rec.close()

    def blocks(self) -> Iterator[Block]:
        """The channel's blocks; with abdominal leads in the file, they follow it as further columns (the
        fetal stage), read by one reader (pyedflib opens a file once per process)."""
        if self.abdominal is None:
            yield from super().blocks()
            return
        from edge.io.edf import lost_in
        from edge.io.multilead import open_leads

        rec = self._reader = open_leads(self.path, [self.label, *self.abdominal])
        try:
            runs, start = rec.lost_runs(), 0
            for x in rec.blocks(self.block):
                n = x.shape[0]
                x[:, :1] *= self.factor / rec._scales[0]  # the channel in the bundle's unit, the leads in µV
                yield Block(start, x, lost_in(runs, start, n))
                start += n
        finally:
            self._reader = None
            rec.close()

    def _pieces(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        from edge.io.audio_file import rechunk
        from edge.io.edf import EdfFile, lost_in

        with EdfFile(self.path) as edf:
            lost, offset = edf.lost_runs(self.rate), 0  # samples `vigil record` wrote as 0: missing
            for samples in rechunk(edf.blocks(self.label), self.block):
                yield samples * self.factor, lost_in(lost, offset, samples.shape[0])
                offset += samples.shape[0]


def _abdominal_leads(path: Path, fs: float) -> tuple[str, ...] | None:
    """The labels of the recording's abdominal leads at `fs` (the fetal stage), or None."""
    from edge.io.multilead import open_leads

    try:
        leads = open_leads(path)
    except VigilError:
        return None
    leads.close()
    return leads.labels if leads.fs == fs else None


class CsvRecording(FileRecording):
    """A KPI CSV's completed points and missing mask (held whole: Donut scores whole series)."""

    def __init__(self, path: str | Path, *, block: int = 64) -> None:
        from edge.io.kpi_csv import read_kpi_csv

        self.path = Path(path)
        kpi = read_kpi_csv(self.path)
        self.rate, self.values, self.missing, self.block = 1.0 / kpi.interval_s, kpi.values, kpi.missing, block
        self.frames = int(kpi.values.shape[0])

    def _pieces(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        for start in range(0, self.frames, self.block):
            yield self.values[start : start + self.block], self.missing[start : start + self.block]


def open_file_recording(path: str | Path, needs: Needs, *, channel: int | None = None) -> FileRecording:
    """The recording of ``path`` as a bundle with these needs reads it (its modality chooses the reader)."""
    from edge.modalities.base import modality_named

    return modality_named(needs.modality).open_recording(path, needs, channel=channel)


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

    @classmethod
    def check(cls, config: SourceConfig, needs: Needs, where: str) -> None:
        """The recording is opened as the bundle would read it: a file of another modality (a WAV under an
        ECG bundle) or an unreadable one is refused before the service starts."""
        super().check(config, needs, where)
        if not isinstance(config, FileConfig):
            raise TypeError(f"{cls.__name__} needs a FileConfig, got {type(config).__name__}")
        try:
            open_file_recording(config.path, needs, channel=config.channel)
        except VigilError as exc:
            reason = str(exc).removeprefix(f"{config.path}: ")
            raise ConfigError(f"{where}.path: {config.path}: {reason} (expected a recording {where}.bundle reads: "
                              f"{needs.modality} at {needs.rate:g} Hz)") from None

    def __init__(self, config: FileConfig, needs: Needs) -> None:
        self.config, self.needs = config, needs
        self.finite = not config.loop
        self.recording: FileRecording | None = None

    async def start(self) -> None:
        self.recording = open_file_recording(self.config.path, self.needs, channel=self.config.channel)

    def channels(self) -> Channels:
        return Channels() if self.recording is None else self.recording.channels()

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
                yield replace(block, start=offset + block.start)
            offset += recording.frames
            if not self.config.loop:
                return
