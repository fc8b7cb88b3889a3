"""The microphone source (sounddevice/PortAudio): blocks of int16 audio scaled as WAV files are.

The callback runs on PortAudio's thread: it scales the block into float32 and hands it to the event
loop (``call_soon_threadsafe``); a loop more than ``max_queued`` blocks behind drops blocks, which
the stream then marks missing. An input overflow (samples the gateway could not take in time) is
counted, and the samples lost - measured with PortAudio's ADC timestamps - are skipped in the
sample index, so the stream marks them missing and later samples keep their true place.

An input that is absent (not listed by PortAudio, no PortAudio library) or lost (PortAudio ends the
stream: a USB microphone unplugged) is waited for: the source says why in ``waiting()`` and tries
again with the sources' backoff (``edge.sources.backoff``), asking PortAudio for its devices afresh
(it lists them once, at initialisation) when no other input of the process is open. After a reopen
the sample index goes on where it stopped: the time without a device is not replayed as missing
samples, which would only be scored for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edge.config_table import Table
from edge.errors import ConfigError, VigilError
from edge.sources.backoff import Backoff
from edge.sources.base import Block, Needs, Source, SourceConfig, register_source
from edge.sources.hardware import no_audio_input, portaudio_words

log = logging.getLogger(__name__)
_OPEN: set[MicrophoneSource] = set()  # inputs open in this process: PortAudio is re-initialised only without any


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

    def __init__(self, config: MicrophoneConfig, needs: Needs, backoff_s: tuple[float, float] = (1.0, 60.0)) -> None:
        self.config, self.sr, self.backoff_s = config, int(needs.rate), backoff_s
        self.overflows = 0
        self.lost_samples = 0
        self.dropped_blocks = 0
        self.max_queued = 64  # blocks (about 4 s at 1024 samples, 16 kHz)
        self._next = 0  # sample index of the next block
        self._expected_adc: float | None = None
        self._queue: asyncio.Queue[Block | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pa: Any = None
        self.problem: str | None = None  # why the input is not open now
        self.reopens = 0
        self._lost = asyncio.Event()  # PortAudio ended the stream without stop()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._crash: Exception | None = None

    async def start(self) -> None:
        """Open the input in the background: an absent device is waited for, not an error."""
        self._loop = asyncio.get_running_loop()
        self.problem = f"opening audio input {self.config.device or '(default)'}"
        self._task = asyncio.create_task(self._keep_open(), name=f"microphone {self.config.device}")

    def waiting(self) -> str | None:
        return self.problem

    def _open(self, fresh: bool) -> None:
        """Open and start the input (fresh: ask PortAudio for its devices again); VigilError naming the device."""
        try:
            import sounddevice as sd
        except OSError as exc:  # no PortAudio library
            raise no_audio_input(self.config.device, f"PortAudio not found ({exc})") from None
        if fresh and not _OPEN:  # a device plugged in since PortAudio listed them (it lists once, at init)
            sd._terminate()
            sd._initialize()
        try:
            # int16: what sound cards deliver natively, scaled as WAV files are (x / 32768)
            self._pa = sd.InputStream(device=find_input(self.config.device), channels=self.config.channel + 1,
                                      samplerate=self.sr, dtype="int16", blocksize=self.config.blocksize,
                                      callback=self._callback, finished_callback=self._finished)
            self._pa.start()
        except sd.PortAudioError as exc:
            self._close()
            detail = portaudio_words(str(exc), channels=self.config.channel + 1, rate=self.sr)
            raise no_audio_input(self.config.device, detail) from None
        _OPEN.add(self)

    def _close(self) -> None:
        _OPEN.discard(self)
        pa, self._pa = self._pa, None
        if pa is not None:
            with contextlib.suppress(Exception):  # a device already gone cannot be stopped cleanly
                pa.stop()
                pa.close()

    def _finished(self) -> None:
        """PortAudio's thread: the stream became inactive (the device went away, or our own close, which
        has let go of ``_pa`` first and is not a loss)."""
        if self._loop is not None and self._pa is not None and not self._stopping.is_set():
            self._loop.call_soon_threadsafe(self._lost.set)

    async def _keep_open(self) -> None:
        """Open the input, and again after it is lost, with backoff, until stop(); anything else that goes
        wrong here ends blocks() with it (the stream then fails as crashed, not as waiting)."""
        try:
            await self._reopen_loop()
        except Exception as exc:
            self._crash = exc
            self._queue.put_nowait(None)

    async def _reopen_loop(self) -> None:
        backoff = Backoff(*self.backoff_s)
        fresh = False
        while not self._stopping.is_set():
            try:
                self._open(fresh)
            except VigilError as exc:
                self.problem, fresh = str(exc), True
                if await backoff.wait(self._stopping):
                    break
                continue
            self.problem = None
            backoff.reset()
            lost = asyncio.ensure_future(self._lost.wait())
            stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([lost, stop], return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            stop.cancel()
            self._close()
            if not self._stopping.is_set():
                self._lost.clear()
                self._expected_adc = None
                self.reopens += 1
                self.problem, fresh = f"audio input {self.config.device or '(default)'} lost; reopening", True
                log.warning("microphone: %s", self.problem)

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
        if self._crash is not None:
            raise self._crash

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task  # closes the input
        self._close()
        self._queue.put_nowait(None)

    def health(self) -> dict[str, Any]:
        return {"overflows": self.overflows, "lost_samples": self.lost_samples, "dropped_blocks": self.dropped_blocks,
                "disconnects": self.reopens, "problem": self.problem}
