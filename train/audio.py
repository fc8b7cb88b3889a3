"""`vigil train audio`: learn a machine-sound detector from normal clips and write a bundle.

Protocol: the normal clips are split by clip (seeded) into fit, threshold and test sets; the
model is fitted on the fit clips only; each variant's thresholds are percentiles of its own
scores on the threshold clips, computed on the gateway code path; the test clips (reserved
normals and every anomalous clip) are scored once for the metrics stored in the bundle.
"""

from __future__ import annotations

import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import FORMAT_VERSION, load_bundle, sha256_file, write_manifest
from edge.detector import load_detector
from edge.features.spec import FeatureSpec
from edge.scoring import score_file
from edge.wav import load_mono
from train.dataset import Clip, discover_clips, split_clips
from train.metrics import clip_metrics

DETECTORS = ("dense-ae",)


@dataclass(frozen=True)
class AudioTrainConfig:
    """Options of `vigil train audio` (see its --help for meanings and units)."""

    detector: str = "dense-ae"
    machine_type: str | None = None
    epochs: int = 50
    batch_size: int = 512
    seed: int = 0
    percentile: float = 95.0
    test_fraction: float = 0.25
    threshold_fraction: float = 0.2


def clip_features(clips: list[Clip], spec: FeatureSpec) -> np.ndarray:
    """Features of all windows of all clips, stacked: (sum of windows, dim) float32."""
    return np.concatenate([spec.compute(load_mono(c.path, sr=spec.sr)) for c in clips])


def _files(clips: list[Clip]) -> list[dict[str, str]]:
    return [{"file": c.path.name, "sha256": c.sha256()} for c in clips]


def score_clips(bundle_path: Path, variant: str, clips: list[Clip]) -> np.ndarray:
    """Clip scores (n,) of a bundle variant on the gateway path (stream, TFLite interpreter)."""
    bundle = load_bundle(bundle_path)
    detector = load_detector(bundle, variant)
    return np.array([score_file(bundle, detector, c.path).clip_score for c in clips])


def train_audio(data_dir: Path, out: Path, config: AudioTrainConfig) -> dict[str, Any]:
    """Train, export, threshold and test one bundle; returns its manifest."""
    from train.dense_ae import fit_dense_ae
    from train.export import to_tflite

    if config.detector not in DETECTORS:
        raise ValueError(f"unknown detector {config.detector!r}")
    clips = discover_clips(data_dir, config.machine_type)
    types = sorted({c.machine_type or "unknown" for c in clips})
    split = split_clips(clips, test_fraction=config.test_fraction, threshold_fraction=config.threshold_fraction,
                        seed=config.seed)
    spec = FeatureSpec.default("logmel")
    x = clip_features(split.fit, spec)
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), 1e-3)  # a constant bin must not blow up the standardized value
    x_std = ((x - mean) / std).astype(np.float32)
    started = time.time()
    model, history = fit_dense_ae(x_std, epochs=config.epochs, batch_size=config.batch_size, seed=config.seed)
    models = {"float32": to_tflite(model), "int8": to_tflite(model, representative=x_std, seed=config.seed)}

    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out.parent if out.parent.exists() else None))
    entries: dict[str, Any] = {}
    for name, blob in models.items():
        path = staging / f"model_{name}.tflite"
        path.write_bytes(blob)
        quant = "int8 weights and activations, int8 input/output" if name == "int8" else "float32"
        entries[name] = {"file": path.name, "sha256": sha256_file(path), "bytes": len(blob),
                         "quantization": quant, "threshold": {"window": 0.0, "clip": 0.0}}
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": f"{config.detector}-{'-'.join(types)}",
        "modality": "audio",
        "machine_type": types[0] if len(types) == 1 else None,
        "detector": {"kind": config.detector, "score": "reconstruction_mse",
                     "architecture": "640-128x4-8-128x4-640, BatchNorm+ReLU (DCASE 2020 baseline)"},
        "features": spec.to_dict(),
        "normalization": {"mean": mean.tolist(), "std": std.tolist()},
        "default_variant": "int8",
        "models": entries,
        "threshold_method": {"method": "percentile", "percentile": config.percentile,
                             "of": "scores of held-out normal clips, per variant (window and clip level)",
                             "clips": [c.path.name for c in split.threshold]},
        "decider": {"on_windows": 3, "off_windows": 3},
        "training": {"epochs": config.epochs, "batch_size": config.batch_size, "loss": history,
                     "seconds": round(time.time() - started, 1)},
        "provenance": {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": config.seed,
            "data_dir": str(data_dir), "fit_files": _files(split.fit), "threshold_files": _files(split.threshold),
            "reserved_test_files": _files(split.test), "versions": _versions(),
        },
    }
    write_manifest(staging, manifest)

    labels = np.array([c.label for c in split.test])
    manifest["metrics"] = {"protocol": "reserved test clips (never fitted on nor used for the threshold)"}
    for name in models:
        bundle = load_bundle(staging)
        detector = load_detector(bundle, name)
        held = [score_file(bundle, detector, c.path) for c in split.threshold]
        window = float(np.percentile(np.concatenate([h.window_scores for h in held]), config.percentile))
        clip = float(np.percentile([h.clip_score for h in held], config.percentile))
        manifest["models"][name]["threshold"] = {"window": window, "clip": clip}
        write_manifest(staging, manifest)
        manifest["metrics"][name] = clip_metrics(labels, score_clips(staging, name, split.test), clip)
    write_manifest(staging, manifest)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return manifest


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "numpy": np.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "platform": sys.platform}
