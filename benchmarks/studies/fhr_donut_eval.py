"""Donut trained on FHR series (reference fetal beats of training records), scored on injected rhythm anomalies.

    python -m benchmarks.studies.fhr_donut_eval [--data ../shared/data] [--epochs 100] [--out out/fhr-donut]

Leave-one-record-out over adfecgdb: a KPI bundle is trained on the FHR (4 Hz, from the reference
annotations) of four records and tested on the fifth with the seeded injections of
benchmarks/fetal_quality_eval.py (seed 100 * record index, abdominal leads; the FHR of the test
record is made from its reference beats moved by the warps). AUC per rhythm kind (the kind's
points against normal points), float32 and int8, next to the FHR rules of edge/fetal/fhr_events.py
on the same points. The last fold's bundle is kept in --out.

The bundle is a KPI bundle (modality "kpi") made by train/donut_bundle.py as for any KPI series, whose
points are FHR at 4 Hz: each 0.25 s point holds the rate of the beat interval it falls in; points with no
plausible interval are missing (Donut imputes them by MCMC and does not score them as rhythm); window 120
points = 30 s.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.fetal_quality_eval import FHR_KIND, RECORDS, _auc, load_abdominal
from edge.bundle.loader import load_bundle
from edge.bundle.manifest import Manifest
from edge.features.ecg import EcgSpec
from edge.fetal.fhr_events import FhrConfig, event_scores, events_from_grid, fhr_from_peaks, resample_fhr
from edge.pipeline.series_scorer import Series, donut_scorer, score_series
from train.fetal_inject import KINDS, inject_leads

RATE_HZ = 4.0
FHR_SPEC = EcgSpec(channel="fhr", fs=RATE_HZ, block=1, window=120, label_threshold=0.0, unit="bpm")


def fhr_series(path: Path, peaks: np.ndarray, fs: float, duration_s: float,
               labels: np.ndarray | None = None) -> Series:
    """Beats (k,) sample indices at fs -> a 4 Hz FHR Series (missing where no plausible interval)."""
    cfg = FhrConfig(rate_hz=RATE_HZ)
    t_s, bpm = fhr_from_peaks(peaks, fs, cfg)
    grid, values = resample_fhr(t_s, bpm, duration_s, cfg)
    missing = np.isnan(values)
    lab = np.zeros(grid.size, dtype=bool) if labels is None else labels.astype(bool)
    return Series(path, np.where(missing, 0.0, values), missing, lab, np.round(grid * 1000).astype(np.int64),
                  "index")


def train_fhr_bundle(series: list[Series], out: Path, *, epochs: int = 100, seed: int = 0,
                     samples: int = 16, iterations: int = 10) -> Manifest:
    """Fit Donut on FHR series and write a KPI bundle to `out` (float32 and int8)."""
    from train.donut import DonutConfig
    from train.donut_bundle import train_donut_bundle

    config = DonutConfig(window=FHR_SPEC.window, max_epochs=epochs, seed=seed)
    return train_donut_bundle(series, FHR_SPEC, "kpi", out, config, samples=samples, iterations=iterations)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("out/fhr-donut"))
    args = parser.parse_args(argv)
    records = {r: load_abdominal(args.data / "adfecgdb" / f"{r}.edf") for r in RECORDS}
    clean = {r: fhr_series(args.data / "adfecgdb" / f"{r}.edf", pk, fs, x.shape[0] / fs)
             for r, (x, _labels, fs, pk) in records.items()}
    rows = []
    for index, test in enumerate(RECORDS):
        x, _labels, fs, peaks = records[test]
        inj = inject_leads(x, peaks, fs, seed=100 * index)
        series = fhr_series(args.data / "adfecgdb" / f"{test}.edf", inj.r_peaks, fs, x.shape[0] / fs)
        grid = series.position / 1000.0
        kinds = inj.kind_mask[np.minimum((grid * fs).astype(int), inj.kind_mask.size - 1)]
        cfg = FhrConfig(rate_hz=RATE_HZ, brady_min_s=1.5, tachy_min_s=1.5)
        raw = np.where(series.missing, np.nan, series.values)
        events = events_from_grid(grid, raw, cfg)
        with tempfile.TemporaryDirectory() as tmp:
            bundle_dir = Path(tmp) / "fhr.bundle"
            train_fhr_bundle([clean[r] for r in RECORDS if r != test], bundle_dir, epochs=args.epochs, seed=index)
            bundle = load_bundle(bundle_dir)
            scores = {v: score_series(bundle, donut_scorer(bundle, v), series) for v in ("float32", "int8")}
            if index == len(RECORDS) - 1:
                if args.out.exists():
                    shutil.rmtree(args.out)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(bundle_dir, args.out)
        for kind, event_kind in FHR_KIND.items():
            i = KINDS.index(kind) + 1
            row = {"record": test, "kind": kind, "points": int((kinds == i).sum())}
            for v, s in scores.items():
                ok = ~np.isnan(s) & ~series.missing
                row[v] = _auc(s[ok & (kinds == i)], s[ok & (kinds == 0)])
            rule = event_scores(grid, events, event_kind)
            row["rules"] = _auc(rule[kinds == i], rule[kinds == 0])
            rows.append(row)
        print(f"{test} done", file=sys.stderr, flush=True)

    def fmt(v: object) -> str:
        return "-" if v is None else f"{v:.3f}"

    print("| held-out record | kind | points | Donut FHR float32 | Donut FHR int8 | FHR rules |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['record']} | {row['kind']} | {row['points']} | {fmt(row['float32'])} | {fmt(row['int8'])} "
              f"| {fmt(row['rules'])} |")
    print("\n| kind | Donut FHR float32 (mean) | int8 | FHR rules |\n|---|---|---|---|")
    for kind in FHR_KIND:
        sel = [r for r in rows if r["kind"] == kind]
        means = [np.mean([r[k] for r in sel if r[k] is not None]) for k in ("float32", "int8", "rules")]
        print(f"| {kind} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
