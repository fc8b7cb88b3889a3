"""`vigil train audio`: learn machine-sound detectors from clips and write bundles.

Protocol: the clips are split by clip (seeded) into fit, threshold and test sets (see
``train.dataset.split_clips``); a detector is fitted on the fit clips only (the supervised SVM also
on the fit share of the anomalous clips); each variant's thresholds are percentiles of its own
scores on the threshold clips, computed on the gateway code path; the test clips are scored once
for the metrics stored in the bundle.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import FORMAT_VERSION, load_bundle
from edge.detector import load_detector
from edge.features.spec import FeatureSpec
from edge.interpreter import load_interpreter
from edge.scoring import score_file
from edge.wav import load_mono
from train.bundle_writer import BundleWriter
from train.dataset import Clip, Split, discover_clips, split_clips
from train.detectors import DETECTOR_NAMES, DetectorKind, DetectorOptions, registry
from train.export import QUANTIZATION
from train.metrics import clip_metrics

DETECTORS = (*DETECTOR_NAMES, "all")


@dataclass(frozen=True)
class AudioTrainConfig:
    """Options of `vigil train audio` (see its --help for meanings and units)."""

    detector: str = "dense-ae"
    machine_type: str | None = None
    options: DetectorOptions = field(default_factory=DetectorOptions)
    percentile: float = 95.0
    test_fraction: float = 0.25
    threshold_fraction: float = 0.2
    anomaly_fit_fraction: float | None = None  # None: 0.5 when a supervised detector is trained, else 0

    def kinds(self) -> list[DetectorKind]:
        kinds = registry()
        return list(kinds.values()) if self.detector == "all" else [kinds[self.detector]]

    def split(self, clips: list[Clip], seed: int) -> Split:
        fraction = self.anomaly_fit_fraction
        if fraction is None:
            fraction = 0.5 if any(k.supervised for k in self.kinds()) else 0.0
        return split_clips(clips, test_fraction=self.test_fraction, threshold_fraction=self.threshold_fraction,
                           seed=seed, anomaly_fit_fraction=fraction)


class FeatureCache:
    """Features per (clip, spec), computed once: (windows, dim) float32."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, FeatureSpec], np.ndarray] = {}

    def get(self, clip: Clip, spec: FeatureSpec) -> np.ndarray:
        key = (clip.path, spec)
        if key not in self._cache:
            self._cache[key] = spec.compute(load_mono(clip.path, sr=spec.sr))
        return self._cache[key]

    def stack(self, clips: list[Clip], spec: FeatureSpec) -> np.ndarray:
        if not clips:
            return np.empty((0, spec.dim), dtype=np.float32)
        return np.concatenate([self.get(c, spec) for c in clips])


def _files(clips: list[Clip]) -> list[dict[str, str]]:
    return [{"file": c.path.name, "sha256": c.sha256()} for c in clips]


def score_clips(bundle_path: Path, variant: str, clips: list[Clip]) -> np.ndarray:
    """Clip scores (n,) of a bundle variant on the gateway path (stream, TFLite interpreter)."""
    bundle = load_bundle(bundle_path)
    detector = load_detector(bundle, variant)
    return np.array([score_file(bundle, detector, c.path).clip_score for c in clips])


def tensor_dtypes(model_path: Path) -> dict[str, int]:
    """How many tensors of each dtype a TFLite model holds: shows whether anything stayed float or 16-bit."""
    counts: dict[str, int] = {}
    for detail in load_interpreter(model_path).get_tensor_details():
        name = np.dtype(detail["dtype"]).name
        counts[name] = counts.get(name, 0) + 1
    return counts


def train_bundle(kind: DetectorKind, split: Split, out: Path, config: AudioTrainConfig, cache: FeatureCache,
                 source: str) -> dict[str, Any]:
    """Fit one detector on a split, export float32 and int8, choose thresholds, test; write bundle `out`."""
    from train.export import to_tflite

    options = config.options
    spec = FeatureSpec.default(kind.feature_set, sequence=kind.sequence(options))
    x = cache.stack(split.fit, spec)
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), 1e-3)  # a constant feature must not blow up the standardized value
    x_std = ((x - mean) / std).astype(np.float32)
    anomalous = None
    if kind.supervised:
        anomalous = ((cache.stack(split.fit_anomalous, spec) - mean) / std).astype(np.float32)
    _deterministic()
    started = time.time()
    trained = kind.fit(x_std, anomalous, options)
    seconds = time.time() - started
    models = {"float32": to_tflite(trained.model),
              "int8": to_tflite(trained.model, representative=trained.calibration, seed=options.seed,
                                quantization=kind.quantization)}

    with BundleWriter(out) as writer:
        entries: dict[str, Any] = {}
        for name, blob in models.items():
            quant = QUANTIZATION[kind.quantization] if name == "int8" else "float32"
            entry = writer.add_model(name, blob)
            entries[name] = {**entry, "quantization": quant, "tensor_dtypes": tensor_dtypes(writer.path(entry["file"])),
                             "threshold": {"window": 0.0, "clip": 0.0}}
        types = sorted({c.machine_type or "unknown" for c in split.fit})
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": f"{kind.name}-{'-'.join(types)}",
            "modality": "audio",
            "machine_type": types[0] if len(types) == 1 else None,
            "detector": {"kind": kind.name, "score": trained.score, "description": kind.description,
                         "supervised": kind.supervised, "params": trained.params},
            "features": spec.to_dict(),
            "normalization": {"mean": mean.tolist(), "std": std.tolist()},
            "default_variant": "int8",
            "models": entries,
            "threshold_method": {"method": "percentile", "percentile": config.percentile,
                                 "of": "scores of held-out normal clips, per variant (window and clip level)",
                                 "clips": [c.path.name for c in split.threshold]},
            "decider": {"on_windows": 3, "off_windows": 3},
            "training": {"options": vars(options), "loss": trained.history, "seconds": round(seconds, 1),
                         "windows": int(x.shape[0])},
            "provenance": {
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": options.seed,
                "data_dir": source, "fit_files": _files(split.fit + split.fit_anomalous),
                "threshold_files": _files(split.threshold), "reserved_test_files": _files(split.test),
                "versions": _versions(),
            },
        }
        writer.write(manifest)
        labels = np.array([c.label for c in split.test])
        manifest["metrics"] = {"protocol": "reserved test clips (never fitted on nor used for the threshold)",
                               "files": [c.path.name for c in split.test], "labels": labels.tolist()}
        for name in models:
            bundle = writer.write(manifest)
            detector = load_detector(bundle, name)
            held = [score_file(bundle, detector, c.path) for c in split.threshold]
            window = float(np.percentile(np.concatenate([h.window_scores for h in held]), config.percentile))
            clip = float(np.percentile([h.clip_score for h in held], config.percentile))
            manifest["models"][name]["threshold"] = {"window": window, "clip": clip}
            bundle = writer.write(manifest)
            scores = np.array([score_file(bundle, detector, c.path).clip_score for c in split.test])
            manifest["metrics"][name] = {**clip_metrics(labels, scores, clip), "clip_scores": scores.tolist()}
        writer.write(manifest)
        writer.commit()
    return manifest


def train_audio(data_dir: Path, out: Path, config: AudioTrainConfig,
                progress: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Train the configured detector(s) on one split of data_dir. One bundle at `out`, or with
    detector "all" one bundle per kind at out/<kind>; returns the manifests by kind."""
    clips = discover_clips(data_dir, config.machine_type)
    split = config.split(clips, seed=config.options.seed)
    cache = FeatureCache()
    manifests = {}
    for kind in config.kinds():
        if progress:
            progress(kind.name)
        target = out / kind.name if config.detector == "all" else out
        manifests[kind.name] = train_bundle(kind, split, target, config, cache, str(data_dir))
    return manifests


def _deterministic() -> None:
    """Same seed, same model: TensorFlow's op determinism (kernels pick deterministic algorithms)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def _versions() -> dict[str, str]:
    import keras
    import sklearn
    import tensorflow as tf

    return {"python": platform.python_version(), "numpy": np.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "scikit-learn": sklearn.__version__, "platform": sys.platform}
