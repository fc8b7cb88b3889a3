"""Donut on fetal heart rate series: a KPI bundle (modality "kpi") whose points are FHR at 4 Hz.

The FHR comes from fetal beats (the reference annotations of the training records, or a
detector's): each 0.25 s point holds the rate of the beat interval it falls in; points with no
plausible interval are missing (Donut imputes them by MCMC and does not score them as rhythm).
The bundle is made by train/donut_bundle.py as for any KPI series; window 120 points = 30 s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.bundle.manifest import Manifest
from edge.features.ecg import EcgSpec
from edge.fetal.fhr_events import FhrConfig, fhr_from_peaks, resample
from edge.pipeline.series_scorer import Series

RATE_HZ = 4.0
FHR_SPEC = EcgSpec(channel="fhr", fs=RATE_HZ, block=1, window=120, label_threshold=0.0, unit="bpm")


def fhr_series(path: Path, peaks: np.ndarray, fs: float, duration_s: float,
               labels: np.ndarray | None = None) -> Series:
    """Beats (k,) sample indices at fs -> a 4 Hz FHR Series (missing where no plausible interval)."""
    cfg = FhrConfig(rate_hz=RATE_HZ)
    t_s, bpm = fhr_from_peaks(peaks, fs, cfg)
    grid, values = resample(t_s, bpm, duration_s, cfg)
    missing = np.isnan(values)
    lab = np.zeros(grid.size, dtype=bool) if labels is None else labels.astype(bool)
    return Series(path, np.where(missing, 0.0, values), missing, lab, np.round(grid * 1000).astype(np.int64),
                  "index")


def train_fhr_bundle(series: list[Series], out: Path, *, epochs: int = 100, seed: int = 0,
                     samples: int = 16, iterations: int = 10) -> Manifest:
    """Fit Donut on FHR series and write a KPI bundle to `out` (float32 and int8)."""
    from train.donut import DonutConfig
    from train.donut_bundle import train_donut_bundle

    config = DonutConfig(window=FHR_SPEC.window, max_epochs=epochs, seed=seed)
    return train_donut_bundle(series, FHR_SPEC, "kpi", out, config, samples=samples, iterations=iterations)
