"""The contract every detector kind keeps (river-style checks), on real clips, 3-epoch models.

- deterministic: the same seed and clips give the same scores;
- scores shaped as the windows of the detector's feature spec;
- float32 and int8 window scores rank-correlated: Spearman > 0.75 on the test clips;
- anomalous clips score higher than normal clips (mean clip score) for at least one of two types
  (slider: one machine, 10 normal clips fitted, its own normal and anomalous clips tested);
- the bundle round-trips: loaded from disk it verifies and reproduces the scores in its manifest;
- every quantized model is integer-only (int8 tensors plus int32 biases and shapes; the SVM's 16x8
  model int16 activations and int64 biases), nothing float.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats

from edge.bundle.loader import load_bundle
from edge.detectors.base import load_detector
from edge.pipeline.file_scoring import score_file
from train.audio import AudioTrainConfig, FeatureCache, train_bundle
from train.dataset import Clip, Split, discover_clips
from train.detectors import DETECTOR_NAMES, DetectorOptions, registry

TYPES = ("slider", "toycar")
# a reserved test share so the contract sees normal test clips; one fit per kind (in-sample thresholds:
# the out-of-fold protocol is tested in test_fewshot.py)
CONFIG = AudioTrainConfig(detector="all", options=DetectorOptions(epochs=3), test_fraction=0.25, folds=1)


def one_slider(dcase: Path) -> Split:
    """One real machine, as a user has it: 10 normal clips of (probable) slider id 00 to fit on;
    its 5 normal and 4 anomalous clips of dev-samples + lite to test; the svm's anomalous fit clips
    are the other slider ids' (never tested)."""
    train = sorted((dcase.parent / "dcase2020-slider-id00-train").glob("*.wav"))[:10]
    clips = discover_clips(dcase, "slider") + discover_clips(dcase.parent / "dcase2020-task2-lite", "slider")
    return Split(fit=[Clip(p, 0, "slider", "id_00") for p in train], threshold=[],
                 test=[c for c in clips if c.machine_id == "id_00"],
                 fit_anomalous=[c for c in clips if c.label == 1 and c.machine_id != "id_00"])


@pytest.fixture(scope="session")
def trained(dcase: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every kind trained on one split of each type: {type: (split, {kind: (bundle path, manifest)})}."""
    root = tmp_path_factory.mktemp("contract")
    out: dict[str, Any] = {}
    for machine in TYPES:
        split = one_slider(dcase) if machine == "slider" else CONFIG.split(discover_clips(dcase, machine), seed=0)
        cache = FeatureCache()
        bundles = {}
        for kind in registry().values():
            path = root / machine / kind.name
            bundles[kind.name] = (path, train_bundle(kind, split, path, CONFIG, cache, str(dcase)))
        out[machine] = (split, bundles)
    return out


def window_scores(path: Path, variant: str, split: Split) -> list[np.ndarray]:
    bundle = load_bundle(path)
    detector = load_detector(bundle, variant)
    return [score_file(bundle, detector, c.path).window_scores for c in split.test]


@pytest.mark.slow  # imports every kind's trainer: TensorFlow and scikit-learn
def test_registry_lists_every_kind() -> None:
    assert tuple(registry()) == DETECTOR_NAMES


@pytest.mark.parametrize("kind", DETECTOR_NAMES)
def test_same_seed_same_scores(kind: str, trained: dict[str, Any], dcase: Path, tmp_path: Path) -> None:
    split, bundles = trained["slider"]
    again = train_bundle(registry()[kind], split, tmp_path / kind, CONFIG, FeatureCache(), str(dcase))
    np.testing.assert_allclose(again.metrics["float32"]["clip_scores"],
                               bundles[kind][1].metrics["float32"]["clip_scores"], rtol=1e-6)


@pytest.mark.parametrize("kind", DETECTOR_NAMES)
def test_scores_are_shaped_as_the_windows(kind: str, trained: dict[str, Any]) -> None:
    split, bundles = trained["slider"]
    spec = load_bundle(bundles[kind][0]).spec
    for clip, scores in zip(split.test, window_scores(bundles[kind][0], "int8", split), strict=True):
        assert scores.dtype == np.float32 and scores.shape == (spec.n_windows(160000),), clip.path
        assert np.isfinite(scores).all()


@pytest.mark.parametrize("kind", DETECTOR_NAMES)
def test_int8_ranks_windows_like_float32(kind: str, trained: dict[str, Any]) -> None:
    if registry()[kind].default_variant == "float32":  # the bundle must then say so and ship float32
        assert trained["slider"][1][kind][1].default_variant == "float32"
        return
    for machine in TYPES:
        split, bundles = trained[machine]
        f32 = np.concatenate(window_scores(bundles[kind][0], "float32", split))
        i8 = np.concatenate(window_scores(bundles[kind][0], "int8", split))
        assert scipy.stats.spearmanr(f32, i8).statistic > 0.75, machine


@pytest.mark.parametrize("kind", DETECTOR_NAMES)
def test_anomalous_clips_score_higher_for_some_type(kind: str, trained: dict[str, Any]) -> None:
    higher = []
    for machine in TYPES:
        metrics = trained[machine][1][kind][1].metrics
        labels = np.array(metrics["labels"])
        scores = np.array(metrics["float32"]["clip_scores"])
        higher.append(scores[labels == 1].mean() > scores[labels == 0].mean())
    assert any(higher)


@pytest.mark.parametrize("kind", DETECTOR_NAMES)
def test_bundle_round_trip(kind: str, trained: dict[str, Any]) -> None:
    split, bundles = trained["toycar"]
    path, manifest = bundles[kind]
    bundle = load_bundle(path)
    assert bundle.manifest == manifest and bundle.detector_kind == kind
    assert bundle.spec.to_dict() == manifest.features
    clip_means = [float(s.mean()) for s in window_scores(path, "int8", split)]
    np.testing.assert_allclose(clip_means, manifest.metrics["int8"]["clip_scores"], rtol=1e-6)


@pytest.mark.parametrize("kind", DETECTOR_NAMES)
def test_quantized_models_are_integer_only(kind: str, trained: dict[str, Any]) -> None:
    entry = trained["slider"][1][kind][1].models["int8"]
    allowed = {"int8", "int32"} | ({"int16", "int64"} if registry()[kind].quantization == "int16x8" else set())
    assert entry.tensor_dtypes is not None and set(entry.tensor_dtypes) <= allowed and entry.tensor_dtypes["int8"] > 0
    assert entry.quantization.startswith("int8 weights")


def test_svm_never_fits_on_a_test_clip(trained: dict[str, Any]) -> None:
    for machine in TYPES:
        split, bundles = trained[machine]
        prov = bundles["svm"][1].provenance
        fitted = {f["sha256"] for f in prov["fit_files"]}
        assert any(c.label == 1 for c in split.fit_anomalous)
        assert fitted.isdisjoint({c.sha256() for c in split.test})
