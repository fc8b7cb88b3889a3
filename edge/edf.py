"""EDF/EDF+ recordings (pyedflib): one channel by label, its rate, unit and the EDF+ annotations.

The wearable's recordings and PhysioNet's adfecgdb come as EDF+; a fetal R-peak annotation is an
EDF+ annotation with its onset in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import InputFileError


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
    import pyedflib  # the gateway's EDF reader, imported when a recording is opened

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file (expected an EDF recording)")
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable EDF/EDF+ file ({str(exc).strip()})") from None
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
