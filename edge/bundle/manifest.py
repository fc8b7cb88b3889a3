"""The typed bundle manifest: ``manifest.json`` parsed into frozen dataclasses, every field checked.

The on-disk layout is described by ``edge/schemas/bundle.schema.json``; this module is the one
place that reads it. Kind-specific parts stay open: ``detector.params``, ``scoring``,
``calibration``, ``provenance``, ``metrics`` and any key this module does not know are kept as
read (``extra``), so a new detector kind adds keys without touching the parser, and
``to_dict()`` returns the manifest exactly as it was read.
Every error names the manifest file and the field path, e.g. ``models.int8.threshold.window``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from edge.config_table import Table
from edge.errors import BundleError

FORMAT_VERSION = 1
MODALITIES = ("audio", "ecg", "kpi")
SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "bundle.schema.json"
_KNOWN = {"format_version", "name", "modality", "machine_type", "detector", "features", "normalization",
          "default_variant", "models", "decider", "fetal", "scoring", "provenance"}


@dataclass(frozen=True)
class ModelFile:
    """One model file of a variant: name inside the bundle, sha256 hex, size in bytes."""

    file: str
    sha256: str
    bytes: int | None = None


@dataclass(frozen=True)
class ModelEntry:
    """One variant (int8, float32): its file(s) by role, thresholds and quantization."""

    files: dict[str, ModelFile]
    window_threshold: float
    clip_threshold: float | None
    quantization: str

    @property
    def sha256(self) -> str:
        """The model's hash; with several files (Donut's encoder and decoder), one hash of their hashes."""
        if set(self.files) == {"model"}:
            return self.files["model"].sha256
        joined = "".join(f.sha256 for _, f in sorted(self.files.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


@dataclass(frozen=True)
class DeciderSettings:
    """Debounce of the Decider: windows over the threshold to open, at or under it to close."""

    on_windows: int = 3
    off_windows: int = 3


@dataclass(frozen=True)
class FetalSettings:
    """The fetal stage's decisions (manifest ``fetal`` table; `vigil beats` uses these defaults).

    Quality: a frame (0.1 s) is over when its score exceeds ``quality_threshold`` (0..1; wander and
    low_fetal on their own scale: times their highest score); ``quality_on_frames`` frames over open an
    event, ``quality_off_frames`` under close it. An FHR point is missing when at least
    ``mask_lead_fraction`` of the leads have a flatline, clipping or motion score at or over the threshold
    there, or low_fetal is. FHR events (bpm): bradycardia under ``brady_bpm``, tachycardia over
    ``tachy_bpm``, a deceleration ``decel_drop_bpm`` under the baseline (FIGO 2015).
    """

    quality_threshold: float = 0.5
    quality_on_frames: int = 5  # 0.5 s to open
    quality_off_frames: int = 10  # 1 s to close
    mask_lead_fraction: float = 0.5  # one bad lead of four does not stop the fused beat detector
    brady_bpm: float = 110.0
    tachy_bpm: float = 160.0
    decel_drop_bpm: float = 15.0


def _fetal(table: Table) -> FetalSettings:
    table.expect({f.name for f in fields(FetalSettings)})
    d = FetalSettings()
    out = FetalSettings(table.positive("quality_threshold", d.quality_threshold),
                        table.positive("quality_on_frames", d.quality_on_frames, int),
                        table.positive("quality_off_frames", d.quality_off_frames, int),
                        table.positive("mask_lead_fraction", d.mask_lead_fraction),
                        table.positive("brady_bpm", d.brady_bpm), table.positive("tachy_bpm", d.tachy_bpm),
                        table.positive("decel_drop_bpm", d.decel_drop_bpm))
    if out.mask_lead_fraction > 1 or out.brady_bpm >= out.tachy_bpm:
        raise BundleError(f"{table.where or 'fetal'}: mask_lead_fraction {out.mask_lead_fraction:g}, brady_bpm "
                          f"{out.brady_bpm:g}, tachy_bpm {out.tachy_bpm:g} (expected a fraction <= 1 and "
                          "brady_bpm < tachy_bpm)")
    return out


@dataclass(frozen=True, eq=False)
class Manifest:
    """A parsed manifest. ``raw`` is the JSON object as read (kind-specific parts live there)."""

    format_version: int
    name: str
    modality: str
    detector_kind: str
    detector_score: str
    detector_params: dict[str, Any]
    features: dict[str, Any]
    mean: np.ndarray  # float64 (dim,) for feature vectors, () for a point series
    std: np.ndarray
    default_variant: str
    models: dict[str, ModelEntry]
    decider: DeciderSettings
    fetal: FetalSettings
    scoring: dict[str, Any]
    machine_type: str | None
    provenance: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def extra(self) -> dict[str, Any]:
        """Fields this module does not interpret (metrics, calibration, training, ...)."""
        return {k: v for k, v in self.raw.items() if k not in _KNOWN}

    def to_dict(self) -> dict[str, Any]:
        return self.raw


def _model(entry: Table) -> ModelEntry:
    roles = entry.table_at("files") if "files" in entry.table else None
    files = {}
    for role, table in ((r, roles.table_at(r)) for r in roles.table) if roles else [("model", entry)]:
        files[role] = ModelFile(table.get("file", str), table.get("sha256", str), table.get("bytes", int, None))
    if not files:
        raise BundleError(f"{entry.key('files')}: names no file (expected encoder, decoder... or model)")
    threshold = entry.table_at("threshold")
    window = float(threshold.get("window", (int, float)))
    clip = threshold.get("clip", (int, float), None)
    for level, value in (("window", window), ("clip", clip)):
        if value is not None and not np.isfinite(value):  # NaN compares false: every clip would pass as normal
            raise BundleError(f"{threshold.key(level)}: {value} (expected a finite number)")
    return ModelEntry(files, window, None if clip is None else float(clip),
                      str(entry.get("quantization", str, entry.where.rsplit(".", 1)[-1])))


def parse_manifest(data: Any, source: Path) -> Manifest:
    """Check and type a manifest object; raises BundleError naming the file and the field."""
    try:
        return _parse(Table(data, "", source.parent, BundleError), source.parent.name)
    except BundleError as exc:
        raise BundleError(f"{source}: {exc}") from None


def _parse(top: Table, default_name: str) -> Manifest:
    version = top.get("format_version", int)
    if version != FORMAT_VERSION:
        raise BundleError(f"format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    modality = top.get("modality", str, choices=MODALITIES)
    detector = top.table_at("detector")
    kind = detector.get("kind", str)
    norm = top.table_at("normalization")
    mean = np.asarray(norm.get("mean", (int, float, list)), dtype=np.float64)
    std = np.asarray(norm.get("std", (int, float, list)), dtype=np.float64)
    if mean.shape != std.shape or (std <= 0).any():
        raise BundleError(f"normalization: mean {mean.shape} and std {std.shape} (expected the same shape, std > 0)")
    models_table = top.table_at("models")
    models = {name: _model(models_table.table_at(name)) for name in models_table.table}
    default = top.get("default_variant", str)
    if default not in models:
        raise BundleError(f"default_variant: {default!r} names no model (models: {', '.join(models)})")
    provenance = top.table_at("provenance", {})
    for key in ("fit_files", "threshold_files"):  # what calibrate and evaluate match recordings against
        for i, entry in enumerate(provenance.get(key, list, [])):
            item = Table(entry, f"{provenance.key(key)}[{i}]", provenance.base, BundleError)
            item.get("file", str), item.get("sha256", str)
    decider = top.table_at("decider", {})
    settings = DeciderSettings(decider.positive("on_windows", 3, int), decider.positive("off_windows", 3, int))
    return Manifest(version, top.get("name", str, default_name), modality, kind, detector.get("score", str, kind),
                    detector.get("params", dict, {}), top.get("features", dict), mean, std, default, models,
                    settings, _fetal(top.table_at("fetal", {})), top.get("scoring", dict, {}),
                    top.get("machine_type", (str, type(None)), None),
                    top.get("provenance", dict, {}), top.table)
