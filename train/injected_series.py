"""A fetal-ECG record with seeded injected anomalies as a point series, and AUC per anomaly kind.

`vigil evaluate --bundle DONUT --inject-seed S r10.edf` scores this series: the record's channel
(uV) with the anomalies of train.ecg_inject, block-averaged into points as the bundle prepares
them, and seeded missing points (1 % of points, in gaps of 1-5 points, as lost radio frames would
leave). adfecgdb has no anomaly labels, so the injected ones are the ground truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import metrics

from edge.features.ecg import EcgSpec, block_means
from edge.io.edf import read_edf_channel
from edge.pipeline.series_scorer import Series
from train.ecg_inject import KINDS, inject, point_labels


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
