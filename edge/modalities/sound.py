"""Machine sound: WAV/FLAC recordings scored as feature vectors of windows, clip by clip.

Thresholds are chosen on two levels: a clip's mean window score (the decision `vigil score`
prints) and single windows (the Decider's events). Calibration cuts long recordings into clips of
about ``--clip-seconds``, as `vigil train audio` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import BundleError, ConfigError, InputFileError
from edge.features.explain import Explainer
from edge.features.spec import FeatureSpec
from edge.modalities.base import Modality, ScoreRequest, register_modality
from edge.names import MACHINE_TYPES, label_of, machine_id_of, machine_type_of
from edge.pipeline.framing import AudioFraming, Framing
from edge.sources.base import Needs

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle
    from edge.bundle.manifest import Manifest
    from edge.pipeline.file_scoring import ClipScore
    from edge.sources.file import FileRecording


@register_modality
class SoundModality(Modality):
    name = "audio"
    spec_type = FeatureSpec
    suffixes = (".wav", ".flac")
    levels = ("clip", "window")
    calibrated_on = "clip scores and pooled window scores"
    machine_type = True
    raw_unit = "full scale"  # samples as floats in [-1, 1]

    def window_spec(self, features: dict[str, Any]) -> FeatureSpec:
        return FeatureSpec.from_dict(features)

    def check_bundle(self, manifest: Manifest, spec: FeatureSpec) -> None:
        if spec.sr <= 0:
            raise BundleError(f"features.sr: {spec.sr} (expected a positive rate in Hz)")
        if manifest.mean.shape != (spec.dim,):  # a hand edit: n_mels, frames...
            raise BundleError(f"normalization.mean: {manifest.mean.size} values; the features "
                              f"(set {spec.set}, n_mels {spec.n_mels}) give {spec.dim} (expected the same)")

    def explainer(self, bundle: Bundle, spec: FeatureSpec) -> Explainer:
        return Explainer(spec, *bundle.normalization())

    def needs(self, spec: FeatureSpec) -> Needs:
        return Needs(self.name, float(spec.sr))

    def framing(self, spec: FeatureSpec) -> Framing:
        return AudioFraming(spec)

    def open_recording(self, path: str | Path, needs: Needs, *, channel: int | None = None) -> FileRecording:
        from edge.sources.file import WavRecording

        return WavRecording(path, sr=int(needs.rate), channel=channel)

    def file_scores(self, files: list[Path], bundle: Bundle, request: ScoreRequest) -> Iterator[ClipScore]:
        """Each file replayed through a fresh stream: its window scores, events and clip decision."""
        from edge.detectors.base import load_detector
        from edge.pipeline.file_scoring import score_file

        detector = load_detector(bundle, request.variant)
        for path in files:
            yield score_file(bundle, detector, path, channel=request.channel)

    def bench(self, files: list[Path], bundle: Bundle, request: ScoreRequest, *, repeat: int) -> dict[str, Any]:
        """The files replayed ``repeat`` times through the live pipeline; cost per second of audio."""
        from edge.detectors.base import load_detector
        from edge.pipeline.assembly import build_stream, replay
        from edge.pipeline.file_scoring import open_wav

        detector = load_detector(bundle, request.variant)
        recordings = [open_wav(bundle, path, channel=request.channel) for path in files]
        audio_s = sum(r.seconds for r in recordings)
        windows = events = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(repeat):
            for recording in recordings:
                replayed = replay(build_stream(bundle, detector), recording.blocks())
                events += len(replayed.events)
                windows += replayed.windows
        cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
        return {"variant": request.variant or bundle.default_variant,
                "files": len(recordings), "audio_seconds": round(audio_s * repeat, 3),
                "cpu_seconds": round(cpu_s, 4), "wall_seconds": round(wall_s, 4),
                "real_time_factor": round(cpu_s / (audio_s * repeat), 6),
                "windows": windows, "events": events}

    def check_clip_seconds(self, spec: FeatureSpec, clip_seconds: float) -> None:
        if clip_seconds * spec.sr < spec.window_samples:
            raise ConfigError(f"--clip-seconds {clip_seconds:g}: shorter than one analysis window of the bundle "
                              f"({spec.window_samples / spec.sr:.3f} s); expected a longer clip")

    def check_normal_recording(self, bundle: Bundle, path: Path) -> None:
        """Refuse a recording that is not of the bundle's machine: another sample rate, an anomalous
        clip (DCASE name), a clip filed under another machine type or named with a machine id the
        bundle was not trained on."""
        import soundfile

        try:
            rate = soundfile.info(str(path)).samplerate
        except Exception:  # missing or unreadable: scoring names the file and what was expected
            return
        if rate != bundle.spec.sr:
            raise InputFileError(f"{path}: recorded at {rate} Hz; bundle {bundle.path} models {bundle.spec.sr} Hz "
                                 "audio (calibrate with recordings of the same machine and microphone setup)")
        if label_of(path) == 1:
            raise InputFileError(f"{path}: named as an anomalous clip; calibration needs normal recordings")
        expected = bundle.manifest.machine_type if bundle.manifest.machine_type in MACHINE_TYPES else None
        found = machine_type_of(path)
        if expected and found and found != expected:
            raise InputFileError(f"{path}: a {found} recording; bundle {bundle.path} is for machine type {expected}")
        fitted = bundle.manifest.provenance.get("fit_files", [])
        ids = {i for i in (machine_id_of(Path(f["file"])) for f in fitted) if i}
        found_id = machine_id_of(path)
        if ids and found_id and found_id not in ids:
            raise InputFileError(f"{path}: machine {found_id}; bundle {bundle.path} was trained on "
                                 f"{', '.join(sorted(ids))}")

    def normal_scores(self, bundle: Bundle, files: list[Path], variant: str,
                      clip_seconds: float) -> dict[str, np.ndarray]:
        from edge.pipeline.calibration_scores import audio_scores

        clip, window = audio_scores(bundle, files, variant, clip_seconds)
        return {"clip": clip, "window": window}
