"""The gateway package must never pull desktop-only packages in."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_importing_edge_loads_no_training_stack() -> None:
    code = (
        "import sys, edge, edge.cli, edge.pipeline.stream, edge.pipeline.file_scoring, edge.detectors.base, "
        "edge.bundle.loader, edge.sources.base, edge.features.audio, edge.detectors.interpreter, firmware_bridge\n"
        "heavy = ('tensorflow', 'keras', 'sklearn', 'matplotlib', 'librosa', 'train')\n"
        "bad = sorted(m for m in heavy if m in sys.modules)\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_interpreter_factory_prefers_litert() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from edge.detectors.interpreter import interpreter_class; "
         "print(interpreter_class()[1], 'tensorflow' in sys.modules)"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    assert out.stdout.split() == ["ai-edge-litert", "False"]


@pytest.mark.training  # imports TensorFlow (seconds)
def test_tensorflow_fallback_loads_a_bundled_model_as_litert_does() -> None:
    """The desktop fallback (tf.lite.Interpreter) scores a bundled model as LiteRT does; TF 2.21's
    `tensorflow.lite` module has no Interpreter of its own, which broke `prefer="tensorflow"`."""
    import numpy as np

    from edge.detectors.interpreter import TFLiteModel, interpreter_class, load_interpreter

    model = next((ROOT / "edge" / "data" / "bundles" / "fan").rglob("*.tflite"))
    assert interpreter_class("tensorflow")[1] == "tensorflow"
    tf_model = TFLiteModel(load_interpreter(model, prefer="tensorflow"))
    interpreter = load_interpreter(model, prefer="ai-edge-litert")
    shape = interpreter.get_input_details()[0]["shape"][1:]
    litert = TFLiteModel(interpreter)
    rows = np.random.default_rng(0).normal(size=(5, *shape)).astype(np.float32)
    for a, b in zip(tf_model.run(rows), litert.run(rows), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
