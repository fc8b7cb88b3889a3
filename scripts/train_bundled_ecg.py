"""Retrain the bundled fetal-ECG Donut bundle and cut the bundled EDF sample.

Usage: .venv/bin/python scripts/train_bundled_ecg.py [--data ../shared/data/adfecgdb] [--epochs 256]

Trains `vigil train ecg` on r01, r04, r07 and r08 (Direct_1, 60-sample block means, window 120,
the write-up's 250 uV rule masking points out of training), keeps the int8 variant in
edge/data/bundles/ecg-donut/, and writes the first 60 s of r10 (never trained on: Direct_1 and the
fetal R-peak annotations) to edge/data/samples/ecg/r10_60s.edf for `vigil demo`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyedflib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.train_bundled_audio import ship_int8  # noqa: E402


def cut_sample(source: Path, target: Path, seconds: int = 60) -> None:
    reader = pyedflib.EdfReader(str(source))
    try:
        index = reader.getSignalLabels().index("Direct_1")
        fs = int(reader.getSampleFrequency(index))
        header = reader.getSignalHeader(index)
        signal = reader.readSignal(index)[: seconds * fs]
        onsets, durations, texts = reader.readAnnotations()
    finally:
        reader.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = pyedflib.EdfWriter(str(target), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders([header])
        writer.writeSamples([np.asarray(signal)])
        for onset, duration, text in zip(onsets, durations, texts, strict=True):
            if onset < seconds:
                writer.writeAnnotation(float(onset), float(duration), str(text))
    finally:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/adfecgdb")
    parser.add_argument("--out", type=Path, default=ROOT / "out/bundled-ecg")
    parser.add_argument("--epochs", type=int, default=256)
    args = parser.parse_args()
    full = args.out / "ecg-donut"
    records = [str(args.data / f"{r}.edf") for r in ("r01", "r04", "r07", "r08")]
    subprocess.run([sys.executable, "-m", "edge.cli", "train", "ecg", *records, "--out", str(full),
                    "--epochs", str(args.epochs), "--json", "--force"], check=True, cwd=ROOT)
    ship_int8(full, ROOT / "edge/data/bundles/ecg-donut")
    cut_sample(args.data / "r10.edf", ROOT / "edge/data/samples/ecg/r10_60s.edf")


if __name__ == "__main__":
    main()
