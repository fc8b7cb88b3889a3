"""The event rule of a fetal-ECG Donut bundle: its point threshold and debounce, from its own validation scores.

Donut scores every 60 ms point; a normal labour recording's scalp lead (Direct_1) has real electrode
artefacts and baseline excursions that score as high as injected motion or wander. With the threshold
at the 99th percentile of the normal validation scores and 3 points (0.18 s) over it opening an event,
a clean record raised about 166 events an hour (adfecgdb leave-one-record-out, 69 in 25 min). The
rule below opens an event only when 12 consecutive points (0.72 s) are over 1.5 times the 99.9th
percentile of the normal validation scores: no clean event in the same 25 min (1 when each record is
scored with the rule chosen on the other four: `python -m benchmarks.ecg_clean_events`, reports/fetal-ecg). It finds
none of the injected episodes as an event: on a scalp lead Donut ranks them (AUC) but cannot tell them
from real artefacts.

Validation scores are those the training set its threshold on: the last ``valid_fraction`` of each
training series by time (its window of context before it), points neither missing nor labelled (the
250 uV rule), scored on the gateway path by the bundle's default variant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle, load_bundle, write_manifest
from edge.bundle.manifest import DeciderSettings, Threshold
from edge.pipeline.series_scorer import Series, donut_scorer, score_series


@dataclass(frozen=True)
class EventRule:
    """threshold = ``margin`` x the ``percentile``-th percentile of the normal validation scores; an event
    opens after ``on_points`` consecutive points over it and closes after ``off_points`` at or under it."""

    percentile: float
    margin: float
    on_points: int
    off_points: int

    def threshold(self, normal_validation: np.ndarray) -> float:
        """The point threshold for normal validation scores (n,), n >= 1."""
        return float(self.margin * np.percentile(normal_validation, self.percentile))

    def describe(self) -> dict[str, Any]:
        """The manifest's ``threshold_method`` for this rule."""
        return {"method": "percentile", "percentile": self.percentile, "margin": self.margin,
                "of": "point scores on the validation part of the training series (last 30 % by time), "
                      "labelled and missing points excluded, times the margin",
                "decider": f"{self.on_points} points over the threshold open an event, {self.off_points} close it"}


BEFORE = EventRule(99.0, 1.0, 3, 3)  # the rule the bundled ECG model shipped with before
SHIPPED = EventRule(99.9, 1.5, 12, 3)


def validation_scores(bundle: Bundle, series: list[Series], variant: str | None = None) -> np.ndarray:
    """Normal validation point scores (m,) float64 of a variant (default: the bundle's) over its training series."""
    fraction = bundle.manifest.detector_params["valid_fraction"]
    window = bundle.ecg_spec.window
    scorer = donut_scorer(bundle, variant)
    out = []
    for s in series:
        cut = len(s.values) - int(len(s.values) * fraction)
        start = max(cut - window + 1, 0)  # the window before the validation part is its context
        part = Series(s.path, s.values[start:], s.missing[start:], s.labels[start:], s.position[start:],
                      s.position_name)
        scores = score_series(bundle, scorer, part)[cut - start :]
        keep = ~np.isnan(scores) & ~s.missing[cut:] & ~s.labels[cut:]
        out.append(scores[keep].astype(np.float64))
    return np.concatenate(out)


def apply_rule(folder: Path, series: list[Series], rule: EventRule = SHIPPED) -> float:
    """Write the rule's threshold (every variant, each on its own scores) and debounce into the bundle at
    ``folder`` (model files untouched); returns the default variant's threshold."""
    bundle = load_bundle(folder)
    manifest = bundle.manifest
    models = {}
    for variant, entry in manifest.models.items():
        threshold = rule.threshold(validation_scores(bundle, series, variant))
        models[variant] = replace(entry, threshold=Threshold(threshold))
    manifest = replace(manifest, models=models, threshold_method=rule.describe(),
                       decider_table=DeciderSettings(rule.on_points, rule.off_points))
    write_manifest(folder, manifest)
    return models[manifest.default_variant].threshold.window
