"""`vigil train audio` options reach the detectors; progress bars only on a terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from tests.conftest import ROOT, VIGIL, run_vigil

pytestmark = pytest.mark.training  # every test fits a model with `vigil train audio`


def test_gmm_options_are_recorded(dcase: Path, tmp_path: Path) -> None:
    out = tmp_path / "gmm"
    result = run_vigil("train", "audio", str(dcase), "--machine-type", "pump", "--detector", "gmm",
                       "--components", "2", "--covariance", "diag", "--out", str(out), "--json", check=True)
    (line,) = result.stdout.splitlines()  # stdout holds only the JSON line
    assert json.loads(line)["detector"] == "gmm"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["detector"]["params"] == {"components": 2, "covariance": "diag"}
    assert manifest["features"]["set"] == "seed" and manifest["detector"]["score"] == "model_output"


def test_kmeans_clusters_and_all_detectors_layout(dcase: Path, tmp_path: Path) -> None:
    out = tmp_path / "km"
    run_vigil("train", "audio", str(dcase), "--machine-type", "pump", "--detector", "kmeans", "--clusters", "3",
              "--out", str(out), check=True)
    assert json.loads((out / "manifest.json").read_text())["detector"]["params"]["clusters"] == 3


def _stderr_on_a_terminal(args: list[str]) -> str:
    """Run vigil with stderr on a pseudo-terminal; return what it wrote there."""
    master, slave = pty.openpty()
    # a fresh pty is 0 x 0 and tqdm draws nothing into zero columns: size it like a terminal
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen([*VIGIL, *args], stdout=subprocess.DEVNULL, stderr=slave, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_and_not_with_json(dcase: Path, tmp_path: Path) -> None:
    args = ["train", "audio", str(dcase), "--machine-type", "pump", "--detector", "kmeans",
            "--out", str(tmp_path / "b")]
    assert "1/1" in _stderr_on_a_terminal(args)  # tqdm's counter
    assert "1/1" not in _stderr_on_a_terminal([*args, "--json", "--force"])  # replaces the first bundle
