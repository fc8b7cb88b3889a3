"""Signal quality on recordings like CinC 2013 set-a: a maternal QRS much larger than the quiet background,
single samples lost at its peaks, a coarse ADC. Synthetic leads (seeded): each test builds what one set-a
record showed and checks that an injected fault is found and the clean time is not flagged."""

from __future__ import annotations

import numpy as np

from edge.fetal.quality import KINDS, QualityMonitor, quality_scores
from edge.fetal.quality_missing import missing_run_so_far

FS = 1000.0
LABELS = ["a", "b", "c", "d"]


def qrs_leads(seconds: float, seed: int, spike: float = 150.0) -> np.ndarray:
    """(n, 4) uV: white noise of 3 uV with a 40 ms maternal QRS of `spike` uV every 0.55 s (std about 5x the MAD)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * FS)
    x = 3.0 * rng.standard_normal((n, 4))
    qrs = spike * np.hanning(40)
    for start in range(200, n - 40, 550):
        x[start : start + 40] += qrs[:, None] * np.array([1.0, -0.7, 0.5, 0.8])
    return x


def test_missing_runs_are_counted_the_same_in_any_blocks() -> None:
    rng = np.random.default_rng(1)
    miss = rng.random((500, 3)) < 0.3
    whole, _ = missing_run_so_far(miss, np.zeros(3, np.int64))
    parts, carry = [], np.zeros(3, np.int64)
    for a in range(0, 500, 37):
        run, carry = missing_run_so_far(miss[a : a + 37], carry)
        parts.append(run)
    assert np.array_equal(np.concatenate(parts), whole) and whole[miss].min() >= 1 and whole[~miss].max() == 0


def test_single_samples_lost_at_every_qrs_peak_leave_wander_judged() -> None:
    """Set-a a02 and a09 lose one sample at most maternal QRS peaks of one lead. Every lost sample stopped wander
    on every lead for about 2 s around it: a wander episode on the other leads scored 0 all along."""
    x = qrs_leads(40, 2)
    x[220::550, 1] = np.nan  # the peak of every QRS on lead b
    x[20000:24000, 2] += 30.0 * np.sin(2 * np.pi * 0.5 * np.arange(4000) / FS)
    t, s = quality_scores(x, FS, LABELS)
    wander = s[:, KINDS.index("wander"), 2]
    inside, clean = (t >= 21) & (t < 23), (t > 3) & (t < 17)
    assert wander[inside].mean() > 0.25 and wander[clean].max() < 0.1
    assert s[:, KINDS.index("flatline"), 1].max() < 0.05  # a lost sample is 0.01 of a frame, not a lead-off


def test_mains_under_a_large_maternal_qrs_is_found_in_any_blocks() -> None:
    """A 50 Hz episode of 2x the lead's robust scale under a QRS of 30x it: the QRS filled the Hann spectrum's
    line and neighbour bins (about 6 dB of rise, under the 15 dB onset); the median phasors see the line."""
    x = qrs_leads(40, 3)
    x[25000:28000, 0] += 6.0 * np.sin(2 * np.pi * 50 * np.arange(3000) / FS + 0.4)
    t, s = quality_scores(x, FS, LABELS)
    mains = s[:, KINDS.index("mains")]
    inside, clean = (t >= 25.3) & (t < 27.6), (t > 2) & (t < 24)
    assert mains[inside, 0].mean() > 0.5 and mains[clean].max() < 0.3
    monitor = QualityMonitor(FS, LABELS)
    monitor.prime([x])
    parts = [monitor.push(x[a : a + 777], final=a + 777 >= x.shape[0])[1] for a in range(0, x.shape[0], 777)]
    streamed = np.concatenate(parts)[:, KINDS.index("mains")]  # typical values include each block's own frames
    assert streamed[inside, 0].mean() > 0.5 and streamed[clean].max() < 0.3


def test_a_coarse_smooth_lead_is_not_motion_all_along() -> None:
    """Set-a a34 and a69: 0.5-unit steps under a large slow wave. The running-median baseline equals a locally
    monotone signal exactly, so motion's typical level was 0 and any frame scored 1.0 (a69: 60 % of the clean
    time); floored at the ADC's step, clean frames stay low and injected motion is still found."""
    rng = np.random.default_rng(4)
    n = 40000
    t = np.arange(n) / FS
    slow = 200 * np.sin(2 * np.pi * 0.3 * t)[:, None] + 20 * np.sin(2 * np.pi * 1.3 * t[:, None] + np.arange(4))
    x = np.round((slow + 0.3 * rng.standard_normal((n, 4))) * 2) / 2
    x[30000:32000, 3] += 60 * rng.standard_normal(2000)
    ts, s = quality_scores(x, FS, LABELS)
    motion = s[:, KINDS.index("motion")]
    assert (motion[(ts > 2) & (ts < 28)] >= 0.5).mean() < 0.02
    assert motion[(ts >= 30.5) & (ts < 31.5), 3].mean() > 0.5
