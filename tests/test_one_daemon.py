"""One daemon per state directory, with two real `vigil run` processes: the second is refused before READY in one
line naming the directory and the first one's pid; the first runs on and keeps its status file. The MQTT client
id is the gateway's, stable across processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from edge.sinks.mqtt import client_id
from tests.test_service import NotifySocket, audio_stream, start, write_config


def test_a_second_daemon_on_one_state_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = write_config(tmp_path / "gw.toml", [audio_stream()], state)
    first_notify, second_notify = NotifySocket(tmp_path / "n1.sock"), NotifySocket(tmp_path / "n2.sock")
    procs: list[subprocess.Popen[str]] = []
    try:
        first = start(config, first_notify, procs)
        first_notify.wait_for("READY=1", 60)
        first_notify.wait_for("STATUS=", 5)
        assert (state / "vigil.lock").read_text().strip() == str(first.pid)
        second = start(config, second_notify, procs)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert str(state) in lines[0] and f"pid {first.pid}" in lines[0]
        second_notify.collect(0.3)
        assert not any(m.startswith("READY=1") for _, m in second_notify.messages)
        # the first is unaffected: alive, still feeding its watchdog, its status file and lock file kept
        seen = len(first_notify.messages)
        first_notify.collect(1.5)
        assert first.poll() is None and any(m == "WATCHDOG=1" for _, m in first_notify.messages[seen:])
        assert json.loads((state / "status.json").read_text())["pid"] == first.pid
        os.kill(first.pid, signal.SIGTERM)
        assert first.wait(30) == 0
        assert not (state / "status.json").exists()  # removed by the daemon that held the lock, at its stop
        # the lock went with its holder: a new daemon takes the directory
        third = start(config, second_notify, procs)
        second_notify.wait_for("READY=1", 60)
        os.kill(third.pid, signal.SIGTERM)
        assert third.wait(30) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def test_a_reload_moves_the_lock_with_the_state_directory(tmp_path: Path) -> None:
    """SIGHUP onto a state directory that another daemon holds is refused and the old config runs on; onto a
    free one, the lock moves: the new directory names this daemon, the old one is free for another."""
    old, new, held = tmp_path / "old", tmp_path / "new", tmp_path / "held"
    config = write_config(tmp_path / "gw.toml", [audio_stream()], old)
    notify, other_notify = NotifySocket(tmp_path / "n1.sock"), NotifySocket(tmp_path / "n2.sock")
    procs: list[subprocess.Popen[str]] = []
    try:
        first = start(config, notify, procs)
        notify.wait_for("READY=1", 60)
        other = start(write_config(tmp_path / "other.toml", [audio_stream()], held), other_notify, procs)
        other_notify.wait_for("READY=1", 60)
        write_config(config, [audio_stream()], held)
        os.kill(first.pid, signal.SIGHUP)
        notify.wait_for("STATUS=reload refused", 30)
        refused = next(m for _, m in notify.messages if m.startswith("STATUS=reload refused"))
        assert str(held) in refused and f"pid {other.pid}" in refused, refused
        assert (old / "vigil.lock").read_text().strip() == str(first.pid)  # still its own
        write_config(config, [audio_stream()], new)
        os.kill(first.pid, signal.SIGHUP)
        notify.wait_for("STATUS=reloaded", 30)
        assert (new / "vigil.lock").read_text().strip() == str(first.pid)
        third_notify = NotifySocket(tmp_path / "n3.sock")
        third = start(write_config(tmp_path / "third.toml", [audio_stream()], old), third_notify, procs)
        third_notify.wait_for("READY=1", 60)  # the old directory was let go
        for proc in (first, other, third):
            os.kill(proc.pid, signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=30)  # read its log: a full pipe would block it
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                raise AssertionError(f"{proc.args}: {err[-3000:]}") from None
            assert proc.returncode == 0, err[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def test_the_mqtt_client_id_is_the_gateways_not_the_process(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert client_id("gw1", a) == client_id("gw1", a) == client_id("gw1", tmp_path / "x" / ".." / "a")
    assert client_id("gw1", a) != client_id("gw1", b)  # two gateways of one name on one broker: no kicking
    assert client_id("gw1", a) != client_id("gw2", a) and client_id("gw1", a).startswith("vigil-gw1-")
