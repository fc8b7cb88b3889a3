"""Distance detectors whose TFLite model projects standardized features (n, d) -> (n, k) or (n, c, k).

Mahalanobis (``maha``): the model whitens the offset from the normal mean; the score is the
Euclidean norm of that projection. K-means (``kmeans``): the model gives the offset from each of c
centres; the score is the norm of the nearest. The sums of squares, the minimum and the square root
run in NumPy on dequantized values, so a large distance is never clipped by an int8 output range
(and the int8 graph needs no SQRT, which tflite-runtime 2.14 lacks).
"""

from __future__ import annotations

import numpy as np

from edge.detectors.base import register
from edge.detectors.tflite import _TFLiteDetector


@register("projection_norm")
class ProjectionNormDetector(_TFLiteDetector):
    """score = ||model(x)||_2 per row, x standardized: (n, d) -> (n,) float32."""

    def _score(self, x: np.ndarray) -> np.ndarray:
        y = self._model(x)
        return np.sqrt(np.einsum("ij,ij->i", y, y, dtype=np.float32))


@register("nearest_offset_norm")
class NearestOffsetDetector(_TFLiteDetector):
    """score = min over centres c of ||model(x)[:, c]||_2, x standardized: (n, d) -> (n,) float32."""

    def _score(self, x: np.ndarray) -> np.ndarray:
        y = self._model(x)
        return np.sqrt(np.einsum("ick,ick->ic", y, y, dtype=np.float32).min(axis=1))
