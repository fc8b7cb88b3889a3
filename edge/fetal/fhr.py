"""Beat-interval tracking: fetal peaks -> an FHR series, implausible intervals rejected.

An interval is kept when it is physiologically possible (50-240 bpm) and within `max_jump` of the
median of the last accepted intervals: a missed beat (double interval) or a false one (split
interval) then yields no FHR point instead of a spike. A real, sudden change of rate (a tachycardia
at 0.7x the RR) makes intervals that disagree with the history but agree with each other: after
`confirm` of them in a row they are all accepted (their points come `confirm - 1` beats late) and
become the history, unless they are twice or half the history's interval (beats missed or doubled
in a row, which only `relock` accepts). After `relock` rejections in a row the history is dropped as well.
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

    def __init__(self, fs: float, *, history: int = 8, max_jump: float = 0.2, relock: int = 6,
                 confirm: int = 3) -> None:
        self.fs = float(fs)
        self.max_jump = max_jump
        self.relock = relock
        self.confirm = confirm
        self._rr: deque[float] = deque(maxlen=history)
        self._pending: list[tuple[int, float]] = []  # (beat, rr) rejected but agreeing with each other
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
                    self._pending.clear()
                    out.append(self._accept(p, rr))
                else:
                    self.rejected += 1
                    self._rejected += 1
                    out += self._new_rate(p, rr)
                    if self._rejected >= self.relock:
                        self._rr.clear()
            self._last = p
        return out

    def _accept(self, p: int, rr: float) -> FhrPoint:
        self._rr.append(rr)
        self._rejected = 0
        self.accepted += 1
        return FhrPoint(round(p / self.fs, 4), round(60.0 / rr, 2))

    def _new_rate(self, p: int, rr: float) -> list[FhrPoint]:
        """A rejected interval: pend it; `confirm` pending intervals that agree are accepted as the new rate."""
        if not MIN_RR_S <= rr <= MAX_RR_S:
            self._pending.clear()
            return []
        if self._pending:
            ref = float(np.median([r for _, r in self._pending]))
            if abs(rr - ref) > self.max_jump * ref:
                self._pending.clear()
        self._pending.append((p, rr))
        if len(self._pending) < self.confirm:
            return []
        if len(self._rr) >= 3:  # twice or half the rate: beats missed or doubled in a row, not a new rate
            ratio = float(np.median([r for _, r in self._pending])) / float(np.median(np.asarray(self._rr)))
            if abs(ratio - 2.0) <= 0.25 or abs(ratio - 0.5) <= 0.06:
                return []
        self._rr.clear()
        self.rejected -= len(self._pending)
        out = [self._accept(q, r) for q, r in self._pending]
        self._pending.clear()
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
