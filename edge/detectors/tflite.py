"""TFLite detectors on standardized feature vectors: autoencoders and models that output a score.

The reconstruction detectors run the model on standardized features and take the mean squared
error in NumPy after dequantizing, so an unusually large error is never clipped by an int8 output
range.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.detectors.base import Detector, register
from edge.detectors.interpreter import TFLiteModel, load_interpreter


class _TFLiteDetector(Detector):
    """A TFLite model on features standardized with the bundle's statistics: (n, dim) -> (n,)."""

    def __init__(self, model: TFLiteModel, mean: np.ndarray, std: np.ndarray) -> None:
        self._model = model
        self._mean = mean
        self._inv_std = (1.0 / std).astype(np.float32)

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str, *, num_threads: int = 1, **_: Any) -> Detector:
        model = TFLiteModel(load_interpreter(bundle.variant(variant).path, num_threads=num_threads))
        return cls(model, *bundle.normalization())

    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray:
        if features.shape[0] == 0:
            return np.empty(0, dtype=np.float32)
        return self._score((features - self._mean) * self._inv_std)

    @abstractmethod
    def _score(self, x: np.ndarray) -> np.ndarray: ...


@register("reconstruction_mse")
class ReconstructionDetector(_TFLiteDetector):
    """Autoencoder detector: score = mean squared reconstruction error of standardized features."""

    def _score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.mean(np.square(self._model(x) - x), axis=1, dtype=np.float32))


@register("model_output")
class OutputDetector(_TFLiteDetector):
    """Detectors whose model outputs the score itself, (n, 1): GMM minus log-likelihood, SVM minus
    decision function, GAN 1 - D(x), kNN distance (float32)."""

    def _score(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._model(x)[:, 0])
