"""The envelope member (maha on the first cepstral coefficients of the log-mel bands): it hears a change of
the spectrum's shape and not the fine detail across neighbouring bands that full-resolution maha hears."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.io.wav import load_mono
from edge.learn.refit import dct_basis, envelope_projection, fit_mahalanobis, project

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "dcase2020-slider-id00-train"
N_MELS, K = 128, 24


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-mel band means and stds (n, 256) of 4 real slider clips, in dB, and their mean and std."""
    spec = load_bundle(ROOT / "edge" / "data" / "bundles" / "slider").spec
    x = np.concatenate([spec.compute(load_mono(p, sr=spec.sr)) for p in sorted(TRAIN.glob("*.wav"))[:4]])
    x = x[:, : 2 * N_MELS].astype(np.float64)
    return x, x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)


def test_basis_is_the_orthonormal_dct() -> None:
    import scipy.fft

    x = np.random.default_rng(0).normal(size=(5, N_MELS))
    np.testing.assert_allclose(x @ dct_basis(N_MELS, K), scipy.fft.dct(x, norm="ortho", axis=1)[:, :K], atol=1e-12)


def test_envelope_ignores_a_ripple_across_bands_that_full_maha_hears(rows: tuple) -> None:
    x, mean, std = rows
    z = (x - mean) / std
    env = envelope_projection(z, None, std, K)
    full = fit_mahalanobis(z, blocks=True)
    normal = (project(z, env).mean(), project(z, full).mean())
    bands = np.arange(N_MELS)
    ripple = 1.5 * np.where(bands % 2 == 0, 1.0, -1.0)  # +-1.5 dB on alternate bands: the finest detail
    bump = 6.0 * np.exp(-0.5 * ((bands - 40) / 8.0) ** 2)  # 6 dB more around band 40: a change of shape
    ratios = {}
    for name, shift in (("ripple", ripple), ("bump", bump)):
        moved = (x + np.r_[shift, np.zeros(N_MELS)] - mean) / std
        ratios[name] = (project(moved, env).mean() / normal[0], project(moved, full).mean() / normal[1])
    assert ratios["ripple"][0] < 1.05 and ratios["ripple"][1] > 2.0, ratios
    assert ratios["bump"][0] > 1.5 and ratios["bump"][1] > 1.5, ratios


def test_the_projection_is_maha_on_the_cepstrum_of_the_db_bands(rows: tuple) -> None:
    """Against an independent computation: scipy's DCT of the dB values, sklearn's Ledoit-Wolf on the
    coefficients scaled to unit std, one Mahalanobis distance per block at unit RMS, summed in squares."""
    import scipy.fft
    from sklearn.covariance import LedoitWolf

    x, mean, std = rows
    projection = envelope_projection((x - mean) / std, None, std, K)
    held = x[::7] + np.random.default_rng(1).normal(0.0, 1.0, size=x[::7].shape)  # rows it was not fitted on
    blocks = []
    for part in (slice(0, N_MELS), slice(N_MELS, 2 * N_MELS)):
        cep = scipy.fft.dct(x[:, part], norm="ortho", axis=1)[:, :K]
        scale = cep.std(axis=0)
        lw = LedoitWolf().fit(cep / scale)
        inv = np.linalg.inv(lw.covariance_)

        def dist(r: np.ndarray, part: slice = part, scale: np.ndarray = scale, lw: LedoitWolf = lw,
                 inv: np.ndarray = inv) -> np.ndarray:
            d = scipy.fft.dct(r[:, part], norm="ortho", axis=1)[:, :K] / scale - lw.location_
            return np.sqrt(np.einsum("ij,jk,ik->i", d, inv, d))

        blocks.append(dist(held) / np.sqrt(np.mean(dist(x) ** 2)))
    expected = np.sqrt(blocks[0] ** 2 + blocks[1] ** 2)
    np.testing.assert_allclose(project((held - mean) / std, projection), expected, rtol=1e-6)
