"""A configured stream made ready to run: its bundle loaded and verified, its source checked, its pipeline
built (``prepare``), and what the service keeps of it while it runs (``Runner``)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.bundle.loader import Bundle, load_bundle
from edge.errors import ConfigError, VigilError
from edge.learn.learner import Learner
from edge.pipeline.assembly import assemble
from edge.pipeline.stream import Stage, Stream
from edge.pipeline.stream_state import StreamState
from edge.service.config import ServiceConfig, StreamConfig
from edge.sources.base import Source, needs_of, open_source, source_kinds


@dataclass
class Runner:
    """One configured stream: its bundle, source, pipeline and state."""

    config: StreamConfig
    bundle: Bundle
    source: Source
    stream: Stream
    state: StreamState
    stages: list[Stage] = field(default_factory=list)  # further analyses of the same blocks
    task: asyncio.Task[None] | None = None
    crashed: bool = False  # ended by an unexpected exception (a bug, not a stated reason)
    open_ids: dict[tuple[str, float], str] = field(default_factory=dict)  # (detector, start_s) -> its event_id
    learner: Learner | None = None  # a learning period still running (the config's ``learn``)


def prepare(config: StreamConfig, *, check_source: bool = True, update_every_s: float | None = None,
            state_dir: Path | None = None) -> Runner:
    """Load and verify a stream's bundle, check that its source can feed it, build its pipeline (raises a
    ConfigError naming the stream's key, e.g. ``streams[0].bundle``, and the value). check_source=False
    for a stream that runs unchanged (a reload): its source is known to work, and a recording it holds
    open may not be opened twice (pyedflib opens an EDF once per process). ``update_every_s``: the Decider
    also reports its open event, opened and then at most once per this many stream seconds (Decider).
    A stream with ``learn`` resumes its learning period from ``state_dir`` (none once it was learned)."""
    where = config.where
    try:
        bundle = load_bundle(config.bundle)
        pipeline = assemble(bundle, config.variant)
        pipeline.stream.decider.update_every_s = update_every_s
        variant = bundle.variant(config.variant)
    except VigilError as exc:  # its message names the bundle's file
        raise ConfigError(f"{where}.bundle: {exc}") from None
    needs = needs_of(bundle)
    if check_source:
        source_kinds()[config.kind].check(config.source, needs, where)
    state = StreamState(config.name, config.kind, bundle.modality, bundle.detector_kind, variant.name,
                        variant.window_threshold, model=f"{bundle.name} {variant.name} {variant.sha256[:12]}",
                        bundle=bundle.name, model_sha256=variant.sha256,
                        signal_unit=needs.unit or bundle.input_modality.raw_unit,
                        reliability=reliability_of(bundle.manifest.reliability),
                        bundle_created=str(bundle.manifest.provenance.get("created") or "") or None)
    learner = None
    if config.learn_s is not None and state_dir is not None:
        try:
            learner = Learner.open(state_dir, config.name, bundle, config.learn_s)
        except ValueError as exc:
            raise ConfigError(f"{where}.learn: {exc}") from None
    if learner is not None:
        pipeline.stream.decider.threshold = math.inf  # learning: scored and shown, never an event
        state.learning = learner.progress(0.0)
    return Runner(config, bundle, open_source(config.kind, config.source, needs), pipeline.stream, state,
                  pipeline.stages, learner=learner)


def reliability_of(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a manifest's ``reliability`` the gateway shows: the estimate (0-1) and the advice."""
    if not isinstance(entry.get("estimate"), int | float):
        return None
    return {"estimate": float(entry["estimate"]), "advice": str(entry.get("advice", ""))}


def prepare_all(config: ServiceConfig, running: Sequence[StreamConfig] = ()) -> dict[str, Runner]:
    """Every stream's Runner, or a ConfigError naming the config file first; ``running``: the configs of the
    streams running now, whose sources are not checked again."""
    try:
        return {s.name: prepare(s, check_source=s not in running, update_every_s=config.event_update_s,
                                state_dir=config.state_dir) for s in config.streams}
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: {exc}" if config.source else str(exc)) from None
