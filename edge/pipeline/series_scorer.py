"""Point series for Donut: fetal ECG from EDF (block means) and KPI CSVs, scored through the Stream.

A Series is one recording as points: values (n,) in the recording's unit, missing (n,) and
labels (n,) bool, and where each point sits (sample index for EDF, timestamp for CSV).
Every point is scored: a KPI file that continues the training series (its first timestamp is one
interval after the bundle's stored `warmup` tail) is scored with that tail as context; otherwise
the first window - 1 points are scored at their own positions in the file's first window.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.detectors.base import Detector, load_detector
from edge.errors import BundleError, InputFileError
from edge.features.ecg import EcgSpec, rule_labels
from edge.io.edf import EdfFile, edf_block_means, lost_points
from edge.io.kpi_csv import KpiColumns, read_kpi_csv
from edge.modalities.base import modality_named
from edge.pipeline.assembly import build_stream, replay, start_series
from edge.sources.base import Block

REPLAY_POINTS = 4096  # points per pushed block: the ring buffer holds one window plus this many


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
    """An EDF channel as block-mean points, read in blocks; refuses another sample rate than the spec's."""
    with EdfFile(path) as edf:
        fs, n = edf.fs(spec.channel), edf.n_samples(spec.channel)
        if fs != spec.fs:
            raise InputFileError(f"{path}: channel {spec.channel} is sampled at {fs:g} Hz; the model was "
                                 f"trained at {spec.fs:g} Hz (resample the recording first)")
        if n < spec.block * spec.window:
            raise InputFileError(f"{path}: {n} samples, shorter than one window ({spec.block * spec.window} samples)")
        # a recording in mV scored by a model of uV points would be 1000 times too flat, silently
        factor = edf.factor(spec.channel, spec.unit)
        points = edf_block_means(edf, spec.channel, spec.block) * factor
        missing = lost_points(edf.lost_runs(fs), spec.block, points.size)  # `vigil record`'s lost samples
    points = np.where(missing, 0.0, points)
    labels = rule_labels(points, missing, spec.label_threshold)
    return Series(Path(path), points, missing, labels, np.arange(points.size) * spec.block, "index")


def kpi_series(path: str | Path, columns: KpiColumns | None = None) -> Series:
    """A KPI CSV as points; NaN/inf/empty values become missing points, said once on stderr."""
    kpi = read_kpi_csv(path, columns)
    if kpi.nonfinite:
        print(f"vigil: notice: {path}: {kpi.nonfinite} NaN, inf or empty values (first at line "
              f"{kpi.first_nonfinite_line}) read as missing points", file=sys.stderr)
    return Series(Path(path), kpi.values, kpi.missing, kpi.labels, kpi.timestamps, "timestamp")


def load_series(path: str | Path, spec: EcgSpec, modality: str, columns: KpiColumns | None = None) -> Series:
    """A recording of a point-series modality (by name) as its points; see SeriesModality.load_series."""
    from edge.modalities.series import SeriesModality

    reader = modality_named(modality)
    if not isinstance(reader, SeriesModality):
        raise BundleError(f"modality {modality!r}: not a point series (expected one Donut scores)")
    return reader.load_series(path, spec, columns)


def donut_scorer(bundle: Bundle, variant: str | None = None, *, samples: int | None = None,
                 iterations: int | None = None, seed: int = 0) -> Detector:
    """The gateway's Donut detector for a bundle variant; L and MCMC iterations default to the bundle's."""
    return load_detector(bundle, variant, samples=samples, iterations=iterations, seed=seed)


def first_timestamp(series: Series) -> int | None:
    """Unix time (s) of the series' first point, None for a series without timestamps (EDF)."""
    return int(series.position[0]) if series.position_name == "timestamp" and series.position.size else None


def score_series(bundle: Bundle, detector: Detector, series: Series) -> np.ndarray:
    """Scores (n,) float32 of every point, replayed through the gateway's Stream started as a live one is
    (`start_series`; see the module docstring for the first window - 1 points). The points are the
    stream's samples: a point-per-sample framing of the bundle's spec, whose block means are the points."""
    spec = bundle.ecg_spec
    values, missing = series.values, series.missing
    points = replace(spec, fs=spec.fs / spec.block, block=1)
    stream = build_stream(bundle, detector, spec=points, head=True, max_span_s=REPLAY_POINTS / points.fs)
    if not start_series(stream, bundle, first_timestamp(series)) and values.size < spec.window:
        raise InputFileError(f"{series.path}: {values.size} points, shorter than one window ({spec.window} points)")
    blocks = (Block(i, values[i : i + REPLAY_POINTS, None], missing[i : i + REPLAY_POINTS])
              for i in range(0, values.size, REPLAY_POINTS))
    return replay(stream, blocks).scores


def points_json(series: Series, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """`vigil score`'s object for a series: file, threshold, points [{index|timestamp, score, missing}]."""
    return {
        "file": str(series.path),
        "threshold": threshold,
        "points": [{series.position_name: int(p), "score": None if np.isnan(s) else round(float(s), 5),
                    "missing": bool(m)}
                   for p, s, m in zip(series.position.tolist(), scores.tolist(), series.missing.tolist(), strict=True)],
    }
