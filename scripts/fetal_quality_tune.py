"""Choose the quality score onsets by leave-one-record-out, and report the AUC on the record left out.

    python -m scripts.fetal_quality_tune [--data ../shared/data] [--dev-seeds 3] [--seeds 3]

For each adfecgdb record, the onsets (mains dB, motion and wander ratios in octaves, wander spread)
are chosen on the OTHER four records' injected faults with development seeds (7000 + 100 r + s),
maximising the worst kind's mean AUC, each kind counted with the worse of its overall score (worst
kind, worst lead) and its own score (the mean over kinds breaks ties); the
AUC is then measured on the record left out, with the seeds scripts/fetal_quality_eval.py reports
(100 r + s), which no choice ever saw. The last block chooses on all five records (development
seeds only): those are QualityConfig's defaults. Faults as scripts/fetal_quality_eval.py injects
them (train/fetal_inject.py, 3 episodes per kind, a seeded subset of 1-4 leads).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from edge.fetal.quality import QualityConfig, QualityMonitor, _ratio_score
from scripts.fetal_quality_eval import RECORDS, load_abdominal
from train.fetal_inject import KINDS, QUALITY_KINDS, inject_leads

GRID = {"mains_onset_db": (18.0, 21.0, 24.0), "mains_spread_db": (5.0, 8.0), "motion_onset": (0.5, 1.0, 1.5),
        "wander_onset": (0.5, 1.0, 1.5), "wander_spread": (0.5, 1.0, 2.0), "wander_max": (1.0, 0.8)}
SIGNAL = ("flatline", "clipping", "mains", "wander", "motion")  # edge.fetal.quality's score order


@dataclass
class Case:
    record: str
    seed: int
    kinds: np.ndarray  # (f,) KINDS index + 1 at each frame's centre, 0 normal
    fixed: np.ndarray  # (f, 5) scores with the default config, worst lead (flatline and clipping: no onset here)
    levels: dict[str, np.ndarray]  # (f,) worst lead's mains dB, wander and motion ratios (scores are monotone in them)


def collect(path: Path, record: str, seed: int) -> Case:
    x, labels, fs, peaks = load_abdominal(path)
    inj = inject_leads(x, peaks, fs, seed=seed)
    monitor = QualityMonitor(fs, labels)
    step = round(monitor.cfg.block_s * fs)
    times, scores, levels = [], [], []
    for start in range(0, x.shape[0], step):
        t, s = monitor.push(inj.samples[start : start + step].astype(np.float32), final=start + step >= x.shape[0])
        if t.size:
            times.append(t)
            scores.append(s)
            levels.append(monitor.last_levels)
    t = np.concatenate(times)
    centre = np.minimum(((t + 0.05) * fs).astype(int), inj.kind_mask.size - 1)
    return Case(record, seed, inj.kind_mask[centre], np.concatenate(scores).max(axis=2),
                {k: np.concatenate([lv[k] for lv in levels]).max(axis=1) for k in ("mains", "wander", "motion")})


def rescore(case: Case, cfg: QualityConfig) -> np.ndarray:
    s = case.fixed.copy()
    s[:, 2] = 1.0 - np.exp(-np.maximum(case.levels["mains"] - cfg.mains_onset_db, 0.0) / cfg.mains_spread_db)
    s[:, 3] = cfg.wander_max * _ratio_score(case.levels["wander"], cfg.wander_onset, cfg.wander_spread)
    s[:, 4] = _ratio_score(case.levels["motion"], cfg.motion_onset, cfg.motion_spread)
    return s


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC of pos over neg (ties count half)."""
    ranks = rankdata(np.r_[pos, neg])
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def aucs(case: Case, cfg: QualityConfig, own: bool = True) -> dict[str, tuple[float, float]]:
    """Per quality kind: (AUC of the overall score, AUC of the kind's own score), frames of the kind vs normal."""
    s = rescore(case, cfg)
    overall = s.max(axis=1)
    neg = case.kinds == 0
    out = {}
    for kind in QUALITY_KINDS:
        pos = case.kinds == KINDS.index(kind) + 1
        mine = s[:, SIGNAL.index(kind)]
        out[kind] = (auc(overall[pos], overall[neg]), auc(mine[pos], mine[neg]) if own else float("nan"))
    return out


def table(cases: list[Case], cfg: QualityConfig, own: bool = True) -> dict[str, dict[str, tuple[float, float]]]:
    """Per record: per kind, the mean over its cases of (overall AUC, own AUC)."""
    per: dict[str, list[dict[str, tuple[float, float]]]] = {}
    for case in cases:
        per.setdefault(case.record, []).append(aucs(case, cfg, own))
    return {rec: {k: (float(np.mean([r[k][0] for r in rows])), float(np.mean([r[k][1] for r in rows])))
                  for k in QUALITY_KINDS} for rec, rows in per.items()}


def choose(cases: list[Case]) -> tuple[QualityConfig, float]:
    best, best_key = QualityConfig(), (-1.0, -1.0)
    for values in itertools.product(*GRID.values()):
        cfg = replace(QualityConfig(), **dict(zip(GRID, values, strict=True)))
        t = table(cases, cfg)
        # a kind counts with the worse of its overall and its own score's mean AUC: a consumer may read either
        means = [min(np.mean([t[rec][k][0] for rec in t]), np.mean([t[rec][k][1] for rec in t])) for k in QUALITY_KINDS]
        key = (float(min(means)), float(np.mean(means)))
        if key > best_key:
            best, best_key = cfg, key
    return best, best_key[0]


def _params(cfg: QualityConfig) -> str:
    return ", ".join(f"{k} {getattr(cfg, k):g}" for k in GRID)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--dev-seeds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    dev, test = [], []
    for r, rec in enumerate(RECORDS):
        path = args.data / "adfecgdb" / f"{rec}.edf"
        dev += [collect(path, rec, 7000 + 100 * r + s) for s in range(args.dev_seeds)]
        test += [collect(path, rec, 100 * r + s) for s in range(args.seeds)]
    print(f"Leave one record out: onsets chosen on the other 4 records ({args.dev_seeds} development seeds each), AUC "
          f"on the record left out ({args.seeds} reported seeds x 3 episodes per kind); overall score / own score\n")
    print("| record left out | chosen on the other four | " + " | ".join(QUALITY_KINDS) + " | positive frames |")
    print("|---|---|" + "---|" * (len(QUALITY_KINDS) + 1))
    held: dict[str, dict[str, tuple[float, float]]] = {}
    for rec in RECORDS:
        cfg, _ = choose([c for c in dev if c.record != rec])
        held[rec] = table([c for c in test if c.record == rec], cfg)[rec]
        npos = {k: int(sum((c.kinds == KINDS.index(k) + 1).sum() for c in test if c.record == rec))
                for k in QUALITY_KINDS}
        print(f"| {rec} | {_params(cfg)} | " + " | ".join(f"{held[rec][k][0]:.3f} / {held[rec][k][1]:.3f}"
                                                         for k in QUALITY_KINDS)
              + " | " + ", ".join(f"{k} {v}" for k, v in npos.items()) + " |")
    print("| **mean** | | " + " | ".join(
        f"**{np.mean([held[r][k][0] for r in RECORDS]):.3f}** / {np.mean([held[r][k][1] for r in RECORDS]):.3f}"
        for k in QUALITY_KINDS) + " | |")
    cfg, worst = choose(dev)
    print(f"\nChosen on all five records (development seeds; the shipped defaults): {_params(cfg)} "
          f"(worst kind's mean AUC on those seeds, the worse of overall and own: {worst:.3f})")
    default = QualityConfig()
    if any(getattr(cfg, k) != getattr(default, k) for k in GRID):
        print(f"NOTE: QualityConfig's defaults differ: {_params(default)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
