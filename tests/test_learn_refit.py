"""The gateway's NumPy refit (edge.learn.refit) against the train side's fit, and the learned version's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle, sha256_file
from edge.detectors.base import load_detector
from edge.detectors.fused import fuse_scores
from edge.errors import BundleError
from edge.io.wav import load_mono
from edge.learn.learned_bundle import check_learnable, write_learned
from edge.learn.refit import contiguous_folds, ledoit_wolf, members_of, out_of_fold, project
from edge.learn.versions import MARKER, history_dir, rollback, switch, versions
from tests.conftest import run_vigil

ROOT = Path(__file__).resolve().parents[1]
SLIDER = ROOT / "edge" / "data" / "bundles" / "slider"
TRAIN = ROOT.parent / "shared" / "data" / "dcase2020-slider-id00-train"


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    """Feature rows (n, 256) of 3 slider training clips in time order, as a stream hears them."""
    spec = load_bundle(SLIDER).spec
    return np.concatenate([spec.compute(load_mono(p, sr=spec.sr)) for p in sorted(TRAIN.glob("*.wav"))[:3]])


@pytest.mark.parametrize("n,d", [(200, 40), (50, 128)])
def test_ledoit_wolf_matches_sklearn(n: int, d: int) -> None:
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(d)
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3.0
    location, covariance, shrinkage = ledoit_wolf(x)
    reference = LedoitWolf().fit(x)
    assert shrinkage == pytest.approx(reference.shrinkage_, rel=1e-9)
    assert np.allclose(location, reference.location_) and np.allclose(covariance, reference.covariance_)


def test_folds_are_contiguous_time_blocks_and_no_window_scores_itself(windows: np.ndarray) -> None:
    folds = contiguous_folds(windows.shape[0])
    assert np.array_equal(np.concatenate(folds), np.arange(windows.shape[0]))
    assert all(np.all(np.diff(f) == 1) for f in folds)
    bundle = load_bundle(SLIDER)
    x = (windows - bundle.manifest.mean) / bundle.manifest.std
    members = check_learnable(bundle)
    oof = out_of_fold(x, members)
    in_sample = {m.name: project(x, m.fit(x)) for m in members}
    # held out, a window is farther from the fit than when it is fitted on: the out-of-fold scores are larger
    assert all(oof[name].mean() > in_sample[name].mean() for name in oof)


def test_learned_version_switches_scores_in_numpy_and_rolls_back(windows: np.ndarray, tmp_path: Path) -> None:
    bundle_path = tmp_path / "slider"
    shutil.copytree(SLIDER, bundle_path)
    original = {p.name: sha256_file(p) for p in bundle_path.iterdir()}
    staging = tmp_path / ".staging"
    staging.mkdir()
    t = np.arange(windows.shape[0]) * 0.512
    learned = write_learned(load_bundle(bundle_path), windows, t, staging, stream="s", learned_s=30.0, version=2)
    assert learned.default_variant == "float32" and set(learned.variants) == {"float32"}
    assert "no TFLite converter" in learned.manifest.detector.extra["default_variant_reason"]
    switch(bundle_path, staging)
    current, kept = versions(bundle_path)
    assert current.manifest.provenance["learned"]["windows"] == windows.shape[0] and list(kept) == [1]
    # the gateway's FusedDetector on the .npz members scores as the refit's own float64 arithmetic
    detector = load_detector(current)
    m = current.manifest
    x = (windows - m.mean) / m.std
    from edge.detectors.array_projection import read_projection

    projections = {name: read_projection(path) for name, path in current.variant().paths.items()}
    expected = fuse_scores({n: project(x, (mu.astype(np.float64), w.astype(np.float64))) for n, (mu, w) in
                     projections.items()}, current.variant().entry.extra["fusion"], m.detector_params["rule"])
    assert np.allclose(detector.score(windows), expected, rtol=1e-4, atol=1e-4)
    # the thresholds: the bundle's rule (95th percentile) on out-of-fold scores, which lie above in-sample ones
    threshold = current.variant().window_threshold
    stored = current.manifest.calibration.normal_scores["float32"].window  # type: ignore[union-attr]
    assert threshold == pytest.approx(float(np.percentile(stored, 95.0)))
    assert np.mean(stored) > np.mean(expected) and np.mean(expected > threshold) <= 0.05
    result = run_vigil("bundle", "history", str(bundle_path))
    assert result.returncode == 0 and "learned" in result.stdout and "trained" in result.stdout
    assert rollback(bundle_path) == (2, 1)
    assert {p.name: sha256_file(p) for p in bundle_path.iterdir()} == original  # the trained version, as it was
    assert rollback(bundle_path, 2) == (1, 2) and load_bundle(bundle_path).default_variant == "float32"
    assert sorted(p.name for p in history_dir(bundle_path).iterdir()) == ["1", MARKER]


def test_members_of_refits_an_older_maha_and_kmeans_bundle_and_names_a_bad_envelope_entry() -> None:
    """A fused bundle trained before the envelope member (maha on the 256 log-mel columns, K-means with one
    centre on the 17 after them) still learns; an envelope entry without its coefficients is refused."""
    x = np.random.default_rng(0).normal(size=(400, 273))
    params = {"members": [{"name": "maha", "columns": [0, 256], "rms": [1.0, 1.0]},
                          {"name": "kmeans", "columns": [256, 273], "clusters": 1}]}
    maha, kmeans = members_of(params, np.ones(273))
    mu, w = kmeans.fit(x)
    np.testing.assert_allclose(project(x, (mu, w)), np.linalg.norm(x[:, 256:] - x[:, 256:].mean(axis=0), axis=1),
                               rtol=1e-5)
    assert project(x, maha.fit(x)).shape == (400,) and not np.any(maha.fit(x)[1][256:])
    bad = {"members": [{"name": "maha-envelope", "columns": [0, 256]}]}
    with pytest.raises(ValueError, match="maha-envelope: coefficients None"):
        members_of(bad, np.ones(256))


def test_history_refuses_what_vigil_did_not_write(tmp_path: Path) -> None:
    bundle_path = tmp_path / "slider"
    shutil.copytree(SLIDER, bundle_path)
    foreign = history_dir(bundle_path)
    (foreign / "1").mkdir(parents=True)
    (foreign / "1" / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="not written by vigil"):
        rollback(bundle_path)
    staging = tmp_path / "incoming"
    shutil.copytree(SLIDER, staging)
    with pytest.raises(BundleError, match="not written by vigil"):
        switch(bundle_path, staging)
    assert (foreign / "1" / "notes.txt").read_text() == "mine" and (bundle_path / "manifest.json").is_file()
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "data.txt").write_text("x")
    result = run_vigil("bundle", "rollback", str(plain))
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1 and "not a bundle" in result.stderr
    assert (plain / "data.txt").read_text() == "x" and not history_dir(plain).exists()


@pytest.mark.training
@pytest.mark.parametrize("name", ["maha", "maha-envelope"])
def test_numpy_refit_scores_as_the_trained_tflite_float32_member(windows: np.ndarray, name: str) -> None:
    from edge.detectors.interpreter import TFLiteModel, load_interpreter
    from train.detectors import DetectorOptions
    from train.export import to_tflite
    from train.fused_audio import member_kind

    bundle = load_bundle(SLIDER)
    x = ((windows - bundle.manifest.mean) / bundle.manifest.std).astype(np.float32)
    member = next(m for m in check_learnable(bundle) if m.name == name)
    # the trained member's band-means covariance comes from frames; the gateway's from the windows' band means
    scale = {"scale": (bundle.manifest.mean, bundle.manifest.std)} if name == "maha-envelope" else {}
    trained = member_kind(name).fit(x, None, DetectorOptions(), frames=x[:, :128], **scale)
    path = Path(__file__).parent / f".{name}_float32.tflite"
    try:
        path.write_bytes(to_tflite(trained.model))
        y = TFLiteModel(load_interpreter(path))(x)
    finally:
        path.unlink(missing_ok=True)
    tflite_scores = np.sqrt(np.sum(y.astype(np.float64) ** 2, axis=1))
    assert np.allclose(project(x.astype(np.float64), member.fit(x.astype(np.float64))), tflite_scores, rtol=2e-3)


def test_switch_exchanges_the_two_folders_in_one_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """renameat2(RENAME_EXCHANGE) swaps them at once: the two-rename fallback (the bundle path absent for an
    instant) is not taken on this file system."""
    from edge.learn import versions as module

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "which").write_text("a")
    (b / "which").write_text("b")

    def no_rename(*_: object) -> None:
        raise AssertionError("fell back to two renames")

    monkeypatch.setattr(Path, "rename", no_rename)
    module._exchange(a, b)
    assert (a / "which").read_text() == "b" and (b / "which").read_text() == "a"
