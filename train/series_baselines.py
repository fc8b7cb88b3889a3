"""Two published unsupervised baselines for KPI series, scored point by point from past data only.

- Rolling robust z-score: |x_t - median| / (1.4826 MAD) of the previous `window` non-missing points.
- Spectral residual (Ren et al., "Time-Series Anomaly Detection Service at Microsoft", KDD 2019),
  as Microsoft's reference code does it, over the 720 points ending at t: edge.detectors.spectral_residual.
Missing points are filled from the last present point for spectral residual (it needs a continuous
signal) and get no score (NaN) from either method, as the metrics leave missing points out.
"""

from __future__ import annotations

import numpy as np

from edge.detectors.kpi_combine import series_zscore
from edge.detectors.spectral_residual import WINDOW as SR_WINDOW
from edge.detectors.spectral_residual import series_sr


def rolling_robust_zscore(values: np.ndarray, missing: np.ndarray, window: int = 120,
                          chunk: int = 8192) -> np.ndarray:
    """values, missing (n,) -> scores (n,), NaN before a full window and at missing points.

    The gateway's z-score (edge.detectors.kpi_combine, what a KPI bundle combines with Donut) over windows of
    `window` previous points plus the scored one, so the baseline and the bundle score alike.
    """
    return series_zscore(values, missing, window + 1, chunk)


def spectral_residual(values: np.ndarray, missing: np.ndarray, window: int = SR_WINDOW) -> np.ndarray:
    """values, missing (n,) -> scores (n,), NaN before a full window and at missing points.

    The gateway's spectral residual (edge.detectors.spectral_residual, what a KPI bundle may combine with
    Donut), so the baseline and the bundle score alike.
    """
    return series_sr(values, missing, window)
