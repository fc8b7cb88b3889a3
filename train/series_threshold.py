"""The threshold of a series bundle, chosen without test labels, and its record in the manifest.

Scores come from the validation part of the training series (the last 30 % by time: the gradient
steps never see it; it only chose the epoch). When that part has labelled anomaly segments (the
paper's semi-supervised setting), the threshold maximises the delay-adjusted F1 on them, at the
low end of the best stretch (the F1 is flat between neighbouring scores: the lowest threshold
with the best F1, so test anomalies a little weaker than the validation ones are still caught),
capped at the `percentile`-th percentile of the normal validation scores (a few strong validation
anomalies would otherwise set it far above every normal score). Without labels: that percentile.

The rule was chosen without test data: threshold chosen on the first half of each series'
validation part, adjusted F1 measured on its second half (`python -m benchmarks.kpi_benchmark rules`). On
the 15 AIOps series with labels in both halves, mean F1: this rule 0.75, the 99.9th percentile
alone 0.69, the low end of the best F1 alone 0.63, the middle of that stretch 0.57, the 99th
percentile (the rule before) 0.52. (The rule was picked when 10 series were done; the figures are
from all 15.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from train.series_metrics import adjusted_f1_curve, segments

NORMAL_SCORES_KEPT = 2000  # subsampled normal validation scores stored for `vigil calibrate`


DEFAULT_PERCENTILE = 99.9


def choose_threshold(scores: np.ndarray, labels: np.ndarray, *, delay: int = 7, percentile: float = DEFAULT_PERCENTILE,
                     cap_percentile: float | None = None) -> tuple[float, dict[str, Any]]:
    """scores (n,) finite validation scores, labels (n,) bool -> (threshold, rule) for "score > threshold".

    percentile: the rule without labels; cap_percentile (default: percentile) caps the F1 rule.
    """
    cap_percentile = percentile if cap_percentile is None else cap_percentile
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
    # "score > t" flags the same points as "score >= cand[j]" for any t in [cand[j + 1], cand[j])
    low_end = float(cand[j + 1]) if j + 1 < len(cand) else float(cand[j]) - 1.0
    cap = float(np.percentile(normal, cap_percentile))
    return min(low_end, cap), {"kind": "adjusted-f1", "value": delay, "cap_percentile": cap_percentile,
                               "capped": cap < low_end, "validation_f1": round(float(f1[k]), 4),
                               "validation_segments": len(segments(labels))}


def normal_window(scores: np.ndarray, labels: np.ndarray, seed: int = 0) -> list[float]:
    """At most NORMAL_SCORES_KEPT normal scores, subsampled evenly at random (seeded), rounded."""
    normal = scores[~labels.astype(bool)]
    if normal.size > NORMAL_SCORES_KEPT:
        normal = normal[np.sort(np.random.default_rng(seed).choice(normal.size, NORMAL_SCORES_KEPT, replace=False))]
    return [round(float(s), 5) for s in normal]
