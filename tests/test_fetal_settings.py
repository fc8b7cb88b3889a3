"""The fetal stage decides with the bundle's thresholds (manifest ``fetal`` table), not code constants."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.errors import BundleError
from edge.fetal.stage import FetalStage
from edge.io.multilead import open_leads
from edge.pipeline.decider import Event
from edge.pipeline.stream import contiguous, stages_for
from edge.sources.base import Block, Channels
from tests.conftest import ROOT
from tests.fetal_stream import LABELS

R04 = ROOT.parent / "shared" / "data" / "adfecgdb" / "r04.edf"
ECG = ROOT / "edge" / "data" / "bundles" / "ecg-donut"


def bundle_with(tmp_path: Path, fetal: dict[str, object] | None) -> Path:
    """The bundled ECG bundle, its manifest given a ``fetal`` table (None: none, the defaults)."""
    root = tmp_path / "ecg"
    shutil.copytree(ECG, root)
    manifest = json.loads((root / "manifest.json").read_text())
    if fetal is not None:
        manifest["fetal"] = fetal
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def stage_events(bundle: Path) -> tuple[list[Event], int]:
    """Fetal events and valid FHR points of r04's first 40 s, 3 s lost at 20 s, through the bundle's stage."""
    (stage,) = stages_for(load_bundle(bundle))
    assert isinstance(stage, FetalStage)
    stage.open(Channels(LABELS))
    rec = open_leads(R04)
    x = np.concatenate(list(rec.blocks(60000)))[:40000].astype(np.float32)
    rec.close()
    events, points, end = [], 0, 0
    for start in range(0, x.shape[0], 230):
        if 20010 <= start < 23000:
            continue  # lost over the link: the next block starts later
        for part in contiguous(Block(start, x[start : start + 230]), end, 2000):
            out = stage.push(part)
            events += out.events
            points += 0 if out.fhr is None else out.fhr[0].size
            end = part.start + part.samples.shape[0]
    return events + stage.finish(), points


def test_the_bundles_quality_threshold_decides_the_fetal_events_and_the_fhr_mask(tmp_path: Path) -> None:
    # 0.5 s over the threshold opens an event (the default waits 10 s: the 3 s lost would raise none)
    short = {"quality_on_frames": 5, "quality_off_frames": 10, "quality_gap_frames": 0}
    default, default_points = stage_events(bundle_with(tmp_path / "a", short))
    flat = [e for e in default if e.detector == "fetal-flatline"]
    assert any(e.start_s <= 20.5 and e.end_s >= 22.5 and e.threshold == 0.5 for e in flat), flat
    # a lost stretch scores flatline 1.0: a threshold of 1.0 (an event needs a score over it) raises none there
    strict, strict_points = stage_events(bundle_with(tmp_path / "b", short | {"quality_threshold": 1.0}))
    assert not [e for e in strict if e.detector == "fetal-flatline" and e.end_s > 20.0 and e.start_s < 23.0]
    assert all(e.threshold in (1.0, 0.5, 0.35) for e in strict if e.detector != "fetal-flatline")
    # a low threshold counts more frames bad: FHR points masked (59 valid points at 0.5, 56 at 0.01)
    _, loose_points = stage_events(bundle_with(tmp_path / "c", short | {"quality_threshold": 0.01}))
    print(default_points, strict_points, loose_points)
    assert loose_points < default_points <= strict_points


def test_the_bundles_fhr_thresholds_reach_the_fhr_rules(tmp_path: Path) -> None:
    manifest = load_bundle(bundle_with(tmp_path, {"brady_bpm": 100, "tachy_bpm": 170})).manifest
    settings = manifest.fetal
    assert manifest.to_json()["fetal"]["brady_bpm"] == 100  # written back as read
    stage = FetalStage("0" * 64, 1000.0, settings)
    stage.open(Channels(LABELS))
    assert stage.chain is not None
    assert (stage.chain.fhr_config.brady_bpm, stage.chain.fhr_config.tachy_bpm) == (100, 170)


@pytest.mark.parametrize("fetal, word", [({"quality_treshold": 0.4}, "quality_threshold"),
                                         ({"brady_bpm": 170}, "brady_bpm"), ({"quality_on_frames": 0}, "on_frames"),
                                         ({"quality_event_kinds": ["noise"]}, "quality_event_kinds")])
def test_a_bad_fetal_table_is_refused_by_name(tmp_path: Path, fetal: dict[str, object], word: str) -> None:
    with pytest.raises(BundleError, match=word):
        load_bundle(bundle_with(tmp_path, fetal))
