"""How far a machine-sound bundle can be trusted, from its out-of-fold scores only.

No anomalous recording of the user's machine is needed. For each out-of-fold model (fitted without
some normal clips), the clips it never saw are scored twice: as they are, and with each seeded synthetic
fault of ``train.faults`` injected over the whole clip (one copy per kind). Two things follow:

* ``faults``: per kind, the AUC of the faulted copies against the held-out normal clips (both scored by
  models that never saw the clip), and its mean, the ``estimate``. A bundle that cannot tell a whine or a
  speed change from its normal clips will not tell such a real fault either; the converse does not hold:
  over six machine ids the estimate did not rank the real-anomaly AUCs (Spearman -0.46,
  reports/machine-sound/reliability.md): real faults can be far subtler than these.
* ``unlike``: normal clips whose held-out score is far above the other clips' (a robust z over the rest,
  median and MAD, above ``UNLIKE_Z``): a state of the machine (a speed, a load) the other clips do not
  show. The bundle would raise events on it; the cure is more recording of the machine's normal states.

The advice is said in plain words, kept in the manifest under ``reliability``, and printed by
`vigil train audio`. Synthetic faults are never mixed with real anomalies: the bundle's ``metrics`` keep
the real ones apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from sklearn.metrics import roc_auc_score

from edge.bundle.loader import load_bundle
from edge.detectors.base import load_detector
from edge.io.wav import load_mono
from edge.pipeline.file_scoring import score_file
from train.dataset import Clip
from train.faults import FAULT_KINDS, inject

FAULT_SCALE = 1.0  # the faults' change is scaled by this (1: train.faults' levels); a study's knob
UNLIKE_Z = 3.5  # robust z (MAD scaled to a normal's sigma) over the other held-out clips
WEAK_AUC = 0.8  # a fault kind under this is called hard to tell


def fault_seed(seed: int, clip_index: int) -> int:
    """The seed of clip `clip_index`'s faults: fixed by the training seed, different per clip."""
    return 10_000 * seed + clip_index


def score_faulted(bundle_dir: Path, variant: str, clips: list[Clip], indices: np.ndarray, seed: int,
                  workdir: Path, acc: dict[str, np.ndarray]) -> None:
    """Score, with `bundle_dir`'s `variant`, clips[i] (i in indices) with each fault kind injected, into
    acc[kind][i] (clip scores, the mean of the window scores as for a real clip). The faulted copies are
    written to `workdir` as 16-bit WAV, which the gateway path reads like any recording."""
    bundle = load_bundle(bundle_dir)
    detector = load_detector(bundle, variant)
    sr = int(bundle.spec.sr)
    workdir.mkdir(parents=True, exist_ok=True)
    for i in indices:
        y = load_mono(clips[i].path, sr=sr)
        for kind in FAULT_KINDS:
            # the whole clip, as a real anomalous clip is (a clip score is the mean of its windows: a 2 s fault
            # in a 10 s clip would be diluted five-fold)
            faulted, _ = inject(y, sr, kind, fault_seed(seed, int(i)), duration_s=(y.size / sr, y.size / sr))
            faulted = y + FAULT_SCALE * (faulted - y)
            path = workdir / f"{i}-{kind}.wav"
            soundfile.write(path, np.clip(faulted, -1.0, 1.0), sr, subtype="PCM_16")
            acc[kind][i] = score_file(bundle, detector, path).clip_score
            path.unlink()


def unlike_clips(scores: np.ndarray) -> list[int]:
    """Indices of clip scores (n,) far above the others: robust z over the rest above UNLIKE_Z."""
    out = []
    for i, s in enumerate(scores):
        rest = np.delete(scores, i)
        if rest.size < 3:
            return []
        median = float(np.median(rest))
        mad = 1.4826 * float(np.median(np.abs(rest - median)))
        scale = max(mad, 1e-6 * max(abs(median), 1.0))
        if (s - median) / scale > UNLIKE_Z:
            out.append(i)
    return out


def reliability_entry(normal: np.ndarray, faulted: dict[str, np.ndarray], clips: list[Clip], variant: str,
                      how: str) -> dict[str, Any]:
    """The manifest's ``reliability``: per fault kind the AUC of faulted held-out copies against the
    held-out normal clips (`normal` (n,), `faulted[kind]` (n,): clip scores), the normal clips that score
    unlike the rest, and the advice in words."""
    labels = np.r_[np.zeros(normal.size), np.ones(normal.size)]
    aucs = {kind: round(float(roc_auc_score(labels, np.r_[normal, s])), 4) for kind, s in faulted.items()}
    estimate = round(float(np.mean(list(aucs.values()))), 4)
    unlike = unlike_clips(normal)
    return {"variant": variant, "of": how, "faults": aucs, "estimate": estimate,
            "unlike": [clips[i].path.name for i in unlike], "normal_clips": int(normal.size),
            "advice": advice(aucs, len(unlike), int(normal.size))}


def advice(aucs: dict[str, float], unlike: int, clips: int) -> str:
    """What a user should do about the estimate, in one or two sentences."""
    said = []
    if unlike:
        said.append(f"{unlike} of {clips} normal clips look unlike the rest when held out: record more of the "
                    "machine's normal states (other speeds, loads or times of day) and train again")
    weak = [k for k, a in aucs.items() if a < WEAK_AUC]
    if weak:
        said.append(f"synthetic {', '.join(weak)} faults are hard to tell from normal "
                    f"(AUC {', '.join(f'{aucs[k]:.2f}' for k in weak)}): faults of that kind may go unseen")
    if not said:
        return (f"every synthetic fault kind is told from held-out normal clips (AUC >= {WEAK_AUC}) and no "
                "normal clip looks unlike the rest: enough recording for this estimate")
    return "; ".join(said) + "."


def reliability_lines(entry: dict[str, Any]) -> list[str]:
    """The estimate as `vigil train audio` prints it."""
    faults = ", ".join(f"{k} {v:.2f}" for k, v in entry["faults"].items())
    return [f"reliability ({entry['variant']}, synthetic faults vs held-out normal clips, AUC): {faults}; "
            f"mean {entry['estimate']:.2f} (what it can tell of such faults, not a forecast of real ones: "
            "reports/machine-sound/reliability.md)", f"  {entry['advice']}"]
