"""Scores of normal recordings on the gateway code path, as calibration thresholds them.

Each modality's ``normal_scores`` calls one of these (`vigil calibrate` asks the modality, never
this module): machine sound gives clip and window scores, a point series gives point scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.bundle.loader import Bundle

CLIP_SECONDS = 10.0  # as `vigil train audio --clip-seconds`: longer recordings are scored as clips of this length


def audio_scores(bundle: Bundle, files: list[Path], variant: str, clip_seconds: float = CLIP_SECONDS,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Clip scores (n_clips,) and pooled window scores (total windows,) of one variant on the gateway
    path (file source -> stream -> detector, as `vigil score`). A recording longer than about
    clip_seconds is scored as `vigil train audio` cuts it: round(length / clip_seconds) equal
    consecutive clips, each through a fresh stream, so that clip scores are means over clips of the
    length the clip threshold is for."""
    from edge.detectors.base import load_detector
    from edge.pipeline.assembly import build_stream
    from edge.pipeline.file_scoring import open_wav
    from edge.sources.base import Block

    detector = load_detector(bundle, variant)
    clips, windows = [], []
    for path in files:
        recording = open_wav(bundle, path)
        parts = max(1, min(round(recording.frames / recording.rate / clip_seconds),
                           recording.frames // bundle.spec.window_samples))  # each part holds a window
        bounds = np.linspace(0, recording.frames, parts + 1).round().astype(int).tolist()
        k, stream, scores = 0, build_stream(bundle, detector), []
        for block in recording.blocks():  # one pass; a block that spans a clip boundary is split there
            start, samples, missing = block.start, block.samples, block.missing
            while samples.shape[0]:
                take = min(samples.shape[0], bounds[k + 1] - start)
                part = Block(start - bounds[k], samples[:take], None if missing is None else missing[:take])
                scores.append(stream.push(part).scores)
                start, samples = start + take, samples[take:]
                missing = None if missing is None else missing[take:]
                if start == bounds[k + 1]:  # clip k is complete: its score, then a fresh stream
                    stream.finish()
                    clip = np.concatenate(scores)
                    if clip.size:
                        clips.append(float(clip.mean()))
                        windows.append(clip)
                    k, stream, scores = k + 1, build_stream(bundle, detector), []
    return np.array(clips, dtype=np.float64), np.concatenate(windows).astype(np.float64)


def series_scores(bundle: Bundle, files: list[Path], variant: str) -> np.ndarray:
    """Donut point scores of one variant: points ending a full window, not missing, not labelled."""
    from edge.pipeline.series_scorer import donut_scorer, load_series, score_series

    scorer = donut_scorer(bundle, variant)
    out = []
    for path in files:
        series = load_series(path, bundle.ecg_spec, bundle.modality)
        scores = score_series(bundle, scorer, series)
        keep = ~np.isnan(scores) & ~series.missing & ~series.labels
        out.append(scores[keep].astype(np.float64))
    return np.concatenate(out)
