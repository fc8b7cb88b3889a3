from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import scipy.io.wavfile

from edge.io.wav import load_mono
from edge.sources.base import Block, Needs
from edge.sources.file import FileConfig, FileSource, WavRecording


def test_blocks_cover_the_file_in_order(clip_per_type: dict[str, Path]) -> None:
    recording = WavRecording(clip_per_type["fan"], sr=16000, block_s=0.3)
    blocks = list(recording.blocks())
    assert [b.start for b in blocks] == list(range(0, 160000, 4800))
    np.testing.assert_array_equal(np.concatenate([b.samples[:, 0] for b in blocks]),
                                  load_mono(clip_per_type["fan"], sr=16000))


def replay(path: Path, **options: object) -> tuple[list[Block], float]:
    async def run() -> list[Block]:
        source = FileSource(FileConfig(path, **options), Needs("audio", 16000.0))  # type: ignore[arg-type]
        await source.start()
        got = []
        async for block in source.blocks():
            got.append(block)
            if len(got) == 12:
                break
        await source.stop()
        return got

    t0 = time.monotonic()
    blocks = asyncio.run(run())
    return blocks, time.monotonic() - t0


def test_realtime_replay_is_never_faster_than_the_audio(tmp_path: Path) -> None:
    """A lower bound only: real-time replay cannot deliver 0.6 s of audio in less than ~0.6 s."""
    path = tmp_path / "tone.wav"
    t = np.arange(9600) / 16000
    scipy.io.wavfile.write(path, 16000, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    blocks, seconds = replay(path, realtime=True)
    assert sum(b.samples.shape[0] for b in blocks) == 9600 and seconds >= 0.55


def test_a_looped_file_continues_the_stream_index(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    scipy.io.wavfile.write(path, 16000, np.ones(6000, dtype=np.float32) * 0.1)
    blocks, _ = replay(path, realtime=False, loop=True)
    starts = [b.start for b in blocks]
    assert starts == [0, 4000, 6000, 10000, 12000, 16000, 18000, 22000, 24000, 28000, 30000, 34000]
