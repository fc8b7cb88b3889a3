"""Refit the fused detector's closed-form members in NumPy on learned windows, with out-of-fold scores.

Members (by their name in the bundle's ``detector.params.members``, each on its ``columns`` of the
standardized row):

* ``maha``: Mahalanobis distance with a Ledoit-Wolf shrunk covariance (``ledoit_wolf``: sklearn's
  ``LedoitWolf`` written in NumPy, because the gateway install carries no scikit-learn for one short
  estimator; tests check they agree). A member fitted as two blocks (its
  params carry ``rms``: band means and band stds, each whitened and scaled to unit RMS on the normal
  windows) is refitted as two blocks; the band means' covariance then comes from the learned windows,
  not single frames (the store keeps windows; an hour gives thousands of them).
* ``maha-envelope``: the two-block form on the spectral envelope (``envelope_projection``: the first
  ``coefficients`` cepstral coefficients of the band means' and band stds' dB values); training
  fits it with this same function, on single frames for the band means.
* ``kmeans`` (one centre): the mean of the member's columns.

Each member is a projection (mu (dim,), W (dim, k)) scored ||(x - mu) W|| (``ArrayProjectionDetector``).
Out-of-fold: k folds by contiguous time blocks of the learned windows (a window is never scored by a
fit that saw it, and neighbours of the same moment mostly fall in the same fold); the out-of-fold
window scores give each member's z-scale [mean, std] and the fused normal scores the thresholds are
chosen from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.fft

Projection = tuple[np.ndarray, np.ndarray]  # mu (dim,), W (dim, k)
FOLDS = 5
MIN_WINDOWS = 2 * FOLDS  # a fold's fit needs more than one window


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Ledoit-Wolf fit of x (n, d) float64: location (d,), shrunk covariance (d, d), shrinkage in [0, 1].

    sklearn.covariance.LedoitWolf (assume_centered=False): with X centred, S = X'X / n, mu = tr(S) / d,
    delta = ||S - mu I||_F^2 / d, beta = min(delta, (sum((X^2)'X^2) / n - ||S||_F^2) / (d n)); shrinkage
    beta / delta; covariance (1 - shrinkage) S + shrinkage mu I.
    """
    n, d = x.shape
    location = x.mean(axis=0)
    xc = x - location
    cov = xc.T @ xc / n
    if d == 1:
        return location, cov, 0.0
    x2 = xc**2
    trace = x2.sum(axis=0) / n
    mu = trace.sum() / d
    beta_ = float(np.sum(x2.T @ x2))
    delta_ = float(np.sum(cov**2))  # = sum((X'X)^2) / n^2
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * trace.sum() + d * mu**2) / d
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk = (1.0 - shrinkage) * cov
    shrunk.flat[:: d + 1] += shrinkage * mu
    return location, shrunk, float(shrinkage)


def whitening(x: np.ndarray) -> Projection:
    """mu (d,) and W (d, d) with ||(x - mu) W||^2 the squared Mahalanobis distance (eigenvalues floored at
    1e-6 of the largest, as the trained member)."""
    location, cov, _ = ledoit_wolf(x)
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 1e-6 * values.max())
    return location, vectors / np.sqrt(values)[None, :]


def _scaled_whitening(x: np.ndarray) -> Projection:
    """Whitening after scaling each column to unit std (the shrinkage target is a multiple of I)."""
    scale = np.maximum(x.std(axis=0), 1e-6)
    mu, w = whitening(x / scale)
    return mu * scale, w / scale[:, None]


def fit_mahalanobis(x: np.ndarray, blocks: bool) -> Projection:
    """Member columns x (n, c) -> (mu (c,), W (c, c)); blocks: the two-block form (c = 2 n_mels)."""
    if not blocks:
        return whitening(x)
    half = x.shape[1] // 2
    mu_m, w_m = _scaled_whitening(x[:, :half])
    mu_s, w_s = _scaled_whitening(x[:, half:])
    rms_m = float(np.sqrt(np.mean(np.sum(((x[:, :half] - mu_m) @ w_m) ** 2, axis=1))))
    rms_s = float(np.sqrt(np.mean(np.sum(((x[:, half:] - mu_s) @ w_s) ** 2, axis=1))))
    w = np.zeros((x.shape[1], x.shape[1]))
    w[:half, :half], w[half:, half:] = w_m / rms_m, w_s / rms_s
    return np.concatenate([mu_m, mu_s]), w


def dct_basis(n: int, k: int) -> np.ndarray:
    """(n, k): x (m, n) @ basis = the first k orthonormal DCT-II coefficients of each row (the cepstrum)."""
    return scipy.fft.dct(np.eye(n), norm="ortho", axis=1)[:, :k]


def envelope_projection(x: np.ndarray, frames: np.ndarray | None, std: np.ndarray, k: int) -> Projection:
    """The envelope distance of standardized rows as ||(x - mu) W||: mu (2 n_mels,), W (2 n_mels, 2 k).

    x: standardized windows (n, 2 n_mels), band means then stds; frames: standardized single frames
    (m, n_mels) for the band means' covariance (None: the windows' band means); std (2 n_mels,): the
    standardization's scale, undone so that the DCT weighs each band by its dB deviation, as MFCCs are
    taken (the mean needs no undoing: the whitening centres each block). Each block's k coefficients are
    whitened (Ledoit-Wolf after scaling each to unit std) and scaled to unit RMS on the windows; the DCT
    folds into W, so the member scores as any projection. mu is the least-norm row with zero distance,
    not the normal windows' mean."""
    n_mels = x.shape[1] // 2
    basis = dct_basis(n_mels, k)
    w = np.zeros((2 * n_mels, 2 * k))
    b = np.zeros(2 * k)
    for i, part in enumerate((slice(0, n_mels), slice(n_mels, 2 * n_mels))):
        # a standardized value times its band's std is its dB deviation; the DCT of those is the cepstrum
        to_cep = std[part, None] * basis
        rows = frames if i == 0 and frames is not None else x[:, part]
        mu_c, w_c = _scaled_whitening(rows.astype(np.float64) @ to_cep)
        rms = float(np.sqrt(np.mean(np.sum(((x[:, part] @ to_cep - mu_c) @ w_c) ** 2, axis=1))))
        cols = slice(i * k, (i + 1) * k)
        w[part, cols] = to_cep @ w_c / rms
        b[cols] = -mu_c @ w_c / rms
    # x W + b = (x - mu) W with mu W = -b: W has full column rank, so lstsq solves it exactly
    mu = -np.linalg.lstsq(w.T, b, rcond=None)[0]
    return mu, w


def fit_centre(x: np.ndarray) -> Projection:
    """K-means with one centre: the centre is the mean, the distance Euclidean."""
    return x.mean(axis=0), np.eye(x.shape[1])


@dataclass(frozen=True)
class Member:
    """One refittable member: its name, its columns [start, stop) of the standardized row, how it is fitted."""

    name: str
    start: int
    stop: int
    fit_columns: Callable[[np.ndarray], Projection]

    def fit(self, x: np.ndarray) -> Projection:
        """Standardized rows (n, dim) -> mu (dim,), W (dim, k) float32, zero outside the member's columns."""
        mu_c, w_c = self.fit_columns(x[:, self.start : self.stop])
        mu = np.zeros(x.shape[1])
        w = np.zeros((x.shape[1], w_c.shape[1]))
        mu[self.start : self.stop], w[self.start : self.stop] = mu_c, w_c
        return mu.astype(np.float32), w.astype(np.float32)


def project(x: np.ndarray, projection: Projection) -> np.ndarray:
    """||(x - mu) W|| per row: (n, dim) -> (n,) float64."""
    mu, w = projection
    return np.linalg.norm((x - mu) @ w, axis=1)


def members_of(params: dict[str, Any], std: np.ndarray) -> list[Member]:
    """The refittable members a fused bundle's detector.params lists, for rows standardized by std (dim,)
    (and a mean); ValueError naming one that is not, or a member entry that does not fit them."""
    dim = int(std.shape[0])
    out = []
    for entry in params.get("members") or []:
        name = entry.get("name")
        columns = entry.get("columns") or [0, dim]
        if name == "maha":
            out.append(Member(name, int(columns[0]), int(columns[1]),
                              partial(fit_mahalanobis, blocks="rms" in entry)))
        elif name == "maha-envelope":
            a, b = int(columns[0]), int(columns[1])
            k = entry.get("coefficients")
            if not isinstance(k, int) or not 0 < k <= (b - a) // 2 or (b - a) % 2:
                raise ValueError(f"member maha-envelope: coefficients {k!r} on columns {columns} (expected an even "
                                 "number of columns, band means then stds, and 1 to half of them coefficients)")
            out.append(Member(name, a, b, partial(envelope_projection, frames=None, std=std[a:b], k=k)))
        elif name == "kmeans" and int(entry.get("clusters", 1)) == 1:
            out.append(Member(name, int(columns[0]), int(columns[1]), fit_centre))
        else:
            raise ValueError(f"member {name!r} cannot be refitted on the gateway (expected maha, "
                             "maha-envelope, or kmeans with one centre)")
    if not out:
        raise ValueError("no members (expected a fused bundle of maha and maha-envelope)")
    return out


def contiguous_folds(n: int, k: int = FOLDS) -> list[np.ndarray]:
    """k folds of n windows in time order, each a contiguous block (indices), sizes differing by at most one."""
    edges = np.linspace(0, n, k + 1).round().astype(int)
    return [np.arange(a, b) for a, b in pairwise(edges.tolist()) if b > a]


def out_of_fold(x: np.ndarray, members: list[Member], k: int = FOLDS) -> dict[str, np.ndarray]:
    """Each member's out-of-fold scores (n,) float64 of standardized windows x (n, dim) in time order."""
    if x.shape[0] < max(MIN_WINDOWS, 2 * k):
        raise ValueError(f"{x.shape[0]} learned windows (expected at least {max(MIN_WINDOWS, 2 * k)})")
    scores = {m.name: np.empty(x.shape[0]) for m in members}
    for held in contiguous_folds(x.shape[0], k):
        fit = np.ones(x.shape[0], bool)
        fit[held] = False
        for m in members:
            scores[m.name][held] = project(x[held], m.fit(x[fit]))
    return scores
