"""A running stream's learning period: its windows into the learn store, then the learned version in place.

``Learner.open`` (at `vigil run` and reload) finds the stream's store under STATE_DIR/learn/STREAM and
resumes it; a period already learned for this bundle is not learned again (after a rollback too: the
user chose that version). While it learns, the stream's Decider has an infinite threshold (no event)
and ``progress`` says how far it is. ``take`` adds each push's rows; once the period's seconds are
heard, ``finish`` (run off the event loop) refits, writes the new version beside the bundle in a
staging folder and switches it in (``versions.switch``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle, load_bundle
from edge.detectors.base import load_detector
from edge.learn.learned_bundle import check_learnable, write_learned
from edge.learn.refit import MIN_WINDOWS
from edge.learn.store import STATE, FeatureStore
from edge.learn.versions import next_version, switch
from edge.outputs import as_mkdir
from edge.pipeline.assembly import rebind
from edge.pipeline.stream import Stream
from edge.pipeline.stream_state import StreamState

log = logging.getLogger("vigil.learn")

MAX_ROWS = 20000  # 20000 x 256 float32 = 20 MB on disk and at most that in memory while thinning or refitting


class Learner:
    """One stream's learning period of ``total_s`` seconds on ``bundle``, its rows in ``store``."""

    def __init__(self, stream: str, bundle: Bundle, store: FeatureStore, total_s: float) -> None:
        self.stream, self.bundle, self.store, self.total_s = stream, bundle, store, total_s
        self._start_s = store.learned_s  # learned before this process: stream time 0 continues from here

    @classmethod
    def open(cls, state_dir: Path, stream: str, bundle: Bundle, total_s: float) -> Learner | None:
        """The stream's learner, resumed from its store; None when this bundle is a learned period's result or
        its period was learned already. ValueError when the bundle cannot learn (check_learnable)."""
        check_learnable(bundle)
        sha = bundle.variant().sha256
        dim = int(bundle.manifest.mean.shape[0])
        spec = bundle.spec
        cap = min(MAX_ROWS, math.ceil(total_s * spec.sr / spec.hop_samples) + 1)
        folder = state_dir / "learn" / stream
        done = _saved(folder).get("done") or {}
        if sha in (done.get("result_sha256"), done.get("from_sha256")):
            return None  # learned from this bundle, or this is what was learned (a rollback keeps it)
        store = FeatureStore(folder, dim, cap, key=sha)
        if store.done is not None:
            return None
        return cls(stream, bundle, store, total_s)

    def progress(self, stream_seconds: float) -> dict[str, Any]:
        """Seconds learned of the total and windows kept (status, page, MQTT)."""
        return {"learned_s": round(min(self._start_s + stream_seconds, self.total_s), 1),
                "total_s": self.total_s, "windows": self.store.kept}

    def take(self, rows: np.ndarray | None, positions_s: np.ndarray, stream_seconds: float) -> bool:
        """A push's scored rows (n, dim) at stream times (n,) s; True once the period has been heard."""
        learned = self._start_s + stream_seconds
        if rows is not None and rows.shape[0]:
            self.store.add(rows, self._start_s + positions_s, learned)
        else:
            self.store.learned_s = learned
        return learned >= self.total_s and self.store.kept >= MIN_WINDOWS

    def finish(self) -> Bundle:
        """Refit on the store, write the new version and put it at the bundle's path; the store is marked done."""
        self.store.flush()
        rows, t = self.store.rows()
        path = self.bundle.path
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.learn-", dir=path.parent))
        try:
            write_learned(self.bundle, rows, t, staging, stream=self.stream, learned_s=self.store.learned_s,
                          version=next_version(path))
            as_mkdir(staging)  # mkdtemp's 0700 would hide the bundle from a service running as another user
            switch(path, staging)
            learned = load_bundle(path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.store.finish({"from_sha256": self.bundle.variant().sha256, "result_sha256": learned.variant().sha256,
                           "version": learned.manifest.provenance["version"], "windows": int(rows.shape[0])})
        return learned


async def learn_push(learner: Learner, stream: Stream, state: StreamState, rows: np.ndarray | None,
                     positions_s: np.ndarray, variant: str | None) -> Bundle | None:
    """A learning stream's scored rows into its store. Once the period is heard: the refit (off the event
    loop), the learned version scoring from the next window on (with events) and the state saying so;
    returns that bundle, else None."""
    if not learner.take(rows, positions_s, stream.seconds):
        state.learning = learner.progress(stream.seconds)
        return None
    bundle = await asyncio.to_thread(learner.finish)
    detector = load_detector(bundle, variant)
    rebind(stream, bundle, detector)
    chosen = bundle.variant(detector.variant)
    state.learning, state.variant, state.threshold = None, chosen.name, chosen.window_threshold
    state.model, state.model_sha256 = f"{bundle.name} {chosen.name} {chosen.sha256[:12]}", chosen.sha256
    state.bundle_created, state.reliability = str(bundle.manifest.provenance.get("created")), None
    learned = bundle.manifest.provenance["learned"]
    log.info("stream %s: learned %d windows (%.0f s); version %s of %s in place, window threshold %.4g", state.name,
             learned["windows"], learned["seconds"], bundle.manifest.provenance["version"], bundle.path,
             chosen.window_threshold)
    return bundle


def _saved(folder: Path) -> dict[str, Any]:
    """The store's saved state, {} when there is none or it is unreadable (the store then starts anew)."""
    try:
        data = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
