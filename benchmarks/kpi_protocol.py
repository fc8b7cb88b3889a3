"""One KPI series of the AIOps / NAB benchmark: Donut and two baselines on the same split and metric code.

Protocol: the series (timestamps completed, NaN as missing) is split by time: the first 70 % is
training data, the rest is the test part. Donut trains on the training part (its last 30 % is the
validation part that picks the epoch and the threshold); the test part is scored with the
training tail as context (every test point scored). The baselines' thresholds come from the same
rule on their scores of the same validation part. Test labels are used only for the figures:
best F1 (threshold tuned on the test part: an upper bound), F1 at the threshold chosen from the
validation part, AUC, all with Donut's delay-7 adjustment; beside them, without adjustment:
point-wise F1 at that threshold, event-level precision and recall, AUC-PR. Missing points are left out.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.donut_benchmarks import nab_labels
from edge.bundle.loader import load_bundle
from edge.features.ecg import EcgSpec
from edge.io.kpi_csv import read_kpi_csv
from edge.pipeline.series_scorer import Series, donut_scorer, score_series
from train.donut import DonutConfig
from train.donut_bundle import train_donut_bundle
from train.series_baselines import rolling_robust_zscore, spectral_residual
from train.series_metrics import adjust, point_metrics
from train.series_threshold import choose_threshold

TRAIN_FRACTION = 0.7
DELAY = 7
# per method and series; the last five without the delay adjustment (train.series_metrics)
FIGURES = ("points", "anomalous_points", "threshold", "auc", "best_f1_adjusted", "f1_at_threshold_adjusted",
           "f1_at_threshold", "event_precision", "event_recall", "segments", "false_alarms", "auc_pr")


def load_labelled(path: Path, nab_windows: dict[str, Any] | None = None, nab_key: str = "") -> Series:
    kpi = read_kpi_csv(path)
    labels = nab_labels(path, kpi.timestamps, nab_windows, nab_key) if nab_windows is not None else kpi.labels
    return Series(path, kpi.values, kpi.missing, labels, kpi.timestamps, "timestamp")


def split(series: Series, fraction: float = TRAIN_FRACTION) -> tuple[Series, Series]:
    cut = int(len(series.values) * fraction)

    def part(a: int, b: int | None) -> Series:
        return Series(series.path, series.values[a:b], series.missing[a:b], series.labels[a:b],
                      series.position[a:b], series.position_name)

    return part(0, cut), part(cut, None)


def f1_adjusted_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float | None:
    keep = ~np.isnan(scores)
    s, y = scores[keep], labels[keep].astype(bool)
    if not y.any():
        return None
    predicted = adjust(s > threshold, y, DELAY)
    tp = float((predicted & y).sum())
    return 2 * tp / max(2 * tp + float((predicted & ~y).sum()) + float((~predicted & y).sum()), 1.0)


def _figures(scores: np.ndarray, test: Series, threshold: float) -> dict[str, Any]:
    m = point_metrics(np.where(test.missing, np.nan, scores), test.labels & ~test.missing, threshold, delay=DELAY)
    return {k: m.get(k) for k in FIGURES}


def baseline(name: str, series: Series, cut: int, valid_fraction: float) -> dict[str, Any]:
    """A baseline's test figures, its threshold from the validation part of the training part."""
    started = time.process_time()
    fn = rolling_robust_zscore if name == "robust_zscore" else spectral_residual
    scores = fn(series.values, series.missing)
    cpu = time.process_time() - started
    v0 = cut - int(cut * valid_fraction)
    valid, vlab = scores[v0:cut], series.labels[v0:cut]
    keep = ~np.isnan(valid)
    threshold, rule = choose_threshold(valid[keep], vlab[keep], delay=DELAY)
    _, test = split(series)
    return _figures(scores[cut:], test, threshold) | {"rule": rule["kind"], "cpu_seconds": round(cpu, 2)}


def run_series(path: Path, config: DonutConfig, *, nab_windows: dict[str, Any] | None = None, nab_key: str = "",
               samples: int = 16, iterations: int = 10, variants: tuple[str, ...] = ("float32", "int8"),
               validation_npz: Path | None = None, combine: str = "donut") -> dict[str, Any]:
    """Figures of one series for Donut (each variant) and both baselines; see the module docstring."""
    series = load_labelled(path, nab_windows, nab_key)
    train, test = split(series)
    interval = int(series.position[1] - series.position[0])
    spec = EcgSpec(channel="value", fs=1.0, block=1, window=config.window, label_threshold=0.0, unit="")
    row: dict[str, Any] = {"points": len(series.values), "interval_s": interval, "train_points": len(train.values),
                           "test_points": len(test.values), "test_anomalous": int((test.labels & ~test.missing).sum()),
                           "validation_anomalous": int(train.labels[-int(len(train.values) * config.valid_fraction):]
                                                       .sum()), "missing": int(series.missing.sum())}
    kept: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        manifest = train_donut_bundle([train], spec, "kpi", Path(tmp) / "b", config, samples=samples,
                                      iterations=iterations, keep_validation=kept, combine=combine,
                                      int16_where_int8_loses="int8" in variants)  # as `train kpi` exports
        row["train_seconds"] = round(time.time() - started, 1)
        row["fit_seconds"] = manifest.training["seconds"]
        row["epochs"] = len(manifest.training["loss"]["loss"])
        row["best_epoch"] = manifest.training["best_epoch"]
        row["val_loss"] = [round(v, 5) for v in manifest.training["loss"]["val_loss"]]  # when the best came
        row["rule"] = manifest.calibration.rule if manifest.calibration else None
        if "int8" in manifest.models:
            int8 = manifest.models["int8"]
            check = int8.extra.get("quantization_check") or {}
            row["quantization_check"] = check | {"quantization": int8.quantization}
        bundle = load_bundle(Path(tmp) / "b")
        for variant in variants:
            scorer = donut_scorer(bundle, variant, samples=samples, iterations=iterations)
            cpu0 = time.process_time()
            scores = score_series(bundle, scorer, test)
            cpu = time.process_time() - cpu0
            kept[f"test_{variant}"] = (np.where(test.missing, np.nan, scores), test.labels & ~test.missing)
            threshold = manifest.models[variant].threshold.window
            vs, vl = kept[variant]
            old = float(np.percentile(vs[~vl], 99.0))  # the rule before this change: 99th percentile
            row[f"donut_{variant}"] = _figures(scores, test, threshold) | {
                "f1_at_p99_adjusted": f1_adjusted_at(np.where(test.missing, np.nan, scores),
                                                     test.labels & ~test.missing, old),
                "p99_threshold": old, "unscored_test_points": int(np.isnan(scores).sum()),
                "real_time_factor": cpu / (len(test.values) * interval), "cpu_seconds": round(cpu, 2)}
    if validation_npz is not None:
        np.savez_compressed(validation_npz, **{f"{v}_{k}": a for v, pair in kept.items()
                                               for k, a in zip(("scores", "labels"), pair, strict=True)})
    cut = len(train.values)
    for name in ("robust_zscore", "spectral_residual"):
        row[name] = baseline(name, series, cut, config.valid_fraction)
    return row


def run_to_json(path: Path, out: Path, config: DonutConfig, **kwargs: Any) -> dict[str, Any]:
    """run_series, cached: an existing `out` is read instead of recomputed."""
    if out.exists():
        cached: dict[str, Any] = json.loads(out.read_text())
        return cached
    out.parent.mkdir(parents=True, exist_ok=True)
    row = run_series(path, config, validation_npz=out.with_suffix(".npz"), **kwargs)
    row["config"] = {k: v for k, v in vars(replace(config)).items() if not isinstance(v, tuple)}
    out.write_text(json.dumps(row, indent=1) + "\n")
    return row


def refresh(path: Path, out: Path, valid_fraction: float, *, nab_windows: dict[str, Any] | None = None,
            nab_key: str = "") -> dict[str, Any]:
    """Re-apply the current threshold rule to a cached run: Donut from its stored validation and test
    scores (the bundle's threshold is a function of those alone), the baselines recomputed. The
    figures as first run are kept under "as_run"."""
    row: dict[str, Any] = json.loads(out.read_text())
    stored = np.load(out.with_suffix(".npz"))
    series = load_labelled(path, nab_windows, nab_key)
    train, test = split(series)
    for variant in ("float32", "int8"):
        if f"donut_{variant}" not in row:
            continue
        threshold, rule = choose_threshold(stored[f"{variant}_scores"], stored[f"{variant}_labels"].astype(bool),
                                           delay=DELAY)
        entry = row[f"donut_{variant}"]
        entry.setdefault("as_run", {k: entry[k] for k in ("threshold", "f1_at_threshold_adjusted")})
        scores = np.where(test.missing, np.nan, stored[f"test_{variant}_scores"])
        entry.update(_figures(scores, test, threshold))
        row["rule"] = rule
    for name in ("robust_zscore", "spectral_residual"):
        row[name] = baseline(name, series, len(train.values), valid_fraction)
    out.write_text(json.dumps(row, indent=1) + "\n")
    return row
