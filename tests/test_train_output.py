"""What `vigil train` prints: each variant's threshold and what it catches
at it on held-out data, no TensorFlow/absl/converter noise unless -v, numbers for people."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_vigil
from tests.test_user_mistakes import NAB_TRAIN

NOISE = ("oneDNN", "cuda", "absl", "fully_quantize", "UserWarning")


def test_train_audio_prints_threshold_and_detections_quietly(tiny_bundle: Path) -> None:
    stdout, stderr = ((tiny_bundle.parent / name).read_text() for name in ("stdout.txt", "stderr.txt"))
    lines = stdout.splitlines()
    for variant in ("float32", "int8"):
        line = next(x for x in lines if x.strip().startswith(variant))
        m = re.search(r"AUC (\d\.\d{3}), threshold (\S+): detects (\d+) of (\d+) anomalous clips? \(\d+ %\), "
                      r"flags (\d+) of (\d+) normal clips?", line)
        assert m, line
        assert int(m.group(3)) <= int(m.group(4)) and int(m.group(5)) <= int(m.group(6))
    assert not any(word in stderr for word in NOISE), stderr  # quiet by default


@pytest.mark.training  # `vigil train kpi`: Donut
def test_train_kpi_prints_held_out_counts_and_verbose_shows_noise(tmp_path: Path) -> None:
    out = run_vigil("-v", "train", "kpi", str(NAB_TRAIN), "--epochs", "1", "--window", "30", "--out",
                    str(tmp_path / "b"), check=True)
    assert "{" not in out.stdout  # no Python dict
    for variant in ("float32", "int8"):
        line = next(x for x in out.stdout.splitlines() if x.strip().startswith(variant))
        assert re.search(r"threshold -?\d+\.\d{4}: no labelled anomalous points held out, flags \d+ of \d+ normal "
                         r"points \(\d+ %\)", line), line
    assert any(word in out.stderr for word in NOISE), out.stderr  # -v shows TensorFlow's own lines


def test_quiet_training_still_shows_vigils_own_notices() -> None:
    """Native stderr (where TensorFlow's C++ logs go) is held back; vigil's log lines are not."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import logging, os, warnings\n"
            "logging.basicConfig(format='vigil: %(message)s')\n"
            "from train.quiet import quiet_native\n"
            "with quiet_native(False):\n"
            "    logging.getLogger('edge').warning('resampling notice')\n"
            "    os.write(2, b'I0000 oneDNN custom operations are on\\n')\n"
            "    warnings.warn('No artists with labels found to put in legend')\n")
    err = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stderr
    assert "vigil: resampling notice" in err and "oneDNN" not in err and "No artists" not in err, err
