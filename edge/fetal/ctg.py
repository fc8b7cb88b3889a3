"""A cardiotocogram (CTG) reading of an FHR series by the FIGO 2015 intrapartum definitions: deterministic rules.

Source: Ayres-de-Campos D, Spong CY, Chandraharan E, for the FIGO Intrapartum Fetal Monitoring Expert
Consensus Panel. FIGO consensus guidelines on intrapartum fetal monitoring: Cardiotocography. Int J
Gynecol Obstet 2015;131:13-24, doi:10.1016/j.ijgo.2015.06.020 (sections 3 and 4, table 3). In its terms:

- baseline: the mean level of the most horizontal, least oscillatory FHR segments, estimated in periods of
  10 min, in bpm; normal 110-160. Here: per 10-min period (counted back from the end of the series, so
  that the last period is the most recent 10 min), the mean of the valid FHR outside accelerations and
  decelerations; ``baseline_bpm`` is the last readable period's, rounded to 5 bpm as a clinician reads
  it off the paper (the exact mean is ``baseline_mean_bpm``; the rules use the exact mean). A period is
  readable with at least half of it valid FHR (``min_period_cover``).
- variability: the average bandwidth amplitude of the FHR in 1-min segments; normal 5-25 bpm. Here the
  range of the middle 90 % of the FHR (smoothed over 1 s; edge.fetal.fhr_events.bandwidths: a spike of a
  few beats is not bandwidth) per minute outside accelerations and decelerations, minutes at least half
  valid, averaged over the period.
- acceleration: an abrupt (onset to peak under 30 s) rise above the baseline of more than 15 bpm lasting
  more than 15 s and under 10 min; deceleration: a fall below the baseline of more than 15 bpm lasting
  more than 15 s, prolonged when it lasts more than 3 min. On the 4 Hz grid "more than" and "at least"
  differ by one sample: the rules use at least. Start and end: where the excursion crosses 5 bpm.
- bradycardia / tachycardia: a baseline under 110 / over 160 bpm for more than 10 min; reduced
  variability: under 5 bpm for more than 50 min (in baseline segments); increased: over 25 bpm for more
  than 30 min. These and the decelerations are the FHR rule events (edge.fetal.fhr_events): one rule
  set for the reading and for the live events.
- category (table 3): pathological with a baseline under 100 bpm, reduced or increased variability,
  repetitive decelerations for more than 30 min (20 min with reduced variability) or a deceleration of
  more than 5 min; normal with every readable period's baseline in 110-160, variability in 5-25, no
  repetitive decelerations; suspicious otherwise (lacking a normal feature, no pathological one).

What FHR alone cannot say. Decelerations are "repetitive" when they come with more than half of the
uterine contractions, and late / early / variable by their timing against the contractions: there is
no toco channel here, so decelerations are not typed, and they are taken as repetitive when 3 or more
follow each other at most 5 min apart (contractions come every 2-5 min in active labour, so this is
about every other contraction or more). Repetitive decelerations are therefore judged pathological by
duration whatever their type, where FIGO names late and prolonged ones: on the side of calling
attention. A single prolonged deceleration of 3-5 min is read as suspicious (not a normal feature,
not the pathological > 5 min). The sinusoidal pattern is not detected.

Short series. The category needs one readable 10-min period; with less, ``category`` is None and
``reason`` says why. With at least ``min_baseline_s`` of valid FHR but no readable period, the
baseline and variability are given over what there is, flagged ``provisional`` (a clinician looking
at a 5-min strip sees a level, but would not classify it); under that, ``baseline_bpm`` is None too.
``covered_s`` counts only valid FHR (not gaps, not points quality masked).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.fetal.fhr_events import (
    FhrConfig,
    FhrEvent,
    bandwidths,
    baseline,
    bridge_gaps,
    events_from_values,
    resample_fhr,
    runs,
    smooth_fhr,
)

CATEGORIES = ("normal", "suspicious", "pathological")
DECELERATION_KINDS = ("deceleration", "prolonged_deceleration")


@dataclass(frozen=True)
class CtgConfig:
    """Durations in seconds, levels in bpm (FIGO 2015 by default); ``fhr``: the event rules' settings."""

    fhr: FhrConfig = field(default_factory=FhrConfig)
    period_s: float = 600.0
    min_period_cover: float = 0.5
    min_baseline_s: float = 120.0
    round_bpm: float = 5.0
    pathological_baseline_bpm: float = 100.0
    accel_rise_bpm: float = 15.0
    accel_min_s: float = 15.0
    accel_max_s: float = 600.0
    accel_onset_s: float = 30.0
    variability_low_bpm: float = 5.0
    variability_high_bpm: float = 25.0
    increased_min_s: float = 1800.0
    repetitive_count: int = 3
    repetitive_gap_s: float = 300.0
    repetitive_pathological_s: float = 1800.0
    repetitive_reduced_s: float = 1200.0
    prolonged_pathological_s: float = 300.0


@dataclass(frozen=True)
class Excursion:
    """An acceleration or deceleration: [start_s, end_s) s, ``bpm`` the largest distance from the baseline
    (height or depth, positive), ``prolonged`` (decelerations over 3 min)."""

    start_s: float
    end_s: float
    bpm: float
    prolonged: bool = False


@dataclass
class CtgReading:
    """The reading of one FHR series (module docstring). None where it cannot be read, with ``reason``."""

    span_s: float
    covered_s: float
    baseline_bpm: float | None = None
    baseline_mean_bpm: float | None = None
    variability_bpm: float | None = None
    provisional: bool = False
    accelerations: list[Excursion] = field(default_factory=list)
    decelerations: list[Excursion] = field(default_factory=list)
    category: str | None = None
    findings: list[str] = field(default_factory=list)  # what is not normal, behind the category
    reason: str | None = None  # why the category (or the baseline) is None
    periods: list[dict[str, float | None]] = field(default_factory=list)
    events: list[FhrEvent] = field(default_factory=list)  # the FHR rule events it was read with

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline_bpm": self.baseline_bpm, "baseline_mean_bpm": self.baseline_mean_bpm,
            "variability_bpm": self.variability_bpm, "provisional": self.provisional,
            "accelerations": [{"start_s": a.start_s, "end_s": a.end_s, "height_bpm": a.bpm}
                              for a in self.accelerations],
            "decelerations": [{"start_s": d.start_s, "end_s": d.end_s, "depth_bpm": d.bpm, "prolonged": d.prolonged}
                              for d in self.decelerations],
            "category": self.category, "findings": self.findings, "reason": self.reason,
            "covered_s": self.covered_s, "span_s": self.span_s, "periods": self.periods,
        }

    def summary(self) -> str:
        """One line for a reader: baseline, variability, excursions, category (or why there is none)."""
        base = "-" if self.baseline_bpm is None else f"{self.baseline_bpm:g} bpm" + (" (provisional)"
                                                                                   if self.provisional else "")
        var = "-" if self.variability_bpm is None else f"{self.variability_bpm:.1f} bpm"
        prolonged = sum(d.prolonged for d in self.decelerations)
        text = (f"baseline {base}, variability {var}, {len(self.accelerations)} accelerations, "
                f"{len(self.decelerations)} decelerations ({prolonged} prolonged), "
                f"{self.covered_s:.0f} of {self.span_s:.0f} s valid; category {self.category or '-'}")
        if self.findings:
            text += " (" + "; ".join(self.findings) + ")"
        return text + (f": {self.reason}" if self.reason else "")


def ctg_reading(t_s: np.ndarray, bpm: np.ndarray, duration_s: float | None = None,
                config: CtgConfig | None = None, *, start_s: float = 0.0) -> CtgReading:
    """The reading of an FHR series (t_s, bpm) at beats (k,), NaN = missing, over [start_s, duration_s) s."""
    cfg = config or CtgConfig()
    t_s = np.asarray(t_s, dtype=float) - start_s
    end = None if duration_s is None else duration_s - start_s
    grid, raw = resample_fhr(t_s, bpm, end, cfg.fhr)
    return reading_from_grid(grid + start_s, raw, cfg)


def reading_from_grid(grid: np.ndarray, raw: np.ndarray, config: CtgConfig | None = None) -> CtgReading:
    """The reading of a regular FHR grid: times (m,) s at ``fhr.rate_hz``, bpm (m,) with NaN missing."""
    with warnings.catch_warnings():  # all-missing stretches make empty NaN means there: expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return _read(grid, raw, config or CtgConfig())


def _read(grid: np.ndarray, raw: np.ndarray, cfg: CtgConfig) -> CtgReading:
    rate = cfg.fhr.rate_hz
    step = 1.0 / rate
    span = round(float(grid.size * step), 2)
    valid = ~np.isnan(raw)
    reading = CtgReading(span_s=span, covered_s=round(float(valid.sum() * step), 2))
    values = smooth_fhr(bridge_gaps(raw, round(cfg.fhr.bridge_s * rate)), round(cfg.fhr.smooth_s * rate))
    base = baseline(values, cfg.fhr)
    reading.events = events_from_values(grid, values, base, cfg.fhr)
    decels = [e for e in reading.events if e.kind in DECELERATION_KINDS]
    reading.decelerations = [Excursion(e.start_s, e.end_s, _extreme(grid, base - values, e.start_s, e.end_s),
                                       e.kind == "prolonged_deceleration") for e in decels]
    reading.accelerations = _accelerations(grid, values, base, cfg)
    excluded = np.zeros(grid.size, dtype=bool)
    for x in reading.accelerations + reading.decelerations:
        excluded |= (grid >= x.start_s) & (grid < x.end_s)
    level = np.where(excluded | ~valid, np.nan, values)  # bridged points carry the rules over, not the levels read
    minute = max(1, round(cfg.fhr.variability_segment_s * rate))
    amps = _minute_amplitudes(level, minute)
    per = round(cfg.period_s * rate)
    periods = []
    for k in range(grid.size // per):  # from the end back: the last period is the most recent 10 min
        a, b = grid.size - (k + 1) * per, grid.size - k * per
        periods.append(_period(grid, valid, level, a, b, minute, cfg))
    reading.periods = periods[::-1]
    readable = [p for p in reading.periods if p["baseline_bpm"] is not None]
    if readable:
        last = readable[-1]
        reading.baseline_mean_bpm, reading.variability_bpm = last["baseline_bpm"], last["variability_bpm"]
    elif reading.covered_s >= cfg.min_baseline_s and np.isfinite(level).any():
        reading.provisional = True
        reading.baseline_mean_bpm = _round(np.nanmean(level), 1)
        reading.variability_bpm = _round(np.nanmean(amps), 1) if np.isfinite(amps).any() else None
    if reading.baseline_mean_bpm is not None:
        reading.baseline_bpm = float(np.floor(reading.baseline_mean_bpm / cfg.round_bpm + 0.5) * cfg.round_bpm)
    if not readable:
        need = (f"a 10-min period at least {cfg.min_period_cover:.0%} valid" if span >= cfg.period_s
                else f"{cfg.period_s / 60:g} min of FHR")
        base_note = ("the baseline is provisional" if reading.baseline_bpm is not None
                     else f"no baseline (needs {cfg.min_baseline_s:.0f} s of valid FHR)")
        reading.reason = (f"{reading.covered_s:.0f} s of valid FHR over {span:.0f} s: {base_note}, "
                          f"no FIGO category (needs {need})")
        return reading
    reading.category, reading.findings = _category(reading, readable, amps, minute * step, cfg)
    return reading


def _round(x: float | np.floating, digits: int) -> float:
    return round(float(x), digits)


def _extreme(grid: np.ndarray, distance: np.ndarray, start_s: float, end_s: float) -> float:
    inside = (grid >= start_s) & (grid < end_s)
    return _round(np.nanmax(distance[inside]), 1) if np.isfinite(distance[inside]).any() else 0.0


def _accelerations(grid: np.ndarray, values: np.ndarray, base: np.ndarray, cfg: CtgConfig) -> list[Excursion]:
    """Rises of at least accel_rise_bpm for accel_min_s, from and back to within decel_edge_bpm of the baseline,
    abrupt (edge to peak within accel_onset_s) and shorter than accel_max_s."""
    rate = cfg.fhr.rate_hz
    with np.errstate(invalid="ignore"):
        rise = values - base
        core = np.zeros(grid.size, dtype=bool)
        for a, b in runs(rise >= cfg.accel_rise_bpm):
            core[a:b] = (b - a) / rate >= cfg.accel_min_s
        out = []
        for a, b in runs(rise >= cfg.fhr.decel_edge_bpm):
            if not core[a:b].any() or (b - a) / rate >= cfg.accel_max_s:
                continue
            peak = a + int(np.nanargmax(rise[a:b]))
            if (peak - a) / rate < cfg.accel_onset_s:
                out.append(Excursion(_round(grid[a], 3), _round(grid[b - 1] + 1 / rate, 3), _round(rise[peak], 1)))
    return out


def _minute_amplitudes(level: np.ndarray, minute: int) -> np.ndarray:
    """Per whole minute counted back from the end (n,): the bandwidth of level (NaN where under half is valid)."""
    return bandwidths(level[level.size % minute :], minute)


def _period(grid: np.ndarray, valid: np.ndarray, level: np.ndarray, a: int, b: int, minute: int,
            cfg: CtgConfig) -> dict[str, float | None]:
    """One 10-min period [a, b) of the grid: its span, valid seconds, baseline and variability (None if unreadable)."""
    step = 1.0 / cfg.fhr.rate_hz
    covered = float(valid[a:b].sum() * step)
    out: dict[str, float | None] = {"start_s": _round(grid[a], 2), "end_s": _round(grid[b - 1] + step, 2),
                                    "covered_s": _round(covered, 2), "baseline_bpm": None, "variability_bpm": None}
    part = level[a:b]
    if covered >= cfg.min_period_cover * (b - a) * step and np.isfinite(part).any():
        out["baseline_bpm"] = _round(np.nanmean(part), 1)
        amps = _minute_amplitudes(part, minute)
        out["variability_bpm"] = _round(np.nanmean(amps), 1) if np.isfinite(amps).any() else None
    return out


def _repetitive_spans(decels: list[Excursion], cfg: CtgConfig) -> list[tuple[float, float]]:
    """(start_s, end_s) of each run of repetitive_count or more decelerations at most repetitive_gap_s apart."""
    groups: list[list[Excursion]] = []
    for d in decels:
        if groups and d.start_s - groups[-1][-1].start_s <= cfg.repetitive_gap_s:
            groups[-1].append(d)
        else:
            groups.append([d])
    return [(g[0].start_s, g[-1].end_s) for g in groups if len(g) >= cfg.repetitive_count]


def _category(reading: CtgReading, readable: list[dict[str, float | None]], amps: np.ndarray, minute_s: float,
              cfg: CtgConfig) -> tuple[str, list[str]]:
    """FIGO table 3 over the whole series: (category, findings: each feature that is not normal)."""
    pathological: list[str] = []
    suspicious: list[str] = []
    bases = [float(p["baseline_bpm"]) for p in readable if p["baseline_bpm"] is not None]
    low, high = min(bases), max(bases)
    if low < cfg.pathological_baseline_bpm:
        pathological.append(f"baseline {low:.0f} bpm (under {cfg.pathological_baseline_bpm:g})")
    elif low < cfg.fhr.brady_bpm:
        suspicious.append(f"baseline {low:.0f} bpm (under {cfg.fhr.brady_bpm:g})")
    if high > cfg.fhr.tachy_bpm:
        suspicious.append(f"baseline {high:.0f} bpm (over {cfg.fhr.tachy_bpm:g})")
    kinds = {e.kind for e in reading.events}
    for kind in ("bradycardia", "tachycardia"):
        if kind in kinds:
            suspicious.append(kind.replace("_", " ") + " over 10 min")
    reduced = "reduced_variability" in kinds
    if reduced:
        pathological.append("reduced variability over 50 min")
    with np.errstate(invalid="ignore"):
        increased = max([(b - a) * minute_s for a, b in runs(amps > cfg.variability_high_bpm)], default=0.0)
    if increased > cfg.increased_min_s:
        pathological.append(f"increased variability for {increased / 60:.0f} min")
    variabilities = [float(p["variability_bpm"]) for p in readable if p["variability_bpm"] is not None]
    if not reduced and variabilities and min(variabilities) < cfg.variability_low_bpm:
        suspicious.append(f"variability {min(variabilities):.1f} bpm (under {cfg.variability_low_bpm:g})")
    if variabilities and max(variabilities) > cfg.variability_high_bpm and increased <= cfg.increased_min_s:
        suspicious.append(f"variability {max(variabilities):.1f} bpm (over {cfg.variability_high_bpm:g})")
    longest = max((d.end_s - d.start_s for d in reading.decelerations), default=0.0)
    if longest > cfg.prolonged_pathological_s:
        pathological.append(f"a deceleration of {longest / 60:.1f} min (over {cfg.prolonged_pathological_s / 60:g})")
    elif any(d.prolonged for d in reading.decelerations):
        suspicious.append(f"a prolonged deceleration of {longest / 60:.1f} min")
    limit = cfg.repetitive_reduced_s if reduced else cfg.repetitive_pathological_s
    for a, b in _repetitive_spans(reading.decelerations, cfg):
        (pathological if b - a > limit else suspicious).append(f"repetitive decelerations for {(b - a) / 60:.0f} min")
    if pathological:
        return "pathological", pathological + suspicious
    return ("suspicious", suspicious) if suspicious else ("normal", [])
