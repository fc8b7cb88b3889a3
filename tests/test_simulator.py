"""The simulated wearable: an EDF recording through frames, impairments and reassembly, sample-exact."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from edge.io.edf import read_edf_channel
from firmware_bridge.codec import DecodeError, decode
from firmware_bridge.reassembly import Reassembler
from firmware_bridge.simulator import to_counts
from tests.conftest import ROOT, run_vigil

EDF = ROOT.parent / "shared" / "data" / "adfecgdb" / "r04.edf"
LABELS = ("Direct_1", "Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4")


def read_frames(path: Path) -> list[bytes]:
    data, frames, pos = path.read_bytes(), [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<H", data, pos)
        frames.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return frames


def test_simulated_stream_reassembles_to_the_recording(tmp_path: Path) -> None:
    out = tmp_path / "r04.frames"
    summary = json.loads(run_vigil("simulate", str(EDF), "--out", str(out), "--loss", "0.02", "--duplicate", "0.01",
                                   "--reorder", "0.02", "--corrupt", "0.01", "--seed", "5", "--json",
                                   check=True).stdout)
    assert summary["frames_per_s"] < 50 and summary["bytes_per_s"] < 11_000  # 5 channels at 1 kHz, DLE payload
    reassembler, bad, runs = Reassembler(5, window=8), 0, []
    for frame in read_frames(out):
        try:
            runs += reassembler.push(decode(frame))
        except DecodeError:
            bad += 1
    runs += reassembler.flush()
    assert bad == summary["corrupted"]  # every corrupted frame was caught and counted
    samples = np.concatenate([r.samples for r in runs])
    missing = np.concatenate([r.missing for r in runs])
    assert runs[0].start == 0
    expected = to_counts(np.stack([read_edf_channel(EDF, label).samples for label in LABELS], axis=1), 0.1)
    expected = expected[: samples.shape[0]]
    np.testing.assert_array_equal(samples[~missing], expected[~missing])
    lost_frames = summary["lost"] + summary["corrupted"]
    assert missing.sum() == reassembler.stats.lost_samples
    assert missing.sum() >= 23 * lost_frames - 23 * 2  # the last frames may be short or never followed
    assert reassembler.stats.duplicates >= summary["duplicated"] - lost_frames
