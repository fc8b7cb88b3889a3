"""The KPI score combiner, a Detector kind of its own: Donut's score (when it is a part), robust z-scores
and spectral residual, each scaled by its validation normal scores, the largest served.

Each part's score s becomes (s - median) / (p99 - median) of that score's normal points on the
validation part of the training series (the scales are stored in the bundle under the variant's
``combine``: edge.bundle.manifest_parts.CombineScales), so 1.0 means "as high as the 1 % most
unusual normal validation points" for every part. The combined score is the largest of the parts
the scales list: Donut's (signed, to the power donut_power, 0.5 by default: Donut's minus
log-probability grows with the squared deviation, the others with the deviation), z_weight times
the z-score's, and spectral residual's (edge.detectors.spectral_residual). A part without a score
at a point (no earlier points, a missing point) is left out there. The robust z-score of point t:
|x_t - median| / (1.4826 MAD) of the window's previous points that are not missing (window - 1 of
them), as train.series_baselines computes it over window points. The difference z-score
("dzscore") is the same robust z of the last step x_t - x_{t-1} against the window's earlier
steps: it sees a jump or a spike at once, where the level's z-score waits until the new level
leaves the window's spread.

Windows may be wider than Donut's (spectral residual needs 720 points): Donut and the z-score see
their last ``window`` points, the difference z-score the whole window; a combined score without
Donut loads no network.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.bundle.manifest_parts import COMBINE_KIND, KPI_PARTS, CombineScales
from edge.detectors.base import Detector, register, windows_ending_at_each_point
from edge.detectors.donut import DonutDetector
from edge.detectors.spectral_residual import WINDOW as SR_WINDOW
from edge.detectors.spectral_residual import window_sr
from edge.errors import BundleError

MAD_TO_STD = 1.4826
MIN_PAST = 10  # earlier points a robust z-score needs
SCALE_PERCENTILE = 99.0
PARTS = KPI_PARTS  # every part a combined score may list, the order of the menu


def window_zscore(windows: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """windows, missing (n, W) -> robust z of each window's last point against its first W - 1 (n,).

    NaN where the last point is missing or fewer than MIN_PAST earlier points are present (all W - 1
    in a narrower window): a median and MAD of one or two points are noise (a file's second point
    would score ~1e8).
    """
    past = np.where(missing[:, :-1], np.nan, windows[:, :-1].astype(np.float64))
    with warnings.catch_warnings():  # a window of only missing points has no median: NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(past, axis=1)
        mad = np.nanmedian(np.abs(past - med[:, None]), axis=1) * MAD_TO_STD
    z = np.abs(windows[:, -1] - med) / np.maximum(np.nan_to_num(mad, nan=0.0), 1e-9)
    too_few = np.sum(~missing[:, :-1], axis=1) < min(MIN_PAST, windows.shape[1] - 1)
    return np.where(missing[:, -1] | too_few, np.nan, z)


def window_dzscore(windows: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """windows, missing (n, W) -> robust z of each window's last step against its W - 2 earlier steps (n,).

    A step is missing where either of its points is; NaN as window_zscore.
    """
    return window_zscore(np.diff(windows.astype(np.float64), axis=1), missing[:, 1:] | missing[:, :-1])


def fit_part_scales(scores: dict[str, np.ndarray], labels: np.ndarray, *, z_weight: float = 1.0,
                    donut_power: float = 0.5) -> CombineScales:
    """Validation scores (m,) per part (NaN = unscored) and labels (m,) -> the scales of combine_parts."""
    scales = {}
    for name, s in scores.items():
        normal = s[~labels.astype(bool) & ~np.isnan(s)]
        med, top = (float(np.percentile(normal, q)) for q in (50.0, SCALE_PERCENTILE)) if normal.size else (0.0, 1.0)
        scales[name] = (med, max(top - med, 1e-9))
    return CombineScales(tuple(p for p in PARTS if p in scores), scales, z_weight=z_weight, donut_power=donut_power,
                         percentile=SCALE_PERCENTILE)


def combine_parts(scores: dict[str, np.ndarray], scales: CombineScales) -> np.ndarray:
    """Scores (n,) per part (NaN allowed; at least the scales' parts) -> combined scores (n,) float64.

    NaN only where every part is NaN.
    """
    out: np.ndarray | None = None
    for name in scales.parts:
        median, scale = scales.scales[name]
        s = (np.asarray(scores[name], dtype=np.float64) - median) / scale
        if name == "donut" and float(scales.donut_power) != 1.0:  # squared deviation -> deviation
            s = np.sign(s) * np.abs(s) ** float(scales.donut_power)
        elif name == "zscore":
            s = s * float(scales.z_weight)
        out = s if out is None else np.fmax(out, s)
    assert out is not None, "a combined score has at least one part"
    return out


def fit_scales(donut: np.ndarray, zscore: np.ndarray, labels: np.ndarray, *, z_weight: float = 1.0,
               donut_power: float = 0.5) -> CombineScales:
    """Validation scores (m,) of Donut and the z-score, labels (m,) -> the scales of combined_scores."""
    return fit_part_scales({"donut": donut, "zscore": zscore}, labels, z_weight=z_weight, donut_power=donut_power)


def combined_scores(donut: np.ndarray, zscore: np.ndarray, scales: CombineScales) -> np.ndarray:
    """Donut scores (n,) and robust z (n,) (NaN allowed) -> combined scores (n,) float64."""
    return combine_parts({"donut": donut, "zscore": zscore}, scales)


def series_zscore(values: np.ndarray, missing: np.ndarray, window: int, chunk: int = 8192) -> np.ndarray:
    """values, missing (n,) -> window_zscore of every point (n,), NaN for the first window - 1 (blocks of chunk)."""
    out = np.full(values.shape, np.nan)
    views = np.lib.stride_tricks.sliding_window_view(values, window)
    gaps = np.lib.stride_tricks.sliding_window_view(missing, window)
    for a in range(0, views.shape[0], chunk):
        out[a + window - 1 : a + window - 1 + len(views[a : a + chunk])] = window_zscore(views[a : a + chunk],
                                                                                          gaps[a : a + chunk])
    return out


def series_dzscore(values: np.ndarray, missing: np.ndarray, window: int) -> np.ndarray:
    """values, missing (n,) -> window_dzscore of the window points ending at every point (n,), NaN before."""
    out = np.full(values.shape, np.nan)
    if values.size >= window:
        out[1:] = series_zscore(np.diff(values.astype(np.float64)), missing[1:] | missing[:-1], window - 1)
    return out


@register(COMBINE_KIND)
class KpiCombineDetector(Detector):
    """Windows (n, W) in the recording's unit -> the combined score (n,) float32 of each window's last point.

    donut: the variant's Donut detector when Donut is one of the parts (None otherwise); window:
    Donut's and the z-score's window (None: the rows' width).
    """

    handles_missing = True

    def __init__(self, scales: CombineScales, *, donut: DonutDetector | None = None, window: int | None = None,
                 batch: int = 64) -> None:
        if ("donut" in scales.parts) != (donut is not None):
            raise ValueError(f"parts {scales.parts}: a Donut detector is needed exactly when Donut is a part")
        self.scales, self.donut, self.window, self.batch = scales, donut, window, batch

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str, **options: Any) -> KpiCombineDetector:
        """Options (samples, iterations, seed, num_threads) go to Donut when it is a part."""
        scales = bundle.manifest.models[variant].combine
        if scales is None:
            raise BundleError(f"{bundle.path}: models.{variant} has no combine scales (expected them for "
                              f"detector {COMBINE_KIND!r})")
        donut = DonutDetector.from_bundle(bundle, variant, **options) if "donut" in scales.parts else None
        window = int(bundle.manifest.detector_params.get("window", bundle.ecg_spec.window))
        return cls(scales, donut=donut, window=window)

    def _parts(self, features: np.ndarray, missing: np.ndarray, first: int, *, sr: bool = True) -> np.ndarray:
        """One batch of windows (n, W) -> the combined score (n,); sr False: no spectral residual."""
        w = self.window or features.shape[1]
        short, gaps = features[:, -w:], missing[:, -w:]
        names = self.scales.parts
        nan = np.full(features.shape[0], np.nan)
        parts = {"donut": self.donut.score(short, gaps, first=first) if self.donut is not None else nan,
                 "zscore": window_zscore(short, gaps) if "zscore" in names else nan,
                 "sr": window_sr(features[:, -SR_WINDOW:], missing[:, -SR_WINDOW:])
                 if "sr" in names and sr and features.shape[1] >= SR_WINDOW else nan,
                 "dzscore": window_dzscore(features, missing) if "dzscore" in names else nan}
        return combine_parts(parts, self.scales)

    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray:
        """Combined scores (n,) of the last point of each window (n, W); first: the stream index of the first."""
        missing = np.zeros(features.shape, dtype=bool) if missing is None else missing
        out = np.empty(features.shape[0], dtype=np.float32)
        for i in range(0, features.shape[0], self.batch):  # per batch: memory stays one batch of windows
            out[i : i + self.batch] = self._parts(features[i : i + self.batch], missing[i : i + self.batch], first + i)
        return out

    def score_head(self, features: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Scores (W,) of every point of one window (W,), for a recording's first W - 1 points.

        Points before Donut's first full window (w = self.window) take Donut's scores at their own
        positions in its reconstruction of the first w points (DonutDetector.score_head) and no
        z-score or spectral residual (no earlier points); a score without Donut takes the z-scores
        of the earlier points present (from the MIN_PAST-th point: NaN before). Points from w - 1
        on get the combined score without spectral residual, which needs the whole window; the
        last point gets score(features[None])[0].
        """
        width = features.shape[0]
        w = self.window or width
        rows, gaps = windows_ending_at_each_point(features, missing)
        out = np.empty(width, dtype=np.float32)
        if w > 1:
            nan = np.full(w - 1, np.nan)
            head = self.donut.position_scores(features[:w], missing[:w])[:-1] if self.donut is not None else nan
            z = window_zscore(rows[: w - 1, -w:], gaps[: w - 1, -w:]) if self.donut is None else nan
            dz = window_dzscore(rows[: w - 1], gaps[: w - 1]) if self.donut is None else nan
            out[: w - 1] = combine_parts({"donut": head, "zscore": z, "sr": nan, "dzscore": dz}, self.scales)
        for a in range(w - 1, width - 1, self.batch):
            b = min(a + self.batch, width - 1)
            out[a:b] = self._parts(rows[a:b], gaps[a:b], a - w + 1, sr=False)
        out[-1] = self._parts(features[None], missing[None], 0)[0]
        return out
