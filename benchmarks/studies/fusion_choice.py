"""Which label-free fusion of which members makes the machine-sound default: float scores, per machine id.

Usage (from the project root; fitting every member on every split takes about 12 min on the shared
machine, the 350 rules then about 2 min; a --scores file holds the --members it was fitted with):
  nice -n 10 .venv/bin/python -m benchmarks.studies.fusion_choice --scores raw.pkl [--json out.json]
  .venv/bin/python -m benchmarks.studies.fusion_choice --scores raw.pkl --sets maha+kmeans   # fits nothing

Machines: every machine id with at least 5 normal clips in dcase2020-task2-dev-samples +
dcase2020-task2-lite (fan 06, pump 04, slider 00, toycar 04, toyconveyor 01, valve 02). Splits by
clip: for those ids, leave one normal clip out (fit on the other 4-5 normal clips of the id, score
the held-out normal clip and every anomalous clip of the id); for slider id 00 also 5 seeded draws of
10 of its 75 training clips (dcase2020-slider-id00-train, the acceptance's 10 clips), scoring its 5
normal and 4 anomalous dev + lite clips. No test clip is ever fitted on, normalised with, or looked
at by a rule.

Members (on the ``logmel-stats-seed`` windows the fused bundle computes; --members picks them):
``maha`` (log-mel statistics Mahalanobis, the 256 log-mel columns), ``knn`` (log-mel columns),
``kmeans``, ``gmm``, ``maha17`` (Ledoit-Wolf Mahalanobis, the ``maha-stats`` kind) and ``knn17`` on
the write-up's 17 features. ``kmeans-1s`` is the write-up's own K-means on its 1 s windows (the
baseline). For each split every member's out-of-fold window scores of the fit clips (k = 5 folds by
clip, the folds `vigil train audio` uses) are kept, and so are the out-of-fold scores of seeded
synthetic faults injected over each whole fit clip (train.faults, every kind, seed = CRC-32 of the
clip's file name; the reliability estimate's copies), then the final model's window scores of the
test clips. The fusion rules (benchmarks/studies/fusion_rules.py: normalisation x weight x combine)
are computed from those, label-free.

The table's columns that choose: the worst id's AUC, the largest shortfall below the better of
``maha`` and ``kmeans`` (the shipped members) on the same id, and the mean over the 6 ids. Two
checks follow it: the method chosen on the other machines and scored on the one left out (is the
choice itself sound?), and per id how often each label-free weight favours ``maha`` over ``kmeans``
against the member with the better real-anomaly AUC (does the criterion see it?). AUC and pAUC
(max FPR 0.1) pool the held-out normal clips and the anomalous clips of every split of an id (scores
are normalised per split, so splits share one scale). Float scores (Keras models in memory): the
choice; the exported int8 and float32 bundles of the chosen fusion are measured on the gateway path
by benchmarks/fused_audio.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.studies.detector_selection import float_scorer
from benchmarks.studies.fusion_rules import COMBINES, NORMS, WEIGHTS, Record, fused_clip_scores, normalised, weights
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from train.audio import folds_by_clip
from train.dataset import Clip, discover_clips
from train.detectors import DetectorOptions, registry
from train.faults import FAULT_KINDS, inject
from train.metrics import clip_metrics

DATA = Path(__file__).resolve().parents[3] / "shared/data"
SPEC = FeatureSpec.default("logmel-stats-seed")
FRAMES = FeatureSpec(set="logmel-mean", frames=1, hop_frames=1)
SEED_1S = FeatureSpec.default("seed")
N_MELS = 128
SR = 16000
LOGMEL, WRITEUP = slice(0, 2 * N_MELS), slice(2 * N_MELS, None)
# member -> (detector kind, its columns of the fused windows)
KINDS = {"maha": ("maha", LOGMEL), "envelope": ("maha-envelope", LOGMEL), "kmeans": ("kmeans", WRITEUP),
         "gmm": ("gmm", WRITEUP), "knn": ("knn", LOGMEL), "maha17": ("maha-stats", WRITEUP), "knn17": ("knn", WRITEUP)}
MEMBERS = ("maha", "kmeans", "gmm", "maha17", "knn17")
REFERENCE = ("maha", "kmeans")  # the second round's members: a rule must not fall more than 0.03 below the better
SHIPPED = "max(maha+kmeans) std equal"  # the second round's default (RULE, its MEMBERS, std z scales)
SETS = ("maha+kmeans", "maha+kmeans+gmm", "maha+kmeans+maha17", "maha+kmeans+knn17", "maha+maha17")


class Features:
    """Per clip: fused-set windows (n, 273), log-mel frames (m, 128), the write-up's 1 s windows (k, 17);
    and per (clip, fault kind) the fused-set windows of the faulted copy."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._faulted: dict[tuple[Path, str], np.ndarray] = {}

    def __call__(self, clip: Clip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if clip.path not in self._cache:
            y = load_mono(clip.path, sr=SR)
            self._cache[clip.path] = (SPEC.compute(y), FRAMES.compute(y), SEED_1S.compute(y))
        return self._cache[clip.path]

    def faulted(self, clip: Clip, kind: str) -> np.ndarray:
        if (clip.path, kind) not in self._faulted:
            y = load_mono(clip.path, sr=SR)
            whole = (y.size / SR, y.size / SR)  # over the whole clip, as train.reliability injects
            f, _ = inject(y, SR, kind, zlib.crc32(clip.path.name.encode()), duration_s=whole)
            f = np.round(np.clip(f, -1.0, 1.0) * 32767.0) / 32768.0  # the 16-bit WAV the gateway path reads
            self._faulted[(clip.path, kind)] = SPEC.compute(f.astype(np.float32))
        return self._faulted[(clip.path, kind)]


def member_scorer(name: str, fit: list[Clip], feats: Features, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Fit member `name` on the clips; a function of its input rows (fused-set windows (n, 273), or
    for kmeans-1s the 1 s windows (n, 17)) -> window scores (n,)."""
    options = DetectorOptions(seed=seed)
    if name == "kmeans-1s":
        return float_scorer(registry()["kmeans"], np.concatenate([feats(c)[2] for c in fit]), options)
    kind_name, cols = KINDS[name]
    kind = registry()[kind_name]
    frames = np.concatenate([feats(c)[1] for c in fit]) if kind.fit_on_frames else None
    score = float_scorer(kind, np.concatenate([feats(c)[0][:, cols] for c in fit]), options, frames)
    return lambda x: score(x[:, cols])


def member_record(name: str, fit: list[Clip], tests: list[Clip], feats: Features, seed: int) -> Record:
    """A member's out-of-fold window scores per fit clip (normal and each fault kind's copy) and the
    final model's window scores per test clip."""
    rows = 2 if name == "kmeans-1s" else 0
    oof: list[np.ndarray] = [np.empty(0)] * len(fit)
    faulted: dict[str, list[np.ndarray]] = {k: [np.empty(0)] * len(fit) for k in FAULT_KINDS}
    for held in folds_by_clip(len(fit), 5, seed):
        rest = [c for i, c in enumerate(fit) if i not in set(held.tolist())]
        scorer = member_scorer(name, rest, feats, seed)
        for i in held:
            oof[i] = scorer(feats(fit[i])[rows])
            if name != "kmeans-1s":
                for k in FAULT_KINDS:
                    faulted[k][i] = scorer(feats.faulted(fit[i], k))
    final = member_scorer(name, fit, feats, seed)
    record: Record = {"oof": oof, "test": [final(feats(c)[rows]) for c in tests]}
    return record if name == "kmeans-1s" else record | {"faulted": faulted}


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


def raw_scores(members: tuple[str, ...]) -> dict:
    """{machine: {"labels": [...], "fit_clips": n, "splits": [{member: Record}]}} for every split."""
    feats = Features()
    raw: dict = {}
    for machine, splits in machines():
        labels: list[int] = []
        records = []
        for s, (fit, tests) in enumerate(splits):
            print(f"{machine} split {s}", file=sys.stderr)
            records.append({m: member_record(m, fit, tests, feats, s) for m in (*members, "kmeans-1s")})
            labels += [c.label for c in tests]
        raw[machine] = {"labels": labels, "fit_clips": len(splits[0][0]), "splits": records}
    return raw


Z = Callable[[str, str], Record]  # (member, normalisation) -> the member's normalised record of a split


def methods(members: tuple[str, ...], sets: tuple[str, ...]) -> dict[str, Callable[[Z], np.ndarray]]:
    """Name -> (normalised records of a split) -> test clip scores: every member alone (std), then every
    set x normalisation x weight x combine."""
    out: dict[str, Callable[[Z], np.ndarray]] = {
        m: (lambda z, m=m: np.array([x.mean() for x in z(m, "std")["test"]])) for m in (*members, "kmeans-1s")}
    for group, n, w, c in itertools.product(sets, NORMS, WEIGHTS, COMBINES):
        if w.startswith("select-") and c != "mean":
            continue  # one member: the combine does not matter
        names = tuple(group.split("+"))
        out[f"{c}({group}) {n} {w}"] = (
            lambda z, names=names, n=n, w=w, c=c: fused_clip_scores({m: z(m, n) for m in names}, w, c))
    return out


def evaluate(raw: dict, members: tuple[str, ...], sets: tuple[str, ...]) -> dict:
    """Per machine and method: pooled AUC and pAUC, with the counts."""
    result: dict = {}
    chosen = methods(members, sets)
    for machine, m in raw.items():
        y = np.array(m["labels"])
        pooled: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
        for split in m["splits"]:
            memo: dict[tuple[str, str], Record] = {}

            def z(member: str, how: str, split: dict = split, memo: dict = memo) -> Record:
                if (member, how) not in memo:
                    memo[(member, how)] = normalised(split[member], how)
                return memo[(member, how)]

            for name, fn in chosen.items():
                pooled[name].append(fn(z))
        result[machine] = {"splits": len(m["splits"]), "fit_clips": m["fit_clips"], "normal": int((y == 0).sum()),
                           "anomalous": int(y.sum()),
                           "methods": {n: {k: clip_metrics(y, np.concatenate(v), 0.0)[k] for k in ("auc", "pauc")}
                                       for n, v in pooled.items()}}
    return result


def _row(result: dict, name: str, ids: list[str]) -> tuple[list[float], float, float, float]:
    """A method's AUC per machine, its worst, its largest shortfall below the better of the current
    members (REFERENCE) on the same machine, and its mean over `ids`."""
    aucs = [result[m]["methods"][name]["auc"] for m in result]
    best = [max(result[m]["methods"][k]["auc"] for k in REFERENCE) for m in result]
    shortfall = max(b - a for a, b in zip(aucs, best, strict=True))
    return aucs, min(aucs), shortfall, float(np.mean([result[m]["methods"][name]["auc"] for m in ids]))


def table(result: dict, members: tuple[str, ...], top: int) -> None:
    """Markdown: per method the AUC per id, the worst id, the largest shortfall below the better of
    maha and kmeans on that id, the mean (the columns that choose); the members, then the `top`
    fusions by worst id and then mean (the shipped default among the first rows)."""
    ids = [m for m in result if "train clips" not in m]
    rows = [(name, *_row(result, name, ids)) for name in next(iter(result.values()))["methods"]]
    single = [r for r in rows if r[0] in (*members, "kmeans-1s", SHIPPED)]
    fused = sorted((r for r in rows if r not in single), key=lambda r: (-round(r[2], 3), -r[4]))[:top]
    print("| method | " + " | ".join(result) + " | worst id | largest shortfall below maha or kmeans | mean (6 ids) |")
    print("|---|" + "---|" * (len(result) + 3))
    for name, aucs, worst, shortfall, mean in single + fused:
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aucs)
              + f" | {worst:.3f} | {shortfall:.3f} | {mean:.3f} |")
    print("\nclips per id (splits, fit clips per split, pooled normal + anomalous test scores): "
          + "; ".join(f"{m}: {t['splits']}, {t['fit_clips']}, {t['normal']} + {t['anomalous']}"
                      for m, t in result.items()))


def held_out_choice(result: dict) -> None:
    """Is choosing a rule on these machines itself sound? For each machine, choose the method (members
    and every rule) on the OTHER machines (both slider rows count as one machine) by worst id, then
    mean, and print what the choice scores on the machine left out."""
    names = list(next(iter(result.values()))["methods"])
    print("\n| machine left out | chosen on the others (worst id, then mean) | its AUC there | maha | kmeans | "
          "max(maha+kmeans) std equal |")
    print("|---|---|---|---|---|---|")
    got = []
    for held in result:
        rest = [m for m in result if m != held and not ("slider" in held and "slider" in m)]
        chosen = max(names, key=lambda n: (round(min(result[m]["methods"][n]["auc"] for m in rest), 3),
                                           np.mean([result[m]["methods"][n]["auc"] for m in rest])))
        auc = [result[held]["methods"][n]["auc"] for n in (chosen, "maha", "kmeans", SHIPPED)]
        got.append(auc[0])
        print(f"| {held} | {chosen} | " + " | ".join(f"{a:.3f}" for a in auc) + " |")
    print(f"\nchosen on the others, scored on the machine left out: worst {min(got):.3f}, mean over the 6 ids "
          f"{np.mean([a for a, m in zip(got, result, strict=True) if 'train clips' not in m]):.3f}")


def favoured(raw: dict, result: dict) -> None:
    """Does a label-free criterion favour the member that separates the real anomalies better? Per
    machine: in how many splits each weight gives maha more weight than kmeans (std z), against the
    member with the higher pooled real-anomaly AUC."""
    criteria = ("faults", "clip-compact", "compact")
    print("\n| machine | better member on the real anomalies (AUC maha / kmeans) | "
          + " | ".join(f"splits where `{c}` favours maha" for c in criteria) + " |")
    print("|---|---|" + "---|" * len(criteria))
    for machine, m in raw.items():
        counts = dict.fromkeys(criteria, 0)
        for split in m["splits"]:
            zs = {k: normalised(split[k], "std") for k in REFERENCE}
            for c in criteria:
                w = weights(zs, c)
                counts[c] += int(w["maha"] > w["kmeans"])
        a = [result[machine]["methods"][k]["auc"] for k in REFERENCE]
        print(f"| {machine} | {REFERENCE[int(a[1] > a[0])]} ({a[0]:.3f} / {a[1]:.3f}) | "
              + " | ".join(f"{n} of {len(m['splits'])}" for n in counts.values()) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scores", type=Path, help="raw member scores: read if it exists, else fitted and written")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--members", default=",".join(MEMBERS), help="members fitted (default: %(default)s)")
    parser.add_argument("--sets", default=",".join(SETS), help="member sets fused (default: %(default)s)")
    parser.add_argument("--top", type=int, default=25, help="fusions printed, best worst-id first")
    args = parser.parse_args()
    members = tuple(args.members.split(","))
    sets = tuple(s for s in args.sets.split(",") if set(s.split("+")) <= set(members))
    if args.scores and args.scores.exists():
        raw = pickle.loads(args.scores.read_bytes())
    else:
        raw = raw_scores(members)
        if args.scores:
            args.scores.write_bytes(pickle.dumps(raw))
    result = evaluate(raw, members, sets)
    table(result, members, args.top)
    held_out_choice(result)
    favoured(raw, result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
