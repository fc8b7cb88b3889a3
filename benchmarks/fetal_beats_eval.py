"""Fetal beat detection on adfecgdb (abdominal leads and Direct_1) and robustness on fecg-tokarev.

Prints: per record Se, PPV, F1 (50 ms) and the Challenge 2013 FHR error (bpm^2) for every
maternal-cancellation method, a leave-one-record-out choice of the method (chosen on four records by
mean F1, scored on the fifth), Direct_1 (scalp lead, no cancellation) as the upper reference, and
for the 9 Tokarev recordings (no annotations) the beat count, median FHR and the share of FHR
points in 110-160 bpm. Every figure is on the streaming path (`edge.fetal.analyze`, 1-s reads).

    nice -n 10 .venv/bin/python -m benchmarks.fetal_beats_eval [--data ../shared/data] [--plots out/fetal]
"""

from __future__ import annotations

import argparse
import itertools
import resource
from pathlib import Path

import numpy as np

from edge.fetal.analyze import analyze
from edge.fetal.beat_match import challenge_fhr_mse, match_beats
from edge.fetal.beat_tracker import BeatParams, BeatTracker
from edge.fetal.cancel import METHODS
from edge.fetal.fhr import fhr_series
from edge.fetal.fqrs import FetalParams
from edge.io.multilead import open_leads

RECORDS = ("r01", "r04", "r07", "r08", "r10")
TOL_S = 0.05


SPATIAL = "ica"


def params(method: str) -> BeatParams:
    return BeatParams(cancel=method, fetal=FetalParams(spatial=SPATIAL))


def score_record(path: Path, method: str, channels: list[str] | None = None) -> dict[str, float]:
    import wfdb

    rec = open_leads(path, channels)
    try:
        result = analyze(rec, params(method), quality=False)
    finally:
        rec.close()
    ref = wfdb.rdann(str(path), "qrs").sample
    s = match_beats(ref, result.fetal, TOL_S * rec.fs)
    # detections inside a gap of the reference longer than 1.5 s (beats the annotator left out?)
    gaps = [(a, b) for a, b in itertools.pairwise(ref) if b - a > 1.5 * rec.fs]
    in_gaps = sum(int(((result.fetal > a + TOL_S * rec.fs) & (result.fetal < b - TOL_S * rec.fs)).sum())
                  for a, b in gaps)
    return {"se": s.sensitivity, "ppv": s.ppv, "f1": s.f1, "ref": s.reference, "det": s.detected,
            "gaps": len(gaps), "in_gaps": in_gaps,
            "mse": challenge_fhr_mse(ref / rec.fs, result.fetal / rec.fs, rec.seconds),
            "rtf": result.cpu_s / rec.seconds}


def table(rows: dict[str, dict[str, float]], title: str) -> None:
    print(f"\n{title}\n| record | ref beats | detected | Se | PPV | F1 | FHR error (bpm^2) "
          "| reference gaps > 1.5 s: count, detections inside |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['ref']:.0f} | {r['det']:.0f} | {r['se']:.3f} | {r['ppv']:.3f} | {r['f1']:.3f} "
              f"| {r['mse']:.1f} | {r['gaps']:.0f}, {r['in_gaps']:.0f} |")
    keys = ("se", "ppv", "f1", "mse")
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in keys}
    print(f"| mean | | | {mean['se']:.3f} | {mean['ppv']:.3f} | {mean['f1']:.3f} | {mean['mse']:.1f} | |")


def tokarev(folder: Path, methods: list[str]) -> None:
    from scipy.io import loadmat

    print("\nfecg-tokarev (8 abdominal leads, no annotations): fetal beats, median FHR, share of FHR in 110-160 bpm,"
          " per cancellation method; maternal rate from the default")
    print("| recording | fs | s | MHR median | " + " | ".join(methods) + " |")
    print("|---|---|---|---|" + "---|" * len(methods))
    for path in sorted(folder.glob("signal_*.mat")):
        m = loadmat(path)
        x, fs = np.asarray(m["s"], dtype=np.float64).T, float(np.ravel(m["fs"])[0])
        cells, mhr = [], float("nan")
        for method in methods:
            tracker = BeatTracker(fs, x.shape[1], params(method))
            blocks = []
            for i in range(0, x.shape[0], int(fs)):
                blocks += tracker.push(x[i:i + int(fs)])
            blocks += tracker.finish()
            fetal = np.concatenate([b.fetal for b in blocks])
            maternal = np.concatenate([b.maternal for b in blocks])
            bpm = np.array([p.bpm for p in fhr_series(fetal, fs)])
            share = float(np.mean((bpm >= 110) & (bpm <= 160))) if bpm.size else 0.0
            if method == BeatParams().cancel and maternal.size > 1:
                mhr = 60 * fs / float(np.median(np.diff(maternal)))
            cells.append(f"{fetal.size} / {np.median(bpm) if bpm.size else float('nan'):.0f} / {share:.2f}")
        print(f"| {path.stem} | {fs:g} | {x.shape[0] / fs:.0f} | {mhr:.1f} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--methods", default=",".join(m for m in METHODS if m != "none"))
    ap.add_argument("--plots", type=Path, help="folder for one beats plot per adfecgdb record")
    ap.add_argument("--spatial", choices=("none", "pca", "ica"), default="ica",
                    help="fetal stage: leads alone, or plus their principal or independent components (default)")
    args = ap.parse_args()
    global SPATIAL
    SPATIAL = args.spatial
    print(f"fetal spatial stage: {SPATIAL}")
    folder = args.data / "adfecgdb"
    methods = args.methods.split(",")
    results = {m: {r: score_record(folder / f"{r}.edf", m) for r in RECORDS} for m in methods}
    default = BeatParams().cancel
    for m in methods:
        table(results[m], f"adfecgdb abdominal leads (Abdomen_1..4), cancellation {m}"
                          + (" (the default)" if m == default else ""))
    print("\nleave-one-record-out: method chosen by mean F1 on the other four records, scored on the held-out one")
    print("| held out | chosen | F1 | FHR error |\n|---|---|---|---|")
    loo = []
    for r in RECORDS:
        chosen = max(methods, key=lambda m: np.mean([results[m][o]["f1"] for o in RECORDS if o != r]))
        loo.append(results[chosen][r])
        print(f"| {r} | {chosen} | {results[chosen][r]['f1']:.3f} | {results[chosen][r]['mse']:.1f} |")
    print(f"| mean | | {np.mean([x['f1'] for x in loo]):.3f} | {np.mean([x['mse'] for x in loo]):.1f} |")
    direct = {r: score_record(folder / f"{r}.edf", "none", ["Direct_1"]) for r in RECORDS}
    table(direct, "Direct_1 (scalp electrode, no cancellation): the upper reference")
    rtf = [results[default][r]["rtf"] for r in RECORDS]
    print(f"\nreal-time factor (CPU s per recorded s, default method, 4 leads at 1 kHz): "
          f"mean {np.mean(rtf):.4f}, max {np.max(rtf):.4f}")
    tokarev(args.data / "fecg-tokarev", methods)
    if args.plots:
        from train.fetal_plot import plot_beats

        args.plots.mkdir(parents=True, exist_ok=True)
        for r in RECORDS:
            rec = open_leads(folder / f"{r}.edf")
            plot_beats(rec, analyze(rec, params(default)), args.plots / f"{r}.png")
            rec.close()
        print(f"\nplots in {args.plots}")
    print(f"\npeak RSS of this script {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
