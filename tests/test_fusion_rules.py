"""The fusion study's label-free rules (benchmarks/studies/fusion_rules.py) on scores with known answers."""

from __future__ import annotations

import numpy as np

from benchmarks.studies.fusion_rules import fused_clip_scores, normalised, normaliser, scale, weights


def clips(rng: np.random.Generator, loc: float, n: int = 6, windows: int = 18) -> list[np.ndarray]:
    return [rng.normal(loc, 1.0, windows) for _ in range(n)]


def test_robust_scale_ignores_a_heavy_upper_tail_that_inflates_the_std() -> None:
    rng = np.random.default_rng(0)
    oof = [rng.normal(0.0, 1.0, 1000), np.full(20, 60.0)]  # 2 % of windows far out
    assert scale(oof, "std")[1] > 5.0
    a, b = scale(oof, "robust")
    assert abs(a) < 0.2 and 0.85 < b < 1.25


def test_quantile_normaliser_maps_normal_quantiles_to_a_normals_and_does_not_saturate_above() -> None:
    rng = np.random.default_rng(1)
    oof = [np.exp(rng.normal(0.0, 1.0, 2000))]  # skewed raw scores
    f = normaliser(oof, "quantile")
    q50, q95, top = np.quantile(oof[0], [0.5, 0.95, 1.0])
    assert abs(f(np.array([q50]))[0]) < 0.02
    assert abs(f(np.array([q95]))[0] - 1.645) < 0.02
    assert f(np.array([2 * top]))[0] > f(np.array([top]))[0] > 1.645  # anomalies keep their order


def test_select_faults_keeps_the_member_whose_faults_move_furthest_from_its_normal_clips() -> None:
    rng = np.random.default_rng(2)
    records = {}
    for name, shift in (("deaf", 0.2), ("hears", 3.0)):
        oof = clips(rng, 0.0)
        records[name] = {"oof": oof, "test": clips(rng, 0.0, n=2),
                         "faulted": {"whine": [x + shift for x in oof]}}
    zs = {m: normalised(r, "std") for m, r in records.items()}
    assert weights(zs, "select-faults") == {"deaf": 0.0, "hears": 1.0}
    # the fused score is then the selected member's alone, whatever the other scores
    alone = np.array([x.mean() for x in zs["hears"]["test"]])
    assert np.allclose(fused_clip_scores(zs, "select-faults", "mean"), alone)
