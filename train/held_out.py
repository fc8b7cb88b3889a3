"""What `vigil train` says about a new bundle: each variant's threshold and what it catches on
held-out data at that threshold (not only an AUC: a bundle that detects 0 of 6 anomalies at its
threshold must say so)."""

from __future__ import annotations

import numpy as np

from edge.bundle.manifest import Manifest
from edge.text import number, plural


def audio_held_out(labels: list[int], scores: list[float], threshold: float) -> dict[str, int]:
    """Counts on the reserved test clips at the clip threshold (labels 0/1, scores (n,))."""
    y = np.asarray(labels, dtype=bool)
    over = np.asarray(scores, dtype=float) > threshold
    return {"normal": int((~y).sum()), "anomalous": int(y.sum()), "detected": int((over & y).sum()),
            "false_alarms": int((over & ~y).sum())}


def series_held_out(labels: np.ndarray, missing: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, int]:
    """Counts on the held-out (validation) points, labels (n,) bool, at the window threshold."""
    scored = ~missing & ~np.isnan(scores)
    over = np.nan_to_num(scores, nan=-np.inf) > threshold
    y = labels & scored
    normal = ~labels & scored
    return {"normal": int(normal.sum()), "anomalous": int(y.sum()), "detected": int((over & y).sum()),
            "false_alarms": int((over & normal).sum())}


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a"


def held_out_lines(manifest: Manifest) -> list[str]:
    """One line per variant: AUC (audio), threshold, detection rate and false alarms at it."""
    audio = manifest.modality == "audio"
    unit = ("clip", "clips") if audio else ("point", "points")
    metrics = manifest.metrics
    where = (metrics.get("protocol", "reserved test clips") if audio
             else "held-out points (last part of each training series)")
    lines = []
    for variant, model in manifest.models.items():
        threshold = model.threshold.clip if audio and model.threshold.clip is not None else model.threshold.window
        counts: dict[str, int] | None
        if audio and isinstance(metrics.get(variant), dict) and "labels" in metrics:
            m = metrics[variant]
            counts = audio_held_out(metrics["labels"], m["clip_scores"], threshold)
            head = f"{variant:8s} AUC {number(m['auc'])}, threshold {number(threshold, 4)}"
        elif audio:
            lines.append(f"{variant:8s} threshold {number(threshold, 4)}: no anomalous clips held out, so no "
                         "detection rate (add anomaly_*.wav clips the model is not fitted on)")
            continue
        else:
            counts = model.held_out
            head = f"{variant:8s} threshold {number(threshold, 4)}"
        if not counts:
            lines.append(f"{head}: no held-out counts recorded")
            continue
        n_anom, n_norm = counts["anomalous"], counts["normal"]
        caught = (f"detects {counts['detected']} of {plural(n_anom, 'anomalous ' + unit[0], 'anomalous ' + unit[1])} "
                  f"({_rate(counts['detected'], n_anom)})" if n_anom else f"no labelled anomalous {unit[1]} held out")
        normal = plural(n_norm, "normal " + unit[0], "normal " + unit[1])
        lines.append(f"{head}: {caught}, flags {counts['false_alarms']} of {normal} "
                     f"({_rate(counts['false_alarms'], n_norm)}) on {where}")
    return lines
