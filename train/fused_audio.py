"""The fused machine-sound detector (`vigil train audio`'s default): several members, one bundle.

Members (``MEMBERS``), each a detector kind of ``train.detectors`` fitted on its own columns of the
``logmel-stats`` windows (~1.06 s every ~0.51 s: 128 log-mel band means, then 128 band stds):
``maha`` (log-mel statistics Mahalanobis, every band) and ``maha-envelope`` (the same distance on
the first 24 cepstral coefficients of the band means and stds: the spectral envelope, as the
write-up's MFCCs see it). Each member's model takes the whole standardized window (n, 256) and slices its
columns, so it is exported, quantized and scored like a detector of its own. Each member's window
score s becomes z = (s - mean) / std of its out-of-fold normal window scores (k-fold by clip, the
same folds as the thresholds; per variant, kept in the manifest under the variant's ``fusion``); the
fused window score is the ``RULE`` of the members' z (no label is used). The fused out-of-fold
scores set the thresholds as for any detector.

RULE was chosen by benchmarks/studies/fusion_choice.py and MEMBERS by benchmarks/studies/envelope_choice.py
(third round), on the worst machine id and the mean over machine ids together (repeated splits by clip,
never a test clip); the figures are in reports/machine-sound/fused-default.md.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.manifest import DetectorEntry, Manifest, ModelEntry, Threshold
from edge.detectors.fused import FUSED, fuse_scores  # the kind's name (--detector) and the gateway's Detector name
from train.bundle_writer import BundleWriter
from train.dataset import Clip, Split
from train.detectors import DetectorKind, DetectorOptions, Trained, headroom, registry

# Until the third round the set was logmel-stats-seed (these 256 columns, then the write-up's 17
# features for the K-means member): the envelope member needs none of the 17, which cost most of the
# gateway's time (an n_fft 2048 STFT and spectral contrast per window)
FEATURE_SET = "logmel-stats"
# The write-up's 17 features with K-means were the second member until the third round of the study
# (reports/machine-sound/fused-default.md): the envelope member sees what K-means saw (toycar 0.928
# against 0.888) without K-means' losses where maha leads (mean over 6 ids 0.753 against 0.708).
MEMBERS: dict[str, tuple[int, int | None]] = {"maha": (0, None), "maha-envelope": (0, None)}
RULE = "max"  # a fault one member hears is not halved by the other (see the report: mean and max tie)
DESCRIPTION = ("max of z-normalised scores (by their out-of-fold normal window scores) of log-mel statistics "
               "Mahalanobis on every band and on the spectral envelope (24 cepstral coefficients)")
# int8 by default: benchmarks/fused_audio.py (repeated splits by clip per machine id) measured the max
# rule's int8 within 0.012 AUC of float32 on every id (fan id_06 0.711 vs 0.722, pump id_04 0.806 vs
# 0.794). The maha + K-means default it replaced lost 0.023 on fan id_06 and ran float32.
FUSED_VARIANT = "int8"
Scores = dict[str, dict[str, Any]]  # per variant: {"clip": (n_clips,), "window": (n_windows,)}


def member_kind(name: str) -> DetectorKind:
    """Detector kind `name` fitted on its columns of the fused windows; its model slices them itself."""
    base = registry()[name]
    start, stop = MEMBERS[name]

    def fit(x: np.ndarray, anomalous: np.ndarray | None, options: DetectorOptions, **extra: Any) -> Trained:
        import keras

        if "scale" in extra:  # a member reads its own columns: their mean and std, not the whole row's
            extra["scale"] = tuple(a[start:stop] for a in extra["scale"])
        trained = base.fit(x[:, start:stop], None, options, **extra)
        inputs = keras.Input(shape=(x.shape[1],), name="features")
        model = keras.Model(inputs, trained.model(inputs[:, start:stop]), name=f"{name}_columns")
        return dataclasses.replace(trained, model=model, calibration=headroom(x),
                                   params={**trained.params, "columns": [start, x.shape[1] if stop is None else stop]})

    # the fold bundles' default variant is the fused one: reliability scores faulted copies in it
    return dataclasses.replace(base, feature_set=FEATURE_SET, fit=fit, supervised=False,
                               default_variant=FUSED_VARIANT, variant_reason=None)


def fused_kind() -> DetectorKind:
    """The registry entry of the fused detector (its fit is never called: train_fused_bundle fits the members)."""

    def no_fit(*_: Any, **__: Any) -> Trained:
        raise TypeError("the fused detector is fitted member by member (train.fused_audio.fit_fused)")

    return DetectorKind(FUSED, FEATURE_SET, False, no_fit, DESCRIPTION, default_variant=FUSED_VARIANT)


def z_scales(oof: Scores) -> dict[str, list[float]]:
    """Per variant: [mean, std] of a member's out-of-fold normal window scores."""
    return {v: [float(np.mean(s["window"])), max(float(np.std(s["window"])), 1e-9)] for v, s in oof.items()}


def fuse(windows: dict[str, np.ndarray], scales: dict[str, list[float]], rule: str = RULE) -> np.ndarray:
    """Member window scores (n,) and their [mean, std] -> fused window scores (n,) float64 (the gateway's rule)."""
    return fuse_scores(windows, scales, rule)


def fused_scores(members: dict[str, Scores], counts: list[int]) -> tuple[Scores, dict[str, dict[str, list[float]]]]:
    """Members' out-of-fold scores and windows per clip -> the fused out-of-fold scores and the
    z scales per variant {variant: {member: [mean, std]}}."""
    scales = {v: {m: z_scales(s)[v] for m, s in members.items()} for v in next(iter(members.values()))}
    out: Scores = {}
    for v, by_member in scales.items():
        window = fuse({m: s[v]["window"] for m, s in members.items()}, by_member)
        if window.size != sum(counts):
            raise RuntimeError(f"{window.size} fused window scores for {sum(counts)} windows of the clips")
        clip = np.array([w.mean() for w in np.split(window, np.cumsum(counts)[:-1])])
        out[v] = {"window": window, "clip": clip}
    return out, scales


def fit_fused(fit: list[Clip], writer: BundleWriter, config: Any, cache: Any,
              scales: dict[str, dict[str, list[float]]]) -> Manifest:
    """Fit every member on `fit`, put their float32 and int8 models into one staged bundle with the z
    scales; returns its loadable manifest (zero thresholds)."""
    from train.audio import _fit_write

    parts: dict[str, Manifest] = {}
    files: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix=".members-", dir=writer.staging.parent) as tmp:
        for name in MEMBERS:
            with BundleWriter(Path(tmp) / name) as member:
                parts[name] = _fit_write(member_kind(name), fit, [], member, config, cache)
                for variant, entry in parts[name].models.items():
                    blob = member.path(entry.files["model"].file).read_bytes()
                    files.setdefault(variant, {})[name] = writer.add_model(variant, blob, role=name)
    first = next(iter(parts.values()))
    models = {}
    for variant, by_member in files.items():
        dtypes: dict[str, int] = {}
        for part in parts.values():
            for dtype, n in (part.models[variant].tensor_dtypes or {}).items():
                dtypes[dtype] = dtypes.get(dtype, 0) + n
        models[variant] = ModelEntry(by_member, Threshold(0.0, 0.0), first.models[variant].quantization,
                                     tensor_dtypes=dtypes, extra={"fusion": scales[variant]})
    params = {"rule": RULE, "members": [{"name": n, "score": p.detector_score, **(p.detector.params or {})}
                                        for n, p in parts.items()]}
    manifest = dataclasses.replace(
        first, name=first.name.replace(first.detector_kind, FUSED, 1),
        detector=DetectorEntry(FUSED, FUSED, params, DESCRIPTION, False),
        models=models,
        default_variant=fused_kind().default_variant,
        training={"loss": {}, "members": {n: p.training for n, p in parts.items()}})  # closed form: no loss curve
    writer.write(manifest)
    return manifest


def members_out_of_fold(split: Split, config: Any, cache: Any, workdir: Path,
                        faulted: dict[str, dict[str, np.ndarray]]) -> dict[str, Scores]:
    """Every member's out-of-fold scores on the fit clips (the folds of the thresholds); faulted[member]
    ({fault kind: (n fit clips,)}) gets the member's clip scores of the seeded faulted copies
    (train.reliability), in the fused default variant."""
    from train.audio import out_of_fold_scores

    return {name: out_of_fold_scores(member_kind(name), split, config, cache, workdir / name, faulted[name])
            for name in MEMBERS}


def fused_members() -> tuple[str, ...]:
    return tuple(MEMBERS)


def fuse_clip_scores(clips: dict[str, np.ndarray], scales: dict[str, list[float]]) -> np.ndarray:
    """Members' clip scores (n,) -> fused clip scores (n,), for the reliability estimate's faulted copies
    (train.reliability keeps clip scores only). Exact under the mean rule; under max, the larger member
    clip z is a lower bound of the mean of the windows' maxima, so the faults' AUC errs low."""
    return fuse(clips, scales)


def members_in_sample(split: Split, config: Any, cache: Any, workdir: Path) -> dict[str, Scores]:
    """--folds 1 (quick runs): every member's scores of the clips it was fitted on (optimistic)."""
    from train.audio import _fit_write, in_sample_scores

    out = {}
    for name in MEMBERS:
        with BundleWriter(workdir / name) as member:
            _fit_write(member_kind(name), split.fit, [], member, config, cache)
            out[name] = in_sample_scores(member.staging, split.fit)
    return out
