"""Beat-interval tracking: fetal peaks -> an FHR series, implausible intervals rejected.

An interval is kept when it is physiologically possible (50-240 bpm) and within `max_jump` of the
median of the last accepted intervals: a missed beat (double interval) or a false one (split
interval) then yields no FHR point instead of a spike. After `relock` rejections in a row the
history is dropped, so a real, sudden change of rate is followed after a few beats.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

MIN_RR_S, MAX_RR_S = 60.0 / 240.0, 60.0 / 50.0


@dataclass(frozen=True)
class FhrPoint:
    t: float  # s from the recording's start: the beat that ends the interval
    bpm: float


class FhrTracker:
    """Push fetal peaks (absolute sample indices, increasing) -> FHR points, one per accepted interval."""

    def __init__(self, fs: float, *, history: int = 8, max_jump: float = 0.2, relock: int = 6) -> None:
        self.fs = float(fs)
        self.max_jump = max_jump
        self.relock = relock
        self._rr: deque[float] = deque(maxlen=history)
        self._last: int | None = None
        self._rejected = 0
        self.accepted = 0
        self.rejected = 0

    def push(self, peaks: np.ndarray) -> list[FhrPoint]:
        out = []
        for p in np.asarray(peaks, dtype=np.int64).tolist():
            if self._last is not None:
                rr = (p - self._last) / self.fs
                if self._plausible(rr):
                    self._rr.append(rr)
                    self._rejected = 0
                    self.accepted += 1
                    out.append(FhrPoint(round(p / self.fs, 4), round(60.0 / rr, 2)))
                else:
                    self.rejected += 1
                    self._rejected += 1
                    if self._rejected >= self.relock:
                        self._rr.clear()
            self._last = p
        return out

    def _plausible(self, rr: float) -> bool:
        if not MIN_RR_S <= rr <= MAX_RR_S:
            return False
        if len(self._rr) < 3:
            return True
        ref = float(np.median(np.asarray(self._rr)))
        return abs(rr - ref) <= self.max_jump * ref


def fhr_series(peaks: np.ndarray, fs: float) -> list[FhrPoint]:
    """All FHR points of a whole peak list."""
    return FhrTracker(fs).push(peaks)
