"""The edge-legacy install: tflite-runtime 2.14 with NumPy 1.x scores as LiteRT does.

A fresh virtual environment gets exactly what the `edge-legacy` extra needs for scoring (numpy<2,
tflite-runtime 2.14, scipy); the project is put on PYTHONPATH. Its clip score of a bundled sample
must equal LiteRT's within 1e-3 relative (different int8 kernels round a few values differently).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from edge.bundle.loader import load_bundle
from edge.detectors.base import load_detector
from edge.pipeline.file_scoring import score_file
from tests.conftest import ROOT, starts_peer

SAMPLE = sorted((ROOT / "edge" / "data" / "samples" / "valve").glob("*.wav"))[0]
BUNDLE = ROOT / "edge" / "data" / "bundles" / "valve"
SCRIPT = (
    "import numpy, sys\n"
    "from edge.detectors.interpreter import interpreter_class\n"
    "from edge.bundle.loader import load_bundle\nfrom edge.detectors.base import load_detector\n"
    "from edge.pipeline.file_scoring import score_file\n"
    "b = load_bundle(sys.argv[1])\n"
    "print(numpy.__version__, interpreter_class()[1], score_file(b, load_detector(b), sys.argv[2]).clip_score)\n"
)


@pytest.mark.peer  # pip installs tflite-runtime from the package index into a fresh venv
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="tflite-runtime 2.14 has wheels up to Python 3.11")
def test_tflite_runtime_with_numpy1_scores_like_litert(tmp_path: Path) -> None:
    env_dir = tmp_path / "legacy"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    starts_peer("pip (the package index)")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "numpy<2", "tflite-runtime==2.14.0", "scipy",
                    "soundfile"], check=True, timeout=600)
    out = subprocess.run([str(python), "-c", SCRIPT, str(BUNDLE), str(SAMPLE)], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True, timeout=120)
    numpy_version, backend, score = out.stdout.split()
    assert numpy_version.startswith("1.") and backend == "tflite-runtime"
    bundle = load_bundle(BUNDLE)
    litert = score_file(bundle, load_detector(bundle), SAMPLE).clip_score
    assert float(score) == pytest.approx(litert, rel=1e-3)
