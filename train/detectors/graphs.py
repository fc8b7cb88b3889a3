"""Classical detectors written as small Keras graphs, so that they export to TFLite like the networks.

Each layer holds the fitted parameters as constant weights and computes the score from
standardized features x (n, d) with matrix products (FULLY_CONNECTED in TFLite, int8-friendly):
||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


def _squared_distances(x: Any, centres_t: Any, centre_norms: Any) -> Any:
    """(n, d) x, (d, k) centres transposed, (k,) squared norms -> (n, k) squared distances, >= 0."""
    # x * x, not ops.square: TFLite's SQUARE has no int8 kernel and would leave a float island
    sq = ops.sum(x * x, axis=-1, keepdims=True) - 2.0 * ops.matmul(x, centres_t) + centre_norms
    return ops.maximum(sq, 0.0)


class _Constants(keras.layers.Layer):
    """A layer whose fitted arrays are non-trainable weights (saved and converted with the graph)."""

    def __init__(self, arrays: dict[str, np.ndarray], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        for name, value in self._arrays.items():
            setattr(self, name, self.add_weight(name=name, shape=value.shape, trainable=False,
                                                initializer=keras.initializers.Constant(value)))


class CentreOffsets(_Constants):
    """K-means graph: x minus every centre, (n, d) -> (n, k, d); the gateway takes the nearest norm.

    The norm and the minimum run in NumPy on dequantized offsets (edge/detectors/projection.py): an int8
    SQRT needs version 2 of the op, which tflite-runtime 2.14 lacks, and a large distance is never
    clipped by an int8 output range (each offset has its own column).
    """

    def __init__(self, centres: np.ndarray, **kwargs: Any) -> None:
        super().__init__({"centres": centres[None, :, :]}, **kwargs)

    def call(self, x: Any) -> Any:
        return ops.expand_dims(x, 1) - self.centres


class NearestCentreDistance(_Constants):
    """K-means score: Euclidean distance to the nearest centre, (n, d) -> (n, 1)."""

    def __init__(self, centres: np.ndarray, **kwargs: Any) -> None:
        super().__init__({"centres_t": centres.T, "norms": np.sum(centres**2, axis=1)}, **kwargs)

    def call(self, x: Any) -> Any:
        d2 = _squared_distances(x, self.centres_t, self.norms)
        return ops.sqrt(ops.min(d2, axis=-1, keepdims=True))


class NegativeLogLikelihood(_Constants):
    """GMM score: minus the log-likelihood, (n, d) -> (n, 1).

    Every covariance type is expressed as per-component precision Cholesky factors P_k (d, d):
    log N(x; mu_k) = -1/2 ||x P_k - mu_k P_k||^2 + log det P_k - d/2 log(2 pi).
    """

    def __init__(self, weights: np.ndarray, means: np.ndarray, prec_chol: np.ndarray, **kwargs: Any) -> None:
        k, d = means.shape
        proj = np.concatenate(list(prec_chol), axis=1)  # (d, k*d): x @ proj = [x P_1, ..., x P_k]
        shift = np.einsum("kd,kde->ke", means, prec_chol).reshape(-1)  # (k*d,)
        log_det = np.log(np.array([np.prod(np.diag(p)) for p in prec_chol]))
        const = np.log(weights) + log_det - 0.5 * d * np.log(2 * np.pi)
        super().__init__({"proj": proj, "shift": shift, "const": const}, **kwargs)
        self.k, self.d = k, d

    def call(self, x: Any) -> Any:
        y = ops.reshape(ops.matmul(x, self.proj) - self.shift, (-1, self.k, self.d))
        # Written with minus signs folded into subtractions: TFLite's NEG has no int8 kernel, and
        # ops.logsumexp adds IsFinite/Select ops that would stay float.
        neg_log_p = 0.5 * ops.sum(y * y, axis=-1) - self.const  # (n, k)
        best = ops.min(neg_log_p, axis=-1, keepdims=True)
        return best - ops.log(ops.sum(ops.exp(best - neg_log_p), axis=-1, keepdims=True))


class NegativeRbfDecision(_Constants):
    """RBF SVM score: minus the decision function (normal is the positive class), (n, d) -> (n, 1).

    decision(x) = sum_i a_i exp(-gamma ||x - s_i||^2) + b over the support vectors s_i.
    """

    def __init__(self, support: np.ndarray, dual: np.ndarray, intercept: float, gamma: float, **kwargs: Any) -> None:
        # the minus of the score lives in the constants: TFLite's NEG has no int8 kernel
        super().__init__({"support_t": support.T, "norms": np.sum(support**2, axis=1),
                          "neg_dual": -dual.reshape(-1, 1), "neg_intercept": np.array([-intercept]),
                          "neg_gamma": np.array([-gamma])}, **kwargs)

    def call(self, x: Any) -> Any:
        kernel = ops.exp(self.neg_gamma * _squared_distances(x, self.support_t, self.norms))
        return ops.matmul(kernel, self.neg_dual) + self.neg_intercept


def scoring_model(layer: keras.layers.Layer, dim: int, name: str) -> keras.Model:
    inputs = keras.Input(shape=(dim,), name="features")
    return keras.Model(inputs, layer(inputs), name=name)
