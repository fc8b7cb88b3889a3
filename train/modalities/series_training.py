"""`vigil train ecg`, `vigil train kpi` and the evaluation of their bundles: Donut on point series.

Both train Donut; each modality's entry holds what differs between them: their own options and
defaults, the preparation spec those options give, whether the rate comes from the recordings,
whether a combined score is chosen, and how `vigil evaluate` labels and plots their points.
"""

from __future__ import annotations

import argparse
import json
import sys
from abc import abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from edge.errors import ConfigError
from edge.features.ecg import EcgSpec
from edge.outputs import check_dir, staged_dir
from edge.text import number
from train.donut_bundle import DEFAULT_ITERATIONS, DEFAULT_SAMPLES
from train.held_out import held_out_lines
from train.kpi_defaults import KPI_DECIDER, kpi_defaults
from train.modalities.base import ModalityTraining, register_training, require_tensorflow


class SeriesTraining(ModalityTraining):
    """`vigil train NAME` (Donut) and `vigil evaluate --bundle` for one point-series modality.

    epochs and patience are the option defaults; ``labels`` says where evaluation labels come from
    without NAB windows ("rule": |x| >= the spec's label threshold; "csv": the label column).
    """

    help: ClassVar[str]
    epochs: ClassVar[int]
    patience: ClassVar[int]
    rate_from_files: ClassVar[bool]  # the model is trained at the recordings' rate: they must share one
    combine: ClassVar[bool]  # --score and --variant choose a combined score and the default variant
    injectable: ClassVar[bool]  # evaluate --inject-seed: seeded synthetic anomalies at the record's beats
    labels: ClassVar[str]
    timed_points: ClassVar[bool]  # plots in seconds (point_seconds apart); else in points

    @abstractmethod
    def options(self, p: argparse.ArgumentParser) -> None:
        """Its options of its own, after --window."""

    @abstractmethod
    def spec(self, args: argparse.Namespace) -> EcgSpec:
        """The preparation spec from the parsed options."""

    def add_parser(self, train: Any) -> argparse.ArgumentParser:
        p = train.add_parser(self.name, help=f"Donut on {self.help}")
        p.add_argument("files", nargs="+", type=Path, metavar="FILE")
        p.add_argument("--out", type=Path, required=True,
                       help="bundle directory to write (a vigil bundle there is replaced with --force)")
        p.add_argument("--window", type=int, default=120, help="points per window (default 120)")
        self.options(p)
        p.add_argument("--latent", type=int, default=5, help="latent dimensions (default 5)")
        epochs, patience = self.epochs, self.patience
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
        p.set_defaults(func=self.train)
        return p

    def train(self, args: argparse.Namespace) -> int:
        """`vigil train ecg FILE.edf...` / `vigil train kpi FILE.csv...`: one Donut bundle."""
        spec = self.spec(args)
        check_dir(args.out, "bundle", force=args.force)
        for name, value, low in (("block", spec.block, 1), ("window", spec.window, 2), ("epochs", args.epochs, 1),
                                 ("latent", args.latent, 1), ("samples", args.samples, 1),
                                 ("patience", args.patience, 1)):
            if value < low:
                raise ConfigError(f"--{name} {value}: expected at least {low}")
        if getattr(args, "threshold", None) == "evt" and not args.alarms_per_day > 0:
            raise ConfigError(f"--alarms-per-day {args.alarms_per_day}: expected a number above 0")
        from edge.pipeline.series_scorer import load_series

        if self.rate_from_files:  # the model is trained at the recordings' rate: they must share one
            rates = {_edf_rate(p, spec) for p in args.files}
            if len(rates) > 1:
                raise ConfigError(f"recordings at {sorted(rates)} Hz: expected one sample rate for all training files")
            spec = replace(spec, fs=rates.pop())
        from edge.io.kpi_csv import KpiColumns

        columns = KpiColumns.parse(args.columns) if getattr(args, "columns", None) else None
        series = [load_series(path, spec, self.name, columns) for path in args.files]
        require_tensorflow()
        from train.donut import DonutConfig
        from train.donut_bundle import train_donut_bundle
        from train.series_checks import check_training_series

        config = DonutConfig(latent=args.latent, max_epochs=args.epochs, patience=args.patience, seed=args.seed)
        check_training_series(series, config.valid_fraction, spec.window)
        # KPI: the score and default variant of train.kpi_defaults; ECG bundles keep Donut alone on int8
        scoring: dict[str, Any] = {"combine": args.score, "default_variant": args.variant,
                                   "int16_where_int8_loses": True, "decider": KPI_DECIDER} if self.combine else {}
        if self.combine and args.threshold == "evt":
            scoring["alarms_per_day"] = args.alarms_per_day
        manifest = train_donut_bundle(series, spec, self.name, args.out, config, percentile=args.percentile,
                                      samples=args.samples, iterations=args.iterations,
                                      use_labels=not args.ignore_labels, progress=sys.stderr.isatty(), **scoring)
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
        capped = f", capped at the {rule['cap_percentile']:g}th percentile" if rule.get("capped") else ""
        how = (f"maximising the delay-{rule['value']} adjusted F1 on {rule['validation_segments']} labelled "
               f"validation segment(s) (validation F1 {rule['validation_f1']:.2f}{capped})"
               if rule["kind"] == "adjusted-f1" else
               f"extreme-value theory on the validation scores for {rule['alarms_per_day']:g} false-alarm "
               "point(s) per day" if rule["kind"] == "evt" else
               f"the {rule['value']:g}th percentile of validation scores (no labelled anomalies there)")
        thresholds = ", ".join(f"{v} {t:.3f}" for v, t in summary["thresholds"].items())
        print(f"{args.out}: Donut ({self.name}), best epoch {summary['best_epoch'] + 1}, trained in "
              f"{summary['seconds']:.0f} s; thresholds {thresholds}, by {how}")
        if self.combine:
            print(f"  score (default variant {manifest.default_variant}): "
                  + ", ".join(f"{v} {name}" for v, name in summary["score"].items()))
        for line in held_out_lines(manifest):
            print(f"  {line}")
        return 0

    def evaluate(self, args: argparse.Namespace) -> int:
        """`vigil evaluate --bundle B FILE...`: every variant's point metrics and plots per file."""
        from edge.bundle.loader import load_bundle
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


def _edf_rate(path: Path, spec: EcgSpec) -> float:
    from edge.io.edf import EdfFile

    with EdfFile(path) as edf:  # the header only: the samples are read later, in blocks
        return edf.fs(spec.channel)


@register_training
class EcgTraining(SeriesTraining):
    """Fetal ECG: EDF recordings, one channel averaged in blocks, labelled by a rule."""

    name = "ecg"
    help = "fetal ECG: EDF recordings"
    epochs, patience = 256, 30
    rate_from_files, combine, injectable, labels, timed_points = True, False, True, "rule", True

    def options(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--channel", default="Direct_1", help="EDF channel label (default Direct_1)")
        p.add_argument("--block", type=int, default=60, help="samples averaged into one point (default 60)")
        p.add_argument("--label-threshold", type=float, default=250.0,
                       help="points with |x| >= this (uV) are labelled and left out of training (0: none)")

    def spec(self, args: argparse.Namespace) -> EcgSpec:
        return EcgSpec(channel=args.channel, block=args.block, window=args.window,
                       label_threshold=args.label_threshold)


@register_training
class KpiTraining(SeriesTraining):
    """KPI series: CSV timestamp,value[,label] rows; a combined score and default variant are chosen."""

    name = "kpi"
    help = "KPI series: CSV timestamp,value[,label]"
    epochs, patience = 100, 10  # the measured cut of epochs and patience (reports/kpi-series.md)
    rate_from_files, combine, injectable, labels, timed_points = False, True, False, "csv", False

    def options(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--columns", help="TIMESTAMP,VALUE[,LABEL]: column names or 0-based positions "
                       "(default: timestamp,value,label by name, or by position without a header)")
        kpi_defaults(p)

    def spec(self, args: argparse.Namespace) -> EcgSpec:
        return EcgSpec(channel="value", fs=1.0, block=1, window=args.window, label_threshold=0.0, unit="")
