"""A stream: blocks in, window scores and events out. The same object serves live input and replay.

Source --blocks--> RingBuffer --windows--> features --> Detector --scores--> Decider --events-->
Each push computes the features of every window that became complete, in one vectorized call
on a contiguous view of the ring buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edge.decider import Decider, Event
from edge.detector import Detector
from edge.features.audio import frames
from edge.features.spec import FeatureSpec, features_of_sequences
from edge.ringbuffer import RingBuffer
from edge.sources import Block


@dataclass
class StreamOutput:
    """What one push produced: scores (n,) float32, window starts (n,) in samples, closed events."""

    scores: np.ndarray
    starts: np.ndarray
    events: list[Event] = field(default_factory=list)


class Stream:
    """Windows a mono stream per ``spec``, scores with ``detector``, decides with ``decider``."""

    def __init__(self, spec: FeatureSpec, detector: Detector, decider: Decider, *, max_span_s: float = 2.0) -> None:
        self.spec = spec
        self.detector = detector
        self.decider = decider
        # Sequence specs (the LSTM's 10 windows) are built from per-window features computed once
        # each: the last sequence - 1 rows are kept, not recomputed for every new sequence.
        self._base = replace(spec, sequence=1)
        self._history = np.empty((0, self._base.dim), dtype=np.float32)
        self._history_clean = np.empty(0, dtype=bool)
        self._history_starts = np.empty(0, dtype=np.int64)
        # room for one window plus a span of new windows; longer blocks are fed in pieces
        self._chunk = max(spec.hop_samples, round(max_span_s * spec.sr))
        self.ring = RingBuffer(self._base.window_samples + self._chunk + spec.hop_samples)
        self.next_window = 0  # absolute sample index where the next uncomputed (base) window starts
        self.windows = 0
        self.skipped_windows = 0  # windows that held missing samples: not scored

    def push(self, block: Block) -> StreamOutput:
        """Append a block (samples (n, 1)) and score every window it completes."""
        outputs = [
            self._push(block.samples[i : i + self._chunk],
                       None if block.missing is None else block.missing[i : i + self._chunk])
            for i in range(0, block.samples.shape[0], self._chunk)
        ]
        if len(outputs) == 1:
            return outputs[0]
        return StreamOutput(
            np.concatenate([o.scores for o in outputs]), np.concatenate([o.starts for o in outputs]),
            [e for o in outputs for e in o.events],
        )

    def _new_base_windows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features (n, base dim), starts (n,) and clean flags (n,) of the base windows now complete."""
        win, hop = self._base.window_samples, self._base.hop_samples
        if self.next_window < self.ring.start:  # a gap longer than the buffer: restart the sequence
            self.next_window = self.ring.start
            self._history = self._history[:0]
        n = self._base.n_windows(self.ring.end - self.next_window)
        starts = self.next_window + hop * np.arange(n, dtype=np.int64)
        if n == 0:
            return np.empty((0, self._base.dim), np.float32), starts, np.empty(0, bool)
        span, gaps = self.ring.view(self.next_window, (n - 1) * hop + win)
        self.next_window += n * hop
        features = self._base.compute(span[:, 0])
        gap_cum = np.concatenate([[0], np.cumsum(gaps)])
        offsets = starts - starts[0]
        clean = gap_cum[offsets + win] == gap_cum[offsets]  # windows touching a missing sample are not scored
        return features, starts, clean

    def _push(self, samples: np.ndarray, missing: np.ndarray | None) -> StreamOutput:
        self.ring.write(samples, missing)
        return self.process()

    def process(self) -> StreamOutput:
        """Score every window completed by what the ring buffer holds (a microphone writes into the
        ring from its own thread; the service calls this from its loop)."""
        features, starts, clean = self._new_base_windows()
        seq = self.spec.sequence
        if seq > 1:
            features = np.concatenate([self._history, features])
            starts = np.concatenate([self._history_starts, starts])
            clean = np.concatenate([self._history_clean, clean])
            keep = max(0, features.shape[0] - (seq - 1))
            self._history, self._history_starts, self._history_clean = features[keep:], starts[keep:], clean[keep:]
            n = max(0, features.shape[0] - seq + 1)
            features = features_of_sequences(features, seq)
            clean = np.asarray(frames(clean, seq, 1).all(axis=-1)) if n else clean[:0]
            starts = starts[:n]
        self.windows += starts.size
        if not clean.all():
            self.skipped_windows += int((~clean).sum())
            features, starts = features[clean], starts[clean]
        scores = self.detector.score(features)
        events = self.decider.update(scores, starts / self.spec.sr, self.spec.window_samples / self.spec.sr)
        return StreamOutput(scores, starts, events)

    def finish(self) -> list[Event]:
        """Close any open event at the end of the input."""
        return self.decider.flush()
