"""`vigil evaluate --inject-seed`'s ground truth: a record with seeded anomalies and lost points as a point
series (train.injected_series), and the AUC of each anomaly kind against normal points only."""

from __future__ import annotations

import numpy as np

from edge.features.ecg import EcgSpec
from tests.conftest import ROOT
from train.ecg_inject import KINDS
from train.injected_series import injected_test_series, missing_bursts, per_kind_auc

R01 = ROOT.parent / "shared" / "data" / "adfecgdb" / "r01.edf"


def test_missing_bursts_reach_the_fraction_in_short_gaps_and_repeat_with_the_seed() -> None:
    a = missing_bursts(10000, 0.01, np.random.default_rng(3))
    assert 0.01 <= a.mean() < 0.01 + 5 / 10000  # stops at the first gap that reaches the fraction
    np.testing.assert_array_equal(a, missing_bursts(10000, 0.01, np.random.default_rng(3)))
    starts = np.flatnonzero(np.diff(a.astype(int)) == 1)
    assert len(starts) >= 100 / 5 - 1  # gaps of at most 5 points: at least 20 of them (two may touch)


def test_per_kind_auc_leaves_out_other_kinds_missing_and_unscored_points() -> None:
    kinds = np.zeros(400, dtype=np.int64)
    kinds[50:60], kinds[200:220] = 1, 3  # motion and clipping; no other kind
    scores = np.where(kinds == 1, 5.0, np.where(kinds == 3, 0.5, 1.0))  # clipping scores under normal points
    missing = np.zeros(400, dtype=bool)
    missing[300] = True
    scores[300] = 99.0  # a lost point scored high would cost motion its perfect AUC if it were counted
    scores[:10] = np.nan  # the first window is not scored
    auc = per_kind_auc(scores, kinds, missing)
    assert auc["motion"] == 1.0 and auc["clipping"] == 0.0
    assert [k for k in KINDS if auc[k] is None] == [k for k in KINDS if k not in ("motion", "clipping")]


def test_injected_record_points_carry_the_kinds_and_lost_points() -> None:
    spec = EcgSpec()
    series, kinds = injected_test_series(R01, spec, seed=0)
    again, _ = injected_test_series(R01, spec, seed=0)
    assert series.values.size == kinds.size == 300 * 1000 // spec.block  # r01: 300 s at 1 kHz, 60-sample means
    np.testing.assert_array_equal(series.labels, kinds > 0)
    assert len(set(kinds[kinds > 0].tolist())) >= 5  # several kinds injected
    assert 0.01 <= series.missing.mean() < 0.011 and (series.values[series.missing] == 0.0).all()
    np.testing.assert_array_equal(series.values, again.values)
    assert series.position[1] - series.position[0] == spec.block  # positions in samples
