"""`vigil record`: the microphone to WAV/FLAC through a real PulseAudio null sink, and the wearable
over BLE (fake BlueZ, real bleak) to EDF+, both started by the tests and stopped by PID.

Files must hold exactly the requested length, consecutive clips must be contiguous (the played WAV
comes out sample-exact across the file boundary), lost BLE samples must be 0 and annotated exactly,
and an existing file must never be replaced.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from tests.conftest import ROOT
from tests.fake_bluez import BusDaemon, FakeBlueZ
from tests.test_ble_source import ADDRESS, LABELS, UV_PER_LSB, Wearable
from tests.test_microphone import pulse  # noqa: F401  # the PulseAudio fixture

SAMPLE = sorted((ROOT / "edge" / "data" / "samples" / "fan").glob("normal_*.wav"))[0]


def _record(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "record", "--device", "pulse", *args, "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_microphone_clips_are_exact_and_never_overwrite(pulse: dict[str, str], tmp_path: Path,  # noqa: F811
                                                        fmt: str) -> None:
    import soundfile

    out = tmp_path / "rec"
    out.mkdir()
    mine = out / f"clip_0000.{fmt}"
    mine.write_bytes(b"not vigil's")
    recorder = _record(pulse, "--out", str(out), "--seconds", "1", "--clips", "3", "--format", fmt)
    assert recorder.stderr is not None and "recording" in recorder.stderr.readline()  # capture is running
    player = subprocess.Popen(["paplay", "--device=nullsink", str(SAMPLE)], env=pulse)
    try:
        stdout, stderr = recorder.communicate(timeout=60)
    finally:
        player.terminate()  # started by this test, stopped by PID
        player.wait(30)
    assert recorder.returncode == 0, stderr
    files = [Path(p) for p in json.loads(stdout)["files"]]
    assert [p.name for p in files] == [f"clip_0001.{fmt}", f"clip_0002.{fmt}", f"clip_0003.{fmt}"]
    assert mine.read_bytes() == b"not vigil's"
    clips = []
    for path in files:
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 16000, "PCM_16")
        clips.append(soundfile.read(str(path), dtype="int16")[0])
    heard = np.concatenate(clips)
    _, wav = scipy.io.wavfile.read(SAMPLE)
    lead = int(np.flatnonzero(heard)[0])  # recording starts before the player: leading silence
    corr = scipy.signal.correlate(wav.astype(float), heard[lead : lead + 8000].astype(float), mode="valid",
                                  method="fft")
    skip = int(np.argmax(corr))
    n = min(heard.size - lead, wav.size - skip)
    # PulseAudio's timing is not asserted (the null sink may run ahead); what was heard must be the WAV,
    # sample-exact, across a file boundary: consecutive clips lose and repeat nothing
    assert any(lead + 1000 < b < lead + n - 1000 for b in (16000, 32000)), (lead, n)
    np.testing.assert_array_equal(heard[lead : lead + n], wav[skip : skip + n])


def test_refuses_bad_lengths(tmp_path: Path) -> None:
    for args in (["--clips", "0"], ["--seconds", "0"], ["--ble", "vigil-wearable", "--seconds", "1.5"]):
        result = subprocess.run([sys.executable, "-m", "edge.cli", "record", "--out", str(tmp_path / "r"), *args],
                                capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert result.returncode == 2 and result.stderr.startswith("vigil: error: --")
        assert result.stderr.count("\n") == 1


def test_wearable_to_edf_with_lost_samples_annotated(bus: BusDaemon, tmp_path: Path) -> None:
    import pyedflib

    from edge.commands.record_ble import record_ble
    from edge.io.edf import read_edf_channel
    from edge.sources.ble import BleEcgSource

    (tmp_path / "ecg_0000.edf").write_bytes(b"not vigil's")

    async def scenario() -> tuple[Wearable, Any]:
        fake = await FakeBlueZ.start(bus.address)
        wearable = Wearable(fake, seconds=8, seed=3)
        source = BleEcgSource(address=ADDRESS, scan_timeout_s=5, backoff_s=(0.05, 0.5))
        device = asyncio.create_task(wearable.stream(disconnect_at=10_000, down_frames=0))
        result = await record_ble(source, tmp_path, seconds=3, clips=2, timeout_s=60)
        device.cancel()
        await fake.stop()
        return wearable, result

    wearable, result = asyncio.run(scenario())
    assert (tmp_path / "ecg_0000.edf").read_bytes() == b"not vigil's"
    assert [p.name for p in result.files] == ["ecg_0001.edf", "ecg_0002.edf"]
    per = 23
    delivered = np.zeros(len(wearable.counts), dtype=bool)
    for i in wearable.delivered:
        delivered[i * per : (i + 1) * per] = True
    offset = 0
    for path in result.files:
        reader = pyedflib.EdfReader(str(path))
        try:
            assert reader.getSignalLabels() == list(LABELS)
            assert {reader.getPhysicalDimension(i) for i in range(5)} == {"uV"}
            assert reader.getNSamples().tolist() == [3000] * 5 and reader.getSampleFrequency(0) == 1000
            digital = np.stack([reader.readSignal(i, digital=True) for i in range(5)], axis=1)
            physical = reader.readSignal(0)
            onsets, durations, texts = reader.readAnnotations()
        finally:
            reader.close()
        got = delivered[offset : offset + 3000]
        expected = wearable.counts[offset : offset + 3000]
        np.testing.assert_array_equal(digital[got], expected[got])  # exact ADC counts where delivered
        assert not digital[~got].any()  # lost: 0
        np.testing.assert_allclose(physical, digital[:, 0] * UV_PER_LSB, atol=UV_PER_LSB)
        lost = np.zeros(3000, dtype=bool)
        for onset, duration in zip(onsets, durations, strict=True):
            start = round(onset * 1000)
            lost[start : start + round(duration * 1000)] = True
        np.testing.assert_array_equal(lost, ~got)  # annotations cover exactly the lost samples
        assert all(t == "vigil: lost samples (written as 0)" for t in texts)
        channel = read_edf_channel(path, LABELS[0])  # read back: the lost samples are known again
        assert channel.lost is not None
        np.testing.assert_array_equal(channel.lost, ~got)
        offset += 3000
    assert result.lost == int((~delivered[:6000]).sum()) > 0


def test_more_gaps_than_edf_annotation_slots_are_merged_not_dropped(tmp_path: Path) -> None:
    """edflib keeps ANNOTATION_SLOTS annotations per 1 s record: 40 gaps in 2 s become 8 annotations
    that still cover every lost sample."""
    import pyedflib

    from edge.commands.record_ble import ANNOTATION_SLOTS, EdfClipWriter
    from firmware_bridge.codec import DeviceInfo
    from firmware_bridge.protocol import FORMAT_INT24

    info = DeviceInfo((1, 0, 0), 1, 500, FORMAT_INT24, 0.5, ("A", "B"))
    writer = EdfClipWriter(tmp_path, info, seconds=2, clips=1, prefix="x")
    rng = np.random.default_rng(4)
    counts = rng.integers(-(1 << 23), 1 << 23, size=(1000, 2))
    lost = np.zeros(1000, dtype=bool)
    for start in range(5, 1000, 25):  # 40 runs of 3 lost samples
        lost[start : start + 3] = True
    for a in range(0, 1000, 128):  # blocks that cut through runs
        writer.write(counts[a : a + 128] * np.float32(0.5), lost[a : a + 128])
    assert writer.done and writer.result.lost == 120 and writer.result.gaps == 40
    assert writer.result.files[0].suffix == ".bdf"
    reader = pyedflib.EdfReader(str(writer.result.files[0]))
    try:
        digital = reader.readSignal(1, digital=True)
        physical = reader.readSignal(1)
        onsets, durations, _ = reader.readAnnotations()
    finally:
        reader.close()
    np.testing.assert_array_equal(digital[~lost], counts[~lost, 1])  # 24-bit counts exact
    inside = np.abs(counts[:, 1]) < (1 << 23) - 2  # the header's range ends at 8388606 x 0.5 = 4194303 (8 chars)
    np.testing.assert_allclose(physical[~lost & inside], counts[~lost & inside, 1] * 0.5, rtol=1e-12, atol=1e-6)
    assert len(onsets) == 2 * ANNOTATION_SLOTS
    from edge.sources.file import EdfRecording

    replay = EdfRecording(writer.result.files[0], label="B", fs=500.0)  # `vigil run`'s file source
    missing = np.concatenate([b.missing for b in replay.blocks()])
    assert missing[lost].all() and missing.sum() < 1000  # lost samples replay as missing
    from edge.features.ecg import EcgSpec
    from edge.pipeline.series_scorer import load_series

    series = load_series(writer.result.files[0], EcgSpec(channel="B", fs=500.0, block=10, window=20), "ecg")
    np.testing.assert_array_equal(series.missing, lost.reshape(100, 10).any(axis=1) | series.missing)
    assert series.missing[lost.reshape(100, 10).any(axis=1)].all() and not series.missing.all()
    covered = np.zeros(1000, dtype=bool)
    for onset, duration in zip(onsets, durations, strict=True):
        covered[round(onset * 500) : round((onset + duration) * 500)] = True
    assert covered[lost].all() and covered.sum() < 1000


def test_aligner_places_blocks_by_their_start() -> None:
    """Sources number samples: a later start leaves lost samples (zeros, missing), an overlap is trimmed."""
    from edge.commands.record import Aligner

    aligner = Aligner()
    parts = aligner.align(100, np.ones((3, 2), np.float32), None)
    parts += aligner.align(105, np.full((2, 2), 2, np.float32), np.array([False, True]))
    parts += aligner.align(106, np.full((3, 2), 3, np.float32), None)  # first sample already taken
    samples = np.concatenate([p[0] for p in parts])
    missing = np.concatenate([p[1] for p in parts])
    np.testing.assert_array_equal(samples[:, 0], [1, 1, 1, 0, 0, 2, 2, 3, 3])
    np.testing.assert_array_equal(missing, [0, 0, 0, 1, 1, 0, 1, 0, 0])
    assert aligner.next == 109
