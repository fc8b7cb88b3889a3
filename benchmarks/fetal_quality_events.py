"""Injected quality faults on adfecgdb: how many raise a fetal quality event, under the rule before and now.

    python -m benchmarks.fetal_quality_events [--data ../shared/data] [--seeds 3] [--length 1]

Per record and seed (100 x record index + seed, as benchmarks/fetal_quality_eval.py), train/fetal_inject.py puts
3 episodes of each quality kind (no rhythm kinds) into Abdomen_1..4 (a seeded subset of leads; 1-6 s long,
x --length). The
injected leads go through the fetal chain as a file stream runs them (edge.fetal.chain, primed); its judged
frames are decided twice with the chain's own deciders (edge.fetal.chain.quality_deciders): under BEFORE (5
frames of 0.1 s to open, 10 to close, every kind, no pause bridged) and under the defaults (FetalSettings).
Printed per kind: the episodes, those an event of their own kind overlaps, those any quality event overlaps;
and the quality events overlapping no episode. The scores are the same under both rules: their AUCs do not move
(benchmarks/fetal_quality_eval.py).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.fetal_quality_eval import RECORDS, load_abdominal
from edge.bundle.manifest_parts import FetalSettings
from edge.fetal.chain import FetalChain, quality_deciders
from edge.fetal.quality import KINDS, QualityConfig
from edge.pipeline.decider import Event
from train.fetal_inject import QUALITY_KINDS, inject_leads

BEFORE = FetalSettings(quality_on_frames=5, quality_off_frames=10, quality_event_kinds=KINDS, quality_gap_frames=0)


def judged_frames(x: np.ndarray, labels: list[str], fs: float) -> tuple[np.ndarray, np.ndarray]:
    """The chain's judged frames of x (n, leads) µV read in 1 s blocks, primed: start times (f,) s, overall
    (worst lead) scores (f, len(KINDS))."""
    chain = FetalChain(fs, labels)
    step = round(fs)
    chain.prime(x[i : i + step] for i in range(0, x.shape[0], step))
    outs = [chain.push(x[i : i + step]) for i in range(0, x.shape[0], step)] + [chain.finish()]
    times = np.concatenate([o.frame_times for o in outs if o.frame_scores is not None])
    overall = np.concatenate([o.frame_scores.max(axis=2) for o in outs if o.frame_scores is not None])
    return times, overall


def quality_events(times: np.ndarray, overall: np.ndarray, settings: FetalSettings) -> list[Event]:
    """The quality events the chain's deciders raise on its judged frames under ``settings``."""
    hop_s = QualityConfig().hop_s
    out: list[Event] = []
    for kind, decider in quality_deciders(settings, QualityConfig()).items():
        out += decider.update(overall[:, KINDS.index(kind)], times, hop_s) + decider.flush()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--length", type=float, default=1.0, help="the faults' durations x this")
    args = parser.parse_args()
    rules = {"before": BEFORE, "now": FetalSettings()}
    total: Counter[str] = Counter()
    own: dict[str, Counter[str]] = {r: Counter() for r in rules}
    anyq: dict[str, Counter[str]] = {r: Counter() for r in rules}
    stray = Counter[str]()
    for r, record in enumerate(RECORDS):
        x, labels, fs, peaks = load_abdominal(args.data / "adfecgdb" / f"{record}.edf")
        for s in range(args.seeds):
            inj = inject_leads(x, peaks, fs, seed=100 * r + s, kinds=QUALITY_KINDS, length_scale=args.length)
            times, overall = judged_frames(inj.samples, labels, fs)
            spans = [(kind, a / fs, b / fs) for kind, a, b, _ in inj.episodes]
            for name, rule in rules.items():
                events = quality_events(times, overall, rule)
                for kind, a, b in spans:
                    near = [e for e in events if e.start_s < b and e.end_s > a]
                    own[name][kind] += any(e.detector == f"fetal-{kind}" for e in near)
                    anyq[name][kind] += bool(near)
                stray[name] += sum(not any(e.start_s < b and e.end_s > a for _, a, b in spans) for e in events)
            total.update(kind for kind, *_ in spans)
        print(f"  {record} done", flush=True)
    print(f"\nInjected quality faults (x{args.length:g} durations), {len(RECORDS)} records x {args.seeds} seeds: "
          f"episodes an event overlaps, before ({BEFORE.quality_on_frames} frames to open, every kind) / now "
          f"({rules['now'].quality_on_frames} frames, {', '.join(rules['now'].quality_event_kinds)})\n")
    print("| kind | episodes | own kind before | own kind now | any quality event before | now |")
    print("|---|---|---|---|---|---|")
    for kind in QUALITY_KINDS:
        print(f"| {kind} | {total[kind]} | {own['before'][kind]} | {own['now'][kind]} | {anyq['before'][kind]} | "
              f"{anyq['now'][kind]} |")
    print(f"\nQuality events overlapping no episode: before {stray['before']}, now {stray['now']}.")


if __name__ == "__main__":
    main()
