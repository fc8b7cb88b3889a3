"""scripts/fetal_quality_tune.py: its AUC matches sklearn's (ties half), and the choice follows the data."""

from __future__ import annotations

import numpy as np

from scripts.fetal_quality_tune import GRID, Case, auc, choose
from train.fetal_inject import KINDS


def test_auc_counts_ties_half_as_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 70).astype(float)
    expected = roc_auc_score(np.r_[np.ones(40), np.zeros(70)], np.r_[pos, neg])
    assert auc(pos, neg) == expected


def test_choice_raises_the_mains_onset_above_a_record_s_real_mains() -> None:
    """Normal frames with real mains up to 25 dB; injected mains at 30-40 dB, and weak wander (1.9x the
    lead's typical value): with a mains onset of 18 dB the real mains outscores the wander episodes in
    the overall score, so the choice must raise the onset (21 or 24 dB)."""
    rng = np.random.default_rng(1)
    n = 3000
    kinds = np.zeros(n, dtype=np.int8)
    for k, kind in enumerate(("flatline", "clipping", "mains", "motion", "wander")):
        kinds[200 + 500 * k : 300 + 500 * k] = KINDS.index(kind) + 1
    mains = np.where(kinds == KINDS.index("mains") + 1, rng.uniform(30, 40, n), rng.uniform(0, 12, n))
    mains[2600:2800] = rng.uniform(20, 25, 200)  # a stretch of real mains in normal time
    wander = np.where(kinds == KINDS.index("wander") + 1, 2**0.9, rng.uniform(0.5, 1.2, n))
    motion = np.where(kinds == KINDS.index("motion") + 1, 8.0, rng.uniform(0.5, 1.2, n))
    fixed = np.zeros((n, 5))
    fixed[kinds == KINDS.index("flatline") + 1, 0] = 1.0
    fixed[kinds == KINDS.index("clipping") + 1, 1] = 0.9
    case = Case("rx", 0, kinds, fixed, {"mains": mains, "wander": wander, "motion": motion})
    cfg, worst = choose([case])
    assert cfg.mains_onset_db >= 21.0 and cfg.mains_onset_db in GRID["mains_onset_db"]
    assert worst > 0.99
