"""Fetal QRS detection on the residual leads (maternal ECG removed) of a block.

1. Each lead is band-passed to the fetal QRS band and turned into an energy envelope.
2. Leads, and their independent components (see ``_with_components``), are fused: each envelope
   is weighted by its periodicity (the height of its normalised autocorrelation at fetal beat
   intervals, 0.25-0.75 s = 80-240 bpm), so a lead where the fetal heart is visible dominates and
   a noisy or fetus-free lead fades out (lead selection as a limit).
3. The fetal period T0 is the autocorrelation peak of the fused envelope.
4. Beats are chosen among the envelope's local maxima by dynamic programming: the path
   maximises the sum of (normalised peak height - cost per beat) minus a penalty on each interval's
   deviation from T0 (a skipped beat allowed at a cost). This uses the regularity of the fetal
   rhythm, as the Challenge 2013 entries that tracked RR did, instead of a fixed threshold.
5. With ``select="sqi"`` (the default) steps 3-4 run on the fused envelope and on every channel (lead or
   component) alone, and the window keeps the path of the best fetal-signal quality index
   (``rhythm_quality``: regular intervals, no gaps, not locked on the maternal beats). Periodicity
   weights alone let a lead of regular non-fetal activity outvote the one lead where the fetus shows:
   on CinC 2013 set-a-dev records a02, a09, a21 and a40 one lead alone scored F1 0.85-1.00 where the
   fusion scored 0.41-0.93.
6. With ``matched`` the chosen path's mean QRS per channel becomes a multichannel matched filter
   (``matched_envelope``); its path replaces the first one when its quality index is better. A window
   whose beats share no waveform (``template_consistency`` under ``abstain_consistency``) gets
   no beats (the chain marks it low_fetal) rather than invented ones.
7. With a prior interval (``prior_rr``: the rhythm of the windows before, edge.fetal.beat_tracker), each
   channel's path at that period competes too, and rhythm_quality counts a path's distance from it: on
   set-a-dev a02 a path at the maternal leftovers' rhythm, on a61 one at half the rate, were chosen without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.fetal.beat_path import best_paths
from edge.fetal.dsp import fftconvolve_same, find_peaks
from edge.fetal.prep import bandpass, moving_average, robust_scale

BAND_HZ = (10.0, 45.0)
LAG_S = (0.25, 0.75)  # fetal beat intervals considered: 240 down to 80 bpm


@dataclass(frozen=True)
class FetalParams:
    band_hz: tuple[float, float] = BAND_HZ
    envelope_s: float = 0.025
    beat_cost: float = 0.4  # a candidate below this normalised height is not worth a beat by itself
    rr_penalty: float = 3.0  # per squared relative deviation of an interval from the previous one (T0 without follow)
    skip_penalty: float = 0.5  # per beat skipped inside an interval
    max_deviation: float = 0.35  # intervals further than this fraction from T0 are not linked
    refine_s: float = 0.02
    # autocorrelation peaks tried as the fetal period, the best DP path kept (with the fused envelope alone,
    # 3 was worse on Tokarev; with the per-channel choice (select) 3 is better on set-a-dev, Tokarev equal)
    periods: int = 3
    # follow the rate: the interval penalty is taken against the path's previous interval (a sudden change
    # costs once), with a weaker pull to T0 (t0_penalty) and T0 bounds that keep half and double periods out.
    # Measured on adfecgdb with injected brady/tachy/decel (development seeds 7000 + 100 r): clean F1 0.989 ->
    # 0.990, tachy event AUC 0.50 -> 0.76, brady 0.84 -> 0.95, decel 0.79 -> 0.79. Of the 5 settings tried
    # (rr_penalty 1.5-3, t0_penalty 0.5-1), this one keeps the most fecg-tokarev FHR in 110-160 bpm;
    # follow=False with rr_penalty 10 is the fixed-period picker of before.
    follow: bool = True
    t0_penalty: float = 1.0
    t0_range: tuple[float, float] = (0.6, 1.6)
    follow_deviation: float = 0.5  # as max_deviation, against the previous interval (0.7x -> 1x is +0.43)
    spatial: str = "ica"  # "none": the leads alone; "pca"/"ica": plus principal/independent components
    select: str = "sqi"  # "sqi": the path of the best rhythm_quality over fused and single channels; "fused"
    irregularity_weight: float = 3.0  # rhythm_quality's weight on interval changes against missing coverage
    # template_consistency under this: no beats in the window (the chain marks it low_fetal). Off (-1) by default:
    # on set-a-dev 0.0 abstains on 3.6 % of the time (F1 there 0.2-0.5, F1 elsewhere 0.949 -> 0.961) but the
    # Challenge's FHR error counts a gap as a slow rate: mean 162 -> 596 bpm^2 (benchmarks/fetal_challenge.py)
    abstain_consistency: float = -1.0
    # candidates under this normalised height (of the 90th percentile) are not beats: a flatline's floor. On
    # set-a-dev 0.02 costs nothing, 0.05 F1 0.003 and 0.1 F1 0.005 (weak beats of a48 and a02 cut)
    min_height: float = 0.02
    matched: bool = True  # a second path on the multichannel matched filter of the first one's QRS, if better
    # the rhythm of the windows before (BeatTracker carries it, ``prior_rr``): rhythm_quality adds this weight x
    # |log(median interval / prior)|, and each channel's path at the prior period competes too. A path at half or
    # twice the rate, or on another rhythm (the maternal leftovers), then loses to the one the fetus kept.
    prior_weight: float = 1.0
    # ... beyond this relative change (the fetal rate moves a few per cent between windows): within it the prior
    # does not choose among paths of nearly one rate. Without it, on adfecgdb r08 a path 2 % nearer the prior but
    # off the QRS won one window (F1 0.997 -> 0.980); 0.1 lost set-a-dev a07 0.664 -> 0.634, a09 0.992 -> 0.973
    prior_tolerance: float = 0.05


def envelopes(residual: np.ndarray, fs: float, params: FetalParams) -> tuple[np.ndarray, np.ndarray]:
    """residual (n, leads) -> (band-passed leads (n, leads), envelopes (n, leads), each scaled to its median)."""
    y = bandpass(residual, fs, *params.band_hz)
    e = moving_average(y**2, round(params.envelope_s * fs))
    return y, e / robust_scale(e)


def clip_bursts(e: np.ndarray, fs: float, factor: float = 3.0, quantile: float = 75.0) -> np.ndarray:
    """Clip each lead's envelope at `factor` x the `quantile` of its local maxima (>= 0.1 s apart).

    A block holds about ten local maxima per second; fetal QRS peaks are their upper quarter, and a
    burst of motion artefact (a second or two of loud peaks) is too few to move that quantile. So
    the burst, clipped, neither dominates the autocorrelation nor the fusion weights.
    """
    out = e.copy()
    for lead in range(e.shape[1]):
        peaks = find_peaks(e[:, lead], distance=max(1, round(0.1 * fs)))
        if peaks.size:
            level = float(np.percentile(e[peaks, lead], quantile))
            np.minimum(out[:, lead], factor * level, out=out[:, lead])
    return out


def autocorrelation(e: np.ndarray, fs: float, maternal_rr: float | None = None, exclude: float = 0.08,
                    lag_s: tuple[float, float] = LAG_S) -> tuple[np.ndarray, int]:
    """e (n, leads) -> (normalised autocorrelation at lags lo..hi-1 (hi - lo, leads), lo in samples).

    Lags within `exclude` of the maternal RR (samples) are left out: what survives of the maternal
    ECG after cancellation repeats at that interval and must not be taken for the fetal rhythm.
    (Discounting half the maternal RR as well was measured: +2 beats on adfecgdb, fewer plausible
    FHR points on Tokarev; a fetus at twice the maternal rate is common enough not to exclude it.)
    """
    n = e.shape[0]
    z = e - e.mean(axis=0)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(z, nfft, axis=0)
    ac = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=0)[:n]
    ac = ac / np.maximum(ac[0], 1e-12)
    lo, hi = round(lag_s[0] * fs), min(round(lag_s[1] * fs), n - 1)
    seg = ac[lo:max(hi, lo + 1)].copy()
    if maternal_rr:
        lags = np.arange(lo, lo + seg.shape[0])
        seg[np.abs(lags - maternal_rr) <= exclude * maternal_rr] = -1.0
    return seg, lo


def periodicity(e: np.ndarray, fs: float, maternal_rr: float | None = None, exclude: float = 0.08,
                lag_s: tuple[float, float] = LAG_S) -> tuple[np.ndarray, np.ndarray]:
    """e (n, leads) -> (peak normalised autocorrelation per lead (leads,), its lag in samples (leads,))."""
    seg, lo = autocorrelation(e, fs, maternal_rr, exclude, lag_s)
    lag = np.argmax(seg, axis=0)
    return seg[lag, np.arange(e.shape[1])], lag + lo


def period_candidates(f: np.ndarray, fs: float, maternal_rr: float | None, count: int = 3) -> list[float]:
    """The `count` highest autocorrelation peaks of a fused envelope f (n,) at fetal lags, in samples."""
    seg, lo = autocorrelation(f[:, None], fs, maternal_rr)
    ac = seg[:, 0]
    peaks = find_peaks(np.concatenate([[-np.inf], ac, [-np.inf]]))
    peaks = peaks - 1
    peaks = peaks[ac[peaks] > 0]
    if peaks.size == 0:
        return [float(lo + int(np.argmax(ac)))]
    best = peaks[np.argsort(ac[peaks])[::-1][:count]]
    return [float(lo + p) for p in best]


@dataclass(frozen=True)
class FetalPick:
    """A window's fetal beats (sample indices, int64, sorted), the rhythm_quality of the path behind them (lower is
    better, inf without one) and its median beat interval (samples, 0.0 without one)."""

    peaks: np.ndarray
    quality: float = float("inf")
    rr: float = 0.0


def detect_fetal(residual: np.ndarray, fs: float, params: FetalParams | None = None,
                 maternal: np.ndarray | None = None, prior_rr: float | None = None) -> np.ndarray:
    """Fetal QRS peaks (sample indices, int64, sorted) of a residual block (n, leads); maternal peaks optional;
    prior_rr: the fetal beat interval (samples) of the windows before, if known."""
    return pick_fetal(residual, fs, params, maternal, prior_rr).peaks


def pick_fetal(residual: np.ndarray, fs: float, params: FetalParams | None = None,
               maternal: np.ndarray | None = None, prior_rr: float | None = None) -> FetalPick:
    """As detect_fetal, with the chosen path's quality and median interval (what the next window's prior is)."""
    params = params or FetalParams()
    none = FetalPick(np.empty(0, np.int64))
    if residual.shape[0] < 2 * LAG_S[1] * fs:
        return none
    if params.spatial in ("pca", "ica"):
        residual = _with_components(residual, fs, params)
    y, e = envelopes(residual, fs, params)
    e = clip_bursts(e, fs)
    mrr = float(np.median(np.diff(maternal))) if maternal is not None and maternal.size > 2 else None
    q, _ = periodicity(e, fs, mrr)
    w = np.maximum(q, 0.0) ** 2
    if w.sum() <= 0:
        return none
    prior = prior_rr if prior_rr and params.prior_weight > 0 else None

    def judge(path: np.ndarray) -> float:
        return rhythm_quality(path, e.shape[0], maternal, fs, params.irregularity_weight, prior, params.prior_weight,
                              params.prior_tolerance)

    channels = [(e @ (w / w.sum()), int(np.argmax(w)))]  # (envelope, the band-passed channel to refine on)
    if params.select == "sqi":
        channels += [(e[:, c], c) for c in range(e.shape[1]) if q[c] > 0]
    best: tuple[float, np.ndarray, int] | None = None
    for env, channel in channels:
        for path in _channel_paths(env, fs, mrr, params, prior):
            quality = judge(path)
            if best is None or quality < best[0]:
                best = (quality, path, channel)
    if best is None:
        return none
    quality, path, channel = best
    if params.matched:
        matched = matched_envelope(y, path, fs)
        for again in _channel_paths(matched, fs, mrr, params, prior) if matched is not None else []:
            again_quality = judge(again)
            if again_quality < quality:
                path, quality = again, again_quality
    if params.abstain_consistency > -1.0 and template_consistency(y, path, fs) < params.abstain_consistency:
        return none
    peaks = _refine(y[:, channel], path, round(params.refine_s * fs))
    return FetalPick(peaks, quality, float(np.median(np.diff(path))))


def template_consistency(y: np.ndarray, path: np.ndarray, fs: float, half_s: float = 0.04) -> float:
    """How alike the path's beats are, -1..1: the correlation between the mean waveform (+-half_s, every
    channel of y (n, channels), band-passed) of its even-numbered beats and that of its odd-numbered ones.
    The picker finds a fairly regular path even through noise, but there the beats share no waveform: the
    two halves' means do not agree (near 0); fetal QRS complexes, even weak ones, give the same mean twice.
    -1 with fewer than 6 beats inside."""
    half = round(half_s * fs)
    beats = path[(path >= half) & (path < y.shape[0] - half)]
    if beats.size < 6:
        return -1.0
    seg = y[beats[:, None] + np.arange(-half, half + 1)[None, :]]  # (beats, 2 half + 1, channels)
    a, b = seg[0::2].mean(axis=0).ravel(), seg[1::2].mean(axis=0).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / max(float(np.sqrt((a @ a) * (b @ b))), 1e-12))


def matched_envelope(y: np.ndarray, path: np.ndarray, fs: float, half_s: float = 0.04) -> np.ndarray | None:
    """y (n, channels) band-passed, beats path -> (n,) multichannel matched-filter output (its positive part,
    scaled to its median), None with fewer than 6 beats inside.

    Each channel is correlated with its own mean fetal QRS (+-half_s around the path's beats) and weighted
    by 1 / its variance, and the channels are summed: a QRS too weak to stand out in any one channel adds up
    coherently across them, the noise does not (on set-a-dev a07, a09, a21 and a48 it found 3-7 % more of
    the reference beats than the best single channel's envelope)."""
    half = round(half_s * fs)
    beats = path[(path >= half) & (path < y.shape[0] - half)]
    if beats.size < 6:
        return None
    template = y[beats[:, None] + np.arange(-half, half + 1)[None, :]].mean(axis=0)  # (2 half + 1, channels)
    out = np.zeros(y.shape[0])
    for c in range(y.shape[1]):
        out += fftconvolve_same(y[:, c], template[::-1, c]) / max(float(np.var(y[:, c])), 1e-12)
    out = np.maximum(out, 0.0)
    positive = out[out > 0]
    return out / max(float(np.median(positive)) if positive.size else 1.0, 1e-12)


def _channel_paths(env: np.ndarray, fs: float, mrr: float | None, params: FetalParams,
                   prior: float | None) -> list[np.ndarray]:
    """The beat paths (sample indices) of one envelope env (n,) to judge: the picker's own (the best scoring of
    the autocorrelation's periods) and, with a prior interval (samples), the path at that period when it
    differs; none without two candidate peaks."""
    cand = find_peaks(env, distance=max(1, round(0.1 * fs)))
    if cand.size < 2:
        return []
    height = np.minimum(env[cand] / np.percentile(env[cand], 90), 2.0)
    # a local maximum at the envelope's floor (a lead-off, a flatline) is no beat: without this floor the
    # picker bridged a 4-s flatline of every lead with beats at the period it had (no low_fetal there)
    real = height >= params.min_height
    cand, height = cand[real], height[real]
    if cand.size < 2:
        return []
    # the period: of the autocorrelation's highest peaks, the one whose best beat path scores most
    # (a harmonic of the true period makes a path of noise peaks or of every other beat: less)
    periods = period_candidates(env, fs, mrr, params.periods)
    paths = best_paths(cand, height, periods + ([prior] if prior is not None else []), params)
    out = [max(paths[:len(periods)], key=lambda ps: ps[1])[0]]
    if prior is not None:
        # the prior's path is judged beside it by rhythm_quality, not by the picker's score: a weak fetal QRS
        # at the rate kept scores under a path of stronger peaks at another rate
        at_prior = paths[-1][0]
        if at_prior.size != out[0].size or not np.array_equal(at_prior, out[0]):
            out.append(at_prior)
    return out


def rhythm_quality(path: np.ndarray, n: int, maternal: np.ndarray | None, fs: float, weight: float = 3.0,
                   prior_rr: float | None = None, prior_weight: float = 1.0, prior_tolerance: float = 0.0) -> float:
    """Fetal-signal quality index of a beat path (sample indices) in a window of n samples; lower is better.

    weight x the mean absolute change between consecutive intervals (relative to their median: a fetal
    rhythm changes a few per cent from beat to beat, a path through noise peaks tens of per cent), plus the
    share of the window the path leaves uncovered (beats x median interval short of n), plus 1 when over
    half its beats fall within 30 ms of a maternal beat (what cancellation left of the maternal QRS, or a
    path at the maternal rate or a multiple of it), plus prior_weight x (|log(median interval / prior_rr)| -
    log(1 + prior_tolerance), if positive) with a prior interval (samples; the rhythm of the windows before: a
    path at half or twice it adds about 0.6 x the weight). inf for fewer than 4 beats.
    """
    if path.size < 4:
        return float("inf")
    rr = np.diff(path).astype(float)
    med = float(np.median(rr))
    quality = weight * float(np.mean(np.abs(np.diff(rr)))) / med + 1.0 - min(1.0, path.size * med / n)
    if maternal is not None and maternal.size > 2:
        near = np.abs(path[:, None] - maternal[None, :]).min(axis=1) < 0.03 * fs
        if near.mean() > 0.5:
            quality += 1.0
    if prior_rr:
        quality += prior_weight * max(0.0, abs(float(np.log(med / prior_rr))) - float(np.log1p(prior_tolerance)))
    return quality


def _with_components(residual: np.ndarray, fs: float, params: FetalParams) -> np.ndarray:
    """residual (n, leads) -> (n, 2 * leads): the leads and, in the fetal band, their principal components
    (``pca``) or independent components (``ica``: FastICA on the whitened leads, as Varanini et al. 2013
    after cancellation), each scaled like a lead: a fetal QRS spread over several leads adds up in one.
    Measured (benchmarks/fetal_beats_eval.py --spatial): equal on adfecgdb, ICA clearly more plausible FHR
    on the Tokarev recordings of another device."""
    if residual.shape[1] < 2:
        return residual
    from edge.fetal.prep import bandpass

    y = bandpass(residual, fs, *params.band_hz)
    cov = np.cov(y, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    white = vecs / np.sqrt(np.maximum(vals, 1e-12))
    z = residual @ white
    if params.spatial == "ica":
        z = residual @ (white @ _fastica(y @ white))
    return np.concatenate([residual, z * float(np.median(np.std(residual, axis=0)))], axis=1)


def _fastica(z: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Symmetric FastICA (log-cosh) on whitened z (n, c) -> unmixing (c, c); seeded, fixed iterations."""
    c = z.shape[1]
    w = np.linalg.qr(np.random.default_rng(0).standard_normal((c, c)))[0]
    for _ in range(iterations):
        g = np.tanh(z @ w)
        w_new = (z.T @ g) / z.shape[0] - w * (1 - g**2).mean(axis=0)
        u, _s, vt = np.linalg.svd(w_new)
        w = u @ vt
    return w


def _refine(y: np.ndarray, peaks: np.ndarray, half: int) -> np.ndarray:
    """Move each peak to the largest |y| within +-half samples."""
    if peaks.size == 0 or half <= 0:
        return peaks.astype(np.int64)
    offsets = np.arange(-half, half + 1)
    idx = np.clip(peaks[:, None] + offsets[None, :], 0, y.shape[0] - 1)
    return np.unique(idx[np.arange(peaks.size), np.argmax(np.abs(y[idx]), axis=1)]).astype(np.int64)
