"""What a new user of the machine-sound path runs into: one line, exit status 2, no
traceback, nothing of theirs lost and no half-written output, no silently wrong bundle.

Each test failed on the code before its fix: a bundle trained on silent clips with NaN thresholds that
called every clip normal; tracebacks (or a SIGBUS from `features`) on a full disk, leaving a partial
file; `evaluate --force` deleting the old report before finding the input bad; `calibrate` tracebacks
and a bundle folder only its owner could read; `record` options that wrote outside --out or empty files.
A full disk is simulated with RLIMIT_FSIZE (the write fails with EFBIG, as ENOSPC on a full disk).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import ROOT, VIGIL, run_vigil

BUNDLES = ROOT / "edge" / "data" / "bundles"
SLIDER = ROOT.parent / "shared" / "data" / "dcase2020-slider-id00-train"


def one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single `vigil: error:` line of a failed run (exit status 2, no traceback), holding the needles."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("vigil: error: ")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def run_limited(*args: str, max_file_bytes: int, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """vigil (or a Python snippet) with files limited to max_file_bytes: a write past it fails (EFBIG)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    command = [sys.executable, "-c", code] if code else [*VIGIL, *args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
                          preexec_fn=limit)


def clips(folder: Path, n: int, seconds: float = 3.0) -> Path:
    """n real slider clips cut to `seconds` (int16 WAV) in a new folder."""
    folder.mkdir(parents=True)
    for i, src in enumerate(sorted(SLIDER.glob("*.wav"))[:n]):
        y, sr = sf.read(src, dtype="int16")
        sf.write(folder / f"c{i}.wav", y[: round(seconds * sr)], sr)
    return folder


def edited_bundle(tmp_path: Path, edit: dict[str, object]) -> Path:
    """A copy of the bundled slider bundle with manifest fields (dotted paths) set by hand."""
    bundle = tmp_path / "edited"
    shutil.copytree(BUNDLES / "slider", bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    for dotted, value in edit.items():
        *parents, last = dotted.split(".")
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


@pytest.mark.training  # features and folds before the refusal
def test_train_refuses_silent_clips(tmp_path: Path) -> None:
    """A muted microphone: the covariance of constant features is singular; the old bundle had NaN
    thresholds and `score` called every clip normal (exit 0)."""
    data = clips(tmp_path / "data", 2, seconds=2.0)
    sf.write(data / "muted.wav", np.zeros(32000, np.int16), 16000)
    out = tmp_path / "b"
    line = one_line(run_vigil("train", "audio", str(data), "--out", str(out), "--folds", "2"),
                    str(data / "muted.wav"), "every sample is 0", "expected a recording")
    assert "nan" not in line.lower()
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_nan_threshold_in_manifest_is_refused(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    bundle = edited_bundle(tmp_path, {"models.int8.threshold.clip": float("nan")})
    one_line(run_vigil("score", "--bundle", str(bundle), str(clip_per_type["slider"])),
             "models.int8.threshold.clip", "finite")


@pytest.mark.parametrize(("edit", "needles"), [
    # the fused slider bundle: 2 x 128 log-mel statistics per window
    ({"features.n_mels": 64}, ["normalization.mean", "256 values", "give 128"]),
    ({"features.sr": 0}, ["features.sr", "positive"]),
    ({"provenance.fit_files": [{"file": "a.wav"}]}, ["provenance.fit_files[0].sha256", "missing"]),
], ids=["n_mels-edited", "sr-0", "fit-files-without-sha256"])
def test_hand_edited_features_are_refused(edit: dict[str, object], needles: list[str], tmp_path: Path,
                                          clip_per_type: dict[str, Path]) -> None:
    """Before: a NumPy broadcast traceback (n_mels), an error blaming the recording (sr 0), a KeyError
    traceback in `calibrate` and `evaluate` (fit_files)."""
    bundle = edited_bundle(tmp_path, edit)
    one_line(run_vigil("calibrate", str(bundle), str(clip_per_type["slider"]), "--fpr", "0.01", "--out",
                       str(tmp_path / "c")), "manifest.json", *needles)


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Mount a tmpfs (e.g. "size=200k" for a nearly full disk, "ro" for a read-only one) under tmp_path;
    skipped where this process may not mount (needs root; TensorFlow breaks under RLIMIT_FSIZE)."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        try:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        except FileNotFoundError:
            pytest.skip("no mount command")
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


@pytest.mark.training  # trains until the disk is full
def test_train_on_a_full_disk_says_so_and_leaves_nothing(tmp_path: Path, small_fs: Callable[[str, str], Path]) -> None:
    """Before: a traceback, after TensorFlow's held-back lines."""
    data = clips(tmp_path / "data", 2)
    disk = small_fs("disk", "size=150k")
    (disk / "mine.txt").write_text("mine\n")
    result = run_vigil("train", "audio", str(data), "--out", str(disk / "b"), "--folds", "1")
    one_line(result, "no space left on the device", "expected room for the output")
    assert "oneDNN" not in result.stderr
    assert [p.name for p in disk.iterdir()] == ["mine.txt"]


def test_train_on_a_read_only_disk_is_refused_first(tmp_path: Path, small_fs: Callable[[str, str], Path]) -> None:
    """Before: a traceback, after the training work."""
    disk = small_fs("ro", "ro,size=100k")
    one_line(run_vigil("train", "audio", str(SLIDER), "--out", str(disk / "b")), f"--out {disk / 'b'}",
             "read-only file system")


def test_features_on_a_full_tmpfs_is_no_sigbus(clip_per_type: dict[str, Path],
                                               small_fs: Callable[[str, str], Path]) -> None:
    """Before: the process died of SIGBUS (exit -7) writing into the memory map; a 48 MB sparse
    `.f.npy.partial` was left on the full disk."""
    disk = small_fs("disk", "size=100k")
    result = run_vigil("features", str(clip_per_type["fan"]), "--set", "logmel", "--out", str(disk / "f.npy"))
    one_line(result, str(disk / "f.npy"), "no space left")
    assert list(disk.iterdir()) == []


def test_features_on_a_full_disk_leaves_no_partial_file(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    """Before: a traceback (EFBIG), or SIGBUS writing into the memory map on a full tmpfs, and the
    sparse `.f.npy.partial` left behind."""
    out = tmp_path / "f.npy"
    result = run_limited("features", str(clip_per_type["fan"]), "--set", "logmel", "--out", str(out),
                         max_file_bytes=100_000)
    one_line(result, str(out), "expected room for the output")
    assert list(tmp_path.iterdir()) == []


def test_record_removes_the_clip_the_disk_cut_short(tmp_path: Path) -> None:
    """The writer `vigil record` uses, with files limited to 20 kB (a 1 s clip takes 32 kB): the clip the
    limit cut short is removed, one error names it. Before: an AssertionError from soundfile, and on a
    full disk the partial clip was kept."""
    code = f"""
import numpy as np
from pathlib import Path
from edge.errors import VigilError
from edge.commands.record import AudioClipWriter
w = AudioClipWriter(Path({str(tmp_path)!r}), sr=16000, frames=16000, clips=3, fmt="wav", prefix="clip")
try:
    for _ in range(12):
        w.write(np.zeros(4000, np.int16) + 7)
except VigilError as exc:
    w.abort()
    print(exc)
"""
    result = run_limited(max_file_bytes=20_000, code=code)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "clip_0000.wav" in result.stdout and "disk full" in result.stdout, result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "needles"), [
    (["--out", "{t}/afile"], ["{t}/afile", "is a file"]),
    (["--out", "{t}/r", "--sr", "0"], ["--sr 0"]),
    (["--out", "{t}/r", "--seconds", "0.00001"], ["--seconds 1e-05", "less than one sample"]),
    (["--out", "{t}/r", "--prefix", "../escaped"], ["--prefix '../escaped'", "no folder"]),
    (["--out", "{t}/r", "--seconds", "inf"], ["--seconds inf"]),
], ids=["out-is-file", "sr-0", "seconds-tiny", "prefix-outside-out", "seconds-inf"])
def test_record_options_refused_before_the_device(args: list[str], needles: list[str], tmp_path: Path) -> None:
    """Before: a FileExistsError traceback; `--sr 0` blamed the device; a tiny --seconds wrote empty
    WAVs; `--prefix ../x` wrote beside --out; `--seconds inf` an OverflowError traceback. Checked before
    any device is opened."""
    (tmp_path / "afile").write_text("mine\n")
    fill = [a.replace("{t}", str(tmp_path)) for a in args]
    one_line(run_vigil("record", *fill, "--device", "no-such-device"), *[n.replace("{t}", str(tmp_path))
                                                                         for n in needles])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    assert (tmp_path / "afile").read_text() == "mine\n"


def test_failed_evaluate_keeps_the_report_it_was_to_replace(tmp_path: Path) -> None:
    """`--force` replaces a vigil report once the new one is complete; a bad input leaves the old one."""
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# last week's evaluation\n")
    (report / "metrics.json").write_text("{}\n")
    empty = tmp_path / "no-clips"
    empty.mkdir()
    one_line(run_vigil("evaluate", str(empty), "--bundle", str(BUNDLES / "slider"), "--report", str(report),
                       "--force"), str(empty), "no recordings")
    assert (report / "report.md").read_text() == "# last week's evaluation\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-clips", "report"]


def test_calibrate_short_clip_seconds_and_short_recording(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    """Before: `ValueError: need at least one array to concatenate` for both."""
    bundle = BUNDLES / "slider"
    one_line(run_vigil("calibrate", str(bundle), str(clip_per_type["slider"]), "--fpr", "0.01", "--out",
                       str(tmp_path / "c"), "--clip-seconds", "0.5"), "--clip-seconds 0.5", "analysis window")
    y, sr = sf.read(clip_per_type["slider"], dtype="int16")
    short = tmp_path / "normal_id_00_short.wav"
    sf.write(short, y[: round(1.59 * sr)], sr)  # one window fits; round(1.59 / 1.06) = 2 parts would not
    result = run_vigil("calibrate", str(bundle), str(short), "--fpr", "0.01", "--out", str(tmp_path / "c"),
                       "--clip-seconds", "1.06", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["variants"]["int8"]["new"]["clip"] > 0


def test_calibrate_out_inside_the_bundle_is_refused(tmp_path: Path) -> None:
    """Before: the copy recursed into itself, leaving a `.calibrate-*` folder in the new bundle, itself
    inside the old one."""
    bundle = tmp_path / "b"
    shutil.copytree(BUNDLES / "slider", bundle)
    before = sorted(p.name for p in bundle.iterdir())
    one_line(run_vigil("calibrate", str(bundle), "--fpr", "0.01", "--out", str(bundle / "new")),
             "inside the bundle")
    assert sorted(p.name for p in bundle.iterdir()) == before and "manifest.json" in before


def test_calibrated_bundle_is_readable_like_any_folder(tmp_path: Path) -> None:
    """The service user must read a bundle root calibrated: the folder got mkdtemp's 0700 before."""
    out = tmp_path / "c"
    result = subprocess.run([*VIGIL, "calibrate", str(BUNDLES / "slider"), "--fpr", "0.01", "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120, preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o755


def test_train_clip_seconds_below_one_window(tmp_path: Path) -> None:
    """Before: 10,000 parts of a 10 s clip were written to /tmp, then one refused by a temporary name."""
    data = clips(tmp_path / "data", 2)
    one_line(run_vigil("train", "audio", str(data), "--out", str(tmp_path / "b"), "--clip-seconds", "0.001"),
             "--clip-seconds 0.001", "analysis window")


def test_interrupt_and_full_disk_keep_native_lines_back(capfd: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in `train` printed TensorFlow's held-back start-up lines; so did a full disk."""
    import errno

    from train.quiet import quiet_native

    for exc in (KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")):
        with pytest.raises(type(exc)), quiet_native(False):
            os.write(2, b"oneDNN custom operations are on\n")
            raise exc
    assert "oneDNN" not in capfd.readouterr().err


def test_hidden_files_of_a_folder_are_skipped_as_the_shell_does(tmp_path: Path) -> None:
    """A folder copied from a Mac to a USB stick holds `._clip.wav` resource forks: `train` and
    `calibrate` refused the whole folder, naming one, while `calibrate normal/*.wav` skipped them."""
    from train.dataset import discover_clips

    data = clips(tmp_path / "normal", 2, seconds=2.0)
    (data / "._c0.wav").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
    (data / ".Trash").mkdir()
    shutil.copy(data / "c1.wav", data / ".Trash" / "deleted.wav")
    assert [c.path.name for c in discover_clips(data)] == ["c0.wav", "c1.wav"]
    out = tmp_path / "c"
    result = run_vigil("calibrate", str(BUNDLES / "slider"), str(data), "--fpr", "0.01", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert [c["file"] for c in json.loads((out / "manifest.json").read_text())["calibration"]["clips"]] == \
        ["c0.wav", "c1.wav"]


@pytest.mark.training  # stopped while training
def test_sigterm_in_train_leaves_no_staging_and_no_cut_clips(tmp_path: Path) -> None:
    """`kill`, `timeout` or a closed session: before, the process died at once, leaving a hidden `.folds-*`
    folder beside --out and the recording's cut clips in the temporary folder (as large as the data)."""
    import signal
    import time

    data = tmp_path / "data"
    data.mkdir()
    y = np.concatenate([sf.read(p, dtype="int16")[0] for p in sorted(SLIDER.glob("*.wav"))[:3]])
    sf.write(data / "machine.wav", y, 16000)  # 30 s: cut into three 10 s clips in TMPDIR
    temp, outs = tmp_path / "tmp", tmp_path / "outs"
    temp.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(temp)}
    process = subprocess.Popen([*VIGIL, "train", "audio", str(data), "--out", str(outs / "b"), "--folds", "3"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (outs.is_dir() and any(outs.glob(".folds-*"))):
        assert process.poll() is None and time.monotonic() < deadline, "training ended before its folds started"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "oneDNN" not in stderr, stderr
    assert list(outs.iterdir()) == [] and list(temp.iterdir()) == []


@pytest.mark.training  # every kind fitted before one fails
def test_failed_train_all_keeps_the_bundles_it_was_to_replace(tmp_path: Path) -> None:
    """`--detector all --force` cleared the folder of bundles first; a run that then failed left nothing."""
    out = tmp_path / "bundles"
    out.mkdir()
    shutil.copytree(BUNDLES / "fan", out / "fan")
    kept = sorted(p.name for p in (out / "fan").iterdir())
    data = tmp_path / "muted"
    data.mkdir()
    for i in range(2):
        sf.write(data / f"m{i}.wav", np.zeros(32000, np.int16), 16000)
    one_line(run_vigil("train", "audio", str(data), "--detector", "all", "--out", str(out), "--force", "--folds", "2"),
             "every sample is 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundles", "muted"]
    assert sorted(p.name for p in (out / "fan").iterdir()) == kept and "manifest.json" in kept


def test_float_wav_of_integer_scaled_samples_is_refused(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    """scipy's `wavfile.write(path, sr, y.astype(np.float32))` of int16 values: a float WAV 32768 times too
    loud, which every model called ANOMALY (clip score 23 against a threshold of 3.3). Headroom above
    full scale (a peak of 1.5) is still read."""
    y, sr = sf.read(clip_per_type["slider"], dtype="float32")
    sf.write(tmp_path / "int_scaled.wav", y * 32768, sr, subtype="FLOAT")
    sf.write(tmp_path / "headroom.wav", y * 1.5 / np.abs(y).max(), sr, subtype="FLOAT")
    one_line(run_vigil("score", "--bundle", str(BUNDLES / "slider"), str(tmp_path / "int_scaled.wav")),
             "int_scaled.wav", "scaled to [-1, 1]", "32768")
    result = run_vigil("score", "--bundle", str(BUNDLES / "slider"), str(tmp_path / "headroom.wav"), "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["window_scores"]) == 18


@pytest.mark.slow  # two `vigil evaluate` runs: each starts the training side before it refuses
def test_evaluate_without_a_bundle_needs_typed_labelled_clips(tmp_path: Path, dcase: Path) -> None:
    """A folder of one's own recordings gave a report of NaNs and exit status 0; a machine type without
    anomalous clips a StopIteration traceback. Both refused before any training, no report written."""
    mine = clips(tmp_path / "recordings", 2, seconds=2.0)
    one_line(run_vigil("evaluate", str(mine), "--report", str(tmp_path / "r1"), "--detector", "kmeans"),
             str(mine), "machine type", "anomaly_*.wav")
    (tmp_path / "normal-only" / "fan").mkdir(parents=True)
    for path in sorted((dcase / "normal" / "fan").glob("*.wav"))[:3]:
        shutil.copy(path, tmp_path / "normal-only" / "fan")
    one_line(run_vigil("evaluate", str(tmp_path / "normal-only"), "--report", str(tmp_path / "r2"), "--detector",
                       "kmeans"), "3 normal and 0 anomalous", "type fan")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["normal-only", "recordings"]


def test_calibrate_refuses_a_recording_given_twice(tmp_path: Path) -> None:
    """`calibrate B normal/*.wav normal/` counted every clip twice (the --fpr rule's n doubled)."""
    data = clips(tmp_path / "normal", 2, seconds=2.0)
    one_line(run_vigil("calibrate", str(BUNDLES / "slider"), str(data / "c0.wav"), str(data), "--fpr", "0.01",
                       "--out", str(tmp_path / "c")), "c0.wav", "given twice")
    assert not (tmp_path / "c").exists()


@pytest.mark.training  # fits folds before the bad part
def test_a_bad_part_of_a_long_recording_is_named_by_the_recording(tmp_path: Path) -> None:
    """A 30 s recording is cut into three clips in a temporary folder: an error in the last one named
    `/tmp/vigil-clips-*/…/rec.part002.wav`, a file gone once vigil exits."""
    data = tmp_path / "data"
    data.mkdir()
    y = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted(SLIDER.glob("*.wav"))[:3]])
    y[25 * 16000] = np.nan
    sf.write(data / "rec.wav", y, 16000, subtype="FLOAT")
    line = one_line(run_vigil("train", "audio", str(data), "--out", str(tmp_path / "b"), "--folds", "2"),
                    f"{data / 'rec.wav'} (from 20.0 s)", "is nan")
    assert ".part" not in line and "vigil-clips" not in line


@pytest.mark.parametrize(("args", "needles"), [
    (["--seed", "-1"], ["--seed -1", "at least 0"]),
    pytest.param(["--detector", "kmeans", "--clusters", "1000"], ["--clusters 1000", "training windows"],
                 marks=pytest.mark.slow),  # every clip's features before the refusal
], ids=["seed-negative", "more-clusters-than-windows"])
def test_train_options_out_of_range_are_one_line(args: list[str], needles: list[str], tmp_path: Path) -> None:
    """Before: NumPy's and scikit-learn's ValueError tracebacks."""
    data = clips(tmp_path / "data", 2, seconds=2.0)
    one_line(run_vigil("train", "audio", str(data), "--out", str(tmp_path / "b"), "--folds", "2", *args), *needles)
    assert not (tmp_path / "b").exists()


def test_features_seed_at_8_khz_is_one_line(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    """`vigil features clip.wav --set seed --sr 8000` (an 8 kHz recorder): an IndexError traceback, the
    spectral contrast's top octave band (from 6400 Hz) lying above Nyquist. logmel works at 8 kHz."""
    one_line(run_vigil("features", str(clip_per_type["fan"]), "--set", "seed", "--sr", "8000", "--out",
                       str(tmp_path / "f.npy")), "--sr 8000", "Nyquist", "--set logmel")
    assert list(tmp_path.iterdir()) == []
    result = run_vigil("features", str(clip_per_type["fan"]), "--set", "logmel", "--sr", "8000", "--out",
                       str(tmp_path / "f.npy"))
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "f.npy").shape[1] == 640


def test_flac_cut_short_is_one_line(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    """A FLAC copy cut short (its header still declares every sample): `score` and `train` (which cuts a
    long recording into clips) ended in libsndfile's "flac decoder lost sync" traceback."""
    y, sr = sf.read(clip_per_type["slider"], dtype="int16")
    for name, seconds in (("clip", 1), ("long", 3)):
        folder = tmp_path / name
        folder.mkdir()
        sf.write(folder / "rec.flac", np.tile(y, seconds), sr)
        data = (folder / "rec.flac").read_bytes()
        (folder / "rec.flac").write_bytes(data[: len(data) // 2])
    one_line(run_vigil("score", "--bundle", str(BUNDLES / "slider"), str(tmp_path / "clip" / "rec.flac")),
             "rec.flac", "unreadable after sample", "truncated")
    one_line(run_vigil("train", "audio", str(tmp_path / "long"), "--out", str(tmp_path / "b"), "--folds", "2"),
             "rec.flac", "unreadable", "truncated")


def test_machine_type_of_ones_own_machine_points_to_its_folder(tmp_path: Path) -> None:
    """`--machine-type compressor` over DIR/compressor/*.wav said there were no recordings under a folder
    of that type: only DCASE types are known; the folder itself is the DIR to give."""
    clips(tmp_path / "own" / "compressor", 2, seconds=2.0)
    one_line(run_vigil("train", "audio", str(tmp_path / "own"), "--machine-type", "compressor", "--out",
                       str(tmp_path / "b")), "--machine-type compressor", "not a DCASE machine type",
             str(tmp_path / "own" / "compressor"))


def test_bundle_of_a_plain_folder_evaluates_on_a_plain_folder(tmp_path: Path, dcase: Path) -> None:
    """`train audio` on a plain folder (no DCASE type folder) wrote machine_type "unknown"; `evaluate
    --bundle` then kept only clips under a folder named "unknown": never any (exit 2 on every folder)."""
    bundle = edited_bundle(tmp_path, {"machine_type": "unknown"})  # as such bundles were written
    data = tmp_path / "plain"
    data.mkdir()
    for kind in ("normal", "anomalous"):
        for path in sorted((dcase / kind / "slider").glob("*.wav"))[:2]:
            shutil.copy(path, data)
    result = run_vigil("evaluate", str(data), "--bundle", str(bundle), "--report", str(tmp_path / "r"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["variants"]["int8"]["n_anomalous"] == 2


def test_a_linked_folder_of_recordings_is_read_once(tmp_path: Path) -> None:
    """`ln -s /media/usb/fan data/fan`: the linked folder's clips were skipped without a word (a folder of
    links only: "no recordings"); a link back up the tree must not loop."""
    from train.dataset import discover_clips

    usb = clips(tmp_path / "usb", 2, seconds=2.0)
    data = tmp_path / "data"
    data.mkdir()
    (data / "fan").symlink_to(usb)
    (usb / "back").symlink_to(data)
    found = discover_clips(data)
    assert [(c.path.relative_to(data).as_posix(), c.machine_type) for c in found] == \
        [("fan/c0.wav", "fan"), ("fan/c1.wav", "fan")]
