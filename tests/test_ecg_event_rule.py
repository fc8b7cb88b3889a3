"""The bundled fetal-ECG Donut bundle's event rule: threshold and debounce from its own validation scores
(train.ecg_event_rule), written without touching the model files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.pipeline.decider import Decider
from edge.pipeline.series_scorer import Series, donut_scorer, ecg_series, score_series
from tests.conftest import ROOT
from train.ecg_event_rule import BEFORE, SHIPPED, apply_rule, validation_scores

BUNDLE = ROOT / "edge" / "data" / "bundles" / "ecg-donut"
ADFECGDB = ROOT.parent / "shared" / "data" / "adfecgdb"
SAMPLE = ROOT / "edge" / "data" / "samples" / "ecg" / "r10_60s.edf"


@pytest.fixture(scope="module")
def fit() -> list[Series]:
    """The bundled model's training records (the manifest names them) as its points."""
    bundle = load_bundle(BUNDLE)
    return [ecg_series(ADFECGDB / f["file"], bundle.ecg_spec) for f in bundle.manifest.provenance["fit_files"]]


def test_bundled_threshold_and_debounce_follow_the_shipped_rule(fit: list[Series]) -> None:
    bundle = load_bundle(BUNDLE)
    normal = validation_scores(bundle, fit)
    assert normal.size > 5000 and np.isfinite(normal).all()  # 30 % of four 300 s records, 60 ms points
    assert bundle.variant().window_threshold == pytest.approx(SHIPPED.threshold(normal), rel=1e-9)
    assert (bundle.manifest.decider.on_windows, bundle.manifest.decider.off_windows) == (SHIPPED.on_points,
                                                                                         SHIPPED.off_points)


def test_the_rule_cuts_the_demo_minutes_events(fit: list[Series]) -> None:
    """r10's first minute (never trained on): the rule before raised several events, the shipped one at most
    the one electrode artefact at 7.7 s (block means over 250 uV)."""
    bundle = load_bundle(BUNDLE)
    scores = score_series(bundle, donut_scorer(bundle), ecg_series(SAMPLE, bundle.ecg_spec))
    times = np.arange(scores.size) * bundle.ecg_spec.point_seconds
    normal = validation_scores(bundle, fit)
    counts = {}
    for name, rule in (("before", BEFORE), ("shipped", SHIPPED)):
        decider = Decider(rule.threshold(normal), on_windows=rule.on_points, off_windows=rule.off_points)
        counts[name] = len(decider.update(scores, times, bundle.ecg_spec.point_seconds) + decider.flush())
    shipped = Decider.from_bundle(bundle)
    assert len(shipped.update(scores, times, bundle.ecg_spec.point_seconds) + shipped.flush()) == counts["shipped"]
    assert counts["before"] >= 4 and counts["shipped"] <= 1, counts


def test_apply_rule_rewrites_thresholds_and_keeps_the_models(tmp_path: Path, fit: list[Series]) -> None:
    folder = tmp_path / "ecg"
    shutil.copytree(BUNDLE, folder)
    threshold = apply_rule(folder, fit, BEFORE)
    bundle = load_bundle(folder)  # checks every model file's sha256 against the manifest
    assert bundle.variant().window_threshold == threshold == pytest.approx(
        BEFORE.threshold(validation_scores(bundle, fit)))
    assert bundle.manifest.decider.on_windows == BEFORE.on_points
    assert bundle.manifest.threshold_method["percentile"] == BEFORE.percentile
    assert threshold < load_bundle(BUNDLE).variant().window_threshold  # the rule before was the looser one
