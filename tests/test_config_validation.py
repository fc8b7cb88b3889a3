"""`vigil run` configs a user really writes wrong: each refused in one line
naming the config file and the key, exit status 2, before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_cli_errors import assert_clean_error

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]
FILE_STREAM = {"name": "slider", "kind": "file", "bundle": str(DATA / "bundles" / "slider"), "path": str(WAV)}
BLE_STREAM = {"name": "wearable", "kind": "ble-ecg", "bundle": str(DATA / "bundles" / "ecg-donut"),
              "address": "C0:FF:EE:00:00:01"}


def toml(gateway: dict[str, object], streams: list[dict[str, object]], extra: str = "") -> str:
    lines = ["[gateway]", *(f"{k} = {json.dumps(v)}" for k, v in gateway.items()), extra]
    for stream in streams:
        lines += ["[[streams]]", *(f"{k} = {json.dumps(v)}" for k, v in stream.items())]
    return "\n".join(lines) + "\n"


CASES = [
    # (what the user wrote, what the one line must name)
    ("typo", {"name": "gw"}, [{**FILE_STREAM, "bundel": FILE_STREAM["bundle"]}], "",
     ["streams[0]: unknown key 'bundel'", "did you mean 'bundle'?"]),
    ("top-level typo", {"name": "gw"}, [FILE_STREAM], "[mqt]\nhost = 'x'\n", ["unknown key 'mqt'"]),
    ("gateway typo", {"name": "gw", "status_intervall_s": 5}, [FILE_STREAM], "",
     ["gateway: unknown key 'status_intervall_s'"]),
    ("bad MAC", {"name": "gw"}, [{**BLE_STREAM, "address": "C0:FF:EE:00:00"}], "",
     ["streams[0].address: 'C0:FF:EE:00:00' is not a Bluetooth address"]),
    ("bad allowlist MAC", {"name": "gw"}, [{**BLE_STREAM, "allowlist": ["nope"]}], "",
     ["streams[0].allowlist: 'nope' is not a Bluetooth address"]),
    ("topic wildcard in gateway", {"name": "gw/a#b"}, [FILE_STREAM], "",
     ["gateway.name: 'gw/a#b' cannot be an MQTT topic level"]),
    ("topic wildcard in stream", {"name": "gw"}, [{**FILE_STREAM, "name": "pump+1"}], "",
     ["streams[0].name: 'pump+1' cannot be an MQTT topic level"]),
    ("zero status interval", {"name": "gw", "status_interval_s": 0}, [FILE_STREAM], "",
     ["gateway.status_interval_s: 0 (expected a positive number)"]),
    ("zero event update interval", {"name": "gw", "event_update_s": 0}, [FILE_STREAM], "",
     ["gateway.event_update_s: 0 (expected a positive number)"]),
    ("negative keepalive", {"name": "gw"}, [FILE_STREAM], "[mqtt]\nhost = 'localhost'\nkeepalive_s = -5\n",
     ["mqtt.keepalive_s: -5 (expected a positive integer)"]),
    ("zero log size", {"name": "gw"}, [FILE_STREAM], "[events]\nmax_bytes = 0\n",
     ["events.max_bytes: 0 (expected a positive integer)"]),
    ("missing tls_ca", {"name": "gw"}, [FILE_STREAM], "[mqtt]\nhost = 'localhost'\ntls_ca = 'no-such-ca.pem'\n",
     ["mqtt.tls_ca:", "no-such-ca.pem is not a file"]),
]


@pytest.mark.parametrize(("gateway", "streams", "extra", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_naming_file_and_key(gateway: dict[str, object], streams: list[dict[str, object]],
                                                    extra: str, needles: list[str], tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(toml(gateway, streams, extra))
    line = assert_clean_error(["run", "--config", str(config)], str(config), *needles)
    assert line.count(str(config)) == 1


def test_config_that_is_a_binary_file(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_bytes(bytes(range(256)) * 4)
    assert_clean_error(["run", "--config", str(config)], str(config), "not a text file")


def test_state_dir_that_is_a_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("someone's file\n")
    config = tmp_path / "vigil.toml"
    config.write_text(toml({"name": "gw", "state_dir": str(tmp_path / "ok")}, [FILE_STREAM]))
    assert_clean_error(["run", "--config", str(config), "--state-dir", str(state)], "--state-dir", str(state),
                       "is a file")
    config.write_text(toml({"name": "gw", "state_dir": str(state)}, [FILE_STREAM]))
    assert_clean_error(["run", "--config", str(config)], str(config), "gateway.state_dir", "is a file")
    assert state.read_text() == "someone's file\n"
