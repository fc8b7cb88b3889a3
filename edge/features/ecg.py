"""ECG preparation as the fetal-ECG write-up does it, with true time kept.

One channel (Direct_1, the fetal scalp electrode, by default) at fs Hz is averaged over blocks of
`block` samples (60 samples = 60 ms at 1 kHz) into points; a point is missing when any of its
samples is. Points are standardized with training statistics that exclude missing and labelled
points; Donut reads windows of `window` points (120 points = 7.2 s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from edge.errors import BundleError


@dataclass(frozen=True)
class EcgSpec:
    """Every preparation parameter, stored in the bundle. fs in Hz, label threshold in the unit (uV)."""

    channel: str = "Direct_1"
    fs: float = 1000.0
    block: int = 60
    window: int = 120
    label_threshold: float = 250.0  # the write-up's rule: |x| >= 250 uV after block averaging; 0 = off
    unit: str = "uV"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EcgSpec:
        known = {f.name for f in fields(cls)}
        if set(data) - known:
            raise BundleError(f"ECG spec keys {sorted(set(data) - known)} unknown (expected among {sorted(known)})")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def point_seconds(self) -> float:
        return self.block / self.fs


def block_means(samples: np.ndarray, missing: np.ndarray | None, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,) samples -> (n // block,) point means float64 and (n // block,) missing flags.

    A trailing partial block is left for the next call (streams) or dropped (files).
    """
    n = samples.shape[0] // block
    points = samples[: n * block].reshape(n, block).mean(axis=1)
    if missing is None:
        return points, np.zeros(n, dtype=bool)
    point_missing = np.asarray(missing[: n * block].reshape(n, block).any(axis=1))
    return np.where(point_missing, 0.0, points), point_missing


def rule_labels(points: np.ndarray, missing: np.ndarray, threshold: float) -> np.ndarray:
    """The write-up's labels: |point| >= threshold (in the recording's unit); none when threshold is 0."""
    if threshold <= 0:
        return np.zeros(points.shape, dtype=bool)
    return (np.abs(points) >= threshold) & ~missing


def standardize(points: np.ndarray, mean: float, std: float, missing: np.ndarray) -> np.ndarray:
    """(x - mean) / std with missing points set to 0 (Donut's convention), float32."""
    return np.where(missing, 0.0, (points - mean) / std).astype(np.float32)
