from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import scipy.io.wavfile

from edge.sources import WavFileSource
from edge.wav import load_mono


def test_blocks_cover_the_file_in_order(clip_per_type: dict[str, Path]) -> None:
    source = WavFileSource(clip_per_type["fan"], sr=16000, block_s=0.3)
    blocks = list(source.blocks())
    assert [b.start for b in blocks] == list(range(0, 160000, 4800))
    np.testing.assert_array_equal(np.concatenate([b.samples[:, 0] for b in blocks]),
                                  load_mono(clip_per_type["fan"], sr=16000))


def test_realtime_replay_is_never_faster_than_the_audio(tmp_path: Path) -> None:
    """A lower bound only: real-time replay cannot deliver 0.6 s of audio in less than ~0.6 s."""
    path = tmp_path / "tone.wav"
    t = np.arange(9600) / 16000
    scipy.io.wavfile.write(path, 16000, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    t0 = time.monotonic()
    n = sum(b.samples.shape[0] for b in WavFileSource(path, sr=16000, block_s=0.1, realtime=True).blocks())
    assert n == 9600 and time.monotonic() - t0 >= 0.55
