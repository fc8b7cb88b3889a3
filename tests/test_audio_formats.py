"""Every valid recording opens: WAVs with the chunks recorders and editors write
(Broadcast WAV `bext`, `cue `, `LIST`, `PEAK`), WAVE_FORMAT_EXTENSIBLE, RF64, FLAC and OGG. Before
libsndfile, scipy's reader refused each of the WAVs as "truncated"."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import soundfile as sf

from edge.io.audio_file import AudioFile
from edge.io.wav import load_mono
from tests.conftest import run_vigil
from tests.test_cli_errors import BUNDLE


def chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def with_chunks(plain: bytes, before_data: list[bytes], after_data: list[bytes]) -> bytes:
    """A RIFF/WAVE file with extra chunks placed as editors place them, around the data chunk."""
    assert plain[:4] == b"RIFF" and plain[8:12] == b"WAVE"
    pos, chunks = 12, []
    while pos < len(plain):
        size = struct.unpack("<I", plain[pos + 4 : pos + 8])[0]
        chunks.append(plain[pos : pos + 8 + size + size % 2])
        pos += 8 + size + size % 2
    fmt, data = chunks[0], chunks[-1]
    body = b"WAVE" + fmt + b"".join(before_data) + data + b"".join(after_data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


BEXT = chunk(b"bext", b"vigil test recorder".ljust(256, b"\0") + b"\0" * 346)  # Broadcast WAV, 602 bytes
CUE = chunk(b"cue ", struct.pack("<I", 1) + struct.pack("<II4sIII", 1, 0, b"data", 0, 0, 16000))
LIST = chunk(b"LIST", b"INFO" + chunk(b"INAM", b"pump test\0") + chunk(b"ISFT", b"Audacity\0"))
PEAK = chunk(b"PEAK", struct.pack("<II", 1, 0) + struct.pack("<fI", 0.5, 1234))


@pytest.fixture(scope="module")
def clip(clip_per_type: dict[str, Path]) -> np.ndarray:
    return load_mono(clip_per_type["pump"], sr=16000)


@pytest.mark.parametrize("kind", ["bext", "cue-list-peak", "list-after-data", "extensible", "rf64", "flac", "ogg"])
def test_recorder_files_open(kind: str, clip: np.ndarray, clip_per_type: dict[str, Path], tmp_path: Path) -> None:
    plain = clip_per_type["pump"].read_bytes()
    path = tmp_path / f"{kind}.{ {'flac': 'flac', 'ogg': 'ogg'}.get(kind, 'wav') }"
    if kind == "bext":
        path.write_bytes(with_chunks(plain, [BEXT], []))
    elif kind == "cue-list-peak":
        path.write_bytes(with_chunks(plain, [PEAK, CUE, LIST], []))
    elif kind == "list-after-data":
        path.write_bytes(with_chunks(plain, [], [LIST, CUE]))
    elif kind == "extensible":
        sf.write(path, clip, 16000, format="WAVEX", subtype="PCM_24")
    elif kind == "rf64":
        sf.write(path, clip, 16000, format="RF64", subtype="PCM_16")
    elif kind == "flac":
        sf.write(path, clip, 16000, format="FLAC", subtype="PCM_16")
    else:
        sf.write(path, clip, 16000, format="OGG", subtype="VORBIS")
    y = load_mono(path, sr=16000)
    if kind == "ogg":  # lossy: the same sound, not the same samples
        assert abs(y.size - clip.size) < 2048 and np.corrcoef(y[: clip.size], clip[: y.size])[0, 1] > 0.9
    else:
        assert y.shape == clip.shape and np.max(np.abs(y - clip)) < 1e-4
    result = run_vigil("score", "--bundle", str(BUNDLE), str(path), check=True)  # the gateway path too
    assert result.stdout.startswith(str(path))


def test_stereo_is_mixed_down_with_a_notice(clip: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    scipy.io.wavfile.write(path, 16000, np.stack([clip, clip], axis=1))
    result = run_vigil("score", "--bundle", str(BUNDLE), str(path), check=True)
    assert "mixing 2 channels down to mono" in result.stderr and str(path) in result.stderr


def test_blocks_are_bounded_and_add_up_to_the_file(clip_per_type: dict[str, Path], tmp_path: Path) -> None:
    """A 44.1 kHz file read in 4096-frame blocks equals resampling it whole (the streaming resampler)."""
    import scipy.signal

    path = tmp_path / "44k.wav"
    x = load_mono(clip_per_type["fan"], sr=16000)
    up = scipy.signal.resample_poly(x, 441, 160).astype(np.float32)
    scipy.io.wavfile.write(path, 44100, up)
    with AudioFile(path, sr_out=16000) as audio:
        blocks = list(audio.blocks(4096))
        assert audio.frames_out == sum(b.size for b in blocks)
    assert max(b.size for b in blocks) < 30000  # one 64 Ki-frame segment, resampled
    whole = scipy.signal.resample_poly(up, 160, 441).astype(np.float32)
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6)
