"""The training side's table of point-series modalities, by the names edge.modalities registers.

`vigil train ecg` and `vigil train kpi` both train Donut; this table holds what differs between
them: their own options and defaults, the preparation spec those options give, whether the rate
comes from the recordings, whether a combined score is chosen, and how `vigil evaluate` labels and
plots their points. edge never imports train, so the gateway's Modality objects cannot hold these;
a trainable point-series modality adds one entry here beside its module in edge/modalities/.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from edge.features.ecg import EcgSpec
from train.kpi_defaults import kpi_defaults


@dataclass(frozen=True)
class SeriesTraining:
    """`vigil train NAME` (Donut) and `vigil evaluate --bundle` for one point-series modality.

    epochs and patience are the option defaults; ``labels`` says where evaluation labels come from
    without NAB windows ("rule": |x| >= the spec's label threshold; "csv": the label column).
    """

    help: str
    epochs: int
    patience: int
    options: Callable[[argparse.ArgumentParser], None]  # options of its own, after --window
    spec: Callable[[argparse.Namespace], EcgSpec]  # the preparation spec from the parsed options
    rate_from_files: bool  # the model is trained at the recordings' rate: they must share one
    combine: bool  # --score and --variant choose a combined score and the default variant
    injectable: bool  # evaluate --inject-seed: seeded synthetic anomalies at the record's beats
    labels: str
    timed_points: bool  # plots in seconds (point_seconds apart); else in points


def _ecg_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", default="Direct_1", help="EDF channel label (default Direct_1)")
    p.add_argument("--block", type=int, default=60, help="samples averaged into one point (default 60)")
    p.add_argument("--label-threshold", type=float, default=250.0,
                   help="points with |x| >= this (uV) are labelled and left out of training (0: none)")


def _kpi_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--columns", help="TIMESTAMP,VALUE[,LABEL]: column names or 0-based positions "
                   "(default: timestamp,value,label by name, or by position without a header)")
    kpi_defaults(p)


def _ecg_spec(args: argparse.Namespace) -> EcgSpec:
    return EcgSpec(channel=args.channel, block=args.block, window=args.window, label_threshold=args.label_threshold)


def _kpi_spec(args: argparse.Namespace) -> EcgSpec:
    return EcgSpec(channel="value", fs=1.0, block=1, window=args.window, label_threshold=0.0, unit="")


SERIES_TRAINING: dict[str, SeriesTraining] = {
    "ecg": SeriesTraining("fetal ECG: EDF recordings", 256, 30, _ecg_options, _ecg_spec, rate_from_files=True,
                          combine=False, injectable=True, labels="rule", timed_points=True),
    # KPI: the measured cut of epochs and patience (README)
    "kpi": SeriesTraining("KPI series: CSV timestamp,value[,label]", 100, 10, _kpi_options, _kpi_spec,
                          rate_from_files=False, combine=True, injectable=False, labels="csv", timed_points=False),
}


def series_training(name: str) -> SeriesTraining | None:
    """The entry of a point-series modality, or None (audio: the detectors of train.audio)."""
    return SERIES_TRAINING.get(name)
