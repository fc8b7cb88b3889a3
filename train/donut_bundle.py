"""`vigil train ecg` / `vigil train kpi`: a Donut bundle from EDF recordings or KPI CSVs.

Standardization statistics exclude missing and labelled points. The threshold comes from the point
scores on the validation part of the training series (the last 30 % by time, which the gradient
steps never see; it also chose the epoch), missing points left out: see train.series_threshold
(adjusted F1 on its labels when it has labelled anomalies, else a percentile of its scores). The
manifest records how under "calibration". A KPI bundle also stores the training series' last
window - 1 points ("warmup"), so a file that continues the series is scored from its first point.
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
from edge.score_combine import combined_scores, fit_scales, series_zscore
from edge.series import Series, score_series
from train.audio import _versions
from train.bundle_writer import BundleWriter
from train.donut import DonutConfig, fit_donut
from train.export import to_tflite
from train.held_out import series_held_out
from train.series_metrics import adjusted_f1_curve, segments
from train.series_threshold import DEFAULT_PERCENTILE, choose_threshold, normal_window

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


def score_choice(donut: np.ndarray, combined: np.ndarray, labels: np.ndarray, delay: int = 7) -> dict[str, Any]:
    """Validation scores (m,) of Donut alone and combined, labels (m,) -> which one "auto" keeps, and why."""
    if not segments(labels):
        return {"chosen": "donut", "why": "no labelled validation anomalies"}
    f1 = {name: round(float(adjusted_f1_curve(s, labels, delay)[1].max()), 4)
          for name, s in (("donut", donut), ("donut+z", combined))}
    return {"chosen": "donut+z" if f1["donut+z"] > f1["donut"] else "donut",
            "why": f"best delay-{delay} adjusted F1 on the validation labels", "validation_best_f1": f1}


def train_donut_bundle(series: list[Series], spec: EcgSpec, modality: str, out: Path, config: DonutConfig, *,
                       percentile: float = DEFAULT_PERCENTILE, samples: int = DEFAULT_SAMPLES,
                       iterations: int = DEFAULT_ITERATIONS, use_labels: bool = True,
                       progress: bool = False, keep_validation: dict[str, Any] | None = None,
                       combine: str = "donut", default_variant: str = "int8") -> dict[str, Any]:
    """Fit Donut on the series, export encoder and decoder (float32, int8), threshold, write `out`.

    use_labels False: threshold by the tail rule even when the validation part has labels.
    combine: "donut" (Donut alone), "donut+z" (max of Donut and a robust z-score, scaled on the
    validation part: edge.score_combine; the scales stored under models.<variant>.combine) or "auto"
    (per variant, whichever of the two has the better best adjusted F1 on the validation labels;
    Donut alone without labels or on a tie; recorded under models.<variant>.score_choice).
    keep_validation: filled with {variant: (scores (m,), labels (m,))} of the validation points.
    """
    config = replace(config, window=spec.window)
    usable = np.concatenate([s.values[~(s.missing | s.labels)] for s in series])
    mean, std = float(usable.mean()), float(max(usable.std(), 1e-6))
    values = [standardize(s.values, mean, std, s.missing) for s in series]
    excluded = [s.missing | s.labels for s in series]
    started = time.time()
    models = fit_donut(values, excluded, config, progress=progress)
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
            "default_variant": default_variant, "models": entries,
            "training": {"loss": models.history, "best_epoch": models.best_epoch, "seconds": round(seconds, 1)},
            "provenance": {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": config.seed,
                           "fit_files": [{"file": s.path.name, "sha256": sha256_file(s.path)} for s in series],
                           "versions": _versions()},
        }
        if modality == "kpi":
            last = series[-1]
            manifest["warmup"] = {"values": [float(v) for v in last.values[-(spec.window - 1) :]],
                                  "missing": [bool(m) for m in last.missing[-(spec.window - 1) :]],
                                  "next_timestamp": int(2 * last.position[-1] - last.position[-2])}
        bundle = writer.write(manifest)
        calibration: dict[str, Any] = {"normal_scores": {}}
        for variant in ("float32", "int8"):
            scorer = load_detector(bundle, variant)
            held, truth, tails, zs = [], [], [], []
            for s in series:
                cut = len(s.values) - int(len(s.values) * config.valid_fraction)
                start = max(cut - spec.window + 1, 0)  # the window before the validation part is its context
                part = Series(s.path, s.values[start:], s.missing[start:], s.labels[start:], s.position[start:],
                              s.position_name)
                scores = score_series(bundle, scorer, part)[cut - start :]
                keep = ~s.missing[cut:]
                z = series_zscore(part.values, part.missing, spec.window)[cut - start :]
                held.append(scores[keep])
                zs.append(z[keep])
                truth.append(s.labels[cut:][keep] & use_labels)
                tails.append((s.labels[cut:], s.missing[cut:], scores, z))
            scores, labels = np.concatenate(held), np.concatenate(truth)
            scales = fit_scales(scores, np.concatenate(zs), labels)  # from normal validation points
            both = combined_scores(scores, np.concatenate(zs), scales)
            chosen = combine
            if combine == "auto":
                manifest["models"][variant]["score_choice"] = score_choice(scores, both, labels)
                chosen = manifest["models"][variant]["score_choice"]["chosen"]
            if chosen == "donut+z":
                manifest["models"][variant]["combine"] = scales  # the threshold is then on the combined score
                scores = both
                tails = [(lab, mis, combined_scores(sc, z, scales), z) for lab, mis, sc, z in tails]
            if keep_validation is not None:
                keep_validation[variant] = (scores, labels)
            threshold, rule = choose_threshold(scores, labels, percentile=percentile)
            manifest["models"][variant]["threshold"] = {"window": threshold}
            manifest["models"][variant]["held_out"] = {  # what the threshold catches on the validation parts
                k: sum(series_held_out(lab, mis, sc, threshold)[k] for lab, mis, sc, _ in tails)
                for k in ("normal", "anomalous", "detected", "false_alarms")}
            calibration["normal_scores"][variant] = {"window": normal_window(scores, labels, config.seed)}
            calibration["rule"] = rule  # the variants share the rule; each has its own threshold and scores
            calibration["source"] = (f"validation part of the training series (last {config.valid_fraction:.0%} "
                                     f"by time, {scores.size} scored points, {int(labels.sum())} labelled), "
                                     "missing points left out")
        manifest["calibration"] = calibration
        writer.write(manifest)
        writer.commit()
    return manifest
