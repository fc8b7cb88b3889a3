"""The modality registry: every bundled bundle's modality is known and decides its reader and framing;
an unknown modality in a manifest is refused with one line naming the file and the known ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.bundle.loader import load_bundle
from edge.errors import BundleError
from edge.modalities.base import modalities, modality_named
from edge.pipeline.framing import framing_for
from edge.sources.base import needs_of
from edge.sources.file import open_file_recording
from tests.conftest import ROOT, run_vigil

BUNDLES = sorted((ROOT / "edge" / "data" / "bundles").glob("*/manifest.json"))
SAMPLES = ROOT / "edge" / "data" / "samples"


def test_registry_knows_every_bundled_modality() -> None:
    named = {json.loads(path.read_text())["modality"] for path in BUNDLES}
    assert named == {"audio", "ecg"} and named <= set(modalities())
    assert set(modalities()) == {"audio", "ecg", "kpi"}  # the schema's enum, one module each side
    schema = json.loads((ROOT / "edge" / "schemas" / "bundle.schema.json").read_text())
    assert schema["properties"]["modality"]["enum"] == list(modalities())


def test_training_side_registers_every_modality_by_its_name() -> None:
    from train import cli as train_cli
    from train.modalities.base import evaluation_without_bundle, trainings

    assert list(trainings()) == list(modalities())  # one training entry per modality, same names
    train = next(a for a in train_cli.build_parser()._actions if a.dest == "command").choices["train"]
    offered = next(a for a in train._actions if a.dest == "modality").choices
    assert list(offered) == list(modalities())  # `vigil train NAME` comes from the registry alone
    assert evaluation_without_bundle().name == "audio"  # the one that trains and tests on splits


@pytest.mark.parametrize("manifest", BUNDLES, ids=lambda p: p.parent.name)
def test_bundle_modality_decides_needs_framing_and_reader(manifest: Path) -> None:
    bundle = load_bundle(manifest.parent)
    modality = bundle.input_modality
    assert modality is modality_named(bundle.modality) and modality.name == bundle.modality
    spec = bundle.window_spec
    assert isinstance(spec, modality.spec_type)
    assert type(framing_for(spec)) is type(modality.framing(spec))
    needs = needs_of(bundle)
    assert needs.modality == bundle.modality and needs.rate > 0
    sample = next(p for p in sorted(SAMPLES.rglob("*")) if p.suffix in modality.suffixes)
    recording = open_file_recording(sample, needs)
    assert recording.rate == needs.rate and recording.frames > 0


def test_levels_match_what_calibration_stores() -> None:
    """Audio keeps clip and window thresholds; a point series thresholds points only."""
    assert modality_named("audio").levels == ("clip", "window")
    assert modality_named("ecg").levels == modality_named("kpi").levels == ("window",)
    assert modality_named("ecg").heart_rate and not modality_named("kpi").heart_rate
    assert modality_named("kpi").timestamped and not modality_named("ecg").timestamped


def _renamed(tmp_path: Path, modality: str) -> Path:
    bundle = tmp_path / "valve"
    shutil.copytree(ROOT / "edge" / "data" / "bundles" / "valve", bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["modality"] = modality
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def test_unknown_modality_refused(tmp_path: Path) -> None:
    bundle = _renamed(tmp_path, "vibration")
    expected = f"{bundle / 'manifest.json'}: modality: 'vibration' is not one of audio, ecg, kpi"
    with pytest.raises(BundleError) as refused:
        load_bundle(bundle)
    assert str(refused.value) == expected
    with pytest.raises(BundleError, match="modality 'vibration' is not one of audio, ecg, kpi"):
        modality_named("vibration")


def test_unknown_modality_refused_by_the_cli(tmp_path: Path) -> None:
    bundle = _renamed(tmp_path, "vibration")
    result = run_vigil("score", "--bundle", str(bundle), str(SAMPLES / "valve" / "normal_id_02_00000017.wav"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert lines == [f"vigil: error: {bundle / 'manifest.json'}: modality: 'vibration' is not one of audio, ecg, kpi"]


def test_heart_rate_follows_the_modality_on_the_page_and_in_home_assistant() -> None:
    """The page draws an FHR plot, and Home Assistant gets an FHR sensor, for ECG streams only."""
    from edge.observe.home_assistant import discovery_messages
    from edge.observe.web.server import LivePage
    from edge.pipeline.stream_state import StreamState

    states = [StreamState(name, "file", modality, "donut", "int8", 1.0)
              for name, modality in (("pump", "audio"), ("belly", "ecg"), ("orders", "kpi"))]
    page = LivePage(lambda: states, dict, bytes)
    assert {s["name"]: s["heart_rate"] for s in page.snapshot()["streams"]} == {
        "pump": False, "belly": True, "orders": False}
    topics = [topic for topic, _ in discovery_messages("gw", [(s.name, s.modality) for s in states])]
    assert [t for t in topics if t.endswith("_fhr/config")] == ["homeassistant/sensor/vigil_gw/belly_fhr/config"]
