"""Reading WAV recordings into float32 audio at the sample rate a model expects.

Users bring what their recorders write: 8/16/24/32-bit PCM or float WAVs, mono or several
channels, at any rate. Everything becomes float32 in [-1, 1]; several channels are mixed down or
one is picked; another sample rate is resampled (polyphase, scipy) with a notice on the log.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io.wavfile

from edge.errors import InputFileError

log = logging.getLogger(__name__)

_PCM_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


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
    """Decode a WAV file (PCM 8/16/24/32-bit or IEEE float) to float32 (n, channels).

    Raises InputFileError, naming the file, when it is missing, not a WAV, empty or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file (expected a WAV recording)")
    if path.suffix.lower() == ".flac":  # as `vigil record --format flac` writes
        return _read_flac(path)
    try:
        with warnings.catch_warnings():
            # scipy only warns on a truncated data chunk; a recording cut short is refused instead
            warnings.simplefilter("error", scipy.io.wavfile.WavFileWarning)
            sr, data = scipy.io.wavfile.read(path)
    except scipy.io.wavfile.WavFileWarning as exc:
        raise InputFileError(f"{path}: truncated WAV ({exc})") from None
    except Exception as exc:  # scipy raises ValueError, struct.error, EOFError... on non-WAV bytes
        raise InputFileError(f"{path}: not a readable WAV file ({exc}); expected RIFF/WAVE PCM or float") from None
    if data.size == 0:
        raise InputFileError(f"{path}: WAV holds no samples (expected audio data)")
    data = data.reshape(data.shape[0], -1)
    if data.dtype == np.uint8:
        samples = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype in _PCM_SCALE:  # 24-bit PCM arrives left-justified in int32
        samples = (data / _PCM_SCALE[data.dtype]).astype(np.float32)
    elif data.dtype.kind == "f":
        samples = data.astype(np.float32, copy=False)
    else:
        raise InputFileError(f"{path}: unsupported WAV sample type {data.dtype} (expected PCM or float)")
    return Audio(path=path, sr=int(sr), samples=samples)


def _read_flac(path: Path) -> Audio:
    """A FLAC file (libsndfile) as float32 (n, channels), scaled as WAV PCM is (x / 2^(bits-1))."""
    import soundfile

    try:
        samples, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile names what it could not read
        raise InputFileError(f"{path}: not a readable FLAC file ({str(exc).strip()})") from None
    if samples.size == 0:
        raise InputFileError(f"{path}: FLAC holds no samples (expected audio data)")
    return Audio(path=path, sr=int(sr), samples=samples)


def to_mono(audio: Audio, channel: int | None) -> np.ndarray:
    """One channel (0-based) or, with channel None, the mean of all channels: float32 (n,)."""
    n_channels = audio.samples.shape[1]
    if channel is None:
        return audio.samples[:, 0] if n_channels == 1 else audio.samples.mean(axis=1, dtype=np.float32)
    if not 0 <= channel < n_channels:
        raise InputFileError(f"{audio.path}: channel {channel} requested, file has {n_channels} (0..{n_channels - 1})")
    return np.ascontiguousarray(audio.samples[:, channel])


def resample(y: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling of float32 (n,) from sr_from to sr_to Hz (anti-aliased, scipy)."""
    if sr_from == sr_to:
        return y
    import scipy.signal  # only when needed: the import costs ~50 MB of resident memory

    g = math.gcd(sr_from, sr_to)
    return scipy.signal.resample_poly(y, sr_to // g, sr_from // g).astype(np.float32)


def load_mono(path: str | Path, *, sr: int, channel: int | None = None) -> np.ndarray:
    """A WAV as float32 mono (n,) at ``sr`` Hz, resampled with a logged notice if needed."""
    audio = read_wav(path)
    y = to_mono(audio, channel)
    if audio.sr != sr:
        log.warning("%s: resampling from %d Hz to %d Hz (the model's rate)", audio.path, audio.sr, sr)
        y = resample(y, audio.sr, sr)
    return y
