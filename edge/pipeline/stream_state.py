"""Per-stream state in one place: what status lines, `vigil status`, pages and metrics read.

The service updates one StreamState per configured stream from its loop; readers take
``snapshot()`` (plain JSON types). Recent scores and events are bounded deques: memory does not
grow with the time a stream runs. For the live page, numbered traces (``Trace``) let a reader ask
for what is new: the signal's min/max envelope (``points_per_s`` points per second, kept only while
a page looks, `watch()`: it is not free at 16 kHz) and the fetal heart rate, which a beat stage feeds
through `on_fhr`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.sinks.events import EventRecord

STATES = ("starting", "running", "waiting", "ended", "failed", "stopped")  # waiting: the source retries its device


class Trace:
    """The last `capacity` rows of a time series (time_s first), numbered from 0 so that a reader can
    ask for what came after the last row it saw."""

    def __init__(self, capacity: int) -> None:
        self.rows: deque[tuple[float, ...]] = deque(maxlen=capacity)
        self.count = 0  # rows ever appended

    def extend(self, rows: list[tuple[float, ...]]) -> None:
        self.rows.extend(rows)
        self.count += len(rows)

    def since(self, seen: int) -> list[tuple[float, ...]]:
        """Rows appended after the first `seen` (those still kept)."""
        new = min(self.count - seen, len(self.rows))
        return list(self.rows)[len(self.rows) - new :] if new > 0 else []


@dataclass
class StreamState:
    """name, source kind, modality, detector kind, model variant, threshold, model; then live counters; the
    bundle it scores with (name, model file sha256, creation time) for the page and /metrics."""

    name: str
    kind: str
    modality: str
    detector: str
    variant: str
    threshold: float
    model: str = ""  # the bundle's name, variant and model sha256 prefix ("slider int8 3f2a9c1e0b7d")
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
    anomaly: bool = False  # an event is open now
    open_event: EventRecord | None = None  # the open event's last record (opened or update): id, start, peak so far
    last_event_s: float | None = None  # wall clock (UTC s) when the last event was closed
    bundle: str = ""
    model_sha256: str = ""
    bundle_created: str | None = None  # the bundle's provenance.created (ISO 8601 UTC)
    history_s: float = 10.0  # the signal envelope kept for the page
    signal_unit: str = "value"  # the unit of the signal envelope's samples, for the page's axis
    reliability: dict[str, Any] | None = None  # the bundle's estimate and advice ({"estimate", "advice"}), if any
    points_per_s: int = 50
    watched_until: float = 0.0  # monotonic time until which a page wants the signal envelope
    signal: Trace = field(init=False, repr=False)  # (time_s, min, max)
    fhr: Trace = field(init=False, repr=False)  # (time_s, beats per minute)
    ctg: dict[str, Any] | None = None  # the beat stage's latest CTG reading (edge.fetal.ctg, JSON types)
    learning: dict[str, Any] | None = None  # a learning period: {"learned_s", "total_s", "windows"}; no events
    _pending: np.ndarray = field(init=False, repr=False)
    _pending_start: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.signal = Trace(int(self.history_s * self.points_per_s))
        self.fhr = Trace(4096)
        self._pending = np.empty(0, np.float32)

    def scored(self, positions_s: np.ndarray, scores: np.ndarray) -> None:
        """Windows scored: (n,) stream times in s and (n,) scores."""
        if scores.size:
            self.windows += int(scores.size)
            self.progress_s = time.monotonic()
            self.recent_scores.extend(zip(positions_s.tolist(), scores.tolist(), strict=True))

    @property
    def last_score(self) -> float:
        return self.recent_scores[-1][1] if self.recent_scores else float("nan")

    @property
    def reconnects(self) -> int:
        return int(self.source_health.get("disconnects", 0))

    def watch(self, seconds: float) -> None:
        """A page looks: keep the signal envelope for the next `seconds`."""
        self.watched_until = time.monotonic() + seconds

    @property
    def watched(self) -> bool:
        return time.monotonic() < self.watched_until

    def envelope(self, start: int, samples: np.ndarray, rate: float, column: int = 0) -> None:
        """Samples (n,) or (n, channels) from absolute index `start` at `rate` Hz into the min/max envelope
        (of `column`), while watched."""
        if not self.watched:
            return
        samples = samples[:, column] if samples.ndim == 2 else samples
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

    def on_fhr(self, times_s: np.ndarray, bpm: np.ndarray) -> None:
        """Fetal heart rate (n,) in beats per minute at stream times (n,) s (the beat stage calls this)."""
        self.fhr.extend(list(zip(times_s.tolist(), bpm.tolist(), strict=True)))

    def evented(self, record: EventRecord) -> None:
        """A record emitted: an opened or update record is the open event now; a closed one is counted and
        listed (``events``, ``recent_events``: finished events only) and ends the open event of its id."""
        if record.phase != "closed":
            self.open_event = record
            return
        if self.open_event is not None and self.open_event.event_id == record.event_id:
            self.open_event = None
        self.events += 1
        self.last_event_s = time.time()
        self.recent_events.append(record)

    def waiting_for(self, reason: str | None) -> None:
        """The source's ``waiting()``: a live stream (starting, running, waiting) waits with this reason, or
        runs again when it is None; leaving ``waiting`` restarts the stall clock (the device is back now)."""
        if self.state not in ("starting", "running", "waiting"):
            return
        if reason is not None and (self.state, self.reason) != ("waiting", reason):
            self.set("waiting", reason)
        elif reason is None and self.state == "waiting":
            self.set("running")
            self.progress_s = time.monotonic()

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
            "open_event": self.open_summary(), "learning": self.learning,
        }

    def open_summary(self) -> dict[str, Any] | None:
        """The open event so far (id, detector, start as UTC ISO 8601 and stream s, end s, peak score), or None."""
        o = self.open_event
        return None if o is None else {"event_id": o.event_id, "detector": o.detector, "start": o.start,
                                       "start_s": o.start_s, "end_s": o.end_s, "peak_score": o.peak_score}
