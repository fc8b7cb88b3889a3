"""A learned bundle version: the fused bundle refitted on learned windows, its thresholds re-chosen.

The refitted members are scored in NumPy (``array_projection``: one .npz per member) and the bundle has
one variant, float32: the gateway has no TFLite converter to quantize with. The z-scales and both
thresholds come from out-of-fold scores of the learned windows (``refit.out_of_fold``), with the rule
the bundle's thresholds were chosen by (`vigil calibrate`'s ``Rule``: train's percentile, or a
calibration's fpr or percentile). Clip scores are the means of the fused window scores over
consecutive ``CLIP_SECONDS`` of learned time, as `vigil calibrate` cuts long recordings.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import MANIFEST, Bundle, load_bundle, sha256_file, write_manifest
from edge.bundle.manifest import DetectorEntry, Manifest, ModelEntry, ModelFile, Threshold, parse_manifest
from edge.bundle.manifest_parts import Calibration, NormalScores
from edge.commands.calibrate import Rule, _keep
from edge.detectors.array_projection import ARRAY_PROJECTION
from edge.detectors.fused import FUSED, RULES, fuse_scores
from edge.learn.refit import FOLDS, Member, Projection, members_of, out_of_fold
from edge.learn.store import clip_means
from edge.pipeline.calibration_scores import CLIP_SECONDS

VARIANT = "float32"
VARIANT_REASON = ("refitted on the gateway in NumPy (edge.learn): no TFLite converter there to quantize with, "
                  "so the members are float32 arrays")


def check_learnable(bundle: Bundle) -> list[Member]:
    """The members a learning period refits; ValueError saying why this bundle cannot learn."""
    m = bundle.manifest
    if m.modality != "audio" or m.detector_kind != FUSED:
        raise ValueError(f"{bundle.path}: a {m.modality} {m.detector_kind} bundle (expected the fused audio "
                         "bundle `vigil train audio` makes by default)")
    if m.detector_params.get("rule") not in RULES:
        raise ValueError(f"{bundle.path}: fusion rule {m.detector_params.get('rule')!r} (expected one of {RULES})")
    return members_of(m.detector_params, m.std)


def threshold_rule(manifest: Manifest) -> Rule:
    """The rule the bundle's thresholds were chosen by: its calibration's, else train's percentile."""
    rule = manifest.calibration.rule if manifest.calibration is not None else None
    if isinstance(rule, dict) and rule.get("kind") in ("fpr", "percentile"):
        return Rule(str(rule["kind"]), float(rule["value"]))
    method = manifest.threshold_method
    if method.get("method") in ("fpr", "percentile"):
        return Rule(str(method["method"]), float(method[method["method"]]))
    return Rule("percentile", 95.0)


def refit_fused(x: np.ndarray, members: list[Member], rule: str) -> tuple[dict[str, Projection],
                                                                            dict[str, list[float]], np.ndarray]:
    """Standardized learned windows x (n, dim) in time order -> each member's projection fitted on all of
    them, its z-scale [mean, std] of out-of-fold window scores, and the fused out-of-fold scores (n,)."""
    oof = out_of_fold(x, members)
    scales = {name: [float(s.mean()), max(float(s.std()), 1e-9)] for name, s in oof.items()}
    return {m.name: m.fit(x) for m in members}, scales, fuse_scores(oof, scales, rule)


def _npz(mu: np.ndarray, w: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, mu=mu, w=w)
    return buffer.getvalue()


def learned_manifest(bundle: Bundle, rows: np.ndarray, t: np.ndarray, *, stream: str, learned_s: float,
                     version: int, staging: Path) -> Manifest:
    """Refit on raw feature rows (n, dim) at learned seconds t (n,); write each member's .npz into
    ``staging`` and return the new manifest (written by the caller)."""
    members = check_learnable(bundle)
    m = bundle.manifest
    x = (rows.astype(np.float64) - m.mean) / m.std
    projections, scales, fused = refit_fused(x, members, str(m.detector_params["rule"]))
    clips = clip_means(fused, t, CLIP_SECONDS)
    rule = threshold_rule(m)
    threshold = Threshold(rule.threshold(fused), rule.threshold(clips))
    files = {}
    for name, projection in projections.items():
        blob = _npz(*projection)
        path = staging / f"{name}_{VARIANT}.npz"
        path.write_bytes(blob)
        files[name] = ModelFile(path.name, sha256_file(path), len(blob))
    params = dict(m.detector_params)
    params["members"] = [{**entry, "score": ARRAY_PROJECTION, "refit": "gateway"}
                         for entry in params.get("members", [])]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    how = (f"out-of-fold scores of {rows.shape[0]} learned windows ({learned_s:.0f} s of stream {stream}; "
           f"{FOLDS} folds by contiguous time blocks)")
    learned = {"stream": stream, "windows": int(rows.shape[0]), "seconds": round(float(learned_s), 1),
               "folds": FOLDS, "date": now, "from_version": int(m.provenance.get("version", 1) or 1),
               "from_sha256": bundle.variant().sha256}
    models = {VARIANT: ModelEntry(files, threshold, VARIANT, extra={"fusion": scales})}
    calibration = Calibration({VARIANT: NormalScores(_keep(fused), sorted(float(c) for c in clips))},
                              rule.to_json(), f"learned on the gateway: {how}", n_clips=int(clips.size), date=now)
    detector = DetectorEntry(m.detector.kind, m.detector.score, params, m.detector.description,
                             m.detector.supervised, {**m.detector.extra, "default_variant_reason": VARIANT_REASON})
    provenance: dict[str, Any] = {**m.provenance, "created": now, "version": version, "learned": learned}
    return replace(m, detector=detector, models=models, default_variant=VARIANT, calibration=calibration,
                   threshold_method={"method": rule.kind, rule.kind: rule.value, "of": how},
                   provenance=provenance, metrics={}, reliability={})


def write_learned(bundle: Bundle, rows: np.ndarray, t: np.ndarray, staging: Path, **options: Any) -> Bundle:
    """learned_manifest into the empty folder ``staging``, checked by loading it as the gateway does."""
    manifest = learned_manifest(bundle, rows, t, staging=staging, **options)
    parse_manifest(manifest.to_json(), staging / MANIFEST)
    write_manifest(staging, manifest)
    return load_bundle(staging)
