"""Point series scored by Donut: fetal ECG from EDF (block means of one channel) and KPI CSVs.

Both read their features into an EcgSpec, frame windows of points and threshold single points;
they differ in the file they read, what a source must deliver and whether points carry timestamps.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import InputFileError
from edge.features.ecg import EcgSpec
from edge.modalities.base import Modality, ScoreRequest, register_modality
from edge.pipeline.framing import Framing, SeriesFraming
from edge.sources.base import Needs

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle
    from edge.io.kpi_csv import KpiColumns
    from edge.pipeline.series_scorer import Series
    from edge.sources.file import FileRecording


class SeriesModality(Modality):
    """What every point series shares: Donut scores points; calibration thresholds single points."""

    spec_type = EcgSpec
    calibrated_on = "scores of points ending a full window, missing and labelled points excluded"

    def window_spec(self, features: dict[str, Any]) -> EcgSpec:
        return EcgSpec.from_dict(features)

    def framing(self, spec: EcgSpec) -> Framing:
        return SeriesFraming(spec)

    @abstractmethod
    def load_series(self, path: str | Path, spec: EcgSpec, columns: KpiColumns | None = None) -> Series:
        """A whole recording as points (InputFileError if it is shorter than one window)."""

    def score(self, files: list[Path], bundle: Bundle, request: ScoreRequest) -> int:
        from edge.commands import score_series

        return score_series.score_series_files(files, bundle, variant=request.variant, as_json=request.as_json,
                                  samples=request.samples, iterations=request.iterations, columns=request.columns)

    def bench(self, files: list[Path], bundle: Bundle, request: ScoreRequest, *, repeat: int, cpu: int | None,
              bundle_path: Path) -> int:
        from edge.commands import score_series

        return score_series.bench_series_files(files, bundle, variant=request.variant, as_json=request.as_json,
                                  samples=request.samples, iterations=request.iterations, repeat=repeat, cpu=cpu,
                                  bundle_path=bundle_path, columns=request.columns)

    def normal_scores(self, bundle: Bundle, files: list[Path], variant: str,
                      clip_seconds: float) -> dict[str, np.ndarray]:
        from edge.commands.calibrate import series_scores

        return {"window": series_scores(bundle, files, variant)}


@register_modality
class EcgModality(SeriesModality):
    """Fetal ECG: one EDF channel by label at its own rate, in the bundle's unit; a fetal stage adds FHR."""

    name = "ecg"
    suffixes = (".edf", ".bdf")
    heart_rate = True

    def needs(self, spec: EcgSpec) -> Needs:
        return Needs(self.name, spec.fs, spec.channel, spec.unit)

    def open_recording(self, path: str | Path, needs: Needs, *, channel: int | None = None) -> FileRecording:
        from edge.sources.file import EdfRecording

        return EdfRecording(path, label=needs.channel or "", fs=needs.rate, unit=needs.unit)

    def load_series(self, path: str | Path, spec: EcgSpec, columns: KpiColumns | None = None) -> Series:
        from edge.pipeline.series_scorer import ecg_series

        return ecg_series(path, spec)


@register_modality
class KpiModality(SeriesModality):
    """KPI series: CSV timestamp,value[,label] rows; a file may continue the training series."""

    name = "kpi"
    suffixes = (".csv",)
    timestamped = True

    def needs(self, spec: EcgSpec) -> Needs:
        return Needs(self.name, spec.fs)

    def open_recording(self, path: str | Path, needs: Needs, *, channel: int | None = None) -> FileRecording:
        from edge.sources.file import CsvRecording

        return CsvRecording(path)

    def load_series(self, path: str | Path, spec: EcgSpec, columns: KpiColumns | None = None) -> Series:
        from edge.pipeline.series_scorer import kpi_series

        series = kpi_series(path, columns)
        if series.values.size < spec.window:
            raise InputFileError(f"{path}: {series.values.size} points, shorter than one window "
                                 f"({spec.window} points)")
        return series
