"""A whole recording through the fetal chain, block by block: beats, FHR, quality, FHR events, and the CTG
reading of the whole FHR (edge.fetal.ctg) at the end.

The one orchestration a live ECG stream's fetal stage runs (edge.fetal.chain.FetalChain) is fed the
recording's blocks in order, so `vigil beats` reports what the gateway would have found and decided,
and memory is bounded by one block and the outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.bundle.manifest_parts import FetalSettings
from edge.fetal.beat_tracker import BeatParams
from edge.fetal.chain import FetalChain
from edge.fetal.ctg import CtgReading, ctg_reading
from edge.fetal.fhr import FhrPoint
from edge.fetal.fhr_events import FhrEvent
from edge.fetal.quality import QualityConfig, QualitySegment
from edge.fetal.quality_segments import segments_from_scores
from edge.io.multilead import LeadRecording

BLOCK_S = 1.0  # read size: what a live source would deliver in about a second


@dataclass
class BeatsResult:
    """A recording's beats (sample indices), FHR points with ``masked`` (True: bad quality there, the point
    missing), quality segments (per lead and overall, score >= QualityConfig.segment_min_score), FHR events and
    the CTG reading (None only before the analysis has run)."""

    file: str
    fs: float
    labels: tuple[str, ...]
    seconds: float
    maternal: np.ndarray
    fetal: np.ndarray
    fhr: list[FhrPoint]
    masked: list[bool] = field(default_factory=list)
    quality: list[QualitySegment] = field(default_factory=list)
    events: list[FhrEvent] = field(default_factory=list)
    cpu_s: float = 0.0
    fhr_latency_s: list[float] = field(default_factory=list)  # beat time -> its FHR point, stream time
    ctg: CtgReading | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file, "fs": self.fs,
            "fetal_peaks": self.fetal.tolist(), "maternal_peaks": self.maternal.tolist(),
            "fhr": [{"t": p.t, "bpm": None if m else p.bpm} for p, m in zip(self.fhr, self._masked(), strict=True)],
            "quality": [{"start_s": q.start_s, "end_s": q.end_s, "score": q.score, "kind": q.kind,
                         "lead": q.lead} for q in self.quality],
            "events": [{"start_s": e.start_s, "end_s": e.end_s, "kind": e.kind, "score": e.score, "level": e.level}
                       for e in self.events],
            "ctg": None if self.ctg is None else self.ctg.to_json(),
        }

    def _masked(self) -> list[bool]:
        """Per FHR point: True where signal quality makes it missing (bpm null in JSON)."""
        return self.masked or [False] * len(self.fhr)


def analyze(rec: LeadRecording, params: BeatParams | None = None, *, quality: bool = True,
            quality_config: QualityConfig | None = None, settings: FetalSettings | None = None) -> BeatsResult:
    """Run the chain over `rec` in BLOCK_S reads (quality_config, settings: the defaults if None)."""
    cpu0 = time.process_time()
    chain = FetalChain(rec.fs, rec.labels, params, settings, quality=quality, quality_config=quality_config)
    size = max(1, round(BLOCK_S * rec.fs))
    if quality:  # a file is there from its start: its first minutes set the leads' typical values
        chain.prime(rec.blocks(size))
    maternal: list[np.ndarray] = []
    fetal: list[np.ndarray] = []
    result = BeatsResult(str(rec.path), rec.fs, rec.labels, rec.seconds, np.empty(0), np.empty(0), [])
    q_times: list[np.ndarray] = []
    q_scores: list[np.ndarray] = []
    done = 0
    for block in rec.blocks(size):
        done += block.shape[0]
        out = chain.push(block, final=done >= rec.n_samples)  # the last block closes everything
        maternal.append(out.maternal)
        fetal.append(out.fetal)
        result.fhr += out.fhr
        result.masked += out.masked
        result.fhr_latency_s += [done / rec.fs - p.t for p in out.fhr]
        result.events += out.fhr_events
        if out.frame_scores is not None:
            q_times.append(out.frame_times)
            q_scores.append(out.frame_scores)
    result.maternal, result.fetal = _cat(maternal), _cat(fetal)
    t = np.array([p.t for p in result.fhr], dtype=float)
    bpm = np.array([np.nan if m else p.bpm for p, m in zip(result.fhr, result._masked(), strict=True)], dtype=float)
    result.ctg = ctg_reading(t, bpm, rec.seconds, chain.ctg_config)
    if q_times:
        result.quality = segments_from_scores(np.concatenate(q_times), np.concatenate(q_scores), rec.labels,
                                              chain.hop_s, quality_config)
    result.cpu_s = time.process_time() - cpu0
    return result


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)
