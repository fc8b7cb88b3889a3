"""A whole recording through the live chain, block by block: beats, FHR, quality, FHR events.

The same objects a live ECG stream uses (BeatTracker, FhrTracker, the quality monitor) are fed
the recording's blocks in order, so `vigil beats` reports what the gateway would have found, and
memory is bounded by one block and the outputs.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.fetal.beats import BeatParams, BeatTracker
from edge.fetal.fhr import FhrPoint, FhrTracker
from edge.io.multilead import LeadRecording

BLOCK_S = 1.0  # read size: what a live source would deliver in about a second


@dataclass
class BeatsResult:
    file: str
    fs: float
    labels: tuple[str, ...]
    seconds: float
    maternal: np.ndarray
    fetal: np.ndarray
    fhr: list[FhrPoint]
    quality: list[Any] = field(default_factory=list)  # edge.fetal.quality.QualitySegment
    events: list[Any] = field(default_factory=list)  # FHR events (edge.fetal.fhr_events)
    cpu_s: float = 0.0
    fhr_latency_s: list[float] = field(default_factory=list)  # beat time -> its FHR point, stream time
    quality_config: Any = None  # edge.fetal.quality.QualityConfig the quality was scored with (None: defaults)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file, "fs": self.fs,
            "fetal_peaks": self.fetal.tolist(), "maternal_peaks": self.maternal.tolist(),
            "fhr": [{"t": p.t, "bpm": None if m else p.bpm} for p, m in zip(self.fhr, self._masked(), strict=True)],
            "quality": [{"start_s": q.start_s, "end_s": q.end_s, "score": q.score, "kind": q.kind,
                         "lead": q.lead} for q in self.quality],
            "events": [{"start_s": e.start_s, "end_s": e.end_s, "kind": e.kind, "score": e.score, "level": e.level}
                       for e in self.events],
        }

    def _masked(self) -> list[bool]:
        """Per FHR point: True where signal quality makes it missing (bpm null in JSON)."""
        if not self.quality or not self.fhr:
            return [False] * len(self.fhr)
        from edge.fetal.quality import bad_mask

        bad = bad_mask(self.quality, self.seconds, self.labels, config=self.quality_config)
        idx = np.clip(np.floor([p.t for p in self.fhr]).astype(int), 0, max(bad.size - 1, 0))
        return [bool(b) for b in bad[idx]] if bad.size else [False] * len(self.fhr)


def analyze(rec: LeadRecording, params: BeatParams | None = None, *, quality: bool = True,
            quality_config: Any = None) -> BeatsResult:
    """Run the chain over `rec` in BLOCK_S reads (quality_config: an edge.fetal.quality.QualityConfig, or defaults)."""
    cpu0 = time.process_time()
    tracker = BeatTracker(rec.fs, len(rec.labels), params)
    fhr = FhrTracker(rec.fs)
    monitor = _quality_monitor(rec, quality_config) if quality else None
    size = max(1, round(BLOCK_S * rec.fs))
    if monitor is not None:  # a file is there from its start: its first minutes set the leads' typical values
        monitor.prime(rec.blocks(size))
    maternal: list[np.ndarray] = []
    fetal: list[np.ndarray] = []
    points: list[FhrPoint] = []
    latency: list[float] = []
    q_times: list[np.ndarray] = []
    q_scores: list[np.ndarray] = []
    done = 0
    for block in rec.blocks(size):
        done += block.shape[0]
        last = done >= rec.n_samples
        found = tracker.push(block) + (tracker.finish() if last else [])
        for b in found:
            maternal.append(b.maternal)
            fetal.append(b.fetal)
            new = fhr.push(b.fetal)
            points += new
            latency += [done / rec.fs - p.t for p in new]
        if monitor is not None:
            t, s = monitor.push(block, final=last)
            q_times.append(t)
            q_scores.append(s)
    result = BeatsResult(str(rec.path), rec.fs, rec.labels, rec.seconds, _cat(maternal), _cat(fetal), points,
                         fhr_latency_s=latency, quality_config=quality_config)
    if monitor is not None:
        result.quality = _segments(monitor, rec, q_times, q_scores, result.fetal)
        result.events = _events(result)
    result.cpu_s = time.process_time() - cpu0
    return result


def _events(result: BeatsResult) -> list[Any]:
    """FHR events on the FHR with bad-quality moments missing."""
    from edge.fetal.fhr_events import detect_fhr_events

    t = np.array([p.t for p in result.fhr], dtype=float)
    bpm = np.array([np.nan if m else p.bpm for p, m in zip(result.fhr, result._masked(), strict=True)], dtype=float)
    with warnings.catch_warnings():  # all-missing stretches make empty NaN means there: expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return list(detect_fhr_events(t, bpm, result.seconds))


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


def _quality_monitor(rec: LeadRecording, config: Any = None) -> Any:
    from edge.fetal.quality import QualityMonitor

    return QualityMonitor(rec.fs, rec.labels, config)


def _segments(monitor: Any, rec: LeadRecording, times: list[np.ndarray], scores: list[np.ndarray],
              fetal: np.ndarray) -> list[Any]:
    from edge.fetal.quality import KINDS, SIGNAL_KINDS, low_fetal_scores, segments_from_scores

    t = np.concatenate(times) if times else np.zeros(0)
    s = np.concatenate(scores) if scores else np.zeros((0, len(SIGNAL_KINDS), len(rec.labels)), np.float32)
    full = np.zeros((t.size, len(KINDS), len(rec.labels)), dtype=np.float32)
    full[:, :len(SIGNAL_KINDS)] = s
    hop_s = monitor.hop / rec.fs
    full[:, KINDS.index("low_fetal")] = low_fetal_scores(t, hop_s, fetal / rec.fs, monitor.cfg.low_fetal_max)[:, None]
    return list(segments_from_scores(t, full, rec.labels, hop_s))
