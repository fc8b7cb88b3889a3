"""The acoustic write-up's feature code, as it computes features: librosa, one window at a time.

Kept only as the reference for parity tests and the speed benchmark (librosa is a dev extra,
never a gateway dependency). Shapes as in ``edge.features.audio``.
"""

from __future__ import annotations

import sys

import librosa
import numpy as np


def seed_windows_librosa(y: np.ndarray, sr: int, window_s: float = 1.0, hop_s: float = 0.5) -> np.ndarray:
    """Per 1.0 s window (0.5 s hop): 13 MFCC means, centroid, rolloff, contrast mean, ZCR -> (n_windows, 17)."""
    win, hop = round(window_s * sr), round(hop_s * sr)
    rows = []
    for start in range(0, len(y) - win + 1, hop):
        w = y[start : start + win]
        mfcc = librosa.feature.mfcc(y=w, sr=sr, n_mfcc=13).mean(axis=1)
        centroid = librosa.feature.spectral_centroid(y=w, sr=sr).mean()
        rolloff = librosa.feature.spectral_rolloff(y=w, sr=sr).mean()
        contrast = librosa.feature.spectral_contrast(y=w, sr=sr).mean()
        zcr = librosa.feature.zero_crossing_rate(w).mean()
        rows.append(np.concatenate([mfcc, [centroid, rolloff, contrast, zcr]]))
    return np.asarray(rows, dtype=np.float32).reshape(-1, 17)


def logmel_vectors_librosa(
    y: np.ndarray, sr: int, n_fft: int = 1024, hop_length: int = 512, n_mels: int = 128, frames: int = 5
) -> np.ndarray:
    """DCASE 2020 baseline ``file_to_vector_array`` with ``center=False`` -> (n_vectors, 640)."""
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0, center=False
    )
    log_mel = 10.0 * np.log10(mel + sys.float_info.epsilon)
    n_vectors = log_mel.shape[1] - frames + 1
    out = np.zeros((max(n_vectors, 0), n_mels * frames), dtype=np.float32)
    for t in range(frames):
        out[:, n_mels * t : n_mels * (t + 1)] = log_mel[:, t : t + n_vectors].T
    return out
