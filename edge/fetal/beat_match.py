"""Beat detection scores against reference annotations.

- ``match_beats``: one-to-one matching within a tolerance (50 ms as in ANSI/AAMI EC57 and the
  fetal ECG literature) -> sensitivity, positive predictivity, F1.
- ``challenge_fhr_mse``: the PhysioNet/CinC Challenge 2013 event 1/4 score, in bpm^2. The scorer
  (Score2013.java) runs WFDB ``tach -n 12`` on the reference and on the test annotations of each
  1-minute record (12 heart-rate samples, one per 5 s) and averages the squared differences,
  leaving out the first two samples. Here the heart rate is 60/RR held over each interval and
  averaged over each 5-s bin (tach interpolates and smooths: an approximation), per minute of a
  longer record, and the minutes' scores are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeatScore:
    reference: int
    detected: int
    true_positives: int

    @property
    def sensitivity(self) -> float:
        return self.true_positives / self.reference if self.reference else float("nan")

    @property
    def ppv(self) -> float:
        return self.true_positives / self.detected if self.detected else float("nan")

    @property
    def f1(self) -> float:
        total = self.reference + self.detected
        return 2 * self.true_positives / total if total else float("nan")


def match_beats(reference: np.ndarray, detected: np.ndarray, tolerance: float) -> BeatScore:
    """Count detected beats within `tolerance` (same unit as the beats) of a distinct reference beat."""
    ref = np.sort(np.asarray(reference, dtype=float))
    det = np.sort(np.asarray(detected, dtype=float))
    tp = 0
    i = j = 0
    while i < ref.size and j < det.size:  # both sorted: greedy matching in time order is optimal here
        d = det[j] - ref[i]
        if abs(d) <= tolerance:
            tp += 1
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    return BeatScore(int(ref.size), int(det.size), tp)


def binned_hr(beats_s: np.ndarray, start_s: float, seconds: float, bins: int) -> np.ndarray:
    """Mean of 60/RR (held over each interval) in `bins` equal bins of [start, start+seconds); NaN if uncovered."""
    t = np.sort(np.asarray(beats_s, dtype=float))
    edges = start_s + np.linspace(0.0, seconds, bins + 1)
    if t.size < 2:
        return np.full(bins, np.nan)
    grid = np.linspace(start_s, start_s + seconds, bins * 500, endpoint=False)  # 10 ms steps for 5-s bins
    k = np.searchsorted(t, grid, side="right")
    inside = (k > 0) & (k < t.size)
    rr = np.where(inside, t[np.clip(k, 1, t.size - 1)] - t[np.clip(k - 1, 0, t.size - 2)], np.nan)
    hr = 60.0 / rr
    which = np.clip(np.searchsorted(edges, grid, side="right") - 1, 0, bins - 1)
    sums = np.bincount(which, np.nan_to_num(hr), bins)
    counts = np.bincount(which, np.isfinite(hr).astype(float), bins)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def challenge_fhr_mse(reference_s: np.ndarray, detected_s: np.ndarray, duration_s: float) -> float:
    """Challenge 2013 event 1/4 style FHR error in bpm^2 over whole minutes of a recording."""
    scores = []
    for minute in range(int(duration_s // 60)):
        ref = binned_hr(reference_s, minute * 60.0, 60.0, 12)[2:]
        det = binned_hr(detected_s, minute * 60.0, 60.0, 12)[2:]
        det = np.where(np.isfinite(det), det, 0.0)  # no detected beats: the estimate is as wrong as it gets
        ok = np.isfinite(ref)
        if ok.any():
            scores.append(float(np.mean((det[ok] - ref[ok]) ** 2)))
    return float(np.mean(scores)) if scores else float("nan")
