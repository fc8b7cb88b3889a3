"""The typed bundle manifest, its JSON Schema and the one bundle writer."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import SCHEMA_PATH, parse_manifest
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
    assert bundle.manifest.to_dict() == raw  # kept as read: nothing dropped or rewritten
    assert bundle.manifest.models[bundle.default_variant].window_threshold == raw["models"]["int8"]["threshold"][
        "window"]
    assert bundle.manifest.mean.shape == bundle.manifest.std.shape


def test_kind_specific_keys_are_kept_and_allowed(tmp_path: Path) -> None:
    raw = json.loads((BUNDLES[1] / "manifest.json").read_text())
    raw["calibration"] = {"rule": "max of out-of-fold normal scores", "scores": [0.1, 0.2]}
    raw["detector"]["params"] = {"k": 5}
    raw["provenance"]["note"] = "extra metadata"
    jsonschema.validate(raw, schema())
    manifest = parse_manifest(raw, tmp_path / "manifest.json")
    assert manifest.extra["calibration"]["scores"] == [0.1, 0.2] and manifest.detector_params == {"k": 5}


def _drop(raw: dict, path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        raw = raw[key]
    del raw[path[-1]]


@pytest.mark.parametrize(("path", "field"), [
    (("modality",), "modality: missing (expected a string)"),
    (("detector", "kind"), "detector.kind: missing"),
    (("models", "int8", "threshold", "window"), "models.int8.threshold.window: missing (expected an integer or a"),
    (("models", "int8", "sha256"), "models.int8.sha256: missing"),
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
    single = load_bundle(BUNDLES[1])
    assert single.variant().sha256 == single.manifest.raw["models"]["int8"]["sha256"]


def test_the_writer_commits_atomically_and_never_a_bundle_the_gateway_refuses(tmp_path: Path) -> None:
    from train.bundle_writer import BundleWriter

    raw = json.loads((BUNDLES[1] / "manifest.json").read_text())
    blob = (BUNDLES[1] / raw["models"]["int8"]["file"]).read_bytes()
    out = tmp_path / "new"
    with BundleWriter(out) as writer:
        entry = writer.add_model("int8", blob)
        raw["models"]["int8"].update(entry)
        writer.write(raw)
        assert not out.exists()  # nothing at the destination before the commit
        writer.commit()
    assert load_bundle(out).variant().sha256 == entry["sha256"]
    assert [p.name for p in tmp_path.iterdir()] == ["new"]  # no staging folder left behind
    broken = dict(raw, modality="sound")
    refused = "modality: 'sound' is not one of audio, ecg, kpi"
    with pytest.raises(BundleError, match=refused), BundleWriter(out) as writer:
        writer.add_model("int8", blob)
        writer.write(broken)
    assert load_bundle(out).manifest.modality == "audio" and [p.name for p in tmp_path.iterdir()] == ["new"]
