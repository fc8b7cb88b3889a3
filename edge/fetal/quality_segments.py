"""Whole-record quality: the segments of a score array (runs of frames at or above the segment score, per
kind, per lead and overall), and the moments the FHR must be treated as missing (``bad_mask``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.fetal.quality import KINDS, MASK_KINDS, QualityConfig, QualitySegment, quality_scores


def segments_from_scores(times: np.ndarray, scores: np.ndarray, labels: Sequence[str], hop_s: float,
                         config: QualityConfig | None = None) -> list[QualitySegment]:
    """Runs of frames at or above `segment_min_score`, per kind, per lead and overall (worst lead)."""
    cfg = config or QualityConfig()
    out: list[QualitySegment] = []
    longest = max(1, round(cfg.segment_max_s / hop_s))
    overall = scores.max(axis=2, keepdims=True)
    for lead_scores, names in ((scores, list(labels)), (overall, [None])):
        for k, kind in enumerate(KINDS):
            for j, name in enumerate(names):
                s = lead_scores[:, k, j]
                on = np.concatenate([[False], s >= cfg.segment_min_score, [False]]).astype(np.int8)
                edges = np.flatnonzero(np.diff(on))
                for a, b in zip(edges[::2], edges[1::2], strict=True):
                    for c in range(a, b, longest):
                        d = min(b, c + longest)
                        out.append(QualitySegment(round(float(times[c]), 3), round(float(times[d - 1]) + hop_s, 3),
                                                  round(float(s[c:d].max()), 3), kind, name))
    return sorted(out, key=lambda q: (q.start_s, q.kind, q.lead or ""))


def assess_quality(x: np.ndarray, fs: float, labels: Sequence[str], *, fetal_peaks: np.ndarray | None = None,
                   config: QualityConfig | None = None) -> list[QualitySegment]:
    """Quality segments of x (n, channels) float uV at fs Hz, per lead (by label) and overall (lead None)."""
    cfg = config or QualityConfig()
    times, scores = quality_scores(x, fs, labels, fetal_peaks=fetal_peaks, config=cfg)
    return segments_from_scores(times, scores, labels, max(1, round(cfg.hop_s * fs)) / fs, cfg)


def bad_mask(segments: Sequence[QualitySegment], duration_s: float, labels: Sequence[str], *, rate_hz: float = 1.0,
             threshold: float = 0.5, lead_fraction: float = 0.5, kinds: Sequence[str] = MASK_KINDS,
             config: QualityConfig | None = None) -> np.ndarray:
    """(ceil(duration_s * rate_hz),) bool: True where the FHR must be treated as missing.

    A moment is bad when at least `lead_fraction` of the leads have a signal fault scoring >= threshold
    (one bad lead of four does not stop a fused beat detector), or the overall low_fetal score does.
    Only `kinds` count (MASK_KINDS by default: no mains, no wander, which the beat detector filters out).
    low_fetal is judged on its own scale: threshold x `low_fetal_max`.
    """
    low_threshold = threshold * (config or QualityConfig()).low_fetal_max
    n = int(np.ceil(duration_s * rate_hz))
    per_lead = np.zeros((n, max(1, len(labels))), dtype=bool)
    fetal = np.zeros(n, dtype=bool)
    index = {name: i for i, name in enumerate(labels)}
    for seg in segments:
        if seg.score < (low_threshold if seg.kind == "low_fetal" else threshold):
            continue
        a, b = int(np.floor(seg.start_s * rate_hz)), int(np.ceil(seg.end_s * rate_hz))
        if seg.kind == "low_fetal" and seg.lead is None:
            fetal[a:b] = True
        elif seg.kind in kinds and seg.lead in index:
            per_lead[a:b, index[seg.lead]] = True
    return fetal | (per_lead.mean(axis=1) >= lead_fraction)


def mask_fhr(t_s: np.ndarray, bpm: np.ndarray, bad: np.ndarray, rate_hz: float = 1.0) -> np.ndarray:
    """bpm (n,) with NaN where t_s (n,) falls in a bad moment of `bad` (from bad_mask at rate_hz)."""
    idx = np.clip(np.floor(np.asarray(t_s) * rate_hz).astype(int), 0, max(bad.size - 1, 0))
    out = np.asarray(bpm, dtype=float).copy()
    if bad.size:
        out[bad[idx]] = np.nan
    return out
