"""The live fetal path in tests: samples sent in blocks, some never sent (lost over the link), through the
Stream's hole filling (edge.pipeline.stream.contiguous) into the fetal chain, as `vigil run` feeds its stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.bundle.manifest_parts import FetalSettings
from edge.fetal.chain import FetalChain, FetalOutput
from edge.fetal.fhr import FhrPoint
from edge.fetal.quality import KINDS
from edge.pipeline.decider import Event
from edge.pipeline.stream import contiguous
from edge.sources.base import Block

LABELS = ("Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4")
# an event for every kind after 0.5 s over the threshold (the defaults wait 10 s, flatline, clipping, motion and
# low_fetal only): the tests of what the scores flag, with faults of a few seconds
SHORT_EVENTS = FetalSettings(quality_on_frames=5, quality_off_frames=10, quality_event_kinds=KINDS,
                             quality_gap_frames=0)


@dataclass
class Collected:
    fetal: list[int] = field(default_factory=list)
    fhr: list[FhrPoint] = field(default_factory=list)
    masked: list[bool] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def add(self, out: FetalOutput) -> None:
        self.fetal += out.fetal.tolist()
        self.fhr += out.fhr
        self.masked += out.masked
        self.events += out.events

    def kind(self, name: str) -> list[Event]:
        return [e for e in self.events if e.detector == f"fetal-{name}"]

    def masked_between(self, a: float, b: float) -> list[bool]:
        return [m for p, m in zip(self.fhr, self.masked, strict=True) if a <= p.t <= b]


def run_chain(x: np.ndarray, step: int, lost: Callable[[int], bool] = lambda start: False,
              chain: FetalChain | None = None) -> Collected:
    """x (n, leads) µV sent in blocks of `step` samples from 0 (those whose start is `lost` never arrive), through
    `chain` (by default one deciding with SHORT_EVENTS)."""
    chain = chain or FetalChain(1000.0, LABELS[: x.shape[1]], settings=SHORT_EVENTS)
    got, end = Collected(), 0
    for start in range(0, x.shape[0], step):
        if lost(start):
            continue
        for part in contiguous(Block(start, x[start : start + step]), end, 2000):
            y = np.array(part.samples, dtype=np.float64)
            if part.missing is not None:
                y[part.missing] = np.nan
            got.add(chain.push(y))
            end = part.start + part.samples.shape[0]
    got.add(chain.finish())
    return got
