"""KPI series: headerless CSVs, column choice, NaN/inf as missing, thresholds from validation, warm-up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.errors import InputFileError
from edge.io.kpi_csv import KpiColumns, read_kpi_csv
from edge.pipeline.decider import Decider
from edge.pipeline.series_scorer import donut_scorer, kpi_series, score_series
from edge.service.config import parse_config
from edge.service.daemon import Service
from edge.service.runner import prepare
from tests.conftest import ROOT, run_vigil
from train.kpi_defaults import KPI_DECIDER
from train.quantization_check import INT8_RANK_MIN
from train.series_baselines import rolling_robust_zscore, spectral_residual
from train.series_metrics import adjust, adjusted_f1_curve
from train.series_threshold import NORMAL_SCORES_KEPT, choose_threshold

AIOPS = ROOT.parent / "shared" / "data" / "kpi-aiops2018"
SMALL = AIOPS / "0efb375b-b902-3661-ab23-9a0bb799f4e3.csv"  # 300 s steps; anomalies start at rows 264 and 698


def head(path: Path, rows: int, out: Path, start: int = 0) -> Path:
    """Rows [start, start + rows) of a real headerless AIOps file, unchanged."""
    lines = path.read_text().splitlines()[start : start + rows]
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="module")
def kpi_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Donut on the first 900 points of a real series (its validation part holds the anomaly at row 698).

    --score donut: these tests are about Donut's scoring; auto picks z+dz on this series."""
    tmp = tmp_path_factory.mktemp("kpi")
    out = tmp / "bundle"
    run_vigil("train", "kpi", str(head(SMALL, 900, tmp / "train.csv")), "--epochs", "3", "--window", "30",
              "--samples", "4", "--score", "donut", "--out", str(out), check=True)
    return out


def test_headerless_csv_is_read_by_position_with_labels(tmp_path: Path) -> None:
    kpi = read_kpi_csv(head(SMALL, 300, tmp_path / "k.csv"))
    assert kpi.interval_s == 300 and kpi.values.size == 300 and not kpi.missing.any()
    assert kpi.values[0] == pytest.approx(0.2341910677954737)
    assert np.flatnonzero(kpi.labels)[0] == 264


def test_columns_by_name_and_by_position(tmp_path: Path) -> None:
    path = tmp_path / "named.csv"
    path.write_text("host,time,cpu,is_anomaly\na,0,1.5,0\na,60,2.5,1\na,120,3.5,0\n")
    by_name = read_kpi_csv(path, KpiColumns.parse("time,cpu,is_anomaly"))
    by_position = read_kpi_csv(path, KpiColumns.parse("1,2,3"))
    for kpi in (by_name, by_position):
        assert kpi.values.tolist() == [1.5, 2.5, 3.5] and kpi.labels.tolist() == [False, True, False]
    with pytest.raises(InputFileError, match="no timestamp column 'timestamp'"):
        read_kpi_csv(path)
    headerless = tmp_path / "plain.csv"
    headerless.write_text("x,0,7\nx,60,8\n")
    assert read_kpi_csv(headerless, KpiColumns.parse("1,2")).values.tolist() == [7.0, 8.0]


@pytest.mark.parametrize("bad", ["NaN", "nan", "inf", "-inf", ""])
def test_nonfinite_values_are_missing_points(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "k.csv"
    path.write_text(f"0,1.0,0\n60,2.0,0\n120,{bad},0\n180,4.0,0\n240,{bad},1\n")
    kpi = read_kpi_csv(path)
    assert kpi.missing.tolist() == [False, False, True, False, True]
    assert np.isfinite(kpi.values).all() and kpi.values[2] == 0.0
    assert kpi.nonfinite == 2 and kpi.first_nonfinite_line == 3


def with_nan(src: Path, rows: int, out: Path, lines: tuple[int, ...], value: str = "NaN") -> Path:
    text = src.read_text().splitlines()[:rows]
    for line in lines:
        t, _, label = text[line - 1].split(",")
        text[line - 1] = f"{t},{value},{label}"
    out.write_text("\n".join(text) + "\n")
    return out


@pytest.mark.training  # `vigil train kpi`: Donut
def test_train_kpi_with_nan_says_so_once_and_trains(tmp_path: Path) -> None:
    path = with_nan(SMALL, 400, tmp_path / "nan.csv", (50, 51, 300))
    out = run_vigil("train", "kpi", str(path), "--epochs", "1", "--window", "30", "--samples", "2",
                    "--out", str(tmp_path / "b"), check=True)
    notices = [line for line in out.stderr.splitlines() if "NaN" in line]
    assert notices == [f"vigil: notice: {path}: 3 NaN, inf or empty values (first at line 50) read as missing "
                       "points"]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert np.isfinite(manifest["normalization"]["mean"]) and np.isfinite(manifest["normalization"]["std"])


def test_score_with_inf_reports_the_missing_points(kpi_bundle: Path, tmp_path: Path) -> None:
    path = with_nan(SMALL, 300, tmp_path / "inf.csv", (10, 200), value="inf")
    out = run_vigil("score", "--bundle", str(kpi_bundle), str(path), "--json", check=True)
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert [p["missing"] for p in row["points"]].count(True) == 2 and row["points"][9]["missing"]
    assert all(p["score"] is not None and np.isfinite(p["score"]) for p in row["points"])
    assert out.stderr.count("read as missing points") == 1


def test_threshold_from_validation_labels_and_calibration_record(kpi_bundle: Path) -> None:
    manifest = json.loads((kpi_bundle / "manifest.json").read_text())
    calibration = manifest["calibration"]
    assert calibration["rule"]["kind"] == "adjusted-f1" and calibration["rule"]["value"] == 7
    assert calibration["rule"]["validation_segments"] == 1
    for variant in ("float32", "int8"):
        normal = calibration["normal_scores"][variant]["window"]
        assert 0 < len(normal) <= NORMAL_SCORES_KEPT
        assert manifest["models"][variant]["threshold"]["window"] > float(np.median(normal))
    assert "validation part" in calibration["source"]


def test_int8_variant_records_its_rank_check_and_the_gateway_runs_it(kpi_bundle: Path) -> None:
    entry = json.loads((kpi_bundle / "manifest.json").read_text())["models"]["int8"]
    check = entry["quantization_check"]
    assert -1.0 <= check["int8_rank_correlation"] <= 1.0 and check["bound"] == INT8_RANK_MIN
    tried = "int16x8_rank_correlation" in check  # int16x8 is tried only where int8 ranks unlike float32
    assert tried == (check["int8_rank_correlation"] < INT8_RANK_MIN)
    kept = tried and check["int16x8_rank_correlation"] > check["int8_rank_correlation"]
    assert ("int16" in entry["quantization"]) == kept
    bundle = load_bundle(kpi_bundle)
    series = kpi_series(head(SMALL, 200, kpi_bundle.parent / "score.csv"))
    scores = score_series(bundle, donut_scorer(bundle, "int8", samples=2), series)
    assert np.isfinite(scores).sum() > 100  # whichever decoder it kept


def test_an_event_opens_on_one_point_over_the_threshold(kpi_bundle: Path) -> None:
    """The threshold was chosen point by point: the gateway's event must not wait for 3 points over it
    (KPI anomalies of 1-2 points had no event at all)."""
    assert json.loads((kpi_bundle / "manifest.json").read_text())["decider"] == KPI_DECIDER.to_json()
    decider = Decider.from_bundle(load_bundle(kpi_bundle), "float32")
    scores = np.full(20, decider.threshold - 1.0)
    scores[5], scores[12:14] = decider.threshold + 1.0, decider.threshold + 1.0
    events = decider.update(scores, np.arange(20.0), 1.0) + decider.flush()
    assert [(e.start_s, e.end_s) for e in events] == [(5.0, 6.0), (12.0, 14.0)]


def test_choose_threshold_catches_the_validation_segment_under_a_tail_cap() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0.0, 1.0, 2000)
    labels = np.zeros(2000, dtype=bool)
    labels[1000:1020] = True
    scores[1003] = 9.0  # caught within the delay of 7 points
    threshold, rule = choose_threshold(scores, labels, percentile=99.9)
    assert rule["kind"] == "adjusted-f1" and rule["validation_f1"] > 0.5 and rule["capped"]
    assert threshold == pytest.approx(np.percentile(scores[~labels], 99.9)) and threshold < 9.0  # the cap binds
    loose, rule = choose_threshold(scores, labels, percentile=100.0)  # no cap: the low end of the best F1
    below = np.sort(scores[scores < 9.0])[-1]
    assert rule["capped"] is False and loose == pytest.approx(below) and (scores > loose).sum() == 1
    plain, rule = choose_threshold(scores, np.zeros(2000, dtype=bool), percentile=99.0)
    assert rule == {"kind": "percentile", "value": 99.0} and plain == pytest.approx(np.percentile(scores, 99))


def test_adjusted_f1_curve_matches_the_pointwise_definition() -> None:
    rng = np.random.default_rng(1)
    for _ in range(10):
        labels = np.zeros(300, dtype=bool)
        for a in rng.integers(0, 280, 4):
            labels[a : a + rng.integers(1, 20)] = True
        scores = np.round(rng.standard_normal(300) + labels * 2 * rng.random(), 1)
        thresholds, f1 = adjusted_f1_curve(scores, labels, 7)
        for t, f in zip(thresholds, f1, strict=True):
            predicted = adjust(scores >= t, labels, 7)
            tp = (predicted & labels).sum()
            assert f == pytest.approx(2 * tp / (2 * tp + (predicted & ~labels).sum() + (~predicted & labels).sum()))


def test_every_point_is_scored_and_a_continuation_uses_the_training_tail(kpi_bundle: Path, tmp_path: Path) -> None:
    bundle = load_bundle(kpi_bundle)
    scorer = donut_scorer(bundle, "float32", samples=4)
    alone = kpi_series(head(SMALL, 200, tmp_path / "alone.csv", start=2000))
    scores = score_series(bundle, scorer, alone)
    assert scores.shape == (200,) and np.isfinite(scores).all()
    warm = bundle.manifest.warmup
    assert warm is not None and len(warm.values) == len(warm.missing) == 29
    after = kpi_series(head(SMALL, 100, tmp_path / "after.csv", start=900))  # continues the training rows
    joined = kpi_series(head(SMALL, 129, tmp_path / "joined.csv", start=871))  # the tail, then the same rows
    continued = score_series(bundle, scorer, after)
    reference = score_series(bundle, scorer, joined)[29:]
    np.testing.assert_allclose(continued, reference, rtol=1e-5)
    assert warm.next_timestamp == int(after.position[0])


@pytest.mark.parametrize("start", [900, 2000])  # continues the training rows (warm-up), or not (head)
def test_the_service_stream_scores_from_the_first_point_as_vigil_score(kpi_bundle: Path, tmp_path: Path,
                                                                      start: int) -> None:
    """`vigil run`'s stream loop, fed by the file source, and `vigil score` agree point for point, first included."""
    path = head(SMALL, 100, tmp_path / "replay.csv", start=start)
    config = parse_config({"gateway": {"name": "gw", "state_dir": str(tmp_path)}, "streams": [
        {"name": "kpi", "kind": "file", "bundle": str(kpi_bundle), "path": str(path), "realtime": False,
         "variant": "float32"}]}, tmp_path)
    service, runner = Service(config), prepare(config.streams[0])
    asyncio.run(service._run_stream(runner))
    live = np.array(runner.state.recent_scores)  # (time_s, score) per point
    scored = score_series(runner.bundle, donut_scorer(runner.bundle, "float32"), kpi_series(path))
    np.testing.assert_array_equal(live[:, 0], np.arange(100) / runner.stream.framing.rate)  # every point, first on
    np.testing.assert_allclose(live[:, 1], scored, rtol=1e-6)
    assert runner.state.samples == 100 and np.isfinite(scored).all()


def test_short_file_without_context_is_one_line_error(kpi_bundle: Path, tmp_path: Path) -> None:
    path = head(SMALL, 10, tmp_path / "short.csv", start=3000)
    out = run_vigil("score", "--bundle", str(kpi_bundle), str(path))
    assert out.returncode == 2 and out.stderr.strip() == (
        f"vigil: error: {path}: 10 points, shorter than one window (30 points)")


@pytest.mark.parametrize("method", [rolling_robust_zscore, spectral_residual])
def test_baselines_rank_a_spike_first_from_past_data_only(method: object) -> None:
    values = 0.3 * np.sin(np.arange(3000) * 2 * np.pi / 288) + np.random.default_rng(0).normal(0, 0.05, 3000)
    values[2500] += 3.0
    missing = np.zeros(3000, dtype=bool)
    missing[2600] = True
    scores = method(values, missing)  # type: ignore[operator]
    assert int(np.nanargmax(scores)) == 2500 and np.isnan(scores[2600]) and np.isnan(scores[0])
    later = values.copy()
    later[2700:] += 100.0  # the future does not change a score
    assert method(later, missing)[2500] == pytest.approx(scores[2500])  # type: ignore[operator]


def test_evaluate_takes_nab_label_windows(kpi_bundle: Path, tmp_path: Path) -> None:
    nab = ROOT.parent / "shared" / "data" / "nab"
    csv = nab / "data" / "artificialWithAnomaly" / "art_daily_jumpsup.csv"
    windows = json.loads((nab / "labels" / "combined_windows.json").read_text())
    (start, end), = windows["artificialWithAnomaly/art_daily_jumpsup.csv"]
    out = run_vigil("evaluate", "--bundle", str(kpi_bundle), str(csv), "--labels",
                    str(nab / "labels" / "combined_windows.json"), "--report", str(tmp_path / "r"), "--json",
                    check=True)
    m = json.loads(out.stdout)["files"]["art_daily_jumpsup.csv"]["int8"]
    rows = csv.read_text().splitlines()[1:]
    inside = sum(start.split(".")[0] <= r.split(",")[0] <= end.split(".")[0] for r in rows)
    assert m["anomalous_points"] == inside > 0 and m["auc"] is not None
    plain = run_vigil("evaluate", "--bundle", str(kpi_bundle), str(csv), "--report", str(tmp_path / "p"))
    assert plain.returncode == 2 and "no label column" in plain.stderr
    headerless = head(SMALL, 3000, tmp_path / "aiops.csv", start=5000)  # labels by position, no header
    out = run_vigil("evaluate", "--bundle", str(kpi_bundle), str(headerless), "--report", str(tmp_path / "h"),
                    "--json", check=True)
    assert json.loads(out.stdout)["files"]["aiops.csv"]["int8"]["anomalous_points"] > 0
