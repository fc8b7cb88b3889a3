"""Streaming beat extraction: maternal and fetal QRS from abdominal leads in overlapping blocks.

Samples arrive in any chunk size. Every `core_s` seconds of new samples, the tracker processes a
window of `margin_s + core_s + margin_s` (filtering, maternal detection and cancellation, fetal
detection) and keeps the beats that fall in the core, so each beat is found with `margin_s` of
context on both sides and filter edge effects stay in the margins. A beat is therefore reported
`core_s + margin_s` seconds after it happened at most (plus the processing time), and memory is
one window whatever the recording's length. A file and a live stream give the same peaks.

Two things help the weak fetal signal of other devices (CinC 2013 set-a): each window tries the maternal
cancellation twice (the mean template, and the template scaled per beat: ``also_cancel``) and keeps the
fetal pick of the better rhythm quality; and the fetal rhythm of the last clear window is carried to the next
ones as a prior (``prior_quality``, FetalParams.prior_weight), so a window where noise or the maternal leftovers
offer another regular path, or half the rate, keeps to the fetus's. The windows are fixed whatever the chunk
size, so what is carried from one to the next is too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.fetal.cancel import cancel_maternal
from edge.fetal.fqrs import FetalParams, FetalPick, pick_fetal
from edge.fetal.mqrs import detect_maternal
from edge.fetal.prep import bandpass, notch_mains

PREP_BAND_HZ = (1.0, 100.0)


@dataclass(frozen=True)
class BeatParams:
    core_s: float = 6.0
    margin_s: float = 3.0
    cancel: str = "ts"
    # cancellations tried beside `cancel`, the window keeping the pick of the best rhythm_quality: the template
    # scaled per beat follows a maternal QRS whose amplitude changes beat to beat, which the plain mean leaves behind
    # (set-a-dev a02, a07, a09), but fits noise where it changes little (a48 0.967 -> 0.767 with it alone)
    also_cancel: tuple[str, ...] = ("ts-scaled",)
    components: int = 2
    fetal: FetalParams = field(default_factory=FetalParams)
    # a window's fetal rhythm becomes the next windows' prior (FetalParams.prior_weight) when its path's
    # rhythm_quality is under prior_quality; the prior is dropped after prior_windows windows without such a path
    prior_quality: float = 0.6
    prior_windows: int = 5


@dataclass
class BlockBeats:
    """Beats found in one core interval, as absolute sample indices (int64)."""

    start: int  # first sample of the core
    end: int  # one past its last sample
    maternal: np.ndarray
    fetal: np.ndarray


def process_window(x: np.ndarray, fs: float, params: BeatParams,
                   prior_rr: float | None = None) -> tuple[np.ndarray, FetalPick, np.ndarray]:
    """One window x (n, leads) µV, the fetal beat interval of the windows before (samples) if known ->
    (maternal peaks, the fetal pick (its peaks, quality and interval), residual (n, leads)); indices in the window."""
    xf = notch_mains(bandpass(x - np.median(x, axis=0), fs, *PREP_BAND_HZ), fs)
    maternal = detect_maternal(xf, fs)
    residual = cancel_maternal(xf, maternal, fs, method=params.cancel, components=params.components)
    pick = pick_fetal(residual, fs, params.fetal, maternal, prior_rr)
    for method in params.also_cancel:
        other = cancel_maternal(xf, maternal, fs, method=method, components=params.components)
        again = pick_fetal(other, fs, params.fetal, maternal, prior_rr)
        if again.quality < pick.quality:
            pick, residual = again, other
    return maternal, pick, residual


class BeatTracker:
    """Push (n, leads) float samples (NaN = missing) in order; get the beats of each finished core."""

    def __init__(self, fs: float, leads: int, params: BeatParams | None = None) -> None:
        self.fs = float(fs)
        self.leads = leads
        self.params = params or BeatParams()
        self.core = max(1, round(self.params.core_s * fs))
        self.margin = round(self.params.margin_s * fs)
        self.window = self.margin + self.core + self.margin
        self._buf = np.zeros((self.window, leads), dtype=np.float64)
        self._filled = self.margin  # the first window's left margin is zeros (no past yet)
        self._origin = -self.margin  # absolute index of _buf[0]
        self.samples = 0  # samples pushed so far
        self._last_fetal = -(10**12)
        self._last_maternal = -(10**12)
        # the fetal rhythm carried from window to window (windows are fixed, so any chunk size gives the same)
        self._prior_rr: float | None = None
        self._prior_age = 0

    @property
    def latency_s(self) -> float:
        """Worst-case delay from a beat to its report, processing time excluded."""
        return (self.core + self.margin) / self.fs

    @property
    def final_until(self) -> int:
        """Absolute sample index before which every beat has been reported."""
        return self._origin + self.margin

    def push(self, samples: np.ndarray) -> list[BlockBeats]:
        """samples (n, leads) -> the beats of every core completed by them (often none)."""
        samples = np.asarray(samples, dtype=np.float64).reshape(-1, self.leads)
        self.samples += samples.shape[0]
        out = []
        pos = 0
        while pos < samples.shape[0]:
            take = min(samples.shape[0] - pos, self._buf.shape[0] - self._filled)
            self._buf[self._filled:self._filled + take] = samples[pos:pos + take]
            self._filled += take
            pos += take
            if self._filled == self._buf.shape[0]:
                out.append(self._process(self._buf))
                keep = self.margin + self.margin
                self._buf[:keep] = self._buf[self.core:self.core + keep]
                self._filled = keep
                self._origin += self.core
        return out

    def finish(self) -> list[BlockBeats]:
        """Process what is left (the last core and a shortened right margin)."""
        tail = self._filled - self.margin
        if tail <= 0 or self.samples == 0:
            return []
        window = self._buf[:self._filled]
        end = self._origin + self._filled
        return [self._process(window, core_end=end)]

    def _process(self, window: np.ndarray, core_end: int | None = None) -> BlockBeats:
        start = self._origin + self.margin
        end = core_end if core_end is not None else start + self.core
        x = window.copy()
        bad = ~np.isfinite(x)
        if bad.any():  # missing samples: zero (after the lead's median) so filters stay finite
            x[bad] = 0.0
        first_real = max(0, -self._origin)  # no samples before the recording's start
        if first_real:
            x[:first_real] = x[first_real]
        maternal, pick, _ = process_window(x, self.fs, self.params, self._prior_rr)
        self._carry(pick)
        maternal = self._keep(maternal, start, end, "_last_maternal", 0.25)
        fetal = self._keep(pick.peaks, start, end, "_last_fetal", 0.2)
        return BlockBeats(start, end, maternal, fetal)

    def _carry(self, pick: FetalPick) -> None:
        """A clear fetal rhythm becomes the prior; an old prior is forgotten (the rate may have moved on)."""
        if pick.quality < self.params.prior_quality:
            self._prior_rr, self._prior_age = pick.rr, 0
        else:
            self._prior_age += 1
            if self._prior_age > self.params.prior_windows:
                self._prior_rr = None

    def _keep(self, peaks: np.ndarray, start: int, end: int, last: str, min_gap_s: float) -> np.ndarray:
        absolute = peaks.astype(np.int64) + self._origin
        absolute = absolute[(absolute >= start) & (absolute < end) & (absolute >= 0)]
        # a beat just before the core edge can be found again just after it by the next window
        gap = round(min_gap_s * self.fs)
        if absolute.size and absolute[0] - getattr(self, last) < gap:
            absolute = absolute[1:]
        if absolute.size:
            setattr(self, last, int(absolute[-1]))
        return absolute


def detect_beats(x: np.ndarray, fs: float, params: BeatParams | None = None,
                 chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """A whole recording x (n, leads) µV through the tracker -> (maternal, fetal) absolute peaks."""
    tracker = BeatTracker(fs, x.shape[1], params)
    blocks: list[BlockBeats] = []
    for i in range(0, x.shape[0], chunk):
        blocks += tracker.push(x[i:i + chunk])
    blocks += tracker.finish()
    maternal = np.concatenate([b.maternal for b in blocks]) if blocks else np.empty(0, np.int64)
    fetal = np.concatenate([b.fetal for b in blocks]) if blocks else np.empty(0, np.int64)
    return maternal.astype(np.int64), fetal.astype(np.int64)
