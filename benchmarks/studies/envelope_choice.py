"""The envelope member: how many cepstral coefficients, and its fusion with maha (float scores, per machine id).

Usage (from the project root; about 3 min on the shared 2-core machine):
  nice -n 10 .venv/bin/python -m benchmarks.studies.envelope_choice [--coefficients 13,16,20,24,32,48,64,128]
  nice -n 10 .venv/bin/python -m benchmarks.studies.envelope_choice --tiny-ids   # the check on other ids (1 min)

Same machines, splits and pooling as benchmarks/studies/fusion_choice.py (its docstring): leave one
normal clip out per machine id with at least 5 normal clips, slider id 00 also fitted on 5 seeded
draws of 10 training clips. For each split, each candidate is fitted on the fit clips only; its window
scores are z-normalised by its out-of-fold normal window scores (k = 5 folds by clip, the folds of
`vigil train audio`); a clip's score is its mean window z. Candidates: ``maha`` and ``kmeans`` (the
members of the default before), ``env-K`` (``edge.learn.refit.envelope_projection`` with K cepstral
coefficients: the band means' covariance from single frames, as the trained member), and the max and
mean of ``maha`` with each ``env-K``. No test clip is fitted on, normalised with or looked at.

--tiny-ids: a check on the machine ids the choice never saw, those with 2 normal clips (dev-samples
+ lite): fit each member (``maha``, ``maha-envelope`` with 24 coefficients, ``kmeans``) on one normal
clip, score the other and the id's anomalous clips, both ways round; the share of (normal, anomalous)
pairs ranked right (4 pairs per id with 2 anomalous clips). Members only: one fit clip gives no
out-of-fold scores to fuse with.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from benchmarks.studies.fusion_choice import DATA, Features, machines, member_scorer
from edge.learn.refit import envelope_projection, project
from train.audio import folds_by_clip
from train.dataset import Clip, discover_clips
from train.metrics import clip_metrics

N_LOGMEL = 256
Scorer = Callable[[np.ndarray], np.ndarray]  # fused-set windows (n, 273) -> window scores (n,)


def envelope_scorer(fit: list[Clip], feats: Features, k: int) -> Scorer:
    x = np.concatenate([feats(c)[0][:, :N_LOGMEL] for c in fit]).astype(np.float64)
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)
    frames = (np.concatenate([feats(c)[1] for c in fit]) - mean[:128]) / std[:128]
    projection = envelope_projection((x - mean) / std, frames, std, k)
    return lambda rows: project((rows[:, :N_LOGMEL] - mean) / std, projection)


def fitter(name: str) -> Callable[[list[Clip], Features, int], Scorer]:
    if name.startswith("env-"):
        return lambda fit, feats, _seed: envelope_scorer(fit, feats, int(name[4:]))
    return lambda fit, feats, seed: member_scorer(name, fit, feats, seed)


def split_windows(name: str, fit: list[Clip], tests: list[Clip], feats: Features, seed: int) -> list[np.ndarray]:
    """The candidate's test-clip window z-scores (by its out-of-fold normal window scores)."""
    fit_fn = fitter(name)
    oof = []
    for held in folds_by_clip(len(fit), 5, seed):
        rest = [c for i, c in enumerate(fit) if i not in set(held.tolist())]
        score = fit_fn(rest, feats, seed)
        oof += [score(feats(fit[i])[0]) for i in held]
    normal = np.concatenate(oof)
    score = fit_fn(fit, feats, seed)
    return [(score(feats(c)[0]) - normal.mean()) / normal.std() for c in tests]


def tiny_ids() -> None:
    """The --tiny-ids check (module docstring): one row per machine id, then the mean over them."""
    clips = discover_clips(DATA / "dcase2020-task2-dev-samples") + discover_clips(DATA / "dcase2020-task2-lite")
    feats = Features()
    members = ("maha", "envelope", "kmeans")
    shares: dict[str, list[float]] = {m: [] for m in members}
    print("| machine id | pairs | " + " | ".join(members) + " |\n|---|---|" + "---|" * len(members))
    for machine, mid in sorted({(c.machine_type or "", (c.machine_id or "").removeprefix("id_")) for c in clips}):
        mine = [c for c in clips if (c.machine_type, (c.machine_id or "").removeprefix("id_")) == (machine, mid)]
        normal, anomalous = [c for c in mine if c.label == 0], [c for c in mine if c.label == 1]
        if len(normal) != 2 or not anomalous:
            continue
        row = []
        for m in members:
            right = []
            for k in (0, 1):
                score = member_scorer(m, [normal[k]], feats, 0)
                held = float(score(feats(normal[1 - k])[0]).mean())
                right += [float(score(feats(c)[0]).mean() > held) for c in anomalous]
            shares[m].append(float(np.mean(right)))
            row.append(shares[m][-1])
        print(f"| {machine} id_{mid} | {2 * len(anomalous)} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    means = " | ".join(f"{np.mean(v):.3f}" for v in shares.values())
    print(f"| mean over {len(shares['maha'])} ids | | {means} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coefficients", default="13,16,20,24,32,48,64,128")
    parser.add_argument("--tiny-ids", action="store_true", help="the check on the ids with 2 normal clips")
    args = parser.parse_args()
    if args.tiny_ids:
        tiny_ids()
        return
    envs = [f"env-{k}" for k in args.coefficients.split(",")]
    singles = ["maha", "kmeans", *envs]
    fused = [f"{rule}(maha+{e})" for e in envs for rule in ("max", "mean")]
    feats = Features()
    result: dict[str, dict[str, float]] = {}
    counts = {}
    for machine, splits in machines():
        pooled: dict[str, list[float]] = {n: [] for n in singles + fused}
        labels: list[int] = []
        for s, (fit, tests) in enumerate(splits):
            labels += [c.label for c in tests]
            z = {n: split_windows(n, fit, tests, feats, s) for n in singles}
            for n in singles:
                pooled[n] += [float(w.mean()) for w in z[n]]
            for e in envs:
                for rule, fn in (("max", np.maximum), ("mean", lambda a, b: (a + b) / 2)):
                    pairs = zip(z["maha"], z[e], strict=True)
                    pooled[f"{rule}(maha+{e})"] += [float(fn(a, b).mean()) for a, b in pairs]
        y = np.array(labels)
        counts[machine] = f"{len(splits)} x {len(splits[0][0])} fit clips, {int((y == 0).sum())} + {int(y.sum())}"
        result[machine] = {n: clip_metrics(y, np.array(v), 0.0)["auc"] for n, v in pooled.items()}
    ids = [m for m in result if "train clips" not in m]
    print("| candidate | " + " | ".join(result)
          + " | worst id | mean (6 ids) | largest shortfall below maha or kmeans |")
    print("|---|" + "---|" * (len(result) + 3))
    for n in singles + fused:
        aucs = [result[m][n] for m in result]
        short = max(max(result[m]["maha"], result[m]["kmeans"]) - result[m][n] for m in result)
        print(f"| {n} | " + " | ".join(f"{a:.3f}" for a in aucs)
              + f" | {min(aucs):.3f} | {np.mean([result[m][n] for m in ids]):.3f} | {short:.3f} |")
    print("\nper id (splits x fit clips, pooled normal + anomalous test clips): "
          + "; ".join(f"{m}: {c}" for m, c in counts.items()))


if __name__ == "__main__":
    main()
