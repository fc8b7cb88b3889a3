"""`[[sinks]]` tables: each names a registered sink kind and gives that kind's keys; the legacy
`[events]` and `[mqtt]` tables still mean the same sinks. Events reach the JSON-lines log and a real
mosquitto either way; a wrong kind, key or a kind given twice is one line naming the key."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.service.config import parse_config
from edge.service.daemon import Service
from edge.service.runner import prepare
from tests.conftest import ROOT
from tests.mosquitto import Broker
from tests.test_cli_errors import assert_clean_error
from tests.test_config_validation import FILE_STREAM, toml
from tests.test_mqtt import Subscriber, wait_for

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]


def legacy(state: Path, port: int) -> dict[str, Any]:
    return {"gateway": {"name": "gw", "state_dir": str(state)},
            "events": {"jsonl": "log/events.jsonl", "max_bytes": 5000, "backups": 2},
            "mqtt": {"host": "127.0.0.1", "port": port, "keepalive_s": 2},
            "streams": [{**FILE_STREAM, "realtime": False}]}


def tables(state: Path, port: int) -> dict[str, Any]:
    return {"gateway": {"name": "gw", "state_dir": str(state)},
            "sinks": [{"kind": "jsonl", "path": "log/events.jsonl", "max_bytes": 5000, "backups": 2},
                      {"kind": "mqtt", "host": "127.0.0.1", "port": port, "keepalive_s": 2}],
            "streams": [{**FILE_STREAM, "realtime": False}]}


def test_sinks_tables_parse_to_the_legacy_tables_settings(tmp_path: Path) -> None:
    old, new = (parse_config(form(tmp_path, 1883), tmp_path) for form in (legacy, tables))
    assert old.sinks == new.sinks
    assert [s.kind for s in new.sinks] == ["jsonl", "mqtt"]
    assert new.sinks[0].where == str(tmp_path / "log" / "events.jsonl")
    # without any jsonl table the event log is kept where it always was
    mqtt_only = parse_config({**tables(tmp_path, 1883), "sinks": tables(tmp_path, 1883)["sinks"][1:]}, tmp_path)
    assert [s.where for s in mqtt_only.sinks] == [str(tmp_path / "events.jsonl"), "MQTT 127.0.0.1:1883"]
    # `vigil run --state-dir` moves the event log into the other folder; the outbox follows the state dir
    moved = [s.moved(tmp_path / "elsewhere").where for s in new.sinks]
    assert moved == [str(tmp_path / "elsewhere" / "events.jsonl"), "MQTT 127.0.0.1:1883"]


def replay_into_sinks(data: dict[str, Any], state: Path) -> list[dict[str, Any]]:
    """The slider anomaly clip through a service built from `data`: what its JSON-lines log holds."""
    config = parse_config(data, state)
    service = Service(config)
    service._open_sinks()
    assert service.broker_sink() is not None  # the observers find the MQTT sink by what it offers
    runner = prepare(config.streams[0])
    service.runners = {runner.config.name: runner}
    asyncio.run(service._run_stream(runner))
    service._close_sinks()  # flushes the outbox to the broker
    return [json.loads(line) for line in (state / "log" / "events.jsonl").read_text().splitlines()]


@pytest.mark.peer  # mosquitto
def test_sinks_tables_deliver_to_the_log_and_mosquitto_as_the_legacy_tables(tmp_path: Path) -> None:
    broker = Broker().start()
    try:
        sub = Subscriber(broker.port)
        assert wait_for(sub.subscribed.is_set, 10)
        logs = {}
        for form in (legacy, tables):
            state = tmp_path / form.__name__
            logs[form.__name__] = log = replay_into_sinks(form(state, broker.port), state)
            assert len(log) >= 1
            assert wait_for(lambda log=log: {e["event_id"] for e in log} <= sub.events(), 10)
        topics = {t for t, _, _ in sub.messages if t.endswith("/events")}
        assert topics == {"vigil/gw/slider/events"}
        assert len(sub.events()) == len(logs["legacy"]) + len(logs["tables"])  # each event once, from one form

        def what(log: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
            return [(e["stream"], e["detector"], e["start_s"], e["end_s"], e["peak_score"]) for e in log]

        assert what(logs["tables"]) == what(logs["legacy"])
        sub.close()
    finally:
        broker.stop()


SINKS_CASES = [
    ("unknown kind", '[[sinks]]\nkind = "jsonl"\n[[sinks]]\nkind = "webhook"\n',
     ["sinks[1].kind: 'webhook' is not one of jsonl, mqtt"]),
    ("unknown key", '[[sinks]]\nkind = "jsonl"\n[[sinks]]\nkind = "mqtt"\nhots = "localhost"\n',
     ["sinks[1]: unknown key 'hots'", "did you mean 'host'?"]),
    ("another kind's key", '[[sinks]]\nkind = "jsonl"\nhost = "localhost"\n',
     ["sinks[0]: unknown key 'host'", "known: backups, kind, max_bytes, path"]),
    ("no kind", '[[sinks]]\npath = "x.jsonl"\n', ["sinks[0].kind: missing (expected a string)"]),
    ("bad value", '[[sinks]]\nkind = "mqtt"\nhost = "localhost"\nport = 70000\n',
     ["sinks[0].port: 70000 (expected 1..65535)"]),
    ("legacy and table", '[mqtt]\nhost = "a"\n[[sinks]]\nkind = "mqtt"\nhost = "b"\n',
     ["sinks[0]: a second mqtt sink (the first is [mqtt]; expected each sink kind once)"]),
    ("twice", '[[sinks]]\nkind = "jsonl"\n[[sinks]]\nkind = "jsonl"\npath = "other.jsonl"\n',
     ["sinks[1]: a second jsonl sink (the first is sinks[0]"]),
    ("legacy key in a table", '[[sinks]]\nkind = "jsonl"\njsonl = "x.jsonl"\n', ["sinks[0]: unknown key 'jsonl'"]),
]


@pytest.mark.parametrize(("extra", "needles"), [c[1:] for c in SINKS_CASES], ids=[c[0] for c in SINKS_CASES])
def test_bad_sinks_table_is_one_line_naming_the_key(extra: str, needles: list[str], tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(toml({"name": "gw", "state_dir": str(tmp_path / "state")}, [FILE_STREAM], extra))
    assert_clean_error(["run", "--config", str(config)], str(config), *needles)


def test_client_libraries_load_only_when_a_sink_or_source_opens() -> None:
    """Reading a config with MQTT imports no paho; the sources import nothing from the commands."""
    code = ("import sys; from pathlib import Path; from edge.service.config import load_config; "
            "import edge.sources.ble, edge.sources.microphone; "
            "c = load_config(Path('edge/data/example.toml')); "
            "loaded = sorted(m for m in sys.modules if m.startswith(('paho', 'edge.commands'))); "
            "print([s.kind for s in c.sinks], loaded)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['jsonl', 'mqtt'] []"
