"""`vigil train ecg` / `vigil train kpi`: a Donut bundle from EDF recordings or KPI CSVs.

Standardization statistics exclude missing and labelled points. The threshold is a percentile of
the point scores on the validation part of the training series (the last 30 % by time, which the
gradient steps never see; it also chose the epoch), excluding labelled and missing points.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import FORMAT_VERSION, sha256_file
from edge.detector import load_detector
from edge.features.ecg import EcgSpec, standardize
from edge.series import Series, score_series
from train.audio import _versions
from train.bundle_writer import BundleWriter
from train.donut import DonutConfig, fit_donut
from train.export import to_tflite
from train.held_out import series_held_out

# L: chosen from the cost/AUC table in README. On adfecgdb with injected anomalies, AUC was the same
# (0.571-0.574) for L in {16, 64, 256, 1024} and cost grew with L; the paper uses 1024.
DEFAULT_SAMPLES = 16
DEFAULT_ITERATIONS = 10


def _calibration(models: Any, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 calibration rows: training windows for the encoder, z drawn from q(z|x) for the decoder."""
    rows = x[np.random.default_rng(seed).permutation(len(x))[:1000]]
    z_mean, z_raw = (t.numpy() for t in models.encoder(rows))
    z_std = np.logaddexp(0.0, z_raw) + 1e-4  # softplus
    noise = np.random.default_rng(seed + 1).standard_normal(z_mean.shape).astype(np.float32)
    return rows, (z_mean + z_std * noise).astype(np.float32)


def train_donut_bundle(series: list[Series], spec: EcgSpec, modality: str, out: Path, config: DonutConfig, *,
                       percentile: float = 99.0, samples: int = DEFAULT_SAMPLES,
                       iterations: int = DEFAULT_ITERATIONS) -> dict[str, Any]:
    """Fit Donut on the series, export encoder and decoder (float32, int8), threshold, write `out`."""
    config = replace(config, window=spec.window)
    usable = np.concatenate([s.values[~(s.missing | s.labels)] for s in series])
    mean, std = float(usable.mean()), float(max(usable.std(), 1e-6))
    values = [standardize(s.values, mean, std, s.missing) for s in series]
    excluded = [s.missing | s.labels for s in series]
    started = time.time()
    models = fit_donut(values, excluded, config)
    seconds = time.time() - started
    windows = np.concatenate([np.lib.stride_tricks.sliding_window_view(v, spec.window) for v in values])
    enc_rows, dec_rows = _calibration(models, windows.astype(np.float32), config.seed)

    with BundleWriter(out) as writer:
        entries: dict[str, Any] = {}
        for variant in ("float32", "int8"):
            files = {}
            for role, model, rows in (("encoder", models.encoder, enc_rows), ("decoder", models.decoder, dec_rows)):
                blob = to_tflite(model, representative=rows if variant == "int8" else None, seed=config.seed)
                files[role] = writer.add_model(variant, blob, role)
            entries[variant] = {"files": files, "threshold": {"window": 0.0},
                                "quantization": "float32" if variant == "float32" else
                                "int8 weights and activations, int8 input/output"}
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "name": f"donut-{modality}", "modality": modality,
            "detector": {"kind": "donut", "score": "minus reconstruction log-probability of the last point",
                         "params": {k: v for k, v in vars(config).items() if k != "seed"}},
            "features": spec.to_dict(),
            "normalization": {"mean": mean, "std": std},
            "scoring": {"samples": samples, "iterations": iterations},
            "default_variant": "int8", "models": entries,
            "threshold_method": {"method": "percentile", "percentile": percentile,
                                 "of": "point scores on the validation part of the training series "
                                       "(last 30 % by time), labelled and missing points excluded"},
            "training": {"loss": models.history, "best_epoch": models.best_epoch, "seconds": round(seconds, 1)},
            "provenance": {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": config.seed,
                           "fit_files": [{"file": s.path.name, "sha256": sha256_file(s.path)} for s in series],
                           "versions": _versions()},
        }
        bundle = writer.write(manifest)
        for variant in ("float32", "int8"):
            scorer = load_detector(bundle, variant)
            held, tails = [], []
            for s in series:
                cut = len(s.values) - int(len(s.values) * config.valid_fraction) - spec.window + 1
                scores = score_series(bundle, scorer, s)[max(cut, 0) :]
                keep = ~(s.missing | s.labels)[max(cut, 0) :] & ~np.isnan(scores)
                held.append(scores[keep])
                tails.append((s.labels[max(cut, 0) :], s.missing[max(cut, 0) :], scores))
            threshold = float(np.percentile(np.concatenate(held), percentile))
            manifest["models"][variant]["threshold"] = {"window": threshold}
            manifest["models"][variant]["held_out"] = {  # what the threshold catches on the held-out tails
                k: sum(series_held_out(lab, mis, sc, threshold)[k] for lab, mis, sc in tails)
                for k in ("normal", "anomalous", "detected", "false_alarms")}
        writer.write(manifest)
        writer.commit()
    return manifest
