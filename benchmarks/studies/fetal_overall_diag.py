"""Why the overall quality score ranks a fault under its own kind's score, and low_fetal's highest score.

    python -m benchmarks.studies.fetal_overall_diag [--data ../shared/data] [--seeds 2] [--steady 0 0.5] [--no-whole]

The overall score a consumer of `vigil beats --json` sees is the highest `quality` entry (overall
lead) of any kind; a fault loses against its own kind's score where clean frames carry a high entry
of another kind. On development seeds only (60 s excerpts: 5000 + 1000 r + 10 p + s, as
benchmarks/studies/fetal_excerpts_eval.py --seed-base 5000; whole records: 7000 + 100 r + s, as
benchmarks/studies/fetal_quality_tune.py), one episode of each quality fault per excerpt (whole records: 3), every
file through edge.fetal.analyze with low_fetal unscaled (low_fetal_max 1), this prints:

1. per kind, on the clean frames of the faulty files: the share with an entry >= 0.1, its 99th
   percentile, and the share of clean frames where that kind is the highest entry;
2. per fault: the overall AUC, the own kind's AUC, and the overall AUC with each other kind left out
   (the kind whose removal gains most is what the fault loses against);
3. low_fetal's highest score (QualityConfig.low_fetal_max) by leave one record out: for each record, the
   largest value of the grid within `TOL` of the best mean over the conditions and kinds of the overall
   AUC (capped at 0.95) on the other four; low_fetal x value, entries under the segment threshold
   dropped, as the scaled score would give them. Lower is never worse for injected signal faults (they
   are never low_fetal), so the tolerance keeps low_fetal as high as costs nothing measurable.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.fetal_quality_eval import RECORDS, _ArrayRecording, load_abdominal
from benchmarks.studies.fetal_excerpts_eval import entry_scores, excerpt, steady_mains
from benchmarks.studies.fetal_quality_tune import auc
from edge.fetal.analyze import analyze
from edge.fetal.quality import KINDS as QKINDS
from edge.fetal.quality import QualityConfig
from train.fetal_inject import QUALITY_KINDS, inject_leads

GRID = (1.0, 0.7, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15)
TOL = 0.001
CAP = 0.95
LOW = QKINDS.index("low_fetal")


def run(x: np.ndarray, peaks: np.ndarray, fs: float, labels: list[str], seed: int, per_kind: int,
        gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Inject, analyse, read back: per 0.1 s frame (f, len(QKINDS)) entry scores and (f,) fault kind (0 clean)."""
    inj = inject_leads(x, peaks, fs, seed=seed, kinds=QUALITY_KINDS, per_kind=per_kind, gap_s=gap_s)
    cfg = replace(QualityConfig(), low_fetal_max=1.0)
    doc = analyze(_ArrayRecording(inj.samples, fs, labels, "diag.edf"), quality_config=cfg).to_json()  # type: ignore[arg-type]
    centres = np.arange(0.05, x.shape[0] / fs, 0.1)
    per = entry_scores(doc, centres)
    return (np.array([per[k] for k in QKINDS]).T,
            inj.kind_mask[np.minimum((centres * fs).astype(int), x.shape[0] - 1)])


def collect(data: Path, seeds: int, steady: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """steady None: whole records; else 60 s excerpts with that steady 50 Hz (x lead scale). (scores, kinds, record)."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for r, rec in enumerate(RECORDS):
        x, labels, fs, peaks = load_abdominal(data / "adfecgdb" / f"{rec}.edf")
        if steady is None:
            for s in range(seeds):
                sc, k = run(x, peaks, fs, labels, 7000 + 100 * r + s, 3, 2.0)
                parts.append((sc, k, np.full(k.size, r)))
            continue
        n = round(60 * fs)
        for p, a in enumerate(range(0, x.shape[0] - n + 1, n)):
            xe, pe = excerpt(x, peaks, a, n)
            if steady:
                xe = steady_mains(xe, fs, steady, 1000 * r + p)
            for s in range(seeds):
                sc, k = run(xe, pe, fs, labels, 5000 + 1000 * r + 10 * p + s, 1, 1.0)
                parts.append((sc, k, np.full(k.size, r)))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def scaled(scores: np.ndarray, top: float, threshold: float = 0.1) -> np.ndarray:
    """scores (f, kinds) with low_fetal x top, under the segment threshold dropped."""
    out = scores.copy()
    low = out[:, LOW] * top
    out[:, LOW] = np.where(low >= threshold, low, 0.0)
    return out


def kind_aucs(scores: np.ndarray, kinds: np.ndarray) -> list[float]:
    overall, neg = scores.max(axis=1), kinds == 0
    return [auc(overall[kinds == i], overall[neg]) for i in range(1, len(QUALITY_KINDS) + 1)]


def report(name: str, scores: np.ndarray, kinds: np.ndarray) -> None:
    neg = kinds == 0
    top = scores[neg].argmax(axis=1)
    print(f"\n{name}: clean frames {int(neg.sum())}\n")
    print("| kind | clean >= 0.1 | clean p99 | highest on clean |\n|---|---|---|---|")
    for j, kind in enumerate(QKINDS):
        v = scores[neg, j]
        print(f"| {kind} | {np.mean(v >= 0.1):.3f} | {np.percentile(v, 99):.3f} | "
              f"{np.mean((top == j) & (scores[neg].max(axis=1) > 0)):.3f} |")
    print("\n| fault | overall | own | " + " | ".join(f"without {k}" for k in QKINDS) + " |\n|---|---|---|"
          + "---|" * len(QKINDS))
    overall = scores.max(axis=1)
    for i, kind in enumerate(QUALITY_KINDS, start=1):
        pos, own = kinds == i, scores[:, QKINDS.index(kind)]
        cells = []
        for j, other in enumerate(QKINDS):
            rest = np.delete(scores, j, axis=1).max(axis=1)
            cells.append("-" if other == kind else f"{auc(rest[pos], rest[neg]):.3f}")
        print(f"| {kind} | {auc(overall[pos], overall[neg]):.3f} | {auc(own[pos], own[neg]):.3f} | "
              + " | ".join(cells) + " |")


def choose(sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], records: list[int]) -> tuple[float, list[float]]:
    """The largest grid value within TOL of the best objective on `records`, and the objective per grid value."""
    objective = []
    for top in GRID:
        vals: list[float] = []
        for scores, kinds, rec in sets:
            use = np.isin(rec, records)
            vals += [min(v, CAP) for v in kind_aucs(scaled(scores[use], top), kinds[use])]
        objective.append(float(np.mean(vals)))
    best = max(objective)
    return max(t for t, o in zip(GRID, objective, strict=True) if o >= best - TOL), objective


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steady", type=float, nargs="*", default=[0.0, 0.5], help="60 s excerpt conditions")
    parser.add_argument("--no-whole", action="store_true", help="leave the whole records out")
    args = parser.parse_args(argv)
    names = [f"60 s excerpts, steady 50 Hz {a:g}x" for a in args.steady] + ([] if args.no_whole else ["whole records"])
    sets = [collect(args.data, args.seeds, a) for a in args.steady] + ([] if args.no_whole else
                                                                       [collect(args.data, args.seeds, None)])
    print(f"Development seeds ({args.seeds} per file); JSON `quality` entries, overall lead, low_fetal unscaled")
    for name, (scores, kinds, _) in zip(names, sets, strict=True):
        report(name, scores, kinds)
    print(f"\nlow_fetal_max, leave one record out (objective: mean over conditions and kinds of the overall AUC capped "
          f"at {CAP}; the largest value within {TOL} of the best)\n")
    print("| left out | " + " | ".join(f"{t:g}" for t in GRID) + " | chosen |\n|---|" + "---|" * (len(GRID) + 1))
    for r, rec in enumerate([*RECORDS, "none"]):
        top, objective = choose(sets, [i for i in range(len(RECORDS)) if i != r])
        print(f"| {rec} | " + " | ".join(f"{o:.4f}" for o in objective) + f" | {top:g} |")
    top, _ = choose(sets, list(range(len(RECORDS))))
    print(f"\nPer condition, overall AUC per fault ({', '.join(QUALITY_KINDS)}) at low_fetal_max 1 and {top:g}:")
    for name, (scores, kinds, _) in zip(names, sets, strict=True):
        print(f"- {name}: " + " ".join(f"{v:.3f}" for v in kind_aucs(scores, kinds)) + " -> "
              + " ".join(f"{v:.3f}" for v in kind_aucs(scaled(scores, top), kinds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
