"""The Decider: window scores in, anomaly events out (threshold, debounce, merging).

Scoring is kept apart from deciding (as river and pyod do): the Detector says how unusual each
window is; the Decider, built from the same bundle variant in one place (``Decider.from_bundle``),
says when that becomes an event worth reporting.

Rules (times are window starts and ends in seconds from the stream's start):
- an event opens after ``on_windows`` consecutive windows over the threshold; it starts at the
  first of them;
- it ends at the end of its last window over the threshold;
- it closes after ``off_windows`` consecutive windows at or under the threshold *and* once one
  whole window length has passed after its end with no window over the threshold: a window over
  the threshold that starts less than one window length after the event's end belongs to it
  (windows overlap, so one continuous anomaly crosses the threshold many times). Hence events
  never overlap, and two events are always more than one window length apart (merge rule);
- at the end of a stream (or at shutdown and reload), an open event is closed with the end of its
  last window over the threshold (``flush``).

A live decider (``update_every_s`` set: the service's streams) also reports an event while it lasts:
``opened`` at the window that opens it (start, end and peak so far), then ``update`` with the end and
peak so far at most once per ``update_every_s`` of stream time (window starts) and only when they moved,
then ``closed`` with its final figures, the same Event as a decider without ``update_every_s`` reports.
Without it (files, bench, the fetal stage's rules) only ``closed`` events come out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle

Phase = Literal["opened", "update", "closed"]
PHASES: tuple[Phase, ...] = ("opened", "update", "closed")


@dataclass(frozen=True)
class Event:
    """An anomaly: windows [start_s, end_s) of the stream, in seconds from the stream's start. ``detector``
    names what raised it where one stage decides several kinds (``fetal-flatline``, ``fetal-bradycardia``);
    empty: the stream's own detector. ``phase``: ``closed`` (final figures), or ``opened`` / ``update`` from
    a live decider (figures so far: end, peak and windows still growing)."""

    start_s: float
    end_s: float
    peak_score: float
    threshold: float
    windows: int
    detector: str = ""
    phase: Phase = "closed"
    explain: list[dict[str, Any]] | None = field(default=None, compare=False)  # where its peak window differs
    heard_by: dict[str, Any] | None = field(default=None, compare=False)  # fused: the member that heard the peak

    def to_json(self) -> dict[str, Any]:
        """The event as `vigil score --json` prints it (``detector``, ``explain`` and ``heard_by`` only when there
        are; files report closed events only, so no phase)."""
        out: dict[str, Any] = {"start_s": self.start_s, "end_s": self.end_s, "peak_score": self.peak_score,
                               "threshold": self.threshold, "windows": self.windows}
        return out | ({"detector": self.detector} if self.detector else {}) | \
            ({"explain": self.explain} if self.explain is not None else {}) | \
            ({"heard_by": self.heard_by} if self.heard_by is not None else {})


@dataclass
class _Open:
    start_s: float
    peak: float
    windows: int
    row: np.ndarray | None = None  # the peak window's feature row, when the stream gives rows


Explain = Callable[[np.ndarray], list[dict[str, Any]]]
Attribute = Callable[[np.ndarray], dict[str, Any] | None]


class Decider:
    """Thresholds window scores with debounce and merging (module docstring)."""

    def __init__(self, threshold: float, *, on_windows: int = 3, off_windows: int = 3, detector: str = "",
                 update_every_s: float | None = None) -> None:
        if on_windows < 1 or off_windows < 1:
            raise ValueError(f"on_windows and off_windows must be >= 1, got {on_windows}, {off_windows}")
        if update_every_s is not None and not update_every_s > 0:
            raise ValueError(f"update_every_s must be > 0 s, got {update_every_s}")
        self.update_every_s = update_every_s  # None: closed events only (module docstring)
        self.threshold = threshold
        self.detector = detector  # what its events name (Event.detector)
        self.on_windows = on_windows
        self.off_windows = off_windows
        self._run_over = 0
        self._run_under = 0
        self._open: _Open | None = None
        self._candidate = _Open(0.0, -np.inf, 0)
        self._last_over_end = 0.0
        self._reported = (0.0, 0.0)  # (window start, event end) when the open event was last reported
        self.explain: Explain | None = None  # names what made the peak window unlike normal (its feature row)
        self.attribute: Attribute | None = None  # names the detector's part that heard the peak window

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str | None = None) -> Decider:
        """The window-level decider of a bundle variant: its threshold and the manifest's debounce."""
        settings = bundle.manifest.decider
        return cls(bundle.variant(variant).window_threshold, on_windows=settings.on_windows,
                   off_windows=settings.off_windows)

    @property
    def open(self) -> bool:
        return self._open is not None

    def update(self, scores: np.ndarray, starts_s: np.ndarray, window_s: float,
               rows: np.ndarray | None = None) -> list[Event]:
        """Feed window scores (n,) with their start times (n,) in s; returns the events that closed, in
        order, and with ``update_every_s`` set the events that opened or moved on too (module docstring).
        ``rows`` (n, dim): the windows' feature rows; with ``explain`` set, each event says what made its
        peak window unlike normal, and with ``attribute`` set, which part of the detector heard it.

        The loop runs once per window (at most a few dozen per second), not per sample.
        """
        out = []
        kept = rows if self.explain is not None or self.attribute is not None else None
        for i, (score, start) in enumerate(zip(scores.tolist(), starts_s.tolist(), strict=True)):
            over = score > self.threshold
            if self._open is None:
                if not over:
                    self._run_over = 0
                    continue
                if self._run_over == 0:
                    self._candidate = _Open(start, -np.inf, 0)
                self._run_over += 1
                if score > self._candidate.peak:
                    self._candidate.peak, self._candidate.row = score, None if kept is None else kept[i].copy()
                self._last_over_end = start + window_s
                if self._run_over >= self.on_windows:
                    c = self._candidate
                    self._open = _Open(c.start_s, c.peak, self._run_over, c.row)
                    self._run_under = 0
                    if self.update_every_s is not None:
                        out.append(self._report("opened", start))
                continue
            if over:
                if score > self._open.peak:
                    self._open.peak, self._open.row = score, None if kept is None else kept[i].copy()
                self._open.windows += 1
                self._last_over_end = start + window_s
                self._run_under = 0
            else:
                self._run_under += 1
                if self._run_under >= self.off_windows and start >= self._last_over_end + window_s:
                    out.append(self._close(self._open))
                    continue
            # the peak only rises with a window over the threshold, which moves the end: the end says it all
            every, (last_start, last_end) = self.update_every_s, self._reported
            if every is not None and start >= last_start + every and self._last_over_end > last_end:
                out.append(self._report("update", start))
        return out

    def _report(self, phase: Phase, start_s: float) -> Event:
        """The open event's figures so far, reported at the window starting at start_s."""
        assert self._open is not None
        self._reported = (start_s, self._last_over_end)
        return Event(self._open.start_s, self._last_over_end, float(self._open.peak), self.threshold,
                     self._open.windows, self.detector, phase, self._explained(self._open),
                     self._attributed(self._open))

    def _close(self, event: _Open) -> Event:
        self._open, self._run_over, self._run_under = None, 0, 0
        return Event(event.start_s, self._last_over_end, float(event.peak), self.threshold, event.windows,
                     self.detector, explain=self._explained(event), heard_by=self._attributed(event))

    def _explained(self, event: _Open) -> list[dict[str, Any]] | None:
        return None if self.explain is None or event.row is None else self.explain(event.row)

    def _attributed(self, event: _Open) -> dict[str, Any] | None:
        return None if self.attribute is None or event.row is None else self.attribute(event.row)

    def flush(self) -> list[Event]:
        """Close an event still open (end of the stream, shutdown, reload)."""
        return [self._close(self._open)] if self._open is not None else []
