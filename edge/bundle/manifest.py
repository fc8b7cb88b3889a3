"""The typed bundle manifest: ``manifest.json`` parsed into frozen dataclasses, and written from them.

The on-disk layout is described by ``edge/schemas/bundle.schema.json``; this module is the one
place that reads it (``parse_manifest``) and the one that makes its JSON (``Manifest.to_json``):
trainers and `vigil calibrate` build a Manifest and never a dict. Kind-specific parts stay open
objects (``detector.params``, ``scoring``, ``provenance``, ``training``, ``metrics``,
``threshold_method``); ``calibration``, ``warmup``, ``fetal`` and a variant's ``combine`` are typed in
:mod:`edge.bundle.manifest_parts`. A key no dataclass knows is kept in its ``extra`` and written
back, so ``to_json()`` of a parsed manifest is the manifest as read.
Every error names the manifest file and the field path, e.g. ``models.int8.threshold.window``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.manifest_parts import COMBINE_KIND, Calibration, CombineScales, FetalSettings, Warmup
from edge.config_table import Table
from edge.errors import BundleError
from edge.modalities.base import modalities, modality_named

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "bundle.schema.json"
_KNOWN = {"format_version", "name", "modality", "machine_type", "detector", "features", "normalization",
          "default_variant", "models", "decider", "fetal", "scoring", "provenance", "training", "metrics",
          "threshold_method", "calibration", "warmup", "reliability"}
_ENTRY_KNOWN = {"files", "file", "sha256", "bytes", "threshold", "quantization", "tensor_dtypes", "score",
                "score_choice", "combine", "held_out"}


@dataclass(frozen=True)
class ModelFile:
    """One model file of a variant: name inside the bundle, sha256 hex, size in bytes."""

    file: str
    sha256: str
    bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256} | ({} if self.bytes is None else {"bytes": self.bytes})


@dataclass(frozen=True)
class Threshold:
    """A variant's thresholds on window scores and on clip scores (a clip's mean window score; None: none chosen)."""

    window: float
    clip: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"window": self.window} | ({} if self.clip is None else {"clip": self.clip})


@dataclass(frozen=True)
class ModelEntry:
    """One variant (int8, float32): its file(s) by role ("model", or Donut's "encoder" and "decoder"),
    thresholds and quantization; KPI variants add the score served (``score``, a name of train's menu),
    how it was chosen, its ``combine`` scales and what the threshold catches on held-out points."""

    files: dict[str, ModelFile]
    threshold: Threshold
    quantization: str
    tensor_dtypes: dict[str, int] | None = None
    score: str | None = None
    score_choice: dict[str, Any] | None = None
    combine: CombineScales | None = None
    held_out: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def window_threshold(self) -> float:
        return self.threshold.window

    @property
    def clip_threshold(self) -> float | None:
        return self.threshold.clip

    @property
    def sha256(self) -> str:
        """The model's hash; with several files (Donut's encoder and decoder), one hash of their hashes."""
        if set(self.files) == {"model"}:
            return self.files["model"].sha256
        joined = "".join(f.sha256 for _, f in sorted(self.files.items()))
        return hashlib.sha256(joined.encode()).hexdigest()

    @property
    def size_bytes(self) -> int:
        """Bytes of the variant's model file(s) (0 for a file whose size the manifest does not give)."""
        return sum(f.bytes or 0 for f in self.files.values())

    def to_json(self) -> dict[str, Any]:
        """One file is written flat (file, sha256, bytes beside the thresholds), several under "files"."""
        files = (self.files["model"].to_json() if set(self.files) == {"model"}
                 else {"files": {role: f.to_json() for role, f in self.files.items()}})
        optional = {"tensor_dtypes": self.tensor_dtypes, "score": self.score, "score_choice": self.score_choice,
                    "combine": None if self.combine is None else self.combine.to_json(), "held_out": self.held_out}
        return (files | {"quantization": self.quantization, "threshold": self.threshold.to_json()}
                | {k: v for k, v in optional.items() if v is not None} | self.extra)


@dataclass(frozen=True)
class DetectorEntry:
    """The detector: its kind, how the gateway scores (``score``: a registered Detector name, or a
    description of Donut's score), its trained parameters and, for audio kinds, a description."""

    kind: str
    score: str | None = None
    params: dict[str, Any] | None = None
    description: str | None = None
    supervised: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        optional = {"score": self.score, "params": self.params, "description": self.description,
                    "supervised": self.supervised}
        return {"kind": self.kind} | {k: v for k, v in optional.items() if v is not None} | self.extra


@dataclass(frozen=True)
class DeciderSettings:
    """Debounce of the Decider: windows over the threshold to open, at or under it to close."""

    on_windows: int = 3
    off_windows: int = 3

    def to_json(self) -> dict[str, Any]:
        return {"on_windows": self.on_windows, "off_windows": self.off_windows}


@dataclass(frozen=True, eq=False)
class Manifest:
    """A bundle's manifest. mean, std: float64 (dim,) per feature or () for a point series.

    Open parts (scoring, provenance, training, metrics, threshold_method, reliability) are written when not
    empty; machine_type is written for every audio bundle (null for a plain folder's clips).
    """

    name: str
    modality: str
    detector: DetectorEntry
    features: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    default_variant: str
    models: dict[str, ModelEntry]
    format_version: int = FORMAT_VERSION
    machine_type: str | None = None
    decider_table: DeciderSettings | None = None  # as written; `decider` gives the defaults without it
    scoring: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    threshold_method: dict[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None
    warmup: Warmup | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    fetal_table: FetalSettings | None = None  # as written; `fetal` gives the defaults without it
    reliability: dict[str, Any] = field(default_factory=dict)  # train.reliability's estimate (audio bundles)

    @property
    def detector_kind(self) -> str:
        return self.detector.kind

    @property
    def detector_score(self) -> str:
        return self.detector.score or self.detector.kind

    @property
    def detector_params(self) -> dict[str, Any]:
        return self.detector.params or {}

    @property
    def decider(self) -> DeciderSettings:
        return self.decider_table or DeciderSettings()

    @property
    def fetal(self) -> FetalSettings:
        return self.fetal_table or FetalSettings()

    def scorer_names(self, variant: str) -> tuple[str, ...]:
        """The registered Detector names that may score `variant`, first match wins: a variant with
        ``combine`` scales is served by the combiner kind, any other by detector.score, else detector.kind."""
        if self.models[variant].combine is not None:
            return (COMBINE_KIND,)
        return (self.detector_score, self.detector_kind)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        return all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
                   for a, b in ((getattr(self, f.name), getattr(other, f.name)) for f in fields(self)))

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``manifest.json`` (loader.write_manifest writes it with sorted keys)."""
        out: dict[str, Any] = {
            "format_version": self.format_version, "name": self.name, "modality": self.modality,
            "detector": self.detector.to_json(), "features": self.features,
            "normalization": {"mean": self.mean.tolist(), "std": self.std.tolist()},
            "default_variant": self.default_variant,
            "models": {name: entry.to_json() for name, entry in self.models.items()}}
        if self.machine_type is not None or modality_named(self.modality).machine_type:
            out["machine_type"] = self.machine_type
        if self.decider_table is not None:
            out["decider"] = self.decider_table.to_json()
        if self.fetal_table is not None:
            out["fetal"] = self.fetal_table.to_json()
        for key in ("scoring", "provenance", "training", "metrics", "threshold_method", "reliability"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        for key, part in (("calibration", self.calibration), ("warmup", self.warmup)):
            if part is not None:
                out[key] = part.to_json()
        return out | self.extra


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
    combine = entry.table_at("combine") if "combine" in entry.table else None
    return ModelEntry(files, Threshold(window, None if clip is None else float(clip)),
                      str(entry.get("quantization", str, entry.where.rsplit(".", 1)[-1])),
                      entry.get("tensor_dtypes", dict, None), entry.get("score", str, None),
                      entry.get("score_choice", dict, None), None if combine is None else CombineScales.parse(combine),
                      entry.get("held_out", dict, None),
                      {k: v for k, v in entry.table.items() if k not in _ENTRY_KNOWN})


def parse_manifest(data: Any, source: Path) -> Manifest:
    """Check and type a manifest object; raises BundleError naming the file and the field."""
    try:
        return _parse(Table(data, "", source.parent, BundleError), source.parent.name)
    except BundleError as exc:
        raise BundleError(f"{source}: {exc}") from None


def _detector(table: Table) -> DetectorEntry:
    return DetectorEntry(table.get("kind", str), table.get("score", str, None), table.get("params", dict, None),
                         table.get("description", str, None), table.get("supervised", bool, None),
                         {k: v for k, v in table.table.items()
                          if k not in {"kind", "score", "params", "description", "supervised"}})


def _parse(top: Table, default_name: str) -> Manifest:
    version = top.get("format_version", int)
    if version != FORMAT_VERSION:
        raise BundleError(f"format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    modality = top.get("modality", str, choices=tuple(modalities()))
    detector = _detector(top.table_at("detector"))
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
    decider = top.table_at("decider") if "decider" in top.table else None
    settings = None if decider is None else DeciderSettings(decider.positive("on_windows", 3, int),
                                                            decider.positive("off_windows", 3, int))
    calibration = top.table_at("calibration") if "calibration" in top.table else None
    warmup = top.table_at("warmup") if "warmup" in top.table else None
    return Manifest(top.get("name", str, default_name), modality, detector, top.get("features", dict), mean, std,
                    default, models, version, top.get("machine_type", (str, type(None)), None), settings,
                    top.get("scoring", dict, {}), provenance.table, top.get("training", dict, {}),
                    top.get("metrics", dict, {}), top.get("threshold_method", dict, {}),
                    None if calibration is None else Calibration.parse(calibration),
                    None if warmup is None else Warmup.parse(warmup),
                    {k: v for k, v in top.table.items() if k not in _KNOWN},
                    FetalSettings.parse(top.table_at("fetal")) if "fetal" in top.table else None,
                    top.get("reliability", dict, {}))
