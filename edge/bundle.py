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
from edge.features.spec import FeatureSpec

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VARIANTS = ("int8", "float32")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelVariant:
    """One verified model file of a bundle and the thresholds chosen for its scores."""

    name: str
    path: Path
    window_threshold: float
    clip_threshold: float
    quantization: str


@dataclass(frozen=True)
class Bundle:
    """A loaded and verified bundle. ``manifest`` is the parsed manifest.json."""

    path: Path
    manifest: dict[str, Any]
    spec: FeatureSpec
    variants: dict[str, ModelVariant]

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
    spec = FeatureSpec.from_dict(_field(manifest, "features", manifest_path))
    variants = {}
    for name, entry in _field(manifest, "models", manifest_path).items():
        model_path = root / entry["file"]
        if not model_path.is_file():
            raise BundleError(f"{model_path}: model file named in the manifest is missing")
        actual = sha256_file(model_path)
        if actual != entry["sha256"]:
            raise BundleError(
                f"{model_path}: sha256 {actual[:12]}... does not match the manifest's {entry['sha256'][:12]}... "
                "(file corrupted or replaced)"
            )
        threshold = entry["threshold"]
        variants[name] = ModelVariant(
            name=name, path=model_path, window_threshold=float(threshold["window"]),
            clip_threshold=float(threshold["clip"]), quantization=str(entry.get("quantization", name)),
        )
    if manifest.get("default_variant") not in variants:
        raise BundleError(f"{manifest_path}: default_variant {manifest.get('default_variant')!r} names no model")
    return Bundle(path=root, manifest=manifest, spec=spec, variants=variants)


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    """Write manifest.json (sorted keys, indented) into an existing bundle directory."""
    path = root / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path
