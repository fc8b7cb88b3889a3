"""The fused machine-sound detector's gateway side: its feature set and its label-free fusion (no training)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.detectors.base import Detector, load_detector
from edge.detectors.fused import FusedDetector
from edge.errors import BundleError
from edge.features.audio import seed_windows
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from tests.conftest import ROOT


class _Column(Detector):
    """A stand-in member: the score of row i is column `col` of the row."""

    def __init__(self, col: int) -> None:
        self.col = col

    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray:
        return features[:, self.col].astype(np.float32)


def test_logmel_stats_seed_windows_hold_both_sets_on_the_same_samples(dcase: Path) -> None:
    y = load_mono(sorted((dcase / "normal" / "fan").glob("*.wav"))[0], sr=16000)
    spec = FeatureSpec.default("logmel-stats-seed")
    x = spec.compute(y)
    assert x.shape == (spec.n_windows(y.size), spec.dim) == (spec.n_windows(y.size), 256 + 17)
    np.testing.assert_array_equal(x[:, :256], FeatureSpec.default("logmel-stats").compute(y))
    # the write-up's 17 features on each log-mel window's own samples (16896 every 8192)
    start = 4 * spec.hop_samples
    one = seed_windows(y[start : start + spec.window_samples], sr=16000, window_s=spec.window_samples / 16000)
    np.testing.assert_allclose(x[4, 256:], one[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("rule", "expected"), [("mean", [-0.5, 2.5]), ("max", [0.0, 4.0]), ("min", [-1.0, 1.0])])
def test_members_are_z_normalised_then_fused_by_the_rule(rule: str, expected: list[float]) -> None:
    rows = np.array([[3.0, 5.0], [6.0, 30.0]])  # member a reads column 0, b column 1
    scales = {"a": (3.0, 3.0), "b": (10.0, 5.0)}  # z: a = [0, 1], b = [-1, 4]
    fused = FusedDetector({"a": _Column(0), "b": _Column(1)}, scales, rule)
    out = fused.score(rows)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected)
    assert fused.score(np.empty((0, 2))).shape == (0,)


def test_the_member_that_heard_a_row_most_is_named_with_every_z() -> None:
    scales = {"a": (3.0, 3.0), "b": (10.0, 5.0)}
    fused = FusedDetector({"a": _Column(0), "b": _Column(1)}, scales, "max")
    assert fused.attribution(np.array([6.0, 30.0])) == {"member": "b", "z": {"a": 1.0, "b": 4.0}}
    assert fused.attribution(np.array([15.0, 10.0])) == {"member": "a", "z": {"a": 4.0, "b": 0.0}}


def test_fusion_refuses_an_unknown_rule_or_unscaled_member() -> None:
    with pytest.raises(ValueError, match="rule 'median'"):
        FusedDetector({"a": _Column(0)}, {"a": (0.0, 1.0)}, "median")
    with pytest.raises(ValueError, match="must match"):
        FusedDetector({"a": _Column(0), "b": _Column(1)}, {"a": (0.0, 1.0)}, "mean")


def test_a_bundle_without_a_members_scales_is_refused_naming_the_field(tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(ROOT / "edge" / "data" / "bundles" / "fan", tmp_path / "fan"))
    assert isinstance(load_detector(load_bundle(bundle)), FusedDetector)
    raw = json.loads((bundle / "manifest.json").read_text())
    variant = raw["default_variant"]
    del raw["models"][variant]["fusion"]["maha-envelope"]
    (bundle / "manifest.json").write_text(json.dumps(raw))
    expected = rf"models\.{variant}\.fusion\.maha-envelope: None \(expected \[mean, std > 0\]\)"
    with pytest.raises(BundleError, match=expected):
        load_detector(load_bundle(bundle))


def test_logmel_stats_seed_is_explained_by_its_bands_never_by_the_17_features() -> None:
    from edge.features.explain import Explainer

    spec = FeatureSpec.default("logmel-stats-seed")
    explain = Explainer(spec, np.zeros(spec.dim), np.ones(spec.dim))
    row = np.zeros(spec.dim)
    row[2 * spec.n_mels] = 50.0  # the first of the 17 features far off: no band moved
    assert explain(row) == []
    row[spec.n_mels + 40] = 3.0  # band 40's fluctuation
    (first, *_) = explain(row)
    assert first["bands"][0] <= 40 <= first["bands"][1] and first["share"] == 1.0
