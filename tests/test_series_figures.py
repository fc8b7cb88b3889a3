"""KPI figures without point adjustment (event level, AUC-PR) and the label-free EVT threshold."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ConfigError
from train.modalities.base import training_for
from train.series_metrics import event_metrics, point_metrics
from train.series_threshold import choose_threshold, evt_threshold


def test_event_metrics_count_found_segments_and_false_alarm_runs() -> None:
    labels = np.zeros(100, dtype=bool)
    labels[10:20] = labels[50:55] = labels[80:90] = True
    predicted = np.zeros(100, dtype=bool)
    predicted[19] = True  # the last point of the first segment: found without any adjustment
    predicted[30:40] = True  # one long false alarm: one event, not ten
    predicted[60] = predicted[62] = True  # two short false alarms
    m = event_metrics(predicted, labels)
    assert (m["segments"], m["segments_found"], m["alarms"], m["false_alarms"]) == (3, 1, 4, 3)
    assert m["event_recall"] == pytest.approx(1 / 3) and m["event_precision"] == pytest.approx(1 / 4)
    assert event_metrics(np.zeros(100, dtype=bool), labels)["event_precision"] is None


def test_point_metrics_give_unadjusted_figures_beside_the_adjusted() -> None:
    labels = np.zeros(400, dtype=bool)
    labels[100:140] = True
    scores = np.where(labels, 0.0, 1.0)
    scores[100] = 5.0  # one high point opens the segment under the adjustment only
    m = point_metrics(scores, labels, 2.0)
    assert m["f1_at_threshold_adjusted"] == 1.0 and m["f1_at_threshold"] == pytest.approx(2 / 41)
    assert m["event_recall"] == 1.0 and m["event_precision"] == 1.0
    # 39 of 40 anomalous points score below every normal one: precision 1 at recall 1/40, then 40/400
    assert m["auc_pr"] == pytest.approx(1 / 40 + 39 / 40 * 40 / 400)


def test_evt_threshold_extrapolates_past_the_sample() -> None:
    rng = np.random.default_rng(0)
    normal = rng.exponential(1.0, 20000)
    for risk in (1e-3, 1e-5):  # exact quantile of the exponential: -ln(risk)
        assert evt_threshold(normal, risk) == pytest.approx(-np.log(risk), rel=0.1)
    assert evt_threshold(normal, 1e-5) > normal.max()  # beyond what an empirical quantile can give
    labels = np.zeros(20000, dtype=bool)
    labels[:50] = True
    threshold, rule = choose_threshold(normal, labels, risk=1e-3)  # labels only leave their points out
    assert rule["kind"] == "evt" and threshold == pytest.approx(evt_threshold(normal[50:], 1e-3))


def test_train_kpi_refuses_a_nonpositive_alarm_rate_before_reading(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    training_for("kpi").add_parser(parser.add_subparsers())
    args = parser.parse_args(["kpi", str(tmp_path / "never-read.csv"), "--threshold", "evt", "--alarms-per-day", "0",
                              "--out", str(tmp_path / "b")])
    with pytest.raises(ConfigError, match=r"^--alarms-per-day 0.0: expected a number above 0$"):
        args.func(args)
