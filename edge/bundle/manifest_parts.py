"""The manifest's scoring parts, typed: ``calibration``, ``warmup``, a variant's ``combine``, and the
fetal stage's decisions (``fetal``).

Each part is a frozen dataclass with ``parse`` (from the manifest's table, every error naming the
field path) and ``to_json`` (the JSON object written to ``manifest.json``). Keys a part does not
know are kept in its ``extra`` and written back, so a manifest round-trips whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edge.config_table import Table
from edge.errors import BundleError

COMBINE_KIND = "kpi-combine"  # the Detector kind that serves a variant holding a "combine" entry
KPI_PARTS = ("donut", "zscore", "sr", "dzscore")  # every part a combined score may list, the menu's order
_OLD_PARTS = ("donut", "zscore")  # a bundle written before "parts" combined these two


def _extra(table: Table, known: set[str]) -> dict[str, Any]:
    return {k: v for k, v in table.table.items() if k not in known}


@dataclass(frozen=True)
class NormalScores:
    """One variant's normal scores a threshold rule runs on: window scores, and clip scores (audio)."""

    window: list[float]
    clip: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"window": self.window} | ({} if self.clip is None else {"clip": self.clip})

    @classmethod
    def parse(cls, table: Table) -> NormalScores:
        return cls(table.get("window", list, []), table.get("clip", list, None))


@dataclass(frozen=True)
class Calibration:
    """How the thresholds were chosen and the normal scores that `vigil calibrate` can re-choose them from.

    rule: the threshold rule's JSON ({"kind": "percentile", "value": 95.0}, ...); source: where the
    scores came from; clips, n_files, n_clips, date, history: what `vigil calibrate` records.
    """

    normal_scores: dict[str, NormalScores] = field(default_factory=dict)
    rule: dict[str, Any] | None = None
    source: str | None = None
    clips: list[dict[str, Any]] | None = None
    n_files: int | None = None
    n_clips: int | None = None
    date: str | None = None
    history: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.normal_scores:
            out["normal_scores"] = {v: s.to_json() for v, s in self.normal_scores.items()}
        optional = {"rule": self.rule, "source": self.source, "clips": self.clips, "n_files": self.n_files,
                    "n_clips": self.n_clips, "date": self.date, "history": self.history}
        return out | {k: v for k, v in optional.items() if v is not None} | self.extra

    @classmethod
    def parse(cls, table: Table) -> Calibration:
        scores = table.table_at("normal_scores", {})
        rule = table.table.get("rule")
        known = {"normal_scores", "source", "clips", "n_files", "n_clips", "date", "history"}
        return cls({v: NormalScores.parse(scores.table_at(v)) for v in scores.table},
                   rule if isinstance(rule, dict) else None,  # an older free-text rule stays in extra
                   table.get("source", str, None), table.get("clips", list, None), table.get("n_files", int, None),
                   table.get("n_clips", int, None), table.get("date", str, None), table.get("history", list, None),
                   _extra(table, known | ({"rule"} if isinstance(rule, dict) else set())))


@dataclass(frozen=True)
class Warmup:
    """The training series' last window - 1 points (values, missing) and the timestamp that would follow
    them (s): a KPI file starting there continues the series and is scored with them as context."""

    values: tuple[float, ...]
    missing: tuple[bool, ...]
    next_timestamp: int

    def to_json(self) -> dict[str, Any]:
        return {"values": list(self.values), "missing": list(self.missing), "next_timestamp": self.next_timestamp}

    @classmethod
    def parse(cls, table: Table) -> Warmup:
        values, missing = table.get("values", list), table.get("missing", list)
        if len(values) != len(missing):
            raise table.error(f"{table.key('missing')}: {len(missing)} flags for {len(values)} values "
                              "(expected one per value)")
        return cls(tuple(values), tuple(missing), table.get("next_timestamp", int))


@dataclass(frozen=True)
class CombineScales:
    """A combined KPI score: the largest of its parts, each scaled as (s - median) / scale.

    parts: the part names (KPI_PARTS); scales: per part (median, p99 - median) of its normal validation
    scores; z_weight multiplies the z-score's scaled score, donut_power powers Donut's (1.0 in bundles
    written before it); kind "max" and percentile 99.0 say how the scales were made.
    """

    parts: tuple[str, ...]
    scales: dict[str, tuple[float, float]]
    z_weight: float = 1.0
    donut_power: float = 1.0
    kind: str = "max"
    percentile: float = 99.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return ({"kind": self.kind, "percentile": self.percentile, "z_weight": self.z_weight,
                 "donut_power": self.donut_power, "parts": list(self.parts)}
                | {p: list(s) for p, s in self.scales.items()} | self.extra)

    @classmethod
    def from_json(cls, data: Any, where: str = "combine") -> CombineScales:
        """The scales of a variant's "combine" object as read from manifest.json."""
        return cls.parse(Table(data, where, Path(), BundleError))

    @classmethod
    def parse(cls, table: Table) -> CombineScales:
        parts = tuple(table.get("parts", list, list(_OLD_PARTS)))
        scales: dict[str, tuple[float, float]] = {}
        for part in parts:
            if part not in KPI_PARTS:
                raise table.error(f"{table.key('parts')}: {part!r} is not one of {', '.join(KPI_PARTS)}")
            pair = table.get(part, list)
            if len(pair) != 2 or not all(isinstance(x, (int, float)) for x in pair) or not pair[1] > 0:
                raise table.error(f"{table.key(part)}: {pair!r} (expected [median, scale > 0])")
            scales[part] = (float(pair[0]), float(pair[1]))
        number = (int, float)
        known = {"kind", "percentile", "z_weight", "donut_power", "parts", *parts}
        return cls(parts, scales, table.get("z_weight", number, 1.0), table.get("donut_power", number, 1.0),
                   table.get("kind", str, "max"), table.get("percentile", number, 99.0), _extra(table, known))


@dataclass(frozen=True)
class FetalSettings:
    """The fetal stage's decisions (manifest ``fetal`` table; `vigil beats` uses these defaults).

    Quality: a frame (0.1 s) is over when its score exceeds ``quality_threshold`` (0..1; wander and
    low_fetal on their own scale: times their highest score); ``quality_on_frames`` consecutive frames over
    open an event of that kind, ``quality_off_frames`` under close it (a fault that pauses for less stays
    one event); a frame under the threshold within ``quality_gap_frames`` of one over still counts as over
    (1 s: the FHR mask judges whole seconds, so a flickering score is a fault lasting through it). Only
    ``quality_event_kinds`` raise events (every kind's scores stay in `vigil beats`). The
    defaults follow from what a quality event is for: a user is told when the FHR has been lost or wrong
    for 10 s, so an event opens after 10 s of a fault of a kind that makes the FHR missing (the FHR
    mask's flatline, clipping, motion, and low_fetal); mains and wander, which the beat detector filters
    out, raise none (on clean recordings their 1-s episodes were most of the events: 224 an hour,
    reports/fetal-ecg/README.md). An FHR point is missing when, in its second, at least
    ``mask_lead_fraction`` of the leads had a flatline, clipping or motion score at or over the threshold,
    or low_fetal had. FHR events (bpm): bradycardia under ``brady_bpm``, tachycardia over ``tachy_bpm``,
    a deceleration ``decel_drop_bpm`` under the baseline (FIGO 2015).
    """

    quality_threshold: float = 0.5
    quality_on_frames: int = 100  # 10 s to open: the FHR unusable for 10 s
    quality_off_frames: int = 50  # 5 s clean to close
    mask_lead_fraction: float = 0.5  # one bad lead of four does not stop the fused beat detector
    brady_bpm: float = 110.0
    tachy_bpm: float = 160.0
    decel_drop_bpm: float = 15.0
    quality_gap_frames: int = 10  # 1 s
    quality_event_kinds: tuple[str, ...] = ("flatline", "clipping", "motion", "low_fetal")

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"quality_event_kinds": list(self.quality_event_kinds)}

    @classmethod
    def parse(cls, table: Table) -> FetalSettings:
        from edge.fetal.quality import KINDS  # here: edge.fetal imports this module

        table.expect({f.name for f in fields(cls)})
        d = cls()
        kinds = table.get("quality_event_kinds", list, list(d.quality_event_kinds))
        for kind in kinds:
            if kind not in KINDS:
                raise BundleError(f"{table.key('quality_event_kinds')}: {kind!r} is not one of {', '.join(KINDS)}")
        out = cls(table.positive("quality_threshold", d.quality_threshold),
                  table.positive("quality_on_frames", d.quality_on_frames, int),
                  table.positive("quality_off_frames", d.quality_off_frames, int),
                  table.positive("mask_lead_fraction", d.mask_lead_fraction),
                  table.positive("brady_bpm", d.brady_bpm), table.positive("tachy_bpm", d.tachy_bpm),
                  table.positive("decel_drop_bpm", d.decel_drop_bpm),
                  table.get("quality_gap_frames", int, d.quality_gap_frames), tuple(kinds))
        if out.quality_gap_frames < 0:
            raise BundleError(f"{table.key('quality_gap_frames')}: {out.quality_gap_frames} (expected an integer >= 0)")
        if out.mask_lead_fraction > 1 or out.brady_bpm >= out.tachy_bpm:
            raise BundleError(f"{table.where or 'fetal'}: mask_lead_fraction {out.mask_lead_fraction:g}, brady_bpm "
                              f"{out.brady_bpm:g}, tachy_bpm {out.tachy_bpm:g} (expected a fraction <= 1 and "
                              "brady_bpm < tachy_bpm)")
        return out
