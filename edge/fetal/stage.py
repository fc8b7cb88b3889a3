"""The fetal stage of ECG streams (registered with ``edge.pipeline.stream.register_stage``): beside the
stream's own detector (Donut on one lead), the abdominal leads of every block go through the fetal
chain (edge.fetal.chain: beats, FHR, signal quality and their decisions, as `vigil beats` runs it).
Its events name their kind as the detector (``fetal-flatline``, ``fetal-deceleration``,
``fetal-prolonged_deceleration``, ``fetal-bradycardia``, ...: quality and the CTG rules); its
thresholds are the bundle's (manifest ``fetal`` table, FetalSettings). A stream whose source names no
abdominal column (a scalp lead alone) gets no fetal events.

Blocks come from the Stream (Stream.contiguous): consecutive, with lost samples marked missing; the
source's Channels say which columns are abdominal leads (``open``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.bundle.manifest_parts import FetalSettings
from edge.fetal.chain import FetalChain
from edge.io.multilead import ABDOMINAL_PREFIXES
from edge.pipeline.decider import Event
from edge.pipeline.stream import StreamOutput, register_stage
from edge.sources.base import Block, Channels


class FetalStage:
    """One stream's fetal chain over the abdominal columns (``Abdomen_*``) of its blocks' leads."""

    detector = "fetal"

    def __init__(self, model_sha256: str, rate: float, settings: FetalSettings | None = None) -> None:
        self.model_sha256 = model_sha256  # the stream's bundle: the events' provenance
        self.rate = rate
        self.settings = settings or FetalSettings()
        self.chain: FetalChain | None = None
        self.columns: list[int] = []

    def open(self, channels: Channels) -> None:
        """The source's columns: the abdominal ones (µV) go to the chain; a file primes its quality first."""
        self.columns = [i for i, name in enumerate(channels.labels) if name.lower().startswith(ABDOMINAL_PREFIXES)]
        self.chain = None
        if self.columns:
            self.chain = FetalChain(self.rate, [channels.labels[c] for c in self.columns], settings=self.settings)
            if channels.rewind is not None:  # a file: its start primes quality, as `vigil beats` does
                self.chain.prime(np.asarray(b)[:, self.columns] for b in channels.rewind())

    def push(self, block: Block) -> StreamOutput:
        """A contiguous block (n, channels), missing (n,) -> the events closed, the new valid FHR points and the
        CTG reading when the chain made one (the page's, without its per-period table)."""
        if self.chain is None:
            return StreamOutput(np.empty(0, np.float32), np.empty(0, np.int64))
        x = np.array(block.samples[:, self.columns], dtype=np.float64)
        if block.missing is not None:
            x[block.missing] = np.nan
        out = self.chain.push(x)
        valid = [(p.t, p.bpm) for p, m in zip(out.fhr, out.masked, strict=True) if not m]
        fhr = None
        if valid:  # valid points only: the ones quality masked are gaps in the page's trace
            fhr = (np.array([t for t, _ in valid]), np.array([b for _, b in valid]))
        ctg = None
        if out.ctg is not None:
            ctg = out.ctg.to_json()
            ctg.pop("periods")
        return StreamOutput(np.empty(0, np.float32), np.empty(0, np.int64), out.events, fhr, ctg)

    def finish(self) -> list[Event]:
        return [] if self.chain is None else self.chain.finish().events


@register_stage("ecg")
def fetal_stage(bundle: Any) -> FetalStage:
    return FetalStage(bundle.variant(None).sha256, float(bundle.ecg_spec.fs), bundle.manifest.fetal)
