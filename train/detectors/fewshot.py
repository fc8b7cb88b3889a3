"""Few-shot detectors: distances to the normal windows, fitted in closed form (no training loop).

What the first-shot anomalous sound detection literature uses when only a few normal clips exist
(DCASE 2023/2024 Task 2 baseline: an autoencoder scored with a Mahalanobis distance; many top
systems: k-nearest-neighbour distances to the normal training embeddings), applied to per-band
log-mel statistics (``edge.features.audio.logmel_stats``) instead of learnt embeddings:

* ``maha``: Mahalanobis distance to the normal windows with a Ledoit-Wolf shrinkage covariance
  (256 correlated features from ~200 windows: the sample covariance is singular, shrinkage is
  not). Exported as one dense layer that whitens, y = (x - mu) V diag(lambda)^-1/2 (n, d); the
  gateway takes sqrt(sum y^2). Every whitened component has unit variance on normal data, so one
  int8 scale fits all of them.
* ``maha`` (the default): the same distance in two blocks of the 256 values. The band means' 128 x
  128 covariance comes from the single log-mel frames under the windows (ten 10 s clips give
  ~3,000 frames against ~190 windows), the band stds' from the windows; each block's distance is
  scaled to unit RMS on the normal windows and the score is sqrt(d_mean^2 + d_std^2). Exported as
  one block-diagonal dense layer, so the gateway is unchanged. Measured against ``maha-stats``
  (one covariance of the windows) in benchmarks/fewshot_audio.py (see its docstring).
* ``maha-envelope``: the two-block distance of ``maha`` on the spectral envelope only: the first
  ``ENVELOPE_COEFFICIENTS`` cepstral coefficients (orthonormal DCT-II over the bands of the dB values,
  as MFCCs are taken) of the band means and of the band stds. Where 128 bands' fine detail varies
  from clip to clip of a normal machine, the full-resolution distance drowns a change of the
  envelope in it (toycar: ``maha`` 0.680 AUC, the write-up's MFCC K-means 0.888, this 0.928;
  reports/machine-sound/fused-default.md, third round). The DCT and the dB scale fold into the
  whitening layer, so it exports and scores exactly as ``maha`` (y = x W + b, norm in NumPy).
* ``maha-stats``: one Ledoit-Wolf covariance of the 256 window values.
* ``knn``: Euclidean distance to the nearest normal window (the memory bank, at most
  ``MAX_BANK`` windows, seeded subsample), exported as a matmul against the bank.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from edge.learn.refit import envelope_projection
from train.detectors import DetectorOptions, Trained, headroom
from train.detectors.graphs import NearestCentreDistance, scoring_model

ENVELOPE_COEFFICIENTS = 24  # chosen among 13-128 on the benchmark's 6 machine ids (fused-default.md, third round)
MAX_BANK = 2048  # windows: 2048 x 256 int8 weights = 0.5 MB, one matmul per window


def whitening(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Ledoit-Wolf fit of x (n, d): location (d,), whitening matrix W (d, d) with
    (x - mu) W W^T (x - mu)^T the squared Mahalanobis distance, and the shrinkage used."""
    from sklearn.covariance import LedoitWolf

    lw = LedoitWolf().fit(x)
    values, vectors = np.linalg.eigh(lw.covariance_)
    values = np.maximum(values, 1e-6 * values.max())
    return lw.location_, vectors / np.sqrt(values)[None, :], float(lw.shrinkage_)


def whitening_model(mu: np.ndarray, w: np.ndarray) -> keras.Model:
    """One dense layer y = (x - mu) W: (n, d) -> (n, d'); the gateway takes sqrt(sum y^2)."""
    inputs = keras.Input(shape=(w.shape[0],), name="features")
    dense = keras.layers.Dense(w.shape[1], name="whiten")
    model = keras.Model(inputs, dense(inputs), name="maha")
    dense.set_weights([w.astype(np.float32), (-mu @ w).astype(np.float32)])
    return model


def fit_mahalanobis(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    mu, w, shrinkage = whitening(x.astype(np.float64))
    params = {"shrinkage": shrinkage, "dim": int(x.shape[1]), "windows": int(x.shape[0])}
    return Trained(whitening_model(mu, w), "projection_norm", headroom(x), params=params)


def _block(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whitening of one block fitted on x (n, d) after scaling each column to unit std (Ledoit-Wolf
    shrinks towards a multiple of the identity, so the columns' scale matters): (mu (d,), W (d, d))."""
    scale = np.maximum(x.std(axis=0), 1e-6)
    mu, w, _ = whitening(x / scale)
    return mu * scale, w / scale[:, None]


def fit_mahalanobis_frames(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions, *,
                           frames: np.ndarray) -> Trained:
    """x: standardized windows (n, 2 * n_mels), band means then stds; frames: standardized frames (m, n_mels)."""
    n_mels = frames.shape[1]
    mu_m, w_m = _block(frames.astype(np.float64))
    mu_s, w_s = _block(x[:, n_mels:].astype(np.float64))
    d_m = np.linalg.norm((x[:, :n_mels] - mu_m) @ w_m, axis=1)
    d_s = np.linalg.norm((x[:, n_mels:] - mu_s) @ w_s, axis=1)
    rms_m, rms_s = float(np.sqrt(np.mean(d_m**2))), float(np.sqrt(np.mean(d_s**2)))
    w = np.zeros((x.shape[1], x.shape[1]))
    w[:n_mels, :n_mels], w[n_mels:, n_mels:] = w_m / rms_m, w_s / rms_s
    params = {"dim": int(x.shape[1]), "windows": int(x.shape[0]), "frames": int(frames.shape[0]), "rms": [rms_m, rms_s]}
    return Trained(whitening_model(np.concatenate([mu_m, mu_s]), w), "projection_norm", headroom(x), params=params)


def fit_mahalanobis_envelope(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions, *,
                             frames: np.ndarray, scale: tuple[np.ndarray, np.ndarray]) -> Trained:
    """x: standardized windows (n, 2 * n_mels); frames: standardized frames (m, n_mels); scale: the
    standardization's mean and std (2 n_mels,) each (the std is what the cepstrum needs). The model maps
    (n, 2 n_mels) to (n, 2 * ENVELOPE_COEFFICIENTS), the gateway takes its norm."""
    mu, w = envelope_projection(x, frames, scale[1], ENVELOPE_COEFFICIENTS)
    params = {"dim": int(x.shape[1]), "windows": int(x.shape[0]), "frames": int(frames.shape[0]),
              "coefficients": ENVELOPE_COEFFICIENTS}
    return Trained(whitening_model(mu, w), "projection_norm", headroom(x), params=params)


def memory_bank(x: np.ndarray, seed: int, size: int = MAX_BANK) -> np.ndarray:
    """The normal windows kept for kNN: all of them, or a seeded subsample of `size`."""
    if x.shape[0] <= size:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(x.shape[0], size, replace=False))]


def fit_knn(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    bank = memory_bank(x, options.seed)
    model = scoring_model(NearestCentreDistance(bank), x.shape[1], "knn")
    params: dict[str, Any] = {"k": 1, "bank": int(bank.shape[0]), "windows": int(x.shape[0])}
    return Trained(model, "model_output", headroom(x), params=params)
