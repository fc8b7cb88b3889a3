"""`vigil train audio DIR` on a plain folder of normal recordings: any names, any length, WAV or FLAC.

Real slider recordings (dcase2020-slider-id00-train) under odd names: a 40 s recording is cut into
four 10 s clips, sample-exact; a FLAC is read; DCASE names keep their labels; a bundle is trained.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from edge.io.wav import load_mono
from tests.conftest import ROOT, run_vigil
from train.dataset import discover_clips

SLIDER = ROOT.parent / "shared" / "data" / "dcase2020-slider-id00-train"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clips = sorted(SLIDER.glob("normal_*.wav"))[:7]
    root = tmp_path_factory.mktemp("data") / "my machine"
    (root / "sub dir").mkdir(parents=True)
    long = np.concatenate([soundfile.read(str(c), dtype="int16")[0] for c in clips[:4]])
    soundfile.write(str(root / "Recording 2026-11-25 morning.wav"), long, 16000, subtype="PCM_16")
    data, sr = soundfile.read(str(clips[4]), dtype="int16")
    soundfile.write(str(root / "take.FLAC"), data, sr, format="FLAC", subtype="PCM_16")
    shutil.copy(clips[5], root / "evening_take#3.wav")
    shutil.copy(clips[6], root / "sub dir" / "odd name (2).wav")
    (root / "notes.txt").write_text("not audio")
    return root


def test_plain_folder_is_cut_into_exact_clips(plain: Path) -> None:
    clips = discover_clips(plain, clip_seconds=10.0)
    assert len(clips) == 7 and {c.label for c in clips} == {0}
    parts = [c for c in clips if c.source is not None and c.source.name.startswith("Recording")]
    assert [c.offset_s for c in parts] == [0.0, 10.0, 20.0, 30.0]
    whole = soundfile.read(str(plain / "Recording 2026-11-25 morning.wav"), dtype="int16")[0]
    np.testing.assert_array_equal(np.concatenate([soundfile.read(str(c.path), dtype="int16")[0] for c in parts]),
                                  whole)
    flac = next(c for c in clips if c.path.suffix == ".FLAC")
    assert flac.source is None and flac.offset_s == 0.0
    slider = sorted(SLIDER.glob("normal_*.wav"))[4]  # what the FLAC was made from
    np.testing.assert_array_equal(load_mono(flac.path, sr=16000), load_mono(slider, sr=16000))
    assert len(discover_clips(plain, clip_seconds=20.0)) == 5  # 40 s -> two clips of 20 s
    with pytest.raises(Exception, match="no recordings under a folder of machine type 'fan'"):
        discover_clips(plain, "fan")


def test_dcase_names_keep_their_labels(dcase: Path) -> None:
    clips = discover_clips(dcase, "fan")
    assert all(c.label == int(c.path.name.startswith("anomaly_")) for c in clips)
    assert sum(c.label == 0 for c in clips) == 9 and {c.machine_id for c in clips} >= {"id_00", "id_06"}
    assert all(c.source is None and c.machine_type == "fan" for c in clips)  # 10 s WAVs are used as they are


@pytest.mark.training  # `vigil train audio`
def test_plain_folder_trains(plain: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = run_vigil("train", "audio", str(plain), "--detector", "kmeans", "--out", str(out), "--json",
                       "--test-fraction", "0.15")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    provenance = manifest["provenance"]
    names = [f["file"] for key in ("fit_files", "threshold_files", "reserved_test_files") for f in provenance[key]]
    assert len(names) == 7 and sum(".part" in n for n in names) == 4 and "take.FLAC" in names
    run_vigil("score", "--bundle", str(out), str(plain / "evening_take#3.wav"), check=True)
