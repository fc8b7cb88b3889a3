"""EDF/EDF+ recordings (pyedflib): one channel by label, its rate, unit and the EDF+ annotations.

The wearable's recordings and PhysioNet's adfecgdb come as EDF+; a fetal R-peak annotation is an
EDF+ annotation with its onset in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import InputFileError
from edge.io.edf_blocks import open_edf_reader


@dataclass(frozen=True)
class EdfChannel:
    """One channel: ``samples`` float64 (n,) in ``unit`` at ``fs`` Hz; annotation onsets (k,) in s."""

    path: Path
    label: str
    fs: float
    unit: str
    samples: np.ndarray
    annotation_onsets_s: np.ndarray
    annotation_texts: tuple[str, ...]
    labels: tuple[str, ...]  # every channel label in the file
    lost: np.ndarray | None = None  # (n,) bool: inside a LOST_MARK annotation (`vigil record`), or None


LOST_MARK = "vigil: lost samples"  # how `vigil record` annotations of samples the BLE link lost begin


def lost_mask(n: int, fs: float, onsets: np.ndarray, durations: np.ndarray, texts: list[str]) -> np.ndarray | None:
    """(n,) bool: the samples covered by LOST_MARK annotations; None when there are none."""
    marks = [(o, d) for o, d, t in zip(onsets, durations, texts, strict=True) if str(t).startswith(LOST_MARK)]
    if not marks:
        return None
    mask = np.zeros(n, dtype=bool)
    for onset, duration in marks:
        mask[round(onset * fs) : round((onset + duration) * fs)] = True
    return mask


def read_edf_channel(path: str | Path, label: str) -> EdfChannel:
    """Read channel `label` of an EDF/EDF+ file; errors name the file and what was expected."""
    path = Path(path)
    reader = open_edf_reader(path)
    try:
        labels = tuple(reader.getSignalLabels())
        if label not in labels:
            raise InputFileError(f"{path}: no channel labelled {label!r} (channels: {', '.join(labels)})")
        index = labels.index(label)
        onsets, durations, texts = reader.readAnnotations()
        fs = float(reader.getSampleFrequency(index))
        samples = reader.readSignal(index)
        return EdfChannel(path=path, label=label, fs=fs,
                          unit=reader.getPhysicalDimension(index), samples=samples,
                          annotation_onsets_s=np.asarray(onsets, dtype=float),
                          annotation_texts=tuple(str(t) for t in texts), labels=labels,
                          lost=lost_mask(samples.size, fs, np.asarray(onsets), np.asarray(durations), list(texts)))
    finally:
        reader.close()


def lost_runs(reader: Any, fs: float) -> list[tuple[int, int]]:
    """[start, end) sample ranges of LOST_MARK annotations (an open pyedflib reader; annotations only)."""
    onsets, durations, texts = reader.readAnnotations()
    return [(round(o * fs), round((o + d) * fs)) for o, d, t in zip(onsets, durations, texts, strict=True)
            if str(t).startswith(LOST_MARK)]


def lost_points(reader: Any, fs: float, block: int, n_points: int) -> np.ndarray:
    """(n_points,) bool: points of `block` samples that hold a sample inside a LOST_MARK annotation
    (memory follows the points, not the samples)."""
    points = np.zeros(n_points, dtype=bool)
    for first, end in lost_runs(reader, fs):
        points[first // block : -(-end // block)] = True
    return points


def lost_in(runs: list[tuple[int, int]], offset: int, n: int) -> np.ndarray | None:
    """(n,) bool for samples [offset, offset + n) inside the runs, or None when none is."""
    mask = None
    for first, end in runs:
        if first < offset + n and end > offset:
            mask = np.zeros(n, dtype=bool) if mask is None else mask
            mask[max(first - offset, 0) : min(end - offset, n)] = True
    return mask
