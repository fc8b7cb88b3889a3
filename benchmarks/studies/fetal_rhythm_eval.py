"""How the fetal beat picker's settings trade clean beat F1 against following injected rhythm episodes.

    python -m benchmarks.studies.fetal_rhythm_eval [--data ../shared/data] ["rr_penalty=3,t0_penalty=1" ...]

Per setting (FetalParams fields, comma-separated; none = the defaults) and adfecgdb record: fetal F1
at 50 ms on the clean abdominal leads, then brady, tachy and decel episodes only (train/fetal_inject.py,
3 of each, development seed 7000 + 100 x record: not the seeds benchmarks/fetal_quality_eval.py reports)
with the beats found by the detector; AUC of the FHR event score of the matching kind (brady and tachy
>= 1.5 s, as benchmarks/fetal_quality_eval.py), and the F1 against the warped reference beats. This is how
FetalParams' follow penalties were picked (with the fecg-tokarev plausibility of benchmarks/fetal_beats_eval.py).
About 90 s per setting on one core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.fetal_quality_eval import FHR_KIND, RECORDS, _auc, load_abdominal
from edge.fetal.beat_match import match_beats
from edge.fetal.beat_tracker import BeatParams, detect_beats
from edge.fetal.fhr_events import FhrConfig, detect_fhr_events, event_scores, fhr_from_peaks, resample_fhr
from edge.fetal.fqrs import FetalParams
from train.fetal_inject import KINDS, RHYTHM_KINDS, inject_leads


def parse(setting: str) -> FetalParams:
    fields = {}
    for item in filter(None, setting.split(",")):
        key, value = item.split("=")
        fields[key.strip()] = value.strip() == "True" if value.strip() in ("True", "False") else float(value)
    return FetalParams(**fields)  # type: ignore[arg-type]


def run(data: Path, fetal: FetalParams) -> dict[str, dict[str, float | None]]:
    params = BeatParams(fetal=fetal)
    cfg = FhrConfig(brady_min_s=1.5, tachy_min_s=1.5)
    out: dict[str, dict[str, float | None]] = {}
    for r, rec in enumerate(RECORDS):
        x, _, fs, peaks = load_abdominal(data / "adfecgdb" / f"{rec}.edf")
        clean = detect_beats(x, fs, params)[1]
        row: dict[str, float | None] = {"f1 clean": match_beats(peaks / fs, clean / fs, 0.05).f1}
        inj = inject_leads(x, peaks, fs, seed=7000 + 100 * r, kinds=RHYTHM_KINDS)
        fetal_peaks = detect_beats(inj.samples, fs, params)[1]
        n = inj.kind_mask.size
        t_s, bpm = fhr_from_peaks(fetal_peaks, fs, cfg)
        events = detect_fhr_events(t_s, bpm, n / fs, cfg)
        grid, _ = resample_fhr(t_s, bpm, n / fs, cfg)
        at = inj.kind_mask[np.minimum((grid * fs).astype(int), n - 1)]
        for kind in RHYTHM_KINDS:
            score = event_scores(grid, events, FHR_KIND[kind])
            row[kind] = _auc(score[at == KINDS.index(kind) + 1], score[at == 0])
        row["f1 injected"] = match_beats(inj.r_peaks / fs, fetal_peaks / fs, 0.05).f1
        out[rec] = row
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("settings", nargs="*", default=[""], help="FetalParams fields, e.g. rr_penalty=3,t0_penalty=1")
    args = parser.parse_args(argv)
    columns = ["f1 clean", *RHYTHM_KINDS, "f1 injected"]
    print("| setting | record | " + " | ".join(columns) + " |\n|---|---|" + "---|" * len(columns))
    for setting in args.settings:
        rows = run(args.data, parse(setting))
        rows["mean"] = {c: float(np.mean([v for r in rows.values() if (v := r[c]) is not None])) for c in columns}
        for rec, row in rows.items():
            print(f"| {setting or 'defaults'} | {rec} | " + " | ".join(
                "-" if (v := row[c]) is None else f"{v:.3f}" for c in columns) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
