"""Label-free fusion rules for the machine-sound default: how each member's score is put on one scale,
how much each member counts, and how the scaled scores are combined (benchmarks/studies/fusion_choice.py).

Every rule sees only what `vigil train audio` has for a machine: each member's out-of-fold window
scores of the normal fit clips, and its out-of-fold scores of seeded synthetic faults injected into
those clips (train.faults; the reliability estimate's copies). No real anomaly, no test clip.

A member's raw window score s becomes z by a *normalisation* of its out-of-fold normal window scores:

* ``std``: (s - mean) / std (the first default);
* ``clip-std``: the same with the mean and std of the normal clip scores (mean window score);
* ``robust``: (s - median) / ((p95 - p50) / 1.645), a high quantile's distance from the median, so a
  member whose normal scores have a heavy upper tail is not scaled by its tail's pull on the std,
  nor one with a light tail blown up (1.645: a normal's p95 is 1.645 sigma above its median);
* ``mad``: (s - median) / (1.4826 MAD);
* ``quantile``: the ECDF rank as a standard-normal quantile, piecewise linear through the normal
  scores' quantiles at ``KNOTS`` and extended linearly beyond them (an ECDF alone saturates at 1 above
  the largest normal score, and every anomaly would tie).

Then a *weight* per member multiplies its z (1 for every member unless said):

* ``compact``: 1 / (p95 - p50) of its z'd normal window scores: a member whose normal windows have a
  long upper tail counts less;
* ``clip-compact``: 1 / std of its z'd normal clip scores: a member whose held-out normal clips drift
  apart (a state the other clips do not show looks new to it) counts less;
* ``faults``: the synthetic faults' separation d' = (mean faulted clip z - mean normal clip z) / std of
  the normal clip z, floored at ``FLOOR``;
* ``select-faults`` / ``select-compact``: weight 1 for the member best by that criterion, 0 for the rest.

The *combine* is the mean, max or min of the weighted z per window; clip score = mean window score.
A weight is a division of the member's scale (w z = (s - a) / (b / w)), so every rule but ``quantile``
is stored as each member's [a, b / w] and the gateway's FusedDetector scores it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import norm

KNOTS = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])
FLOOR = 0.05  # a member whose faults do not move at all keeps a sliver of weight under the mean rule
NORMS = ("std", "clip-std", "robust", "mad", "quantile")
WEIGHTS = ("equal", "compact", "clip-compact", "faults", "select-faults", "select-compact")
COMBINES = ("mean", "max", "min")

Record = dict[str, Any]  # "oof": [(n_i,) per fit clip], "test": [(m_j,) per test clip], "faulted": {kind: [(n_i,)]}
Scaler = Callable[[np.ndarray], np.ndarray]


def normaliser(oof: list[np.ndarray], how: str) -> Scaler:
    """A member's out-of-fold normal window scores per clip -> its map raw scores (n,) -> z (n,)."""
    w = np.concatenate(oof).astype(np.float64)
    if how == "quantile":
        q = np.quantile(w, KNOTS)
        q = np.maximum.accumulate(q + 1e-9 * np.arange(q.size))  # strictly increasing for interp
        target = norm.ppf(KNOTS)
        lo = (target[1] - target[0]) / (q[1] - q[0])
        hi = (target[-1] - target[-2]) / (q[-1] - q[-2])

        def quantile(s: np.ndarray) -> np.ndarray:
            s = np.asarray(s, dtype=np.float64)
            return np.where(s < q[0], target[0] + lo * (s - q[0]),
                            np.where(s > q[-1], target[-1] + hi * (s - q[-1]), np.interp(s, q, target)))
        return quantile
    a, b = scale(oof, how)
    return lambda s: (np.asarray(s, dtype=np.float64) - a) / b


def scale(oof: list[np.ndarray], how: str) -> tuple[float, float]:
    """(a, b) of a linear normalisation z = (s - a) / b from the out-of-fold normal window scores per clip."""
    w = np.concatenate(oof).astype(np.float64)
    if how == "std":
        a, b = w.mean(), w.std()
    elif how == "clip-std":
        c = np.array([x.mean() for x in oof])
        a, b = c.mean(), c.std()
    elif how == "robust":
        a = np.median(w)
        b = (np.percentile(w, 95) - a) / 1.645
    elif how == "mad":
        a = np.median(w)
        b = 1.4826 * np.median(np.abs(w - a))
    else:
        raise ValueError(f"normalisation {how!r}: expected one of {', '.join(NORMS)}")
    return float(a), max(float(b), 1e-9)


def separation(normal: np.ndarray, faulted: np.ndarray) -> float:
    """Synthetic faults' d': (mean faulted clip z - mean normal clip z) / std of the normal clip z."""
    return float((faulted.mean() - normal.mean()) / max(float(normal.std()), 1e-9))


def weights(zs: dict[str, Record], how: str) -> dict[str, float]:
    """Per member its weight from its z'd out-of-fold records (normal and faulted windows per clip)."""
    if how == "equal":
        return {m: 1.0 for m in zs}
    clip = {m: np.array([x.mean() for x in r["oof"]]) for m, r in zs.items()}
    if how == "compact":
        return {m: 1.0 / max(float(np.subtract(*np.percentile(np.concatenate(r["oof"]), [95, 50]))), 1e-3)
                for m, r in zs.items()}
    if how in ("clip-compact", "select-compact"):
        w = {m: 1.0 / max(float(c.std()), 1e-3) for m, c in clip.items()}
    elif how in ("faults", "select-faults"):
        w = {m: max(separation(clip[m], np.array([x.mean() for f in r["faulted"].values() for x in f])), FLOOR)
             for m, r in zs.items()}
    else:
        raise ValueError(f"weight {how!r}: expected one of {', '.join(WEIGHTS)}")
    if how.startswith("select-"):
        best = max(w, key=lambda m: w[m])
        return {m: float(m == best) for m in w}
    return w


def normalised(record: Record, how: str) -> Record:
    """A member's raw record with every score mapped to z by `how` (of its out-of-fold normal scores)."""
    f = normaliser(record["oof"], how)
    return {"oof": [f(x) for x in record["oof"]], "test": [f(x) for x in record["test"]],
            "faulted": {k: [f(x) for x in v] for k, v in record.get("faulted", {}).items()}}


def fused_clip_scores(zs: dict[str, Record], weight_how: str, combine: str) -> np.ndarray:
    """The members' normalised records of one split -> fused clip scores of its test clips (n_tests,)."""
    w = weights(zs, weight_how)
    used = [m for m in zs if w[m] > 0]
    out = []
    for i in range(len(next(iter(zs.values()))["test"])):
        rows = np.stack([w[m] * zs[m]["test"][i] for m in used])
        fused = {"max": rows.max, "min": rows.min}[combine](axis=0) if combine in ("max", "min") else (
            rows.sum(axis=0) / sum(w[m] for m in used))
        out.append(float(fused.mean()))
    return np.array(out)
