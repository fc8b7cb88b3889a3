"""The edge-legacy install: tflite-runtime 2.14 with NumPy 1.x.

A fresh virtual environment gets what the `edge-legacy` extra needs for scoring (numpy<2, tflite-runtime 2.14,
scipy, soundfile, pyedflib); the project is put on PYTHONPATH.
- The bundled fetal-ECG Donut bundle scores there as LiteRT does: mean score within 1e-3 relative, point scores
  correlated over 0.999 (different int8 kernels round a few values differently).
- The bundled machine-sound bundles (the fused default) score there as LiteRT does: the K-means member's int8
  graph needs no SQRT (version 2 of that op, int8, is missing in tflite-runtime 2.14).
- The third runtime, TensorFlow's interpreter (the desktop fallback), scores a bundled model as LiteRT does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, starts_peer

DATA = ROOT / "edge" / "data"
ECG = DATA / "samples" / "ecg" / "r10_60s.edf"
WAVS = sorted((DATA / "samples" / "valve").glob("*.wav"))
BACKEND = "from edge.detectors.interpreter import interpreter_class; import numpy; " \
          "print(numpy.__version__, interpreter_class()[1])"


def scores(python: Path, env: dict[str, str]) -> np.ndarray:
    out = subprocess.run([str(python), "-m", "edge.cli", "score", "--bundle", str(DATA / "bundles" / "ecg-donut"),
                          str(ECG), "--json"], cwd=ROOT, capture_output=True, text=True, env=env, check=True,
                         timeout=120)
    return np.array([p["score"] for p in json.loads(out.stdout)["points"]])


def window_scores(python: Path, env: dict[str, str]) -> np.ndarray:
    """The bundled valve bundle's window scores of its sample clips (one JSON line per clip)."""
    out = subprocess.run([str(python), "-m", "edge.cli", "score", "--bundle", str(DATA / "bundles" / "valve"),
                          *map(str, WAVS), "--json"], cwd=ROOT, capture_output=True, text=True, env=env, check=True,
                         timeout=120)
    return np.concatenate([json.loads(line)["window_scores"] for line in out.stdout.splitlines()])


@pytest.mark.peer  # pip installs tflite-runtime from the package index into a fresh venv
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="tflite-runtime 2.14 has wheels up to Python 3.11")
def test_tflite_runtime_with_numpy1(tmp_path: Path) -> None:
    env_dir = tmp_path / "legacy"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    starts_peer("pip (the package index)")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "numpy<2", "tflite-runtime==2.14.0", "scipy",
                    "soundfile", "pyedflib"], check=True, timeout=600)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    numpy_version, backend = subprocess.run([str(python), "-c", BACKEND], capture_output=True, text=True, env=env,
                                            check=True, timeout=60).stdout.split()
    assert numpy_version.startswith("1.") and backend == "tflite-runtime"
    legacy, litert = scores(python, env), scores(Path(sys.executable), env)
    assert legacy.size == litert.size > 900
    assert legacy.mean() == pytest.approx(litert.mean(), rel=1e-3)
    assert np.corrcoef(legacy, litert)[0, 1] > 0.999  # a few points differ by up to some %
    legacy, litert = window_scores(python, env), window_scores(Path(sys.executable), env)
    assert legacy.size == litert.size >= 4 * len(WAVS)
    # fused z-scores sit around 0: compare in units of the members' normal spread, not relatively
    np.testing.assert_allclose(legacy, litert, atol=0.05)


@pytest.mark.training  # imports TensorFlow (seconds)
def test_tensorflow_fallback_loads_a_bundled_model_as_litert_does() -> None:
    """The desktop fallback (tf.lite.Interpreter) scores a bundled model as LiteRT does; TF 2.21's
    `tensorflow.lite` module has no Interpreter of its own, which broke `prefer="tensorflow"`."""
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
