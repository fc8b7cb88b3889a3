"""Point-level metrics for series detectors, with Donut's delayed-segment adjustment.

Adjusted predictions (Xu et al. 2018, section 5.1): for each true anomaly segment, if any point of
its first `delay` + 1 points is over the threshold, every point of the segment counts as detected,
else none does. Best F1 searches thresholds over the score quantiles (an upper bound, as Donut
reports it); F1 at the bundle's threshold is the figure a deployment gets.

The adjustment flatters (Kim et al., AAAI 2022: a random score can look strong under it), so the
figures without it stand beside: point-wise F1 at the threshold, event-level precision and recall
(event_metrics) and the area under the precision-recall curve (average precision, no threshold).
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


def adjusted_f1_curve(scores: np.ndarray, labels: np.ndarray, delay: int) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted F1 of "score >= t" for every distinct score t: (thresholds descending (m,), f1 (m,)).

    Exact and O(n log n): a segment is caught at t iff the highest score among its first delay + 1
    points is >= t, and then all its points are true positives; false positives are the normal
    points >= t.
    """
    labels = labels.astype(bool)
    cand = np.unique(scores)[::-1]
    normal = np.sort(scores[~labels])
    fp = normal.size - np.searchsorted(normal, cand, side="left")
    spans = segments(labels)
    caught = np.array([scores[a : min(a + delay + 1, b)].max() for a, b in spans])
    lengths = np.array([b - a for a, b in spans], dtype=np.float64)
    if spans:
        order = np.argsort(caught)
        caught, cum = caught[order], np.cumsum(lengths[order][::-1])[::-1]  # cum[i] = length of segments i..
        first = np.searchsorted(caught, cand, side="left")
        tp = np.where(first < caught.size, cum[np.minimum(first, caught.size - 1)], 0.0)
    else:
        tp = np.zeros(cand.size)
    positives = float(labels.sum())
    denominator = tp + fp + positives
    return cand, np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1e-12), 0.0)


def event_metrics(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float | int | None]:
    """predicted, labels (n,) bool -> event-level counts and precision/recall, no adjustment.

    An anomaly segment is found when any of its points is flagged; an alarm is a run of flagged
    points, false when it touches no anomaly segment (so a long false alarm counts once, as a user
    sees it). Precision: true alarms / alarms (None without alarms); recall: found / segments.
    """
    labels, predicted = labels.astype(bool), predicted.astype(bool)
    spans, alarms = segments(labels), segments(predicted)
    found = sum(bool(predicted[a:b].any()) for a, b in spans)
    true_alarms = sum(bool(labels[a:b].any()) for a, b in alarms)
    return {"segments": len(spans), "segments_found": found, "alarms": len(alarms),
            "false_alarms": len(alarms) - true_alarms,
            "event_precision": true_alarms / len(alarms) if alarms else None,
            "event_recall": found / len(spans) if spans else None}


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
    out |= event_metrics(s > threshold, y)
    out["auc_pr"] = float(metrics.average_precision_score(y, s))
    grid = np.unique(np.quantile(s, np.linspace(0.0, 1.0, candidates)))  # "score >= t" for t among the scores
    out["best_f1"] = max(_f1(s >= t, y) for t in grid)
    out["best_f1_adjusted"] = float(adjusted_f1_curve(s, y, delay)[1].max())  # every distinct score tried
    return out
