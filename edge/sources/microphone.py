"""The microphone source (sounddevice/PortAudio): blocks of int16 audio scaled as WAV files are.

The callback runs on PortAudio's thread: it scales the block into float32 and hands it to the event
loop (``call_soon_threadsafe``); a loop more than ``max_queued`` blocks behind drops blocks, which
the stream then marks missing. An input overflow (samples the gateway could not take in time) is
counted, and the samples lost - measured with PortAudio's ADC timestamps - are skipped in the
sample index, so the stream marks them missing and later samples keep their true place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edge.config_table import Table
from edge.errors import ConfigError
from edge.sources.base import Block, Needs, Source, SourceConfig, register_source
from edge.sources.hardware import no_audio_input

log = logging.getLogger(__name__)


def find_input(device: str | int | None) -> int | None:
    """A PortAudio input device index by index or by (part of) its name; None: the default input."""
    import sounddevice as sd

    if device is None:
        return None
    inputs = [(i, d["name"]) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
    if isinstance(device, int):
        if device not in {i for i, _ in inputs}:
            raise no_audio_input(device)
        return device
    matches = [i for i, name in inputs if device.lower() in name.lower()]
    if not matches:
        raise no_audio_input(device)
    return matches[0]


@dataclass(frozen=True)
class MicrophoneConfig(SourceConfig):
    keys: ClassVar[frozenset[str]] = frozenset({"device", "channel", "blocksize"})
    device: str | int | None = None  # name (part of it) or index; None: the default input
    channel: int = 0
    blocksize: int = 1024

    @classmethod
    def parse(cls, table: Table) -> MicrophoneConfig:
        channel = table.get("channel", int, 0)
        if channel < 0:
            raise ConfigError(f"{table.key('channel')}: {channel} (expected a 0-based channel index)")
        return cls(table.get("device", (str, int), None), channel, table.positive("blocksize", 1024, int))


@register_source
class MicrophoneSource(Source):
    """An input device at the bundle's sample rate, one channel, blocks (n, 1) float32."""

    kind = "microphone"
    config_type = MicrophoneConfig
    modalities = ("audio",)

    def __init__(self, config: MicrophoneConfig, needs: Needs) -> None:
        self.config, self.sr = config, int(needs.rate)
        self.overflows = 0
        self.lost_samples = 0
        self.dropped_blocks = 0
        self.max_queued = 64  # blocks (about 4 s at 1024 samples, 16 kHz)
        self._next = 0  # sample index of the next block
        self._expected_adc: float | None = None
        self._queue: asyncio.Queue[Block | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pa: Any = None

    async def start(self) -> None:
        try:
            import sounddevice as sd
        except OSError as exc:  # no PortAudio library
            raise no_audio_input(self.config.device, f"PortAudio not found ({exc})") from None
        self._loop = asyncio.get_running_loop()
        try:
            # int16: what sound cards deliver natively, scaled as WAV files are (x / 32768)
            self._pa = sd.InputStream(device=find_input(self.config.device), channels=self.config.channel + 1,
                                      samplerate=self.sr, dtype="int16", blocksize=self.config.blocksize,
                                      callback=self._callback)
            self._pa.start()
        except sd.PortAudioError as exc:
            raise no_audio_input(self.config.device, str(exc)) from None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        adc = float(time_info.inputBufferAdcTime)
        if status.input_overflow:
            self.overflows += 1
            if self._expected_adc is not None and adc > 0:
                lost = round((adc - self._expected_adc) * self.sr)
                if lost > 0:  # the samples PortAudio dropped: skipped, so they become missing at their place
                    self._next += lost
                    self.lost_samples += lost
        ch = self.config.channel
        samples = indata[:, ch : ch + 1] * np.float32(1 / 32768)
        block = Block(self._next, samples.astype(np.float32, copy=False))
        self._next += frames
        self._expected_adc = adc + frames / self.sr if adc > 0 else None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._offer, block)

    def _offer(self, block: Block) -> None:
        """On the loop: queue the block, or drop it when the loop is this far behind (memory stays
        bounded; the dropped samples become missing at their place, as overflows do)."""
        if self._queue.qsize() >= self.max_queued:
            self.dropped_blocks += 1
            return
        self._queue.put_nowait(block)

    async def blocks(self) -> AsyncIterator[Block]:
        while (block := await self._queue.get()) is not None:
            yield block

    async def stop(self) -> None:
        if self._pa is not None:
            self._pa.stop()
            self._pa.close()
            self._pa = None
        self._queue.put_nowait(None)

    def health(self) -> dict[str, Any]:
        return {"overflows": self.overflows, "lost_samples": self.lost_samples, "dropped_blocks": self.dropped_blocks}
