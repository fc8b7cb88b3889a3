"""`vigil train ...` and `vigil evaluate ...` (desktop; TensorFlow, scikit-learn, matplotlib)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.bundle.loader import load_bundle
from edge.errors import ConfigError, InputFileError, MissingExtraError
from edge.features.ecg import EcgSpec
from edge.features.spec import FEATURE_SETS, FeatureSpec
from edge.outputs import check_dir, staged_dir
from edge.text import DefaultsParser, number
from train.audio import DEFAULT_DETECTOR, DETECTORS, AudioTrainConfig
from train.dataset import discover_clips
from train.detectors import DetectorOptions
from train.donut_bundle import DEFAULT_ITERATIONS, DEFAULT_SAMPLES
from train.held_out import held_out_lines
from train.quiet import quiet_native
from train.series_training import SERIES_TRAINING, series_training


def _require_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "training needs TensorFlow: install the train extra (pip install '.[train]' in the checkout)"
        ) from None


@contextlib.contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Callable[[str], None] | None]:
    """A tqdm bar on stderr when it is a terminal and output is not --json; else no progress."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="model", file=sys.stderr) as bar:
        started = False

        def step(label: str) -> None:
            nonlocal started
            if started:
                bar.update(1)
            started = True
            bar.set_description(label)

        yield step
        bar.update(1)


def _config(args: argparse.Namespace) -> AudioTrainConfig:
    """Validate the shared training options into an AudioTrainConfig."""
    for name in ("test_fraction", "anomaly_fit_fraction"):
        value = getattr(args, name)
        if value is not None and not 0 <= value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} {value}: expected a fraction in [0, 1)")
    checks = [("percentile", 0 < args.percentile <= 100, "a value in (0, 100]"),
              ("epochs", args.epochs >= 1, "at least 1"), ("clusters", args.clusters >= 1, "at least 1"),
              ("components", args.components >= 1, "at least 1"), ("sequence", args.sequence >= 2, "at least 2"),
              ("folds", args.folds >= 1, "at least 1"), ("seed", args.seed >= 0, "at least 0")]
    for name, ok, expected in checks:
        if not ok:
            raise ConfigError(f"--{name} {getattr(args, name)}: expected {expected}")
    if args.anomaly_fit_fraction == 0 and any(k.supervised for k in _kinds(args.detector)):
        raise ConfigError("--anomaly-fit-fraction 0: the supervised svm fits on anomalous clips; expected a "
                          "fraction in (0, 1), or another --detector")
    options = DetectorOptions(epochs=args.epochs, seed=args.seed, clusters=args.clusters, components=args.components,
                              covariance=args.covariance, sequence=args.sequence)
    return AudioTrainConfig(detector=args.detector, machine_type=args.machine_type, options=options,
                            percentile=args.percentile, folds=args.folds,
                            test_fraction=args.test_fraction if args.test_fraction is not None else
                            (0.25 if args.command == "evaluate" else 0.0),
                            anomaly_fit_fraction=args.anomaly_fit_fraction, clip_seconds=args.clip_seconds)


def _kinds(detector: str) -> list[Any]:
    from train.detectors import registry

    kinds = registry()
    return list(kinds.values()) if detector == "all" else [kinds[detector]]


def _train_audio(args: argparse.Namespace) -> int:
    config = _config(args)
    shortest = min(FeatureSpec.default(name).window_samples / FeatureSpec.default(name).sr for name in FEATURE_SETS)
    _check_clip_seconds(args, shortest, "of any detector")  # now, before TensorFlow loads
    check_dir(args.out, "bundle", force=args.force)  # the old output is replaced only once the new one is complete
    discover_clips(args.dir, args.machine_type, clip_seconds=args.clip_seconds)  # refuse a bad folder before TF
    _require_tensorflow()
    _check_clip_seconds(args, max(k.spec(config.options).window_samples / k.spec(config.options).sr
                                  for k in config.kinds()), f"for --detector {args.detector}")
    from train.audio import train_audio

    with _progress(len(config.kinds()), args.json) as progress:
        if args.detector == "all":  # one bundle per kind inside a folder, put in place when all are written
            with staged_dir(args.out, "bundle", force=args.force) as staging:
                manifests = train_audio(args.dir, staging, config, progress)
        else:
            manifests = train_audio(args.dir, args.out, config, progress)
    for name, manifest in manifests.items():
        path = args.out / name if args.detector == "all" else args.out
        if args.json:
            print(json.dumps({"bundle": str(path), "detector": name,
                              "metrics": {v: {k: x for k, x in m.items() if k != "clip_scores"}
                                          for v, m in manifest.metrics.items() if isinstance(m, dict)},
                              "models": {k: {"bytes": v.files["model"].bytes, "threshold": v.threshold.to_json()}
                                         for k, v in manifest.models.items()}}))
            continue
        print(f"{path}: {manifest.name}")
        for line in held_out_lines(manifest):
            print(f"  {line}")
    return 0


def _check_clip_seconds(args: argparse.Namespace, window_s: float, which: str) -> None:
    """Refuse a --clip-seconds below one analysis window: every cut clip would be refused (after a
    recording had been cut into thousands of them)."""
    if args.clip_seconds < window_s:
        raise ConfigError(f"--clip-seconds {args.clip_seconds:g}: shorter than one analysis window {which} "
                          f"({window_s:.3f} s); expected at least that")


def _train_series(args: argparse.Namespace) -> int:
    """`vigil train ecg FILE.edf...` / `vigil train kpi FILE.csv...`: one Donut bundle."""
    training = SERIES_TRAINING[args.modality]
    spec = training.spec(args)
    check_dir(args.out, "bundle", force=args.force)
    for name, value, low in (("block", spec.block, 1), ("window", spec.window, 2), ("epochs", args.epochs, 1),
                             ("latent", args.latent, 1), ("samples", args.samples, 1),
                             ("patience", args.patience, 1)):
        if value < low:
            raise ConfigError(f"--{name} {value}: expected at least {low}")
    from edge.pipeline.series_scorer import load_series

    if training.rate_from_files:  # the model is trained at the recordings' rate: they must share one
        rates = {_edf_rate(p, spec) for p in args.files}
        if len(rates) > 1:
            raise ConfigError(f"recordings at {sorted(rates)} Hz: expected one sample rate for all training files")
        spec = replace(spec, fs=rates.pop())
    from edge.io.kpi_csv import KpiColumns

    columns = KpiColumns.parse(args.columns) if getattr(args, "columns", None) else None
    series = [load_series(path, spec, args.modality, columns) for path in args.files]
    _require_tensorflow()
    from train.donut import DonutConfig
    from train.donut_bundle import train_donut_bundle
    from train.series_checks import check_training_series

    config = DonutConfig(latent=args.latent, max_epochs=args.epochs, patience=args.patience, seed=args.seed)
    check_training_series(series, config.valid_fraction, spec.window)
    manifest = train_donut_bundle(series, spec, args.modality, args.out, config, percentile=args.percentile,
                                  samples=args.samples, iterations=args.iterations,
                                  use_labels=not args.ignore_labels, progress=sys.stderr.isatty(),
                                  **_kpi_scoring(args))
    assert manifest.calibration is not None and manifest.calibration.rule is not None, "written by the trainer"
    rule = manifest.calibration.rule
    summary = {"bundle": str(args.out), "best_epoch": manifest.training["best_epoch"],
               "seconds": manifest.training["seconds"],
               "thresholds": {v: m.threshold.window for v, m in manifest.models.items()}, "rule": rule,
               "held_out": {v: m.held_out for v, m in manifest.models.items()},
               "score": {v: m.score or "donut" for v, m in manifest.models.items()}}
    if args.json:
        print(json.dumps(summary))
        return 0
    how = (f"maximising the delay-{rule['value']} adjusted F1 on {rule['validation_segments']} labelled validation "
           f"segment(s) (validation F1 {rule['validation_f1']:.2f}"
           f"{', capped at the ' + format(rule['cap_percentile'], 'g') + 'th percentile' if rule['capped'] else ''})"
           if rule["kind"] == "adjusted-f1" else
           f"the {rule['value']:g}th percentile of validation scores (no labelled anomalies there)")
    thresholds = ", ".join(f"{v} {t:.3f}" for v, t in summary["thresholds"].items())
    print(f"{args.out}: Donut ({args.modality}), best epoch {summary['best_epoch'] + 1}, trained in "
          f"{summary['seconds']:.0f} s; thresholds {thresholds}, by {how}")
    if training.combine:
        print(f"  score (default variant {manifest.default_variant}): "
              + ", ".join(f"{v} {name}" for v, name in summary["score"].items()))
    for line in held_out_lines(manifest):
        print(f"  {line}")
    return 0


def _kpi_scoring(args: argparse.Namespace) -> dict[str, Any]:
    """`train kpi`'s score and default variant (train.kpi_defaults); ECG bundles keep Donut alone on int8."""
    if not SERIES_TRAINING[args.modality].combine:
        return {}
    return {"combine": args.score, "default_variant": args.variant}


def _edf_rate(path: Path, spec: EcgSpec) -> float:
    from edge.io.edf import EdfFile

    with EdfFile(path) as edf:  # the header only: the samples are read later, in blocks
        return edf.fs(spec.channel)


def _evaluate(args: argparse.Namespace) -> int:
    check_dir(args.report, "report", force=args.force, option="--report")
    if args.bundle is not None and series_training(load_bundle(args.bundle).modality) is not None:
        from edge.io.kpi_csv import KpiColumns
        from train.evaluate_series import evaluate_series
        from train.series_checks import check_series_inputs

        labels = check_series_inputs(load_bundle(args.bundle), args.inputs, args.labels, args.allow_seen)
        with staged_dir(args.report, "report", force=args.force, option="--report") as staging:
            result = evaluate_series(args.bundle, args.inputs, staging, inject_seed=args.inject_seed, labels=labels,
                                     columns=KpiColumns.parse(args.columns) if args.columns else None)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"report written to {args.report / 'report.md'}")
            for name, entry in result["files"].items():
                for variant, m in entry.items():
                    print(f"  {name} {variant:8s} AUC {number(m['auc'])}  "
                          f"best F1 (adjusted, upper bound) {number(m.get('best_f1_adjusted'))}  "
                          f"F1 at the bundle's threshold (adjusted) {number(m.get('f1_at_threshold_adjusted'))}")
        return 0
    if args.labels is not None:
        raise ConfigError(f"--labels {args.labels}: label windows apply to KPI CSVs with a Donut bundle only")
    if len(args.inputs) != 1:
        raise ConfigError(f"{len(args.inputs)} inputs given: machine-sound evaluation takes one folder of clips")
    args.dir = args.inputs[0]
    if args.bundle is not None:
        from train.evaluate import evaluate_audio

        with staged_dir(args.report, "report", force=args.force, option="--report") as staging:
            result = evaluate_audio(args.bundle, args.dir, staging, args.machine_type)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"report written to {args.report / 'report.md'}")
            for variant, m in result["variants"].items():
                print(f"  {variant:8s} AUC {number(m['auc'])}  pAUC {number(m['pauc'])}  F1 {number(m['f1'])}  "
                      f"({m['n_normal']} normal, {m['n_anomalous']} anomalous)")
        return 0
    config = _config(args)
    if args.repeats < 1:
        raise ConfigError(f"--repeats {args.repeats}: expected at least 1")
    types = _labelled_types(args.dir, args.machine_type)  # before TensorFlow: a folder it cannot use
    _require_tensorflow()
    from train.crossval import crossval_audio
    from train.report import best_detector, write_report

    with _progress(len(types) * args.repeats * len(config.kinds()), args.json) as progress:
        result = crossval_audio(args.dir, config, repeats=args.repeats, machine_types=types, progress=progress)
    with staged_dir(args.report, "report", force=args.force, option="--report") as staging:
        path = args.report / write_report(result, staging).relative_to(staging)
    summary = {machine: {"best": (best := best_detector(t["detectors"])),
                         "auc_float32": t["detectors"][best]["float32"]["auc"]["mean"],
                         "auc_int8": t["detectors"][best]["int8"]["auc"]["mean"]}
               for machine, t in result["types"].items()}
    if args.json:
        print(json.dumps({"report": str(path), "summary": summary}))
    else:
        print(f"report written to {path}")
        for machine, s in summary.items():
            print(f"  {machine:12s} best {s['best']:9s} AUC float32 {number(s['auc_float32'])} "
                  f"int8 {number(s['auc_int8'])}")
    return 0


def _labelled_types(data_dir: Path, machine_type: str | None) -> list[str]:
    """The machine types `evaluate DIR` (no bundle) can test: clips under a folder of that type, normal and
    anomalous by their names. Refused (one line) before any training: a folder without machine-type
    folders gave an empty report of NaNs with exit status 0, a type without anomalous clips a traceback."""
    from train.dataset import MACHINE_TYPES

    clips = discover_clips(data_dir, machine_type)
    types = [machine_type.lower()] if machine_type else [t for t in MACHINE_TYPES
                                                          if any(c.machine_type == t for c in clips)]
    if not types:
        raise InputFileError(f"{data_dir}: no clips under a folder named by a machine type "
                             f"({', '.join(MACHINE_TYPES)}); expected <type>/normal_*.wav and anomaly_*.wav clips "
                             "(the DCASE 2020 layout)")
    for machine in types:
        labels = [c.label for c in clips if c.machine_type == machine]
        if 0 not in labels or 1 not in labels:
            raise InputFileError(f"{data_dir}: {labels.count(0)} normal and {labels.count(1)} anomalous "
                                 f"(anomaly_*) clips of type {machine}; expected both, to measure how well they "
                                 "are told apart (thresholds alone: vigil train audio)")
    return types


def _training_options(p: argparse.ArgumentParser, detector_default: str) -> None:
    p.add_argument("--detector", choices=DETECTORS, default=detector_default, help="detector kind, or all")
    p.add_argument("--machine-type", help="use only clips under a folder of this machine type (e.g. fan)")
    p.add_argument("--epochs", type=int, default=50, help="training epochs of the networks (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clusters", type=int, default=1, help="kmeans: number of centres (the write-up: 1)")
    p.add_argument("--components", type=int, default=1, help="gmm: mixture components")
    p.add_argument("--covariance", choices=("full", "tied", "diag", "spherical"), default="full",
                   help="gmm: covariance type")
    p.add_argument("--sequence", type=int, default=10, help="lstm-ae: consecutive windows per sequence (10)")
    p.add_argument("--percentile", type=float, default=95.0,
                   help="threshold = this percentile of out-of-fold normal scores (the write-up: 95)")
    p.add_argument("--folds", type=int, default=5,
                   help="k of the k-fold by clip whose out-of-fold normal scores set the thresholds (default 5; "
                        "1: the fitted clips' own scores, quick but optimistic)")
    p.add_argument("--test-fraction", type=float, default=None,
                   help="fraction of normal clips reserved for testing, never fitted on (default: 0 for "
                        "train, every normal clip is learnt from; 0.25 for evaluate)")
    p.add_argument("--anomaly-fit-fraction", type=float, default=None,
                   help="fraction of anomalous clips the supervised svm fits on (default 0.5 when svm is "
                        "trained, else 0); the rest are test clips")
    p.add_argument("--clip-seconds", type=float, default=10.0,
                   help="recordings longer than this are cut into clips of about this length in s (default 10)")
    p.add_argument("--json", action="store_true", help="JSON output, no progress bar")
    p.add_argument("--force", action="store_true", help="replace an existing vigil bundle or report at --out/--report")


def build_parser() -> argparse.ArgumentParser:
    parser = DefaultsParser(prog="vigil")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=DefaultsParser)
    train = sub.add_parser("train", help="train a detector").add_subparsers(dest="modality", required=True,
                                                                             parser_class=DefaultsParser)
    p = train.add_parser("audio", help="machine sound: a folder of normal recordings (WAV/FLAC, any names; "
                         "DCASE normal_*/anomaly_* names give labels)")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--out", type=Path, required=True,
                   help="bundle directory to write (a vigil bundle there is replaced with --force); "
                        "with --detector all, one per kind inside")
    _training_options(p, DEFAULT_DETECTOR)
    p.set_defaults(func=_train_audio)

    for modality, training in SERIES_TRAINING.items():
        p = train.add_parser(modality, help=f"Donut on {training.help}")
        p.add_argument("files", nargs="+", type=Path, metavar="FILE")
        p.add_argument("--out", type=Path, required=True,
                       help="bundle directory to write (a vigil bundle there is replaced with --force)")
        p.add_argument("--window", type=int, default=120, help="points per window (default 120)")
        training.options(p)
        p.add_argument("--latent", type=int, default=5, help="latent dimensions (default 5)")
        epochs, patience = training.epochs, training.patience
        p.add_argument("--epochs", type=int, default=epochs,
                       help=f"most epochs (default {epochs}; the paper: 256); the best validation epoch is kept")
        p.add_argument("--patience", type=int, default=patience,
                       help=f"stop after this many epochs without a better validation loss (default {patience})")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--percentile", type=float, default=99.9,
                       help="threshold = this percentile of normal validation point scores (default 99.9); "
                            "with labelled validation anomalies, the cap of the F1-optimal threshold")
        p.add_argument("--ignore-labels", action="store_true",
                       help="choose the threshold by --percentile even when the validation part has labels")
        p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                       help=f"latent samples L when scoring (default {DEFAULT_SAMPLES}, from the cost/AUC table)")
        p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="MCMC imputation rounds (default 10)")
        p.add_argument("--json", action="store_true")
        p.add_argument("--force", action="store_true", help="replace an existing vigil bundle at --out")
        p.set_defaults(func=_train_series, modality=modality)

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
    _training_options(p, "all")
    p.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str], verbose: bool = False) -> int:
    args = build_parser().parse_args(argv)
    with quiet_native(verbose):
        return int(args.func(args))
