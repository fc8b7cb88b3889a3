"""Point-level metrics for series detectors, with Donut's delayed-segment adjustment.

Adjusted predictions (Xu et al. 2018, section 5.1): for each true anomaly segment, if any point of
its first `delay` + 1 points is over the threshold, every point of the segment counts as detected,
else none does. Best F1 searches thresholds over the score quantiles (an upper bound, as Donut
reports it); F1 at the bundle's threshold is the figure a deployment gets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in labels (n,) bool."""
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def adjust(predicted: np.ndarray, labels: np.ndarray, delay: int) -> np.ndarray:
    out = predicted.copy()
    for a, b in segments(labels):
        out[a:b] = predicted[a : min(a + delay + 1, b)].any()
    return out


def _f1(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(metrics.f1_score(labels, predicted, zero_division=0))


def point_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float, *, delay: int = 7,
                  candidates: int = 200) -> dict[str, Any]:
    """scores (n,) with NaN for unscored points; labels (n,) bool. Unscored points are left out."""
    keep = ~np.isnan(scores)
    s, y = scores[keep], labels[keep].astype(bool)
    out: dict[str, Any] = {"points": int(s.size), "anomalous_points": int(y.sum()), "threshold": float(threshold)}
    if not 0 < y.sum() < y.size:
        return out | {"auc": None}
    out["auc"] = float(metrics.roc_auc_score(y, s))
    out["f1_at_threshold"] = _f1(s > threshold, y)
    out["f1_at_threshold_adjusted"] = _f1(adjust(s > threshold, y, delay), y)
    grid = np.unique(np.quantile(s, np.linspace(0.0, 1.0, candidates)))  # "score >= t" for t among the scores
    out["best_f1"] = max(_f1(s >= t, y) for t in grid)
    out["best_f1_adjusted"] = max(_f1(adjust(s >= t, y, delay), y) for t in grid)
    return out
