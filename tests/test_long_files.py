"""Memory does not grow with the file (issue 10, item 5): `vigil features` and `vigil score` peak at
about the same RSS on 20 seconds and on 8 minutes of real audio. (Before, both loaded the whole
file: features on 8 minutes peaked some 500 MB above the short clip.) Figures for 10 min to 2 h:
benchmarks/long_files.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from benchmarks.long_files import make_wav
from tests.conftest import ROOT, VIGIL

BUNDLE = ROOT / "edge" / "data" / "bundles" / "fan"


def peak_rss_mb(*args: str) -> float:
    proc = subprocess.Popen([*VIGIL, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read().decode() if proc.stderr else ""
    return usage.ru_maxrss / 1024


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("long")
    return make_wav(folder / "short.wav", 20), make_wav(folder / "long.wav", 8 * 60)


@pytest.mark.parametrize("command", ["features", "score"])
def test_peak_rss_does_not_grow_with_length(command: str, wavs: tuple[Path, Path], tmp_path: Path) -> None:
    def run(wav: Path) -> float:
        if command == "features":
            return peak_rss_mb("features", str(wav), "--set", "seed", "--out", str(tmp_path / f"{wav.stem}.npy"))
        return peak_rss_mb("score", "--bundle", str(BUNDLE), str(wav))

    short, long = (run(w) for w in wavs)
    assert long - short < 25, f"{command}: {short:.0f} MB on 20 s, {long:.0f} MB on 8 min"
    assert long < 250
