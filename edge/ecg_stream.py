"""A live fetal-ECG stream: samples in, Donut point scores and events out.

Samples of the bundle's channel arrive in blocks (with a missing mask, possibly after a gap);
every `block` samples become one point (missing if any sample is); each new point ends a window
of `window` points, which the Donut scorer scores; the decider turns point scores into events.
Scores equal those of the same recording scored at once (the scorer's noise is per window index).
"""

from __future__ import annotations

import numpy as np

from edge.bundle import Bundle
from edge.decider import Decider, Event
from edge.donut import DonutScorer
from edge.features.ecg import block_means, standardize
from edge.stream import StreamOutput


def _windows(x: np.ndarray, w: int) -> np.ndarray:
    """The (n, w) windows of x (n = len(x) - w + 1). Live, n is one or two: plain slices then, since
    sliding_window_view's Python overhead was a fifth of the live ECG stream's own CPU."""
    n = x.shape[0] - w + 1
    if n <= 4:
        return np.stack([x[i : i + w] for i in range(n)])
    return np.lib.stride_tricks.sliding_window_view(x, w)


class EcgStream:
    def __init__(self, bundle: Bundle, scorer: DonutScorer, decider: Decider) -> None:
        self.spec = bundle.ecg_spec
        norm = bundle.manifest["normalization"]
        self.mean, self.std = float(norm["mean"]), float(norm["std"])
        self.scorer = scorer
        self.decider = decider
        self.next_sample = 0  # absolute index of the next sample expected
        self._partial = np.empty(0)  # samples of the current, incomplete point
        self._partial_missing = np.empty(0, dtype=bool)
        self._points = np.empty(0, dtype=np.float32)  # the last window - 1 standardized points
        self._points_missing = np.empty(0, dtype=bool)
        self.points = 0  # points made so far (index of the next point)
        self.windows = 0

    def push(self, start: int, samples: np.ndarray, missing: np.ndarray | None = None) -> StreamOutput:
        """samples (n,) of the channel in the bundle's unit, from absolute sample index `start`."""
        missing = np.zeros(samples.shape[0], dtype=bool) if missing is None else missing
        if start > self.next_sample:  # a hole the source did not fill: those samples are missing
            gap = start - self.next_sample
            samples = np.concatenate([np.zeros(gap), samples])
            missing = np.concatenate([np.ones(gap, dtype=bool), missing])
        elif start < self.next_sample:  # overlap with what was already taken
            samples, missing = samples[self.next_sample - start :], missing[self.next_sample - start :]
        self.next_sample += samples.shape[0]
        values = np.concatenate([self._partial, samples])
        gaps = np.concatenate([self._partial_missing, missing])
        points, point_missing = block_means(values, gaps, self.spec.block)
        used = points.shape[0] * self.spec.block
        self._partial, self._partial_missing = values[used:], gaps[used:]
        first_point = self.points
        self.points += points.shape[0]
        x = np.concatenate([self._points, standardize(points, self.mean, self.std, point_missing)])
        m = np.concatenate([self._points_missing, point_missing])
        w = self.spec.window
        keep = max(0, x.shape[0] - (w - 1))
        self._points, self._points_missing = x[keep:], m[keep:]
        if x.shape[0] < w:
            return StreamOutput(np.empty(0, np.float32), np.empty(0, np.int64))
        windows, window_gaps = _windows(x, w), _windows(m, w)
        last_points = first_point + points.shape[0] - windows.shape[0] + np.arange(windows.shape[0])
        scores = self.scorer.score(windows, window_gaps, first=int(last_points[0]) - (w - 1))
        self.windows += scores.shape[0]
        starts = last_points * self.spec.block  # in samples: the point the score belongs to
        events = self.decider.update(scores, starts / self.spec.fs, self.spec.point_seconds)
        return StreamOutput(scores, starts, events)

    def finish(self) -> list[Event]:
        return self.decider.flush()
