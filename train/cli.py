"""`vigil train ...` and `vigil evaluate ...` (desktop; TensorFlow, scikit-learn, matplotlib).

Each trainable modality's entry (train.modalities, by the names of edge.modalities) adds its
`vigil train NAME` and its `vigil evaluate` options and does the work; this module parses and
sends `vigil evaluate` to the entry of the bundle's modality."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.bundle.loader import load_bundle
from edge.outputs import check_dir
from edge.text import DefaultsParser
from train.modalities.base import evaluation_without_bundle, training_for, trainings
from train.quiet import quiet_native


def _evaluate(args: argparse.Namespace) -> int:
    """`vigil evaluate`: the entry of the bundle's modality, or the one that evaluates without a bundle."""
    check_dir(args.report, "report", force=args.force, option="--report")
    if args.bundle is None:
        return evaluation_without_bundle().evaluate(args)
    return training_for(load_bundle(args.bundle).modality).evaluate(args)


def build_parser() -> argparse.ArgumentParser:
    parser = DefaultsParser(prog="vigil")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=DefaultsParser)
    train = sub.add_parser("train", help="train a detector").add_subparsers(dest="modality", required=True,
                                                                             parser_class=DefaultsParser)
    for training in trainings().values():
        training.add_parser(train)

    p = sub.add_parser("evaluate", help="evaluate a bundle, or train and test detectors on repeated splits")
    p.add_argument("inputs", nargs="+", type=Path, metavar="DIR|FILE",
                   help="a folder of clips (audio), or EDF / CSV files (Donut bundles)")
    p.add_argument("--inject-seed", type=int, help="EDF with a Donut bundle: inject seeded synthetic anomalies")
    p.add_argument("--bundle", type=Path, help="evaluate this bundle on the clips it has not seen; without it, "
                                               "train --detector on --repeats splits per machine type")
    p.add_argument("--report", type=Path, required=True, help="folder for report.md, JSON and PNGs")
    p.add_argument("--repeats", type=int, default=3, help="splits per machine type (without --bundle)")
    p.add_argument("--labels", type=Path, help="KPI CSVs: NAB label windows (labels/combined_windows.json)")
    p.add_argument("--allow-seen", action="store_true",
                   help="Donut bundles: evaluate on recordings the bundle was trained on (an optimistic figure)")
    p.add_argument("--columns", help="KPI CSV: TIMESTAMP,VALUE[,LABEL] column names or 0-based positions")
    for training in trainings().values():
        training.evaluate_options(p)
    p.add_argument("--json", action="store_true", help="JSON output, no progress bar")
    p.add_argument("--force", action="store_true", help="replace an existing vigil bundle or report at --out/--report")
    p.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str], verbose: bool = False) -> int:
    args = build_parser().parse_args(argv)
    with quiet_native(verbose):
        return int(args.func(args))
