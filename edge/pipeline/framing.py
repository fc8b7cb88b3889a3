"""Framings: how a stream cuts its samples into scored rows and what a score stands for.

A Framing turns a contiguous span of samples (with its missing mask) holding n complete windows
into n feature rows and their missing mask. Audio rows are feature vectors (a row touching a
missing sample is marked missing as a whole); point-series rows (fetal ECG, KPI) are windows of
block-mean points with a per-point mask, which Donut imputes. Each modality (edge.modalities)
chooses its framing.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edge.features.audio import frames
from edge.features.ecg import EcgSpec, block_means
from edge.features.spec import FeatureSpec, features_of_sequences


class Framing:
    """rate in Hz; window and hop in samples (of the base windows); dtype of the ring buffer.

    A score stands for samples [row start + score_offset, + score_span): for audio the whole
    window, for a point series the window's last point.
    """

    rate: float
    window: int
    hop: int
    dtype: type = np.float32
    score_offset: int = 0
    score_span: int

    def rows(self, span: np.ndarray, gaps: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
        """span (m,) and gaps (m,) holding the windows that start at starts (n,) ->
        features (k, dim), missing (k, dim or 1) bool, starts (k,) of the rows now complete."""
        raise NotImplementedError

    def restart(self) -> None:
        """Forget what was kept across calls (after a hole longer than the ring buffer)."""


class AudioFraming(Framing):
    """Feature vectors of an audio FeatureSpec. With sequence > 1 (the LSTM's input), the per-window
    features of the last sequence - 1 windows are kept, not recomputed for every new row."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.base = replace(spec, sequence=1)
        self.rate, self.window, self.hop = spec.sr, self.base.window_samples, self.base.hop_samples
        self.score_span = spec.window_samples
        self.restart()

    def restart(self) -> None:
        self._history = np.empty((0, self.base.dim), dtype=np.float32)
        self._history_missing = np.empty((0, 1), dtype=bool)
        self._history_starts = np.empty(0, dtype=np.int64)

    def rows(self, span: np.ndarray, gaps: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
        features = self.base.compute(span)
        gap_cum = np.concatenate([[0], np.cumsum(gaps)])
        offsets = starts - starts[0]
        missing = (gap_cum[offsets + self.window] != gap_cum[offsets])[:, None]
        seq = self.spec.sequence
        if seq == 1:
            return features, missing, starts
        features = np.concatenate([self._history, features])
        missing = np.concatenate([self._history_missing, missing])
        starts = np.concatenate([self._history_starts, starts])
        keep = max(0, features.shape[0] - (seq - 1))
        self._history, self._history_missing = features[keep:], missing[keep:]
        self._history_starts = starts[keep:]
        n = max(0, features.shape[0] - seq + 1)
        rows_missing = np.asarray(frames(missing[:, 0], seq, 1).any(axis=-1))[:, None] if n else missing[:0]
        return features_of_sequences(features, seq), rows_missing, starts[:n]


class SeriesFraming(Framing):
    """Windows of `window` block-mean points (fetal ECG, KPI) in the recording's unit, float64 like
    the recordings, so live and whole-file scores agree; a point is missing if any of its samples is."""

    dtype = np.float64

    def __init__(self, spec: EcgSpec) -> None:
        self.spec = spec
        self.rate, self.hop = spec.fs, spec.block
        self.window = spec.block * spec.window
        self.score_offset, self.score_span = (spec.window - 1) * spec.block, spec.block

    def rows(self, span: np.ndarray, gaps: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
        points, missing = block_means(span, gaps, self.spec.block)
        view = np.lib.stride_tricks.sliding_window_view
        return view(points, self.spec.window), view(missing, self.spec.window), starts


def framing_for(spec: FeatureSpec | EcgSpec) -> Framing:
    """The framing the modality of this spec chooses (edge.modalities)."""
    from edge.modalities.base import framing_of  # its modules import the framings above

    return framing_of(spec)
