"""Donut combined with a robust z-score: the gateway's z-score, the scaling, and the bundle that records it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.bundle.manifest_parts import CombineScales
from edge.detectors.donut import DonutDetector
from edge.detectors.kpi_combine import KpiCombineDetector, combined_scores, fit_scales, series_zscore, window_zscore
from edge.pipeline.series_scorer import donut_scorer, kpi_series, score_series
from tests.conftest import run_vigil
from tests.test_kpi_series import SMALL, head
from train.donut_bundle import score_choice
from train.series_baselines import rolling_robust_zscore


def test_window_zscore_is_the_baseline_over_the_previous_points() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(10.0, 2.0, 600)
    values[300] = 40.0
    missing = rng.random(600) < 0.05
    z = series_zscore(values, missing, 50)
    reference = rolling_robust_zscore(values, missing, window=49)  # the window's 49 earlier points
    assert np.isnan(z[:49]).all() and np.isnan(z[missing]).all()
    np.testing.assert_allclose(z[49:], reference[49:], equal_nan=True)
    assert np.nanargmax(z) == 300 or missing[300]
    windows = np.lib.stride_tricks.sliding_window_view(values, 50)
    gaps = np.lib.stride_tricks.sliding_window_view(missing, 50)
    np.testing.assert_allclose(window_zscore(windows[:7], gaps[:7]), z[49:56], equal_nan=True)


def test_combined_score_takes_the_larger_scaled_score_and_donut_alone_without_z() -> None:
    rng = np.random.default_rng(1)
    donut, z = rng.normal(0.0, 1.0, 5000), np.abs(rng.normal(0.0, 1.0, 5000))
    labels = np.zeros(5000, dtype=bool)
    labels[:10] = True
    donut[:10] = 1e6  # labelled points: left out of the scales
    scales = fit_scales(donut, z, labels)
    (d_med, d_scale), (z_med, z_scale) = scales.scales["donut"], scales.scales["zscore"]
    assert d_med == pytest.approx(np.median(donut[10:]))
    assert d_med + d_scale == pytest.approx(np.percentile(donut[10:], 99))
    both = combined_scores(np.array([d_med, d_med]), np.array([np.nan, 1e3]), scales)
    assert both[0] == 0.0  # no z-score: Donut's part alone
    assert both[1] == pytest.approx((1e3 - z_med) / z_scale)  # a spike only z sees
    combined = combined_scores(donut, z, scales)
    assert 0.97 < (combined <= 1.0).mean() < 0.99  # each part's own p99 is 1.0: the max is over it for ~2 %


@pytest.fixture(scope="module")
def combined_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("kpi-combine")
    out = tmp / "bundle"
    run_vigil("train", "kpi", str(head(SMALL, 900, tmp / "train.csv")), "--epochs", "2", "--window", "30",
              "--samples", "4", "--score", "donut+z", "--out", str(out), check=True)
    return out


def test_bundle_records_the_scales_and_its_scores_are_the_combined_ones(combined_bundle: Path, tmp_path: Path) -> None:
    manifest = json.loads((combined_bundle / "manifest.json").read_text())
    bundle = load_bundle(combined_bundle)
    series = kpi_series(head(SMALL, 300, tmp_path / "test.csv", start=2000))
    for variant in ("float32", "int8"):
        scales = manifest["models"][variant]["combine"]
        assert scales["kind"] == "max" and scales["donut"][1] > 0 and scales["zscore"][1] > 0
        combiner = donut_scorer(bundle, variant, samples=4)  # the combiner kind, Donut one of its parts
        assert isinstance(combiner, KpiCombineDetector) and isinstance(combiner.donut, DonutDetector)
        assert combiner.scales == CombineScales.from_json(scales) and combiner.scales.to_json() == scales
        combined = score_series(bundle, combiner, series)
        donut = score_series(bundle, combiner.donut, series)  # Donut alone: its own score, nothing combined
        z = series_zscore(series.values, series.missing, 30)
        np.testing.assert_allclose(combined, combined_scores(donut.astype(np.float64), z, combiner.scales),
                                   rtol=1e-5, atol=1e-5)
        assert (combined[29:] > (donut[29:] - scales["donut"][0]) / scales["donut"][1] + 1e-3).any()  # z moved some


def test_auto_keeps_the_combined_score_only_when_it_wins_on_validation_labels() -> None:
    labels = np.zeros(400, dtype=bool)
    labels[100:110] = labels[300:310] = True
    donut = np.zeros(400)
    donut[100] = 5.0  # Donut catches one segment
    combined = donut.copy()
    combined[300] = 5.0  # the combined score catches both
    choice = score_choice({"donut": donut, "donut+z": combined}, labels)
    assert choice["chosen"] == "donut+z" and choice["validation_best_f1"]["donut+z"] == 1.0
    assert score_choice({"donut": donut, "donut+z": donut.copy()}, labels)["chosen"] == "donut"  # a tie: the first
    assert score_choice({"z+sr": donut, "donut": combined}, labels)["chosen"] == "donut"  # the order is the menu's
    no_labels = np.zeros(400, dtype=bool)
    assert score_choice({"z+sr": donut, "donut": combined}, no_labels)["chosen"] == "z+sr"  # no labels: the first


@pytest.mark.training  # `vigil train kpi`: Donut
def test_train_kpi_defaults_choose_per_variant_and_serve_float32(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    run_vigil("train", "kpi", str(head(SMALL, 900, tmp_path / "train.csv")), "--epochs", "2", "--window", "30",
              "--samples", "4", "--out", str(out), check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["default_variant"] == "float32"
    for variant in ("float32", "int8"):
        entry = manifest["models"][variant]
        choice = entry["score_choice"]
        short_menu = {"z+dz", "donut"}  # 900 points: too short for spectral residual, the menu's parts without it
        assert entry["score"] == choice["chosen"] and set(choice["validation_best_f1"]) == short_menu
        assert ("combine" in entry) == (choice["chosen"] != "donut")


def test_calibrate_keeps_the_combined_score(combined_bundle: Path, tmp_path: Path) -> None:
    new = head(SMALL, 400, tmp_path / "new.csv", start=2000)
    out = tmp_path / "calibrated"
    run_vigil("calibrate", str(combined_bundle), str(new), "--percentile", "99", "--out", str(out), check=True)
    before, after = (json.loads((b / "manifest.json").read_text()) for b in (combined_bundle, out))
    for variant in ("float32", "int8"):
        assert after["models"][variant]["combine"] == before["models"][variant]["combine"]
    scored = [json.loads(run_vigil("score", "--bundle", str(b), str(new), "--json", check=True).stdout)
              for b in (combined_bundle, out)]
    assert [p["score"] for p in scored[0]["points"]] == [p["score"] for p in scored[1]["points"]]
    flagged = np.mean([p["score"] > scored[1]["threshold"] for p in scored[1]["points"]])
    assert 0.0 < flagged <= 0.02  # the new threshold is the 99th percentile of the same (combined) scores
