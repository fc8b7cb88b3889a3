"""`vigil calibrate`: thresholds re-chosen from normal recordings on the gateway path, bundles stay valid.

The bundled fan model (int8, machine id 06) is calibrated on the 6 normal id 06 fan clips of the
DCASE samples and lite sets; `vigil score` of the calibrated bundle must then decide exactly as the
rule says on those clips.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from edge.bundle.loader import load_bundle, sha256_file
from tests.conftest import ROOT, run_vigil

FAN = ROOT / "edge" / "data" / "bundles" / "fan"
ECG = ROOT / "edge" / "data" / "bundles" / "ecg-donut"


@pytest.fixture(scope="module")
def fan_clips(dcase: Path) -> list[Path]:
    clips = sorted((dcase / "normal" / "fan").glob("normal_id_06_*.wav")) + sorted(
        (dcase.parent / "dcase2020-task2-lite" / "normal" / "fan").glob("normal_id_06_*.wav"))
    assert len(clips) == 6
    return clips


@pytest.fixture(scope="module")
def calibrated(fan_clips: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "fan"
    before = (FAN / "manifest.json").read_bytes()
    run_vigil("calibrate", str(FAN), *map(str, fan_clips), "--fpr", "0.2", "--out", str(out), check=True)
    assert (FAN / "manifest.json").read_bytes() == before  # the original is untouched
    return out


def test_fpr_rule_moves_the_decisions(calibrated: Path, fan_clips: list[Path]) -> None:
    result = run_vigil("score", "--bundle", str(calibrated), *map(str, fan_clips), "--json", check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    clip_scores = np.array([r["clip_score"] for r in rows])
    windows = np.concatenate([r["window_scores"] for r in rows])
    manifest = json.loads((calibrated / "manifest.json").read_text())
    variant = manifest["default_variant"]  # what score runs
    threshold = manifest["models"][variant]["threshold"]
    # floor(0.2 * 6) = 1 clip may be above: exactly one is, and the threshold is an observed score
    assert sum(r["decision"] == "anomaly" for r in rows) == 1
    assert np.min(np.abs(clip_scores - threshold["clip"])) < 1e-9
    over = float(np.mean(windows > threshold["window"] + 1e-6))
    assert over <= 0.2 and over > 0.2 - 2 / windows.size  # the smallest threshold with FPR <= 0.2
    old = load_bundle(FAN).variant(variant)
    assert threshold["clip"] != pytest.approx(old.clip_threshold)


def test_manifest_records_the_rule_and_stays_valid(calibrated: Path, fan_clips: list[Path]) -> None:
    bundle = load_bundle(calibrated)  # format version and model checksums verified
    entry = bundle.manifest.to_json()["models"]["int8"]
    for file in entry.get("files", {"model": entry}).values():
        assert sha256_file(calibrated / file["file"]) == file["sha256"]
    cal = bundle.manifest.to_json()["calibration"]
    assert cal["rule"] == {"kind": "fpr", "value": 0.2} and cal["n_clips"] == 6
    assert [c["sha256"] for c in cal["clips"]] == [sha256_file(p) for p in fan_clips]
    assert len(cal["normal_scores"]["int8"]["clip"]) == 6 and cal["date"].startswith("20")
    assert cal["history"][0]["thresholds"]["int8"] == json.loads((FAN / "manifest.json").read_text())[
        "models"]["int8"]["threshold"]


def test_recalibrate_from_stored_scores_in_place(calibrated: Path, tmp_path: Path) -> None:
    copy = tmp_path / "fan"
    shutil.copytree(calibrated, copy)
    stored = json.loads((copy / "manifest.json").read_text())["calibration"]["normal_scores"]["int8"]
    out = run_vigil("calibrate", str(copy), "--percentile", "50", "--json")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--force" in out.stderr
    run_vigil("calibrate", str(copy), "--percentile", "50", "--force", check=True)
    manifest = load_bundle(copy).manifest.to_json()
    assert manifest["models"]["int8"]["threshold"] == {"clip": pytest.approx(np.percentile(stored["clip"], 50)),
                                                       "window": pytest.approx(np.percentile(stored["window"], 50))}
    assert len(manifest["calibration"]["history"]) == 2 and manifest["calibration"]["n_clips"] == 6
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in calibrated.iterdir())


@pytest.mark.slow  # four `vigil calibrate` runs
def test_mismatched_recordings_are_refused(dcase: Path, fan_clips: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    pump = sorted((dcase / "normal" / "pump").glob("*.wav"))[0]
    _, wav = scipy.io.wavfile.read(fan_clips[0])
    fast = tmp_path / "fan" / "normal_id_00_44k.wav"
    fast.parent.mkdir()
    scipy.io.wavfile.write(fast, 44100, scipy.signal.resample_poly(wav, 441, 160).astype(np.int16))
    other_id = tmp_path / "fan" / "normal_id_00_00000000.wav"
    shutil.copy(fan_clips[0], other_id)
    anomaly = sorted((dcase / "anomalous" / "fan").glob("*.wav"))[0]
    for bad, words in ((pump, ["pump", "fan"]), (fast, ["44100 Hz", "16000 Hz"]), (other_id, ["id_00", "id_06"]),
                       (anomaly, ["anomalous"])):
        result = run_vigil("calibrate", str(FAN), str(fan_clips[2]), str(bad), "--fpr", "0.1", "--out", str(out))
        assert result.returncode == 2, bad
        assert result.stderr.startswith("vigil: error: ") and result.stderr.count("\n") == 1, result.stderr
        assert all(w in result.stderr for w in words), result.stderr
        assert not out.exists()
    # a bundle written before bundles kept their normal scores: recordings are needed
    old = tmp_path / "old"
    shutil.copytree(FAN, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["calibration"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    result = run_vigil("calibrate", str(old), "--fpr", "0.1", "--out", str(out))
    assert result.returncode == 2 and "normal_scores" in result.stderr and not out.exists()
    run_vigil("calibrate", str(old), str(fan_clips[1]), "--fpr", "0.1", "--out", str(out), check=True)
    shutil.rmtree(out)
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = run_vigil("calibrate", str(FAN), str(fan_clips[1]), "--fpr", "0.1", "--out", str(out))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_donut_window_threshold_from_a_normal_series(tmp_path: Path) -> None:
    from edge.pipeline.series_scorer import donut_scorer, load_series, score_series

    edf = ROOT / "edge" / "data" / "samples" / "ecg" / "r10_60s.edf"
    out = tmp_path / "ecg"
    run_vigil("calibrate", str(ECG), str(edf), "--fpr", "0.05", "--out", str(out), check=True)
    bundle = load_bundle(out)
    series = load_series(edf, bundle.ecg_spec, "ecg")
    scores = score_series(bundle, donut_scorer(bundle), series)  # seeded: same scores as calibrate saw
    kept = scores[~np.isnan(scores) & ~series.missing & ~series.labels]
    threshold = bundle.variant("int8").window_threshold
    over = float(np.mean(kept > threshold))
    assert over <= 0.05 < over + 2 / kept.size
    assert bundle.variant("int8").clip_threshold == threshold
    assert threshold != pytest.approx(load_bundle(ECG).variant("int8").window_threshold)


@pytest.mark.parametrize("bundle", [FAN, ECG])
def test_stored_scores_of_a_training_run(bundle: Path, tmp_path: Path) -> None:
    """The shape `vigil train` writes (audio: clip and window; Donut: window only) is calibrated from."""
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    rng = np.random.default_rng(0)
    scores = {"window": rng.normal(size=200).tolist()}
    if bundle == FAN:
        scores["clip"] = rng.normal(size=10).tolist()
    manifest["calibration"] = {"normal_scores": {v: scores for v in manifest["models"]},
                               "rule": {"kind": "percentile", "value": 95.0},
                               "source": "out-of-fold k=5 by clip"}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    run_vigil("calibrate", str(copy), "--fpr", "0.1", "--force", check=True)
    variant = load_bundle(copy).variant("int8")
    window = np.sort(scores["window"])
    assert variant.window_threshold == window[-21]  # 20 of 200 above
    assert variant.clip_threshold == (np.sort(scores["clip"])[-2] if bundle == FAN else variant.window_threshold)
    history = load_bundle(copy).manifest.to_json()["calibration"]["history"]
    assert history[0]["rule"] == {"kind": "percentile", "value": 95.0}
    assert history[0]["source"] == "out-of-fold k=5 by clip"


@pytest.mark.slow  # calibrates on a long recording
def test_a_long_recording_is_scored_as_clips(fan_clips: list[Path], tmp_path: Path) -> None:
    """40 s in one file (4 DCASE clips end to end) gives the clip and window scores of the 4 clips,
    so that a clip threshold is chosen on clips of the length it decides; a folder stands for its files."""
    import soundfile

    folder = tmp_path / "site"
    folder.mkdir()
    long = np.concatenate([soundfile.read(str(c), dtype="int16")[0] for c in fan_clips[:4]])
    soundfile.write(str(folder / "one long take.wav"), long, 16000, subtype="PCM_16")
    run_vigil("calibrate", str(FAN), str(folder), "--fpr", "0.1", "--out", str(tmp_path / "a"), check=True)
    run_vigil("calibrate", str(FAN), *map(str, fan_clips[:4]), "--fpr", "0.1", "--out", str(tmp_path / "b"),
              check=True)
    a, b = (load_bundle(tmp_path / x).manifest.to_json()["calibration"] for x in "ab")
    assert a["n_files"] == 1 and a["n_clips"] == 4 == b["n_clips"]
    for level in ("clip", "window"):
        np.testing.assert_allclose(a["normal_scores"]["int8"][level], b["normal_scores"]["int8"][level], rtol=1e-6)
    run_vigil("calibrate", str(FAN), str(folder), "--fpr", "0.1", "--clip-seconds", "40", "--out",
              str(tmp_path / "c"), check=True)
    assert load_bundle(tmp_path / "c").manifest.to_json()["calibration"]["n_clips"] == 1
