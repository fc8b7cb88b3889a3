"""Per-stream state in one place: what status lines, `vigil status`, pages and metrics read.

The service updates one StreamState per configured stream from its loop; readers take
``snapshot()`` (plain JSON types). Recent scores and events are bounded deques: memory does not
grow with the time a stream runs.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.events import EventRecord

STATES = ("starting", "running", "ended", "failed", "stopped")


@dataclass
class StreamState:
    """name, source kind, modality, detector kind, model variant, threshold; then live counters."""

    name: str
    kind: str
    modality: str
    detector: str
    variant: str
    threshold: float
    state: str = "starting"
    reason: str | None = None  # why a stream failed or ended
    windows: int = 0
    events: int = 0
    stream_seconds: float = 0.0  # stream time received (s)
    missing_samples: int = 0
    samples: int = 0
    epoch_s: float | None = None  # wall clock of the stream's sample 0
    progress_s: float = field(default_factory=time.monotonic)  # monotonic time of the last scored window
    source_health: dict[str, Any] = field(default_factory=dict)
    recent_scores: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=600))
    recent_events: deque[EventRecord] = field(default_factory=lambda: deque(maxlen=50))

    def scored(self, positions_s: np.ndarray, scores: np.ndarray) -> None:
        """Windows scored: (n,) stream times in s and (n,) scores."""
        if scores.size:
            self.windows += int(scores.size)
            self.progress_s = time.monotonic()
            self.recent_scores.extend(zip(positions_s.tolist(), scores.tolist(), strict=True))

    def evented(self, record: EventRecord) -> None:
        self.events += 1
        self.recent_events.append(record)

    def set(self, state: str, reason: str | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"stream state {state!r} (expected one of {STATES})")
        self.state, self.reason = state, reason

    @property
    def missing_fraction(self) -> float:
        return self.missing_samples / self.samples if self.samples else 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "modality": self.modality, "detector": self.detector,
            "variant": self.variant, "threshold": self.threshold, "state": self.state, "reason": self.reason,
            "windows": self.windows, "events": self.events, "stream_seconds": round(self.stream_seconds, 3),
            "missing_fraction": round(self.missing_fraction, 6), "epoch_s": self.epoch_s,
            "seconds_since_progress": round(time.monotonic() - self.progress_s, 3),
            "source": dict(self.source_health),
            "recent_scores": [[round(t, 4), s] for t, s in self.recent_scores],
            "recent_events": [r.event_id for r in self.recent_events],
        }
