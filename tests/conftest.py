"""Shared fixtures (real DCASE clips from ../shared/data, one tiny trained bundle per session) and the test tiers.

Three markers (registered in pyproject.toml) say what a test needs: `training`, `peer`, `slow`; the fast tier
(`scripts/test.sh --fast`) runs `-m "not training and not peer and not slow"`. A test is marked by the fixtures it
uses (FIXTURE_NEEDS), by its module's `pytestmark`, or by a decorator. Two guards keep the marks honest: starting a
peer from an unmarked test fails (`starts_peer`, in every tier), and `--max-test-seconds` (the fast tier's) fails
a test that passes too slowly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DCASE = ROOT.parent / "shared" / "data" / "dcase2020-task2-dev-samples"
VIGIL = [sys.executable, "-m", "edge.cli"]


# fixtures whose users need a marker: every test using one, directly or through another fixture, gets it at collection
# (by name: a fixture's own marks are ignored by pytest; modules keep these names for these fixtures only)
FIXTURE_NEEDS = {
    "tiny_bundle": "training",  # `vigil train audio` (TensorFlow), here
    "trained": "training",  # every detector kind on each machine type, test_detector_contract
    "ecg_bundle": "training",  # Donut on fetal ECG, test_donut
    "default_bundle": "training",  # `vigil train audio` with its defaults, test_fewshot
    "combined_bundle": "training",  # Donut with a combined score, test_kpi_combine
    "zsr_bundle": "training",  # test_kpi_menu
    "kpi_bundle": "training",  # Donut on a KPI series, test_kpi_series and test_user_mistakes
    "bus": "peer",  # a private dbus-daemon for the fake BlueZ, here and in test_fake_bluez
    "broker": "peer",  # mosquitto, test_mqtt
    "pulse": "peer",  # PulseAudio with a null sink, test_microphone
}
MAX_TEST_SECONDS = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--max-test-seconds", type=float, default=None, metavar="S",
                     help="fail a test that passes but whose setup and call took over S seconds (the fast tier's "
                          "guard: a slow test is to be marked training, peer or slow)")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in getattr(item, "fixturenames", ()):  # the closure: fixtures of fixtures too
            if name in FIXTURE_NEEDS:
                item.add_marker(FIXTURE_NEEDS[name])


_running: list[pytest.Item] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


def starts_peer(what: str) -> None:
    """Called before a system peer is started: fails the running test unless it is marked `peer`.

    Without this, a test that starts mosquitto inline (not through a marked fixture) would run in the fast tier and
    fail on a machine without the peer, or pass slowly where it is installed.
    """
    if _running and _running[-1].get_closest_marker("peer") is None:
        pytest.fail(f"{_running[-1].nodeid} starts {what}: mark it @pytest.mark.peer (or use a fixture from "
                    "FIXTURE_NEEDS in tests/conftest.py)", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    limit = item.config.getoption("max_test_seconds")
    if limit is None or report.when == "teardown":
        return report
    # setup counts: a module fixture that trains is set up in its first test's setup
    spent = item.stash.get(MAX_TEST_SECONDS, 0.0) + report.duration
    item.stash[MAX_TEST_SECONDS] = spent
    if report.when == "call" and report.passed and spent > limit:
        report.outcome = "failed"
        report.longrepr = (f"passed, but took {spent:.1f} s (setup and call), over --max-test-seconds {limit:g}: "
                           "mark it training, peer or slow (see tests/conftest.py), or make it faster")
    return report


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
def broker() -> Iterator[object]:
    """A real mosquitto on a free loopback port, stopped by PID."""
    from tests.mosquitto import Broker

    b = Broker().start()
    try:
        yield b
    finally:
        b.stop()


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
