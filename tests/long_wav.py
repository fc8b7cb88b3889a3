"""Long WAVs of real audio for the memory checks (tests/test_long_files.py and the long-files benchmark)."""

from __future__ import annotations

import sys
from pathlib import Path

import soundfile as sf

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dcase2020-task2-dev-samples"


def make_wav(path: Path, seconds: int) -> Path:
    """Real clips (16 kHz, 16-bit mono) end to end until `seconds` of audio, written in blocks (never held whole)."""
    clips = sorted(CLIPS.glob("*/*/*.wav"))
    if not clips:
        sys.exit(f"{CLIPS}: no clips (long WAVs are cut from ../shared/data)")
    need, i = seconds * 16000, 0
    with sf.SoundFile(path, "w", 16000, 1, "PCM_16") as out:
        while need > 0:
            y, sr = sf.read(clips[i % len(clips)], dtype="int16")
            assert sr == 16000, clips[i % len(clips)]
            out.write(y[:need])
            need -= min(need, y.shape[0])
            i += 1
    return path
