"""Retrain the bundled fetal-ECG Donut bundle and cut the bundled EDF sample.

Usage: .venv/bin/python -m scripts.train_bundled_ecg [--data ../shared/data/adfecgdb] [--epochs 256] [--rule-only]

Trains `vigil train ecg` on r01, r04, r07 and r08 (Direct_1, 60-sample block means, window 120,
the write-up's 250 uV rule masking points out of training), keeps the int8 variant in
edge/data/bundles/ecg-donut/ with the event rule of train.ecg_event_rule (threshold and debounce from
its validation scores; --rule-only: that rule on the shipped model, without retraining), and writes
the first 60 s of r10 (never trained on: Direct_1 and the fetal R-peak annotations) to
edge/data/samples/ecg/r10_60s.edf for `vigil demo`, and the same 60 s of its four abdominal leads (with
the annotations) to edge/data/samples/fetal/r10_60s_abdominal.edf for the demo's `vigil beats`
(--samples-only: the samples without retraining).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyedflib

from edge.bundle.loader import load_bundle
from edge.pipeline.series_scorer import Series, ecg_series
from scripts.train_bundled_audio import ship_int8
from train.ecg_event_rule import apply_rule

ROOT = Path(__file__).resolve().parents[1]
FIT_RECORDS = ("r01", "r04", "r07", "r08")


def cut_sample(source: Path, target: Path, labels: tuple[str, ...] = ("Direct_1",), seconds: int = 60) -> None:
    """The first `seconds` of the channels `labels` of `source`, with its annotations, as EDF+ `target`."""
    reader = pyedflib.EdfReader(str(source))
    try:
        indices = [reader.getSignalLabels().index(label) for label in labels]
        headers = [reader.getSignalHeader(i) for i in indices]
        signals = [np.asarray(reader.readSignal(i)[: seconds * int(reader.getSampleFrequency(i))]) for i in indices]
        onsets, durations, texts = reader.readAnnotations()
    finally:
        reader.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = pyedflib.EdfWriter(str(target), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    kept = np.asarray(onsets)[np.asarray(onsets) < seconds]
    try:
        # EDF+ keeps the annotations in each 1 s data record's own slots (one by default: 60 of r10's 128
        # beats in its first minute were dropped): as many slots as the busiest second needs
        writer.set_number_of_annotation_signals(int(np.bincount(kept.astype(int)).max(initial=0)) + 1)
        writer.setSignalHeaders(headers)
        writer.writeSamples(signals)
        for onset, duration, text in zip(onsets, durations, texts, strict=True):
            if onset < seconds:
                writer.writeAnnotation(float(onset), float(duration), str(text))
    finally:
        writer.close()


def fit_series(data: Path, bundle: Path) -> list[Series]:
    """The bundled model's training records as its points (their validation parts set its event rule)."""
    spec = load_bundle(bundle).ecg_spec
    return [ecg_series(data / f"{r}.edf", spec) for r in FIT_RECORDS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/adfecgdb")
    parser.add_argument("--out", type=Path, default=ROOT / "out/bundled-ecg")
    parser.add_argument("--epochs", type=int, default=256)
    parser.add_argument("--samples-only", action="store_true", help="cut the samples, do not retrain")
    parser.add_argument("--rule-only", action="store_true", help="the event rule on the shipped model, no retraining")
    args = parser.parse_args()
    shipped = ROOT / "edge/data/bundles/ecg-donut"
    if args.rule_only:
        print(f"threshold {apply_rule(shipped, fit_series(args.data, shipped)):.4f}")
        return
    abdominal = ("Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4")
    cut_sample(args.data / "r10.edf", ROOT / "edge/data/samples/fetal/r10_60s_abdominal.edf", abdominal)
    if args.samples_only:
        cut_sample(args.data / "r10.edf", ROOT / "edge/data/samples/ecg/r10_60s.edf")
        return
    full = args.out / "ecg-donut"
    records = [str(args.data / f"{r}.edf") for r in FIT_RECORDS]
    subprocess.run([sys.executable, "-m", "edge.cli", "train", "ecg", *records, "--out", str(full),
                    "--epochs", str(args.epochs), "--json", "--force"], check=True, cwd=ROOT)
    ship_int8(full, shipped)
    apply_rule(shipped, fit_series(args.data, shipped))
    cut_sample(args.data / "r10.edf", ROOT / "edge/data/samples/ecg/r10_60s.edf")


if __name__ == "__main__":
    main()
