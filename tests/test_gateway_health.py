"""A running gateway says how it is: a status line per stream at an
interval, one warning per broker state change, a failed or waiting stream named with why, `vigil
status`; a missing microphone or BlueZ is one line, not a traceback, and the service keeps running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.mosquitto import Broker, free_port

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]
NORMAL = sorted((DATA / "samples" / "slider").glob("normal_*.wav"))[0]
NO_BUS = "unix:path=/nonexistent/vigil-test/system_bus_socket"


def start(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), env={**os.environ, **(env or {})})


def wait_for_text(log: Path, pattern: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if re.search(pattern, text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in:\n{log.read_text()}")


def status(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "status", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.peer  # mosquitto
def test_status_lines_broker_warnings_once_and_vigil_status(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet
    config = tmp_path / "gw.toml"
    # the anomaly clip replayed once: its event closes at the end of input (a looped one would stay open)
    config.write_text(f'[gateway]\nname = "gw-h"\nstate_dir = "{tmp_path / "state"}"\nstatus_interval_s = 0.3\n'
                      f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive_s = 2\n'
                      f'[[streams]]\nname = "slider"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
                      f'path = "{WAV}"\n'
                      # looped: the service runs on after the clip (it ends once every stream has ended)
                      f'[[streams]]\nname = "keeper"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
                      f'path = "{NORMAL}"\nloop = true\n')
    log = tmp_path / "service.log"
    proc = start(config, log)
    broker = Broker(port)
    try:
        # an event is written while the broker is away: it waits in the outbox, and the status line says so
        text = wait_for_text(log, r"status slider: (running|ended).*, \d+ windows, [1-9]\d* events, missing 0\.0 %, "
                                  r"outbox [1-9]\d*, broker unreachable")
        time.sleep(3.5)  # paho retries after 1, 2 s...: the warning is not repeated
        text = log.read_text()
        unreachable = re.findall(rf"MQTT 127\.0\.0\.1:{port} unreachable: .*Connection refused", text)
        assert len(unreachable) == 1, text
        shown = status(config)
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"gateway gw-h: running \(pid \d+\)", shown.stdout)
        line = r"slider +(running|ended)[^:]*: \d+ windows, [1-9]\d* events, missing 0\.0 %"
        assert re.search(line, shown.stdout), shown.stdout
        assert "MQTT: unreachable, outbox " in shown.stdout

        broker.start()  # the broker comes back: said once, and the outbox drains
        text = wait_for_text(log, r"status slider: .*outbox 0, broker connected", timeout=20)
        assert len(re.findall(rf"MQTT 127\.0\.0\.1:{port} connected", text)) == 1, text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        broker.stop()
    gone = status(config)
    assert gone.returncode == 2 and "the service is not running" in gone.stderr and "Traceback" not in gone.stderr


@pytest.mark.slow  # the service until its status lines
def test_missing_microphone_and_bluez_are_waited_for_in_one_line_each_and_the_service_runs_on(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(f'[gateway]\nname = "gw-d"\nstate_dir = "{tmp_path / "state"}"\nstatus_interval_s = 0.5\n'
                      f'[[streams]]\nname = "pump-1"\nkind = "microphone"\nbundle = "{DATA / "bundles" / "pump"}"\n'
                      f'device = "no-such-mic"\n'
                      f'[[streams]]\nname = "wearable-1"\nkind = "ble-ecg"\n'
                      f'bundle = "{DATA / "bundles" / "ecg-donut"}"\naddress = "C0:FF:EE:00:00:01"\n'
                      f'[[streams]]\nname = "slider"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
                      f'path = "{WAV}"\nloop = true\n')
    log = tmp_path / "service.log"
    proc = start(config, log, {"DBUS_SYSTEM_BUS_ADDRESS": NO_BUS, "PULSE_SERVER": "unix:/nonexistent/pulse"})
    try:
        wait_for_text(log, "stream wearable-1 waiting: ")
        time.sleep(4)  # BLE and microphone retries (1, 2 s backoff): nothing repeated
        assert proc.poll() is None, "the service must keep running its other streams"
        text = log.read_text()
        mic = re.findall(r"stream pump-1 waiting: no audio input device 'no-such-mic' \(devices: [^)]*\)", text)
        ble = re.findall(r"stream wearable-1 waiting: BlueZ not reachable on the system D-Bus \(" + re.escape(NO_BUS),
                         text)
        assert len(mic) == 1 and len(ble) == 1, text
        assert "Traceback" not in text and "Errno 2" not in text.replace(NO_BUS, ""), text
        assert re.search(r"status slider: running, [1-9]\d* windows", text)
        shown = status(config).stdout
        assert re.search(r"pump-1 +waiting \(no audio input device 'no-such-mic'", shown), shown
        assert re.search(r"wearable-1 +waiting \(BlueZ not reachable on the system D-Bus", shown), shown
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()


def test_devices_says_bluez_is_not_reachable_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "edge.cli", "devices", "--scan-s", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": NO_BUS})
    assert result.returncode == 0, result.stderr
    ble = [line for line in result.stdout.splitlines() if line.startswith("BLE")]
    assert ble == [f"BLE: BlueZ not reachable on the system D-Bus ({NO_BUS}: No such file or directory)"], result.stdout
    assert "FileNotFoundError" not in result.stdout + result.stderr
