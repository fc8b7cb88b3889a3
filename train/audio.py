"""`vigil train audio`: learn machine-sound detectors from clips and write bundles.

Protocol (every normal clip is learnt from): the detector is fitted on every normal clip (minus
an optional seeded --test-fraction reserved by clip). Thresholds come from out-of-fold scores:
the normal clips are dealt by clip into k folds (seeded); for each fold a model is fitted on the
other folds, exported float32 and int8 like the final one, and scores the fold's clips on the
gateway code path. Each variant's thresholds are percentiles of its out-of-fold window and clip
scores, and those scores are kept in the bundle (manifest "calibration") so `vigil calibrate` can
re-choose them. Anomalous clips under DIR are never fitted on (except by the supervised svm,
on a seeded share): the bundle's metrics compare them, scored by the final model, with the
reserved normal clips if any, else with the out-of-fold normal clip scores.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import DeciderSettings, DetectorEntry, Manifest, ModelEntry, Threshold
from edge.bundle.manifest_parts import Calibration, NormalScores
from edge.detectors.base import load_detector
from edge.detectors.interpreter import load_interpreter
from edge.errors import InputFileError
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from edge.pipeline.file_scoring import score_file
from train.bundle_writer import BundleWriter
from train.dataset import DEFAULT_CLIP_SECONDS, Clip, Split, discover_clips, split_clips
from train.detectors import DETECTOR_NAMES, DetectorKind, DetectorOptions, registry
from train.export import QUANTIZATION
from train.faults import FAULT_KINDS
from train.fused_audio import FUSED, fused_kind, fused_members
from train.metrics import clip_metrics
from train.reliability import reliability_entry, score_faulted

DETECTORS = (*DETECTOR_NAMES, "all")
DEFAULT_DETECTOR = FUSED  # chosen by benchmarks/studies/fusion_choice.py (see train.fused_audio), never on test clips
MAX_CALIBRATION_WINDOWS = 2000


@dataclass(frozen=True)
class AudioTrainConfig:
    """Options of `vigil train audio` (see its --help for meanings and units)."""

    detector: str = DEFAULT_DETECTOR
    machine_type: str | None = None
    options: DetectorOptions = field(default_factory=DetectorOptions)
    percentile: float = 95.0
    folds: int = 5  # 1: thresholds from the fitted clips' own scores (quick runs; optimistic)
    test_fraction: float = 0.0
    anomaly_fit_fraction: float | None = None  # None: 0.5 when a supervised detector is trained, else 0
    clip_seconds: float = DEFAULT_CLIP_SECONDS  # longer recordings are cut into clips of about this length
    # --features STORE: a gateway learning period's rows (n, dim) in the features' units, added to every fit
    learned_rows: np.ndarray | None = field(default=None, compare=False)

    def kinds(self) -> list[DetectorKind]:
        kinds = registry()
        return list(kinds.values()) if self.detector == "all" else [kinds[self.detector]]

    def split(self, clips: list[Clip], seed: int) -> Split:
        fraction = self.anomaly_fit_fraction
        if fraction is None:
            fraction = 0.5 if any(k.supervised for k in self.kinds()) else 0.0
        return fit_split(clips, test_fraction=self.test_fraction, seed=seed, anomaly_fit_fraction=fraction)


def fit_split(clips: list[Clip], *, test_fraction: float, seed: int, anomaly_fit_fraction: float = 0.0) -> Split:
    """Every normal clip is a fit clip except a seeded test_fraction reserved by clip (one clip per
    machine id always fits); anomalous clips are test clips but for a seeded supervised share."""
    if test_fraction > 0:
        held = split_clips(clips, test_fraction=test_fraction, threshold_fraction=0.0, seed=seed,
                           anomaly_fit_fraction=anomaly_fit_fraction)
        return Split(fit=held.fit + held.threshold, threshold=[], test=held.test, fit_anomalous=held.fit_anomalous)
    normals = [c for c in clips if c.label == 0]
    if len(normals) < 2:
        raise InputFileError(f"{len(normals)} normal clip(s): expected at least 2 (thresholds come from "
                             "out-of-fold scores, k-fold by clip)")
    anomalous = [c for c in clips if c.label == 1]
    order = np.random.default_rng(seed).permutation(len(anomalous))
    n_fit = min(max(1, round(anomaly_fit_fraction * len(anomalous))), len(anomalous) - 1) \
        if anomaly_fit_fraction > 0 and anomalous else 0
    return Split(fit=normals, threshold=[], test=[anomalous[i] for i in order[n_fit:]],
                 fit_anomalous=[anomalous[i] for i in order[:n_fit]])


def folds_by_clip(n_clips: int, k: int, seed: int) -> list[np.ndarray]:
    """Seeded k-fold of clip indices (k at most n_clips): each clip is held out exactly once."""
    order = np.random.default_rng(seed).permutation(n_clips)
    return [np.sort(order[f::min(k, n_clips)]) for f in range(min(k, n_clips))]


class FeatureCache:
    """Features per (clip, spec), computed once: (windows, dim) float32."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, FeatureSpec], np.ndarray] = {}

    def get(self, clip: Clip, spec: FeatureSpec) -> np.ndarray:
        key = (clip.path, spec)
        if key not in self._cache:
            y = load_mono(clip.path, sr=spec.sr)
            if y.size < spec.window_samples:  # checked before fitting: a fold fitted on no window is NaN
                raise InputFileError(f"{_named(clip)}: {y.size / spec.sr:.3f} s of audio is shorter than one analysis "
                                     f"window ({spec.window_samples / spec.sr:.3f} s for feature set {spec.set!r})")
            if y.min() == y.max():  # a muted or unplugged input: no variance to learn, the covariance is singular
                raise InputFileError(f"{_named(clip)}: every sample is {float(y[0]):g} (silence or a constant "
                                     "level, e.g. a muted microphone); expected a recording of the machine")
            self._cache[key] = spec.compute(y)
        return self._cache[key]

    def stack(self, clips: list[Clip], spec: FeatureSpec) -> np.ndarray:
        if not clips:
            return np.empty((0, spec.dim), dtype=np.float32)
        return np.concatenate([self.get(c, spec) for c in clips])


def _named(clip: Clip) -> str:
    """The clip as the user knows it: the recording, and where a cut part starts in it."""
    return str(clip.path) if clip.source is None else f"{clip.source} (from {clip.offset_s:.1f} s)"


def _files(clips: list[Clip]) -> list[dict[str, str]]:
    return [{"file": c.path.name, "sha256": c.sha256()} for c in clips]


def score_clips(bundle_path: Path, variant: str, clips: list[Clip]) -> np.ndarray:
    """Clip scores (n,) of a bundle variant on the gateway path (stream, TFLite interpreter)."""
    bundle = load_bundle(bundle_path)
    detector = load_detector(bundle, variant)
    return np.array([score_file(bundle, detector, c.path).clip_score for c in clips])


def tensor_dtypes(model_path: Path) -> dict[str, int]:
    """How many tensors of each dtype a TFLite model holds: shows whether anything stayed float or 16-bit."""
    counts: dict[str, int] = {}
    for detail in load_interpreter(model_path).get_tensor_details():
        name = np.dtype(detail["dtype"]).name
        counts[name] = counts.get(name, 0) + 1
    return counts


def _fit_write(kind: DetectorKind, fit: list[Clip], fit_anomalous: list[Clip], writer: BundleWriter,
               config: AudioTrainConfig, cache: FeatureCache) -> Manifest:
    """Fit on `fit` (and `fit_anomalous` if supervised), export float32 and int8 into the writer's
    staging folder with a loadable manifest (zero thresholds); returns that manifest."""
    from train.export import to_tflite

    options = config.options
    spec = kind.spec(options)
    x = cache.stack(fit, spec)
    learned = config.learned_rows
    if learned is not None and learned.shape[1] == x.shape[1]:  # every fit, the folds' too: thresholds match
        x = np.concatenate([x, learned])
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), 1e-3)  # a constant feature must not blow up the standardized value
    x_std = ((x - mean) / std).astype(np.float32)
    anomalous = None
    if kind.supervised:
        anomalous = ((cache.stack(fit_anomalous, spec) - mean) / std).astype(np.float32)
    extra: dict[str, Any] = {}
    if kind.fit_on_frames:  # the frames' own scale: the window means' std is smaller than a frame's
        frames = cache.stack(fit, kind.frame_spec(options))
        if learned is not None and learned.shape[1] == x.shape[1]:  # a learned window's band means stand for frames
            frames = np.concatenate([frames, learned[:, : frames.shape[1]]])
        extra["frames"] = ((frames - mean[: frames.shape[1]]) / std[: frames.shape[1]]).astype(np.float32)
    if kind.fit_on_scale:
        extra["scale"] = (mean, std)
    _deterministic()
    started = time.time()
    trained = kind.fit(x_std, anomalous, options, **extra)
    seconds = time.time() - started
    models = {"float32": to_tflite(trained.model),
              "int8": to_tflite(trained.model, representative=trained.calibration, seed=options.seed,
                                quantization=kind.quantization)}
    entries: dict[str, ModelEntry] = {}
    for name, blob in models.items():
        quant = QUANTIZATION[kind.quantization] if name == "int8" else "float32"
        file = writer.add_model(name, blob)
        entries[name] = ModelEntry({"model": file}, Threshold(0.0, 0.0), quant,
                                   tensor_dtypes=tensor_dtypes(writer.path(file.file)))
    types = sorted({c.machine_type or "unknown" for c in fit})
    manifest = Manifest(
        name=f"{kind.name}-{'-'.join(types)}", modality="audio",
        machine_type=types[0] if types != ["unknown"] and len(types) == 1 else None,  # a plain folder: none
        detector=DetectorEntry(kind.name, trained.score, trained.params, kind.description, kind.supervised,
                               extra={"default_variant_reason": kind.variant_reason} if kind.variant_reason else {}),
        features=spec.to_dict(), mean=np.asarray(mean, dtype=np.float64), std=np.asarray(std, dtype=np.float64),
        default_variant=kind.default_variant, models=entries, decider_table=DeciderSettings(3, 3),
        training={"options": vars(options), "loss": trained.history, "seconds": round(seconds, 1),
                  "windows": int(x.shape[0])})
    writer.write(manifest)
    return manifest


def out_of_fold_scores(kind: DetectorKind, split: Split, config: AudioTrainConfig, cache: FeatureCache,
                       workdir: Path, faulted: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, Any]]:
    """Per variant: every fit clip's window scores and clip score from a model that never saw it; with
    `faulted` ({fault kind: (n fit clips,)}), also the clip scores of its seeded faulted copies
    (train.reliability), by the same model, in the shipped variant."""
    folds = folds_by_clip(len(split.fit), config.folds, config.options.seed)
    acc = _empty_scores(len(split.fit))
    for f, held in enumerate(folds):
        rest = [c for i, c in enumerate(split.fit) if i not in set(held.tolist())]
        with BundleWriter(workdir / f"fold{f}") as writer:  # never committed: scored from staging
            manifest = _fit_write(kind, rest, split.fit_anomalous, writer, config, cache)
            _score_into(writer.staging, split.fit, held, acc)
            if faulted is not None:
                score_faulted(writer.staging, manifest.default_variant, split.fit, held, config.options.seed,
                              workdir / "faulted", faulted)
    return {v: {"clip": a["clip"], "window": np.concatenate(a["window"])} for v, a in acc.items()}


def _empty_scores(n: int) -> dict[str, dict[str, Any]]:
    return {v: {"clip": np.zeros(n), "window": [None] * n} for v in ("float32", "int8")}


def _score_into(bundle_dir: Path, clips: list[Clip], indices: np.ndarray, acc: dict[str, dict[str, Any]]) -> None:
    """Score clips[i] for i in indices with every variant of a bundle (gateway path) into acc."""
    bundle = load_bundle(bundle_dir)
    for variant, a in acc.items():
        detector = load_detector(bundle, variant)
        for i in indices:
            result = score_file(bundle, detector, clips[i].path)
            a["clip"][i], a["window"][i] = result.clip_score, result.window_scores


def calibration_entry(oof: dict[str, dict[str, Any]], percentile: float, source: str) -> Calibration:
    """The manifest's calibration: out-of-fold normal scores per variant (clip scores all, window
    scores sorted and subsampled to at most MAX_CALIBRATION_WINDOWS) and the rule that made the thresholds."""
    scores = {}
    for variant, s in oof.items():
        window = np.sort(s["window"])
        if window.size > MAX_CALIBRATION_WINDOWS:
            window = window[np.linspace(0, window.size - 1, MAX_CALIBRATION_WINDOWS).round().astype(int)]
        scores[variant] = NormalScores(window.tolist(), np.sort(s["clip"]).tolist())
    return Calibration(scores, {"kind": "percentile", "value": percentile}, source)


def train_bundle(kind: DetectorKind, split: Split, out: Path, config: AudioTrainConfig, cache: FeatureCache,
                 source: str) -> Manifest:
    """Fit one detector on every fit clip; thresholds from out-of-fold scores; write bundle `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind.name == FUSED:
        return _train_fused(split, out, config, cache, source)
    faulted: dict[str, np.ndarray] | None = None
    if config.folds >= 2:
        faulted = _no_faulted(len(split.fit))
        with tempfile.TemporaryDirectory(prefix=".folds-", dir=out.parent) as workdir:
            oof = out_of_fold_scores(kind, split, config, cache, Path(workdir), faulted)
        how = _how(split, config)
    with BundleWriter(out) as writer:
        manifest = _fit_write(kind, split.fit, split.fit_anomalous, writer, config, cache)
        if config.folds < 2:  # quick runs only: scores of the fitted clips themselves, optimistic
            oof = in_sample_scores(writer.staging, split.fit)
            how = _how(split, config)
        return _finish(writer, manifest, oof, how, split, config, source, faulted)


def _no_faulted(n: int) -> dict[str, np.ndarray]:
    """Per fault kind, the clip scores of the n fit clips' faulted copies, to be filled fold by fold."""
    return {kind: np.zeros(n) for kind in FAULT_KINDS}


def _train_fused(split: Split, out: Path, config: AudioTrainConfig, cache: FeatureCache, source: str) -> Manifest:
    """The fused detector: every member's out-of-fold scores (z scales, fused thresholds and the
    reliability estimate), then the members fitted on every fit clip into one bundle."""
    from train.fused_audio import fit_fused, fuse_clip_scores, fused_scores, members_in_sample, members_out_of_fold

    counts = [cache.get(c, fused_kind().spec(config.options)).shape[0] for c in split.fit]
    faulted = None
    with tempfile.TemporaryDirectory(prefix=".folds-", dir=out.parent) as workdir:
        if config.folds >= 2:
            by_member = {name: _no_faulted(len(split.fit)) for name in fused_members()}
            scores = members_out_of_fold(split, config, cache, Path(workdir), by_member)
        else:
            scores = members_in_sample(split, config, cache, Path(workdir))
    oof, scales = fused_scores(scores, counts)
    if config.folds >= 2:
        variant = fused_kind().default_variant
        faulted = {k: fuse_clip_scores({m: f[k] for m, f in by_member.items()}, scales[variant]) for k in FAULT_KINDS}
    with BundleWriter(out) as writer:
        manifest = fit_fused(split.fit, writer, config, cache, scales)
        return _finish(writer, manifest, oof, _how(split, config), split, config, source, faulted)


def _how(split: Split, config: AudioTrainConfig) -> str:
    """Where the thresholds' normal scores come from, as the manifest says it."""
    if config.folds < 2:
        return f"in-sample (--folds 1, optimistic), {len(split.fit)} normal clips"
    k = len(folds_by_clip(len(split.fit), config.folds, config.options.seed))
    return f"out-of-fold k={k} by clip (seed {config.options.seed}), {len(split.fit)} normal clips"


def in_sample_scores(bundle_dir: Path, clips: list[Clip]) -> dict[str, dict[str, Any]]:
    """Per variant: every clip's window scores and clip score from the bundle fitted on them (optimistic)."""
    acc = _empty_scores(len(clips))
    _score_into(bundle_dir, clips, np.arange(len(clips)), acc)
    return {v: {"clip": a["clip"], "window": np.concatenate(a["window"])} for v, a in acc.items()}


def _finish(writer: BundleWriter, manifest: Manifest, oof: dict[str, dict[str, Any]], how: str, split: Split,
            config: AudioTrainConfig, source: str, faulted: dict[str, np.ndarray] | None) -> Manifest:
    """Thresholds from the normal scores, calibration, reliability (from the faulted out-of-fold copies),
    provenance and held-out metrics; commit the bundle."""
    staging = writer.staging
    clip_thresholds = {variant: float(np.percentile(s["clip"], config.percentile)) for variant, s in oof.items()}
    thresholds = {variant: Threshold(float(np.percentile(s["window"], config.percentile)), clip_thresholds[variant])
                  for variant, s in oof.items()}
    trust = {} if faulted is None else reliability_entry(oof[manifest.default_variant]["clip"], faulted,
                                                         split.fit, manifest.default_variant, how)
    manifest = replace(
        manifest, calibration=calibration_entry(oof, config.percentile, how), reliability=trust,
        models={v: replace(e, threshold=thresholds.get(v, e.threshold)) for v, e in manifest.models.items()},
        threshold_method={"method": "percentile", "percentile": config.percentile,
                          "of": f"{how}: window and clip scores per variant"},
        provenance={"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": config.options.seed,
                    "data_dir": source, "fit_files": _files(split.fit + split.fit_anomalous),
                    "threshold_files": [], "reserved_test_files": _files(split.test), "versions": _versions(),
                    **({} if config.learned_rows is None else {"learned_rows": int(config.learned_rows.shape[0])})})
    writer.write(manifest)
    test_normal = [c for c in split.test if c.label == 0]
    anomalous = [c for c in split.test if c.label == 1]
    metrics: dict[str, Any] = {
        "protocol": ("reserved normal test clips" if test_normal else "out-of-fold normal clip scores")
        + " vs anomalous clips never fitted on (scored by the final model)",
        "files": [c.path.name for c in (test_normal or split.fit) + anomalous]}
    if anomalous:
        labels = np.array([0] * len(test_normal or split.fit) + [1] * len(anomalous))
        metrics["labels"] = labels.tolist()
        for name in oof:
            normal = score_clips(staging, name, test_normal) if test_normal else oof[name]["clip"]
            scores = np.concatenate([normal, score_clips(staging, name, anomalous)])
            metrics[name] = {**clip_metrics(labels, scores, clip_thresholds[name]), "clip_scores": scores.tolist()}
    manifest = replace(manifest, metrics=metrics)
    writer.write(manifest)
    writer.commit()
    return manifest


def train_audio(data_dir: Path, out: Path, config: AudioTrainConfig,
                progress: Callable[[str], None] | None = None) -> dict[str, Manifest]:
    """Train the configured detector(s) on data_dir. One bundle at `out`, or with detector "all"
    one bundle per kind at out/<kind>; returns the manifests by kind."""
    clips = discover_clips(data_dir, config.machine_type, clip_seconds=config.clip_seconds)
    split = config.split(clips, seed=config.options.seed)
    cache = FeatureCache()
    manifests = {}
    try:
        for kind in config.kinds():
            if progress:
                progress(kind.name)
            target = out / kind.name if config.detector == "all" else out
            manifests[kind.name] = train_bundle(kind, split, target, config, cache, str(data_dir))
    except InputFileError as exc:  # a cut part named: name its recording, not a temporary file
        message = str(exc)
        for clip in clips:
            if clip.source is not None:
                message = message.replace(str(clip.path), _named(clip))
        raise InputFileError(message) from None
    return manifests


def _deterministic() -> None:
    """Same seed, same model: TensorFlow's op determinism (kernels pick deterministic algorithms)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def _versions() -> dict[str, str]:
    import keras
    import sklearn
    import tensorflow as tf

    return {"python": platform.python_version(), "numpy": np.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "scikit-learn": sklearn.__version__, "platform": sys.platform}
