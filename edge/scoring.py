"""Score recorded files on the gateway code path: file source -> stream -> detector -> decider."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import Bundle
from edge.decider import Decider, Event
from edge.detector import Detector
from edge.errors import InputFileError
from edge.sources import WavFileSource
from edge.stream import Stream


@dataclass
class ClipScore:
    """A file's window scores (n,) and starts (n,) in s, clip score (mean) and decision."""

    file: str
    seconds: float
    window_scores: np.ndarray
    window_starts_s: np.ndarray
    clip_score: float
    threshold: float
    window_threshold: float
    events: list[Event] = field(default_factory=list)

    @property
    def anomalous(self) -> bool:
        return self.clip_score > self.threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "seconds": round(self.seconds, 4),
            "clip_score": self.clip_score,
            "threshold": self.threshold,
            "decision": "anomaly" if self.anomalous else "normal",
            "window_threshold": self.window_threshold,
            "window_scores": [round(s, 6) for s in self.window_scores.tolist()],
            "window_starts_s": [round(s, 4) for s in self.window_starts_s.tolist()],
            "events": [vars(e) for e in self.events],
        }


def make_stream(bundle: Bundle, detector: Detector) -> Stream:
    decider_cfg = bundle.manifest.get("decider", {})
    decider = Decider(detector.window_threshold, on_windows=int(decider_cfg.get("on_windows", 3)),
                      off_windows=int(decider_cfg.get("off_windows", 3)))
    return Stream(bundle.spec, detector, decider)


def open_source(bundle: Bundle, path: str | Path, *, channel: int | None = None, realtime: bool = False,
                ) -> WavFileSource:
    """A file source at the bundle's sample rate, refusing a clip shorter than one window."""
    source = WavFileSource(path, sr=bundle.spec.sr, channel=channel, realtime=realtime)
    need = bundle.spec.window_samples
    if source.n_samples < need:
        raise InputFileError(
            f"{path}: {source.seconds:.3f} s of audio is shorter than one analysis window "
            f"({need / bundle.spec.sr:.3f} s for feature set {bundle.spec.set!r})"
        )
    return source


def score_file(bundle: Bundle, detector: Detector, path: str | Path, *, channel: int | None = None) -> ClipScore:
    """Replay a WAV as fast as possible through a fresh stream; collect every window score and event."""
    source = open_source(bundle, path, channel=channel)
    stream = make_stream(bundle, detector)
    scores, starts, events = [], [], []
    for block in source.blocks():
        out = stream.push(block)
        scores.append(out.scores)
        starts.append(out.starts)
        events.extend(out.events)
    events.extend(stream.finish())
    window_scores = np.concatenate(scores)
    return ClipScore(
        file=str(path), seconds=source.seconds, window_scores=window_scores,
        window_starts_s=np.concatenate(starts) / bundle.spec.sr,
        clip_score=float(window_scores.mean()), threshold=detector.clip_threshold,
        window_threshold=detector.window_threshold, events=events,
    )
