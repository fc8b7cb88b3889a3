"""A stream: blocks in, window scores and events out. The same object serves live input and replay.

Source --blocks--> RingBuffer --windows--> features --> Detector --scores--> Decider --events-->
Each push computes the features of every window that became complete, in one vectorized call
on a contiguous view of the ring buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.decider import Decider, Event
from edge.detector import Detector
from edge.features.spec import FeatureSpec
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
        # room for one window plus a span of new windows; longer blocks are fed in pieces
        self._chunk = max(spec.hop_samples, round(max_span_s * spec.sr))
        self.ring = RingBuffer(spec.window_samples + self._chunk + spec.hop_samples)
        self.next_window = 0  # absolute sample index where the next unscored window starts
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

    def _push(self, samples: np.ndarray, missing: np.ndarray | None) -> StreamOutput:
        self.ring.write(samples, missing)
        win, hop = self.spec.window_samples, self.spec.hop_samples
        self.next_window = max(self.next_window, self.ring.start)
        n = self.spec.n_windows(self.ring.end - self.next_window)
        if n == 0:
            return StreamOutput(np.empty(0, np.float32), np.empty(0, np.int64))
        span, gaps = self.ring.view(self.next_window, (n - 1) * hop + win)
        starts = self.next_window + hop * np.arange(n, dtype=np.int64)
        self.next_window += n * hop
        self.windows += n
        features = self.spec.compute(span[:, 0])
        if gaps.any():  # windows touching a missing sample are not scored
            gap_cum = np.concatenate([[0], np.cumsum(gaps)])
            offsets = starts - starts[0]
            clean = gap_cum[offsets + win] == gap_cum[offsets]
            self.skipped_windows += int(n - clean.sum())
            features, starts = features[clean], starts[clean]
        scores = self.detector.score(features)
        events = self.decider.update(scores, starts / self.spec.sr, win / self.spec.sr)
        return StreamOutput(scores, starts, events)

    def finish(self) -> list[Event]:
        """Close any open event at the end of the input."""
        return self.decider.flush()
