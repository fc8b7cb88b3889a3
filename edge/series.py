"""Point series for Donut: fetal ECG from EDF (block means) and KPI CSVs, and their scoring.

A Series is one recording as points: values (n,) in the recording's unit, missing (n,) and
labels (n,) bool, and where each point sits (sample index for EDF, timestamp for CSV).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import Bundle
from edge.detector import Detector, load_detector
from edge.edf import read_edf_channel
from edge.errors import InputFileError
from edge.features.ecg import EcgSpec, block_means, rule_labels
from edge.kpi import read_kpi_csv


@dataclass(frozen=True)
class Series:
    """Points of one recording: values, missing, labels (n,); `position` (n,) sample index or timestamp."""

    path: Path
    values: np.ndarray
    missing: np.ndarray
    labels: np.ndarray
    position: np.ndarray
    position_name: str  # "index" (EDF samples) or "timestamp" (CSV seconds)


def ecg_series(path: str | Path, spec: EcgSpec) -> Series:
    """An EDF channel as block-mean points; refuses another sample rate than the spec's."""
    channel = read_edf_channel(path, spec.channel)
    if channel.fs != spec.fs:
        raise InputFileError(f"{path}: channel {spec.channel} is sampled at {channel.fs:g} Hz; the model was "
                             f"trained at {spec.fs:g} Hz (resample the recording first)")
    if channel.samples.size < spec.block * spec.window:
        raise InputFileError(f"{path}: {channel.samples.size} samples, shorter than one window "
                             f"({spec.block * spec.window} samples)")
    points, missing = block_means(channel.samples, None, spec.block)
    labels = rule_labels(points, missing, spec.label_threshold)
    return Series(Path(path), points, missing, labels, np.arange(points.size) * spec.block, "index")


def kpi_series(path: str | Path) -> Series:
    kpi = read_kpi_csv(path)
    return Series(Path(path), kpi.values, kpi.missing, kpi.labels, kpi.timestamps, "timestamp")


def load_series(path: str | Path, spec: EcgSpec, modality: str) -> Series:
    return ecg_series(path, spec) if modality == "ecg" else kpi_series(path)


def donut_scorer(bundle: Bundle, variant: str | None = None, *, samples: int | None = None,
                 iterations: int | None = None, seed: int = 0) -> Detector:
    """The gateway's Donut detector for a bundle variant; L and MCMC iterations default to the bundle's."""
    return load_detector(bundle, variant, samples=samples, iterations=iterations, seed=seed)


def score_series(bundle: Bundle, detector: Detector, series: Series) -> np.ndarray:
    """Scores (n,) of every point (NaN for the first window - 1 points, which end no full window)."""
    window = bundle.ecg_spec.window
    windows = np.lib.stride_tricks.sliding_window_view(series.values, window)
    gaps = np.lib.stride_tricks.sliding_window_view(series.missing, window)
    scores = np.full(series.values.shape, np.nan, dtype=np.float32)
    scores[window - 1 :] = detector.score(windows, gaps)
    return scores


def points_json(series: Series, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """`vigil score`'s object for a series: file, threshold, points [{index|timestamp, score, missing}]."""
    return {
        "file": str(series.path),
        "threshold": threshold,
        "points": [{series.position_name: int(p), "score": None if np.isnan(s) else round(float(s), 5),
                    "missing": bool(m)}
                   for p, s, m in zip(series.position.tolist(), scores.tolist(), series.missing.tolist(), strict=True)],
    }
