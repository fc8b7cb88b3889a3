"""Memory does not grow with the file: `vigil features` and `vigil score` peak at
about the same RSS on 20 seconds and on 8 minutes of real audio. (Before, both loaded the whole
file: features on 8 minutes peaked some 500 MB above the short clip.) The figures for 10 min to 2 h come
from the long-files benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, VIGIL
from tests.long_wav import make_wav

BUNDLE = ROOT / "edge" / "data" / "bundles" / "fan"


# ru_maxrss counts a forked child's pages before it execs: measured from pytest's own (large) process it
# reports pytest's size. A small launcher process forks the command instead and reads its children's peak.
LAUNCH = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
          "stderr=subprocess.PIPE); sys.stderr.buffer.write(p.stderr); "
          "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_mb(*args: str) -> float:
    proc = subprocess.run([sys.executable, "-c", LAUNCH, *VIGIL, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    status, kilobytes = proc.stdout.split()
    assert status == "0", proc.stderr
    return int(kilobytes) / 1024


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
