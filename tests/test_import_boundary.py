"""The gateway package must never pull desktop-only packages in."""

from __future__ import annotations

import subprocess
import sys

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

