"""The fetal-ECG part of `vigil demo`: the bundled Donut model on a bundled EDF, its events printed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.bundle.loader import Bundle
from edge.pipeline.decider import Decider
from edge.pipeline.series_scorer import donut_scorer, load_series, score_series
from edge.text import plural


def demo_ecg(path: Path, bundle: Bundle, as_json: bool) -> None:
    """Score a fetal-ECG EDF with the bundled Donut model; report the events (the bundle's Decider)."""
    series = load_series(path, bundle.ecg_spec, bundle.modality)
    variant = bundle.variant()
    scores = score_series(bundle, donut_scorer(bundle), series)
    scored = ~np.isnan(scores)
    decider = Decider.from_bundle(bundle)
    seconds = bundle.ecg_spec.point_seconds
    times = np.flatnonzero(scored) * seconds
    events = decider.update(scores[scored], times, seconds) + decider.flush()
    if as_json:
        print(json.dumps({"modality": "ecg", "file": str(path), "threshold": variant.window_threshold,
                          "points": int(series.values.size), "scored_points": int(scored.sum()),
                          "events": [e.to_json() for e in events]}))
        return
    print(f"fetal ECG   {path.name}: {series.values.size} points ({series.values.size * seconds:.0f} s, "
          f"Direct_1, 60 ms means), Donut int8, threshold {variant.window_threshold:.2f}: "
          f"{plural(len(events), 'event')}")
    for e in events:
        print(f"  {e.start_s:6.1f}-{e.end_s:6.1f} s  peak score {e.peak_score:8.2f}  ({plural(e.windows, 'point')})")
