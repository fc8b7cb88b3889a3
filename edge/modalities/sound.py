"""Machine sound: WAV/FLAC recordings scored as feature vectors of windows, clip by clip.

Thresholds are chosen on two levels: a clip's mean window score (the decision `vigil score`
prints) and single windows (the Decider's events). Calibration cuts long recordings into clips of
about ``--clip-seconds``, as `vigil train audio` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import BundleError, ConfigError
from edge.features.spec import FeatureSpec
from edge.modalities.base import Modality, ScoreRequest, register_modality
from edge.pipeline.framing import AudioFraming, Framing
from edge.sources.base import Needs

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle
    from edge.bundle.manifest import Manifest
    from edge.sources.file import FileRecording


@register_modality
class SoundModality(Modality):
    name = "audio"
    spec_type = FeatureSpec
    suffixes = (".wav", ".flac")
    levels = ("clip", "window")
    calibrated_on = "clip scores and pooled window scores"
    machine_type = True

    def window_spec(self, features: dict[str, Any]) -> FeatureSpec:
        return FeatureSpec.from_dict(features)

    def check_bundle(self, manifest: Manifest, spec: FeatureSpec) -> None:
        if spec.sr <= 0:
            raise BundleError(f"features.sr: {spec.sr} (expected a positive rate in Hz)")
        if manifest.mean.shape != (spec.dim,):  # a hand edit: n_mels, frames...
            raise BundleError(f"normalization.mean: {manifest.mean.size} values; the features "
                              f"(set {spec.set}, n_mels {spec.n_mels}) give {spec.dim} (expected the same)")

    def needs(self, spec: FeatureSpec) -> Needs:
        return Needs(self.name, float(spec.sr))

    def framing(self, spec: FeatureSpec) -> Framing:
        return AudioFraming(spec)

    def open_recording(self, path: str | Path, needs: Needs, *, channel: int | None = None) -> FileRecording:
        from edge.sources.file import WavRecording

        return WavRecording(path, sr=int(needs.rate), channel=channel)

    def score(self, files: list[Path], bundle: Bundle, request: ScoreRequest) -> int:
        from edge.commands.score_audio import score_clips

        return score_clips(files, bundle, request)

    def bench(self, files: list[Path], bundle: Bundle, request: ScoreRequest, *, repeat: int, cpu: int | None,
              bundle_path: Path) -> int:
        from edge.commands.score_audio import bench_clips

        return bench_clips(files, bundle, request, repeat=repeat, cpu=cpu, bundle_path=bundle_path)

    def check_clip_seconds(self, spec: FeatureSpec, clip_seconds: float) -> None:
        if clip_seconds * spec.sr < spec.window_samples:
            raise ConfigError(f"--clip-seconds {clip_seconds:g}: shorter than one analysis window of the bundle "
                              f"({spec.window_samples / spec.sr:.3f} s); expected a longer clip")

    def check_normal_recording(self, bundle: Bundle, path: Path) -> None:
        from edge.commands.calibrate import check_audio_recording

        check_audio_recording(bundle, path)

    def normal_scores(self, bundle: Bundle, files: list[Path], variant: str,
                      clip_seconds: float) -> dict[str, np.ndarray]:
        from edge.commands.calibrate import audio_scores

        clip, window = audio_scores(bundle, files, variant, clip_seconds)
        return {"clip": clip, "window": window}
