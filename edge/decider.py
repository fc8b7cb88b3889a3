"""Deciders: window scores in, anomaly events out (threshold with debounce).

Scoring is kept apart from deciding (as river and pyod do): the detector says how unusual each
window is; the decider says when that becomes an event worth reporting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Event:
    """An anomaly: windows [start_s, end_s) of the stream, in seconds from the stream's start."""

    start_s: float
    end_s: float
    peak_score: float
    threshold: float
    windows: int


class Decider:
    """Opens an event after ``on_windows`` consecutive windows over the threshold and closes it
    after ``off_windows`` consecutive windows at or under it."""

    def __init__(self, threshold: float, *, on_windows: int = 3, off_windows: int = 3) -> None:
        if on_windows < 1 or off_windows < 1:
            raise ValueError(f"on_windows and off_windows must be >= 1, got {on_windows}, {off_windows}")
        self.threshold = threshold
        self.on_windows = on_windows
        self.off_windows = off_windows
        self._run_over = 0
        self._run_under = 0
        self._open: tuple[float, float, int] | None = None  # start_s, peak, windows
        self._candidate_start = 0.0
        self._candidate_peak = -np.inf
        self._last_over_end = 0.0

    def update(self, scores: np.ndarray, starts_s: np.ndarray, window_s: float) -> list[Event]:
        """Feed window scores (n,) with their start times (n,) in s; returns the events that closed.

        The loop runs once per window (at most a few dozen per second), not per sample.
        """
        closed = []
        for score, start in zip(scores.tolist(), starts_s.tolist(), strict=True):
            over = score > self.threshold
            if self._open is None:
                if over:
                    if self._run_over == 0:
                        self._candidate_start, self._candidate_peak = start, score
                    self._run_over += 1
                    self._candidate_peak = max(self._candidate_peak, score)
                    self._last_over_end = start + window_s
                    if self._run_over >= self.on_windows:
                        self._open = (self._candidate_start, self._candidate_peak, self._run_over)
                        self._run_under = 0
                else:
                    self._run_over = 0
                continue
            ev_start, peak, windows = self._open
            if over:
                self._open = (ev_start, max(peak, score), windows + 1)
                self._last_over_end = start + window_s
                self._run_under = 0
            else:
                self._run_under += 1
                if self._run_under >= self.off_windows:
                    closed.append(self._close())
        return closed

    def _close(self) -> Event:
        assert self._open is not None
        ev_start, peak, windows = self._open
        self._open, self._run_over, self._run_under = None, 0, 0
        return Event(ev_start, self._last_over_end, float(peak), self.threshold, windows)

    def flush(self) -> list[Event]:
        """Close an event still open at the end of a stream."""
        return [self._close()] if self._open is not None else []
