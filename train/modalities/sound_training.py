"""`vigil train audio` and the evaluation of machine-sound bundles and detectors.

Training fits the detector kinds of ``train.detectors`` on a folder of normal recordings cut into
clips (train.audio); evaluation scores an audio bundle on the clips it has not seen (train.evaluate)
or, without a bundle, trains and tests detectors on repeated splits per machine type
(train.crossval, train.report).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, InputFileError
from edge.features.spec import FEATURE_SETS, FeatureSpec
from edge.outputs import check_dir, staged_dir
from edge.text import number
from train.audio import DEFAULT_DETECTOR, DETECTORS, AudioTrainConfig
from train.dataset import discover_clips
from train.detectors import DetectorOptions
from train.held_out import held_out_lines
from train.modalities.base import ModalityTraining, register_training, require_tensorflow
from train.reliability import reliability_lines


@register_training
class SoundTraining(ModalityTraining):
    """Machine sound: detector kinds on a folder of WAV/FLAC clips; evaluation with or without a bundle."""

    name = "audio"
    evaluates_without_bundle = True

    def add_parser(self, train: Any) -> argparse.ArgumentParser:
        p = train.add_parser(self.name, help="machine sound: a folder of normal recordings (WAV/FLAC, any names; "
                             "DCASE normal_*/anomaly_* names give labels)")
        p.add_argument("dir", type=Path, metavar="DIR")
        p.add_argument("--out", type=Path, required=True,
                       help="bundle directory to write (a vigil bundle there is replaced with --force); "
                            "with --detector all, one per kind inside")
        _training_options(p, DEFAULT_DETECTOR)
        p.add_argument("--features", type=Path, metavar="STORE",
                       help="also fit on the feature rows a gateway's learning period kept (its state directory "
                            "learn/STREAM): added to every fit of the fused default (the folds' too); thresholds stay "
                            "out-of-fold scores of DIR's clips")
        _output_options(p)
        p.set_defaults(func=self.train)
        return p

    def train(self, args: argparse.Namespace) -> int:
        return _train(args)

    def evaluate(self, args: argparse.Namespace) -> int:
        return _evaluate(args)

    def evaluate_options(self, p: argparse.ArgumentParser) -> None:
        _training_options(p, "all")  # without --bundle: the detectors trained on each split


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
                            anomaly_fit_fraction=args.anomaly_fit_fraction, clip_seconds=args.clip_seconds,
                            learned_rows=_learned_rows(args))


def _learned_rows(args: argparse.Namespace) -> Any:
    """--features STORE: its rows (n, dim) in the features' units, for the fused default only."""
    store = getattr(args, "features", None)
    if store is None:
        return None
    from edge.features.spec import FeatureSpec
    from edge.learn.store import open_store
    from train.fused_audio import FEATURE_SET

    dim = FeatureSpec.default(FEATURE_SET).dim
    if args.detector != "fused":
        raise ConfigError(f"--features {store} with --detector {args.detector}: expected the fused default (its "
                          "members are what a learning period keeps features for)")
    rows, _ = open_store(store).rows()
    if rows.shape[1] == FeatureSpec.default("logmel-stats-seed").dim:  # learned under the default before the
        rows = rows[:, :dim]  # envelope member: these 256 values, then the write-up's 17 features
    if rows.shape[1] != dim or rows.shape[0] == 0:
        raise ConfigError(f"--features {store}: {rows.shape[0]} rows of {rows.shape[1]} values (expected rows of the "
                          f"{dim} {FEATURE_SET} features)")
    return rows


def _kinds(detector: str) -> list[Any]:
    from train.detectors import registry

    kinds = registry()
    return list(kinds.values()) if detector == "all" else [kinds[detector]]


def _train(args: argparse.Namespace) -> int:
    """`vigil train audio DIR`: one bundle per detector kind asked for."""
    config = _config(args)
    shortest = min(FeatureSpec.default(name).window_samples / FeatureSpec.default(name).sr for name in FEATURE_SETS)
    _check_clip_seconds(args, shortest, "of any detector")  # now, before TensorFlow loads
    check_dir(args.out, "bundle", force=args.force)  # the old output is replaced only once the new one is complete
    discover_clips(args.dir, args.machine_type, clip_seconds=args.clip_seconds)  # refuse a bad folder before TF
    require_tensorflow()
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
                              "models": {k: {"bytes": v.size_bytes, "threshold": v.threshold.to_json()}
                                         for k, v in manifest.models.items()},
                              "reliability": manifest.reliability or None}))
            continue
        print(f"{path}: {manifest.name}")
        for line in held_out_lines(manifest):
            print(f"  {line}")
        if manifest.reliability:
            for line in reliability_lines(manifest.reliability):
                print(f"  {line}")
    return 0


def _check_clip_seconds(args: argparse.Namespace, window_s: float, which: str) -> None:
    """Refuse a --clip-seconds below one analysis window: every cut clip would be refused (after a
    recording had been cut into thousands of them)."""
    if args.clip_seconds < window_s:
        raise ConfigError(f"--clip-seconds {args.clip_seconds:g}: shorter than one analysis window {which} "
                          f"({window_s:.3f} s); expected at least that")


def _evaluate(args: argparse.Namespace) -> int:
    """`vigil evaluate DIR`: an audio bundle on the folder's unseen clips, or without one detectors
    trained and tested on --repeats splits per machine type."""
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
    require_tensorflow()
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


def _output_options(p: argparse.ArgumentParser) -> None:
    """The options `vigil train audio` ends with (`vigil evaluate` has the same of its own)."""
    p.add_argument("--json", action="store_true", help="JSON output, no progress bar")
    p.add_argument("--force", action="store_true", help="replace an existing vigil bundle or report at --out/--report")


