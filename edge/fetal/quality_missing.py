"""Missing samples (NaN: a lost BLE packet, a gap in a file) in the quality monitor (edge/fetal/quality.py).

The monitor holds a lead's last value over missing samples so that every feature stays finite, but a held
stretch is not a signal: its ends are steps and plateaus, which the window features read as motion, mains,
clipping and wander (on adfecgdb with 50 ms to 2 s of every lead missing, up to 0.4 motion, 0.75 mains and
1.0 clipping in the 2 s around a gap). So a missing stretch is reported as what it is, a lead that gave no
signal: the flatline kind (lead-off) scores the share of the frame's own samples that are missing (1 inside
a gap, so the FHR there is missing: flatline is a mask kind), and every other kind scores 0 on the frames
whose analysis windows reach a missing sample (`reaches`): there it cannot be judged. Those frames stay out
of the leads' typical values (the history), so a long outage does not move them (`typical`).

Vectorized over frames and leads (cumulative sums); nothing is kept between blocks.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def reaches(cfg: Any, fs: float) -> dict[str, int]:
    """Half-widths in samples of what each feature reads around a frame's centre (cfg: a QualityConfig).

    act (the flatline activity), clipping and mains read one window; motion and wander read the 0.3 s
    running-median baseline (plus the 50/60 Hz nulling means) over their window, wander also its 1.5 s
    high-pass mean (wander_signal: the reach of that high-passed baseline itself)."""
    base = cfg.baseline_median_s / 2 + 0.03
    return {k: int(np.ceil(v * fs)) for k, v in {
        "act": cfg.motion_window_s / 2, "clipping": cfg.clip_window_s / 2 + 0.002, "mains": cfg.mains_window_s / 2,
        "motion": cfg.motion_window_s / 2 + base, "wander_signal": cfg.wander_highpass_s / 2 + base,
        "wander": cfg.wander_window_s / 2 + cfg.wander_highpass_s / 2 + base}.items()}


def near_missing(miss: np.ndarray, centres: np.ndarray, reach: int) -> np.ndarray:
    """(f, c) bool: a missing sample of miss (n, c) within `reach` samples of each centre (f,) (indices into miss)."""
    n = miss.shape[0]
    cs = np.concatenate([np.zeros((1, miss.shape[1]), np.int64), np.cumsum(miss, axis=0)])
    lo = np.clip(centres - reach, 0, n)
    hi = np.clip(centres + reach + 1, 0, n)
    return np.asarray((cs[hi] - cs[lo]) > 0)


def frames_near_missing(miss: np.ndarray, centres: np.ndarray, reach: dict[str, int]) -> dict[str, np.ndarray]:
    """Per feature of `reaches` (not wander_signal): (f, c) bool, the frame's window reaches a missing sample.

    Wander is regressed across leads, so one lead's missing samples leave the others' wander unexplained too:
    its frames count on every lead. Without missing samples (the usual case) nothing is searched."""
    names = [k for k in reach if k != "wander_signal"]
    if not miss.any():
        none = np.zeros((centres.size, miss.shape[1]), dtype=bool)
        return dict.fromkeys(names, none)
    near = {k: near_missing(miss, centres, reach[k]) for k in names}
    near["wander"] = np.broadcast_to(near["wander"].any(axis=1, keepdims=True), near["wander"].shape)
    return near


def missing_run_so_far(miss: np.ndarray, carry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """miss (m, c) bool, carry (c,) the missing samples in a row before it -> (m, c) int, each sample's place in its
    run of missing samples counted from the run's start (0 where not missing; causal, so a stream's blocks give
    the same counts as one array), and the new carry."""
    m = miss.shape[0]
    if m == 0:
        return np.zeros(miss.shape, dtype=np.int64), carry
    pos = np.arange(1, m + 1)[:, None]
    last_ok = np.maximum.accumulate(np.where(miss, 0, pos), axis=0)  # the last present sample so far, 0 = none
    run = np.where(miss, pos - last_ok + np.where(last_ok == 0, carry[None, :], 0), 0)
    return run, run[-1].copy()


def missing_share(miss: np.ndarray, centres: np.ndarray, hop: int) -> np.ndarray:
    """(f, c) float: the share of each frame's own `hop` samples (around its centre) that are missing."""
    n = miss.shape[0]
    cs = np.concatenate([np.zeros((1, miss.shape[1]), np.int64), np.cumsum(miss, axis=0)])
    lo = np.clip(centres - hop // 2, 0, n)
    hi = np.clip(lo + hop, 0, n)
    return np.asarray((cs[hi] - cs[lo]) / max(hop, 1))


def typical(hist: np.ndarray, q: float, fallback: np.ndarray) -> np.ndarray:
    """Percentile q over the history (frames, ...) along axis 0, frames stored as NaN (missing) left out;
    where a lead has no frame left, `fallback` (this block's own median: its ratio is then about 1)."""
    if not np.isnan(hist).any():
        return np.asarray(np.percentile(hist, q, axis=0) if q != 50.0 else np.median(hist, axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN leads: the fallback below
        out = np.asarray(np.nanpercentile(hist, q, axis=0))
    return np.where(np.isnan(out), fallback, out)
