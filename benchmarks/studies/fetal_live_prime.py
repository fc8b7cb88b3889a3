"""`vigil run` on an ECG file against `vigil beats` on the same file: quality events, cold and primed.

    python -m benchmarks.studies.fetal_live_prime [--data ../shared/data] [--seconds 120] [--seed 900]
                                                  [--records r01 ...]

Per adfecgdb record, its first `--seconds` (all five leads) are written as an EDF; one quality fault of each
kind (train/fetal_inject.py, seed `--seed` + record index, one lead) starts at a random time in 3-15 s, each
kind in its own file, plus the clean file. Three readings of each file:

- beats: `vigil beats` (edge.fetal.analyze, quality primed from the file's start); its `quality` entries
  (overall lead) sampled at 0.1 s and passed through the live deciders (half the kind's top, 0.5 s on, 1 s off),
  i.e. the events its quality implies;
- cold: `vigil run`'s fetal stage over the file stream's blocks (edge.sources.file.EdfRecording, 0.1 s) with
  the source's ``rewind`` dropped: the stage before this change, the typical values built from the first frames;
- primed: the same with ``Channels.rewind``: the stage primes from the file's start (as now).

Printed: per reading, the seconds of clean time inside quality events (clean file, by kind: the first 30 s
and the rest), and per injected kind how many files found it (an event of that kind overlapping the episode)
and the onset error (event start - episode start, s, median over the files that found it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.studies.fetal_excerpts_eval import entry_scores
from edge.fetal.analyze import analyze
from edge.fetal.quality import KINDS, QualityConfig
from edge.io.multilead import open_leads
from edge.pipeline.decider import Decider
from tests.leads_edf import LABELS, write_edf
from train.fetal_inject import QUALITY_KINDS, _quality

RECORDS = ("r01", "r04", "r07", "r08", "r10")
Episode = tuple[str, float, float]  # kind, start s, end s


def run_events(path: Path, primed: bool) -> list[Episode]:
    """Quality events of `vigil run`'s fetal stage over the file stream of `path` (its Direct_1 bundle channel)."""
    from edge.fetal.stage import FetalStage
    from edge.sources.file import EdfRecording

    stage = FetalStage("0" * 64, 1000.0)
    events = []
    recording = EdfRecording(path, label="Direct_1", fs=1000.0)
    for block in recording.blocks():
        if block.start == 0:
            channels = recording.channels()
            stage.open(channels if primed else replace(channels, rewind=None))
        events += stage.push(block).events
    events += stage.finish()
    return [(e.detector[len("fetal-"):], e.start_s, e.end_s) for e in events]


def beats_events(path: Path) -> list[Episode]:
    """The events `vigil beats`' quality entries imply under the live deciders."""
    from edge.bundle.manifest_parts import FetalSettings

    settings = FetalSettings()

    rec = open_leads(path)
    try:
        doc = analyze(rec).to_json()
        seconds = rec.seconds
    finally:
        rec.close()
    cfg = QualityConfig()
    starts = np.arange(0.0, seconds - 0.05, 0.1)
    out: list[Episode] = []
    for kind, score in entry_scores(doc, starts + 0.05).items():
        top = {"wander": cfg.wander_max, "low_fetal": cfg.low_fetal_max}.get(kind, 1.0)
        decider = Decider(settings.quality_threshold * top, on_windows=settings.quality_on_frames,
                          off_windows=settings.quality_off_frames)
        found = decider.update(score, starts, 0.1) + decider.flush()
        out += [(kind, e.start_s, e.end_s) for e in found]
    return out


def flagged_s(events: list[Episode], kind: str, a: float, b: float) -> float:
    return sum(max(0.0, min(e, b) - max(s, a)) for k, s, e in events if k == kind)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=900)
    parser.add_argument("--records", nargs="+", default=list(RECORDS))
    args = parser.parse_args(argv)
    readings = {"beats": beats_events, "cold": lambda p: run_events(p, False), "primed": lambda p: run_events(p, True)}
    clean = {r: {k: [0.0, 0.0] for k in KINDS} for r in readings}
    found = {r: {k: [] for k in QUALITY_KINDS} for r in readings}  # onset errors (nan: missed)
    n = round(args.seconds * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.records):
            rec = open_leads(args.data / "adfecgdb" / f"{name}.edf", LABELS)
            x = np.concatenate(list(rec.blocks(60000)))[:n]
            rec.close()
            rng = np.random.default_rng(args.seed + i)
            path = write_edf(Path(tmp) / f"{name}.edf", x)
            for r, read in readings.items():
                ev = read(path)
                for k in KINDS:
                    clean[r][k][0] += flagged_s(ev, k, 0.0, 30.0)
                    clean[r][k][1] += flagged_s(ev, k, 30.0, args.seconds)
            for kind in QUALITY_KINDS:
                y = x.copy()
                a = int(rng.uniform(3, 15) * 1000)
                b = a + int(rng.uniform(2, 4) * 1000)
                _quality(kind, y[:, 1 + int(rng.integers(4))], a, b, 1000.0, rng)
                path = write_edf(Path(tmp) / f"{name}_{kind}.edf", y)
                for r, read in readings.items():
                    hits = [s for k, s, e in read(path) if k == kind and s < b / 1000 and e > a / 1000]
                    found[r][kind].append(min(hits, key=lambda s: abs(s - a / 1000)) - a / 1000 if hits else np.nan)
            print(f"{name} done", file=sys.stderr, flush=True)
    print(f"clean files ({len(args.records)} x {args.seconds:g} s): seconds inside quality events, first 30 s / rest")
    print("| reading | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for r in readings:
        print(f"| {r} | " + " | ".join(f"{clean[r][k][0]:.1f} / {clean[r][k][1]:.1f}" for k in KINDS) + " |")
    print("\none fault starting at 3-15 s per file: found / files, median onset error (s)")
    print("| reading | " + " | ".join(QUALITY_KINDS) + " |")
    print("|---|" + "---|" * len(QUALITY_KINDS))
    for r in readings:
        cells = []
        for k in QUALITY_KINDS:
            v = np.asarray(found[r][k])
            ok = v[np.isfinite(v)]
            cells.append(f"{ok.size}/{v.size}, {np.median(ok):+.1f}" if ok.size else f"0/{v.size}")
        print(f"| {r} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
