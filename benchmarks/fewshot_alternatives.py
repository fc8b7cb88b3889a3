"""Two alternatives to the default `maha`, measured on one machine at a time and not adopted.

Usage (from the project root, about 5 min on one core):
  nice -n 10 .venv/bin/python -m benchmarks.fewshot_alternatives

Protocol: `benchmarks.fewshot_audio ids` (each machine id with >= 5 normal clips in dev-samples + lite;
leave one normal clip out, fit on the other 4-5 clips of the same machine; AUC of the held-out normal
clips' scores against the anomalous clips' scores averaged over the folds). Float64 NumPy, not
exported: these are studies, and the default's own float column reproduces the benchmark within
one swapped pair (the fine block's 4096-sample frames leave one window fewer per clip).

- maha: the default (band means whitened with the covariance of single log-mel frames, band stds
  with that of the 1 s windows, each block at unit RMS on the fitted windows).
- maha+fine: a third block, the log power of the linear STFT bins up to 1 kHz (n_fft 4096, 3.9 Hz
  bins) averaged over the same 1 s, whitened with the covariance of its frames. Meant for rotating
  machines, whose blade and shaft tones move by a few Hz with speed or load, finer than a mel band.
- oe: "outlier exposure", the DCASE 2020 winners' idea scaled down: a logistic regression between
  this machine's normal windows and every other machine's normal windows (other ids and types of
  the same data; never an anomalous clip), score = minus its logit, plus the default's distance at
  weight 0.3 (the logit's scale is not the distance's: the weight is from a grid of 0, 0.3, 0.5).
  "oe, other types": the same with no machine of the same type in the reference, a user's usual case
  (a reference shipped with vigil would rarely hold their kind of machine).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.signal import stft
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from edge.features import audio
from edge.io.wav import load_mono
from train.dataset import Clip, discover_clips
from train.detectors.fewshot import whitening

DATA = Path(__file__).resolve().parents[2] / "shared/data"
SR = 16000
FINE_FFT, FINE_MAX_HZ = 4096, 1000.0
Scorer = Callable[[dict[str, np.ndarray]], np.ndarray]  # clip features -> window scores (n,)


def features(y: np.ndarray) -> dict[str, np.ndarray]:
    """Windows (n, 256) as the gateway computes them; log-mel frames (m, 128); fine frames (k, 257)
    and their 1 s means (n', 257)."""
    mag = audio.magnitude_spectrum(audio.frames(y, 1024, 512), 1024)
    frames = 10 * np.log10(audio.mel_power(mag * mag, sr=SR, n_fft=1024, n_mels=128) + 1e-12)
    f, _, z = stft(y, fs=SR, nperseg=FINE_FFT, noverlap=FINE_FFT // 2, boundary=None, padded=False)
    fine = 10 * np.log10((np.abs(z[f <= FINE_MAX_HZ]) ** 2).T + 1e-12)
    per = SR // (FINE_FFT // 2)  # fine frames per second
    n = fine.shape[0] // per
    return {"windows": audio.logmel_stats(y, sr=SR).astype(np.float64), "frames": frames,
            "fine": fine, "fine_windows": fine[:n * per].reshape(n, per, -1).mean(1)}


class Block:
    """Mahalanobis distance with a Ledoit-Wolf covariance of x (n, d), columns scaled to unit std."""

    def __init__(self, x: np.ndarray) -> None:
        self.scale = np.maximum(x.std(axis=0), 1e-6)
        self.mu, self.w, _ = whitening(x / self.scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.linalg.norm((x / self.scale - self.mu) @ self.w, axis=1)


class Maha:
    """The default's blocks, optionally with the fine block; per-window distance (n,)."""

    def __init__(self, fit: list[dict[str, np.ndarray]], fine: bool) -> None:
        self.fine = fine
        self.blocks = [Block(np.concatenate([f["frames"] for f in fit])),
                       Block(np.concatenate([f["windows"][:, 128:] for f in fit]))]
        if fine:
            self.blocks.append(Block(np.concatenate([f["fine"] for f in fit])))
        self.rms = np.ones(len(self.blocks))
        d = np.concatenate([self._raw(f) for f in fit])
        self.rms = np.sqrt(np.mean(d**2, axis=0))

    def _raw(self, f: dict[str, np.ndarray]) -> np.ndarray:
        w = f["windows"]
        n = min(len(w), len(f["fine_windows"])) if self.fine else len(w)
        parts = [self.blocks[0](w[:n, :128]), self.blocks[1](w[:n, 128:])]
        if self.fine:
            parts.append(self.blocks[2](f["fine_windows"][:n]))
        return np.stack(parts, axis=1)

    def __call__(self, f: dict[str, np.ndarray]) -> np.ndarray:
        return np.sqrt(((self._raw(f) / self.rms) ** 2).sum(axis=1))


class OutlierExposure:
    """Logistic regression of this machine's normal windows against reference windows, plus maha."""

    def __init__(self, fit: list[dict[str, np.ndarray]], reference: np.ndarray, weight: float = 0.3) -> None:
        x = np.concatenate([f["windows"] for f in fit])
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        z = np.concatenate([(x - self.mean) / self.std, (reference - self.mean) / self.std])
        y = np.r_[np.ones(len(x)), np.zeros(len(reference))]
        self.clf = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(z, y)
        self.maha, self.weight = Maha(fit, fine=False), weight

    def __call__(self, f: dict[str, np.ndarray]) -> np.ndarray:
        logit = self.clf.decision_function((f["windows"] - self.mean) / self.std)
        return (1 - self.weight) * -logit + self.weight * self.maha(f)


def _key(c: Clip) -> tuple[str, str]:
    return c.machine_type or "", (c.machine_id or "").removeprefix("id_")


def main() -> None:
    clips = discover_clips(DATA / "dcase2020-task2-dev-samples") + discover_clips(DATA / "dcase2020-task2-lite")
    feats = {c.path: features(load_mono(c.path, sr=SR)) for c in clips}
    names = ("maha", "maha+fine", "oe", "oe, other types")
    rows: dict[str, dict[str, float]] = {}
    for machine in sorted({_key(c) for c in clips}):
        normals = [c for c in clips if _key(c) == machine and c.label == 0]
        anomalous = [c for c in clips if _key(c) == machine and c.label == 1]
        if len(normals) < 5 or not anomalous:
            continue
        others = [c for c in clips if _key(c) != machine and c.label == 0]
        reference = np.concatenate([feats[c.path]["windows"] for c in others])
        other_types = np.concatenate([feats[c.path]["windows"] for c in others if c.machine_type != machine[0]])
        held_scores: dict[str, list[float]] = {n: [] for n in names}
        anomalous_scores = {n: np.zeros(len(anomalous)) for n in names}
        for held in normals:
            fit = [feats[c.path] for c in normals if c is not held]
            models: dict[str, Scorer] = {"maha": Maha(fit, fine=False), "maha+fine": Maha(fit, fine=True),
                                         "oe": OutlierExposure(fit, reference),
                                         "oe, other types": OutlierExposure(fit, other_types)}
            for n, model in models.items():
                held_scores[n].append(float(model(feats[held.path]).mean()))
                anomalous_scores[n] += np.array([model(feats[c.path]).mean() for c in anomalous]) / len(normals)
        y = np.r_[np.zeros(len(normals)), np.ones(len(anomalous))]
        rows[f"{machine[0]} id_{machine[1]} ({len(normals)} + {len(anomalous)})"] = {
            n: float(roc_auc_score(y, np.r_[held_scores[n], anomalous_scores[n]])) for n in names}
        print(f"{machine} done", flush=True)
    print("\n| machine (normal + anomalous clips) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key, r in rows.items():
        print(f"| {key} | " + " | ".join(f"{r[n]:.3f}" for n in names) + " |")
    print("| **mean** | " + " | ".join(f"{np.mean([r[n] for r in rows.values()]):.3f}" for n in names) + " |")


if __name__ == "__main__":
    main()
