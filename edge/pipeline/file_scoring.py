"""Score recorded audio files on the gateway code path: recording -> stream -> detector -> decider."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.detectors.base import Detector
from edge.errors import InputFileError
from edge.pipeline.assembly import build_stream, replay
from edge.pipeline.decider import Event
from edge.sources.file import WavRecording
from edge.text import plural


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

    def summary(self) -> str:
        """One line: the decision, clip score against its threshold, windows and events counted."""
        verdict = "ANOMALY" if self.anomalous else "normal"
        return (f"{self.file}: {verdict} (clip score {self.clip_score:.4f}, threshold {self.threshold:.4f}; "
                f"{plural(len(self.window_scores), 'window')}, {plural(len(self.events), 'event')})")

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
            "events": [e.to_json() for e in self.events],
        }


def open_wav(bundle: Bundle, path: str | Path, *, channel: int | None = None) -> WavRecording:
    """A WAV at the bundle's sample rate, refusing a clip shorter than one window."""
    recording = WavRecording(path, sr=bundle.spec.sr, channel=channel)
    need = bundle.spec.window_samples
    if recording.frames < need:
        raise InputFileError(
            f"{path}: {recording.seconds:.3f} s of audio is shorter than one analysis window "
            f"({need / bundle.spec.sr:.3f} s for feature set {bundle.spec.set!r})"
        )
    return recording


def score_file(bundle: Bundle, detector: Detector, path: str | Path, *, channel: int | None = None) -> ClipScore:
    """Replay a WAV as fast as possible through a fresh stream; collect every window score and event."""
    recording = open_wav(bundle, path, channel=channel)
    replayed = replay(build_stream(bundle, detector), recording.blocks())
    variant = bundle.variant(detector.variant)
    return ClipScore(
        file=str(path), seconds=recording.seconds, window_scores=replayed.scores,
        window_starts_s=replayed.positions / bundle.spec.sr,
        clip_score=float(replayed.scores.mean()), threshold=variant.clip_threshold,
        window_threshold=variant.window_threshold, events=replayed.events,
    )
