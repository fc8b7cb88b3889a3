"""`vigil score` and `vigil bench` for Donut bundles (fetal ECG from EDF, KPI series from CSV)."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np

from edge.bundle.loader import Bundle
from edge.io.kpi_csv import KpiColumns
from edge.pipeline.decider import Decider
from edge.pipeline.series_scorer import donut_scorer, load_series, points_json, score_series
from edge.text import plural


def _columns(text: str | None) -> KpiColumns | None:
    return KpiColumns.parse(text) if text else None


def score_series_files(files: list[Path], bundle: Bundle, *, variant: str | None, as_json: bool, samples: int | None,
          iterations: int | None, columns: str | None = None) -> int:
    """One JSON object per file: file, threshold, points [{index|timestamp, score, missing}]."""
    spec = bundle.ecg_spec
    scorer = donut_scorer(bundle, variant, samples=samples, iterations=iterations)
    threshold = bundle.variant(variant).window_threshold
    for path in files:
        series = load_series(path, spec, bundle.modality, _columns(columns))
        scores = score_series(bundle, scorer, series)
        if as_json:
            print(json.dumps(points_json(series, scores, threshold)), flush=True)
        else:
            over = int(np.nansum(scores > threshold))
            print(f"{path}: {plural(series.values.size, 'point')}, {over} over the threshold {threshold:.3f} "
                  f"({int(series.missing.sum())} missing)")
    return 0


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


def bench_series_files(files: list[Path], bundle: Bundle, *, variant: str | None, as_json: bool, samples: int | None,
          iterations: int | None, repeat: int, cpu: int | None, bundle_path: Path, columns: str | None = None) -> int:
    """Donut scoring of whole recordings as fast as possible: real-time factor on one core."""
    spec = bundle.ecg_spec
    scorer = donut_scorer(bundle, variant, samples=samples, iterations=iterations)
    series = [load_series(path, spec, bundle.modality, _columns(columns)) for path in files]
    cpu0 = time.process_time()
    for _ in range(repeat):
        for s in series:
            score_series(bundle, scorer, s)
    cpu_s = time.process_time() - cpu0
    seconds = repeat * sum(s.values.size for s in series) * spec.point_seconds
    detail = getattr(scorer, "samples", None), getattr(scorer, "iterations", None)
    report = {"bundle": str(bundle_path), "variant": variant or bundle.default_variant,
              "samples": detail[0], "iterations": detail[1], "files": len(series),
              "signal_seconds": round(seconds, 3), "cpu_seconds": round(cpu_s, 4),
              "real_time_factor": round(cpu_s / seconds, 6),
              "points": repeat * sum(s.values.size for s in series),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "pinned_cpu": cpu}
    print(json.dumps(report) if as_json else "\n".join(f"{k:18s} {v}" for k, v in report.items()))
    return 0
