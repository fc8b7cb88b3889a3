"""Signal quality of abdominal fetal-ECG leads, per lead and overall, as detectors with events.

Kinds (each a score in 0..1, higher = worse, per frame of `hop_s` seconds and per lead):

- flatline: lead-off or a stuck amplifier: the share of a 0.2 s window that sits in runs of exactly
  repeated samples (>= 30 ms, and >= 3x the lead's typical longest run in 1 s up to 0.5 s: a coarse
  ADC repeats codes between beats), or the rms sample-to-sample change over 1 s falling below 10 % of
  the lead's typical value
- clipping: saturation: samples on a plateau (>= 2 equal neighbours) at the maximum or the minimum
  of a 1 s window, counted in 20 ms units, while the window is not flat (amplifiers clip at a
  rail, ADCs at a code), above the onset or 3x the lead's 75th percentile (a coarse ADC puts a
  plateau on every peak); never together with flatline
- mains: 50 or 60 Hz interference: the power at the line over the median power 5-12 Hz away, in a
  0.5 s window (as median demodulated phasors, robust to a large maternal QRS: edge/fetal/mains.py;
  `mains_phasor` False: a Hann spectrum's bins), in dB, less the lead's typical value of it (so the
  mains a lead always carries does not count, a rise does: on adfecgdb the clean leads' own level
  varies by 10-20 dB between records and leads), or with `mains_excess` the line power ADDED over its
  typical power, over the neighbours' power (edge/fetal/mains.py: on a lead already full of steady mains
  an episode rises only about 12 dB in the first measure, as much as on a clean lead in the second);
  and, whatever the lead's typical value, the dB
  themselves above `mains_absolute_db` (a lead drowned in mains all along is flagged all along)
- baseline: a 0.3 s running median, at 10 ms steps, of the signal with 50 and 60 Hz nulled (moving
  means over one period of each); a median, so QRS complexes barely move it
- wander: the rms over 2 s of the baseline minus its 1.5 s moving mean (about 0.3-1.5 Hz; slower
  respiratory drift left aside), after what the other leads explain of it is taken away
  (edge/fetal/wander.py: maternal breathing moves every electrode), relative to the lead's typical value
- motion: the median over 1 s of |signal - baseline| at 10 ms steps (about 2-25 Hz, mains nulled; a median, so QRS
  complexes, 10-15 % of the time, do not count), relative to the lead's typical value, at least the ADC's step
- low_fetal: the fetal beats passed in leave a gap longer than 1.7x their median interval

"The lead's typical value" is the median of that feature over the last `history_s` seconds (the
current block included), so scores need no absolute scale in uV and adapt to a device; the
history is bounded, so memory does not grow with the recording. A file (`vigil beats`,
`quality_scores`) first fills that history from its own first `history_s` (QualityMonitor.prime),
so a fault in the first seconds of a short file is not compared with a median it makes up itself.
A ratio r maps to a score as 1 - exp(-max(0, log2(r) - onset) / spread): 0 at normal, continuous
above it (rank-preserving, so that stronger faults score higher). Overall = the worst lead, per kind.

Wander scores at most `wander_max` (0.5): real baseline wander (maternal breathing) is common in clean
recordings and the beat detector filters it out, so it ranks under the faults that matter more (leave one
record out on adfecgdb: mains 0.88 -> 0.97 overall AUC, motion 0.89 -> 0.95, wander 0.89 -> 0.86).

low_fetal scores at most `low_fetal_max` (0.35), the mains level itself (the absolute onset) at most
`mains_absolute_max` (0.2): a beat gap spills past a fault onto clean frames, and a device with steady mains
(fecg-tokarev: 20-33 dB) would rank every normal frame over other kinds' episodes (reports/fetal-quality/README.md,
fourth and sixth rounds). The FHR mask and the live low_fetal event judge it on its own scale.

Parameters: the mains rise and onset, the motion and wander onsets and spreads were chosen by
benchmarks/studies/fetal_quality_tune.py (leave one record out on injected faults, development seeds; the defaults
are its choice on all five records); window and history lengths compared on injected faults in all five adfecgdb
records; the flatline and clipping onsets near the 95-99th percentile of clean r01 and r04.
Missing samples: edge/fetal/quality_missing.py. Vectorized NumPy over blocks of frames; scipy is not imported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from edge.fetal.mains import excess_db, line_powers, phasor_powers
from edge.fetal.mains import mains_score as mains_score  # re-exported: benchmarks/studies/fetal_quality_tune.py
from edge.fetal.quality_arrays import _boxcar, _hold_missing, _mirror, _run_lengths, _windows
from edge.fetal.quality_arrays import low_fetal_scores as low_fetal_scores  # re-exported: part of this API
from edge.fetal.quality_missing import (
    frames_near_missing,
    missing_run_so_far,
    missing_share,
    near_missing,
    reaches,
    typical,
)
from edge.fetal.wander import CrossLeadWander

KINDS = ("flatline", "clipping", "mains", "wander", "motion", "low_fetal")
SIGNAL_KINDS = KINDS[:5]
# Kinds that mark the FHR missing. Mains and wander do not: the beat detector band-passes and notches
# them away; on the clean adfecgdb records, seconds with wander >= 0.5 on half the leads had the same
# FHR error as the others (0.1-2 bpm), seconds with motion or a gap in the fetal beats 7-70 bpm.
MASK_KINDS = ("flatline", "clipping", "motion")


@dataclass(frozen=True)
class QualitySegment:
    """A stretch of bad quality: [start_s, end_s) seconds, score 0..1 (higher = worse), kind, lead (None = overall)."""

    start_s: float
    end_s: float
    score: float
    kind: str
    lead: str | None


@dataclass(frozen=True)
class QualityConfig:
    """Frame and window lengths in seconds; ratio onsets/spreads in octaves; mains in dB."""

    hop_s: float = 0.1
    block_s: float = 10.0
    history_s: float = 180.0
    flat_window_s: float = 0.2
    flat_run_s: float = 0.03
    flat_run_max_s: float = 0.5  # the longest run still required (a coarse ADC's typical runs x 3 capped here)
    clip_window_s: float = 1.0
    clip_onset: float = 0.25  # plateau samples at the extremes, in units of 20 ms
    mains_window_s: float = 0.5
    mains_excess: bool = True  # the rise as added power (edge/fetal/mains.py), else dB over the typical dB
    mains_phasor: bool = True  # powers as median demodulated phasors (robust to QRS complexes), else a Hann spectrum
    mains_onset_db: float = 15.0  # on the rise
    mains_spread_db: float = 8.0
    mains_absolute_db: float = 24.0  # the onset on the level itself (clean adfecgdb leads: up to about 20 dB)
    mains_absolute_max: float = 0.2  # the level's highest score: steady mains ranks under the episodes
    wander_window_s: float = 2.0
    baseline_median_s: float = 0.3
    wander_highpass_s: float = 1.5
    wander_onset: float = 0.5
    wander_spread: float = 1.0
    wander_max: float = 0.5  # wander's highest score (below 1 ranks it under the other faults)
    wander_reach_s: float = 20.0  # the cross-lead regression's trailing second moments
    wander_ridge: float = 0.05
    low_fetal_max: float = 0.35  # low_fetal's highest score (a beat gap is a fault's consequence: ranked under them)
    motion_window_s: float = 1.0
    motion_onset: float = 1.0
    motion_spread: float = 1.0
    missing_gap_s: float = 0.01  # shorter missing runs are held over, the other kinds still judged (a lost sample)
    segment_min_score: float = 0.1  # frames below this make no segment
    segment_max_s: float = 1.0  # segments are cut so a long one still shows how its score varies


def _ratio_score(ratio: np.ndarray, onset: float, spread: float) -> np.ndarray:
    excess = np.log2(np.maximum(ratio, 1e-12)) - onset
    return 1.0 - np.exp(-np.maximum(excess, 0.0) / spread)


class QualityMonitor:
    """Streaming quality scores: push (m, channels) blocks, get per-frame scores (frames, kinds, leads).

    Missing samples (NaN, inf) hold the lead's last value and score as flatline, the share of the frame missing;
    the other kinds score 0 where their windows reach one (edge/fetal/quality_missing.py).

    The monitor holds at most a pad of samples plus `history_s` of per-frame features: bounded memory.
    Frames are emitted once their longest analysis window (`wander_window_s`) is complete, and, with
    `min_frames` above 1, only once that many are (the live chain batches a second of frames).
    """

    def __init__(self, fs: float, labels: Sequence[str], config: QualityConfig | None = None, *,
                 min_frames: int = 1) -> None:
        """min_frames: score only once that many frames are complete (or at the end): each scoring reads a pad of
        about 3.4 s of samples and the history's medians whatever the frames, so a live stream's small blocks
        (the wearable's 23 samples) are scored a second at a time, not frame by frame."""
        self.fs, self.labels, self.cfg = float(fs), list(labels), config or QualityConfig()
        self.hop = max(1, round(self.cfg.hop_s * fs))
        self.min_frames = max(1, int(min_frames))
        # the longest window's half, the moving averages' reach (0.6 s) and a frame
        reach = max(self.cfg.wander_window_s, self.cfg.clip_window_s) / 2 + 0.6
        self.pad = (int(np.ceil(reach * fs / self.hop)) + 1) * self.hop
        self._buf = np.zeros((0, 2 * len(labels)))  # samples (missing ones held), then 1 missing, 2 in a long gap
        self._gap = max(1, round(self.cfg.missing_gap_s * fs))
        self._run = np.zeros(len(labels), dtype=np.int64)  # missing samples in a row at the end of the last block
        self._reach = reaches(self.cfg, self.fs)
        self._keep = np.ones((0, len(labels)), dtype=bool)  # the frames being scored that enter the history
        self._last = np.zeros(len(labels))  # the last finite sample per lead (missing samples hold it)
        self._started = False
        self._frames_done = 0
        keep = max(1, round(self.cfg.history_s / self.cfg.hop_s))
        names = ("act", "wander", "motion", "mains", "run", "clip", "line", "near")
        self._history: dict[str, deque[np.ndarray]] = {k: deque(maxlen=keep) for k in names}
        dec = max(1, round(0.01 * fs))
        self._wander = CrossLeadWander(len(labels), round(self.hop / dec), round(self.cfg.wander_window_s * 100),
                                       round(self.cfg.wander_reach_s / self.cfg.hop_s), self.cfg.wander_ridge)

    def push(self, block: np.ndarray, *, final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Add samples (m, channels); return frame start times (f,) s and scores (f, 5, channels) float32."""
        raw = np.asarray(block, dtype=np.float64).reshape(-1, len(self.labels))
        run, self._run = missing_run_so_far(~np.isfinite(raw), self._run)
        block = np.concatenate([_hold_missing(raw, self._last), (run > 0) + 1.0 * (run >= self._gap)], axis=1)
        if block.shape[0]:
            self._last = block[-1, : len(self.labels)].copy()
        empty = np.zeros(0), np.zeros((0, len(SIGNAL_KINDS), len(self.labels)), dtype=np.float32)
        if not self._started:  # the start is mirrored: wait for a pad's worth of samples (or the end)
            self._buf = np.concatenate([self._buf, block])
            if self._buf.shape[0] == 0 or (self._buf.shape[0] <= self.pad and not final):
                return empty
            block, self._buf = self._buf, _mirror(self._buf, self.pad)[::-1]
            self._lead_in = self.pad
            self._started = True
        buf = np.concatenate([self._buf, block])
        if final and buf.shape[0]:
            buf = np.concatenate([buf, _mirror(buf[::-1], self.pad)])
        ready = (buf.shape[0] - self.pad - self._lead_in) // self.hop  # frames whose windows are complete
        if ready <= 0 or (ready < self.min_frames and not final):
            self._buf = buf
            return empty
        centres = self._lead_in + np.arange(ready) * self.hop + self.hop // 2
        scores = self._score(buf, centres)
        times = (self._frames_done + np.arange(ready)) * self.hop / self.fs
        self._frames_done += ready
        consumed = self._lead_in + ready * self.hop
        self._lead_in = min(self.pad, consumed)
        self._buf = buf[consumed - self._lead_in :]
        return times, scores

    def prime(self, blocks: Iterable[np.ndarray]) -> None:
        """Before scoring a file from its start: learn the leads' typical values from its first `history_s`.

        blocks: the recording's (m, channels) blocks from its start (read until `history_s` seconds or
        their end). Live, the typical values build up from the first frames, so a fault in the first
        seconds is compared with a median that it makes up itself: on adfecgdb cut into 60 s files,
        mains and wander episodes starting in the first 12 s scored AUC 0.93 and 0.78 against 0.98 and
        0.94 later (benchmarks/studies/fetal_excerpts_eval.py). A file can be read twice, so its own first minutes
        give the reference from frame one (memory: one block and `history_s` of per-frame features).
        """
        scratch = QualityMonitor(self.fs, self.labels, self.cfg)
        need, got = round(self.cfg.history_s * self.fs), 0
        for block in blocks:
            block = np.asarray(block)[: need - got]
            got += block.shape[0]
            scratch.push(block, final=got >= need)
            if got >= need:
                break
        else:
            scratch.push(np.zeros((0, len(self.labels))), final=True)
        for name, hist in scratch._history.items():
            self._history[name].extend(hist)
        self._wander = scratch._wander.copy()

    def _ref(self, name: str, values: np.ndarray, q: float = 50.0) -> np.ndarray:
        """The lead's typical value (channels,): median (or percentile q) over the history, this block's frames too."""
        hist = self._history[name]
        keep = self._keep if values.ndim == 2 else self._keep[:, None, :]
        hist.extend(np.where(keep, values, np.nan))  # frames near missing samples are left out
        return typical(np.asarray(hist), q, np.median(values, axis=0))

    def _quantile(self, name: str, q: float) -> np.ndarray:
        """Percentile q over the history as it stands (after _ref has added this block's frames)."""
        hist = np.asarray(self._history[name])
        return typical(hist, q, np.zeros(hist.shape[1:]))

    def _features(self, buf: np.ndarray, centres: np.ndarray, miss: np.ndarray,
                  gap: np.ndarray) -> dict[str, np.ndarray]:
        """Raw per-frame features (frames, channels); miss, gap (n, channels): missing, in a gap >= missing_gap_s."""
        cfg, fs = self.cfg, self.fs
        scale = np.median(np.abs(buf - np.median(buf, axis=0)), axis=0) + 1e-9
        diff = np.abs(np.diff(buf, axis=0, prepend=buf[:1]))
        equal = diff <= 1e-7 * scale
        f: dict[str, np.ndarray] = {}
        # a run is flat when it is longer than flat_run_s and than 3x the lead's typical longest run in 1 s
        # (a coarse ADC repeats codes between beats for tens of ms), up to flat_run_max_s
        runs = _run_lengths(equal)
        longest = _windows(runs, centres, round(fs)).max(axis=1).astype(float)
        shortest, longest_needed = max(2, round(cfg.flat_run_s * fs)), round(cfg.flat_run_max_s * fs)
        need = np.clip(3 * self._ref("run", longest), shortest, longest_needed)
        f["run_share"] = _windows((runs >= need) & ~miss, centres, round(cfg.flat_window_s * fs)).mean(axis=1)
        f["act"] = np.sqrt((_windows(diff, centres, round(cfg.motion_window_s * fs)) ** 2).mean(axis=1)) + 1e-12
        # the smallest change in the window (a coarse ADC's step): a running median equals a monotone stretch
        # exactly, so motion's level is often 0 there, and a typical value of 0 made every other frame motion
        step = _windows(np.where(diff > 1e-7 * scale, diff, np.inf), centres, round(cfg.motion_window_s * fs))
        f["step"] = np.minimum(step.min(axis=1), scale)
        # clipping: plateau samples at the window's extremes, not counted when the window is flat
        width = round(cfg.clip_window_s * fs)
        cw = _windows(buf, centres, width)
        plateau = _windows(equal | np.roll(equal, -1, axis=0), centres, width)
        hi, lo = cw.max(axis=1, keepdims=True), cw.min(axis=1, keepdims=True)
        f["clip_share"] = (((cw == hi) | (cw == lo)) & plateau).sum(axis=1) / (0.02 * fs)
        f["moving"] = ((hi - lo)[:, 0] > 1e-6 * scale).astype(float)
        f["line"], f["near"] = self._mains(buf, centres)  # (frames, 2, leads) dB at 50 and 60 Hz
        # the level itself (the absolute onset) stays on the Hann spectrum's dB, on which it was set
        line, near = self._mains(buf, centres, False) if cfg.mains_phasor else (f["line"], f["near"])
        f["mains_db"] = (line - near).max(axis=1)
        # baseline: a 0.3 s running median of 10 ms samples (robust to QRS complexes, unlike a mean);
        # taken after moving means over one 50 Hz and one 60 Hz period, which null the mains
        # and its harmonics, so that motion and wander do not respond to mains
        dec = max(1, round(0.01 * fs))
        m = buf.shape[0] // dec
        smooth = _boxcar(_boxcar(buf, round(fs / 50)), round(fs / 60))
        coarse = smooth[dec // 2 : m * dec : dec]
        h = max(1, round(cfg.baseline_median_s / 0.02))
        padded = np.concatenate([coarse[h:0:-1], coarse, coarse[-2 : -h - 2 : -1]])
        base = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * h + 1, axis=0), axis=-1)
        cc = np.minimum(centres // dec, m - 1) + 100
        edge = 100  # coarse samples of padding so that windows near the block's ends exist
        # wander: rms over 2 s of the baseline minus its 1.5 s mean (0.3-1 Hz: leaves slower drift aside),
        # less what the other leads' wander predicts of it
        wander = base - _boxcar(base, round(cfg.wander_highpass_s / 0.01))
        # near missing samples the held value's steps are no wander; zero there, they stay out of the regression
        if gap.any():
            wander[near_missing(gap, np.arange(m) * dec + dec // 2, self._reach["wander_signal"])] = 0.0
        wander = np.concatenate([wander[:1].repeat(edge, 0), wander, wander[-1:].repeat(edge, 0)])
        f["wander"] = self._wander.rms(wander, cc)
        resid = np.abs(coarse - base)
        resid = np.concatenate([resid[:1].repeat(edge, 0), resid, resid[-1:].repeat(edge, 0)])
        f["motion"] = np.median(_windows(resid, cc, round(cfg.motion_window_s * 100)), axis=1)
        return f

    def _score(self, buf: np.ndarray, centres: np.ndarray) -> np.ndarray:
        cfg, leads = self.cfg, len(self.labels)
        # a missing sample scores as flatline; only a gap of `missing_gap_s` stops the other kinds (edge/fetal/
        # quality_missing.py): set-a records lose single samples at every maternal QRS peak of a lead
        buf, miss, gap = buf[:, :leads], buf[:, leads:] > 0.5, buf[:, leads:] > 1.5
        near = frames_near_missing(gap, centres, self._reach)
        self._keep = ~near["wander"]
        f = self._features(buf, centres, miss, gap)
        self.last_features = f
        out = np.zeros((centres.size, len(SIGNAL_KINDS), buf.shape[1]), dtype=np.float32)
        act_ratio = f["act"] / (self._ref("act", f["act"]) + 1e-12)
        lost = np.where(near["act"], 0.0, np.clip((0.1 - act_ratio) / 0.09, 0.0, 1.0))
        out[:, 0] = np.maximum(np.maximum(f["run_share"], lost), missing_share(miss, centres, self.hop))
        # plateaus at the extremes beyond 3x the lead's 75th percentile (a coarse ADC makes some at every peak)
        onset = np.maximum(cfg.clip_onset, 3 * self._ref("clip", f["clip_share"], 75.0))
        out[:, 1] = f["moving"] * (1.0 - np.exp(-np.maximum(f["clip_share"] - onset, 0.0))) * (1 - out[:, 0])
        # the levels the onsets apply to (kept for benchmarks/studies/fetal_quality_tune.py): dB over, and ratios
        # to, the lead's typical value
        self.last_levels = {"mains": f["mains_db"] - self._ref("mains", f["mains_db"]), "mains_abs": f["mains_db"],
                            "wander": f["wander"] / (self._ref("wander", f["wander"]) + 1e-12),
                            "motion": f["motion"] / (np.maximum(self._ref("motion", f["motion"]), f["step"]) + 1e-12)}
        self.last_levels["mains_excess"] = excess_db(f["line"], f["near"], self._ref("line", f["line"]),
                                                     self._quantile("line", 84.0),
                                                     self._ref("near", f["near"]))
        rise = self.last_levels["mains_excess" if cfg.mains_excess else "mains"]
        out[:, 2] = mains_score(rise, f["mains_db"], cfg)
        out[:, 3] = cfg.wander_max * _ratio_score(self.last_levels["wander"], cfg.wander_onset, cfg.wander_spread)
        out[:, 4] = _ratio_score(self.last_levels["motion"], cfg.motion_onset, cfg.motion_spread)
        for k, kind in enumerate(SIGNAL_KINDS[1:], start=1):  # not to be judged next to missing samples
            out[:, k][near[kind]] = 0.0
        return out

    def _mains(self, buf: np.ndarray, centres: np.ndarray, phasor: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        powers = phasor_powers if (self.cfg.mains_phasor if phasor is None else phasor) else line_powers
        width = round(self.cfg.mains_window_s * self.fs)
        return powers(_windows(buf, centres, width), self.fs, self.cfg.mains_window_s)


def quality_scores(x: np.ndarray, fs: float, labels: Sequence[str], *, fetal_peaks: np.ndarray | None = None,
                   config: QualityConfig | None = None, prime: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Frame start times (f,) s and scores (f, len(KINDS), channels) float32 for x (n, channels) in uV.

    Reads x in blocks of `block_s`. fetal_peaks: sample indices of fetal beats (the low_fetal kind,
    the same for every lead); without them low_fetal is 0. prime: typical values from x's first
    `history_s` from the first frame on (QualityMonitor.prime; False: as a live stream).
    """
    cfg = config or QualityConfig()
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    monitor = QualityMonitor(fs, labels, cfg)
    step = max(1, round(cfg.block_s * fs))
    if prime:
        monitor.prime(x[i : i + step] for i in range(0, x.shape[0], step))
    parts_t, parts_s = [], []
    for start in range(0, max(x.shape[0], 1), step):
        t, s = monitor.push(x[start : start + step], final=start + step >= x.shape[0])
        parts_t.append(t)
        parts_s.append(s)
    times = np.concatenate(parts_t)
    signal = np.concatenate(parts_s)
    scores = np.zeros((times.size, len(KINDS), x.shape[1]), dtype=np.float32)
    scores[:, : len(SIGNAL_KINDS)] = signal
    if fetal_peaks is not None:
        scores[:, KINDS.index("low_fetal")] = low_fetal_scores(times, monitor.hop / fs, np.asarray(fetal_peaks) / fs,
                                                               cfg.low_fetal_max)[:, None]
    return times, scores
