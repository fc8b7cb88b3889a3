"""The fused machine-sound detector: several member models on one feature row, their scores z-normalised
and fused without labels (the default of `vigil train audio`; train.fused_audio fits it).

The manifest's ``detector.params`` lists the members (name and how each scores: a registered kind
such as ``projection_norm`` or ``model_output``) and the rule (``mean``, ``max`` or ``min``); each
variant holds one model file per member (role = member name: a .tflite, or the .npz of a member
refitted on the gateway, ``array_projection``) and, under ``fusion``, each member's
[mean, std] of its out-of-fold normal window scores on that variant. Members run in the bundle's
order, each on the whole standardized row (its model slices its own columns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle
from edge.detectors.array_projection import ArrayProjectionDetector
from edge.detectors.base import Detector, kinds, register
from edge.detectors.interpreter import TFLiteModel, load_interpreter
from edge.detectors.tflite import _TFLiteDetector
from edge.errors import BundleError

FUSED = "fused"
# the label-free fusion rules, each over the members axis
REDUCERS: dict[str, Callable[..., Any]] = {"mean": np.mean, "max": np.max, "min": np.min}
RULES = tuple(REDUCERS)


def fuse_scores(scores: dict[str, np.ndarray], scales: dict[str, list[float]], rule: str) -> np.ndarray:
    """Members' scores (n,) and each member's [mean, std] of normal scores -> the rule over their
    z-scores (n,) float64."""
    z = np.stack([(np.asarray(scores[name], np.float64) - scales[name][0]) / scales[name][1] for name in scales])
    return np.asarray(REDUCERS[rule](z, axis=0))


@register(FUSED)
class FusedDetector(Detector):
    """Rows (n, dim) in the features' units -> fused score (n,) float32: rule over members of (s - mean) / std."""

    def __init__(self, members: dict[str, Detector], scales: dict[str, tuple[float, float]], rule: str) -> None:
        if rule not in RULES or set(members) != set(scales):
            raise ValueError(f"rule {rule!r} (expected one of {RULES}), members {sorted(members)} and scales "
                             f"{sorted(scales)} must match")
        self.members, self.scales, self.rule = members, scales, rule

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str, *, num_threads: int = 1, **_: Any) -> FusedDetector:
        chosen = bundle.variant(variant)
        params = bundle.manifest.detector_params
        fusion = chosen.entry.extra.get("fusion")
        where = f"{bundle.path}: models.{chosen.name}"
        if not isinstance(fusion, dict):
            raise BundleError(f"{where}.fusion missing (expected each member's [mean, std] of normal scores)")
        registered = kinds()
        mean, std = bundle.normalization()
        members: dict[str, Detector] = {}
        scales = {}
        for member in params.get("members", []):
            name, score = member.get("name"), member.get("score")
            kind = registered.get(score)
            pair = fusion.get(name)
            tflite = kind is not None and issubclass(kind, _TFLiteDetector)
            if not (tflite or kind is ArrayProjectionDetector) or name not in chosen.paths:
                raise BundleError(f"{where}: member {name!r} scores by {score!r} (expected a TFLite kind or "
                                  f"{ArrayProjectionDetector.__name__}'s, and a file of role {name!r})")
            if not (isinstance(pair, list) and len(pair) == 2 and pair[1] > 0):
                raise BundleError(f"{where}.fusion.{name}: {pair!r} (expected [mean, std > 0])")
            if tflite:
                assert kind is not None and issubclass(kind, _TFLiteDetector)
                members[name] = kind(TFLiteModel(load_interpreter(chosen.paths[name], num_threads=num_threads)),
                                     mean, std)
            else:  # refitted on the gateway (edge.learn): arrays scored in NumPy
                members[name] = ArrayProjectionDetector.from_file(chosen.paths[name], mean, std)
            scales[name] = (float(pair[0]), float(pair[1]))
        rule = params.get("rule")
        if not members or rule not in RULES:
            raise BundleError(f"{bundle.path}: detector.params lists {len(members)} members and rule {rule!r} "
                              f"(expected members and one of {', '.join(RULES)})")
        return cls(members, scales, str(rule))

    def member_scores(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's z-normalised scores (n,) float64: 0 is a typical normal window, 1 one std above."""
        return {name: (det.score(features).astype(np.float64) - self.scales[name][0]) / self.scales[name][1]
                for name, det in self.members.items()}

    def attribution(self, row: np.ndarray) -> dict[str, Any] | None:
        """Which member heard one feature row (dim,) most: {"member": name, "z": {member: z}}. Under the max
        rule that member's z is the fused score; under mean or min every member counts, and this names the
        one that moved furthest."""
        z = {name: round(float(s[0]), 3) for name, s in self.member_scores(np.asarray(row)[None, :]).items()}
        return {"member": max(z, key=z.__getitem__), "z": z}

    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray:
        if features.shape[0] == 0:
            return np.empty(0, dtype=np.float32)
        z = np.stack(list(self.member_scores(features).values()))
        return np.asarray(REDUCERS[self.rule](z, axis=0), dtype=np.float32)
