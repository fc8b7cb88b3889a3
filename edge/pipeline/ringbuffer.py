"""A preallocated ring buffer per stream, mirrored so that every window is a contiguous view.

Each sample is written twice, at ``i`` and ``i + capacity``: any span of up to ``capacity`` recent
samples is then one contiguous slice, which the feature code frames with stride tricks and no copy.
Writing never allocates; a missing-sample mask travels with the samples (lost BLE frames, audio
overflows) so that gaps stay at their exact place.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Fixed-capacity buffer (capacity, channels), float32 unless ``dtype`` says otherwise, indexed by
    absolute sample number."""

    def __init__(self, capacity: int, channels: int = 1, *, dtype: type = np.float32) -> None:
        if capacity <= 0 or channels <= 0:
            raise ValueError(f"capacity and channels must be positive, got {capacity}, {channels}")
        self.capacity = capacity
        self.channels = channels
        self._data: np.ndarray = np.zeros((2 * capacity, channels), dtype=dtype)
        self._missing = np.zeros(2 * capacity, dtype=bool)
        self.end = 0  # absolute index one past the newest sample

    @property
    def start(self) -> int:
        """Absolute index of the oldest sample still held."""
        return max(0, self.end - self.capacity)

    def write(self, samples: np.ndarray, missing: np.ndarray | None = None) -> None:
        """Append samples (n, channels) or (n,) float32, with an optional bool missing mask (n,)."""
        samples = samples.reshape(samples.shape[0], -1 if samples.size else self.channels)
        n = samples.shape[0]
        if samples.shape[1] != self.channels:
            raise ValueError(f"block has {samples.shape[1]} channels, buffer holds {self.channels}")
        if n > self.capacity:  # only the newest capacity samples can be kept
            self.end += n - self.capacity
            samples = samples[-self.capacity :]
            missing = None if missing is None else missing[-self.capacity :]
            n = self.capacity
        pos = self.end % self.capacity
        first = min(n, self.capacity - pos)
        rest = n - first
        for base in (0, self.capacity):  # the mirror: two copies, each at most two slices
            self._data[base + pos : base + pos + first] = samples[:first]
            self._data[base : base + rest] = samples[first:]
            if missing is None:
                self._missing[base + pos : base + pos + first] = False
                self._missing[base : base + rest] = False
            else:
                self._missing[base + pos : base + pos + first] = missing[:first]
                self._missing[base : base + rest] = missing[first:]
        self.end += n

    def write_missing(self, n: int) -> None:
        """Append n missing samples (value 0), without allocating."""
        while n > 0:
            k = min(n, self.capacity)
            pos = self.end % self.capacity
            first = min(k, self.capacity - pos)
            for base in (0, self.capacity):
                for lo, hi in ((base + pos, base + pos + first), (base, base + k - first)):
                    self._data[lo:hi] = 0
                    self._missing[lo:hi] = True
            self.end += k
            n -= k

    def view(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Zero-copy views (length, channels) and (length,) of absolute samples [start, start + length)."""
        if start < self.start or start + length > self.end or length > self.capacity:
            raise IndexError(f"samples [{start}, {start + length}) not held (buffer holds [{self.start}, {self.end}))")
        pos = start % self.capacity
        return self._data[pos : pos + length], self._missing[pos : pos + length]
