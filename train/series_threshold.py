"""The threshold of a series bundle, chosen without test labels, and its record in the manifest.

Scores come from the validation part of the training series (the last 30 % by time: the gradient
steps never see it; it only chose the epoch). When that part has labelled anomaly segments (the
paper's semi-supervised setting), the threshold maximises the delay-adjusted F1 on them: the F1
is flat between two neighbouring scores, and the threshold sits in the middle of the best flat
stretch (midpoint on an asinh scale, as scores span orders of magnitude), so it keeps a margin
both to the weakest caught anomaly and to the strongest normal point. Without labels, a tail rule
on normal scores: the `percentile`-th percentile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from train.series_metrics import adjusted_f1_curve, segments

NORMAL_SCORES_KEPT = 2000  # subsampled normal validation scores stored for `vigil calibrate`


def choose_threshold(scores: np.ndarray, labels: np.ndarray, *, delay: int = 7,
                     percentile: float = 99.0) -> tuple[float, dict[str, Any]]:
    """scores (n,) finite validation scores, labels (n,) bool -> (threshold, rule) for "score > threshold"."""
    labels = labels.astype(bool)
    normal = scores[~labels]
    if not segments(labels) or not normal.size:
        return float(np.percentile(normal if normal.size else scores, percentile)), {
            "kind": "percentile", "value": percentile}
    cand, f1 = adjusted_f1_curve(scores, labels, delay)  # cand descending; predict score >= cand[i]
    k = int(np.argmax(f1))
    j = k
    while j + 1 < len(cand) and f1[j + 1] == f1[k]:
        j += 1
    upper = float(cand[k])
    lower = float(cand[j + 1]) if j + 1 < len(cand) else float(cand[j]) - 1.0
    threshold = float(np.sinh((np.arcsinh(upper) + np.arcsinh(lower)) / 2))
    return threshold, {"kind": "adjusted-f1", "value": delay, "validation_f1": round(float(f1[k]), 4),
                       "validation_segments": len(segments(labels))}


def normal_window(scores: np.ndarray, labels: np.ndarray, seed: int = 0) -> list[float]:
    """At most NORMAL_SCORES_KEPT normal scores, subsampled evenly at random (seeded), rounded."""
    normal = scores[~labels.astype(bool)]
    if normal.size > NORMAL_SCORES_KEPT:
        normal = normal[np.sort(np.random.default_rng(seed).choice(normal.size, NORMAL_SCORES_KEPT, replace=False))]
    return [round(float(s), 5) for s in normal]
