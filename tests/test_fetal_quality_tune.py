"""scripts/fetal_quality_tune.py: its AUC matches sklearn's (ties half), and the choice follows the data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scripts.fetal_quality_tune import GRID, Case, auc, aucs, choose
from train.fetal_inject import KINDS


def test_auc_counts_ties_half_as_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 70).astype(float)
    expected = roc_auc_score(np.r_[np.ones(40), np.zeros(70)], np.r_[pos, neg])
    assert auc(pos, neg) == expected


def test_choice_ranks_real_wander_under_the_mains_episodes() -> None:
    """Normal frames with a stretch of real wander (16x the lead's typical value) and mains episodes 16 dB
    over the lead's typical level: with wander_max 1 the real wander outscores every mains episode in the
    overall score (mains AUC about 0.92), so the choice must lower wander_max, which costs the wander
    episodes (4x, all above the clean frames but the stretch) nothing."""
    rng = np.random.default_rng(1)
    n = 3000
    kinds = np.zeros(n, dtype=np.int8)
    for k, kind in enumerate(("flatline", "clipping", "mains", "motion", "wander")):
        kinds[200 + 500 * k : 300 + 500 * k] = KINDS.index(kind) + 1
    mains = np.where(kinds == KINDS.index("mains") + 1, 16.0, rng.uniform(-3, 3, n))
    wander = np.where(kinds == KINDS.index("wander") + 1, 4.0, rng.uniform(0.5, 1.2, n))
    wander[2600:2800] = 16.0  # real wander in normal time
    motion = np.where(kinds == KINDS.index("motion") + 1, 8.0, rng.uniform(0.5, 1.2, n))
    fixed = np.zeros((n, 5))
    fixed[kinds == KINDS.index("flatline") + 1, 0] = 1.0
    fixed[kinds == KINDS.index("clipping") + 1, 1] = 0.9
    levels = {"mains": mains[:, None], "mains_abs": mains[:, None] + 5.0, "mains_excess": mains[:, None] + 5.0,
              "wander": wander[:, None], "motion": motion[:, None]}
    case = Case("rx", 0, kinds, fixed, levels)
    cfg, _ = choose([case])
    assert cfg.wander_max < 1.0 and cfg.wander_max in GRID["wander_max"]
    got = aucs(case, cfg)
    assert got["mains"][0] > 0.99 and got["wander"][0] > 0.9
    assert aucs(case, replace(cfg, wander_max=1.0))["mains"][0] < 0.95  # what the choice avoided


def _case(rng: np.random.Generator, rel_episode: float, rel_normal: float) -> Case:
    """Mains episodes whose added power is 25 dB (normal frames 0-6 dB) and whose rise over the typical dB is
    rel_episode (normal frames 0..rel_normal); the other kinds found by fixed scores."""
    n = 2500
    kinds = np.zeros(n, dtype=np.int8)
    for k, kind in enumerate(("flatline", "clipping", "mains", "motion", "wander")):
        kinds[200 + 450 * k : 300 + 450 * k] = KINDS.index(kind) + 1
    is_mains = kinds == KINDS.index("mains") + 1
    rel = np.where(is_mains, rel_episode, rng.uniform(0, rel_normal, n))
    excess = np.where(is_mains, 25.0, rng.uniform(0, 6, n))
    fixed = np.zeros((n, 5))
    for j, kind in enumerate(("flatline", "clipping")):
        fixed[kinds == KINDS.index(kind) + 1, j] = 1.0
    motion = np.where(kinds == KINDS.index("motion") + 1, 8.0, 1.0)
    wander = np.where(kinds == KINDS.index("wander") + 1, 4.0, 1.0)
    levels = {"mains": rel[:, None], "mains_abs": rel[:, None], "mains_excess": excess[:, None],
              "wander": wander[:, None], "motion": motion[:, None]}
    return Case("rx", 0, kinds, fixed, levels)


def test_a_steady_mains_device_among_the_cases_moves_the_choice_to_added_power() -> None:
    """On a clean device both rises separate the mains episodes, and the choice keeps the dB rise; with a
    device whose leads carry steady mains (episodes rise only 10 dB over the typical dB, normal frames up
    to 12: edge/fetal/mains.py) among the cases, only the added power finds them, and the choice takes it."""
    rng = np.random.default_rng(2)
    clean = _case(rng, 25.0, 6.0)
    cfg, _ = choose([clean])
    assert not cfg.mains_excess and aucs(clean, cfg)["mains"][0] > 0.99
    steady = _case(rng, 10.0, 12.0)
    assert aucs(steady, cfg)["mains"][0] < 0.9
    cfg, _ = choose([clean, replace(steady, record="ry")])
    assert cfg.mains_excess and aucs(steady, cfg)["mains"][0] > 0.99 and aucs(clean, cfg)["mains"][0] > 0.99
