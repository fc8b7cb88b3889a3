"""vigil's vectorized features against librosa (the write-up's library) on real clips.

Tolerances, per feature, over every window of one clip per machine type:
  MFCC means: |diff| <= 2e-3 (dB-scaled cepstra of magnitude ~1e2);
  spectral centroid: relative 1e-4; spectral contrast: |diff| <= 5e-3 dB; ZCR: exact to 1e-6;
  spectral rolloff: |diff| <= 2 FFT bins / frames per window (float32 cumulative sums can cross
  the 85 % point one bin apart in a frame): 2 * 7.8125 Hz / 32 = 0.49 Hz;
  log-mel vectors: |diff| <= 5e-3 dB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from tests.librosa_reference import logmel_vectors_librosa, seed_windows_librosa

TYPES = ("fan", "pump", "slider", "valve", "toycar", "toyconveyor")


@pytest.mark.parametrize("machine", TYPES)
def test_seed_windows_match_librosa(machine: str, clip_per_type: dict[str, Path]) -> None:
    y = load_mono(clip_per_type[machine], sr=16000)
    ours = FeatureSpec.default("seed").compute(y)
    ref = seed_windows_librosa(y, 16000)
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (1 + (y.size - 16000) // 8000, 17)
    np.testing.assert_allclose(ours[:, :13], ref[:, :13], rtol=0, atol=2e-3)
    np.testing.assert_allclose(ours[:, 13], ref[:, 13], rtol=1e-4)
    assert np.max(np.abs(ours[:, 14] - ref[:, 14])) <= 2 * 16000 / 2048 / 32
    np.testing.assert_allclose(ours[:, 15], ref[:, 15], rtol=0, atol=5e-3)
    np.testing.assert_allclose(ours[:, 16], ref[:, 16], rtol=0, atol=1e-6)


@pytest.mark.parametrize("machine", TYPES)
def test_logmel_vectors_match_librosa(machine: str, clip_per_type: dict[str, Path]) -> None:
    y = load_mono(clip_per_type[machine], sr=16000)
    ours = FeatureSpec.default("logmel").compute(y)
    ref = logmel_vectors_librosa(y, 16000)
    assert ours.dtype == np.float32 and ours.shape == ref.shape and ours.shape[1] == 640
    np.testing.assert_allclose(ours, ref, rtol=0, atol=5e-3)


@pytest.mark.parametrize("set_name", ["seed", "logmel"])
def test_block_computes_exactly_its_complete_windows(set_name: str, clip_per_type: dict[str, Path]) -> None:
    """Features of a block are those of each window computed alone: windows are independent."""
    spec = FeatureSpec.default(set_name)
    y = load_mono(clip_per_type["pump"], sr=16000)[: spec.window_samples + 3 * spec.hop_samples + 17]
    block = spec.compute(y)
    assert block.shape[0] == spec.n_windows(y.size) == 4
    for k in range(4):
        alone = spec.compute(y[k * spec.hop_samples : k * spec.hop_samples + spec.window_samples])
        np.testing.assert_allclose(block[k], alone[0], rtol=1e-5, atol=1e-4)


def test_shorter_than_a_window_gives_no_rows() -> None:
    for set_name in ("seed", "logmel"):
        spec = FeatureSpec.default(set_name)
        out = spec.compute(np.zeros(spec.window_samples - 1, dtype=np.float32))
        assert out.shape == (0, spec.dim)
