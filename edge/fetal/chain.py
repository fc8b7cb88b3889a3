"""The fetal chain: beats, FHR, signal quality and their decisions, block by block. One orchestration
for a recorded file (`vigil beats`, edge.fetal.analyze) and for a live stream (edge.fetal.stage).

``FetalChain.push(x)`` takes consecutive samples (n, leads) float µV, NaN where missing (holes are
filled before: the Stream hands the stage contiguous blocks), and returns what became final
(FetalOutput). Decisions are the same for a file and a live stream:

- quality: frame scores (0.1 s; overall = the worst lead, per kind) go through one Decider per kind of
  FetalSettings.quality_event_kinds (by default an event once a fault has lasted 10 s, through pauses of
  up to 1 s: FaultDecider).
  A frame is judged once low_fetal can be: a fetal beat after it is known, or the beat tracker has
  passed `LOW_FETAL_WAIT_S` beyond it (or the input ended);
- FHR mask: an FHR point is missing (``masked``) when the second holding it (whole seconds from the
  stream's start) is bad (FetalSettings): ``mask_lead_fraction`` of the leads with a MASK_KINDS fault at
  or over the threshold in some frame of it, or low_fetal at or over it on its own scale. A point waits
  until its second is judged. (A point sits on a beat, its fault often a frame or two beside it: on
  adfecgdb r04, the frame holding the point masked none of the 4 points over 10 bpm off, the second 2);
- FHR events and the CTG reading: every `events_every_s`, the FIGO reading (edge.fetal.ctg, with the FHR
  rules of edge.fetal.fhr_events) of the last `fhr_history_s` of masked FHR (an hour: reduced
  variability needs more than 50 min); each event is reported once it has ended (all of them at the end).

Memory is bounded: one beat window, the quality monitor's history, the frames waiting for their
beats and `fhr_history_s` of FHR points.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from edge.bundle.manifest_parts import FetalSettings
from edge.fetal.beat_tracker import BeatParams, BeatTracker
from edge.fetal.ctg import CtgConfig, CtgReading, ctg_reading
from edge.fetal.fhr import FhrPoint, FhrTracker
from edge.fetal.fhr_events import FhrConfig, FhrEvent
from edge.fetal.quality import KINDS, MASK_KINDS, SIGNAL_KINDS, QualityConfig, QualityMonitor, low_fetal_scores
from edge.pipeline.decider import Decider, Event

# longer than 1.7 of the longest fetal beat interval (50 bpm: 1.2 s): a frame with no beat after it for that
# long is in a beat gap whatever the beats to come
LOW_FETAL_WAIT_S = 3.0


@dataclass
class FetalOutput:
    """What one push made final: beat sample indices (absolute), FHR points with ``masked`` (k,) bool beside
    them, events (quality and FHR, one Event type naming its detector), the FHR rules' findings behind the
    FHR events (with their level), the CTG reading when one was made, and the judged quality frames: start
    times (f,) s, scores (f, len(KINDS), leads) float32 (low_fetal the same for every lead)."""

    maternal: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    fetal: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    fhr: list[FhrPoint] = field(default_factory=list)
    masked: list[bool] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    fhr_events: list[FhrEvent] = field(default_factory=list)
    ctg: CtgReading | None = None
    frame_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame_scores: np.ndarray | None = None


class FaultDecider:
    """A Decider over one kind's overall frame scores (f,) where a fault lasts through pauses of up to ``gap``
    frames under the threshold: each frame is judged on the highest score of it and the ``gap`` frames before
    it (a flickering score is one lasting fault, as the FHR mask, which judges whole seconds, sees it); an
    event's end is then set back to the end of its last frame really over the threshold."""

    def __init__(self, decider: Decider, gap: int) -> None:
        self.decider, self.gap = decider, gap
        self.detector = decider.detector
        self._tail = np.zeros(0, np.float32)  # the last `gap` frames' scores
        self._over_ends = np.zeros(0)  # ends (s) of recent frames over the threshold

    @property
    def threshold(self) -> float:
        """The score over which a frame counts as faulty (its Decider's)."""
        return self.decider.threshold

    def update(self, scores: np.ndarray, times: np.ndarray, hop_s: float) -> list[Event]:
        """Frame scores (f,) at start times (f,) s, frames of hop_s s -> the events that closed."""
        scores = np.asarray(scores, dtype=np.float32)
        if scores.size == 0:
            return []
        joined = np.concatenate([np.full(self.gap - self._tail.size, -np.inf, np.float32), self._tail, scores])
        held = np.lib.stride_tricks.sliding_window_view(joined, self.gap + 1).max(axis=1)
        self._tail = joined[joined.size - self.gap :] if self.gap else self._tail
        ends = np.concatenate([self._over_ends, times[scores > self.decider.threshold] + hop_s])
        out = [self._trim(e, ends) for e in self.decider.update(held, times, hop_s)]
        # an open event closes at most off_windows + gap frames after its last frame over: older ends are not needed
        self._over_ends = ends[ends > times[-1] - (self.decider.off_windows + self.gap + 2) * hop_s]
        return out

    def flush(self) -> list[Event]:
        return [self._trim(e, self._over_ends) for e in self.decider.flush()]

    @staticmethod
    def _trim(event: Event, ends: np.ndarray) -> Event:
        inside = ends[(ends > event.start_s) & (ends <= event.end_s + 1e-9)]
        return replace(event, end_s=float(inside.max())) if inside.size else event


def quality_deciders(settings: FetalSettings, config: QualityConfig) -> dict[str, FaultDecider]:
    """One FaultDecider per kind of ``settings.quality_event_kinds`` over the overall (worst lead) frame scores:
    a kind whose score tops out lower (wander, low_fetal: ranked under the other faults) on its own scale."""
    top = {"wander": config.wander_max, "low_fetal": config.low_fetal_max}
    return {k: FaultDecider(Decider(settings.quality_threshold * top.get(k, 1.0), on_windows=settings.quality_on_frames,
                                    off_windows=settings.quality_off_frames, detector=f"fetal-{k}"),
                            settings.quality_gap_frames)
            for k in KINDS if k in settings.quality_event_kinds}


class FetalChain:
    """Beats (BeatTracker), FHR (FhrTracker), quality (QualityMonitor) and their decisions (module docstring).

    ``quality=False``: beats and FHR only (no point masked, no quality event).
    """

    def __init__(self, fs: float, labels: list[str] | tuple[str, ...], params: BeatParams | None = None,
                 settings: FetalSettings | None = None, *, quality: bool = True,
                 quality_config: QualityConfig | None = None, fhr_history_s: float = 3600.0,
                 events_every_s: float = 5.0) -> None:
        self.fs, self.labels = float(fs), list(labels)
        self.settings = s = settings or FetalSettings()
        self.beats = BeatTracker(fs, len(labels), params)
        self.fhr = FhrTracker(fs)
        self.quality_config = qc = quality_config or QualityConfig()
        self.quality = QualityMonitor(fs, labels, qc) if quality else None
        if self.quality is not None:
            # Scored up to a second of frames at a time, not per 23-sample BLE block (each scoring reads ~3.4 s
            # of samples). A frame is judged only once its beats are final, margin_s (3 s) behind the input;
            # a batch within the slack between that and the monitor's own lag (its pad, ~1.7 s) delays nothing.
            slack_s = self.beats.params.margin_s - self.quality.pad / self.fs
            self.quality.min_frames = max(1, int(min(1.0, slack_s) / qc.hop_s + 1e-9))
        self.fhr_config = FhrConfig(brady_bpm=s.brady_bpm, tachy_bpm=s.tachy_bpm, decel_drop_bpm=s.decel_drop_bpm)
        self.ctg_config = CtgConfig(fhr=self.fhr_config)
        # a kind whose score tops out lower (wander: ranked under the other faults) is judged on its own scale
        self.top = {"wander": self.quality_config.wander_max, "low_fetal": self.quality_config.low_fetal_max}
        self.deciders = quality_deciders(s, self.quality_config)
        self.hop_s = self.quality.hop / self.fs if self.quality is not None else 0.1
        self._waiting_t: list[np.ndarray] = []  # frames scored, not judged yet (their beats are to come)
        self._waiting_s: list[np.ndarray] = []
        # recent judged seconds: whether each lead had a fault there, whether low_fetal did
        self._seconds: dict[int, tuple[np.ndarray, bool]] = {}
        self._judged_until = np.inf if quality else 0.0  # s: every frame before it is judged
        self._points: deque[FhrPoint] = deque()  # FHR points waiting for their frame
        self._fetal_recent: deque[int] = deque()  # the last 64 fetal beats once their frames are judged
        self._history: deque[tuple[float, float]] = deque(maxlen=max(10, int(fhr_history_s * 4)))
        self._events_every = events_every_s
        self._next_events_s = events_every_s
        self._reported: deque[tuple[str, float, float]] = deque(maxlen=256)  # (kind, start_s, end_s) reported

    def prime(self, blocks: Iterable[np.ndarray]) -> None:
        """Before the first push, for a file: the quality monitor learns the leads' typical values from the
        file's first minutes (blocks (m, leads) µV from its start, NaN = missing), QualityMonitor.prime.

        A live device has no such future: unprimed, the typical values build up from the first frames.
        """
        if self.quality is not None:
            self.quality.prime(blocks)

    def push(self, x: np.ndarray, *, final: bool = False) -> FetalOutput:
        """The next samples x (n, leads) µV, NaN where missing -> what became final. ``final``: x is the
        input's last block: everything still held is decided and open events are closed."""
        out = self._step(np.asarray(x, dtype=np.float64).reshape(-1, len(self.labels)), final=final)
        if final:
            for decider in self.deciders.values():
                out.events += decider.flush()
            self._fhr_events(out, final=True)
        return out

    def finish(self) -> FetalOutput:
        """The end of the input (after the last push): everything still held, open events closed."""
        return self.push(np.zeros((0, len(self.labels))), final=True)

    def _step(self, x: np.ndarray, final: bool) -> FetalOutput:
        out = FetalOutput()
        blocks = self.beats.push(x) + (self.beats.finish() if final else [])
        if blocks:
            out.maternal = np.concatenate([b.maternal for b in blocks]).astype(np.int64)
            out.fetal = np.concatenate([b.fetal for b in blocks]).astype(np.int64)
        self._fetal_recent.extend(out.fetal.tolist())
        self._points.extend(self.fhr.push(out.fetal))
        if self.quality is not None:
            # lost samples stay NaN: the quality monitor scores them as flatline (lead-off) and judges no other
            # kind next to them (edge/fetal/quality_missing.py); as zeros their edges were steps (clipping, mains)
            times, scores = self.quality.push(x, final=final)
            if times.size:
                self._waiting_t.append(times)
                self._waiting_s.append(scores)
            self._judge(out, final)
        while len(self._fetal_recent) > 64:
            self._fetal_recent.popleft()
        self._release(out, final)
        if out.fhr and out.fhr[-1].t >= self._next_events_s:
            self._next_events_s = out.fhr[-1].t + self._events_every
            self._fhr_events(out, final=False)
        return out

    def _judge(self, out: FetalOutput, final: bool) -> None:
        """Decide the waiting frames whose low_fetal score is known (all of them at the end)."""
        if not self._waiting_t:
            return
        times = np.concatenate(self._waiting_t)
        scores = np.concatenate(self._waiting_s)
        beats_s = np.asarray(self._fetal_recent, dtype=float) / self.fs
        known = self.beats.final_until / self.fs
        last_beat = beats_s[-1] if beats_s.size else -np.inf
        ends = times + self.hop_s
        ready = np.ones(times.size, bool) if final else (ends <= known) & ((ends <= last_beat)
                                                                          | (ends + LOW_FETAL_WAIT_S <= known))
        n = int(np.argmin(ready)) if not ready.all() else times.size  # in order: the first frame not ready stops
        self._waiting_t, self._waiting_s = ([times[n:]], [scores[n:]]) if n < times.size else ([], [])
        if n == 0:
            return
        times, scores = times[:n], scores[:n]
        low = low_fetal_scores(times, self.hop_s, beats_s, self.quality_config.low_fetal_max)
        full = np.zeros((n, len(KINDS), scores.shape[2]), dtype=np.float32)
        full[:, : len(SIGNAL_KINDS)] = scores
        full[:, KINDS.index("low_fetal")] = low[:, None]
        overall = full.max(axis=2)
        for kind, decider in self.deciders.items():
            out.events += decider.update(overall[:, KINDS.index(kind)], times, self.hop_s)
        s = self.settings
        mask = [KINDS.index(k) for k in MASK_KINDS]
        lead_bad = full[:, mask].max(axis=1) >= s.quality_threshold  # (n, leads)
        low_bad = low >= s.quality_threshold * self.top["low_fetal"]
        second = np.floor(times).astype(np.int64)
        for k in np.unique(second).tolist():
            inside = second == k
            leads, low_any = self._seconds.get(k, (np.zeros(full.shape[2], bool), False))
            self._seconds[k] = (leads | lead_bad[inside].any(axis=0), low_any or bool(low_bad[inside].any()))
        self._judged_until = float(times[-1]) + self.hop_s
        out.frame_times, out.frame_scores = times, full

    def _release(self, out: FetalOutput, final: bool) -> None:
        """FHR points whose second is judged (all at the end), masked where it was bad; then only the last
        minute of judged seconds is kept (a point comes at most a few beats after its second is judged)."""
        while self._points and (final or np.floor(self._points[0].t) + 1 <= self._judged_until):
            p = self._points.popleft()
            leads, low_any = self._seconds.get(int(np.floor(p.t)), (np.zeros(1, bool), False))
            masked = bool(low_any or leads.mean() >= self.settings.mask_lead_fraction)
            out.fhr.append(p)
            out.masked.append(masked)
            self._history.append((p.t, float("nan") if masked else p.bpm))
        if self._seconds:
            newest = max(self._seconds)
            for k in [k for k in self._seconds if k < newest - 60]:
                del self._seconds[k]

    def _fhr_events(self, out: FetalOutput, final: bool) -> None:
        """The CTG reading of the history, and its FHR rule events that have ended (or all, at the end), each
        reported once."""
        if len(self._history) < 2:
            return
        t, bpm = (np.array(v, dtype=float) for v in zip(*self._history, strict=True))
        # the grid starts at the history's start, not at 0: the work stays an hour's whatever the stream's age
        out.ctg = ctg_reading(t, bpm, float(t[-1]), self.ctg_config, start_s=max(0.0, float(np.floor(t[0])) - 2.0))
        for e in out.ctg.events:
            if not final and e.end_s >= t[-1] - 1.0:
                continue  # still going on: reported once it has ended
            # once the history's start cuts into a reported event, what is left of it reads anew (a later start,
            # or a deceleration against the level after it): not a new event
            if any((kind == e.kind and e.start_s < end) or (start - 1.0 <= e.start_s and e.end_s <= end + 1.0)
                   for kind, start, end in self._reported):
                continue
            self._reported.append((e.kind, e.start_s, e.end_s))
            out.fhr_events.append(e)
            out.events.append(Event(e.start_s, e.end_s, e.score, 0.0, 1, f"fetal-{e.kind}"))
