"""Sources deliver blocks of samples to a stream. A file replays like a live input.

A Block is (first sample index, samples float32 (n, channels), missing mask (n,) or None): lost
BLE frames or audio overflows become missing samples at their exact place, never shifted data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.audio_file import AudioFile, rechunk


@dataclass(frozen=True)
class Block:
    """Samples [start, start + n) of a stream: ``samples`` float32 (n, channels), ``missing`` bool (n,)."""

    start: int
    samples: np.ndarray
    missing: np.ndarray | None = None


class WavFileSource:
    """Replays an audio file in blocks, at real time (``realtime=True``) or as fast as possible.

    The file is read block by block (:class:`edge.audio_file.AudioFile`), mixed down or
    channel-picked and resampled to ``sr`` on the way: memory does not grow with the file.
    """

    def __init__(self, path: str | Path, *, sr: int, channel: int | None = None, block_s: float = 0.25,
                 realtime: bool = False) -> None:
        self.path = Path(path)
        self.sr = sr
        self.channel = channel
        with AudioFile(self.path, sr_out=sr, channel=channel) as audio:  # opened once to refuse bad files now
            self.n_samples = audio.frames_out
        self.block = max(1, round(block_s * sr))
        self.realtime = realtime

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sr

    def blocks(self) -> Iterator[Block]:
        t0 = time.monotonic()
        with AudioFile(self.path, sr_out=self.sr, channel=self.channel) as audio:
            start = 0
            for samples in rechunk(audio.blocks(), self.block):
                if self.realtime:  # a block is released once the wall clock has reached its end
                    delay = t0 + (start + self.block) / self.sr - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                yield Block(start=start, samples=samples[:, None])
                start += samples.shape[0]
