"""The typed bundle manifest, its JSON Schema and the one bundle writer."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import (
    SCHEMA_PATH,
    DeciderSettings,
    DetectorEntry,
    Manifest,
    ModelEntry,
    ModelFile,
    Threshold,
    parse_manifest,
)
from edge.bundle.manifest_parts import Calibration, CombineScales, NormalScores, Warmup
from edge.errors import BundleError
from tests.conftest import ROOT

BUNDLES = sorted((ROOT / "edge" / "data" / "bundles").iterdir())


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.name)
def test_every_bundled_manifest_is_valid_typed_and_round_trips(path: Path) -> None:
    raw = json.loads((path / "manifest.json").read_text())
    jsonschema.validate(raw, schema())
    bundle = load_bundle(path)
    assert bundle.manifest.to_json() == raw  # kept as read: nothing dropped or rewritten
    assert bundle.manifest.models[bundle.default_variant].window_threshold == raw["models"][raw["default_variant"]][
        "threshold"]["window"]
    assert bundle.manifest.mean.shape == bundle.manifest.std.shape


def test_kind_specific_keys_are_kept_and_allowed(tmp_path: Path) -> None:
    raw = json.loads((BUNDLES[1] / "manifest.json").read_text())
    raw["calibration"] = {"rule": "max of out-of-fold normal scores", "scores": [0.1, 0.2]}
    raw["detector"]["params"] = {"k": 5}
    raw["provenance"]["note"] = "extra metadata"
    jsonschema.validate(raw, schema())
    manifest = parse_manifest(raw, tmp_path / "manifest.json")
    assert manifest.calibration is not None and manifest.calibration.extra["scores"] == [0.1, 0.2]
    assert manifest.detector_params == {"k": 5} and manifest.to_json() == raw


def _drop(raw: dict, path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        raw = raw[key]
    del raw[path[-1]]


@pytest.mark.parametrize(("path", "field"), [
    (("modality",), "modality: missing (expected a string)"),
    (("detector", "kind"), "detector.kind: missing"),
    (("models", "int8", "threshold", "window"), "models.int8.threshold.window: missing (expected an integer or a"),
    (("models", "int8", "files", "maha", "sha256"), "models.int8.files.maha.sha256: missing"),
    (("normalization",), "normalization: missing (expected a table)"),
])
def test_a_missing_field_is_named_by_parser_and_schema(path: tuple[str, ...], field: str, tmp_path: Path) -> None:
    raw = copy.deepcopy(json.loads((BUNDLES[1] / "manifest.json").read_text()))
    _drop(raw, path)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, schema())
    with pytest.raises(BundleError) as info:
        parse_manifest(raw, tmp_path / "manifest.json")
    assert field in str(info.value) and str(tmp_path / "manifest.json") in str(info.value)


def test_a_wrong_type_is_named(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(BUNDLES[1], bundle)
    raw = json.loads((bundle / "manifest.json").read_text())
    raw["models"]["int8"]["threshold"]["window"] = "high"
    (bundle / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"models.int8.threshold.window: 'high' is not an integer or a number"):
        load_bundle(bundle)


def test_the_combined_hash_of_a_multi_model_bundle_comes_from_the_bundle() -> None:
    import hashlib

    bundle = load_bundle(ROOT / "edge" / "data" / "bundles" / "ecg-donut")
    files = json.loads((bundle.path / "manifest.json").read_text())["models"]["int8"]["files"]
    expected = hashlib.sha256("".join(files[r]["sha256"] for r in sorted(files)).encode()).hexdigest()
    assert bundle.variant().sha256 == expected
    fan = json.loads((BUNDLES[1] / "manifest.json").read_text())["models"]["int8"]["files"]  # the fused members
    assert load_bundle(BUNDLES[1]).variant("int8").sha256 == hashlib.sha256(
        "".join(fan[r]["sha256"] for r in sorted(fan)).encode()).hexdigest()
    single = ModelEntry({"model": ModelFile("model_int8.tflite", "ab" * 32)}, Threshold(0.0, 0.0), "int8")
    assert single.sha256 == "ab" * 32 and single.to_json()["sha256"] == "ab" * 32


def test_the_writer_commits_atomically_and_never_a_bundle_the_gateway_refuses(tmp_path: Path) -> None:
    from train.bundle_writer import BundleWriter

    manifest = load_bundle(BUNDLES[1]).manifest
    blob = (BUNDLES[1] / next(iter(manifest.models["int8"].files.values())).file).read_bytes()
    out = tmp_path / "new"
    with BundleWriter(out) as writer:
        file = writer.add_model("int8", blob)
        manifest = replace(manifest, models={"int8": replace(manifest.models["int8"], files={"model": file})},
                           default_variant="int8")
        writer.write(manifest)
        assert not out.exists()  # nothing at the destination before the commit
        writer.commit()
    assert load_bundle(out).variant().sha256 == file.sha256
    assert [p.name for p in tmp_path.iterdir()] == ["new"]  # no staging folder left behind
    broken = replace(manifest, modality="sound")
    refused = "modality: 'sound' is not one of audio, ecg, kpi"
    with pytest.raises(BundleError, match=refused), BundleWriter(out) as writer:
        writer.add_model("int8", blob)
        writer.write(broken)
    assert load_bundle(out).manifest.modality == "audio" and [p.name for p in tmp_path.iterdir()] == ["new"]


def _built() -> list[Manifest]:
    """Manifests as the trainers build them: an audio one (one file per variant, clip thresholds,
    out-of-fold scores) and a KPI one (encoder and decoder, warmup, a combined and a Donut variant)."""
    sha = "ab" * 32
    audio = Manifest(
        name="maha-fan", modality="audio", machine_type=None,
        detector=DetectorEntry("maha", "projection_norm", {}, "Mahalanobis distance", False),
        features={"set": "logmel", "sr": 16000}, mean=np.array([0.25, -1.5]), std=np.array([1.0, 2.0]),
        default_variant="int8", decider_table=DeciderSettings(3, 3),
        models={v: ModelEntry({"model": ModelFile(f"model_{v}.tflite", sha, 1234)}, Threshold(4.5, 3.25), v,
                              tensor_dtypes={"int8": 12}) for v in ("float32", "int8")},
        calibration=Calibration({"int8": NormalScores([0.5, 1.0], [0.75])}, {"kind": "percentile", "value": 95.0},
                                "out-of-fold k=5 by clip"),
        threshold_method={"method": "percentile", "percentile": 95.0}, provenance={"seed": 0, "fit_files": []},
        training={"seconds": 1.5}, metrics={"protocol": "reserved normal test clips"})
    scales = CombineScales(("zscore", "sr"), {"zscore": (1.0, 2.5), "sr": (0.5, 0.25)}, donut_power=0.5)
    files = {r: ModelFile(f"{r}_int8.tflite", sha, 10) for r in ("encoder", "decoder")}
    kpi = Manifest(
        name="donut-kpi", modality="kpi", detector=DetectorEntry("donut", "minus log-probability", {"window": 30}),
        features={"channel": "value", "window": 720}, mean=np.array(3.5), std=np.array(0.5),
        default_variant="float32", scoring={"samples": 16, "iterations": 10},
        models={"float32": ModelEntry(files, Threshold(1.25), "float32", score="z+sr", combine=scales,
                                      score_choice={"chosen": "z+sr"}, held_out={"normal": 9, "anomalous": 1}),
                "int8": ModelEntry(files, Threshold(7.0), "int8", score="donut")},
        calibration=Calibration({"float32": NormalScores([0.1, 0.2])}, {"kind": "percentile", "value": 99.0}, "val"),
        warmup=Warmup((1.0, 2.0, 0.0), (False, False, True), 86400))
    return [audio, kpi]


@pytest.mark.parametrize("manifest", _built(), ids=lambda m: m.modality)
def test_a_built_manifest_round_trips_typed_and_validates(manifest: Manifest, tmp_path: Path) -> None:
    written = json.loads(json.dumps(manifest.to_json()))  # through JSON text, as on disk
    jsonschema.validate(written, schema())
    parsed = parse_manifest(written, tmp_path / "manifest.json")
    assert parsed == manifest and parsed.to_json() == written
    assert parsed != replace(manifest, warmup=None, calibration=None)  # equality looks at the typed parts
    kinds = {v: parsed.scorer_names(v) for v in parsed.models}
    if manifest.modality == "kpi":  # the combined variant is served by the combiner, the other by Donut
        assert kinds == {"float32": ("kpi-combine",), "int8": ("minus log-probability", "donut")}
        assert written["warmup"]["missing"] == [False, False, True] and "machine_type" not in written
    else:
        assert written["machine_type"] is None and written["decider"] == {"on_windows": 3, "off_windows": 3}


def test_a_bad_combine_part_is_refused_by_parser_and_schema(tmp_path: Path) -> None:
    written = _built()[1].to_json()
    written["models"]["float32"]["combine"]["parts"] = ["zscore", "wavelet"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(written, schema())
    with pytest.raises(BundleError, match=r"models.float32.combine.parts: 'wavelet' is not one of donut, zscore"):
        parse_manifest(written, tmp_path / "manifest.json")
