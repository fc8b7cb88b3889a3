"""Donut as a Detector: MCMC imputation and latent sampling in NumPy around two TFLite interpreters.

Input rows are windows of W points in the recording's unit (n, W) with their missing mask; they
are standardized with the bundle's statistics (missing points enter as 0, as in Donut's reference).

score(point t) = - mean over L samples z ~ q(z|x) of log p(x_t | z), for the window x ending at t,
after `iterations` rounds of MCMC imputation of the window's missing points (each round: z ~ q(z|x),
x' ~ p(x|z), missing points of x replaced by x'). As Donut's reference, missing points enter as 0.
The noise of each window comes from a generator seeded by (seed, purpose, the window's index in
its stream), so a point's score does not depend on how windows were batched: a live stream scored
point by point and the same recording scored at once give the same scores.

Donut only scores. A KPI variant that serves a combined score (Donut's among robust z-scores and
spectral residual) is the kind ``edge.detectors.kpi_combine``, which holds this detector as one part.
Windows may be wider than Donut's (a bundle widened for spectral residual): Donut sees their last
``window`` points.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.detectors.base import Detector, register, windows_ending_at_each_point
from edge.detectors.interpreter import TFLiteModel, load_interpreter
from edge.features.ecg import standardize

LOG_2PI = math.log(2 * math.pi)


def _std(raw: np.ndarray, eps: np.float32) -> np.ndarray:
    """Donut's std = softplus(raw) + eps, computed here so the networks' int8 outputs stay linear."""
    return (np.logaddexp(np.float32(0.0), raw) + eps).astype(np.float32)


@register("donut")
class DonutDetector(Detector):
    """Encoder (n, W) -> z_mean, z_std_raw (n, K); decoder (n, K) -> x_mean, x_std_raw (n, W)."""

    handles_missing = True

    def __init__(self, encoder: TFLiteModel, decoder: TFLiteModel, *, samples: int = 1024,
                 iterations: int = 10, seed: int = 0, batch: int = 64, std_epsilon: float = 1e-4,
                 mean: float = 0.0, std: float = 1.0, window: int | None = None) -> None:
        self.encoder, self.decoder = encoder, decoder
        self.window = window  # Donut's window; None: the rows' width
        self.mean, self.std = mean, std
        self.std_epsilon = np.float32(std_epsilon)
        self.samples, self.iterations = samples, iterations
        self.seed = seed
        self.batch = batch

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str, *, samples: int | None = None, iterations: int | None = None,
                    seed: int = 0, num_threads: int = 1, **_: Any) -> DonutDetector:
        """L latent samples and MCMC iterations default to the bundle's ``scoring``."""
        paths = bundle.variant(variant).paths
        manifest = bundle.manifest
        return cls(TFLiteModel(load_interpreter(paths["encoder"], num_threads=num_threads)),
                   TFLiteModel(load_interpreter(paths["decoder"], num_threads=num_threads)),
                   samples=samples or int(manifest.scoring["samples"]),
                   iterations=int(manifest.scoring["iterations"]) if iterations is None else iterations, seed=seed,
                   std_epsilon=float(manifest.detector_params["std_epsilon"]), mean=float(manifest.mean),
                   std=float(manifest.std),
                   window=int(manifest.detector_params.get("window", bundle.ecg_spec.window)))

    def _noise(self, first: int, n: int, shape: tuple[int, ...], purpose: int) -> np.ndarray:
        """Standard normal noise (n, *shape), window k's drawn from its own (seed, purpose, index) stream."""
        return np.stack([np.random.default_rng((self.seed, purpose, first + k)).standard_normal(shape, np.float32)
                         for k in range(n)]) if n else np.empty((0, *shape), np.float32)

    def _sample_z(self, x: np.ndarray, n_samples: int, first: int, purpose: int) -> np.ndarray:
        z_mean, z_raw = self.encoder.run(x)
        z_std = _std(z_raw, self.std_epsilon)
        noise = self._noise(first, x.shape[0], (n_samples, z_mean.shape[1]), purpose).transpose(1, 0, 2)
        return z_mean[None] + z_std[None] * noise  # (S, n, K)

    def impute(self, x: np.ndarray, missing: np.ndarray, first: int = 0) -> np.ndarray:
        """MCMC imputation of missing points: x (n, W) float32, missing (n, W) bool -> x (n, W).

        first: the stream index of the first window (it picks the windows' noise streams).
        """
        x = np.where(missing, np.float32(0.0), x).astype(np.float32)
        if not missing.any():
            return x
        for it in range(self.iterations):
            z = self._sample_z(x, 1, first, 2 + 2 * it)[0]
            x_mean, x_raw = self.decoder.run(z)
            x_new = x_mean + _std(x_raw, self.std_epsilon) * self._noise(first, x.shape[0], x.shape[1:], 3 + 2 * it)
            x = np.where(missing, x_new, x)
        return x

    def _donut(self, features: np.ndarray, missing: np.ndarray, first: int) -> np.ndarray:
        """Donut's scores (n,) of the last point of each window (n, W) (one batch)."""
        x = standardize(features, self.mean, self.std, missing)
        xb = self.impute(x, missing, first)
        z = self._sample_z(xb, self.samples, first, 1)  # (L, n, K)
        x_mean, x_raw = self.decoder.run(z.reshape(-1, z.shape[-1]))
        mean_last = x_mean[:, -1].reshape(self.samples, -1)
        std_last = _std(x_raw[:, -1], self.std_epsilon).reshape(self.samples, -1)
        log_p = -0.5 * LOG_2PI - np.log(std_last) - 0.5 * np.square((xb[:, -1] - mean_last) / std_last)
        return np.asarray(-log_p.mean(axis=0))

    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray:
        """Anomaly scores (n,) of the last point of each window (n, W) in the recording's unit.

        first: the stream index of the first window (reproducible noise whatever the batching).
        Windows are standardized batch by batch: a recording's windows may be a strided view.
        """
        missing = np.zeros(features.shape, dtype=bool) if missing is None else missing
        out = np.empty(features.shape[0], dtype=np.float32)
        for i in range(0, features.shape[0], self.batch):  # per batch: memory stays one batch of windows
            out[i : i + self.batch] = self._last(features[i : i + self.batch], missing[i : i + self.batch], first + i)
        return out

    def _last(self, features: np.ndarray, missing: np.ndarray, first: int) -> np.ndarray:
        """One batch of windows (n, W) -> Donut's scores (n,) on their last `window` points."""
        w = self.window or features.shape[1]
        return self._donut(features[:, -w:], missing[:, -w:], first)

    def score_head(self, features: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Scores (W,) of every point of one window (W,) in the recording's unit.

        For a recording's first W - 1 points, which end no full window and have no stored context.
        Points before Donut's first full window (w = self.window) are scored at their own positions
        in its reconstruction of the first w points (position_scores: same noise streams as that
        window's score, so entry w - 1 equals score(features[None, :w])[0]). Points from w - 1 on
        (windows wider than Donut's) get Donut's score of the w points ending there; the last
        point gets score(features[None])[0].
        """
        width = features.shape[0]
        w = self.window or width
        rows, gaps = windows_ending_at_each_point(features, missing)
        out = np.empty(width, dtype=np.float32)
        if w > 1:
            out[: w - 1] = self.position_scores(features[:w], missing[:w])[:-1]
        for a in range(w - 1, width - 1, self.batch):
            b = min(a + self.batch, width - 1)
            out[a:b] = self._last(rows[a:b], gaps[a:b], a - w + 1)
        out[-1] = self._last(features[None], missing[None], 0)[0]
        return out

    def position_scores(self, features: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Donut's score (w,) of every position of one window (w,), from its reconstruction (noise of window 0)."""
        x = standardize(features[None], self.mean, self.std, missing[None])
        xb = self.impute(x, missing[None], 0)
        z = self._sample_z(xb, self.samples, 0, 1)  # (L, 1, K)
        x_mean, x_raw = self.decoder.run(z.reshape(-1, z.shape[-1]))
        std = _std(x_raw, self.std_epsilon)
        log_p = -0.5 * LOG_2PI - np.log(std) - 0.5 * np.square((xb - x_mean) / std)  # (L, w)
        return np.asarray(-log_p.mean(axis=0))
