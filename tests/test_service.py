"""The gateway service: config validation, systemd notify protocol, reload, MQTT through restarts,
the unit's hardening and the installer."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.service.config import load_config, parse_config
from tests.conftest import ROOT
from tests.mosquitto import Broker
from tests.test_cli_errors import assert_clean_error

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]


def audio_stream(name: str = "slider", **extra: object) -> dict[str, object]:
    return {"name": name, "kind": "file", "bundle": str(DATA / "bundles" / "slider"), "path": str(WAV),
            "loop": True, "stall_s": 1.0, **extra}


def write_config(path: Path, streams: list[dict[str, object]], state: Path, mqtt_port: int | None = None) -> Path:
    lines = ["[gateway]", 'name = "gw-test"', f'state_dir = "{state}"', "status_interval_s = 0.2", ""]
    if mqtt_port is not None:
        lines += ["[mqtt]", 'host = "127.0.0.1"', f"port = {mqtt_port}", "keepalive_s = 2", ""]
    for s in streams:
        lines.append("[[streams]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in s.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize(("change", "needle"), [
    ({"kind": "mic"}, "streams[0].kind: 'mic' is not one of ble-ecg, ble-hr, ble-polar, file, microphone"),
    ({"loop": "yes"}, "streams[0].loop: 'yes' is not true or false"),
    ({"colour": "red"}, "streams[0]: unknown key 'colour'"),
    ({"stall_s": -1}, "streams[0].stall_s: -1 (expected a positive number)"),
])
def test_config_errors_name_key_value_and_expectation(change: dict[str, object], needle: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"gateway": {"name": "g"}, "streams": [{**audio_stream(), **change}]}, tmp_path)
    assert needle in str(info.value)


def test_cli_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.toml", [audio_stream(), audio_stream()], tmp_path)
    assert_clean_error(["run", "--config", str(config)], str(config), "each name unique")
    missing = tmp_path / "nope.toml"
    assert_clean_error(["run", "--config", str(missing)], str(missing), "no such config file")


def test_shipped_example_config_is_valid() -> None:
    config = load_config(DATA / "example.toml")
    assert [s.kind for s in config.streams] == ["microphone", "ble-ecg", "ble-hr", "ble-polar"]
    assert [s.kind for s in config.sinks] == ["jsonl", "mqtt"]  # the event log kept, [mqtt] read


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket the test binds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []

    def collect(self, seconds: float) -> list[tuple[float, str]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages += [(time.monotonic(), line) for line in data.splitlines()]
        return self.messages

    def wait_for(self, prefix: str, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for t, line in self.messages:
                if line.startswith(prefix):
                    return t
            self.collect(0.1)
        raise AssertionError(f"no {prefix!r} within {seconds} s: {[m for _, m in self.messages][-10:]}")


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[tuple[NotifySocket, list[subprocess.Popen[str]]]]:
    notify = NotifySocket(tmp_path / "notify.sock")
    procs: list[subprocess.Popen[str]] = []
    yield notify, procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def start(config: Path, notify: NotifySocket, procs: list[subprocess.Popen[str]], **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000",
               "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT,
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(proc)
    return proc


def test_notify_ready_watchdog_and_stopping(service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    notify, procs = service
    proc = start(write_config(tmp_path / "ok.toml", [audio_stream()], tmp_path / "state"), notify, procs)
    ready = notify.wait_for("READY=1", 30)
    notify.collect(3.0)
    dogs = [t for t, m in notify.messages if m == "WATCHDOG=1" and t > ready]
    assert len(dogs) >= 4  # about every WATCHDOG_USEC / 2 = 0.5 s while the stream progresses
    assert max(b - a for a, b in pairwise([ready, *dogs])) < 1.0  # never a WatchdogSec without a ping
    assert any(m.startswith("STATUS=1 streams (slider") for _, m in notify.messages)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    notify.collect(0.3)
    assert notify.messages[-1][1] == "STOPPING=1" or any(m == "STOPPING=1" for _, m in notify.messages)
    events = (tmp_path / "state" / "events.jsonl").read_text().splitlines()
    assert events and all(json.loads(e)["stream"] == "slider" for e in events)  # the anomaly clip raised events


def test_a_manager_that_does_not_read_its_socket_does_not_freeze_the_loop(
        service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    """The notify socket's queue fills (nobody reads it: a busy or stuck manager); the daemon drops what does
    not fit instead of blocking on it, and still stops at SIGTERM with its events written."""
    notify, procs = service
    proc = start(write_config(tmp_path / "ok.toml", [audio_stream()], tmp_path / "state"), notify, procs)
    time.sleep(6.0)  # READY, STATUS every 0.2 s and WATCHDOG every 0.5 s: far more than the socket queues
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert (tmp_path / "state" / "events.jsonl").read_text().splitlines()


def test_a_device_out_of_reach_keeps_the_watchdog_fed(service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    """No BlueZ: the wearable's stream waits (and retries) far past its stall_s, and the process is still fed."""
    notify, procs = service
    ble = {"name": "wearable", "kind": "ble-ecg", "bundle": str(DATA / "bundles" / "ecg-donut"),
           "address": "C0:FF:EE:00:00:42", "stall_s": 1.0}
    config = write_config(tmp_path / "stall.toml", [audio_stream(), ble], tmp_path / "state")
    proc = start(config, notify, procs, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus")
    ready = notify.wait_for("READY=1", 30)
    notify.collect(3.0)
    dogs = [t for t, m in notify.messages if m == "WATCHDOG=1"]
    assert len(dogs) >= 4 and max(b - a for a, b in pairwise([ready, *dogs])) < 1.0
    assert any("wearable 0 windows 0 events waiting (BlueZ not reachable" in m for _, m in notify.messages)
    assert not any(re.search(r"STALLED: .*wearable", m) for _, m in notify.messages)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_sighup_reloads_or_keeps_the_old_config(service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    notify, procs = service
    config = write_config(tmp_path / "cfg.toml", [audio_stream("first")], tmp_path / "state")
    proc = start(config, notify, procs)
    notify.wait_for("READY=1", 30)
    write_config(config, [audio_stream("second")], tmp_path / "state")
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("STATUS=reloaded: 1 streams (second", 20)
    config.write_text("[gateway]\nname = 3\n")  # broken: name must be a string
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("STATUS=reload refused", 20)
    notify.messages.clear()
    notify.collect(1.0)
    assert any(m == "WATCHDOG=1" for _, m in notify.messages)  # the old config keeps running
    assert any("second" in m for _, m in notify.messages if m.startswith("STATUS="))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_sighup_keeps_an_edf_stream_that_is_playing(service: tuple[NotifySocket, list], tmp_path: Path) -> None:
    """An unchanged EDF stream is not opened a second time to check it (pyedflib opens a file once per
    process): the reload that adds a stream beside it is taken, not refused."""
    notify, procs = service
    ecg = {"name": "ecg", "kind": "file", "bundle": str(DATA / "bundles" / "ecg-donut"),
           "path": str(DATA / "samples" / "ecg" / "r10_60s.edf"), "loop": True, "stall_s": 2.0}
    config = write_config(tmp_path / "cfg.toml", [ecg], tmp_path / "state")
    proc = start(config, notify, procs)
    notify.wait_for("READY=1", 30)
    notify.wait_for("STATUS=1 streams (ecg", 10)  # playing: its reader holds the file open
    write_config(config, [ecg, audio_stream("added")], tmp_path / "state")
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("STATUS=reloaded: 2 streams", 20)
    assert not any(m.startswith("STATUS=reload refused") for _, m in notify.messages)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


@pytest.mark.peer  # mosquitto
def test_killed_service_delivers_pending_events_after_restart(service: tuple[NotifySocket, list],
                                                              tmp_path: Path) -> None:
    from tests.test_mqtt import Subscriber, wait_for

    notify, procs = service
    broker = Broker()  # not started: events pile up in the outbox
    config = write_config(tmp_path / "mq.toml", [audio_stream(realtime=False, loop=False)], tmp_path / "state",
                          mqtt_port=broker.port)
    proc = start(config, notify, procs)
    notify.wait_for("READY=1", 30)
    log = tmp_path / "state" / "events.jsonl"
    assert wait_for(lambda: log.exists() and log.read_text().count("\n") >= 1, 20)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    logged = {json.loads(line)["event_id"] for line in log.read_text().splitlines()}
    broker.start()
    try:
        sub = Subscriber(broker.port)
        assert wait_for(sub.subscribed.is_set, 10)
        restart = write_config(tmp_path / "mq2.toml", [audio_stream("other", realtime=True)], tmp_path / "state",
                               mqtt_port=broker.port)
        proc2 = start(restart, notify, procs)
        assert wait_for(lambda: logged <= sub.events(), 30)  # every event of the killed run arrived
        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(20) == 0
        sub.close()
    finally:
        broker.stop()


def test_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze not found (apt-get install systemd)")
    unit = tmp_path / "vigil.service"
    text = (ROOT / "scripts" / "systemd" / "vigil.service").read_text()
    installed = Path(sys.executable).parent / "vigil"  # verify checks that ExecStart exists: use this venv's
    unit.write_text(text.replace("/opt/vigil/venv/bin/vigil", str(installed)))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                              text=True)
    exposure = float(re.search(r"Overall exposure level for vigil.service: ([0-9.]+)", security.stdout).group(1))
    assert exposure <= 1.5
    for key in ("Type=notify", "WatchdogSec=", "User=vigil", "StateDirectory=vigil", "NoNewPrivileges=yes",
                "ProtectSystem=strict", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_BLUETOOTH",
                "SystemCallFilter=@system-service"):
        assert key in text


@pytest.mark.slow  # the installer makes a venv, twice
def test_installer_is_idempotent_into_a_target_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), root / "etc" / name)
    script = ROOT / "scripts" / "install-gateway.sh"
    dry = subprocess.run(["bash", str(script), "--root", str(root), "--dry-run"], capture_output=True, text=True,
                         check=True)
    assert "would: create system user vigil" in dry.stdout and not (root / "opt").exists()
    first = subprocess.run(["bash", str(script), "--root", str(root), "--pip-args", "--no-deps"],
                           capture_output=True, text=True, check=True)
    assert (root / "opt/vigil/venv/bin/vigil").exists() and "vigil:" in (root / "etc/passwd").read_text()
    unit = (root / "etc/systemd/system/vigil.service").read_text()
    assert unit == (ROOT / "scripts/systemd/vigil.service").read_text()
    assert "write" in first.stdout
    second = subprocess.run(["bash", str(script), "--root", str(root), "--pip-args", "--no-deps"],
                            capture_output=True, text=True, check=True)
    assert "write " not in second.stdout and "create" not in second.stdout  # nothing to do the second time
    assert second.stdout.count("unchanged") >= 4


@pytest.mark.slow  # the service end to end on a recording
def test_embedded_default_runs_and_its_events_follow_the_schema(service: tuple[NotifySocket, list],
                                                                tmp_path: Path) -> None:
    import jsonschema

    from edge.sinks.events import schema

    notify, procs = service
    environ = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--state-dir", str(tmp_path / "state")],
                            cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(proc)
    notify.wait_for("READY=1", 30)
    log = tmp_path / "state" / "events.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(events) >= 2 and {e["stream"] for e in events} <= {"fan-replay", "slider-replay", "fetal-ecg-replay"}
    for event in events:
        jsonschema.validate(event, schema())
    assert "embedded default" in proc.stderr.read()
