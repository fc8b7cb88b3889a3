"""How well `vigil calibrate` transfers: thresholds chosen on some normal clips of a machine, tested on
others of the same machine (false-positive rate) and on its real anomalous clips (recall).

The bundled slider model (int8; its fit clips are listed in its manifest) is calibrated with
`--fpr F` on `--calibrate` seeded clips of the 75 normal slider id 00 training clips
(../shared/data/dcase2020-slider-id00-train; any clip the bundle was fitted on is left out); the
other normal clips and the 4 anomalous id 00 clips (dev samples + lite) are then decided with the
original and with the calibrated clip threshold. Prints one table row per repeat and the mean ± std.

    python -m benchmarks.studies.calibrate_check [--fpr 0.05] [--calibrate 40] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from edge.bundle.loader import load_bundle, sha256_file
from edge.commands.calibrate import Rule, calibrate
from edge.pipeline.calibration_scores import audio_scores

ROOT = Path(__file__).resolve().parents[2]

DATA = ROOT.parent / "shared" / "data"
BUNDLE = ROOT / "edge" / "data" / "bundles" / "slider"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fpr", type=float, default=0.05)
    parser.add_argument("--calibrate", type=int, default=40, help="normal clips to calibrate on")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bundle = load_bundle(BUNDLE)
    fitted = {f["sha256"] for f in bundle.manifest.provenance["fit_files"]}
    normals = [p for p in sorted((DATA / "dcase2020-slider-id00-train").glob("normal_*.wav"))
               if sha256_file(p) not in fitted]
    anomalies = sorted((DATA / "dcase2020-task2-dev-samples" / "anomalous" / "slider").glob("anomaly_id_00_*.wav")) \
        + sorted((DATA / "dcase2020-task2-lite" / "anomalous" / "slider").glob("anomaly_id_00_*.wav"))
    anomaly_scores, _ = audio_scores(bundle, anomalies, "int8")
    original = bundle.variant("int8").clip_threshold
    print(f"slider id 00, int8: {len(normals)} normal clips not fitted on, {len(anomalies)} anomalous; "
          f"calibrate on {args.calibrate} with --fpr {args.fpr}, test on {len(normals) - args.calibrate}")
    print("repeat  threshold(orig -> cal)  FPR orig  FPR cal  recall orig  recall cal")
    rows = []
    for seed in range(args.repeats):
        order = np.random.default_rng(seed).permutation(len(normals))
        cal = [normals[i] for i in order[: args.calibrate]]
        test = [normals[i] for i in order[args.calibrate :]]
        with tempfile.TemporaryDirectory() as tmp:
            _, manifest = calibrate(BUNDLE, cal, Rule("fpr", args.fpr), out=Path(tmp) / "b")
        threshold = manifest.models["int8"].threshold.clip
        test_scores, _ = audio_scores(bundle, test, "int8")
        row = [float(np.mean(test_scores > original)), float(np.mean(test_scores > threshold)),
               float(np.mean(anomaly_scores > original)), float(np.mean(anomaly_scores > threshold))]
        rows.append(row)
        print(f"{seed:6d}  {original:.4f} -> {threshold:.4f}      {row[0]:.3f}     {row[1]:.3f}    {row[2]:.3f}"
              f"        {row[3]:.3f}")
    mean, std = np.mean(rows, axis=0), np.std(rows, axis=0)
    print("mean ± std            " + "  ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(mean, std, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
