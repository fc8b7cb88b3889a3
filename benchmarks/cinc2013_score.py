"""The PhysioNet/CinC Challenge 2013 scores of a fetal QRS annotation against the reference, as its scorer
computed them: Event 4 (FHR, bpm^2) and Event 5 (fetal RR, ms), plus the abstained-time masks.

Source: the Challenge's scorer ``org.physionet.wfdb.Score2013`` (WFDB Java toolbox, Ikaro Silva, version of
15 August 2013, called by ``score2013.m``), which runs the WFDB applications ``tach``, ``ann2rr``,
``patchann`` and ``mxm`` (G. Moody, WFDB 10.x sources). Re-expressed here in Python, step for step:

- Event 4: T0, TF = the first and last reference beat. ``tach -f T0 -t TF -n 12`` on the reference and on the
  test beats (only beats at or after T0): 12 output samples, sample n at time n*d with d = (TF - T0)/12 and
  n from floor(T0/d); each sample counts the (fractional) RR intervals inside the window (n-1)d..(n+1)d and
  turns the count into bpm; an output more than 3 running mean absolute deviations from the previous one is
  replaced by the previous one (tach's outlier rejection, starting from 80 bpm, deviation 40). tach stops
  when the test beats run out before a window's right edge: the test series is then shorter, and the scorer
  averages over the samples the test series has. Score = mean of (test - reference)^2 over samples 2.. (the
  first two left out).
- Event 5: ``ann2rr -c -V`` gives each RR interval at the time of the beat that begins it; ``mxm -f T0 -t TF``
  pairs every test interval (from T0 on, until both series pass TF) with the reference interval whose time is
  nearest (the later one on a tie), including mxm's one extra pair of the last values
  once the test intervals run out before the reference ones. The scorer read mxm's "Normalized RMS error"
  (RMS / mean reference RR, %); the Challenge's results page gives Event 5 in ms, the unnormalised RMS
  (``mxm -u``). Both are returned.

The scorer fails (no score) on a test annotation of fewer than 2 beats: NaN here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

HUGE = 0x7FFFFFFF  # mxm's "no more annotations" time


def tach(beats: np.ndarray, start: int, end: int, fs: float, samples: int = 12) -> list[float]:
    """WFDB ``tach -f start -t end -n samples`` on beat times (sample indices) -> the heart rate (bpm) at each
    output sample it reaches (fewer than `samples` when the beats end before the last window's edge)."""
    b = [int(v) for v in np.sort(np.asarray(beats, dtype=np.int64)) if v >= start]
    if len(b) < 2 or end <= start:
        return []
    ofreq = samples * fs / (end - start)  # output samples per second
    decf = fs / ofreq
    n, last_n = int(start / decf), int(end / decf)
    lo, hi = 0, 1
    rate, mean_dev = 80.0, 40.0
    out: list[float] = []
    while n < last_n:
        left, right = decf * (n - 1), decf * (n + 1)
        while b[hi] < right:
            hi += 1
            if hi >= len(b):
                return out  # tach exits at the end of the annotations
        while b[lo] <= left:
            lo += 1
        if lo > 0:  # whole intervals inside the window plus the fractions cut by its edges
            count = hi - lo + (b[lo] - left) / (b[lo] - b[lo - 1]) - (b[hi] - right) / (b[hi] - b[hi - 1])
        else:  # the window starts before the first beat
            first = b[0] - start
            count = 2.0 * decf / first if first > b[1] - b[0] else 2.0 * decf / (b[1] - b[0])
        x = ofreq * 30.0 * count
        dev = abs(x - rate)
        if dev > 3.0 * mean_dev:
            x = rate
        mean_dev = max(1.0, mean_dev + (dev - mean_dev) / 20.0)
        rate = x
        out.append(x)
        n += 1
    return out


def rr_measurements(beats: np.ndarray) -> list[tuple[int, int]]:
    """``ann2rr -c -V``: (time of the interval's first beat, interval) in samples, for consecutive beats."""
    b = np.sort(np.asarray(beats, dtype=np.int64))
    return [(a, c - a) for a, c in itertools.pairwise(b.tolist())]


def mxm_pairs(ref: list[tuple[int, int]], test: list[tuple[int, int]], start: int,
              end: int) -> tuple[list[tuple[int, float, float]], int]:
    """WFDB ``mxm -f start -t end`` pairing -> ((test time, reference value, test value) per pair, the count of
    test measurements mxm read: its RMS divisor, which counts the ones skipped before `start` and the last one
    read past `end`)."""
    ri, ti = iter(ref), iter(test)
    read = 0
    t, a = -1, 0
    while t < start:
        nxt = next(ti, None)
        if nxt is None:
            t = HUGE  # a keeps the last test value, as mxm's
            break
        t, a = nxt
        read += 1
    big_t, big_a, t_next, a_next = 0, 0.0, -1, 0.0
    pairs: list[tuple[int, float, float]] = []
    while t_next <= end or t <= end:
        while t_next < t:
            big_t, big_a = t_next, a_next
            nxt = next(ri, None)
            if nxt is None:
                t_next = HUGE  # the value stays: mxm keeps the last one read
            else:
                t_next, a_next = nxt[0], float(nxt[1])
        pairs.append((t, big_a, float(a)) if t - big_t < t_next - t else (t, a_next, float(a)))
        nxt_t = next(ti, None)
        if nxt_t is None:
            t = HUGE  # a keeps the last test value, as mxm's
        else:
            t, a = nxt_t
            read += 1
    return pairs, read


@dataclass(frozen=True)
class ChallengeScore:
    """One record's Challenge scores: Event 4 (bpm^2), Event 5 (ms and % of the mean reference RR), and how many
    of tach's 12 samples the test series reached (12 unless the detected beats stop early)."""

    fhr_mse: float
    rr_rms_ms: float
    rr_rms_pct: float
    tach_samples: int


def challenge_scores(reference: np.ndarray, detected: np.ndarray, fs: float,
                     keep: np.ndarray | None = None) -> ChallengeScore:
    """Event 4 and 5 of `detected` beats against `reference` (sample indices). `keep`: optional (n_samples,) bool;
    where given, only tach samples whose window lies wholly in kept time and RR pairs whose test interval starts
    in kept time count (the scores without abstained segments; the Challenge itself scored every sample)."""
    ref = np.sort(np.asarray(reference, dtype=np.int64))
    det = np.sort(np.asarray(detected, dtype=np.int64))
    start, end = int(ref[0]), int(ref[-1])
    hr_ref, hr_det = tach(ref, start, end, fs), tach(det, start, end, fs)
    nan = float("nan")
    if len(hr_det) < 2 or det.size < 2:
        return ChallengeScore(nan, nan, nan, len(hr_det))
    decf = (end - start) / 12
    first = int(start / decf)
    errs = []
    for i in range(2, len(hr_det)):
        lo, hi = max(0, round(decf * (first + i - 1))), round(decf * (first + i + 1))
        if keep is None or bool(keep[lo:min(hi, keep.size)].all()):
            errs.append((hr_det[i] - hr_ref[i]) ** 2)
    pairs, n_test = mxm_pairs(rr_measurements(ref), rr_measurements(det), start, end)
    if keep is not None:  # the pairs kept, each counted once (mxm's own divisor is for the whole record)
        pairs = [p for p in pairs if p[0] < keep.size and keep[p[0]]]
        n_test = len(pairs)
    to_ms = 1000.0 / fs
    if pairs and n_test:
        err = sum((r - d) ** 2 for _, r, d in pairs)
        refsum = sum(r for _, r, _ in pairs)
        rms_ms, pct = math.sqrt(err / n_test) * to_ms, 100.0 * math.sqrt(err * n_test) / refsum
    else:
        rms_ms = pct = nan
    return ChallengeScore(float(np.mean(errs)) if errs else nan, rms_ms, pct, len(hr_det))
