"""Distance detectors whose TFLite model projects standardized features (n, d) -> (n, k).

Mahalanobis (``maha``): the model whitens the offset from the normal mean; the score is the
Euclidean norm of that projection. The sum of squares runs in NumPy on dequantized values, so a
large distance is never clipped by an int8 output range.
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
