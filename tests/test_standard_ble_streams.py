"""A Heart Rate Service strap and a Polar H10 configured in `vigil run`, against the fake BlueZ.

Plumbing, not detection: the bundles are the bundled Donut ECG model re-described for a KPI series
(one point per beat) and for 130 Hz ECG (8-sample points); what is checked is that both kinds are
configured like any other stream and that their samples are windowed, scored and counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge.sources.ble_standard import HEART_RATE_MEASUREMENT, HEART_RATE_SERVICE, PMD_CONTROL, PMD_DATA, PMD_SERVICE
from tests.conftest import ROOT
from tests.fake_bluez import FakeBlueZ, FakeCharacteristic
from tests.test_service import NotifySocket, write_config

DONUT = ROOT / "edge" / "data" / "bundles" / "ecg-donut"
HR, POLAR = "C0:FF:EE:00:01:80", "A0:9E:1A:00:00:10"
STRAP_WINDOWS = 300 - 120 + 1  # 300 beats, windows of 120
POLAR_WINDOWS = (73 * 30) // 8 - 120 + 1  # 30 frames of 73 samples, points of 8, windows of 120


def redescribed(tmp: Path, name: str, modality: str, features: dict[str, Any]) -> Path:
    out = tmp / name
    shutil.copytree(DONUT, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(modality=modality, features=features, name=name)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def pmd_frame(k: int, uv: np.ndarray) -> bytes:
    samples = uv[73 * k : 73 * (k + 1)]
    ts = 10**12 + round((73 * (k + 1) - 1) * 1e9 / 130)
    body = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in samples)
    return bytes([0x00]) + ts.to_bytes(8, "little") + bytes([0x00]) + body


def test_heart_rate_and_polar_streams_run_in_the_service(bus: Any, tmp_path: Path) -> None:
    kpi = redescribed(tmp_path, "rr", "kpi", {"channel": "value", "fs": 1.0, "block": 1, "window": 120,
                                              "label_threshold": 0.0, "unit": ""})
    ecg = redescribed(tmp_path, "polar", "ecg", {"channel": "ECG", "fs": 130.0, "block": 8, "window": 120,
                                                 "label_threshold": 0.0, "unit": "uV"})
    config = write_config(tmp_path / "ble.toml", [
        {"name": "strap", "kind": "ble-hr", "bundle": str(kpi), "names": ["HRM-Pro"], "stall_s": 30},
        {"name": "polar", "kind": "ble-polar", "bundle": str(ecg), "address": POLAR, "stall_s": 30},
    ], tmp_path / "state")
    notify = NotifySocket(tmp_path / "notify.sock")
    rng = np.random.default_rng(4)
    rr = rng.integers(600, 900, size=300)  # beats, in 1/1024 s
    uv = rng.integers(-1500, 1500, size=73 * 30)

    async def scenario() -> str:
        fake = await FakeBlueZ.start(bus.address)
        fake.add_peripheral(HR, "HRM-Pro", HEART_RATE_SERVICE, [FakeCharacteristic(HEART_RATE_MEASUREMENT, ["notify"])])
        fake.add_peripheral(POLAR, "Polar H10 0000ABCD", PMD_SERVICE, [
            FakeCharacteristic(PMD_CONTROL, ["write"]), FakeCharacteristic(PMD_DATA, ["notify"])])
        env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "DBUS_SYSTEM_BUS_ADDRESS": bus.address,
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(300):
                if fake.is_notifying(HR, HEART_RATE_MEASUREMENT) and fake.is_notifying(POLAR, PMD_DATA):
                    break
                await asyncio.to_thread(notify.collect, 0.05)
            for pair in rr.reshape(-1, 2):
                await fake.notify(HR, HEART_RATE_MEASUREMENT, bytes([0x10, 75]) + pair.astype("<u2").tobytes())
            for k in range(30):
                if k != 11:  # one frame lost on the air
                    await fake.notify(POLAR, PMD_DATA, pmd_frame(k, uv))
            done = f"strap {STRAP_WINDOWS} windows .*polar {POLAR_WINDOWS} windows"
            for _ in range(300):
                await asyncio.to_thread(notify.collect, 0.1)
                status = [m for _, m in notify.messages if m.startswith("STATUS=2 streams")]
                if status and re.search(done, status[-1]):
                    break
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(notify.collect, 1.0)
            code = proc.wait(20)
            await fake.stop()
        assert code == 0, proc.stderr.read() if proc.stderr else ""
        return [m for _, m in notify.messages if m.startswith("STATUS=2 streams")][-1]

    status = asyncio.run(scenario())
    strap = int(re.search(r"strap (\d+) windows", status).group(1))  # type: ignore[union-attr]
    polar = int(re.search(r"polar (\d+) windows", status).group(1))  # type: ignore[union-attr]
    assert strap == STRAP_WINDOWS  # every beat a point: one window per beat once 120 have arrived
    assert polar == POLAR_WINDOWS  # the lost frame's samples are missing points, not a shift
