"""Missing samples (NaN) in the quality monitor: what a gap does to the scores next to it.

    python -m benchmarks.studies.fetal_missing_edges [--data ../shared/data] [--records r01 ...] [--live [--zeros]]

Per adfecgdb record (its first 60 s, abdominal leads, primed as `vigil beats` does, 1 s blocks): gaps of
23 ms (one BLE frame), 50 ms, 0.5 s and 2 s at 20-50 s, on every lead (a lost packet) or on Abdomen_2 only
(a gap in one channel of a file), each in its own run. Printed per kind: the largest rise over the same
frames' score without the gap, within 2 s of either end of the gap (frames that hold no missing sample),
over all records and gaps, and the share of (record, gap) cases whose largest rise is >= 0.25; and the
lowest flatline score inside the gaps (frames wholly missing).

--live: as `vigil run`'s fetal stage on a BLE stream: no priming, 23-sample blocks (the wearable's frames).
--zeros: the gap's samples given as 0 instead of NaN (what the live fetal chain passed on before the seventh
round: `np.nan_to_num`), for the before figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge.fetal.quality import SIGNAL_KINDS, QualityMonitor
from edge.io.multilead import open_leads

RECORDS = ("r01", "r04", "r07", "r08", "r10")
GAPS = ((20000, 22000), (30000, 30050), (40000, 40500), (50020, 50043))


LIVE = {"live": False, "zeros": False}


def scores(x: np.ndarray, fs: float, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Frame starts (f,) s and scores (f, 5, leads) of x (n, leads) with NaN = missing, primed on x (not --live)."""
    step = 23 if LIVE["live"] else round(fs)
    x = np.nan_to_num(x) if LIVE["zeros"] else x
    monitor = QualityMonitor(fs, labels)
    if not LIVE["live"]:
        monitor.prime(x[i : i + step] for i in range(0, x.shape[0], step))
    parts = [monitor.push(x[i : i + step], final=i + step >= x.shape[0]) for i in range(0, x.shape[0], step)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def edge_rises(x: np.ndarray, fs: float, labels: tuple[str, ...]) -> tuple[np.ndarray, float]:
    """(cases, 5) the largest rise per kind within 2 s of each gap's ends, and the lowest flatline inside."""
    _, clean = scores(x, fs, labels)
    rises, inside_min = [], 1.0
    for leads in (slice(None), slice(1, 2)):
        for a, b in GAPS:
            y = x.copy()
            y[a:b, leads] = np.nan
            t, s = scores(y, fs, labels)
            sa, sb = a / fs, b / fs
            near = ((t >= sa - 2) & (t + 0.1 <= sa)) | ((t >= sb) & (t < sb + 2))
            rises.append((s[near] - clean[near]).max(axis=(0, 2)))
            inside = (t >= sa) & (t + 0.1 <= sb)
            if inside.any():
                inside_min = min(inside_min, float(s[inside, 0, 1].min()))
    return np.array(rises), inside_min


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--records", nargs="+", default=list(RECORDS))
    parser.add_argument("--live", action="store_true", help="no priming, 23-sample blocks")
    parser.add_argument("--zeros", action="store_true", help="gaps as zeros (the old live path)")
    args = parser.parse_args(argv)
    LIVE.update(live=args.live, zeros=args.zeros)
    rises, inside = [], 1.0
    for name in args.records:
        rec = open_leads(args.data / "adfecgdb" / f"{name}.edf")
        x = np.concatenate(list(rec.blocks(60000)))[:60000]
        fs, labels = rec.fs, rec.labels
        rec.close()
        r, low = edge_rises(x, fs, labels)
        rises.append(r)
        inside = min(inside, low)
    all_rises = np.concatenate(rises)
    print(f"{all_rises.shape[0]} gaps ({len(args.records)} records x {len(GAPS)} lengths x all leads / one lead)")
    print("| | " + " | ".join(SIGNAL_KINDS) + " |")
    print("|---|" + "---|" * len(SIGNAL_KINDS))
    print("| largest rise within 2 s of a gap | " + " | ".join(f"{v:.2f}" for v in all_rises.max(axis=0)) + " |")
    print("| gaps with a rise >= 0.25 | " + " | ".join(f"{v:.2f}" for v in (all_rises >= 0.25).mean(axis=0)) + " |")
    print(f"lowest flatline score on frames wholly inside a gap: {inside:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
