"""Which label-free fusion of which members makes the machine-sound default: float scores, per machine id.

Usage (from the project root, a few minutes on one core):
  nice -n 10 .venv/bin/python -m benchmarks.studies.fusion_choice [--json out.json]

Machines: every machine id with at least 5 normal clips in dcase2020-task2-dev-samples +
dcase2020-task2-lite (fan 06, pump 04, slider 00, toycar 04, toyconveyor 01, valve 02). Splits by
clip: for those ids, leave one normal clip out (fit on the other 4-5 normal clips of the id, score
the held-out normal clip and every anomalous clip of the id); for slider id 00 also 5 seeded draws of
10 of its 75 training clips (dcase2020-slider-id00-train, the acceptance's 10 clips), scoring its 5
normal and 4 anomalous dev + lite clips. No test clip is ever fitted on or normalised with.

Members (on the ``logmel-stats-seed`` windows the fused bundle computes; --members picks them):
``maha`` (log-mel statistics Mahalanobis, the 256 log-mel columns), ``kmeans`` and ``gmm`` (the
write-up's 17 features: K-means with one centre, a one-component Gaussian) and ``knn`` (log-mel
columns).
``kmeans-1s`` is the write-up's own K-means on its 1 s windows (the baseline). Each member's window
score is z-normalised by the mean and std of its out-of-fold scores on the fit clips (k = 5 folds by
clip, or one per clip with fewer), of its windows ("window scale": the scores `vigil train audio`
keeps in the manifest) or of its clips ("clip scale"). A fusion is the mean, max or min of its
members' z-scores per window; clip score = mean window score. The table's columns that choose: the
worst id's AUC, the largest shortfall below the best single member of the same id, and the mean
over the 6 ids. AUC and pAUC (max FPR 0.1) pool the held-out normal clips and the anomalous clips of
every split of an id (scores are z-normalised per split, so splits share one scale).

Float scores (Keras models in memory): the choice; the exported int8 and float32 bundles of the
chosen fusion are measured on the gateway path by benchmarks/fused_audio.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.studies.detector_selection import float_scorer
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from train.audio import folds_by_clip
from train.dataset import Clip, discover_clips
from train.detectors import DetectorOptions, registry
from train.metrics import clip_metrics

DATA = Path(__file__).resolve().parents[3] / "shared/data"
SPEC = FeatureSpec.default("logmel-stats-seed")
FRAMES = FeatureSpec(set="logmel-mean", frames=1, hop_frames=1)
SEED_1S = FeatureSpec.default("seed")
N_MELS = 128
COLUMNS = {"maha": slice(0, 2 * N_MELS), "knn": slice(0, 2 * N_MELS), "kmeans": slice(2 * N_MELS, None),
           "gmm": slice(2 * N_MELS, None)}
MEMBERS = tuple(COLUMNS)
RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"mean": lambda z: z.mean(axis=0),
                                                        "max": lambda z: z.max(axis=0),
                                                        "min": lambda z: z.min(axis=0)}
SETS = (("maha", "kmeans"), ("maha", "gmm"), ("maha", "kmeans", "gmm"), ("maha", "kmeans", "knn"),
        ("maha", "kmeans", "gmm", "knn"))


class Features:
    """Per clip: fused-set windows (n, 273), log-mel frames (m, 128), the write-up's 1 s windows (k, 17)."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, clip: Clip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if clip.path not in self._cache:
            y = load_mono(clip.path, sr=16000)
            self._cache[clip.path] = (SPEC.compute(y), FRAMES.compute(y), SEED_1S.compute(y))
        return self._cache[clip.path]


def member_scorer(name: str, fit: list[Clip], feats: Features, seed: int) -> Callable[[Clip], np.ndarray]:
    """Fit member `name` on the clips; a function clip -> its window scores (n,)."""
    kind = registry()["kmeans" if name == "kmeans-1s" else name]
    options = DetectorOptions(seed=seed)
    if name == "kmeans-1s":
        score = float_scorer(kind, np.concatenate([feats(c)[2] for c in fit]), options)
        return lambda c: score(feats(c)[2])
    cols = COLUMNS[name]
    frames = np.concatenate([feats(c)[1] for c in fit]) if kind.fit_on_frames else None
    score = float_scorer(kind, np.concatenate([feats(c)[0][:, cols] for c in fit]), options, frames)
    return lambda c: score(feats(c)[0][:, cols])


def member_windows(name: str, fit: list[Clip], tests: list[Clip], feats: Features,
                   seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A member's out-of-fold window scores per fit clip and the final model's per test clip."""
    oof: list[np.ndarray] = [np.empty(0)] * len(fit)
    for held in folds_by_clip(len(fit), 5, seed):
        rest = [c for i, c in enumerate(fit) if i not in set(held.tolist())]
        scorer = member_scorer(name, rest, feats, seed)
        for i in held:
            oof[i] = scorer(fit[i])
    final = member_scorer(name, fit, feats, seed)
    return oof, [final(c) for c in tests]


def scales(oof: list[np.ndarray], level: str) -> tuple[float, float]:
    """(mean, std) of the out-of-fold normal scores: of the windows, or of the clips (mean window score)."""
    values = np.concatenate(oof) if level == "window" else np.array([w.mean() for w in oof])
    return float(values.mean()), max(float(values.std()), 1e-9)


def split_scores(fit: list[Clip], tests: list[Clip], feats: Features, seed: int, members: tuple[str, ...],
                 sets: tuple[tuple[str, ...], ...]) -> dict[str, np.ndarray]:
    """Clip scores (len(tests),) of every member and every fusion (rule x scale level) for one split."""
    raw = {name: member_windows(name, fit, tests, feats, seed) for name in (*members, "kmeans-1s")}
    out = {}
    for level in ("window", "clip"):
        z = {}
        for name, (oof, test) in raw.items():
            mu, sd = scales(oof, level)
            z[name] = [(w - mu) / sd for w in test]
        if level == "window":
            out |= {name: np.array([w.mean() for w in windows]) for name, windows in z.items()}
        for group, (rule, fn) in itertools.product(sets, RULES.items()):
            out[f"{rule}({'+'.join(group)}) {level} scale"] = np.array(
                [fn(np.stack([z[m][i] for m in group])).mean() for i in range(len(tests))])
    return out


def machines() -> list[tuple[str, list[tuple[list[Clip], list[Clip]]]]]:
    """(machine, [(fit clips, test clips) per split])."""
    clips = discover_clips(DATA / "dcase2020-task2-dev-samples") + discover_clips(DATA / "dcase2020-task2-lite")
    ids = sorted({(c.machine_type or "", (c.machine_id or "").removeprefix("id_")) for c in clips})
    out = []
    for machine, mid in ids:
        mine = [c for c in clips if (c.machine_type, (c.machine_id or "").removeprefix("id_")) == (machine, mid)]
        normals, anomalous = [c for c in mine if c.label == 0], [c for c in mine if c.label == 1]
        if len(normals) < 5 or not anomalous:
            continue
        out.append((f"{machine} id_{mid}", [([c for c in normals if c is not held], [held, *anomalous])
                                            for held in normals]))
        if (machine, mid) == ("slider", "00"):
            train = [Clip(c.path, 0, "slider", "id_00") for c in discover_clips(DATA / "dcase2020-slider-id00-train")]
            draws = [[train[i] for i in np.sort(np.random.default_rng(r).permutation(len(train))[:10])]
                     for r in range(5)]
            out.append(("slider id_00 (10 train clips)", [(fit, normals + anomalous) for fit in draws]))
    return out


def run(members: tuple[str, ...], sets: tuple[tuple[str, ...], ...]) -> dict:
    feats = Features()
    result: dict = {}
    for machine, splits in machines():
        pooled: dict[str, list[float]] = {}
        labels: list[int] = []
        for s, (fit, tests) in enumerate(splits):
            print(f"{machine} split {s}", file=sys.stderr)
            for name, scores in split_scores(fit, tests, feats, s, members, sets).items():
                pooled.setdefault(name, []).extend(scores.tolist())
            labels += [c.label for c in tests]
        y = np.array(labels)
        result[machine] = {"splits": len(splits), "fit_clips": len(splits[0][0]), "normal": int((y == 0).sum()),
                           "anomalous": int(y.sum()),
                           "methods": {n: {k: clip_metrics(y, np.array(v), 0.0)[k] for k in ("auc", "pauc")}
                                       for n, v in pooled.items()}}
    return result


def table(result: dict, members: tuple[str, ...]) -> None:
    """Markdown: per method the AUC per id, the worst id, the largest shortfall below the best single
    member of that id, the mean (the columns that chose the default)."""
    ids = [m for m in result if "train clips" not in m]
    methods = list(next(iter(result.values()))["methods"])
    print("| method | " + " | ".join(result) + " | worst id | largest shortfall below the best member | mean (6 ids) |")
    print("|---|" + "---|" * (len(result) + 3))
    for name in methods:
        aucs = [result[m]["methods"][name]["auc"] for m in result]
        best = [max(result[m]["methods"][k]["auc"] for k in members) for m in result]
        six = [result[m]["methods"][name]["auc"] for m in ids]
        shortfall = max(b - a for a, b in zip(aucs, best, strict=True))
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aucs)
              + f" | {min(aucs):.3f} | {shortfall:.3f} | {np.mean(six):.3f} |")
    print("\nclips per id (splits, fit clips per split, pooled normal + anomalous test scores): "
          + "; ".join(f"{m}: {t['splits']}, {t['fit_clips']}, {t['normal']} + {t['anomalous']}"
                      for m, t in result.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--members", default=",".join(MEMBERS), help="members fitted (default: all four)")
    parser.add_argument("--from-json", type=Path, help="print the table of an earlier run's --json, fit nothing")
    args = parser.parse_args()
    members = tuple(args.members.split(","))
    if args.from_json:
        table(json.loads(args.from_json.read_text()), members)
        return
    result = run(members, tuple(g for g in SETS if set(g) <= set(members)))
    table(result, members)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
