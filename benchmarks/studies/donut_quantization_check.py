"""Donut's test AUC on one AIOps series with float32, int8, and int8 encoder + int16x8 decoder models.

Usage: nice -n 10 .venv/bin/python -m benchmarks.studies.donut_quantization_check SERIES_KEY  (e.g. 9c639a46-34c8-...)
Same split, training and scoring as benchmarks/kpi_benchmark.py (first 70 % trains, the rest is
scored with the training tail as context, L = 16); prints AUC and the rank correlation of each
variant's test scores with float32's. Why: int8 loses on some series, and the suspect is the
decoder's int8 mean output, coarse next to the small std a well-fitted model predicts.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.stats
from sklearn.metrics import roc_auc_score

from benchmarks.kpi_protocol import load_labelled, split
from edge.detectors.donut import DonutDetector
from edge.detectors.interpreter import TFLiteModel, load_interpreter
from edge.features.ecg import standardize
from train.donut import DonutConfig, fit_donut
from train.donut_bundle import _calibration
from train.export import to_tflite

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    key = sys.argv[1]
    train, test = split(load_labelled(ROOT.parent / "shared/data/kpi-aiops2018" / f"{key}.csv"))
    usable = train.values[~(train.missing | train.labels)]
    mean, std = float(usable.mean()), float(usable.std())
    x = standardize(train.values, mean, std, train.missing)
    models = fit_donut([x], [train.missing | train.labels], DonutConfig(max_epochs=100, patience=10))
    enc_rows, dec_rows = _calibration(models, np.lib.stride_tricks.sliding_window_view(x, 120).astype(np.float32), 0)
    variants = {
        "float32": (to_tflite(models.encoder), to_tflite(models.decoder)),
        "int8": (to_tflite(models.encoder, representative=enc_rows),
                 to_tflite(models.decoder, representative=dec_rows)),
        "int8 encoder + int16x8 decoder": (to_tflite(models.encoder, representative=enc_rows),
                                           to_tflite(models.decoder, representative=dec_rows, quantization="int16x8")),
    }
    values = np.concatenate([train.values[-119:], test.values])
    missing = np.concatenate([train.missing[-119:], test.missing])
    windows = np.lib.stride_tricks.sliding_window_view(values, 120)
    gaps = np.lib.stride_tricks.sliding_window_view(missing, 120)
    keep = ~test.missing
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, blobs) in enumerate(variants.items()):
            paths = [Path(tmp) / f"{i}_{role}.tflite" for role in ("encoder", "decoder")]
            for path, blob in zip(paths, blobs, strict=True):
                path.write_bytes(blob)
            detector = DonutDetector(*(TFLiteModel(load_interpreter(p)) for p in paths), samples=16, mean=mean, std=std)
            scores = detector.score(windows, gaps)[keep]
            reference = scores if reference is None else reference
            rho = scipy.stats.spearmanr(reference, scores).statistic
            auc = roc_auc_score(test.labels[keep], scores)
            print(f"{name}: AUC {auc:.3f}, rank correlation with float32 {rho:.3f}")


if __name__ == "__main__":
    main()
