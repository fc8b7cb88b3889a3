"""Shared fixtures: real DCASE clips from ../shared/data and one tiny trained bundle per session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DCASE = ROOT.parent / "shared" / "data" / "dcase2020-task2-dev-samples"
VIGIL = [sys.executable, "-m", "edge.cli"]


def run_vigil(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([*VIGIL, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"vigil {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def dcase() -> Path:
    if not DCASE.is_dir():
        pytest.fail(f"{DCASE} not found: the tests need ../shared/data beside the project")
    return DCASE


@pytest.fixture(scope="session")
def clip_per_type(dcase: Path) -> dict[str, Path]:
    """One normal clip per machine type."""
    return {d.name: sorted(d.glob("*.wav"))[0] for d in sorted((dcase / "normal").iterdir())}


@pytest.fixture(scope="session")
def tiny_bundle(dcase: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense-AE bundle for valve trained for 3 epochs through the CLI (seconds, not minutes)."""
    out = tmp_path_factory.mktemp("bundle") / "valve"
    result = run_vigil("train", "audio", str(dcase), "--machine-type", "valve", "--detector", "dense-ae", "--epochs",
                       "3", "--folds", "2", "--test-fraction", "0.25", "--out", str(out), check=True)
    (out.parent / "stdout.txt").write_text(result.stdout)  # what train printed, for tests of its wording
    (out.parent / "stderr.txt").write_text(result.stderr)
    return out


@pytest.fixture()
def bus() -> Iterator[object]:
    """A private dbus-daemon as the system bus (the fake BlueZ registers on it), stopped by PID."""
    from tests.fake_bluez import BusDaemon

    daemon = BusDaemon()
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = daemon.address
    try:
        yield daemon
    finally:
        daemon.stop()
