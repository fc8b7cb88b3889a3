"""The fetal chain on a live multi-lead stream: beats, FHR, signal quality and their events.

``FetalMonitor.push(start, samples, missing)`` takes the blocks a source yields (absolute first
sample index, (n, leads) float µV, missing mask) and returns what became final: maternal and fetal
beats, FHR points (None where quality makes them missing), and events with their kind. Quality
frame scores (overall = worst lead, per kind) go through one Decider per kind (the detectors
only score); FHR events come from the FHR rules (edge.fetal.fhr_events) run every
`events_every_s` over a bounded FHR history. Memory is bounded: one beat window, the quality
monitor's history and `fhr_history_s` of FHR points.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from edge.fetal.beats import BeatParams, BeatTracker
from edge.fetal.fhr import FhrPoint, FhrTracker
from edge.pipeline.decider import Decider, Event

QUALITY_THRESHOLD = 0.5
QUALITY_ON_FRAMES, QUALITY_OFF_FRAMES = 5, 10  # 0.5 s to open, 1 s to close at 0.1 s frames


@dataclass(frozen=True)
class NamedEvent(Event):
    """An Event naming its detector (``fetal-<kind>``): one stage raises events of several kinds."""

    detector: str = ""


@dataclass(frozen=True)
class FetalEvent:
    kind: str  # a quality kind (flatline, clipping, mains, wander, motion, low_fetal) or an FHR event kind
    event: Event


@dataclass
class FetalOutput:
    maternal: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    fetal: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    fhr: list[FhrPoint] = field(default_factory=list)
    events: list[FetalEvent] = field(default_factory=list)
    frames: int = 0  # quality frames scored (the stream's progress)


class FetalMonitor:
    def __init__(self, fs: float, labels: list[str], params: BeatParams | None = None, *,
                 fhr_history_s: float = 1200.0, events_every_s: float = 5.0) -> None:
        from edge.fetal.quality import KINDS, QualityMonitor

        self.fs, self.labels = float(fs), list(labels)
        self.beats = BeatTracker(fs, len(labels), params)
        self.fhr = FhrTracker(fs)
        self.quality = QualityMonitor(fs, labels)
        self.kinds = KINDS
        # a kind whose score tops out lower (wander: ranked under the other faults) is judged on its own scale
        top = {"wander": self.quality.cfg.wander_max, "low_fetal": self.quality.cfg.low_fetal_max}
        self.deciders = {k: Decider(QUALITY_THRESHOLD * top.get(k, 1.0), on_windows=QUALITY_ON_FRAMES,
                                    off_windows=QUALITY_OFF_FRAMES) for k in KINDS}
        self.next_sample = 0
        self._history: deque[tuple[float, float]] = deque(maxlen=max(10, int(fhr_history_s * 4)))
        self._fetal_recent: deque[int] = deque(maxlen=64)
        self._events_every = events_every_s
        self._next_events_s = events_every_s
        self._reported: set[tuple[str, float]] = set()
        self._frames: deque[tuple[float, bool]] = deque(maxlen=600)  # recent quality frames: start s, bad

    def prime(self, blocks: Iterable[np.ndarray]) -> None:
        """Before the first push, for a file: the quality monitor learns the leads' typical values from the
        file's first minutes (blocks (m, leads) µV from its start, NaN = missing), as `vigil beats` does.

        A live device has no such future: unprimed, the typical values build up from the first frames
        (each frame judged against the median of what came before it and itself), see QualityMonitor.
        """
        self.quality.prime(blocks)

    def push(self, start: int, samples: np.ndarray, missing: np.ndarray | None = None) -> FetalOutput:
        """samples (n, leads) µV from absolute index `start`; missing (n,) or (n, leads) bool, or None."""
        x = np.array(samples, dtype=np.float64).reshape(-1, len(self.labels))
        if missing is not None:
            m = np.asarray(missing, dtype=bool)
            x[m if m.ndim == 2 else np.broadcast_to(m[:, None], x.shape)] = np.nan
        if start > self.next_sample:  # samples the source never delivered are missing
            x = np.concatenate([np.full((start - self.next_sample, x.shape[1]), np.nan), x])
        elif start < self.next_sample:
            x = x[self.next_sample - start:]
        self.next_sample += x.shape[0]
        return self._step(x, final=False)

    def finish(self) -> FetalOutput:
        out = self._step(np.zeros((0, len(self.labels))), final=True)
        for kind, decider in self.deciders.items():
            out.events += [FetalEvent(kind, e) for e in decider.flush()]
        out.events += self._fhr_events(final=True)
        return out

    def _step(self, x: np.ndarray, final: bool) -> FetalOutput:
        from edge.fetal.quality import MASK_KINDS, SIGNAL_KINDS, low_fetal_scores

        out = FetalOutput()
        blocks = self.beats.push(x) + (self.beats.finish() if final else [])
        for b in blocks:
            out.maternal = np.concatenate([out.maternal, b.maternal])
            out.fetal = np.concatenate([out.fetal, b.fetal])
        self._fetal_recent.extend(out.fetal.tolist())
        # lost samples stay NaN: the quality monitor scores them as flatline (lead-off) and judges no other
        # kind next to them (edge/fetal/quality_missing.py); as zeros their edges were steps (clipping, mains)
        times, scores = self.quality.push(x, final=final)
        out.frames = int(times.size)
        if times.size:
            hop_s = self.quality.hop / self.fs
            overall = np.zeros((times.size, len(self.kinds)), dtype=np.float32)
            overall[:, :len(SIGNAL_KINDS)] = scores.max(axis=2)
            # only frames the beat tracker has already covered can judge the fetal beats
            covered = times + hop_s <= self.beats.final_until / self.fs
            low = low_fetal_scores(times, hop_s, np.asarray(self._fetal_recent, dtype=float) / self.fs,
                                   self.quality.cfg.low_fetal_max)
            overall[:, self.kinds.index("low_fetal")] = np.where(covered, low, 0.0)
            for k, kind in enumerate(self.kinds):
                out.events += [FetalEvent(kind, e) for e in self.deciders[kind].update(overall[:, k], times, hop_s)]
            # FHR missing as in edge.fetal.quality.bad_mask: half the leads with a fault of MASK_KINDS
            mask = [SIGNAL_KINDS.index(k) for k in MASK_KINDS]
            bad = (scores[:, mask].max(axis=1) >= QUALITY_THRESHOLD).mean(axis=1) >= 0.5
            self._frames.extend(zip(times.tolist(), bad.tolist(), strict=True))
        for p in self.fhr.push(out.fetal):
            masked = self._bad_at(p.t)
            out.fhr.append(FhrPoint(p.t, float("nan")) if masked else p)
            self._history.append((p.t, float("nan") if masked else p.bpm))
        if out.fhr and out.fhr[-1].t >= self._next_events_s:
            self._next_events_s = out.fhr[-1].t + self._events_every
            out.events += self._fhr_events(final=False)
        return out

    def _bad_at(self, t: float) -> bool:
        """Whether the quality frame holding time t (s) was bad; unknown frames count as good."""
        hop_s = self.quality.hop / self.fs
        for start, bad in reversed(self._frames):
            if start <= t < start + hop_s:
                return bad
            if start + hop_s <= t:
                return False
        return False

    def _fhr_events(self, final: bool) -> list[FetalEvent]:
        """FHR rule events over the history that have ended (or all, at the end), each reported once."""
        from edge.fetal.fhr_events import detect_fhr_events

        if len(self._history) < 2:
            return []
        t, bpm = (np.array(v, dtype=float) for v in zip(*self._history, strict=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            found = detect_fhr_events(t, bpm, float(t[-1]))
        out = []
        for e in found:
            key = (e.kind, round(e.start_s, 1))
            if key in self._reported or (not final and e.end_s >= t[-1] - 1.0):
                continue  # still going on: reported once it has ended
            self._reported.add(key)
            out.append(FetalEvent(e.kind, Event(e.start_s, e.end_s, e.score, 0.0, 1)))
        return out


class FetalTap:
    """The fetal chain beside a stream's own detector: picks the abdominal columns of its blocks.

    ``FetalTap.for_labels(labels, fs)`` is None when no lead is abdominal (``Abdomen_*``), so a
    stream of a scalp or chest lead alone runs as before. ``push`` returns (detector name, event)
    pairs, the detector being ``fetal-<kind>``, for the service's sinks.
    """

    def __init__(self, fs: float, labels: list[str], columns: list[int]) -> None:
        self.columns = columns
        self.monitor = FetalMonitor(fs, [labels[c] for c in columns])
        self.beats = 0
        self.last_bpm: float | None = None
        self.new_fhr: list[tuple[float, float]] = []  # (t s, bpm) valid FHR points of the last push or finish

    @classmethod
    def for_labels(cls, labels: list[str] | tuple[str, ...], fs: float) -> FetalTap | None:
        from edge.io.multilead import ABDOMINAL_PREFIXES

        columns = [i for i, name in enumerate(labels) if name.lower().startswith(ABDOMINAL_PREFIXES)]
        return cls(fs, list(labels), columns) if columns else None

    def prime(self, blocks: Iterable[np.ndarray]) -> None:
        """A file's blocks (m, channels) from its start: FetalMonitor.prime on the abdominal columns."""
        self.monitor.prime(np.asarray(b).reshape(np.shape(b)[0], -1)[:, self.columns] for b in blocks)

    def push(self, start: int, samples: np.ndarray, missing: np.ndarray | None = None) -> list[tuple[str, Event]]:
        """A block (n, channels) of the stream (all its channels) -> closed events."""
        x = np.asarray(samples)
        x = x.reshape(x.shape[0], -1)[:, self.columns]
        return self._take(self.monitor.push(start, x, missing))

    def finish(self) -> list[tuple[str, Event]]:
        return self._take(self.monitor.finish())

    def _take(self, out: FetalOutput) -> list[tuple[str, Event]]:
        self.beats += int(out.fetal.size)
        self.new_fhr = [(p.t, p.bpm) for p in out.fhr if np.isfinite(p.bpm)]
        if self.new_fhr:
            self.last_bpm = self.new_fhr[-1][1]
        return [(f"fetal-{e.kind}", e.event) for e in out.events]
