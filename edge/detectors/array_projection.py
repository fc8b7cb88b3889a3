"""A distance detector scored in NumPy from arrays stored in the bundle: the members a gateway refits.

A learning period (``edge.learn``) refits the fused detector's closed-form members on the gateway,
where no TFLite converter exists: each member is kept as an ``.npz`` holding ``mu`` (dim,) and ``w``
(dim, k) float32, and scores a standardized row x as ||(x - mu) W||_2 (as ``projection_norm`` scores
the whitening layer of a trained ``maha``). Mahalanobis: W whitens the member's columns; K-means with
one centre: W selects the member's columns and mu holds the centre. Rows of W outside the member's
columns are zero, so every member reads the whole standardized row, as the TFLite members do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.detectors.base import Detector, register
from edge.errors import BundleError

ARRAY_PROJECTION = "array_projection"


def read_projection(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mu (dim,) and W (dim, k) float32 from a member's .npz; BundleError naming the file otherwise."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            mu, w = np.asarray(arrays["mu"], np.float32), np.asarray(arrays["w"], np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"{path}: not a projection array file ({exc}; expected an .npz with mu and w)") from None
    if mu.ndim != 1 or w.ndim != 2 or w.shape[0] != mu.shape[0]:
        raise BundleError(f"{path}: mu {mu.shape} and w {w.shape} (expected (dim,) and (dim, k))")
    return mu, w


@register(ARRAY_PROJECTION)
class ArrayProjectionDetector(Detector):
    """score = ||((x - mean) / std - mu) W||_2 per row: (n, dim) in the features' units -> (n,) float32."""

    def __init__(self, mu: np.ndarray, w: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
        if mean.shape != mu.shape:
            raise BundleError(f"projection of {mu.shape[0]} values for features of {mean.shape} (expected the same)")
        self._w = np.ascontiguousarray(w, np.float32)
        # (x - mean) / std - mu = x * inv_std - shift: one multiply and one subtract per value
        self._inv_std = (1.0 / std).astype(np.float32)
        self._shift = (mean * self._inv_std + mu).astype(np.float32)

    @classmethod
    def from_file(cls, path: Path, mean: np.ndarray, std: np.ndarray) -> ArrayProjectionDetector:
        return cls(*read_projection(path), mean, std)

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str, **_: Any) -> Detector:
        return cls.from_file(bundle.variant(variant).path, *bundle.normalization())

    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray:
        if features.shape[0] == 0:
            return np.empty(0, dtype=np.float32)
        y = (np.asarray(features, np.float32) * self._inv_std - self._shift) @ self._w
        return np.sqrt(np.einsum("ij,ij->i", y, y, dtype=np.float32))
