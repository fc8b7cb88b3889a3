"""A stream: blocks in, scores and events out. The same object serves every modality, live or replayed.

Source --Blocks--> RingBuffer --windows--> features (Framing) --> Detector --scores--> Decider --events-->
Each push computes the rows of every window that became complete, in one vectorized call on a
contiguous view of the ring buffer. Holes are filled here, and only here (``contiguous``): a block
that starts after the last sample received leaves the samples in between missing, at their exact
place; a block that overlaps what was received is trimmed. Stages (the fetal stage) get the same
contiguous blocks (``Stream.contiguous``), so they never fill a hole again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edge.detectors.base import Detector
from edge.features.ecg import EcgSpec
from edge.features.spec import FeatureSpec
from edge.pipeline.decider import Decider, Event
from edge.pipeline.framing import framing_for
from edge.pipeline.ringbuffer import RingBuffer
from edge.sources.base import Block, Channels

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle


@dataclass
class StreamOutput:
    """What one push produced: scores (n,) float32, their positions (n,) in samples, events (closed ones, and
    opened and update ones from a live Decider: ``update_every_s``), the scored rows (n, dim); a beat stage adds
    the fetal heart rate: (times (k,) s, bpm (k,)) of its new valid points, and its latest CTG reading (JSON
    types) when it made one."""

    scores: np.ndarray
    starts: np.ndarray
    events: list[Event] = field(default_factory=list)
    fhr: tuple[np.ndarray, np.ndarray] | None = None
    ctg: dict[str, Any] | None = None
    rows: np.ndarray | None = None  # the scored windows' feature rows (n, dim) (a learning period keeps them)


class Stream:
    """Windows one channel per ``spec``, scores with ``detector``, decides with ``decider``.

    ``column`` picks the channel of multi-channel blocks (the wearable sends several leads).
    ``head`` (point series, file replay): the first window also scores its earlier window - 1 points,
    so that every point of a recording has a score (the detector's ``score_head``; NaN without one).
    ``prime`` instead puts context before sample 0 (a KPI bundle's warm-up): the first sample then
    completes a window. Blocks, positions and events stay numbered from the input's sample 0; the
    detector's window index (``first``) counts from the context's start.
    """

    def __init__(self, spec: FeatureSpec | EcgSpec, detector: Detector, decider: Decider, *, column: int = 0,
                 max_span_s: float = 2.0, head: bool = False) -> None:
        self.spec = spec
        self.detector = detector
        self.decider = decider
        self.column = column
        self.head = head
        self.framing = framing_for(spec)
        f = self.framing
        # room for one window plus a span of new windows; longer blocks are fed in pieces
        self._chunk = max(f.hop, round(max_span_s * f.rate))
        self.ring = RingBuffer(f.window + self._chunk + f.hop, dtype=f.dtype)
        self.origin = 0  # ring index of the input's sample 0 (the samples of context before it)
        self.next_window = 0  # ring index where the next uncomputed (base) window starts
        self.windows = 0
        self.skipped_windows = 0  # rows with missing input a detector cannot score: not scored
        self.missing_samples = 0

    @property
    def seconds(self) -> float:
        """Stream time received so far (s)."""
        return (self.ring.end - self.origin) / self.framing.rate

    def prime(self, values: np.ndarray, missing: np.ndarray) -> None:
        """Context (n,) and its missing mask (n,) before the input's sample 0, n < one window (before any push)."""
        if self.ring.end or values.size >= self.framing.window:
            raise ValueError(f"prime {values.size} samples before any push, fewer than one window "
                             f"({self.framing.window})")
        self.ring.write(np.asarray(values, self.framing.dtype), np.asarray(missing, bool))
        self.origin = values.size

    def contiguous(self, block: Block) -> Iterator[Block]:
        """``block`` as consecutive Blocks from the next sample this stream expects (see ``contiguous``)."""
        return contiguous(block, self.ring.end - self.origin, self._chunk)

    def push(self, block: Block) -> StreamOutput:
        """Append a block and score every window it completes."""
        outputs = []
        for part in self.contiguous(block):
            samples = part.samples[:, self.column] if part.samples.ndim == 2 else part.samples
            self.ring.write(samples, part.missing)
            if part.missing is not None:
                self.missing_samples += int(part.missing.sum())
            outputs.append(self.process())
        if len(outputs) == 1:
            return outputs[0]
        scored = [o.rows for o in outputs if o.scores.size]
        rows = [r for r in scored if r is not None]
        return StreamOutput(
            np.concatenate([o.scores for o in outputs]) if outputs else np.empty(0, np.float32),
            np.concatenate([o.starts for o in outputs]) if outputs else np.empty(0, np.int64),
            [e for o in outputs for e in o.events],
            rows=np.concatenate(rows) if rows and len(rows) == len(scored) else None,
        )

    def process(self) -> StreamOutput:
        """Score every window completed by what the ring buffer holds."""
        f = self.framing
        if self.next_window < self.ring.start:  # a gap longer than the buffer: restart on the hop grid
            self.next_window = -(-self.ring.start // f.hop) * f.hop
            f.restart()
        held = self.ring.end - self.next_window
        n = 0 if held < f.window else 1 + (held - f.window) // f.hop
        if n == 0:
            return StreamOutput(np.empty(0, np.float32), np.empty(0, np.int64))
        starts = self.next_window + f.hop * np.arange(n, dtype=np.int64)
        span, gaps = self.ring.view(self.next_window, (n - 1) * f.hop + f.window)
        self.next_window += n * f.hop
        features, missing, starts = f.rows(span[:, 0], gaps, starts)
        head = self._score_head(features, missing, starts) if self.head and self.windows == 0 and starts.size else None
        self.windows += starts.size
        rows_missing: np.ndarray | None = missing
        if not self.detector.handles_missing:
            clean = ~missing.any(axis=1)
            if not clean.all():
                self.skipped_windows += int((~clean).sum())
                features, starts = features[clean], starts[clean]
            rows_missing = None
        first = int(starts[0] // f.hop) if starts.size else 0
        scores = self.detector.score(features, rows_missing, first=first)
        positions = starts + f.score_offset - self.origin
        decided = scores, positions
        if head is not None:
            kept = ~np.isnan(head[0])  # a head its detector cannot score is left out of the decisions
            decided = np.concatenate([head[0][kept], scores]), np.concatenate([head[1][kept], positions])
            scores, positions = np.concatenate([head[0], scores]), np.concatenate([head[1], positions])
        rows = features if head is None else None  # one row per decided window: the events can say where
        events = self.decider.update(decided[0], decided[1] / f.rate, f.score_span / f.rate, rows)
        return StreamOutput(scores, positions, events, rows=rows)

    def _score_head(self, features: np.ndarray, missing: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
        """Scores (window - 1,) float32 and positions (window - 1,) of the points before the first window's last."""
        f = self.framing
        n = f.score_offset // f.hop  # the first window's points before its last one
        score_head = getattr(self.detector, "score_head", None)  # Donut reconstructs every point of a window
        scores = (score_head(features[0], missing[0])[:-1] if score_head is not None
                  else np.full(n, np.nan, np.float32))
        return np.asarray(scores, np.float32), starts[0] - self.origin + f.hop * np.arange(n, dtype=np.int64)

    def finish(self) -> list[Event]:
        """Close any open event at the end of the input (or at shutdown, or before a reload)."""
        return self.decider.flush()


def contiguous(block: Block, end: int, chunk: int) -> Iterator[Block]:
    """``block`` as consecutive Blocks of at most ``chunk`` samples from absolute sample ``end`` on: the
    samples a source never delivered before it (a hole) first, as missing samples (value 0, missing mask
    True, every channel), then the block without what came before ``end`` (an overlap).

    The one place a hole becomes missing samples: the Stream's ring buffer and the stages see the same."""
    samples, missing = block.samples, block.missing
    hole = block.start - end
    if hole < 0:  # overlap with what was already taken
        samples, missing = samples[-hole:], None if missing is None else missing[-hole:]
    while hole > 0:
        n = min(hole, chunk)
        # a read-only view of zeros: a long hole allocates nothing per sample
        zeros = np.broadcast_to(np.zeros((1, *samples.shape[1:]), samples.dtype), (n, *samples.shape[1:]))
        yield Block(end, zeros, np.ones(n, bool))
        end, hole = end + n, hole - n
    for i in range(0, samples.shape[0], chunk):
        yield Block(end + i, samples[i : i + chunk], None if missing is None else missing[i : i + chunk])


class Stage(Protocol):
    """A further analysis of a stream's blocks beside its Stream (a fetal-beat stage on ECG): it is pushed
    the Stream's contiguous blocks (``Stream.contiguous``: holes already missing samples); its events go to
    the same sinks, naming ``model_sha256`` (64 hex digits) and ``detector`` (or each Event its own).
    ``push`` returns no scores (empty arrays): events, and an ECG stage's new FHR points. ``open`` comes
    first, once the source's first block came: what its columns are."""

    detector: str
    model_sha256: str

    def open(self, channels: Channels) -> None: ...

    def push(self, block: Block) -> StreamOutput: ...

    def finish(self) -> list[Event]: ...


_STAGES: dict[str, list[Callable[[Bundle], Stage | None]]] = {}
# modules that register stages, imported on the first stages_for (e.g. "edge.fetal.stage")
STAGE_MODULES: tuple[str, ...] = ("edge.fetal.stage",)


def register_stage(modality: str) -> Callable[[Callable[[Bundle], Stage | None]], Callable[[Bundle], Stage | None]]:
    """Decorator for a factory ``f(bundle) -> Stage | None``, run for every stream of that modality
    (None: no stage for this bundle). The service pushes each block to the stage after the Stream."""

    def add(factory: Callable[[Bundle], Stage | None]) -> Callable[[Bundle], Stage | None]:
        _STAGES.setdefault(modality, []).append(factory)
        return factory

    return add


def stages_for(bundle: Bundle) -> list[Stage]:
    """The stages registered for the bundle's modality, built for this bundle."""
    for module in STAGE_MODULES:
        importlib.import_module(module)  # cached after the first time
    return [s for factory in _STAGES.get(bundle.modality, []) if (s := factory(bundle)) is not None]
