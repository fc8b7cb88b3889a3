"""The CTG reading (edge/fetal/ctg.py, FIGO 2015) of each adfecgdb record and of one synthetic series per rule.

Prints markdown tables for reports/fetal-ecg/ctg.md:
- adfecgdb (5 records of 300 s): the reading of the FHR from `vigil beats` (the streaming chain, quality
  masking) and of the FHR from the record's annotated fetal beats (the reference);
- synthetic FHR series at 4 Hz with known answers: piecewise-constant levels plus a 3-per-minute
  oscillation of a given bandwidth (its phase drawn with seed 0), one per rule;
- the cost of one live reading of an hour of FHR (what the chain does every 5 s), median of 20, one core.

    nice -n 10 .venv/bin/python -m benchmarks.ctg_readings [--data ../shared/data] [--no-detector]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge.fetal.analyze import analyze
from edge.fetal.ctg import CtgReading, ctg_reading, reading_from_grid
from edge.fetal.fhr_events import fhr_from_peaks
from edge.io.edf import EdfFile
from edge.io.multilead import open_leads

RECORDS = ("r01", "r04", "r07", "r08", "r10")
RATE = 4.0


def trace(levels: list[tuple[float, float]], bandwidth: float = 10.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, bpm) at 4 Hz: the levels for their durations plus a 3-per-minute sine `bandwidth` peak to peak."""
    v = np.concatenate([np.full(round(s * RATE), bpm, dtype=float) for s, bpm in levels])
    t = np.arange(v.size) / RATE
    return t, v + bandwidth / 2 * np.sin(2 * np.pi * t / 20 + np.random.default_rng(seed).uniform(0, 6))


def synthetic() -> dict[str, tuple[str, tuple[np.ndarray, np.ndarray]]]:
    """name -> (what it is, series)."""
    gap = trace([(1200, 140)])
    gap[1][round(300 * RATE) : round(420 * RATE)] = np.nan
    accel = trace([(1200, 140)])
    rise = slice(round(600 * RATE), round(640 * RATE))
    accel[1][rise] += 25 * np.sin(np.linspace(0, np.pi, rise.stop - rise.start))
    return {
        "normal": ("20 min at 142 bpm, bandwidth 10", trace([(1200, 142)])),
        "acceleration": ("20 min at 140, a 40-s rise of 25 bpm at 600 s", accel),
        "deceleration": ("140, 60 s at 110 from 600 s, 140", trace([(600, 140), (60, 110), (540, 140)])),
        "prolonged": ("140, 4 min at 100 from 600 s, 140", trace([(600, 140), (240, 100), (360, 140)])),
        "prolonged > 5 min": ("140, 6 min at 100 from 600 s, 140", trace([(600, 140), (360, 100), (600, 140)])),
        "repetitive": ("36 min of 30-s falls to 110 every 3 min", trace([(300, 140), *[(150, 140), (30, 110)] * 12,
                                                                        (300, 140)])),
        "bradycardia": ("20 min at 105", trace([(1200, 105)])),
        "bradycardia < 100": ("20 min at 95", trace([(1200, 95)])),
        "tachycardia": ("20 min at 175", trace([(1200, 175)])),
        "reduced variability": ("55 min at 140, bandwidth 2", trace([(3300, 140)], bandwidth=2)),
        "low variability 30 min": ("30 min at 140, bandwidth 2", trace([(1800, 140)], bandwidth=2)),
        "gap": ("20 min at 140, 120 s missing from 300 s", gap),
        "5 min": ("5 min at 140", trace([(300, 140)])),
        "60 s": ("60 s at 140", trace([(60, 140)])),
    }


def row(name: str, r: CtgReading) -> str:
    base = "-" if r.baseline_bpm is None else f"{r.baseline_bpm:g}" + (" (provisional)" if r.provisional else "")
    var = "-" if r.variability_bpm is None else f"{r.variability_bpm:.1f}"
    decel = ", ".join(f"{d.start_s:.0f}-{d.end_s:.0f} s {d.bpm:.0f} bpm" + (" prolonged" if d.prolonged else "")
                      for d in r.decelerations[:3]) + (f" (+{len(r.decelerations) - 3})" if len(r.decelerations) > 3
                                                       else "")
    accel = ", ".join(f"{a.start_s:.0f}-{a.end_s:.0f} s +{a.bpm:.0f}" for a in r.accelerations) or "-"
    events = ", ".join(sorted({e.kind for e in r.events})) or "-"
    why = "; ".join(r.findings) if r.category else (r.reason or "")
    return (f"| {name} | {r.covered_s:.0f} / {r.span_s:.0f} | {base} | {var} | {accel} | {decel or '-'} | {events} "
            f"| {r.category or '-'} | {why} |")


HEADER = ("| series | valid / span s | baseline bpm | variability bpm | accelerations | decelerations | events "
          "| category | findings or reason |\n|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--no-detector", action="store_true", help="only the reference beats' readings")
    args = parser.parse_args()
    print("adfecgdb, 300-s records\n\n" + HEADER)
    for record in RECORDS:
        path = args.data / "adfecgdb" / f"{record}.edf"
        with EdfFile(path) as edf:
            onsets, _, texts = edf.annotations()
        beats = np.array([o for o, text in zip(onsets, texts, strict=True) if text == "QRS"]) * 1000.0
        print(row(f"{record} reference beats ({beats.size})", ctg_reading(*fhr_from_peaks(beats, 1000.0), 300.0)))
        if not args.no_detector:
            rec = open_leads(path)
            try:
                result = analyze(rec)
            finally:
                rec.close()
            assert result.ctg is not None
            print(row(f"{record} vigil beats ({result.fetal.size} beats, {sum(result.masked)} FHR points masked)",
                      result.ctg))
    print("\nsynthetic series (4 Hz, seed 0)\n\n" + HEADER.replace("| series |", "| series: what it is |"))
    for name, (what, (t, v)) in synthetic().items():
        print(row(f"{name}: {what}", reading_from_grid(t, v)))
    t, v = trace([(3600, 140)])
    t_beats = t[::2]  # about 2 beats a second, as an hour of the live chain's history holds
    cost = []
    for _ in range(20):
        c0 = time.process_time()
        ctg_reading(t_beats, v[::2], float(t_beats[-1]))
        cost.append(time.process_time() - c0)
    print(f"\none live reading of 60 min of FHR ({t_beats.size} points): median {np.median(cost) * 1000:.0f} ms CPU "
          f"over 20 (every 5 s: {np.median(cost) / 5 * 100:.1f} % of one core)")


if __name__ == "__main__":
    main()
