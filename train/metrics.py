"""Clip-level detection metrics: AUC, pAUC (max FPR 0.1, as DCASE 2020) and decisions at a threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics


def clip_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float, *, max_fpr: float = 0.1) -> dict[str, Any]:
    """labels (n,) 0/1, scores (n,) higher = more anomalous. AUC and pAUC need both classes.

    pAUC is scikit-learn's standardized partial AUC (McClish), which the DCASE 2020 baseline reports.
    """
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    predicted = (scores > threshold).astype(int)
    both = 0 < labels.sum() < labels.size
    return {
        "n_normal": int((labels == 0).sum()),
        "n_anomalous": int((labels == 1).sum()),
        "auc": float(metrics.roc_auc_score(labels, scores)) if both else None,
        "pauc": float(metrics.roc_auc_score(labels, scores, max_fpr=max_fpr)) if both else None,
        "threshold": float(threshold),
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "precision": float(metrics.precision_score(labels, predicted, zero_division=0)),
        "recall": float(metrics.recall_score(labels, predicted, zero_division=0)),
        "f1": float(metrics.f1_score(labels, predicted, zero_division=0)),
    }
