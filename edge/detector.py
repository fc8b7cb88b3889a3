"""Detectors: feature vectors in, one anomaly score per vector out (higher = more anomalous).

Every detector kind implements :class:`Detector`. The reconstruction detectors (autoencoders)
run the TFLite model on standardized features and take the mean squared error in NumPy after
dequantizing, so an unusually large error is never clipped by an int8 output range.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from edge.bundle import Bundle
from edge.errors import BundleError
from edge.interpreter import load_interpreter


class Detector(ABC):
    """Scores feature vectors (n, dim) float32 -> (n,) float32, higher = more anomalous."""

    window_threshold: float
    clip_threshold: float

    @abstractmethod
    def score(self, features: np.ndarray) -> np.ndarray: ...


class TFLiteModel:
    """One TFLite model with a float interface: quantizes inputs and dequantizes outputs as needed.

    The batch dimension is resized only when the number of rows changes, so a stream that
    delivers the same number of windows per block never reallocates.
    """

    def __init__(self, interpreter: Any) -> None:
        self._interp = interpreter
        self._details()

    def _details(self) -> None:
        self._in = self._interp.get_input_details()[0]
        # the converter lists outputs in no fixed order; "...:k" names the model's k-th output
        self._outs = sorted(self._interp.get_output_details(), key=lambda d: int(d["name"].rsplit(":", 1)[-1])
                            if d["name"].rsplit(":", 1)[-1].isdigit() else 0)
        self._rows = int(self._in["shape"][0])

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """x: (n, ...) float32 -> every model output, in the model's order, float32."""
        if x.shape[0] != self._rows:
            self._interp.resize_tensor_input(self._in["index"], list(x.shape), strict=False)
            self._interp.allocate_tensors()
            self._details()
        self._interp.set_tensor(self._in["index"], _quantize(x, self._in))
        self._interp.invoke()
        return [_dequantize(self._interp.get_tensor(d["index"]), d) for d in self._outs]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: (n, ...) float32 -> the model's first output (n, ...) float32."""
        return self.run(x)[0]


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32, copy=False)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


class _TFLiteDetector(Detector):
    """A TFLite model on features standardized with the bundle's statistics."""

    def __init__(self, model: TFLiteModel, mean: np.ndarray, std: np.ndarray, window_threshold: float,
                 clip_threshold: float) -> None:
        self._model = model
        self._mean = mean
        self._inv_std = (1.0 / std).astype(np.float32)
        self.window_threshold = window_threshold
        self.clip_threshold = clip_threshold

    def score(self, features: np.ndarray) -> np.ndarray:
        if features.shape[0] == 0:
            return np.empty(0, dtype=np.float32)
        return self._score((features - self._mean) * self._inv_std)

    @abstractmethod
    def _score(self, x: np.ndarray) -> np.ndarray: ...


class ReconstructionDetector(_TFLiteDetector):
    """Autoencoder detector: score = mean squared reconstruction error of standardized features."""

    def _score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.mean(np.square(self._model(x) - x), axis=1, dtype=np.float32))


class OutputDetector(_TFLiteDetector):
    """Detectors whose model outputs the score itself, (n, 1): K-means distance, GMM minus
    log-likelihood, SVM minus decision function, GAN 1 - D(x)."""

    def _score(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._model(x)[:, 0])


class ProjectionNormDetector(_TFLiteDetector):
    """Distance detectors whose model projects (n, d) -> (n, k): score = Euclidean norm of the
    projection (Mahalanobis: the whitened offset from the normal mean). The sum of squares runs
    in NumPy on dequantized values, so it is never clipped by an int8 output range."""

    def _score(self, x: np.ndarray) -> np.ndarray:
        y = self._model(x)
        return np.sqrt(np.einsum("ij,ij->i", y, y, dtype=np.float32))


_SCORE_KINDS: dict[str, type[_TFLiteDetector]] = {
    "reconstruction_mse": ReconstructionDetector,
    "model_output": OutputDetector,
    "projection_norm": ProjectionNormDetector,
}


def load_detector(bundle: Bundle, variant: str | None = None, *, num_threads: int = 1) -> Detector:
    """The Detector a bundle describes, on its chosen variant (int8 by default)."""
    chosen = bundle.variant(variant)
    score_kind = bundle.manifest["detector"].get("score")
    if score_kind not in _SCORE_KINDS:
        raise BundleError(
            f"{bundle.path}: detector score {score_kind!r} unknown (expected one of {sorted(_SCORE_KINDS)})"
        )
    model = TFLiteModel(load_interpreter(chosen.path, num_threads=num_threads))
    mean, std = bundle.normalization()
    return _SCORE_KINDS[score_kind](model, mean, std, chosen.window_threshold, chosen.clip_threshold)
