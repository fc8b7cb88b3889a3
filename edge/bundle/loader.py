"""Model bundles: a directory with ``manifest.json`` and the ``.tflite`` files it names.

The manifest (typed in :mod:`edge.bundle.manifest`, schema in ``edge/schemas/bundle.schema.json``)
carries the format version, modality, detector kind, the full feature spec, the normalization
statistics, per model variant (int8, float32) its file(s), sha256, size, quantization and
thresholds, how the thresholds were chosen, provenance and metrics. The gateway refuses a bundle
whose format version it does not know, whose manifest misses a field or whose files do not match
their checksums, with one line naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.bundle.manifest import FORMAT_VERSION, MODALITIES, Manifest, ModelEntry, parse_manifest
from edge.errors import BundleError
from edge.features.ecg import EcgSpec
from edge.features.spec import FeatureSpec

__all__ = ["FORMAT_VERSION", "MANIFEST", "MODALITIES", "VARIANTS", "Bundle", "ModelVariant", "load_bundle",
           "manifest_text", "sha256_file", "write_manifest"]

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
    """The verified model file(s) of one variant and the thresholds chosen for its scores.

    Most detectors have one file (role "model"); Donut has an encoder and a decoder.
    """

    name: str
    paths: dict[str, Path]
    entry: ModelEntry

    @property
    def path(self) -> Path:
        return self.paths["model"]

    @property
    def window_threshold(self) -> float:
        return self.entry.window_threshold

    @property
    def clip_threshold(self) -> float:
        """Threshold on a clip's mean window score (the window threshold where none was chosen)."""
        clip = self.entry.clip_threshold
        return self.entry.window_threshold if clip is None else clip

    @property
    def quantization(self) -> str:
        return self.entry.quantization

    @property
    def sha256(self) -> str:
        """What events name as the model: its file's sha256, or one hash of several files' hashes."""
        return self.entry.sha256


@dataclass(frozen=True)
class Bundle:
    """A loaded and verified bundle; ``manifest`` is the typed manifest (``manifest.to_json()`` its JSON)."""

    path: Path
    manifest: Manifest
    variants: dict[str, ModelVariant]

    @property
    def modality(self) -> str:
        return self.manifest.modality

    @property
    def spec(self) -> FeatureSpec:
        """The audio feature spec (audio bundles)."""
        if self.modality != "audio":
            raise BundleError(f"{self.path}: a {self.modality} bundle has no audio feature spec")
        return FeatureSpec.from_dict(self.manifest.features)

    @property
    def ecg_spec(self) -> EcgSpec:
        """The ECG/KPI preparation spec (ecg and kpi bundles)."""
        if self.modality not in ("ecg", "kpi"):
            raise BundleError(f"{self.path}: an {self.modality} bundle has no ECG/KPI spec")
        return EcgSpec.from_dict(self.manifest.features)

    @property
    def window_spec(self) -> FeatureSpec | EcgSpec:
        """How a stream windows this bundle's input: the audio or the point-series spec."""
        return self.spec if self.modality == "audio" else self.ecg_spec

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def default_variant(self) -> str:
        return self.manifest.default_variant

    @property
    def detector_kind(self) -> str:
        return self.manifest.detector_kind

    def variant(self, name: str | None = None) -> ModelVariant:
        key = name or self.default_variant
        if key not in self.variants:
            raise BundleError(f"{self.path}: no {key!r} model (bundle has {', '.join(self.variants)})")
        return self.variants[key]

    def normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std float32, (dim,) per feature or () for a point series, applied before the model."""
        return self.manifest.mean.astype(np.float32), self.manifest.std.astype(np.float32)


def _verified(root: Path, file: str, sha256: str) -> Path:
    model_path = root / file
    if not model_path.is_file():
        raise BundleError(f"{model_path}: model file named in the manifest is missing")
    actual = sha256_file(model_path)
    if actual != sha256:
        raise BundleError(
            f"{model_path}: sha256 {actual[:12]}... does not match the manifest's {sha256[:12]}... "
            "(file corrupted or replaced)"
        )
    return model_path


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle directory: manifest fields, format version, every model's sha256."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{root}: not a bundle (expected a directory holding {MANIFEST})")
    try:
        data = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from None
    manifest = parse_manifest(data, manifest_path)
    try:
        spec = FeatureSpec.from_dict(manifest.features) if manifest.modality == "audio" else EcgSpec.from_dict(
            manifest.features)
    except (BundleError, TypeError, ValueError) as exc:
        raise BundleError(f"{manifest_path}: features: {exc}") from None
    if isinstance(spec, FeatureSpec) and spec.sr <= 0:
        raise BundleError(f"{manifest_path}: features.sr: {spec.sr} (expected a positive rate in Hz)")
    if isinstance(spec, FeatureSpec) and manifest.mean.shape != (spec.dim,):  # a hand edit: n_mels, frames...
        raise BundleError(f"{manifest_path}: normalization.mean: {manifest.mean.size} values; the features "
                          f"(set {spec.set}, n_mels {spec.n_mels}) give {spec.dim} (expected the same)")
    variants = {
        name: ModelVariant(name, {role: _verified(root, f.file, f.sha256) for role, f in entry.files.items()}, entry)
        for name, entry in manifest.models.items()
    }
    return Bundle(path=root, manifest=manifest, variants=variants)


def manifest_text(manifest: Manifest) -> str:
    """manifest.json's text: the typed manifest's JSON, sorted keys, indented."""
    return json.dumps(manifest.to_json(), indent=1, sort_keys=True) + "\n"


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write manifest.json into an existing bundle directory."""
    path = root / MANIFEST
    path.write_text(manifest_text(manifest))
    return path
