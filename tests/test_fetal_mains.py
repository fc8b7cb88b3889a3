"""edge/fetal/mains.py: a mains episode on a lead that carries steady mains measures as on a clean lead."""

from __future__ import annotations

import numpy as np

from edge.fetal.quality import QualityMonitor


def _levels(x: np.ndarray, fs: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    monitor = QualityMonitor(fs, ["a", "b"])
    step = round(10 * fs)
    monitor.prime(x[i : i + step] for i in range(0, x.shape[0], step))
    times, levels = [], []
    for i in range(0, x.shape[0], step):
        t, _ = monitor.push(x[i : i + step], final=i + step >= x.shape[0])
        times.append(t)
        levels.append(monitor.last_levels)
    return np.concatenate(times), {k: np.concatenate([lv[k] for lv in levels]) for k in ("mains", "mains_excess")}


def test_an_episode_on_steady_mains_adds_as_much_power_as_on_a_clean_lead() -> None:
    """Lead a carries a steady 50 Hz sine of 0.5x its noise scale, lead b none; both get the same 50 Hz episode
    of 2x (train/fetal_inject.py's amplitude). The rise over the typical dB is far smaller on a (about 12 dB, the
    old onset: such episodes were missed) than on b; the added power is within 3 dB on both, and steady
    frames add little."""
    rng = np.random.default_rng(5)
    fs, n = 500.0, 30000
    t = np.arange(n) / fs
    x = rng.standard_normal((n, 2))
    x[:, 0] += 0.5 * np.sin(2 * np.pi * 50 * t + np.pi / 2)  # in quadrature: powers add
    x[20000:21500] += 2 * np.sin(2 * np.pi * 50 * t[20000:21500])[:, None]
    times, lv = _levels(x, fs)
    steady, rise = (times > 2) & (times < 38), (times >= 40.3) & (times < 42.7)
    rel, exc = np.median(lv["mains"][rise], axis=0), np.median(lv["mains_excess"][rise], axis=0)
    assert rel[0] < 13 and rel[1] - rel[0] > 5
    assert abs(exc[0] - exc[1]) < 3 and exc.min() > 20
    calm = lv["mains_excess"][steady, 0]
    assert np.median(calm) < 5 and np.percentile(calm, 99) < exc[0] - 10
