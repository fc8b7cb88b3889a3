"""CPU cost of the fetal signal-quality monitor: real-time factor and peak RSS on adfecgdb abdominal leads.

    python -m benchmarks.fetal_quality_speed [--data ../shared/data] [--block-s 1]

Streams each record through QualityMonitor in blocks of --block-s seconds (as the live ring buffer
would), on whatever core it runs on (pin it with taskset -c 0 for one core); real-time factor = CPU
seconds / signal seconds.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

from edge.fetal.quality import QualityMonitor

RECORDS = ("r01", "r04", "r07", "r08", "r10")


def load_abdominal(path: Path) -> tuple[np.ndarray, list[str], float]:
    import pyedflib

    reader = pyedflib.EdfReader(str(path))
    try:
        labels = [label for label in reader.getSignalLabels() if label.startswith("Abdomen")]
        idx = [reader.getSignalLabels().index(label) for label in labels]
        x = np.stack([reader.readSignal(i) for i in idx], axis=1)
        return x, labels, float(reader.getSampleFrequency(idx[0]))
    finally:
        reader.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--block-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    cpu = seconds = 0.0
    for record in RECORDS:
        x, labels, fs = load_abdominal(args.data / "adfecgdb" / f"{record}.edf")
        monitor = QualityMonitor(fs, labels)
        step = max(1, round(args.block_s * fs))
        start = time.process_time()
        for i in range(0, x.shape[0], step):
            monitor.push(x[i : i + step], final=i + step >= x.shape[0])
        cpu += time.process_time() - start
        seconds += x.shape[0] / fs
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(RECORDS)} records, {seconds:.0f} s of 4-lead signal at 1 kHz, blocks of {args.block_s:g} s: "
          f"CPU {cpu:.2f} s, real-time factor {cpu / seconds:.4f}, peak RSS {rss_mb:.0f} MB (process, data included)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
