"""`vigil calibrate`: re-choose a bundle's thresholds from normal recordings, without retraining.

The recordings are scored on the gateway code path (the code `vigil score` runs), per model
variant; a rule turns the normal scores into a threshold:

- ``fpr F``: the smallest observed score s such that at most floor(F * n) of the n scores are
  above s (an empirical false-positive rate <= F on these recordings; with few clips and a small
  F this is the largest score);
- ``percentile P``: numpy's linear-interpolated P-th percentile (as `vigil train` chooses).

Audio bundles get a clip threshold (rule on clip scores, the mean of a clip's window scores) and a
window threshold (rule on every window score, pooled). Donut (ECG, KPI) bundles score points:
the rule runs on the scores of points that end a full window and are neither missing nor labelled;
their clip threshold is set equal to the window threshold.

From a learn store (``--features STORE``: the feature rows a stream's learning period kept, under the
service's state directory learn/STREAM) the rows are scored by each variant's detector; clip scores
are the mean window score over each ``clip_seconds`` of learned time.

Without recordings the rule runs on the normal score distribution the bundle stores in
the manifest's ``calibration.normal_scores`` (out-of-fold scores written at training time, or
the scores of the last calibration's recordings). The model files are never touched, so their
sha256 stay valid; the result is written as a new bundle (``out``) or, only when asked
(``force``), over the bundle's manifest (atomic rename). Each calibration appends the thresholds
it replaced to ``calibration["history"]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import MANIFEST, Bundle, load_bundle, manifest_text, sha256_file, write_manifest
from edge.bundle.manifest import Manifest, Threshold, parse_manifest
from edge.bundle.manifest_parts import Calibration, NormalScores
from edge.errors import BundleError, ConfigError, InputFileError
from edge.names import recordings_in
from edge.pipeline.calibration_scores import CLIP_SECONDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """How a threshold is chosen from normal scores: kind "fpr" (value in [0, 1)) or "percentile" ((0, 100])."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind == "fpr" and not 0 <= self.value < 1:
            raise ConfigError(f"--fpr {self.value}: expected a false-positive rate in [0, 1)")
        if self.kind == "percentile" and not 0 < self.value <= 100:
            raise ConfigError(f"--percentile {self.value}: expected a value in (0, 100]")
        if self.kind not in ("fpr", "percentile"):
            raise ConfigError(f"calibration rule {self.kind!r}: expected 'fpr' or 'percentile'")

    def threshold(self, scores: np.ndarray) -> float:
        """The threshold for normal scores (n,), n >= 1; NaNs are ignored."""
        x = np.sort(np.asarray(scores, dtype=np.float64)[~np.isnan(scores)])
        if x.size == 0:
            raise ConfigError("no normal scores to calibrate on")
        if self.kind == "percentile":
            return float(np.percentile(x, self.value))
        allowed = int(np.floor(self.value * x.size + 1e-9))  # scores allowed strictly above the threshold
        return float(x[x.size - 1 - allowed])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _keep(scores: np.ndarray, limit: int = 20000) -> list[float]:
    """Scores to store: all of them, or `limit` evenly spaced order statistics of a longer list."""
    x = np.sort(scores)
    if x.size > limit:
        x = x[np.linspace(0, x.size - 1, limit).round().astype(int)]
    return [float(v) for v in x]


def _hash(path: Path) -> str:
    return sha256_file(path) if path.is_file() else hashlib.sha256(b"").hexdigest()


def new_scores(bundle: Bundle, files: list[Path], clip_seconds: float = CLIP_SECONDS,
               ) -> dict[str, NormalScores]:
    """normal_scores per variant from recordings, scored on the gateway path."""
    fitted = {f.get("sha256") for f in bundle.manifest.provenance.get("fit_files", [])}
    modality = bundle.input_modality
    for path in files:  # every recording checked before anything else is said
        modality.check_normal_recording(bundle, path)
    for path in files:
        if path.is_file() and _hash(path) in fitted:
            log.warning("%s: the bundle was fitted on this recording; its scores are optimistic "
                        "(the threshold will be low)", path)
    result: dict[str, NormalScores] = {}
    for variant in bundle.variants:
        scores = modality.normal_scores(bundle, files, variant, clip_seconds)
        result[variant] = NormalScores(**{level: _keep(scores[level]) for level in modality.levels})
    return result


def _expand(files: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files as given; a folder stands for the recordings in it (and below) with these suffixes, sorted."""
    out: list[Path] = []
    for path in files:
        if path.is_dir():
            found = recordings_in(path, suffixes)
            if not found:
                raise InputFileError(f"{path}: no recordings in this folder (expected {' or '.join(suffixes)} files)")
            out.extend(found)
        else:
            out.append(path)
    seen: dict[Path, Path] = {}
    for path in out:  # `normal/*.wav normal/`: each clip counted twice would move an --fpr threshold
        first = seen.setdefault(path.resolve(), path)
        if first is not path:
            raise InputFileError(f"{path}: given twice (also as {first}); expected each recording once")
    return out


def feature_scores(bundle: Bundle, store_path: Path, clip_seconds: float = CLIP_SECONDS) -> dict[str, NormalScores]:
    """normal_scores per variant from a learn store's rows, scored by each variant's detector."""
    from edge.detectors.base import load_detector
    from edge.learn.store import clip_means, open_store

    rows, t = open_store(store_path).rows()
    dim = int(bundle.manifest.mean.shape[0])
    if bundle.modality != "audio" or rows.shape[1] != dim or rows.shape[0] == 0:
        raise InputFileError(f"--features {store_path}: {rows.shape[0]} rows of {rows.shape[1]} values (expected "
                             f"rows of the {dim} features of the {bundle.modality} bundle {bundle.path})")
    result = {}
    for variant in bundle.variants:
        window = load_detector(bundle, variant).score(rows).astype(np.float64)
        result[variant] = NormalScores(_keep(window), _keep(clip_means(window, t, clip_seconds)))
    return result


def stored_scores(bundle: Bundle) -> dict[str, NormalScores]:
    """The normal score distribution the bundle keeps, checked to cover every variant."""
    calibration = bundle.manifest.calibration
    stored = calibration.normal_scores if calibration is not None else {}
    if not stored:
        raise BundleError(f"{bundle.path}: manifest has no calibration.normal_scores (a bundle written before "
                          "vigil kept its normal scores); expected normal recordings to calibrate on")
    for variant in bundle.variants:
        entry = stored.get(variant, NormalScores([]))
        levels = bundle.input_modality.levels
        if not all(getattr(entry, level) for level in levels):
            raise BundleError(f"{bundle.path}: calibration.normal_scores.{variant} lacks "
                              f"{' and '.join(levels)} scores")
    return {v: stored[v] for v in bundle.variants}


def calibrated_manifest(bundle: Bundle, rule: Rule, files: list[Path], clip_seconds: float = CLIP_SECONDS,
                        features: Path | None = None) -> Manifest:
    """The bundle's manifest with thresholds chosen by `rule` (recordings, a learn store, or stored scores)."""
    manifest = bundle.manifest
    previous = manifest.calibration or Calibration()
    if features is not None and files:
        raise ConfigError(f"--features {features} and {len(files)} recording(s): expected one source of normal "
                          "scores, the recordings or the learn store")
    if features is not None:
        scores = feature_scores(bundle, features, clip_seconds)
    else:
        scores = new_scores(bundle, files, clip_seconds) if files else stored_scores(bundle)
    history = [*(previous.history or []), {
        "rule": previous.rule if previous.rule is not None else
        previous.extra.get("rule", manifest.threshold_method or None),
        "source": previous.source or "training",
        "date": previous.date if previous.date is not None else manifest.provenance.get("created"),
        "thresholds": {v: e.threshold.to_json() for v, e in manifest.models.items()},
    }]
    models = dict(manifest.models)
    for variant, entry in scores.items():
        window = rule.threshold(np.asarray(entry.window))
        clip = rule.threshold(np.asarray(entry.clip)) if entry.clip else window
        models[variant] = replace(models[variant], threshold=Threshold(window, clip))
    first = scores[next(iter(scores))]
    if features is not None:
        n_clips = len(first.clip or [])
        source = f"vigil calibrate: learn store {features} ({len(first.window)} windows, {n_clips} clips)"
        clips = []
    elif files:
        clips_cut = "clip" in bundle.input_modality.levels  # recordings were cut into clips
        n_clips = len(first.clip or []) if clips_cut else len(files)
        unit = f"{len(files)} normal recording(s)" + (f" ({n_clips} clips)" if clips_cut else "")
        source = f"vigil calibrate: {unit}, scored on the gateway path"
        clips = [{"file": p.name, "sha256": _hash(p)} for p in files]
    else:
        source = f"vigil calibrate: stored normal scores ({previous.source or 'training'})"
        clips = previous.clips or []
        n_clips = previous.n_clips if previous.n_clips is not None else len(first.clip or clips)
    calibration = Calibration(scores, rule.to_json(), source, clips, len(clips), n_clips, _now(), history)
    level = bundle.input_modality.calibrated_on
    method = {"method": rule.kind, rule.kind: rule.value, "of": f"{level}; {source}"}
    calibrated = replace(manifest, models=models, calibration=calibration, threshold_method=method)
    parse_manifest(calibrated.to_json(), bundle.path / MANIFEST)  # every field checked before anything is written
    return calibrated


def _check_out(bundle: Bundle, out: Path) -> None:
    """Refuse an --out that exists, lies inside the bundle, or could not be written."""
    from edge.outputs import check_writable

    if out.exists():
        raise ConfigError(f"--out {out}: already exists (calibrate writes a new bundle; choose a new path "
                          "or update the bundle in place with --force and no --out)")
    if out.resolve().is_relative_to(bundle.path.resolve()):
        raise ConfigError(f"--out {out}: inside the bundle {bundle.path}; expected a path outside it")
    check_writable(out)


def write_calibrated(bundle: Bundle, manifest: Manifest | None, *, out: Path | None, force: bool) -> Path:
    """Write a new bundle at `out` (must not exist), or with `force` the bundle's own manifest (atomic);
    returns the bundle path, verified by loading it. manifest None: only the checks that come first."""
    if out is not None and manifest is not None:
        _check_out(bundle, out)
        from edge.outputs import as_mkdir

        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".calibrate-", dir=out.parent))
        try:
            for path in bundle.path.iterdir():  # a bundle's files; never a folder (an --out inside it, say)
                if path.is_file():
                    shutil.copy2(path, staging / path.name)
            write_manifest(staging, manifest)
            load_bundle(staging)
            as_mkdir(staging)
            staging.rename(out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return out
    if not force or manifest is None:
        raise ConfigError(f"{bundle.path}: give --out DIR for a calibrated copy, or --force to update this "
                          "bundle's thresholds in place")
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=bundle.path)
    os.close(fd)
    staged = Path(tmp)
    try:
        staged.write_text(manifest_text(manifest))
        os.replace(staged, bundle.path / MANIFEST)
    finally:
        staged.unlink(missing_ok=True)
    load_bundle(bundle.path)
    return bundle.path


def calibrate(bundle_path: Path, files: list[Path], rule: Rule, *, out: Path | None = None,
              force: bool = False, clip_seconds: float = CLIP_SECONDS,
              features: Path | None = None) -> tuple[Bundle, Manifest]:
    """Re-choose every variant's thresholds; returns (the original bundle, the new manifest)."""
    bundle = load_bundle(bundle_path)
    if out is None and not force:  # refuse before the scoring work
        write_calibrated(bundle, None, out=None, force=False)
    if out is not None:
        _check_out(bundle, out)
    if not clip_seconds > 0:
        raise ConfigError(f"--clip-seconds {clip_seconds:g}: expected a length in s above 0")
    bundle.input_modality.check_clip_seconds(bundle.window_spec, clip_seconds)
    manifest = calibrated_manifest(bundle, rule, _expand(files, bundle.input_modality.suffixes), clip_seconds,
                                   features)
    write_calibrated(bundle, manifest, out=out, force=force)
    return bundle, manifest


def add_parser(sub: Any) -> None:
    """`vigil calibrate BUNDLE [FILE...] (--fpr F | --percentile P) (--out DIR | --force)`."""
    p = sub.add_parser("calibrate", help="re-choose a bundle's thresholds from normal recordings (no retraining)")
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="normal recordings of the same machine, or folders of them (WAV/FLAC; EDF or KPI CSV "
                        "for Donut bundles); none: use the normal scores stored in the bundle")
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument("--fpr", type=float, help="false-positive rate on the normal scores, e.g. 0.01")
    rule.add_argument("--percentile", type=float, help="percentile of the normal scores, e.g. 99")
    p.add_argument("--features", type=Path, metavar="STORE",
                   help="instead of recordings: the feature rows a stream's learning period kept (the service's "
                        "state directory learn/STREAM), scored by the bundle")
    p.add_argument("--out", type=Path, help="write the calibrated bundle here (must not exist)")
    p.add_argument("--force", action="store_true", help="without --out: update BUNDLE's manifest in place")
    p.add_argument("--clip-seconds", type=float, default=CLIP_SECONDS,
                   help="audio: longer recordings are scored as consecutive clips of about this length "
                        f"(default {CLIP_SECONDS:g}, as vigil train audio)")
    p.add_argument("--json", action="store_true", help="one JSON object: old and new thresholds per variant")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    rule = Rule("fpr", args.fpr) if args.fpr is not None else Rule("percentile", args.percentile)
    bundle, manifest = calibrate(args.bundle, args.files, rule, out=args.out, force=args.force,
                                 clip_seconds=args.clip_seconds, features=args.features)
    target = args.out or args.bundle
    assert manifest.calibration is not None, "calibrated_manifest always writes a calibration"
    report: dict[str, Any] = {"bundle": str(target), "rule": rule.to_json(),
                              "source": manifest.calibration.source, "variants": {}}
    for variant, entry in manifest.models.items():
        scores = manifest.calibration.normal_scores[variant].to_json()
        new = entry.threshold.to_json()
        report["variants"][variant] = {
            "old": bundle.manifest.models[variant].threshold.to_json(), "new": new,
            "normal_over_threshold": {level: float(np.mean(np.asarray(scores[level]) > new[level]))
                                      for level in ("clip", "window") if scores.get(level)},
        }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{target}: thresholds from {report['source']}, rule {rule.kind} {rule.value:g}")
    for variant, r in report["variants"].items():
        for level, over in r["normal_over_threshold"].items():
            print(f"  {variant:8s} {level:6s} {r['old'].get(level, r['old']['window']):.6g} -> {r['new'][level]:.6g} "
                  f"({over:.1%} of the normal {level} scores above)")
    return 0
