"""A full disk for real: the state directory on a 1 MB tmpfs mounted by the test (root only), filled with dd, the
broker down. Events emitted while it is full wait in memory; once room returns every event is in the log exactly
once, every line whole JSON, in order, and in the outbox, in order."""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.sinks.jsonl import JsonlSink
from edge.sinks.mqtt import MqttSettings, MqttSink
from tests.conftest import starts_peer
from tests.mosquitto import free_port
from tests.test_event_log_room import lines_of, record
from tests.test_service import DATA, NotifySocket, start, write_config

pytestmark = pytest.mark.peer  # mounts a tmpfs


@pytest.fixture()
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A 1 MB tmpfs at tmp_path/disk (another size by indirect parametrization), unmounted after the test."""
    starts_peer("a tmpfs mount")
    size = getattr(request, "param", "1m")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a full disk needs a tmpfs mount, not permitted here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system to its last block (dd ends with ENOSPC); removing the file gives the room back."""
    path = disk / "fill"
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4k"], capture_output=True, check=False)
    return path


def outbox_rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [json.loads(p)["event_id"] for (p,) in db.execute("SELECT payload FROM outbox ORDER BY id")]


def test_events_wait_in_memory_while_the_disk_is_full(small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    state = small_disk / "state"
    log = JsonlSink(state / "events.jsonl")
    settings = MqttSettings(host="127.0.0.1", port=free_port(), gateway="gw1")  # nothing listens: the broker is down
    mqtt = MqttSink(settings, state)
    records = [record(i) for i in range(60)]
    try:
        for r in records[:5]:
            log.emit(r)
            mqtt.emit(r)
        filler = fill(small_disk)
        for r in records[5:55]:
            log.emit(r)
            mqtt.emit(r)
        log.retry()
        time.sleep(0.5)  # the MQTT sink's delivery thread retries its outbox every 0.2 s
        assert log.health()["held"] and mqtt.health()["held"], "the disk took everything: not full"
        written = lines_of(state / "events.jsonl")  # whole lines only, a prefix of what was emitted
        assert written == [r.event_id for r in records[: len(written)]]
        filler.unlink()  # room again: the log on its timer, the outbox on its thread, before anything newer
        log.retry()
        deadline = time.monotonic() + 5
        while mqtt.health()["held"] and time.monotonic() < deadline:
            time.sleep(0.05)
        for r in records[55:]:
            log.emit(r)
            mqtt.emit(r)
        assert log.health() == {"delivered": 60, "dropped": 0, "pending": 0, "held": 0}
        assert mqtt.health()["held"] == 0 and mqtt.health()["outbox"] == 60 and mqtt.health()["dropped"] == 0
    finally:
        log.close()
        mqtt.close(timeout_s=0.1)
    ids = [r.event_id for r in records]
    assert lines_of(state / "events.jsonl") == ids  # each once, whole, in order
    assert outbox_rows(state / "outbox.sqlite") == ids
    said = [r.getMessage() for r in caplog.records]
    for name in ("event log", "MQTT outbox"):  # once per change, naming the file and its directory
        refused = [m for m in said if m.startswith(name) and "cannot write" in m]
        assert len(refused) == 1 and str(state) in refused[0], said
        assert sum(m.startswith(name) and "writing again" in m for m in said) == 1, said
    assert not any("Traceback" in m for m in said) and uuid.UUID(ids[0])


# the room given back must hold what the replay writes after it without filling again: every event's opened,
# update and closed records, and the outbox's write-ahead log (a page per row while the broker is down)
@pytest.mark.parametrize("small_disk", ["8m"], indirect=True)
def test_the_daemon_runs_on_a_full_disk_and_loses_no_event(small_disk: Path, tmp_path: Path) -> None:
    """`vigil run` started on the full disk (its outbox cannot even be opened), reloaded while full, given room:
    the event records it reported are, each once and in order, in the log and in the outbox; it never exits."""
    state = small_disk / "state"
    state.mkdir()
    filler = fill(small_disk)
    recordings = [tmp_path / "first.edf", tmp_path / "second.edf"]  # the reload replays another recording
    for path in recordings:
        shutil.copyfile(DATA / "samples" / "ecg" / "r10_60s.edf", path)
    ecg = {"name": "ecg", "kind": "file", "bundle": str(DATA / "bundles" / "ecg-donut"),
           "path": str(recordings[0]), "realtime": False, "loop": True}
    port = free_port()  # nothing listens there: the broker is down
    config = write_config(tmp_path / "gw.toml", [ecg], state, mqtt_port=port)
    notify = NotifySocket(tmp_path / "notify.sock")
    procs: list[subprocess.Popen[str]] = []
    try:
        proc = start(config, notify, procs)
        notify.wait_for("READY=1", 60)
        notify.collect(2.0)  # events while full
        write_config(config, [{**ecg, "path": str(recordings[1])}], state, mqtt_port=port)
        proc.send_signal(signal.SIGHUP)  # a reload keeps the unchanged sinks, and what they hold
        notify.wait_for("STATUS=reloaded", 20)
        notify.collect(1.0)
        assert proc.poll() is None
        filler.unlink()
        notify.collect(1.5)  # the service's timer writes what was held
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    assert proc.returncode == 0, err
    reported = re.findall(r"^vigil: event (\w+) (?:opened|update|closed) on ecg", err, flags=re.MULTILINE)
    lines = err.splitlines()
    full_at = next(i for i, line in enumerate(lines) if "event log" in line and "cannot write" in line)
    again_at = next(i for i, line in enumerate(lines) if "event log" in line and "writing again" in line)
    assert sum(line.startswith("vigil: event ") for line in lines[full_at:again_at]) >= 5  # emitted while full
    assert len(reported) >= 10
    assert lines_of(state / "events.jsonl") == reported  # each once, whole, in order
    assert outbox_rows(state / "outbox.sqlite") == reported
    for name in ("event log", "MQTT outbox"):  # once per change, not per event
        assert sum(name in line and "cannot write" in line for line in lines) == 1, err
        assert sum(name in line and "writing again" in line for line in lines) == 1, err
    assert "Traceback" not in err and "not taken by" not in err
