"""Pipeline assembly: the one place where a bundle becomes a stream's chain, and where blocks are replayed.

Source --Blocks--> Stream (ring buffer, the bundle's framing, its Detector, the Decider of the detector's
variant) [--> the stages of its modality]. `vigil run` assembles one per configured stream and feeds it
from its Source; `vigil score`, `bench`, `calibrate` and `vigil train ... evaluate` assemble one per
recording and replay the recording's blocks through it, so a file is scored by the code that scores a
live input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.detectors.base import Detector, load_detector
from edge.features.ecg import EcgSpec
from edge.features.spec import FeatureSpec
from edge.pipeline.decider import Attribute, Decider, Event
from edge.pipeline.stream import Stage, Stream, stages_for
from edge.sources.base import Block


def attribution_of(detector: Detector) -> Attribute | None:
    """The detector's attribution where its kind has one (the fused detector): the Decider then keeps each
    event's peak row for it; other streams keep no row."""
    return detector.attribution if type(detector).attribution is not Detector.attribution else None


def build_stream(bundle: Bundle, detector: Detector, *, spec: FeatureSpec | EcgSpec | None = None, column: int = 0,
                 head: bool = False, max_span_s: float = 2.0) -> Stream:
    """The Stream of a bundle: its framing (or ``spec``'s), this detector, the Decider of the detector's variant.

    ``head`` scores a point series' first window - 1 points too (file replay); ``max_span_s`` (s) bounds
    what one push computes at once (the ring buffer holds one window plus that span).
    """
    decider = Decider.from_bundle(bundle, detector.variant)
    window_spec = spec or bundle.window_spec
    decider.explain = bundle.input_modality.explainer(bundle, window_spec)  # machine sound: the bands
    decider.attribute = attribution_of(detector)
    return Stream(window_spec, detector, decider, column=column, head=head, max_span_s=max_span_s)


def rebind(stream: Stream, bundle: Bundle, detector: Detector) -> None:
    """Score a running stream with another version of its bundle (the same features: a learned version): its
    detector and that variant's Decider; the ring buffer, window count and positions go on."""
    decider = Decider.from_bundle(bundle, detector.variant)
    decider.explain = bundle.input_modality.explainer(bundle, stream.spec)
    decider.attribute = attribution_of(detector)
    decider.update_every_s = stream.decider.update_every_s
    stream.detector, stream.decider = detector, decider


@dataclass
class Pipeline:
    """What runs for one input: the stream and the further stages of the bundle's modality (fetal beats)."""

    bundle: Bundle
    detector: Detector
    stream: Stream
    stages: list[Stage] = field(default_factory=list)


def assemble(bundle: Bundle, variant: str | None = None, **detector_options: Any) -> Pipeline:
    """The live pipeline of a bundle variant (the bundle's default if None), stages included."""
    detector = load_detector(bundle, variant, **detector_options)
    return Pipeline(bundle, detector, build_stream(bundle, detector), stages_for(bundle))


def warmup_for(bundle: Bundle, first_timestamp: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The bundle's stored training tail (values, missing) (window - 1,) if an input whose sample 0 is at
    Unix time ``first_timestamp`` (s) continues the training series (one interval after its end), else None."""
    warm = bundle.manifest.warmup
    if not warm or first_timestamp is None or first_timestamp != warm.next_timestamp:
        return None
    return np.asarray(warm.values, dtype=np.float64), np.asarray(warm.missing, dtype=bool)


def start_series(stream: Stream, bundle: Bundle, first_timestamp: int | None) -> bool:
    """Start a stream of a bundle carrying a warm-up (KPI) as `vigil score` starts a file, live or replayed:
    primed with the warm-up when the input continues the training series, so that its first point is
    scored at once; otherwise the first window also scores its earlier points (``head``). A bundle without
    a warm-up keeps the stream as built. True if primed."""
    context = warmup_for(bundle, first_timestamp)
    if context is not None:
        stream.prime(*context)
        stream.head = False
        return True
    if bundle.manifest.warmup is not None:
        stream.head = True
    return False


@dataclass
class Replayed:
    """A replay's scores (n,) float32 at positions (n,) int64 in samples, its events, and the windows scored."""

    scores: np.ndarray
    positions: np.ndarray
    events: list[Event]
    windows: int


def replay(stream: Stream, blocks: Iterable[Block]) -> Replayed:
    """Push every block through the stream as fast as possible, then close its open event."""
    scores, positions, events = [np.empty(0, np.float32)], [np.empty(0, np.int64)], []
    for block in blocks:
        out = stream.push(block)
        scores.append(out.scores)
        positions.append(out.starts)
        events.extend(out.events)
    events.extend(stream.finish())
    return Replayed(np.concatenate(scores), np.concatenate(positions), events, stream.windows)
