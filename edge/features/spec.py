"""Feature specifications: every parameter of a feature set, stored in each model bundle.

A spec tells a stream how many samples make one window (``window_samples``), how far windows
step (``hop_samples``) and how to compute them (``compute``), so live streams, file replay and
training all cut and compute windows the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from edge.errors import BundleError
from edge.features import audio

FEATURE_SETS = ("seed", "logmel", "logmel-stats", "logmel-mean", "logmel-stats-seed")
SEED_N_FFT = 2048  # the write-up's STFT size for its 17 features


def features_of_sequences(per_window: np.ndarray, sequence: int) -> np.ndarray:
    """Rows of `sequence` consecutive windows, concatenated: (n, d) -> (n - sequence + 1, sequence * d)."""
    n, d = per_window.shape[0] - sequence + 1, per_window.shape[1]
    if n <= 0:
        return np.empty((0, sequence * d), dtype=np.float32)
    stacked = audio.frames(per_window.T, sequence, 1)  # (d, n, sequence)
    return np.ascontiguousarray(stacked.transpose(1, 2, 0).reshape(n, sequence * d))


_STATS_SETS = ("logmel-stats", "logmel-mean", "logmel-stats-seed")


@dataclass(frozen=True)
class FeatureSpec:
    """One feature set and its parameters. Sample rate in Hz, lengths in samples unless named _s."""

    set: str
    sr: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    frames: int = 5  # logmel: frames stacked per vector; logmel-stats: frames per window
    hop_frames: int = 1  # logmel-stats: frames between window starts
    window_s: float = 1.0  # seed: window length and hop in seconds
    hop_s: float = 0.5
    n_mfcc: int = 13
    sequence: int = 1  # vectors of this many consecutive windows, concatenated (the LSTM's input)

    @classmethod
    def default(cls, set_name: str, sr: int = 16000, sequence: int = 1) -> FeatureSpec:
        """The write-up's window set ("seed") or the DCASE 2020 baseline frames ("logmel")."""
        if set_name == "seed":
            return cls(set="seed", sr=sr, n_fft=2048, hop_length=512, sequence=sequence)
        if set_name == "logmel":
            return cls(set="logmel", sr=sr, sequence=sequence)
        if set_name in ("logmel-stats", "logmel-mean", "logmel-stats-seed"):  # ~1 s windows every ~0.5 s at 16 kHz
            return cls(set=set_name, sr=sr, frames=32, hop_frames=16, sequence=sequence)
        raise ValueError(f"unknown feature set {set_name!r} (expected one of {', '.join(FEATURE_SETS)})")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown or data.get("set") not in FEATURE_SETS:
            raise BundleError(f"feature spec {data!r}: expected set in {FEATURE_SETS} and keys among {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def base_window_samples(self) -> int:
        """Samples one window of the set depends on (before stacking a sequence)."""
        if self.set == "seed":
            return round(self.window_s * self.sr)
        return self.n_fft + (self.frames - 1) * self.hop_length

    @property
    def window_samples(self) -> int:
        """Samples one feature vector (a sequence of windows) depends on."""
        return self.base_window_samples + (self.sequence - 1) * self.hop_samples

    @property
    def hop_samples(self) -> int:
        """Samples between the starts of consecutive vectors."""
        if self.set == "seed":
            return round(self.hop_s * self.sr)
        return self.hop_length * (self.hop_frames if self.set in _STATS_SETS else 1)

    @property
    def dim(self) -> int:
        """Values per feature vector: per window (17 or n_mels * frames) times sequence."""
        if self.set == "logmel-stats":
            return self.sequence * 2 * self.n_mels
        if self.set == "logmel-stats-seed":
            return self.sequence * (2 * self.n_mels + len(audio.SEED_NAMES))
        if self.set == "logmel-mean":
            return self.sequence * self.n_mels
        return self.sequence * (len(audio.SEED_NAMES) if self.set == "seed" else self.n_mels * self.frames)

    def n_windows(self, n_samples: int) -> int:
        """Complete windows in a block of n_samples."""
        return 0 if n_samples < self.window_samples else 1 + (n_samples - self.window_samples) // self.hop_samples

    def compute(self, y: np.ndarray) -> np.ndarray:
        """Features of every complete window of mono float32 y (n,): float32 (n_windows(n), dim).

        With sequence > 1, row i holds windows i .. i + sequence - 1 of the set, concatenated.
        """
        per_window = self._compute_windows(y)
        return per_window if self.sequence == 1 else features_of_sequences(per_window, self.sequence)

    def _compute_windows(self, y: np.ndarray) -> np.ndarray:
        if self.set == "seed":
            return audio.seed_windows(
                y, sr=self.sr, window_s=self.window_s, hop_s=self.hop_s, n_fft=self.n_fft,
                hop_length=self.hop_length, n_mfcc=self.n_mfcc, n_mels=self.n_mels,
            )
        if self.set == "logmel-stats-seed":  # the write-up's 17 features on the log-mel windows' own samples
            seed = audio.seed_windows(y, sr=self.sr, window_s=self.base_window_samples / self.sr,
                                      hop_s=self.hop_samples / self.sr, n_fft=SEED_N_FFT, hop_length=self.hop_length,
                                      n_mfcc=self.n_mfcc, n_mels=self.n_mels)
            stats = audio.logmel_stats(y, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
                                       frames_per_window=self.frames, hop_frames=self.hop_frames, with_std=True)
            return np.concatenate([stats, seed], axis=1)
        if self.set in ("logmel-stats", "logmel-mean"):
            return audio.logmel_stats(y, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
                                      frames_per_window=self.frames, hop_frames=self.hop_frames,
                                      with_std=self.set == "logmel-stats")
        return audio.logmel_vectors(
            y, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
            frames_per_vector=self.frames,
        )
