"""Frames in any order -> contiguous runs of samples with lost frames as missing samples in place.

The device's 32-bit sample counter is unwrapped against the next expected index, so a wrap is
seamless. Duplicates and frames that come later than the reorder window are dropped (counted).
Frames ahead of the next expected index wait up to `window` frames for the ones in between; then
the hole is declared lost and emitted as missing samples of exactly its length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.codec import Frame
from firmware_bridge.protocol import COUNTER_MODULUS

HALF = COUNTER_MODULUS // 2


@dataclass(frozen=True)
class Run:
    """Samples [start, start + n) of the stream: int32 (n, channels) and missing (n,) bool."""

    start: int
    samples: np.ndarray
    missing: np.ndarray


@dataclass
class ReassemblyStats:
    frames: int = 0
    duplicates: int = 0
    late: int = 0
    lost_samples: int = 0
    emitted_samples: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Reassembler:
    """Orders frames of one stream by sample counter. `push` returns the runs that became final."""

    def __init__(self, channels: int, *, window: int = 8) -> None:
        self.channels = channels
        self.window = window
        self.next: int | None = None  # absolute index of the next sample to emit
        self.pending: dict[int, Frame] = {}
        self.stats = ReassemblyStats()
        self._lost: deque[tuple[int, int]] = deque(maxlen=64)  # recent holes declared lost
        self._anchor: int | None = None

    def absolute(self, counter: int) -> int:
        """The unwrapped index congruent to counter (mod 2**32) nearest to the next expected one
        (before the first emission: nearest to the first frame seen)."""
        ref = self.next if self.next is not None else self._anchor
        if ref is None:
            return counter
        return ref + ((counter - ref + HALF) % COUNTER_MODULUS) - HALF

    def push(self, frame: Frame) -> list[Run]:
        self.stats.frames += 1
        start = self.absolute(frame.counter)
        if self.next is None:  # the stream's first frames may arrive out of order too: wait for the window
            if self._anchor is None:
                self._anchor = start
            if start in self.pending:
                self.stats.duplicates += 1
                return []
            self.pending[start] = frame
            if len(self.pending) <= self.window:
                return []
            self.next = min(self.pending)
            return self._drain(force=False)
        end = start + frame.sets
        if start in self.pending:
            self.stats.duplicates += 1
            return []
        if end <= self.next:  # already emitted (a duplicate) or declared lost (came too late)
            late = any(a <= start and end <= b for a, b in self._lost)
            self.stats.late += late
            self.stats.duplicates += not late
            return []
        if start < self.next:  # overlaps what was emitted: keep only the new tail
            frame = Frame(frame.counter, frame.fmt, frame.samples[self.next - start :])
            start = self.next
        self.pending[start] = frame
        return self._drain(force=False)

    def _drain(self, force: bool) -> list[Run]:
        runs: list[Run] = []
        assert self.next is not None
        while self.pending:
            first = min(self.pending)
            if first > self.next:
                if not force and len(self.pending) <= self.window:
                    break
                gap = first - self.next  # the frames in between are lost
                runs.append(Run(self.next, np.zeros((gap, self.channels), np.int32), np.ones(gap, bool)))
                self._lost.append((self.next, first))
                self.stats.lost_samples += gap
                self.next = first
            frame = self.pending.pop(first)
            runs.append(Run(first, frame.samples, np.zeros(frame.sets, bool)))
            self.stats.emitted_samples += frame.sets
            self.next = first + frame.sets
        return runs

    def flush(self) -> list[Run]:
        """Emit everything held (end of stream or a disconnect), declaring holes lost."""
        if self.next is None and self.pending:
            self.next = min(self.pending)
        return self._drain(force=True) if self.next is not None else []
