"""Bad input: a one-line error naming the file and what was expected, exit status 2, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from tests.conftest import ROOT, VIGIL, run_vigil

BUNDLE = ROOT / "edge" / "data" / "bundles" / "valve"


def assert_clean_error(args: list[str], *needles: str) -> str:
    result = run_vigil(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vigil: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(missing)], str(missing), "no such file")


def test_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are meeting notes, not audio\n")
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(path)], str(path), "expected RIFF/WAVE")


def test_empty_wav(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    scipy.io.wavfile.write(path, 16000, np.zeros(0, dtype=np.int16))
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(path)], str(path), "no samples")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(path)], str(path))


def test_truncated_wav(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(clip_per_type["valve"].read_bytes()[:50_000])
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(path)], str(path), "truncated")


def test_clip_shorter_than_one_window(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    scipy.io.wavfile.write(path, 16000, (np.random.default_rng(0).standard_normal(1000) * 1000).astype(np.int16))
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(path)], str(path), "shorter than one analysis window")


@pytest.fixture()
def bundle_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(BUNDLE, tmp_path / "bundle"))


def test_bundle_with_wrong_checksum(bundle_copy: Path, clip_per_type: dict[str, Path]) -> None:
    entry = json.loads((bundle_copy / "manifest.json").read_text())["models"]["int8"]
    model = bundle_copy / next(iter(entry.get("files", {"model": entry}).values()))["file"]
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    assert_clean_error(["score", "--bundle", str(bundle_copy), str(clip_per_type["valve"])], str(model),
                       "does not match")


def test_bundle_with_unknown_format_version(bundle_copy: Path, clip_per_type: dict[str, Path]) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    assert_clean_error(["score", "--bundle", str(bundle_copy), str(clip_per_type["valve"])], "manifest.json",
                       "format_version 99", "expected 1")


def test_not_a_bundle(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    assert_clean_error(["score", "--bundle", str(tmp_path), str(clip_per_type["valve"])], str(tmp_path),
                       "manifest.json")


@pytest.mark.slow  # `vigil train` starts TensorFlow before it refuses
def test_training_on_a_folder_without_clips(tmp_path: Path) -> None:
    assert_clean_error(["train", "audio", str(tmp_path), "--out", str(tmp_path / "b")], str(tmp_path),
                       ".wav or .flac")


@pytest.mark.slow  # `vigil train` starts TensorFlow before it refuses
def test_bad_option_value_is_named(tmp_path: Path) -> None:
    assert_clean_error(["train", "audio", str(tmp_path), "--out", str(tmp_path / "b"), "--test-fraction", "1.5"],
                       "--test-fraction 1.5")


def test_training_without_tensorflow_names_the_extra(tmp_path: Path, dcase: Path) -> None:
    """A gateway install has no TensorFlow: `vigil train` says which extra to install."""
    blocker = tmp_path / "site" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('tensorflow is not installed')\n")
    env_path = f"{blocker.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    result = subprocess.run([*VIGIL, "train", "audio", str(dcase), "--machine-type", "valve", "--out",
                             str(tmp_path / "b")], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": env_path}, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "vigil: error: training needs TensorFlow: install the train extra (pip install '.[train]' in the checkout)"
    )


@pytest.mark.slow  # `vigil train` starts TensorFlow before it refuses
def test_train_audio_refuses_a_clip_shorter_than_one_window_before_fitting(tmp_path: Path,
                                                                           clip_per_type: dict[str, Path]) -> None:
    """A 0.1 s file beside one good clip used to reach the fit of a fold with no window (NaN, a traceback)."""
    folder = tmp_path / "normal"
    folder.mkdir()
    shutil.copy(clip_per_type["valve"], folder / "good.wav")
    short = folder / "short.wav"
    scipy.io.wavfile.write(short, 16000, (np.random.default_rng(0).standard_normal(1600) * 1000).astype(np.int16))
    assert_clean_error(["train", "audio", str(folder), "--out", str(tmp_path / "b")], str(short),
                       "shorter than one analysis window")
    assert not (tmp_path / "b").exists()


def test_beats_on_a_truncated_edf_keeps_stdout_clean(tmp_path: Path) -> None:
    """pyedflib's C reader printed "filesize ... != ..." to stdout, the channel of `vigil beats --json`."""
    path = tmp_path / "cut.edf"
    path.write_bytes((ROOT.parent / "shared" / "data" / "adfecgdb" / "r01.edf").read_bytes()[:100_000])
    result = run_vigil("beats", str(path), "--json")
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert result.stderr.startswith(f"vigil: error: {path}: not a readable EDF"), result.stderr


def test_score_on_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(tmp_path)], str(tmp_path), "a folder", "*.wav")


@pytest.mark.slow  # `vigil train` starts TensorFlow, after every clip's features
def test_float_wav_with_nan_is_refused_by_score_and_train(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    """A float WAV holding a NaN gave a clip score from NaN windows, and a traceback from the covariance fit."""
    folder = tmp_path / "normal"
    folder.mkdir()
    shutil.copy(clip_per_type["valve"], folder / "good.wav")
    rate, y = scipy.io.wavfile.read(clip_per_type["valve"])
    samples = y.astype(np.float32) / 32768
    samples[24_000] = np.nan
    bad = folder / "bad.wav"
    scipy.io.wavfile.write(bad, rate, samples)
    assert_clean_error(["score", "--bundle", str(BUNDLE), str(bad)], str(bad), "sample 24000 (at 1.500 s) is nan",
                       "expected finite")
    assert_clean_error(["train", "audio", str(folder), "--out", str(tmp_path / "b")], str(bad), "is nan")
    assert not (tmp_path / "b").exists()


@pytest.mark.training  # `vigil train audio`
def test_stereo_resampled_file_notices_once(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    """Training reads each file several times (folds, the final fit); its notices came once per read."""
    _rate, y = scipy.io.wavfile.read(clip_per_type["valve"])
    stereo = scipy.signal.resample_poly(y.astype(np.float32), 441, 160).astype(np.int16)
    folder = tmp_path / "normal"
    folder.mkdir()
    for i in range(3):
        shutil.copy(clip_per_type["valve"], folder / f"mono{i}.wav")
    path = folder / "stereo.wav"
    scipy.io.wavfile.write(path, 44100, np.stack([stereo, stereo], axis=1))
    result = run_vigil("train", "audio", str(folder), "--out", str(tmp_path / "b"), "--folds", "2")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("resampling from 44100 Hz") == 1, result.stderr
    assert result.stderr.count("mixing 2 channels") == 1, result.stderr
