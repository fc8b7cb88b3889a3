"""Model bundles: a directory with ``manifest.json`` and the ``.tflite`` files it names.

The manifest carries the format version, modality, detector kind, the full feature spec, the
normalization statistics, per model variant (int8, float32) its file, sha256, size, quantization
and thresholds, how the thresholds were chosen, provenance and metrics. The gateway refuses a
bundle whose format version it does not know or whose files do not match their checksums.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import BundleError
from edge.features.ecg import EcgSpec
from edge.features.spec import FeatureSpec

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VARIANTS = ("int8", "float32")
MODALITIES = ("audio", "ecg", "kpi")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelVariant:
    """The verified model file(s) of one variant and the thresholds chosen for its scores.

    Most detectors have one file (role "model"); Donut has an encoder and a decoder.
    """

    name: str
    paths: dict[str, Path]
    window_threshold: float
    clip_threshold: float
    quantization: str

    @property
    def path(self) -> Path:
        return self.paths["model"]


@dataclass(frozen=True)
class Bundle:
    """A loaded and verified bundle. ``manifest`` is the parsed manifest.json."""

    path: Path
    manifest: dict[str, Any]
    variants: dict[str, ModelVariant]

    @property
    def modality(self) -> str:
        return str(self.manifest["modality"])

    @property
    def spec(self) -> FeatureSpec:
        """The audio feature spec (audio bundles)."""
        if self.modality != "audio":
            raise BundleError(f"{self.path}: a {self.modality} bundle has no audio feature spec")
        return FeatureSpec.from_dict(self.manifest["features"])

    @property
    def ecg_spec(self) -> EcgSpec:
        """The ECG/KPI preparation spec (ecg and kpi bundles)."""
        if self.modality not in ("ecg", "kpi"):
            raise BundleError(f"{self.path}: an {self.modality} bundle has no ECG/KPI spec")
        return EcgSpec.from_dict(self.manifest["features"])

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def default_variant(self) -> str:
        return str(self.manifest["default_variant"])

    @property
    def detector_kind(self) -> str:
        return str(self.manifest["detector"]["kind"])

    def variant(self, name: str | None = None) -> ModelVariant:
        key = name or self.default_variant
        if key not in self.variants:
            raise BundleError(f"{self.path}: no {key!r} model (bundle has {', '.join(self.variants)})")
        return self.variants[key]

    def normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and std (dim,) float32 used to standardize features before the model."""
        norm = self.manifest["normalization"]
        return np.asarray(norm["mean"], dtype=np.float32), np.asarray(norm["std"], dtype=np.float32)


def _field(manifest: dict[str, Any], key: str, where: Path) -> Any:
    if key not in manifest:
        raise BundleError(f"{where}: manifest field {key!r} is missing")
    return manifest[key]


def _verified(root: Path, entry: dict[str, Any]) -> Path:
    model_path = root / entry["file"]
    if not model_path.is_file():
        raise BundleError(f"{model_path}: model file named in the manifest is missing")
    actual = sha256_file(model_path)
    if actual != entry["sha256"]:
        raise BundleError(
            f"{model_path}: sha256 {actual[:12]}... does not match the manifest's {entry['sha256'][:12]}... "
            "(file corrupted or replaced)"
        )
    return model_path


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle directory: format version, every model's sha256, feature spec."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{root}: not a bundle (expected a directory holding {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from None
    version = _field(manifest, "format_version", manifest_path)
    if version != FORMAT_VERSION:
        raise BundleError(f"{manifest_path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    modality = _field(manifest, "modality", manifest_path)
    if modality not in MODALITIES:
        raise BundleError(f"{manifest_path}: modality {modality!r} unknown (expected one of {', '.join(MODALITIES)})")
    features = _field(manifest, "features", manifest_path)
    FeatureSpec.from_dict(features) if modality == "audio" else EcgSpec.from_dict(features)
    variants = {}
    for name, entry in _field(manifest, "models", manifest_path).items():
        files = entry.get("files") or {"model": entry}
        paths = {role: _verified(root, f) for role, f in files.items()}
        threshold = entry["threshold"]
        variants[name] = ModelVariant(
            name=name, paths=paths, window_threshold=float(threshold["window"]),
            clip_threshold=float(threshold.get("clip", threshold["window"])),
            quantization=str(entry.get("quantization", name)),
        )
    if manifest.get("default_variant") not in variants:
        raise BundleError(f"{manifest_path}: default_variant {manifest.get('default_variant')!r} names no model")
    return Bundle(path=root, manifest=manifest, variants=variants)


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    """Write manifest.json (sorted keys, indented) into an existing bundle directory."""
    path = root / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path
