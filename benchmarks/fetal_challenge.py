"""Fetal beats scored as the PhysioNet/CinC Challenge 2013 scored them, on set-a-dev and adfecgdb; plausibility
on fecg-tokarev (no reference).

Per record: reference and detected beats, F1 at 50 ms, Event 4 (FHR, bpm^2) and Event 5 (RR, ms RMS and %
of the mean reference RR; benchmarks/cinc2013_score.py says exactly what is computed and from which source),
all of them over the whole record and again without the abstained time, and the abstained share. Abstained
time: the 0.1-s frames the fetal chain judges low_fetal (no fetal beat within 2.2 median intervals:
edge.fetal.quality_arrays.low_fetal_scores over the record's beats at the chain's threshold,
FetalSettings.quality_threshold x QualityConfig.low_fetal_max; the chain itself takes the median over the
last 64 beats). Then the mean, median and the count of records under F1 0.5, and the real-time factor (CPU s
per recorded s, beat chain, one core). Every figure is on the streaming path (edge.fetal.analyze, 1-s reads).

    nice -n 10 .venv/bin/python -m benchmarks.fetal_challenge [--data ../shared/data] [--sets seta,adfecgdb,tokarev]
        [--split]

``--split``: the honest figure on unseen records for a constant chosen on dev records: for each candidate
value of the one constant under study (CANDIDATES), the mean F1 on the even-numbered set-a-dev records and on
the odd ones; the value chosen on one half is reported on the other.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cinc2013_score import challenge_scores
from edge.bundle.manifest_parts import FetalSettings
from edge.fetal.analyze import analyze
from edge.fetal.beat_match import match_beats
from edge.fetal.beat_tracker import BeatParams, BeatTracker
from edge.fetal.fhr import fhr_series
from edge.fetal.quality import QualityConfig
from edge.fetal.quality_arrays import low_fetal_scores
from edge.io.multilead import open_leads

TOL_S = 0.05
HOP_S = 0.1
ADFECGDB = ("r01", "r04", "r07", "r08", "r10")
# the one constant under study for --split: (field of FetalParams, values tried)
CANDIDATES: tuple[str, tuple[Any, ...]] = ("prior_weight", (0.0, 0.5, 1.0, 2.0))


def kept_time(fetal: np.ndarray, fs: float, n: int) -> np.ndarray:
    """(n,) bool: False in the frames the chain judges low_fetal (module docstring)."""
    times = np.arange(0.0, n / fs, HOP_S)
    top = QualityConfig().low_fetal_max
    low = low_fetal_scores(times, HOP_S, fetal / fs, top) >= FetalSettings().quality_threshold * top
    keep = np.ones(n, bool)
    for t in times[low]:
        keep[round(t * fs):round((t + HOP_S) * fs)] = False
    return keep


def score_record(path: Path, ref: np.ndarray, params: BeatParams) -> dict[str, float]:
    rec = open_leads(path)
    try:
        result = analyze(rec, params, quality=False)
    finally:
        rec.close()
    fs, det = rec.fs, result.fetal
    tol = TOL_S * fs
    keep = kept_time(det, fs, rec.n_samples)
    s = match_beats(ref, det, tol)
    s_kept = match_beats(ref[keep[np.clip(ref, 0, keep.size - 1)]], det[keep[np.clip(det, 0, keep.size - 1)]], tol)
    c, c_kept = challenge_scores(ref, det, fs), challenge_scores(ref, det, fs, keep)
    return {"ref": s.reference, "det": s.detected, "se": s.sensitivity, "ppv": s.ppv, "f1": s.f1,
            "e4": c.fhr_mse, "e5": c.rr_rms_ms, "e5pct": c.rr_rms_pct, "tach": c.tach_samples,
            "abst": 1.0 - float(keep.mean()), "f1k": s_kept.f1, "e4k": c_kept.fhr_mse, "e5k": c_kept.rr_rms_ms,
            "rtf": result.cpu_s / rec.seconds}


def references(name: str, folder: Path) -> list[tuple[str, Path, np.ndarray]]:
    import wfdb

    if name == "seta":
        names = (folder / "RECORDS").read_text().split()
        return [(r, folder / f"{r}.hea", wfdb.rdann(str(folder / r), "fqrs").sample) for r in names]
    return [(r, folder / f"{r}.edf", wfdb.rdann(str(folder / f"{r}.edf"), "qrs").sample) for r in ADFECGDB]


def table(rows: dict[str, dict[str, float]], title: str) -> None:
    print(f"\n{title}\n| record | ref | det | Se | PPV | F1 | E4 FHR (bpm^2) | E5 RR (ms) | E5 (%) "
          "| abstained | F1 kept | E4 kept | E5 kept (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        short = "" if r["tach"] >= 12 else f" ({r['tach']:.0f}/12)"
        print(f"| {name} | {r['ref']:.0f} | {r['det']:.0f} | {r['se']:.3f} | {r['ppv']:.3f} | {r['f1']:.3f} "
              f"| {r['e4']:.1f}{short} | {r['e5']:.1f} | {r['e5pct']:.2f} | {r['abst']:.2f} | {r['f1k']:.3f} "
              f"| {r['e4k']:.1f} | {r['e5k']:.1f} |")
    keys = ("se", "ppv", "f1", "e4", "e5", "e5pct", "abst", "f1k", "e4k", "e5k")
    mean = {k: float(np.nanmean([r[k] for r in rows.values()])) for k in keys}
    med = {k: float(np.nanmedian([r[k] for r in rows.values()])) for k in keys}
    for label, m in (("mean", mean), ("median", med)):
        print(f"| {label} | | | {m['se']:.3f} | {m['ppv']:.3f} | {m['f1']:.3f} | {m['e4']:.1f} | {m['e5']:.1f} "
              f"| {m['e5pct']:.2f} | {m['abst']:.2f} | {m['f1k']:.3f} | {m['e4k']:.1f} | {m['e5k']:.1f} |")
    low = [n for n, r in rows.items() if r["f1"] < 0.5]
    print(f"records under F1 0.5: {len(low)} of {len(rows)} {' '.join(low)}")


def tokarev(folder: Path, params: BeatParams) -> None:
    """Per recording: beats, median FHR, the share of FHR points in 100-200 and 110-160 bpm, the share of beat
    intervals that differ from the previous one by over 20 % (jumps), and the abstained share."""
    from scipy.io import loadmat

    print("\nfecg-tokarev (8 abdominal leads, no reference): plausibility")
    print("| recording | fs | s | beats | median FHR | FHR in 100-200 | in 110-160 | RR jumps > 20 % | abstained |")
    print("|---|---|---|---|---|---|---|---|---|")
    shares = []
    for path in sorted(folder.glob("signal_*.mat")):
        m = loadmat(path)
        x, fs = np.asarray(m["s"], dtype=np.float64).T, float(np.ravel(m["fs"])[0])
        tracker = BeatTracker(fs, x.shape[1], params)
        blocks = []
        for i in range(0, x.shape[0], int(fs)):
            blocks += tracker.push(x[i:i + int(fs)])
        blocks += tracker.finish()
        fetal = np.concatenate([b.fetal for b in blocks])
        bpm = np.array([p.bpm for p in fhr_series(fetal, fs)])
        rr = np.diff(fetal)
        jumps = float(np.mean(np.abs(np.diff(rr)) > 0.2 * rr[:-1])) if rr.size > 1 else float("nan")
        wide = float(np.mean((bpm >= 100) & (bpm <= 200))) if bpm.size else 0.0
        narrow = float(np.mean((bpm >= 110) & (bpm <= 160))) if bpm.size else 0.0
        abst = 1.0 - float(kept_time(fetal, fs, x.shape[0]).mean())
        shares.append((wide, narrow, jumps, abst))
        print(f"| {path.stem} | {fs:g} | {x.shape[0] / fs:.0f} | {fetal.size} "
              f"| {np.median(bpm) if bpm.size else float('nan'):.0f} | {wide:.2f} | {narrow:.2f} | {jumps:.2f} "
              f"| {abst:.2f} |")
    m = np.mean(shares, axis=0)
    print(f"| mean | | | | | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.2f} |")


def split_check(folder: Path) -> None:
    """Choose CANDIDATES' value on the even-numbered set-a-dev records, report the odd ones, and the reverse."""
    field, values = CANDIDATES
    refs = references("seta", folder)
    scores = {v: {r: score_record(p, ref, BeatParams(fetal=dataclasses.replace(BeatParams().fetal, **{field: v})))
                  for r, p, ref in refs} for v in values}
    f1 = {v: {r: s["f1"] for r, s in rows.items()} for v, rows in scores.items()}
    print(f"\nsplit check on {field}: mean F1 (Event 4, bpm^2) per half and value")
    print("| value | even F1 | odd F1 | even E4 | odd E4 |\n|---|---|---|---|---|")
    for v, rows in scores.items():
        half = [[s for r, s in rows.items() if int(r[1:]) % 2 == p] for p in (0, 1)]
        print(f"| {v} | {np.mean([s['f1'] for s in half[0]]):.3f} | {np.mean([s['f1'] for s in half[1]]):.3f} "
              f"| {np.nanmean([s['e4'] for s in half[0]]):.1f} | {np.nanmean([s['e4'] for s in half[1]]):.1f} |")
    print(f"\nchosen by mean F1 on one half, reported on the other ({field})")
    print("| chosen on | value | F1 there | reported on | F1 there |\n|---|---|---|---|---|")
    for on, other in ((0, 1), (1, 0)):
        half = {p: [r for r, *_ in refs if int(r[1:]) % 2 == p] for p in (0, 1)}
        best = max(values, key=lambda v: np.mean([f1[v][r] for r in half[on]]))
        names = ("even", "odd")
        print(f"| {names[on]} | {best} | {np.mean([f1[best][r] for r in half[on]]):.3f} | {names[other]} "
              f"| {np.mean([f1[best][r] for r in half[other]]):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--sets", default="seta,adfecgdb,tokarev")
    ap.add_argument("--split", action="store_true", help="the even/odd split check of CANDIDATES (slow)")
    args = ap.parse_args()
    params = BeatParams()
    rtf: list[float] = []
    folders = {"seta": args.data / "cinc2013-set-a-dev", "adfecgdb": args.data / "adfecgdb"}
    titles = {"seta": "CinC 2013 set-a-dev (4 abdominal leads, 60 s)",
              "adfecgdb": "adfecgdb abdominal leads (Abdomen_1..4, 300 s)"}
    for name in ("seta", "adfecgdb"):
        if name in args.sets.split(","):
            rows = {r: score_record(p, ref, params) for r, p, ref in references(name, folders[name])}
            table(rows, titles[name])
            rtf += [r["rtf"] for r in rows.values()]
    if rtf:
        print(f"\nreal-time factor (CPU s per recorded s, beat chain, 4 leads at 1 kHz): mean {np.mean(rtf):.4f}, "
              f"max {np.max(rtf):.4f}")
    if "tokarev" in args.sets.split(","):
        tokarev(args.data / "fecg-tokarev", params)
    if args.split:
        split_check(folders["seta"])
    print(f"\npeak RSS of this script {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
