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
    levels = {"mains": mains[:, None], "mains_abs": mains[:, None] + 5.0, "wander": wander[:, None],
              "motion": motion[:, None]}
    case = Case("rx", 0, kinds, fixed, levels)
    cfg, _ = choose([case])
    assert cfg.wander_max < 1.0 and cfg.wander_max in GRID["wander_max"]
    got = aucs(case, cfg)
    assert got["mains"][0] > 0.99 and got["wander"][0] > 0.9
    assert aucs(case, replace(cfg, wander_max=1.0))["mains"][0] < 0.95  # what the choice avoided
