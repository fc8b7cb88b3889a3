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
                     cap_percentile: float | None = None, risk: float | None = None) -> tuple[float, dict[str, Any]]:
    """scores (n,) finite validation scores, labels (n,) bool -> (threshold, rule) for "score > threshold".

    percentile: the rule without labels; cap_percentile (default: percentile) caps the F1 rule.
    risk: the label-free rule instead (evt_threshold on the normal scores: the share of normal
    points expected over the threshold, e.g. alarms per day * interval s / 86400).
    """
    cap_percentile = percentile if cap_percentile is None else cap_percentile
    labels = labels.astype(bool)
    normal = scores[~labels]
    if risk is not None:
        return evt_threshold(normal if normal.size else scores, risk), {
            "kind": "evt", "value": risk, "init_percentile": EVT_INIT_PERCENTILE}
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


EVT_INIT_PERCENTILE = 98.0  # SPOT's initial threshold: the peaks above it are fitted


def evt_threshold(normal: np.ndarray, risk: float, init_percentile: float = EVT_INIT_PERCENTILE) -> float:
    """Normal scores (n,) and a risk (probability that a normal point exceeds the threshold, e.g.
    alarms per day * interval s / 86400) -> the threshold, by extreme-value theory (SPOT's initial
    step, Siffer et al. KDD 2017): a generalised Pareto fitted to the peaks over the
    `init_percentile`-th percentile, extrapolated to `risk`. A quantile is no better than the n
    points it comes from; the fitted tail goes beyond them, where a threshold for a few alarms per
    day lies on short series. With too few peaks (under 10): the empirical quantile.
    """
    from scipy import stats

    normal = normal[np.isfinite(normal)]
    t0 = float(np.percentile(normal, init_percentile))
    peaks = normal[normal > t0] - t0
    if peaks.size < 10 or risk * normal.size >= peaks.size:
        return float(np.percentile(normal, 100.0 * (1.0 - min(max(risk, 0.0), 1.0))))
    gamma, _, sigma = stats.genpareto.fit(peaks, floc=0.0)
    ratio = risk * normal.size / peaks.size
    if abs(gamma) < 1e-6:
        return t0 - sigma * float(np.log(ratio))
    return t0 + sigma / gamma * (ratio ** -gamma - 1.0)
