"""Donut from EDF and CSV to the gateway: input errors, scoring contract, MCMC, injections, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyedflib
import pytest
import scipy.stats

from edge.bundle.loader import load_bundle
from edge.errors import InputFileError
from edge.features.ecg import EcgSpec, block_means
from edge.io.edf import read_edf_channel
from edge.io.kpi_csv import read_kpi_csv
from edge.pipeline.series_scorer import donut_scorer, ecg_series, score_series
from tests.conftest import ROOT, run_vigil
from tests.test_cli_errors import assert_clean_error
from train.ecg_inject import KINDS, inject, point_labels
from train.series_metrics import adjust, point_metrics

ADFECG = ROOT.parent / "shared" / "data" / "adfecgdb"


@pytest.fixture(scope="session")
def ecg_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("donut") / "ecg"
    run_vigil("train", "ecg", str(ADFECG / "r01.edf"), str(ADFECG / "r04.edf"), "--epochs", "3", "--out", str(out),
              check=True)
    return out


def write_edf(path: Path, fs: int, seconds: int = 30, label: str = "Direct_1") -> None:
    signal = 100 * np.sin(2 * np.pi * 2 * np.arange(fs * seconds) / fs)
    header = pyedflib.highlevel.make_signal_header(label, dimension="uV", sample_frequency=fs,
                                                   physical_min=-500, physical_max=500)
    pyedflib.highlevel.write_edf(str(path), [signal], [header])


def test_edf_channel_rate_unit_and_annotations() -> None:
    channel = read_edf_channel(ADFECG / "r01.edf", "Direct_1")
    assert channel.fs == 1000 and channel.unit == "uV" and channel.samples.shape == (300_000,)
    assert channel.labels == ("Direct_1", "Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4")
    assert channel.annotation_onsets_s.size == 644  # the fetal R-peaks PhysioNet lists for r01


def test_bad_edf_inputs_are_one_line_errors(ecg_bundle: Path, tmp_path: Path) -> None:
    not_edf = tmp_path / "notes.edf"
    not_edf.write_text("not an EDF file\n")
    assert_clean_error(["score", "--bundle", str(ecg_bundle), str(not_edf)], str(not_edf), "not a readable EDF")
    truncated = tmp_path / "cut.edf"
    truncated.write_bytes((ADFECG / "r07.edf").read_bytes()[:200_000])
    assert_clean_error(["score", "--bundle", str(ecg_bundle), str(truncated)], str(truncated))
    other_label = tmp_path / "abdomen.edf"
    write_edf(other_label, 1000, label="Abdomen_1")
    assert_clean_error(["score", "--bundle", str(ecg_bundle), str(other_label)], "no channel labelled 'Direct_1'",
                       "Abdomen_1")
    slow = tmp_path / "slow.edf"
    write_edf(slow, 500)
    assert_clean_error(["score", "--bundle", str(ecg_bundle), str(slow)], "500 Hz", "trained at 1000 Hz")


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    return path


def test_csv_timestamps_are_completed_with_missing_points(tmp_path: Path) -> None:
    kpi = read_kpi_csv(write_csv(tmp_path / "k.csv", ["0,1.5", "60,2.5", "240,3.5"]))
    assert kpi.interval_s == 60 and kpi.timestamps.tolist() == [0, 60, 120, 180, 240]
    assert kpi.missing.tolist() == [False, False, True, True, False]
    assert kpi.values.tolist() == [1.5, 2.5, 0.0, 0.0, 3.5]


def test_unsorted_and_duplicate_timestamps_are_refused(ecg_bundle: Path, tmp_path: Path) -> None:
    for name, rows, needle in (("unsorted", ["0,1", "120,2", "60,3"], "line 4: timestamp goes backwards"),
                               ("dupes", ["0,1", "60,2", "60,3"], "line 4: duplicate timestamp 60")):
        path = write_csv(tmp_path / f"{name}.csv", rows)
        with pytest.raises(InputFileError, match=needle):
            read_kpi_csv(path)
        assert_clean_error(["train", "kpi", str(path), "--out", str(tmp_path / "b")], str(path), needle)


def test_score_json_contract_for_edf(ecg_bundle: Path) -> None:
    out = run_vigil("score", "--bundle", str(ecg_bundle), str(ADFECG / "r10.edf"), "--json", "--samples", "16",
                    check=True)
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    manifest = json.loads((ecg_bundle / "manifest.json").read_text())
    assert row["threshold"] == manifest["models"]["int8"]["threshold"]["window"]
    points = row["points"]
    assert len(points) == 5000 and [p["index"] for p in points[:3]] == [0, 60, 120]
    assert all(p["score"] is not None for p in points)  # the first 119 at their places in the first window
    assert not any(p["missing"] for p in points)


def test_scores_are_seeded_and_int8_ranks_like_float32(ecg_bundle: Path) -> None:
    bundle = load_bundle(ecg_bundle)
    series = ecg_series(ADFECG / "r10.edf", bundle.ecg_spec)
    first = score_series(bundle, donut_scorer(bundle, "float32", samples=32, seed=7), series)
    again = score_series(bundle, donut_scorer(bundle, "float32", samples=32, seed=7), series)
    np.testing.assert_array_equal(first, again)
    int8 = score_series(bundle, donut_scorer(bundle, "int8", samples=32, seed=7), series)
    keep = ~np.isnan(first)
    assert scipy.stats.spearmanr(first[keep], int8[keep]).statistic > 0.8


def test_mcmc_imputes_only_missing_points(ecg_bundle: Path) -> None:
    bundle = load_bundle(ecg_bundle)
    scorer = donut_scorer(bundle, "float32", iterations=10)
    x = np.random.default_rng(0).standard_normal((8, 120)).astype(np.float32)
    missing = np.zeros(x.shape, dtype=bool)
    missing[:, 50:60] = True
    imputed = scorer.impute(x, missing)
    np.testing.assert_array_equal(imputed[~missing], x[~missing])
    assert np.all(imputed[missing] != 0)  # Donut enters missing points as 0; MCMC replaces them
    np.testing.assert_array_equal(scorer.impute(x, np.zeros_like(missing)), x)


def test_injections_are_seeded_and_labelled_where_they_change_the_signal() -> None:
    channel = read_edf_channel(ADFECG / "r08.edf", "Direct_1")
    r_peaks = np.round(channel.annotation_onsets_s * channel.fs).astype(np.int64)
    additive = ("motion", "dropout", "clipping", "wander", "mains", "dropped", "early")
    a = inject(channel.samples, r_peaks, channel.fs, seed=3, kinds=additive)
    b = inject(channel.samples, r_peaks, channel.fs, seed=3, kinds=additive)
    np.testing.assert_array_equal(a.samples, b.samples)
    changed = a.samples != channel.samples
    assert not (changed & (a.kind_mask == 0)).any()  # nothing changes outside a labelled episode
    assert {KINDS[k - 1] for k in np.unique(a.kind_mask[changed])} == set(additive)
    warped = inject(channel.samples, r_peaks, channel.fs, seed=3, kinds=("brady", "tachy"))
    assert warped.samples.shape == channel.samples.shape and {e[0] for e in warped.episodes} == {"brady", "tachy"}
    labels = point_labels(a.kind_mask, 60)
    assert labels.shape == (5000,) and 0.02 < (labels > 0).mean() < 0.5


def test_block_means_mark_a_point_missing_when_any_sample_is() -> None:
    samples = np.arange(12, dtype=float)
    missing = np.zeros(12, dtype=bool)
    missing[7] = True
    points, point_missing = block_means(samples, missing, 4)
    assert points.tolist() == [1.5, 0.0, 9.5] and point_missing.tolist() == [False, True, False]


def test_delayed_segment_adjustment() -> None:
    labels = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0], dtype=bool)
    hit_late = np.zeros(15, dtype=bool)
    hit_late[10] = True  # 10th point of the first segment: later than delay 7
    hit_early = np.zeros(15, dtype=bool)
    hit_early[13] = True  # inside the second segment's first 8 points
    assert not adjust(hit_late, labels, 7)[1:11].any()
    assert adjust(hit_early, labels, 7)[12:14].all() and not adjust(hit_early, labels, 7)[:12].any()
    m = point_metrics(np.where(labels, 2.0, 1.0), labels, 1.5)
    assert m["auc"] == 1.0 and m["f1_at_threshold"] == 1.0 and m["best_f1_adjusted"] == 1.0


def test_ecg_spec_round_trips_through_the_bundle(ecg_bundle: Path) -> None:
    spec = load_bundle(ecg_bundle).ecg_spec
    assert spec == EcgSpec() and load_bundle(ecg_bundle).manifest.scoring == {"samples": 16, "iterations": 10}


@pytest.mark.training  # `vigil train kpi`: Donut
def test_kpi_train_and_score_with_timestamps(tmp_path: Path) -> None:
    """Donut's own form: timestamp,value,label with a gap; labelled and missing points stay out of training."""
    t = np.arange(3000) * 300
    keep = np.ones(3000, dtype=bool)
    keep[1000:1010] = False  # ten missing timestamps, to be completed
    values = np.sin(2 * np.pi * t / 86400) + 0.05 * np.random.default_rng(0).standard_normal(3000)
    labels = np.zeros(3000, dtype=int)
    labels[2000:2020] = 1
    values[2000:2020] += 3
    rows = [f"{a},{b:.5f},{c}" for a, b, c in zip(t[keep], values[keep], labels[keep], strict=True)]
    csv = tmp_path / "kpi.csv"
    csv.write_text("timestamp,value,label\n" + "\n".join(rows) + "\n")
    bundle = tmp_path / "kpi"
    run_vigil("train", "kpi", str(csv), "--epochs", "3", "--out", str(bundle), check=True)
    out = run_vigil("score", "--bundle", str(bundle), str(csv), "--json", check=True)
    points = json.loads(out.stdout)["points"]
    assert len(points) == 3000 and points[5]["timestamp"] == 1500
    assert [p["missing"] for p in points[998:1012]] == [False, False] + [True] * 10 + [False, False]
    scores = np.array([np.nan if p["score"] is None else p["score"] for p in points])
    assert np.nanmean(scores[2005:2020]) > np.nanmedian(scores)  # the labelled bump scores high
    report = tmp_path / "report"
    run_vigil("evaluate", "--bundle", str(bundle), str(csv), "--report", str(report), "--allow-seen",
              check=True)  # its own training series: this checks the label column, not generalization
    metrics = json.loads((report / "metrics.json").read_text())["files"]["kpi.csv"]
    for variant in ("float32", "int8"):
        m = metrics[variant]
        assert m["anomalous_points"] == 20 and m["auc"] > 0.9  # the CSV's label column is the truth
        assert m["best_f1_adjusted"] >= m["best_f1"]  # the delayed-segment adjustment only adds detections
    assert (report / "kpi_int8.png").read_bytes()[:4] == b"\x89PNG"


def test_live_ecg_stream_scores_equal_whole_file_scores(ecg_bundle: Path) -> None:
    """Fed in uneven blocks, with a gap the source reports late, the stream scores as the file does."""
    from edge.pipeline.decider import Decider
    from edge.pipeline.stream import Stream
    from edge.sources.base import Block

    bundle = load_bundle(ecg_bundle)
    spec = bundle.ecg_spec
    channel = read_edf_channel(ADFECG / "r10.edf", spec.channel)
    samples = channel.samples[:60_000]
    missing = np.zeros(samples.size, dtype=bool)
    missing[30_000:30_500] = True  # lost radio frames
    series = ecg_series(ADFECG / "r10.edf", spec)
    points, point_missing = block_means(samples, missing, spec.block)
    from edge.pipeline.series_scorer import Series

    whole = score_series(bundle, donut_scorer(bundle, samples=8), Series(series.path, points, point_missing,
                                                                           np.zeros(points.size, bool),
                                                                           np.arange(points.size) * 60, "index"))
    stream = Stream(spec, donut_scorer(bundle, samples=8), Decider(float("inf")))
    rng = np.random.default_rng(0)
    got, start = [], 0
    while start < samples.size:
        n = int(rng.integers(1, 400))
        block, gaps = samples[start : start + n], missing[start : start + n]
        if gaps.all():  # a fully lost block never arrives: the stream sees the hole in the next start index
            start += n
            continue
        got.append(stream.push(Block(start, block[:, None], gaps)).scores)
        start += n
    streamed = np.concatenate(got)
    np.testing.assert_allclose(streamed, whole[spec.window - 1 :], rtol=1e-5, atol=1e-5)
    assert stream.windows == 1000 - spec.window + 1
