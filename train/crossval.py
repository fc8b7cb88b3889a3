"""Repeated-split evaluation of every detector kind, per machine type (`vigil evaluate DIR --detector ...`).

Protocol: for each machine type and each repeat r, one seeded split by clip (seed + r) serves every
detector: fit clips (normal, plus half of the anomalous clips for the supervised SVM only) and
test clips (reserved normal, --test-fraction, at least 0.25 here, and the other anomalous clips).
Every detector is trained, exported, thresholded (out-of-fold scores of the fit clips) and tested
exactly as `vigil train audio` does; the figures are means and standard deviations over the
repeats. No choice is made on test clips.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import Manifest
from edge.detectors.base import load_detector
from edge.pipeline.file_scoring import score_file
from train.audio import AudioTrainConfig, FeatureCache, train_bundle
from train.dataset import MACHINE_TYPES, discover_clips

METRICS = ("auc", "pauc", "accuracy", "precision", "recall", "f1")
VARIANTS = ("float32", "int8")


def latency_us(bundle_path: Path, variant: str, rows: np.ndarray, calls: int = 300) -> float:
    """Mean wall time of Detector.score on one window (batch 1), in microseconds, after warm-up."""
    detector = load_detector(load_bundle(bundle_path), variant)
    for i in range(20):
        detector.score(rows[i % len(rows)][None])
    t0 = time.perf_counter()
    for i in range(calls):
        detector.score(rows[i % len(rows)][None])
    return (time.perf_counter() - t0) / calls * 1e6


def _first_run_extras(bundle_path: Path, manifest: Manifest, test_paths: dict[str, Path],
                      cache: FeatureCache, clips: list[Any]) -> dict[str, Any]:
    """Repeat 0 only: latency, ROC inputs, a normal and an anomalous timeline (int8), loss curves."""
    bundle = load_bundle(bundle_path)
    rows = cache.stack(clips[:2], bundle.spec)
    extras: dict[str, Any] = {"latency_us": {v: latency_us(bundle_path, v, rows) for v in VARIANTS},
                              "loss": manifest.training["loss"], "timeline": {}}
    detector = load_detector(bundle, "int8")
    for label, path in test_paths.items():
        result = score_file(bundle, detector, path)
        extras["timeline"][label] = {"file": path.name, "starts_s": result.window_starts_s.tolist(),
                                     "scores": result.window_scores.tolist(),
                                     "window_s": bundle.spec.window_samples / bundle.spec.sr,
                                     "threshold": result.window_threshold}
    return extras


def crossval_audio(data_dir: Path, config: AudioTrainConfig, *, repeats: int, machine_types: list[str] | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train and test every configured detector on `repeats` splits per machine type; returns all figures."""
    types = machine_types or [t for t in MACHINE_TYPES if any(p.is_dir() for p in data_dir.rglob(t))]
    if config.test_fraction < 0.25:  # every split needs reserved normal test clips
        config = replace(config, test_fraction=0.25)
    kinds = config.kinds()
    result: dict[str, Any] = {"protocol": __doc__, "repeats": repeats, "detectors": [k.name for k in kinds],
                              "options": vars(config.options), "percentile": config.percentile, "types": {}}
    for machine in types:
        clips = discover_clips(data_dir, machine)
        cache = FeatureCache()
        runs: dict[str, list[dict[str, Any]]] = {k.name: [] for k in kinds}
        extras: dict[str, Any] = {}
        for r in range(repeats):
            seed = config.options.seed + r
            split = config.split(clips, seed=seed)
            run_config = replace(config, options=replace(config.options, seed=seed))
            normal = next(c for c in split.test if c.label == 0)
            anomalous = next(c for c in split.test if c.label == 1)
            for kind in kinds:
                if progress:
                    progress(f"{machine} split {r + 1}/{repeats} {kind.name}")
                with tempfile.TemporaryDirectory() as tmp:
                    bundle_path = Path(tmp) / kind.name
                    manifest = train_bundle(kind, split, bundle_path, run_config, cache, str(data_dir))
                    runs[kind.name].append({v: manifest.metrics[v] for v in VARIANTS}
                                           | {"bytes": {v: manifest.models[v].size_bytes for v in VARIANTS},
                                              "labels": manifest.metrics["labels"]})
                    if r == 0:
                        extras[kind.name] = _first_run_extras(
                            bundle_path, manifest, {"normal": normal.path, "anomalous": anomalous.path}, cache,
                            split.fit)
        n_normal = sum(c.label == 0 for c in split.test)
        result["types"][machine] = {
            "clips": {"normal": sum(c.label == 0 for c in clips), "anomalous": sum(c.label == 1 for c in clips)},
            "test_clips": {"normal": n_normal, "anomalous": len(split.test) - n_normal},
            "detectors": {name: _summarize(rs, extras[name]) for name, rs in runs.items()},
        }
    return result


def _summarize(runs: list[dict[str, Any]], extras: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs, **extras}
    for variant in VARIANTS:
        for metric in METRICS:
            values = np.array([r[variant][metric] for r in runs], dtype=float)
            out.setdefault(variant, {})[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
        out[variant]["bytes"] = int(np.mean([r["bytes"][variant] for r in runs]))
    return out
