"""`vigil train ...` and `vigil evaluate ...` (desktop; TensorFlow, scikit-learn, matplotlib)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from edge.errors import ConfigError, MissingExtraError
from train.audio import DETECTORS, AudioTrainConfig
from train.dataset import discover_clips


def _require_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "training needs TensorFlow: install the train extra (pip install 'vigil[train]')"
        ) from None


def _train_audio(args: argparse.Namespace) -> int:
    for name in ("test_fraction", "threshold_fraction"):
        value = getattr(args, name)
        if not 0 <= value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} {value}: expected a fraction in [0, 1)")
    if not 0 < args.percentile <= 100:
        raise ConfigError(f"--percentile {args.percentile}: expected a value in (0, 100]")
    if args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs}: expected at least 1")
    discover_clips(args.dir, args.machine_type)  # refuse a bad folder before the slow TensorFlow import
    _require_tensorflow()
    from train.audio import train_audio

    config = AudioTrainConfig(detector=args.detector, machine_type=args.machine_type, epochs=args.epochs,
                              seed=args.seed, percentile=args.percentile, test_fraction=args.test_fraction,
                              threshold_fraction=args.threshold_fraction)
    manifest = train_audio(args.dir, args.out, config)
    summary = {"bundle": str(args.out), "metrics": manifest["metrics"],
               "models": {k: {"bytes": v["bytes"], "threshold": v["threshold"]} for k, v in manifest["models"].items()}}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.out}: {manifest['name']}")
        for variant, m in manifest["metrics"].items():
            if isinstance(m, dict):
                print(f"  {variant:8s} AUC {m['auc']} on {m['n_normal']} normal + {m['n_anomalous']} "
                      "anomalous reserved clips")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_audio

    result = evaluate_audio(args.bundle, args.dir, args.report, args.machine_type)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"report written to {args.report / 'report.md'}")
        for variant, m in result["variants"].items():
            print(f"  {variant:8s} AUC {m['auc']:.3f}  pAUC {m['pauc']:.3f}  F1 {m['f1']:.3f}  "
                  f"({m['n_normal']} normal, {m['n_anomalous']} anomalous)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a detector").add_subparsers(dest="modality", required=True)
    p = train.add_parser("audio", help="machine sound: WAVs named normal_*.wav / anomaly_*.wav under DIR")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--detector", choices=DETECTORS, default="dense-ae")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write (replaced if present)")
    p.add_argument("--machine-type", help="use only clips under a folder of this machine type (e.g. fan)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--percentile", type=float, default=95.0,
                   help="threshold = this percentile of held-out normal scores (the write-up: 95)")
    p.add_argument("--test-fraction", type=float, default=0.25,
                   help="fraction of normal clips reserved for testing (never fitted or thresholded on)")
    p.add_argument("--threshold-fraction", type=float, default=0.2,
                   help="fraction of normal clips held out to choose the threshold")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_train_audio)

    p = sub.add_parser("evaluate", help="evaluate a bundle on labelled clips it has not seen")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--report", type=Path, required=True, help="folder for report.md, metrics.json, scores.csv, roc.png")
    p.add_argument("--machine-type", help="default: the bundle's machine type")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
