"""The fetal beat picker's dynamic programming: the best path of beats through an envelope's candidate peaks,
for several expected beat intervals at once.

A path maximises the sum of (normalised peak height - cost per beat) minus a penalty on each interval's
deviation from the expected one (a skipped beat allowed at a cost); see edge.fetal.fqrs. The intervals tried
for one envelope (the autocorrelation's periods, the prior's) share its candidates, so their programmes run
side by side as the rows of one array: the same arithmetic per row as one at a time, a third of the Python
steps (this loop was over half the beat chain's CPU time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edge.fetal.fqrs import FetalParams


def best_paths(t: np.ndarray, a: np.ndarray, t0s: list[float], p: FetalParams) -> list[tuple[np.ndarray, float]]:
    """Candidate peaks t (N,) sample indices, sorted, of normalised height a (N,), expected intervals t0s (m,)
    samples -> per interval (its best path's peaks (sample indices), the path's score).

    With p.follow, each candidate remembers the beat interval of its best path (rr); an interval is judged
    against that (dev) and, more weakly, against t0, so a run of beats at a new rate (a sudden tachycardia,
    0.7x the RR) pays one transition instead of a penalty per beat. A link spans at most 3 beats of at most
    t0_range[1] (follow) or 1 + max_deviation (fixed) x t0: candidates further back are never linked, so each
    step looks only as far back as that.
    """
    n, m = t.size, len(t0s)
    t0 = np.asarray(t0s, dtype=float)[:, None]  # (m, 1)
    gain = a - p.beat_cost
    best = np.tile(gain, (m, 1))  # (m, N)
    prev = np.full((m, n), -1)
    rr = np.repeat(t0, n, axis=1)
    rows = np.arange(m)
    reach = 3.0 * max(p.t0_range[1] if p.follow else 0.0, 1.0 + p.max_deviation) * float(t0.max()) * (1 + 1e-9)
    first = np.searchsorted(t, t - reach, side="left")
    for j in range(1, n):
        lo = int(first[j])
        if lo >= j:
            continue
        dt = (t[j] - t[lo:j])[None, :]  # (1, w)
        if p.follow:
            ref = rr[:, lo:j]
            k = np.maximum(np.rint(dt / ref), 1.0)
            beat = dt / k  # the beat interval this link implies
            dev = beat / ref - 1.0
            rel0 = beat / t0
            ok = (np.abs(dev) <= p.follow_deviation) & (k <= 3) & (rel0 >= p.t0_range[0]) & (rel0 <= p.t0_range[1])
            cost = p.rr_penalty * dev**2 + p.t0_penalty * (rel0 - 1.0) ** 2
        else:
            d = dt / t0
            k = np.maximum(np.rint(d), 1.0)
            dev = d / k - 1.0
            ok = (np.abs(dev) <= p.max_deviation) & (k <= 3)
            cost = p.rr_penalty * dev**2
        link = best[:, lo:j] - cost - p.skip_penalty * (k - 1)
        link[~ok] = -np.inf
        i = np.argmax(link, axis=1)
        top = link[rows, i]
        up = top > 0
        if up.any():
            best[up, j] = gain[j] + top[up]
            prev[up, j] = lo + i[up]
            rr[up, j] = (dt[0, i] / k[rows, i])[up]
    out = []
    for row in range(m):
        j = int(np.argmax(best[row]))
        score = float(best[row, j])
        path = []
        while j >= 0:
            path.append(j)
            j = int(prev[row, j])
        out.append((t[np.array(path[::-1], dtype=np.int64)], score))
    return out
