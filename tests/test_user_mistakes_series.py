"""Fetal-ECG, KPI and gateway-service inputs as real users hand them over.

Each test was red before its fix: a spreadsheet's CSV (byte-order mark, semicolons) refused, a
mistyped timestamp growing memory without bound, a binary file given as a CSV or a WFDB signal file
cut short ending in a traceback, a lead given twice analysed twice, and a recording in mV scored as
if it were in uV (no event on anything), by `vigil score` and by `vigil run` alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyedflib
import pytest

from edge.bundle.loader import load_bundle
from edge.errors import InputFileError
from edge.io.kpi_csv import read_kpi_csv
from edge.pipeline.series_scorer import donut_scorer, ecg_series, score_series
from edge.sources.base import needs_of
from edge.sources.file import open_file_recording
from tests.conftest import ROOT, run_vigil
from tests.test_cli_errors import assert_clean_error

ADFECG = ROOT.parent / "shared" / "data" / "adfecgdb"
KPI = ROOT.parent / "shared" / "data" / "kpi-aiops2018" / "0efb375b-b902-3661-ab23-9a0bb799f4e3.csv"
ECG_BUNDLE = ROOT / "edge" / "data" / "bundles" / "ecg-donut"


def kpi_rows(n: int = 300) -> list[str]:
    """The first n rows of a real AIOps KPI (headerless timestamp,value,label; 300 s interval)."""
    return KPI.read_text().splitlines()[:n]


def test_spreadsheet_csv_with_bom_or_semicolons_reads_as_the_plain_file(tmp_path: Path) -> None:
    rows = kpi_rows()
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(rows) + "\n")
    variants = {
        "bom.csv": "\ufeff" + "\n".join(rows) + "\n",  # Excel's "CSV UTF-8"
        "bom_header.csv": "\ufefftimestamp,value,label\r\n" + "\r\n".join(rows) + "\r\n",
        "semicolons.csv": "timestamp;value;label\n" + "\n".join(r.replace(",", ";") for r in rows) + "\n",
        "tabs.csv": "\n".join(r.replace(",", "\t") for r in rows) + "\n",
    }
    want = read_kpi_csv(plain)
    for name, text in variants.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        got = read_kpi_csv(tmp_path / name)
        assert np.array_equal(got.timestamps, want.timestamps), name
        assert np.array_equal(got.values, want.values), name
        assert np.array_equal(got.labels, want.labels) and not got.missing.any(), name


def test_a_mistyped_timestamp_is_refused_naming_its_line_not_filled_with_missing_points(tmp_path: Path) -> None:
    # one extra digit in a timestamp would insert ~1e8 missing points (gigabytes); 200,000 keeps the old
    # code's run cheap while over the limit (100,000 points, or 10 per row)
    rows = kpi_rows(50)
    last = int(rows[-1].split(",")[0])
    bad = tmp_path / "typo.csv"
    bad.write_text("\n".join([*rows, f"{last + 300 * 200_001},0.25,0"]) + "\n")
    with pytest.raises(InputFileError, match=r"typo\.csv: line 51: timestamp \d+ is 200001 intervals of 300 s"):
        read_kpi_csv(bad)
    ok = tmp_path / "outage.csv"  # a real outage (a week of 5-min points) is still completed
    ok.write_text("\n".join([*rows, f"{last + 300 * 2016},0.25,0"]) + "\n")
    series = read_kpi_csv(ok)
    assert series.values.size == 50 + 2016 and int(series.missing.sum()) == 2015


def test_a_binary_file_given_as_a_kpi_csv_is_one_line(tmp_path: Path) -> None:
    line = assert_clean_error(["train", "kpi", str(ADFECG / "r01.edf"), "--out", str(tmp_path / "b")],
                              "r01.edf", "not a text CSV")
    assert "UTF-8" in line
    assert not (tmp_path / "b").exists()


def test_a_wfdb_signal_file_cut_short_is_refused_before_reading(tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    with pyedflib.EdfReader(str(ADFECG / "r01.edf")) as reader:
        leads = np.stack([reader.readSignal(i, 0, 5000) for i in range(1, 5)], axis=1) / 1000.0  # mV
    wfdb.wrsamp("rec", fs=1000, units=["mV"] * 4, sig_name=[f"Abdomen_{i}" for i in range(1, 5)],
                p_signal=leads, fmt=["16"] * 4, write_dir=str(tmp_path))
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:10_000])  # a copy that stopped half way
    assert_clean_error(["beats", str(tmp_path / "rec.hea"), "--json"], "rec.dat", "10000 bytes",
                       "40000 bytes expected")


def test_a_lead_given_twice_is_refused() -> None:
    assert_clean_error(["beats", str(ADFECG / "r01.edf"), "--channels", "Abdomen_1,Abdomen_2,Abdomen_1"],
                       "--channels", "'Abdomen_1' given twice")


def write_edf_in(path: Path, unit: str, seconds: int = 60, record: str = "r01") -> None:
    """A record's first minute (Direct_1 and the abdominal leads) with its physical values in `unit`."""
    factor = {"uV": 1.0, "mV": 1e-3}[unit]
    with pyedflib.EdfReader(str(ADFECG / f"{record}.edf")) as reader:
        headers = [reader.getSignalHeader(i) for i in range(5)]
        signals = [reader.readSignal(i, 0, 1000 * seconds) * factor for i in range(5)]
    for h in headers:
        h.update(dimension=unit, physical_min=h["physical_min"] * factor, physical_max=h["physical_max"] * factor)
    writer = pyedflib.EdfWriter(str(path), 5, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setSignalHeaders(headers)
    writer.writeSamples(signals)
    writer.close()


def test_an_edf_in_millivolts_is_scored_as_the_same_signal_in_microvolts(tmp_path: Path) -> None:
    write_edf_in(tmp_path / "uv.edf", "uV")
    write_edf_in(tmp_path / "mv.edf", "mV")
    bundle = load_bundle(ECG_BUNDLE)
    spec = bundle.ecg_spec
    uv, mv = ecg_series(tmp_path / "uv.edf", spec), ecg_series(tmp_path / "mv.edf", spec)
    assert np.allclose(mv.values, uv.values, atol=0.05)  # uV; the EDF's 16-bit steps are 0.1 uV
    scorer = donut_scorer(bundle)
    s_uv, s_mv = score_series(bundle, scorer, uv), score_series(bundle, scorer, mv)
    # the same to int8 rounding (one quantization step may flip near a point); in uV units by mistake, the
    # mV file scored about -0.45 everywhere, under any threshold
    assert np.nanmedian(np.abs(s_mv - s_uv)) < 0.01 and np.nanmax(np.abs(s_mv - s_uv) / np.abs(s_uv)) < 0.2
    threshold = bundle.variant().window_threshold
    assert np.nansum(s_mv > threshold) == np.nansum(s_uv > threshold)
    # the daemon's file source: the Donut channel's blocks in the model's unit too
    replayed = {name: np.concatenate([b.samples[:, 0] for b in open_file_recording(tmp_path / name, needs).blocks()])
                for name, needs in (("uv.edf", needs_of(bundle)), ("mv.edf", needs_of(bundle)))}
    assert np.allclose(replayed["mv.edf"], replayed["uv.edf"], atol=0.1)


def test_beats_reads_a_blank_edf_unit_as_microvolts(tmp_path: Path) -> None:
    """Some EDF writers leave the unit empty: the Donut paths read it as uV, beats refused the file."""
    write_edf_in(tmp_path / "uv.edf", "uV", seconds=10)
    data = bytearray((tmp_path / "uv.edf").read_bytes())
    ns = int(data[252:256])
    dim = 256 + ns * 96
    data[dim : dim + 8 * ns] = b" " * 8 * ns
    (tmp_path / "blank.edf").write_bytes(bytes(data))
    results = [json.loads(run_vigil("beats", str(tmp_path / name), "--json", check=True).stdout)
               for name in ("uv.edf", "blank.edf")]
    assert results[0]["fetal_peaks"] and results[1]["fetal_peaks"] == results[0]["fetal_peaks"]


def test_an_edf_channel_in_an_unknown_unit_is_refused(tmp_path: Path) -> None:
    write_edf_in(tmp_path / "uv.edf", "uV", seconds=10)
    data = bytearray((tmp_path / "uv.edf").read_bytes())
    ns = int(data[252:256])
    dim = 256 + ns * 96  # the physical dimension fields, 8 characters per signal
    data[dim : dim + 8] = b"mmHg    "  # Direct_1 (signal 0) in a pressure unit
    (tmp_path / "mmhg.edf").write_bytes(bytes(data))
    with pytest.raises(InputFileError, match=r"mmhg\.edf: channel 'Direct_1' in unit 'mmHg' \(expected uV"):
        ecg_series(tmp_path / "mmhg.edf", load_bundle(ECG_BUNDLE).ecg_spec)


@pytest.mark.parametrize(("extra", "needles"), [
    (["--out", "{file}"], ["--out", "is a file"]),
    (["--out", "{file}/sub"], ["--out", "cannot create the folder"]),
    (["--out", "{tmp}/rec", "--prefix", "../elsewhere", "--timeout", "2"], ["--prefix '../elsewhere'", "no folder"]),
    (["--out", "{tmp}/rec", "--timeout", "-1"], ["--timeout -1", "above 0"]),
    (["--out", "{tmp}/rec", "--format", "flac"], ["--format flac", "records EDF+"]),  # was silently ignored
])
def test_record_arguments_are_checked_before_anything_is_written(tmp_path: Path, extra: list[str],
                                                                 needles: list[str]) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("mine\n")
    args = [a.format(file=mine, tmp=tmp_path) for a in extra]
    assert_clean_error(["record", "--ble", "C0:FF:EE:00:00:01", *args], *needles)
    assert mine.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_event_log_path_that_is_a_folder_is_one_line_at_start(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(f'[gateway]\nname = "gw"\nstate_dir = "{tmp_path / "state"}"\n\n'
                      f'[events]\njsonl = "{tmp_path}"\n\n'
                      f'[[streams]]\nname = "ecg"\nkind = "file"\nbundle = "{ECG_BUNDLE}"\n'
                      f'path = "{ADFECG / "r01.edf"}"\nrealtime = false\n')
    assert_clean_error(["run", "--config", str(config)], "vigil.toml: events.jsonl", "is a folder")


def test_beats_plot_never_replaces_a_file_of_the_users(tmp_path: Path) -> None:
    mine = tmp_path / "scan.png"
    mine.write_bytes(b"the ultrasound picture")
    assert_clean_error(["beats", str(ADFECG / "r01.edf"), "--plot", str(mine)], "--plot", "file exists", "--force")
    assert mine.read_bytes() == b"the ultrasound picture"
    assert_clean_error(["beats", str(ADFECG / "r01.edf"), "--plot", str(tmp_path / "gone" / "r01.png")],
                       "folder", "does not exist")


def test_simulate_sends_microvolt_counts_from_an_edf_in_millivolts(tmp_path: Path) -> None:
    import struct

    from edge.commands.simulate import SimulateOptions, run
    from firmware_bridge.codec import decode

    def counts(path: Path) -> np.ndarray:
        data, out, i = path.read_bytes(), [], 0
        while i < len(data):
            (n,) = struct.unpack("<H", data[i : i + 2])
            out.append(np.asarray(decode(data[i + 2 : i + 2 + n]).samples))
            i += 2 + n
        return np.concatenate(out)

    write_edf_in(tmp_path / "uv.edf", "uV", seconds=5)
    write_edf_in(tmp_path / "mv.edf", "mV", seconds=5)
    for name in ("uv", "mv"):
        run(tmp_path / f"{name}.edf", tmp_path / f"{name}.frames", SimulateOptions())
    uv, mv = counts(tmp_path / "uv.frames"), counts(tmp_path / "mv.frames")
    assert uv.shape == mv.shape and np.abs(uv).max() > 1000  # 0.1 uV counts of a real ECG
    assert np.abs(mv - uv).max() <= 1  # the same counts, to the rounding of the mV file's 16-bit steps
    assert_clean_error(["simulate", str(tmp_path / "uv.edf"), "--out", str(tmp_path / "z.frames"),
                        "--uv-per-lsb", "0"], "--uv-per-lsb 0", "above 0")
    assert not (tmp_path / "z.frames").exists()


def test_simulate_memory_does_not_grow_with_the_recording(tmp_path: Path) -> None:
    import tracemalloc

    from edge.commands.simulate import SimulateOptions, run

    write_edf_in(tmp_path / "minute.edf", "uV", seconds=60)
    peaks = {}
    for name, path in (("1 min", tmp_path / "minute.edf"), ("5 min", ADFECG / "r01.edf")):
        tracemalloc.start()
        try:
            run(path, tmp_path / "out.frames", SimulateOptions(loss=0.02, reorder=0.01, seed=1))
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # whole recordings and frame lists in memory: 9.6 MB for 1 min, 48 MB for 5 (a 2-hour EDF: 1.2 GB RSS)
    assert peaks["5 min"] < 2 * peaks["1 min"], peaks


def test_an_outbox_path_holding_a_file_of_the_users_is_one_line_and_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "outbox.sqlite").write_text("my notes\n")
    config = tmp_path / "vigil.toml"
    config.write_text(f'[gateway]\nname = "gw"\nstate_dir = "{state}"\n\n[mqtt]\nhost = "127.0.0.1"\nport = 1\n\n'
                      f'[[streams]]\nname = "ecg"\nkind = "file"\nbundle = "{ECG_BUNDLE}"\n'
                      f'path = "{ADFECG / "r01.edf"}"\nrealtime = false\n')
    assert_clean_error(["run", "--config", str(config)], "outbox.sqlite", "file is not a database")
    assert (state / "outbox.sqlite").read_text() == "my notes\n"


@pytest.mark.slow  # a whole record through the service
def test_a_failing_sink_stops_neither_the_stream_nor_the_event_log(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import sqlite3

    from edge.service.config import parse_config
    from edge.service.daemon import Service
    from edge.sinks.outbox import Outbox

    def full(self: Outbox, event_id: str, topic: str, payload: str) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Outbox, "put", full)
    write_edf_in(tmp_path / "uv.edf", "uV", record="r10")  # an electrode artefact at 7.7 s: an event to deliver
    config = parse_config({"gateway": {"name": "gw", "state_dir": str(tmp_path / "state")},
                           "mqtt": {"host": "127.0.0.1", "port": 1},
                           "streams": [{"name": "ecg", "kind": "file", "bundle": str(ECG_BUNDLE),
                                        "path": str(tmp_path / "uv.edf"), "realtime": False}]}, tmp_path)
    service = Service(config)

    async def main() -> int:
        async def stop_at_end() -> None:
            while not service.runners or any(r.state.state not in ("ended", "failed")
                                             for r in service.runners.values()):
                await asyncio.sleep(0.1)
            service._stop.set()

        stopper = asyncio.create_task(stop_at_end())
        code = await asyncio.wait_for(service.run(), 60)
        await stopper
        return code

    assert asyncio.run(main()) == 0
    state = next(iter(service.runners.values())).state
    assert state.state == "ended" and state.events >= 1, (state.state, state.reason)
    logged = [json.loads(line) for line in (tmp_path / "state" / "events.jsonl").read_text().splitlines()]
    assert len([e for e in logged if e["phase"] == "closed"]) == state.events


def test_sub_second_timestamps_are_named_as_such_and_a_loggers_jitter_rounds_away(tmp_path: Path) -> None:
    fast = tmp_path / "fast.csv"  # a 2 Hz sensor: whole seconds would make every other row a duplicate
    fast.write_text("timestamp,value\n" + "".join(f"{1.7e9 + i / 2:.1f},{i}\n" for i in range(20)))
    with pytest.raises(InputFileError, match=r"fast\.csv: line 3: timestamp 1700000000\.5 is 0\.5 s after"):
        read_kpi_csv(fast)
    jitter = tmp_path / "jitter.csv"  # time.time() every 60 s, a few ms late each time
    jitter.write_text("".join(f"{1_700_000_000 + 60 * i + 0.003 * (i % 7):.3f},{i}\n" for i in range(20)))
    series = read_kpi_csv(jitter)
    assert series.interval_s == 60 and series.values.size == 20 and not series.missing.any()


def test_beats_refuses_a_recording_too_short_for_a_fetal_period(tmp_path: Path) -> None:
    write_edf_in(tmp_path / "two.edf", "uV", seconds=2)  # r01's first 2 s: 9 beats found where 4 are annotated
    assert_clean_error(["beats", str(tmp_path / "two.edf"), "--json"], "two.edf", "2.0 s of signal",
                       "shorter than the 3 s")
    write_edf_in(tmp_path / "three.edf", "uV", seconds=3)
    assert run_vigil("beats", str(tmp_path / "three.edf"), "--json", check=True).stdout.count("\n") == 1


@pytest.mark.slow  # `vigil train` starts TensorFlow before it refuses, five times
@pytest.mark.parametrize(("tail", "needle"), [
    (lambda r: [f"{r[0]},,0" for r in r], "no normal point in the first 70 %"),  # every value empty
    (lambda r: [f"{r[0]},{r[1]},1" for r in r], "no normal point in the first 70 %"),  # every point labelled
    (lambda r: [f"{x[0]},{x[1]},{int(i >= 350)}" for i, x in enumerate(r)], "no normal point in the last 30 %"),
    (lambda r: [",".join(x) for x in r[:300]], "300 points; its last 30 % by time validates the model"),
    (lambda r: [f"{x[0]},7.5,0" for x in r], "every normal value to fit on is 7.5"),  # a stuck sensor: threshold 0
])
def test_train_kpi_without_normal_points_or_a_validation_window_is_one_line(tmp_path: Path, tail: Any,
                                                                          needle: str) -> None:
    rows = [r.split(",") for r in kpi_rows(500)]
    csv = tmp_path / "series.csv"
    csv.write_text("\n".join(tail(rows)) + "\n")
    result = run_vigil("train", "kpi", str(csv), "--out", str(tmp_path / "b"), "--epochs", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"vigil: error: {csv}: ") and needle in last, last
    assert not (tmp_path / "b").exists()
