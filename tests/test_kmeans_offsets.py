"""The K-means graph exports without SQRT, and the gateway's nearest-offset norm gives K-means' own distance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.detectors.interpreter import TFLiteModel, load_interpreter
from edge.detectors.projection import NearestOffsetDetector
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono

pytestmark = pytest.mark.training  # converts Keras graphs with TensorFlow


def _ops(blob: bytes) -> set[str]:
    import tensorflow as tf

    with open("/dev/null", "w"):
        interpreter = tf.lite.Interpreter(model_content=blob)
    return {d["op_name"] for d in interpreter._get_ops_details()}


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_kmeans_int8_graph_has_no_sqrt_and_scores_the_nearest_centre(dcase: Path, tmp_path: Path,
                                                                      variant: str) -> None:
    from train.detectors import DetectorOptions
    from train.detectors.classical import fit_kmeans
    from train.export import to_tflite

    spec = FeatureSpec.default("seed")
    clips = sorted((dcase / "normal" / "fan").glob("*.wav"))
    x = np.concatenate([spec.compute(load_mono(p, sr=16000)) for p in clips]).astype(np.float32)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    fit, rest = x[::2], x[1::2]
    trained = fit_kmeans((fit - mean) / std, None, DetectorOptions(clusters=3))
    blob = to_tflite(trained.model) if variant == "float32" else to_tflite(trained.model,
                                                                           representative=trained.calibration)
    assert "SQRT" not in _ops(blob)  # tflite-runtime 2.14 has no int8 SQRT
    path = tmp_path / "kmeans.tflite"
    path.write_bytes(blob)
    detector = NearestOffsetDetector(TFLiteModel(load_interpreter(path)), mean, std)
    rows = np.concatenate([rest, rest * 1.5])  # normal windows and windows pushed off the centres
    centres = trained.model.layers[-1].centres.numpy()[0]
    z = (rows - mean) / std
    expected = np.sqrt(((z[:, None, :] - centres[None]) ** 2).sum(axis=-1)).min(axis=1)
    got = detector.score(rows)
    assert got.shape == expected.shape
    # int8: every offset is rounded to one output step, sized for rows 4x the normal spread (headroom)
    np.testing.assert_allclose(got, expected, rtol=1e-5 if variant == "float32" else 0.1)
    ranks = np.argsort(np.argsort(got)), np.argsort(np.argsort(expected))
    assert np.corrcoef(*ranks)[0, 1] > 0.99
