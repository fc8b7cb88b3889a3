"""Where to listen: the parts of a machine-sound window that are most unlike the normal clips.

An event's peak window is compared, feature by feature, with the bundle's normal statistics (the
``normalization`` mean and std every audio bundle carries, computed on its normal clips): z = (x - mean) / std.
The squared deviations are summed per mel band (log-mel sets: the band's mean level, its fluctuation, every
frame) or per named feature (the write-up's 17-feature set); the runs of neighbouring bands (or the features)
with the largest sums are named with their share of the whole. This says which bands moved, for any
detector; it is not the detector's own attribution (a Mahalanobis model also weighs how bands move
together), and it assumes the bundle was fitted on this machine: against another machine's statistics the
bands where the two machines differ come first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.features import audio
from edge.features.spec import FeatureSpec

TOP = 3  # parts named per event
REGIONS = 16  # mel bands are named in this many runs of neighbours: a range one can listen for, not one band


def band_edges_hz(spec: FeatureSpec) -> np.ndarray:
    """(n_mels + 2,) Hz: band b spans edges[b] .. edges[b + 2] (the triangular filters of ``mel_filterbank``)."""
    mel = np.linspace(audio._hz_to_mel(0.0), audio._hz_to_mel(spec.sr / 2.0), spec.n_mels + 2)
    return np.asarray(audio._mel_to_hz(mel), dtype=np.float64)


def part_of_feature(spec: FeatureSpec) -> np.ndarray:
    """(dim,) int: the part each feature of a row belongs to: its mel band, or its index into SEED_NAMES."""
    width = len(audio.SEED_NAMES) if spec.set == "seed" else spec.n_mels
    if spec.set == "logmel-stats-seed":  # band means and stds, then the 17 features (parts n_mels .. n_mels + 16)
        return np.r_[np.arange(2 * spec.n_mels) % width, spec.n_mels + np.arange(len(audio.SEED_NAMES))]
    return np.arange(spec.dim) % width  # every layout repeats the parts: stats, frames, sequence


def bands_per_region(spec: FeatureSpec) -> int:
    return max(1, -(-spec.n_mels // REGIONS))


class Explainer:
    """Callable on one feature row (dim,) float: the TOP parts most unlike normal, JSON-ready."""

    def __init__(self, spec: FeatureSpec, mean: np.ndarray, std: np.ndarray) -> None:
        self.spec = spec
        self.mean, self.inv_std = mean.astype(np.float64), 1.0 / np.maximum(std.astype(np.float64), 1e-12)
        self.parts = part_of_feature(spec)
        self.edges = band_edges_hz(spec) if spec.set != "seed" else None

    def __call__(self, row: np.ndarray) -> list[dict[str, Any]]:
        z2 = np.square((np.asarray(row, np.float64) - self.mean) * self.inv_std)
        # logmel-stats-seed's 17 features are not bands: its explanation names the log-mel bands only
        per_part = np.bincount(self.parts, weights=z2)[: self.spec.n_mels if self.edges is not None else None]
        total = float(per_part.sum())
        if not total > 0:
            return []
        if self.edges is None:
            return [{"feature": audio.SEED_NAMES[p], "share": round(float(per_part[p]) / total, 3)}
                    for p in np.argsort(per_part)[::-1][:TOP]]
        return self._ranges(per_part, total)

    def _ranges(self, per_band: np.ndarray, total: float) -> list[dict[str, Any]]:
        """The TOP runs of `width` neighbouring bands with the largest sums, greedily, without overlap: a
        run is centred on what moved, so a tone between two fixed regions is not split in halves."""
        assert self.edges is not None
        width = min(bands_per_region(self.spec), per_band.size)
        left = per_band.copy()
        out = []
        for _ in range(TOP):
            sums = np.convolve(left, np.ones(width), mode="valid")  # sums[i]: bands i .. i + width - 1
            first = int(np.argmax(sums))
            if not sums[first] > 0:
                break
            last = first + width - 1
            out.append({"bands": [first, last], "from_hz": round(float(self.edges[first])),
                        "to_hz": round(float(self.edges[last + 2])), "share": round(float(sums[first]) / total, 3)})
            left[first:last + 1] = 0.0
        return out
