"""The fetal stage of ECG streams (registered with ``edge.pipeline.stream.register_stage``): beside the
stream's own detector (Donut on one lead), every block's abdominal leads go through the live fetal
chain (``edge.fetal.live``): beats, FHR, signal quality and FHR events. Its events name their kind as
the detector (``fetal-flatline``, ``fetal-deceleration``, ...). A stream whose blocks carry no
abdominal lead (a scalp lead alone) gets no fetal events.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.fetal.live import FetalTap, NamedEvent
from edge.pipeline.decider import Event
from edge.pipeline.stream import StreamOutput, register_stage
from edge.sources.base import Block


class FetalStage:
    detector = "fetal"

    def __init__(self, model_sha256: str, rate: float) -> None:
        self.model_sha256 = model_sha256  # the stream's bundle: the events' provenance
        self.rate = rate
        self.tap: FetalTap | None = None
        self._checked = False

    def push(self, block: Block) -> StreamOutput:
        events: list[Event] = []
        fhr = None
        if not self._checked and block.leads is not None:
            self.tap = FetalTap.for_labels(block.labels, self.rate)
            self._checked = True
            if self.tap is not None and block.rewind is not None:  # a file: its start primes quality
                self.tap.prime(block.rewind())
        if self.tap is not None and block.leads is not None:
            events = [NamedEvent(e.start_s, e.end_s, e.peak_score, e.threshold, e.windows, name)
                      for name, e in self.tap.push(block.start, block.leads, block.missing)]
            points = self.tap.new_fhr
            if points:  # valid points only: the ones quality masked are gaps in the page's trace
                fhr = (np.array([t for t, _ in points]), np.array([b for _, b in points]))
        return StreamOutput(np.empty(0, np.float32), np.empty(0, np.int64), events, fhr)

    def finish(self) -> list[Event]:
        if self.tap is None:
            return []
        return [NamedEvent(e.start_s, e.end_s, e.peak_score, e.threshold, e.windows, name)
                for name, e in self.tap.finish()]


@register_stage("ecg")
def fetal_stage(bundle: Any) -> FetalStage:
    return FetalStage(bundle.variant(None).sha256, float(bundle.ecg_spec.fs))
