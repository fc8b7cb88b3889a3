"""Per-machine detector choice from normal clips only: validate on faults injected into held-out clips.

The normal clips are halved by clip (seeded); each candidate is fitted (float, in memory) on one
half and scores the other half clean and with each synthetic fault of ``train.faults`` injected;
the candidate with the best mean AUC (clean vs faulty clip scores) over the fault kinds wins.
No real anomalous clip is looked at.

Measured (benchmarks/fewshot_audio.py curve, probable slider id 00, candidates maha, knn, kmeans):
it did not help, so `vigil train audio` does not select: with 5 clips it picked the write-up's
K-means once and lost AUC on the real anomalies (0.95 against 1.00 for maha); from 10 clips it
mostly picked knn, equal to maha on the real anomalies. It stays here for the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from train.detectors import DetectorKind, DetectorOptions
from train.faults import FAULT_KINDS, inject
from train.metrics import clip_metrics

Loader = Callable[[object], np.ndarray]  # clip -> mono float32 samples


def float_scorer(kind: DetectorKind, x: np.ndarray, options: DetectorOptions,
                 frames: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Fit `kind` on raw features x (n, d) (and raw log-mel frames (m, n_mels) for kinds fitted on
    frames); a function raw features (m, d) -> window scores (m,) (float Keras)."""
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)
    extra: dict[str, object] = {}
    if frames is not None:
        extra["frames"] = ((frames - mean[: frames.shape[1]]) / std[: frames.shape[1]]).astype(np.float32)
    if kind.fit_on_scale:
        extra["scale"] = (mean, std)
    trained = kind.fit(((x - mean) / std).astype(np.float32), None, options, **extra)

    def score(f: np.ndarray) -> np.ndarray:
        out = np.asarray(trained.model(((f - mean) / std).astype(np.float32)))
        if trained.score == "projection_norm":
            return np.sqrt(np.sum(out * out, axis=1))
        if trained.score == "nearest_offset_norm":  # (m, centres, d) offsets: the nearest centre's norm
            return np.sqrt(np.sum(out * out, axis=2).min(axis=1))
        if trained.score == "reconstruction_mse":
            z = (f - mean) / std
            return np.mean(np.square(out - z), axis=1)
        return out[:, 0]

    return score


def fault_auc(kinds: list[DetectorKind], clips: list[object], load: Loader, sr: int, seed: int,
              options: DetectorOptions) -> dict[str, dict[str, float]]:
    """Per candidate: AUC per fault kind (clean vs faulty held-out clips) and their mean."""
    order = np.random.default_rng(seed).permutation(len(clips))
    fit = [clips[i] for i in order[: len(clips) // 2]]
    held = [clips[i] for i in order[len(clips) // 2:]]
    audio = {id(c): load(c) for c in fit + held}
    faulty = {k: [inject(audio[id(c)], sr, k, seed + i)[0] for i, c in enumerate(held)] for k in FAULT_KINDS}
    result: dict[str, dict[str, float]] = {}
    for kind in kinds:
        spec = kind.spec(options)
        frames = None
        if kind.fit_on_frames:
            frames = np.concatenate([kind.frame_spec(options).compute(audio[id(c)]) for c in fit])
        score = float_scorer(kind, np.concatenate([spec.compute(audio[id(c)]) for c in fit]), options, frames)
        clean = [float(score(spec.compute(audio[id(c)])).mean()) for c in held]
        result[kind.name] = {}
        for k, ys in faulty.items():
            bad = [float(score(spec.compute(y)).mean()) for y in ys]
            labels = np.array([0] * len(clean) + [1] * len(bad))
            result[kind.name][k] = float(clip_metrics(labels, np.array(clean + bad), 0.0)["auc"])
        result[kind.name]["mean"] = float(np.mean([result[kind.name][k] for k in FAULT_KINDS]))
    return result


def select_detector(kinds: list[DetectorKind], clips: list[object], load: Loader, sr: int, seed: int,
                    options: DetectorOptions) -> tuple[str, dict[str, dict[str, float]]]:
    """The candidate with the best mean injected-fault AUC (ties: the first listed), and all figures."""
    if len(clips) < 4:
        raise ValueError(f"{len(clips)} normal clips: selection needs at least 4 (2 to fit, 2 held out)")
    figures = fault_auc(kinds, clips, load, sr, seed, options)
    best = max(kinds, key=lambda k: figures[k.name]["mean"]).name
    return best, figures
