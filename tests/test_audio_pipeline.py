"""Train -> bundle -> gateway scoring, end to end on real clips, through the `vigil` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from edge.bundle.loader import load_bundle, sha256_file
from edge.detectors.base import Detector, load_detector
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from edge.pipeline.decider import Decider
from edge.pipeline.file_scoring import score_file
from edge.pipeline.stream import Stream
from edge.sources.base import Block
from tests.conftest import run_vigil


def test_bundle_is_complete_and_verified(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    m = bundle.manifest.to_json()
    assert m["modality"] == "audio" and m["machine_type"] == "valve" and m["detector"]["kind"] == "dense-ae"
    assert bundle.default_variant == "int8" and set(bundle.variants) == {"int8", "float32"}
    assert m["features"]["set"] == "logmel" and len(m["normalization"]["mean"]) == 640
    for name, entry in m["models"].items():
        assert sha256_file(tiny_bundle / entry["file"]) == entry["sha256"]
        assert entry["threshold"]["window"] > 0 and entry["threshold"]["clip"] > 0, name
    assert m["models"]["int8"]["bytes"] < m["models"]["float32"]["bytes"] / 3
    prov = m["provenance"]
    seen = {f["sha256"] for f in prov["fit_files"] + prov["threshold_files"]}
    test = {f["sha256"] for f in prov["reserved_test_files"]}
    assert seen and test and not seen & test  # split by clip: no clip in two roles
    assert m["threshold_method"]["percentile"] == 95.0
    assert m["metrics"]["int8"]["n_anomalous"] == 8


def test_int8_model_has_integer_input_and_output(tiny_bundle: Path) -> None:
    from edge.detectors.interpreter import load_interpreter

    interp = load_interpreter(tiny_bundle / "model_int8.tflite")
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert interp.get_output_details()[0]["dtype"] == np.int8


def test_stream_scores_equal_whole_clip_scores(tiny_bundle: Path, dcase: Path) -> None:
    """Block-by-block replay through the ring buffer gives the windows a whole-clip pass gives."""
    bundle = load_bundle(tiny_bundle)
    detector = load_detector(bundle, "float32")
    path = sorted((dcase / "anomalous" / "valve").glob("*.wav"))[0]
    streamed = score_file(bundle, detector, path)
    whole = detector.score(bundle.spec.compute(load_mono(path, sr=16000)))
    assert streamed.window_scores.shape == whole.shape == (bundle.spec.n_windows(160000),)
    np.testing.assert_allclose(streamed.window_scores, whole, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(streamed.window_starts_s, np.arange(whole.size) * 512 / 16000)


def test_int8_scores_rank_like_float32(tiny_bundle: Path, dcase: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    paths = sorted((dcase / "anomalous" / "valve").glob("*.wav"))[:3]
    f32 = np.concatenate([score_file(bundle, load_detector(bundle, "float32"), p).window_scores for p in paths])
    i8 = np.concatenate([score_file(bundle, load_detector(bundle, "int8"), p).window_scores for p in paths])
    assert scipy.stats.spearmanr(f32, i8).statistic > 0.9


def test_score_json_contract(tiny_bundle: Path, dcase: Path) -> None:
    paths = sorted((dcase / "anomalous" / "valve").glob("*.wav"))[:2]
    out = run_vigil("score", "--bundle", str(tiny_bundle), *map(str, paths), "--json", check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["file"] for r in rows] == list(map(str, paths))
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    for row in rows:
        assert row["threshold"] == manifest["models"]["int8"]["threshold"]["clip"]  # int8 is the default
        assert len(row["window_scores"]) == 307
        assert row["clip_score"] == np.mean(row["window_scores"]).item() or abs(
            row["clip_score"] - np.mean(row["window_scores"])) < 1e-5
        assert row["decision"] == ("anomaly" if row["clip_score"] > row["threshold"] else "normal")


def test_bench_reports_its_figures(tiny_bundle: Path, dcase: Path) -> None:
    path = sorted((dcase / "normal" / "valve").glob("*.wav"))[0]
    out = run_vigil("bench", "--bundle", str(tiny_bundle), str(path), "--repeat", "2", "--json", check=True)
    report = json.loads(out.stdout)
    assert report["audio_seconds"] == 20.0 and report["windows"] == 2 * 307
    assert 0 < report["real_time_factor"] < 1 and report["peak_rss_mb"] > 10
    assert report["real_time_factor"] == pytest.approx(report["cpu_seconds"] / report["audio_seconds"], rel=0.01)


def test_evaluate_writes_a_report_on_unseen_clips(tiny_bundle: Path, dcase: Path, tmp_path: Path) -> None:
    out = run_vigil("evaluate", str(dcase), "--bundle", str(tiny_bundle), "--report", str(tmp_path), "--json",
                    check=True)
    result = json.loads(out.stdout)
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    n_seen = len(manifest["provenance"]["fit_files"]) + len(manifest["provenance"]["threshold_files"])
    assert result["left_out_seen_clips"] == n_seen
    for variant in ("int8", "float32"):
        m = result["variants"][variant]
        assert m["n_normal"] + m["n_anomalous"] == 16 - n_seen
        assert 0 <= m["auc"] <= 1 and 0 <= m["f1"] <= 1
    for name in ("report.md", "metrics.json", "scores.csv", "roc.png"):
        assert (tmp_path / name).stat().st_size > 100
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert "| int8 |" in (tmp_path / "report.md").read_text()


def test_features_command_writes_npy(dcase: Path, tmp_path: Path) -> None:
    path = sorted((dcase / "normal" / "fan").glob("*.wav"))[0]
    run_vigil("features", str(path), "--set", "seed", "--out", str(tmp_path / "f.npy"), check=True)
    features = np.load(tmp_path / "f.npy")
    assert features.shape == (19, 17) and features.dtype == np.float32


class RecordingDetector(Detector):
    """A test double that scores each vector by its sum and keeps what it was given."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray:
        assert missing is None  # a kind that does not handle missing input is given complete rows only
        self.seen.append(features)
        return features.sum(axis=1).astype(np.float32)


def test_stream_builds_sequences_as_the_spec_does(dcase: Path) -> None:
    """Streamed in 0.3 s blocks, a 10-window sequence spec yields exactly spec.compute's rows."""
    spec = FeatureSpec.default("seed", sequence=10)
    y = load_mono(sorted((dcase / "normal" / "pump").glob("*.wav"))[0], sr=16000)
    detector = RecordingDetector()
    stream = Stream(spec, detector, Decider(float("inf")))
    for start in range(0, y.size, 4800):
        stream.push(Block(start, y[start : start + 4800, None]))
    streamed = np.concatenate(detector.seen)
    whole = spec.compute(y)
    assert streamed.shape == whole.shape == (10, 170) and stream.windows == 10
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-4)


def test_windows_touching_missing_samples_are_skipped(dcase: Path) -> None:
    spec = FeatureSpec.default("seed", sequence=3)
    y = load_mono(sorted((dcase / "normal" / "pump").glob("*.wav"))[0], sr=16000)
    missing = np.zeros(y.size, dtype=bool)
    missing[40_000:40_010] = True  # inside base windows 4 and 5 (samples [32000, 48000) and [40000, 56000))
    detector = RecordingDetector()
    stream = Stream(spec, detector, Decider(float("inf")))
    outs = [stream.push(Block(s, y[s : s + 8000, None], missing[s : s + 8000])) for s in range(0, y.size, 8000)]
    starts = np.concatenate([o.starts for o in outs])
    # the sequences of 3 that start at base windows 2..5 hold a dirty window
    assert starts.tolist() == [0, 8000] + [8000 * k for k in range(6, 17)]
    assert stream.skipped_windows == 4 and stream.windows == 17
