"""What one stream is doing right now, in one place: counters for health, status lines and metrics,
and short traces (signal envelope, scores, FHR) for the live page.

The service updates it from its loop (one thread); readers (the status line, the page, /metrics,
Home Assistant) only read. Counting costs nothing; the signal's min/max envelope (``points_per_s``
points per second, never raw samples, so memory is fixed: ``history_s`` seconds of each trace) is
computed only while a page is open (`watch()`): it was 6 % of the service's own CPU at the live load.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# a stream's life: starting -> running -> (dead | done); "dead" carries the reason
STATES = ("starting", "running", "dead", "done")


class Trace:
    """The last `capacity` points of a time series: rows of floats (time_s first), numbered from 0
    so that a reader can ask for what came after the last point it saw."""

    def __init__(self, capacity: int) -> None:
        self.rows: deque[tuple[float, ...]] = deque(maxlen=capacity)
        self.count = 0  # points ever appended

    def extend(self, rows: list[tuple[float, ...]]) -> None:
        self.rows.extend(rows)
        self.count += len(rows)

    def since(self, seen: int) -> list[tuple[float, ...]]:
        """Points appended after the first `seen` (all that are still kept)."""
        new = min(self.count - seen, len(self.rows))
        return list(self.rows)[len(self.rows) - new :] if new > 0 else []


@dataclass
class StreamState:
    """Health and recent output of one stream. Times are stream seconds (sample index / rate)."""

    name: str
    kind: str  # file, microphone, ble-ecg
    modality: str  # audio, ecg
    threshold: float
    history_s: float = 10.0
    points_per_s: int = 50
    state: str = "starting"
    reason: str = ""  # why a stream is dead
    windows: int = 0
    events: int = 0
    samples: int = 0  # samples received (missing included)
    missing_samples: int = 0
    reconnects: int = 0
    last_score: float = float("nan")
    anomaly: bool = False  # an event is open now
    last_progress: float = field(default_factory=time.monotonic)
    watched_until: float = 0.0  # monotonic time until which a page wants the signal envelope
    link: Any = None  # a BLE link (edge.ble.BleLink): its problem and reconnects are followed
    signal: Trace = field(init=False)  # (time_s, min, max)
    scores: Trace = field(init=False)  # (time_s, score)
    fhr: Trace = field(init=False)  # (time_s, bpm): fed by the beat stage of ECG streams
    recent_events: Trace = field(init=False)  # (start_s, end_s, peak)
    _pending: np.ndarray = field(init=False, repr=False)
    _pending_start: int = 0

    def __post_init__(self) -> None:
        self.signal = Trace(int(self.history_s * self.points_per_s))
        self.scores = Trace(4096)
        self.fhr = Trace(4096)
        self.recent_events = Trace(50)
        self._pending = np.empty(0, np.float32)

    @property
    def missing_ratio(self) -> float:
        return self.missing_samples / self.samples if self.samples else 0.0

    def set_state(self, state: str, reason: str = "") -> None:
        assert state in STATES, state
        self.state, self.reason = state, reason

    def follow_link(self) -> None:
        """A BLE link's failures make the stream dead (with why) until data flows again."""
        link = self.link
        if link is None:
            return
        self.reconnects = link.stats.disconnects
        if link.problem and self.state != "dead":
            self.set_state("dead", link.problem)
        elif not link.problem and self.state == "dead" and link.stats.frames:
            self.set_state("running")

    def watch(self, seconds: float) -> None:
        """A page looks: keep the signal envelope for the next `seconds`."""
        self.watched_until = time.monotonic() + seconds

    @property
    def watched(self) -> bool:
        return time.monotonic() < self.watched_until

    def count(self, n: int, missing: int = 0) -> None:
        """n samples arrived, `missing` of them lost."""
        self.samples += n
        self.missing_samples += missing
        if self.state == "starting":
            self.state = "running"

    def on_block(self, start: int, samples: np.ndarray, rate: float, missing: np.ndarray | None = None) -> None:
        """Samples (n,) from absolute index `start` at `rate` Hz: counted, and their envelope kept while watched."""
        self.count(int(samples.shape[0]), 0 if missing is None else int(np.count_nonzero(missing)))
        if not self.watched:
            return
        bucket = max(1, int(rate) // self.points_per_s)
        if start != self._pending_start + self._pending.size:  # a jump: the partial bucket is dropped
            self._pending, self._pending_start = self._pending[:0], start
        values = np.concatenate([self._pending, samples.astype(np.float32, copy=False)]) if self._pending.size \
            else samples
        k = values.size // bucket
        if k:
            env = values[: k * bucket].reshape(k, bucket)
            t = (self._pending_start + bucket * np.arange(k)) / rate
            self.signal.extend(list(zip(t.tolist(), env.min(axis=1).tolist(), env.max(axis=1).tolist(),
                                        strict=True)))
        self._pending = np.array(values[k * bucket :], np.float32)
        self._pending_start += k * bucket

    def on_scores(self, starts_s: np.ndarray, scores: np.ndarray, *, anomaly: bool) -> None:
        """Window scores (n,) starting at `starts_s` (n,) seconds; `anomaly`: an event is open after them."""
        self.anomaly = anomaly
        if scores.size:
            self.windows += int(scores.size)
            self.last_score = float(scores[-1])
            self.last_progress = time.monotonic()
            self.scores.extend(list(zip(starts_s.tolist(), scores.tolist(), strict=True)))

    def on_event(self, start_s: float, end_s: float, peak: float) -> None:
        self.events += 1
        self.recent_events.extend([(start_s, end_s, peak)])

    def on_fhr(self, times_s: np.ndarray, bpm: np.ndarray) -> None:
        """Fetal heart rate (n,) in beats per minute at stream times (n,) s (the beat stage calls this)."""
        self.fhr.extend(list(zip(times_s.tolist(), bpm.tolist(), strict=True)))

    def summary(self) -> dict[str, Any]:
        """Counters and state, JSON-ready (the status file, the page's health panel)."""
        return {"name": self.name, "kind": self.kind, "modality": self.modality, "state": self.state,
                "reason": self.reason, "windows": self.windows, "events": self.events, "samples": self.samples,
                "missing_samples": self.missing_samples, "missing_percent": round(100 * self.missing_ratio, 2),
                "reconnects": self.reconnects, "threshold": self.threshold,
                "last_score": None if self.last_score != self.last_score else round(self.last_score, 6),
                "anomaly": self.anomaly}
