"""KPI score menu: the gateway's spectral residual, scores of several parts, and a bundle that serves z-score + SR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from edge.bundle.loader import load_bundle
from edge.bundle.manifest_parts import CombineScales
from edge.detectors.kpi_combine import (
    MIN_PAST,
    combine_parts,
    combined_scores,
    fit_part_scales,
    fit_scales,
    series_dzscore,
    series_zscore,
    window_dzscore,
)
from edge.detectors.spectral_residual import series_sr
from edge.pipeline.series_scorer import donut_scorer, kpi_series, score_series
from tests.conftest import run_vigil
from tests.test_kpi_series import SMALL, head
from train.kpi_defaults import AUTO_MENU


def _reference_sr(x: np.ndarray, t: int, window: int = 720) -> float:
    """Spectral residual of point t as the KDD 2019 reference code computes it, one window at a time."""
    w = x[t - window + 1 : t + 1].astype(np.float64)
    before = w[-7:-1]
    ext = before[1] + sum((before[-1] - before[i]) / (5 - i) for i in range(5))
    seq = np.concatenate([w, np.full(5, ext)])
    spectrum = np.fft.fft(seq)
    amp = np.maximum(np.abs(spectrum), 1e-8)
    residual = np.log(amp) - uniform_filter1d(np.log(amp), size=3, mode="nearest", origin=1)
    saliency = np.abs(np.fft.ifft(np.exp(residual) * spectrum / amp))
    local = saliency[window - 21 : window].mean()
    return float(abs(saliency[window - 1] - local) / local)


def test_spectral_residual_is_the_reference_and_peaks_at_a_spike() -> None:
    rng = np.random.default_rng(3)
    x = np.sin(np.arange(2000) / 30.0) + rng.normal(0.0, 0.1, 2000)
    x[1500] += 3.0
    missing = np.zeros(2000, dtype=bool)
    sr = series_sr(x, missing)
    assert np.isnan(sr[:719]).all() and not np.isnan(sr[719:]).any()
    for t in (719, 1000, 1500, 1999):
        assert sr[t] == pytest.approx(_reference_sr(x, t), rel=1e-9)
    assert int(np.argmax(sr[719:])) + 719 == 1500
    gap = missing.copy()
    gap[1200:1205] = True  # missing points are filled from the last present one; they get no score
    filled = x.copy()
    filled[1200:1205] = x[1199]
    with_gap = series_sr(np.where(gap, 0.0, x), gap)
    assert np.isnan(with_gap[1200:1205]).all()
    starts_in_gap = np.zeros(2000, dtype=bool)
    starts_in_gap[1200 + 719 : 1205 + 719] = True  # there the first present point fills the gap
    same = ~gap & ~starts_in_gap
    np.testing.assert_allclose(with_gap[same], series_sr(filled, missing)[same])
    filled[1200:1205] = x[1205]
    np.testing.assert_allclose(with_gap[starts_in_gap], series_sr(filled, missing)[starts_in_gap])


def test_parts_combine_only_what_the_scales_list() -> None:
    rng = np.random.default_rng(4)
    scores = {"donut": rng.normal(0, 1, 3000), "zscore": np.abs(rng.normal(0, 1, 3000)),
              "sr": np.abs(rng.normal(0, 1, 3000))}
    labels = np.zeros(3000, dtype=bool)
    without_donut = fit_part_scales({"zscore": scores["zscore"], "sr": scores["sr"]}, labels)
    assert without_donut.parts == ("zscore", "sr") and "donut" not in without_donut.scales
    spiked = {**scores, "donut": np.full(3000, 1e9)}
    np.testing.assert_allclose(combine_parts(spiked, without_donut), combine_parts(scores, without_donut))
    one = {"zscore": np.array([np.nan, np.nan]), "sr": np.array([np.nan, 5.0])}
    out = combine_parts(one, without_donut)
    assert np.isnan(out[0]) and out[1] == pytest.approx((5.0 - without_donut.scales["sr"][0]) /
                                                        without_donut.scales["sr"][1])
    written = fit_scales(scores["donut"], scores["zscore"], labels).to_json()
    old = CombineScales.from_json({k: v for k, v in written.items() if k != "parts"})  # a bundle before the menu
    assert old.parts == ("donut", "zscore")
    np.testing.assert_allclose(combine_parts(scores, old), combined_scores(scores["donut"], scores["zscore"], old))


@pytest.fixture(scope="module")
def zsr_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("kpi-zsr")
    out = tmp / "bundle"
    run_vigil("train", "kpi", str(head(SMALL, 1600, tmp / "train.csv")), "--epochs", "1", "--window", "30",
              "--samples", "2", "--out", str(out), check=True)  # the default score: auto
    return out


def test_without_validation_labels_auto_serves_z_sr_dz_with_720_points_of_context(zsr_bundle: Path,
                                                                                 tmp_path: Path) -> None:
    manifest = json.loads((zsr_bundle / "manifest.json").read_text())
    assert AUTO_MENU[0] == "z+sr+dz"  # the menu's first: what a series without validation labels gets
    assert manifest["features"]["window"] == 720 and manifest["detector"]["params"]["window"] == 30
    assert len(manifest["warmup"]["values"]) == 719
    bundle = load_bundle(zsr_bundle)
    rows = SMALL.read_text().splitlines()
    following = kpi_series(head(SMALL, 400, tmp_path / "next.csv", start=1600))  # continues the training file
    whole = np.array([float(r.split(",")[1]) for r in rows[: 2000]])
    gaps = np.zeros(whole.size, dtype=bool)
    parts = {"zscore": series_zscore(whole, gaps, 30), "sr": series_sr(whole, gaps),
             "dzscore": series_dzscore(whole, gaps, 720)}
    for variant in ("float32", "int8"):
        scales = manifest["models"][variant]["combine"]
        assert manifest["models"][variant]["score_choice"]["why"] == "no labelled validation anomalies"
        assert manifest["models"][variant]["score"] == "z+sr+dz" and scales["parts"] == ["zscore", "sr", "dzscore"]
        scores = score_series(bundle, donut_scorer(bundle, variant), following)
        expected = combine_parts(parts, CombineScales.from_json(scales))[1600:]
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
    alone = kpi_series(head(SMALL, 800, tmp_path / "alone.csv", start=3000))  # no context: the head is scored too
    scores = score_series(bundle, donut_scorer(bundle, "float32"), alone)
    # from the MIN_PAST-th point on: a z-score of one or two earlier points would be noise (~1e8), a false alarm
    assert scores.shape == (800,) and np.isnan(scores[:MIN_PAST]).all() and not np.isnan(scores[MIN_PAST:]).any()
    assert np.nanmax(scores[: 3 * MIN_PAST]) < 100 * manifest["models"]["float32"]["threshold"]["window"]


def test_difference_zscore_sees_a_step_the_level_zscore_misses() -> None:
    """A spike of 1.5 on a sine of amplitude 10: inside the level's spread, far outside the steps'."""
    t = np.arange(3000)
    x = 10 * np.sin(t / 50.0) + np.random.default_rng(5).normal(0.0, 0.05, t.size)
    x[2000] += 1.5
    missing = np.zeros(t.size, dtype=bool)
    dz, z = series_dzscore(x, missing, 720), series_zscore(x, missing, 720)
    assert np.isnan(dz[:719]).all() and not np.isnan(dz[719:]).any()
    assert dz[2000] > 5 and z[2000] < 3
    assert int(np.argmax(dz[719:])) + 719 in (2000, 2001)  # the steps into and out of the spike
    views = np.lib.stride_tricks.sliding_window_view(x, 720)  # the gateway's windows give the same scores
    np.testing.assert_allclose(window_dzscore(views, np.zeros(views.shape, dtype=bool)), dz[719:])
    gap = missing.copy()
    gap[1990] = True  # a missing point leaves out both of its steps: it and the next have no score
    with_gap = series_dzscore(x, gap, 720)
    assert np.isnan(with_gap[1990:1992]).all() and not np.isnan(with_gap[1992]) and with_gap[2000] > 5


@pytest.mark.training  # `vigil train kpi`
def test_a_z_sr_bundle_without_the_difference_part_scores_as_before(tmp_path: Path) -> None:
    """--score z+sr (once auto's first choice) still serves the two parts alone."""
    out = tmp_path / "bundle"
    run_vigil("train", "kpi", str(head(SMALL, 1600, tmp_path / "train.csv")), "--epochs", "1", "--window", "30",
              "--samples", "2", "--score", "z+sr", "--out", str(out), check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["features"]["window"] == 720
    bundle = load_bundle(out)
    rows = SMALL.read_text().splitlines()
    following = kpi_series(head(SMALL, 400, tmp_path / "next.csv", start=1600))
    whole = np.array([float(r.split(",")[1]) for r in rows[:2000]])
    gaps = np.zeros(whole.size, dtype=bool)
    scales = manifest["models"]["float32"]["combine"]
    assert manifest["models"]["float32"]["score"] == "z+sr" and scales["parts"] == ["zscore", "sr"]
    expected = combine_parts({"zscore": series_zscore(whole, gaps, 30), "sr": series_sr(whole, gaps)},
                             CombineScales.from_json(scales))
    scores = score_series(bundle, donut_scorer(bundle, "float32"), following)
    np.testing.assert_allclose(scores, expected[1600:], rtol=1e-5, atol=1e-5)
