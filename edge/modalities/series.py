"""Point series scored by Donut: fetal ECG from EDF (block means of one channel) and KPI CSVs.

Both read their features into an EcgSpec, frame windows of points and threshold single points;
they differ in the file they read, what a source must deliver and whether points carry timestamps.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import InputFileError
from edge.features.ecg import EcgSpec
from edge.modalities.base import Modality, ScoreRequest, register_modality
from edge.pipeline.framing import Framing, SeriesFraming
from edge.sources.base import Needs
from edge.text import plural

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle
    from edge.io.kpi_csv import KpiColumns
    from edge.pipeline.series_scorer import Series
    from edge.sources.file import FileRecording


@dataclass(frozen=True)
class PointScores:
    """`vigil score` on one recording: its points, their scores (n,) float32 (NaN: no full window
    yet) and the threshold they are held against."""

    series: Series
    scores: np.ndarray
    threshold: float

    def to_json(self) -> dict[str, Any]:
        from edge.pipeline.series_scorer import points_json

        return points_json(self.series, self.scores, self.threshold)

    def summary(self) -> str:
        over = int(np.nansum(self.scores > self.threshold))
        return (f"{self.series.path}: {plural(self.series.values.size, 'point')}, {over} over the threshold "
                f"{self.threshold:.3f} ({int(self.series.missing.sum())} missing)")


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

    def file_scores(self, files: list[Path], bundle: Bundle, request: ScoreRequest) -> Iterator[PointScores]:
        """Each whole recording's Donut point scores, against the variant's window threshold."""
        from edge.io.kpi_csv import KpiColumns
        from edge.pipeline.series_scorer import donut_scorer, load_series, score_series

        scorer = donut_scorer(bundle, request.variant, samples=request.samples, iterations=request.iterations)
        threshold = bundle.variant(request.variant).window_threshold
        columns = KpiColumns.parse(request.columns) if request.columns else None
        for path in files:
            series = load_series(path, bundle.ecg_spec, bundle.modality, columns)
            yield PointScores(series, score_series(bundle, scorer, series), threshold)

    def bench(self, files: list[Path], bundle: Bundle, request: ScoreRequest, *, repeat: int) -> dict[str, Any]:
        """Donut scoring of whole recordings ``repeat`` times as fast as possible; cost per signal second."""
        from edge.io.kpi_csv import KpiColumns
        from edge.pipeline.series_scorer import donut_scorer, load_series, score_series

        spec = bundle.ecg_spec
        scorer = donut_scorer(bundle, request.variant, samples=request.samples, iterations=request.iterations)
        columns = KpiColumns.parse(request.columns) if request.columns else None
        series = [load_series(path, spec, bundle.modality, columns) for path in files]
        cpu0 = time.process_time()
        for _ in range(repeat):
            for s in series:
                score_series(bundle, scorer, s)
        cpu_s = time.process_time() - cpu0
        seconds = repeat * sum(s.values.size for s in series) * spec.point_seconds
        return {"variant": request.variant or bundle.default_variant,
                "samples": getattr(scorer, "samples", None), "iterations": getattr(scorer, "iterations", None),
                "files": len(series), "signal_seconds": round(seconds, 3), "cpu_seconds": round(cpu_s, 4),
                "real_time_factor": round(cpu_s / seconds, 6), "points": repeat * sum(s.values.size for s in series)}

    def normal_scores(self, bundle: Bundle, files: list[Path], variant: str,
                      clip_seconds: float) -> dict[str, np.ndarray]:
        from edge.pipeline.calibration_scores import series_scores

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
