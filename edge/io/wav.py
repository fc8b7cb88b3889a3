"""Reading recordings into float32 audio at the sample rate a model expects (whole clips).

Users bring what their recorders write: 8/16/24/32-bit PCM or float WAVs (plain, Broadcast,
EXTENSIBLE, RF64), FLAC or OGG, mono or several channels, at any rate (libsndfile reads them,
see :mod:`edge.io.audio_file`). Everything becomes float32 in [-1, 1]; several channels are mixed down or
one is picked; another sample rate is resampled (polyphase, scipy) with a notice on the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import InputFileError
from edge.io.audio_file import AudioFile

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Audio:
    """Decoded audio: ``samples`` float32 (n, channels) in [-1, 1] at ``sr`` Hz."""

    path: Path
    sr: int
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return self.samples.shape[0] / self.sr


def read_wav(path: str | Path) -> Audio:
    """Decode a whole audio file (any format libsndfile reads) to float32 (n, channels).

    Raises InputFileError, naming the file, when it is missing, not audio, empty or truncated.
    Long recordings are read in blocks with :class:`edge.io.audio_file.AudioFile` instead.
    """
    with AudioFile(path) as audio:
        audio._file.seek(0)
        samples = audio._file.read(dtype="float32", always_2d=True)
        return Audio(path=audio.path, sr=audio.sr, samples=samples)


def to_mono(audio: Audio, channel: int | None) -> np.ndarray:
    """One channel (0-based) or, with channel None, the mean of all channels: float32 (n,)."""
    n_channels = audio.samples.shape[1]
    if channel is None:
        return audio.samples[:, 0] if n_channels == 1 else audio.samples.mean(axis=1, dtype=np.float32)
    if not 0 <= channel < n_channels:
        raise InputFileError(f"{audio.path}: channel {channel} requested, file has {n_channels} (0..{n_channels - 1})")
    return np.ascontiguousarray(audio.samples[:, channel])


def load_mono(path: str | Path, *, sr: int, channel: int | None = None) -> np.ndarray:
    """An audio file as float32 mono (n,) at ``sr`` Hz, mixed down / resampled with a logged notice."""
    with AudioFile(path, sr_out=sr, channel=channel) as audio:
        return audio.read_all()
