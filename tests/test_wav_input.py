"""The WAVs users will have: 8/16/24/32-bit PCM and float, several channels, other sample rates."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono, read_wav


def write_pcm24(path: Path, sr: int, samples: np.ndarray) -> None:
    """24-bit little-endian PCM via the standard library (scipy writes 8/16/32-bit only)."""
    ints = np.clip(np.rint(samples * 2**23), -(2**23), 2**23 - 1).astype("<i4")
    raw = ints.view(np.uint8).reshape(*ints.shape, 4)[..., :3].tobytes()
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        handle.setsampwidth(3)
        handle.setframerate(sr)
        handle.writeframes(raw)


@pytest.fixture()
def clip(clip_per_type: dict[str, Path]) -> np.ndarray:
    return load_mono(clip_per_type["slider"], sr=16000)


@pytest.mark.parametrize("kind", ["uint8", "int16", "pcm24", "int32", "float32"])
def test_sample_formats_decode_to_the_same_audio(kind: str, clip: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.wav"
    if kind == "pcm24":
        write_pcm24(path, 16000, clip)
    elif kind == "float32":
        scipy.io.wavfile.write(path, 16000, clip)
    else:
        info = np.iinfo(kind)
        ints = np.rint(clip * (info.max + 1) / (2 if kind == "uint8" else 1))
        ints = ints + 128 if kind == "uint8" else ints
        scipy.io.wavfile.write(path, 16000, np.clip(ints, info.min, info.max).astype(kind))
    decoded = load_mono(path, sr=16000)
    tolerance = {"uint8": 1 / 64, "int16": 1e-4, "pcm24": 1e-4, "int32": 1e-4, "float32": 0}[kind]
    assert decoded.dtype == np.float32 and decoded.shape == clip.shape
    assert np.max(np.abs(decoded - clip)) <= tolerance


def test_channels_are_mixed_down_or_picked(clip: np.ndarray, tmp_path: Path) -> None:
    stereo = np.stack([clip, -0.5 * clip], axis=1)
    path = tmp_path / "stereo.wav"
    scipy.io.wavfile.write(path, 16000, stereo.astype(np.float32))
    assert read_wav(path).samples.shape == (clip.size, 2)
    np.testing.assert_allclose(load_mono(path, sr=16000), 0.25 * clip, atol=1e-7)
    np.testing.assert_allclose(load_mono(path, sr=16000, channel=1), -0.5 * clip, atol=1e-7)


def test_other_rates_are_resampled_with_a_notice(clip: np.ndarray, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """48 kHz audio resampled to 16 kHz gives log-mel features within 1 dB (median) of the original."""
    path = tmp_path / "48k.wav"
    up = scipy.signal.resample_poly(clip, 3, 1).astype(np.float32)
    scipy.io.wavfile.write(path, 48000, up)
    with caplog.at_level(logging.WARNING):
        down = load_mono(path, sr=16000)
    assert "resampling from 48000 Hz to 16000 Hz" in caplog.text and str(path) in caplog.text
    assert down.shape == clip.shape
    spec = FeatureSpec.default("logmel")
    assert np.median(np.abs(spec.compute(down) - spec.compute(clip))) < 1.0
