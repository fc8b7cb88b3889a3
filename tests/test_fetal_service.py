"""The fetal stage in `vigil run`: an ECG file stream with abdominal leads raises fetal-* events
(a lead-off stretch of 15 s written into a real recording becomes a fetal-flatline event), and the wearable's
blocks carry every lead to it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.io.multilead import open_leads
from tests.conftest import ROOT
from tests.test_service import write_config

R04 = ROOT.parent / "shared" / "data" / "adfecgdb" / "r04.edf"
LABELS = ["Direct_1", "Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4"]


def edf_with_lead_off(path: Path, off_s: tuple[int, int]) -> Path:
    import pyedflib

    rec = open_leads(R04, LABELS)
    x = np.concatenate(list(rec.blocks(60000)))[:60000]
    rec.close()
    x[off_s[0] * 1000:off_s[1] * 1000, 1:] = 0.0  # every abdominal electrode off
    headers = [{"label": label, "dimension": "uV", "sample_frequency": 1000, "physical_min": -3000.0,
                "physical_max": 3000.0, "digital_min": -32768, "digital_max": 32767} for label in LABELS]
    pyedflib.highlevel.write_edf(str(path), [np.ascontiguousarray(c) for c in x.T], headers)
    return path


@pytest.mark.slow  # the service on a whole record
def test_file_stream_raises_fetal_events_that_follow_the_schema(tmp_path: Path) -> None:
    import jsonschema

    from edge.sinks.events import schema

    edf = edf_with_lead_off(tmp_path / "r04_off.edf", (30, 45))  # over the 10 s an event needs
    stream = {"name": "fetal", "kind": "file", "bundle": str(ROOT / "edge" / "data" / "bundles" / "ecg-donut"),
              "path": str(edf), "realtime": False, "loop": False}
    config = write_config(tmp_path / "fetal.toml", [stream], tmp_path / "state")
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:  # the gateway ends by itself once its one stream has ended
            assert proc.wait(240) == 0, log.read_text()
        finally:
            proc.kill()
    assert "end of input" in log.read_text()
    events = [json.loads(line) for line in (tmp_path / "state" / "events.jsonl").read_text().splitlines()]
    for event in events:
        jsonschema.validate(event, schema())
    flat = [e for e in events if e["detector"] == "fetal-flatline"]
    assert flat and all(e["stream"] == "fetal" for e in flat)
    assert any(e["start_s"] <= 31.0 and e["end_s"] >= 44.0 for e in flat), flat
    assert not [e for e in flat if e["end_s"] < 29.0 or e["start_s"] > 46.0]  # only at the lead-off


def test_wearable_blocks_carry_every_lead_for_the_fetal_stage() -> None:
    from edge.fetal.stage import FetalStage
    from edge.sources.base import Channels
    from edge.sources.ble import BleEcgSource
    from firmware_bridge.codec import DeviceInfo

    source = BleEcgSource(channel="Abdomen_2", rate=1000.0, address="C0:FF:EE:00:00:01")
    source.info = DeviceInfo((1, 0, 0), 1, 1000, 0, 0.5, tuple(LABELS))
    source._order = [2, 0, 1, 3, 4]  # what subscribing to a device with these labels sets for Abdomen_2
    counts = np.arange(50, dtype=np.int32).reshape(10, 5)
    block = source._block(100, counts, None)
    # the bundle's lead first (the stream's column 0), then the others, every one named
    assert block.samples.shape == (10, 5) and np.array_equal(block.samples, counts[:, [2, 0, 1, 3, 4]] * 0.5)
    assert source.channels().labels == ("Abdomen_2", "Direct_1", "Abdomen_1", "Abdomen_3", "Abdomen_4")
    stage = FetalStage("0" * 64, 1000.0)
    stage.open(source.channels())
    assert stage.chain is not None and stage.columns == [0, 2, 3, 4]
    assert stage.chain.labels == ["Abdomen_2", "Abdomen_1", "Abdomen_3", "Abdomen_4"]
    scalp = FetalStage("0" * 64, 1000.0)
    scalp.open(Channels(("Direct_1",)))
    assert scalp.chain is None and not scalp.push(block).events


@pytest.mark.slow  # the service on a whole record
def test_fhr_reaches_the_page_state_and_metrics(tmp_path: Path) -> None:
    """`vigil run --http` with an abdominal ECG file: the fetal stage's heart rate feeds the stream's FHR
    trace, which the page's FHR panel draws from /api/state (and /api/live), and the FHR gauge."""
    from tests.mosquitto import free_port
    from tests.test_live_page import Service

    edf = edf_with_lead_off(tmp_path / "r04_60s.edf", (59, 59))  # no lead-off: 60 s of r04 as recorded
    port = free_port()
    stream = {"name": "fetal", "kind": "file", "bundle": str(ROOT / "edge" / "data" / "bundles" / "ecg-donut"),
              "path": str(edf), "realtime": False, "loop": False}
    keeper = {"name": "keeper", "kind": "file", "bundle": str(ROOT / "edge" / "data" / "bundles" / "slider"),
              "path": str(next((ROOT / "edge" / "data" / "samples" / "slider").glob("normal_*.wav"))), "loop": True}
    # the looped keeper holds the service up after the record (it ends once every stream has ended)
    config = write_config(tmp_path / "fetal.toml", [stream, keeper], tmp_path / "state")
    config.write_text(config.read_text() + f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    service = Service(["--config", str(config)], port, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "end of input" not in service.log.read_text():
            time.sleep(0.2)
        status, _, body = service.get("/api/state")
        assert status == 200
        (entry,) = [s for s in json.loads(body)["streams"] if s["name"] == "fetal"]
        fhr = np.array(entry["fhr"], dtype=float)
        assert fhr.ndim == 2 and fhr.shape[0] >= 60, entry["fhr"][:5]  # about 2 beats/s over 51 s of reported beats
        assert np.all(np.diff(fhr[:, 0]) > 0) and fhr[0, 0] > 0 and fhr[-1, 0] <= 60
        assert 110 <= np.median(fhr[:, 1]) <= 160  # r04: about 130 bpm
        ctg = entry["ctg"]  # the stage's last CTG reading, for the page: 60 s has no baseline, and says so
        assert ctg["baseline_bpm"] is None and ctg["category"] is None and "valid FHR" in ctg["reason"]
        assert 40 <= ctg["covered_s"] <= 60
        _, _, metrics = service.get("/metrics")
        (line,) = [m for m in metrics.splitlines() if m.startswith('vigil_fhr_beats_per_minute{stream="fetal"}')]
        assert float(line.split()[-1]) == fhr[-1, 1]
    finally:
        assert service.terminate() == 0, service.log.read_text()
