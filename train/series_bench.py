"""Donut benchmarks: NAB seasonal KPIs (its own domain) and adfecgdb leave-one-record-out with injections.

NAB: each series is split by time in half; Donut trains on the first half (its labelled points
masked out by M-ELBO, the last 30 % of it for validation), and is tested on the second half. A
rolling z-score baseline (|x - mean| / std of the previous `window` points) is scored by the same
metric code on the same points.

adfecgdb: for each record, Donut is trained on the other four (the write-up's |x| >= 250 uV points
masked out) and tested on the fifth with seeded injected anomalies (train.ecg_inject) and seeded
missing points (1 % of points, in gaps of 1-5 points, as lost radio frames would leave).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics

from edge.bundle.loader import load_bundle
from edge.features.ecg import EcgSpec, block_means
from edge.io.edf import read_edf_channel
from edge.io.kpi_csv import read_kpi_csv
from edge.pipeline.series_scorer import Series, donut_scorer, ecg_series, score_series
from train.donut import DonutConfig
from train.donut_bundle import train_donut_bundle
from train.ecg_inject import KINDS, inject, point_labels
from train.series_metrics import point_metrics

NAB_SERIES = (
    "realKnownCause/nyc_taxi.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialWithAnomaly/art_daily_jumpsdown.csv",
    "artificialWithAnomaly/art_daily_flatmiddle.csv",
    "artificialWithAnomaly/art_daily_nojump.csv",
)


def rolling_zscore(values: np.ndarray, missing: np.ndarray, window: int) -> np.ndarray:
    """|x_t - mean| / std over the previous `window` non-missing points; NaN before a full window."""
    x = np.where(missing, np.nan, values)
    past = np.lib.stride_tricks.sliding_window_view(x, window)[:-1]  # windows ending at t - 1
    mean, std = np.nanmean(past, axis=1), np.nanstd(past, axis=1)
    out = np.full(values.shape, np.nan)
    out[window:] = np.abs(x[window:] - mean) / np.maximum(std, 1e-9)
    return np.where(missing, np.nan, out)


def nab_labels(path: Path, timestamps: np.ndarray, windows: dict[str, list[list[str]]], key: str) -> np.ndarray:
    labels = np.zeros(timestamps.shape, dtype=bool)
    for start, end in windows[key]:
        t0, t1 = (int(datetime.fromisoformat(t.split(".")[0]).replace(tzinfo=UTC).timestamp()) for t in (start, end))
        labels[(timestamps >= t0) & (timestamps <= t1)] = True
    return labels


def nab_benchmark(nab_root: Path, config: DonutConfig, series_names: tuple[str, ...] = NAB_SERIES) -> dict[str, Any]:
    windows = json.loads((nab_root / "labels" / "combined_windows.json").read_text())
    spec = EcgSpec(channel="value", fs=1.0, block=1, window=config.window, label_threshold=0.0, unit="")
    out: dict[str, Any] = {}
    for name in series_names:
        kpi = read_kpi_csv(nab_root / "data" / name)
        labels = nab_labels(kpi.path, kpi.timestamps, windows, name)
        half = len(kpi.values) // 2
        train = Series(kpi.path, kpi.values[:half], kpi.missing[:half], labels[:half], kpi.timestamps[:half],
                       "timestamp")
        test = Series(kpi.path, kpi.values[half:], kpi.missing[half:], labels[half:], kpi.timestamps[half:],
                      "timestamp")
        with tempfile.TemporaryDirectory() as tmp:
            manifest = train_donut_bundle([train], spec, "kpi", Path(tmp) / "b", config)
            bundle = load_bundle(Path(tmp) / "b")
            row: dict[str, Any] = {"points": {"train": half, "test": len(test.values)},
                                   "anomalous_test_points": int(test.labels.sum())}
            for variant in ("float32", "int8"):
                scores = score_series(bundle, donut_scorer(bundle, variant), test)
                threshold = manifest.models[variant].threshold.window
                row[f"donut_{variant}"] = point_metrics(scores, test.labels & ~test.missing, threshold)
        z = rolling_zscore(kpi.values, kpi.missing, config.window)[half:]
        row["rolling_zscore"] = point_metrics(z, test.labels & ~test.missing, 3.0)
        out[name] = row
    return out


def missing_bursts(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Seeded lost points: gaps of 1-5 points until `fraction` of n is missing."""
    missing = np.zeros(n, dtype=bool)
    while missing.mean() < fraction:
        a = int(rng.integers(0, n - 5))
        missing[a : a + int(rng.integers(1, 6))] = True
    return missing


def injected_test_series(path: Path, spec: EcgSpec, seed: int) -> tuple[Series, np.ndarray]:
    """The record with injections and missing points as points; returns it and the per-point kind (0 = normal)."""
    channel = read_edf_channel(path, spec.channel)
    r_peaks = np.round(channel.annotation_onsets_s * channel.fs).astype(np.int64)
    injected = inject(channel.samples, r_peaks, channel.fs, seed=seed)
    points, _ = block_means(injected.samples, None, spec.block)
    kinds = point_labels(injected.kind_mask, spec.block)
    missing = missing_bursts(points.size, 0.01, np.random.default_rng(seed + 1000))
    points = np.where(missing, 0.0, points)
    series = Series(path, points, missing, kinds > 0, np.arange(points.size) * spec.block, "index")
    return series, kinds


def per_kind_auc(scores: np.ndarray, kinds: np.ndarray, missing: np.ndarray) -> dict[str, float | None]:
    """AUC of each kind's points against normal points (other kinds and missing/unscored points left out)."""
    scored = ~np.isnan(scores) & ~missing
    out: dict[str, float | None] = {}
    for i, kind in enumerate(KINDS, start=1):
        keep = scored & ((kinds == 0) | (kinds == i))
        y = kinds[keep] == i
        out[kind] = float(metrics.roc_auc_score(y, scores[keep])) if 0 < y.sum() < y.size else None
    return out


def ecg_benchmark(records: list[Path], config: DonutConfig, *, grid: list[tuple[int, int]],
                  spec: EcgSpec | None = None) -> dict[str, Any]:
    """Leave-one-record-out; for every (L, iterations) in grid and both variants: AUCs and CPU cost."""
    spec = spec or EcgSpec()
    out: dict[str, Any] = {"grid": grid, "records": {}}
    for index, test_path in enumerate(records):
        train = [ecg_series(p, spec) for p in records if p != test_path]
        test, kinds = injected_test_series(test_path, spec, seed=index)
        with tempfile.TemporaryDirectory() as tmp:
            manifest = train_donut_bundle(train, spec, "ecg", Path(tmp) / "b", config)
            bundle = load_bundle(Path(tmp) / "b")
            rows = {}
            for variant in ("float32", "int8"):
                threshold = manifest.models[variant].threshold.window
                for samples, iterations in grid:
                    scorer = donut_scorer(bundle, variant, samples=samples, iterations=iterations)
                    t0 = time.process_time()
                    scores = score_series(bundle, scorer, test)
                    cpu = time.process_time() - t0
                    overall = point_metrics(scores, test.labels & ~test.missing, threshold)
                    rows[f"{variant} L={samples} it={iterations}"] = {
                        "variant": variant, "samples": samples, "iterations": iterations,
                        "real_time_factor": cpu / (len(test.values) * spec.point_seconds),
                        "overall": overall, "per_kind_auc": per_kind_auc(scores, kinds, test.missing)}
        out["records"][test_path.stem] = {"best_epoch": manifest.training["best_epoch"], "runs": rows,
                                          "episodes": {k: int(((kinds == i + 1)).sum()) for i, k in enumerate(KINDS)}}
    return out
