"""How long a source waits before it tries its device again: one helper for every device source.

A device that is absent (a microphone PortAudio does not list, a wearable out of range) is a normal
state for a gateway: its source retries with exponential backoff, ``first_s`` doubling up to
``max_s``, each delay jittered by +-``jitter`` (a fraction) so that streams and gateways that lost
their devices together do not retry in lockstep. ``reset()`` once the device works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random


class Backoff:
    """Delays in s: first_s, 2 first_s, ... up to max_s, each times a uniform factor in [1 - jitter, 1 + jitter]."""

    def __init__(self, first_s: float = 1.0, max_s: float = 60.0, jitter: float = 0.2,
                 rng: random.Random | None = None) -> None:
        if not 0 < first_s <= max_s or not 0 <= jitter < 1:
            raise ValueError(f"backoff {first_s} s to {max_s} s, jitter {jitter} (expected 0 < first <= max, "
                             "0 <= jitter < 1)")
        self.first_s, self.max_s, self.jitter = first_s, max_s, jitter
        self._rng = rng or random.Random()
        self._base = first_s

    def reset(self) -> None:
        """The device works again: the next failure waits first_s."""
        self._base = self.first_s

    def next(self) -> float:
        """The delay before the next attempt (s), and the one after it doubled."""
        delay = self._base * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        self._base = min(self._base * 2, self.max_s)
        return delay

    async def wait(self, stop: asyncio.Event) -> bool:
        """Sleep the next delay, cut short by `stop`; True if `stop` is set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.next())
        return stop.is_set()
