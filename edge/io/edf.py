"""EDF/EDF+ recordings (pyedflib), the one reader: channels by label (or index), their rate, unit and
samples read in blocks, and the EDF+ annotations.

pyedflib reads any sample range, so memory does not grow with the recording (a day of 1 kHz fetal
ECG is 86 M samples per channel). The wearable's recordings and PhysioNet's adfecgdb come as EDF+;
a fetal R-peak annotation is an EDF+ annotation with its onset in seconds; `vigil record` marks the
samples the BLE link lost with LOST_MARK annotations.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edge.errors import InputFileError

BLOCK_SAMPLES = 1 << 16  # samples per read: 512 KB of float64
UNIT_TO_UV = {"uv": 1.0, "µv": 1.0, "mv": 1000.0, "v": 1e6, "nv": 1e-3}
LOST_MARK = "vigil: lost samples"  # how `vigil record` annotations of samples the BLE link lost begin


def unit_factor(path: Path, label: str, found: str, wanted: str) -> float:
    """What a channel's physical values in `found` are multiplied by to be in `wanted` (uV, mV, V, nV).

    A blank unit is taken as `wanted` (EDF writers that leave it empty); another unit is refused.
    The one place recordings' units are converted (EDF channels, WFDB signals, the simulator's counts).
    """
    have, want = UNIT_TO_UV.get(found.strip().lower()), UNIT_TO_UV.get(wanted.strip().lower())
    if not found.strip() or want is None:
        return 1.0
    if have is None:
        raise InputFileError(f"{path}: channel {label!r} in unit {found!r} (expected uV, mV or V)")
    return have / want


@contextlib.contextmanager
def _stdout_to_devnull() -> Iterator[None]:
    """File descriptor 1 to /dev/null: pyedflib's C reader prints its checks of a malformed file
    ("filesize ... != ...") to stdout, where `vigil beats --json` writes its JSON lines. Process-wide for the
    open's few milliseconds: fine because the daemon writes events to its sinks and logs to stderr, never stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class EdfFile:
    """An open EDF/EDF+ file: channel ``labels``; rate, unit, length and samples per channel label.

    A missing or unreadable file is one InputFileError naming it; an unknown label names the channels.
    """

    def __init__(self, path: str | Path) -> None:
        import pyedflib  # the gateway's EDF reader, imported when a recording is opened

        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: no such file (expected an EDF recording)")
        try:
            with _stdout_to_devnull():
                self._reader: Any = pyedflib.EdfReader(str(self.path))
        except OSError as exc:
            raise InputFileError(f"{self.path}: not a readable EDF/EDF+ file ({str(exc).strip()})") from None
        self.labels = tuple(self._reader.getSignalLabels())

    def index(self, label: str) -> int:
        if label not in self.labels:
            raise InputFileError(f"{self.path}: no channel labelled {label!r} (channels: {', '.join(self.labels)})")
        return self.labels.index(label)

    def fs(self, label: str) -> float:
        return float(self._reader.getSampleFrequency(self.index(label)))

    def unit(self, label: str) -> str:
        return str(self._reader.getPhysicalDimension(self.index(label)))

    def factor(self, label: str, wanted: str) -> float:
        """What the channel's values are multiplied by to be in `wanted` (a blank unit is `wanted`)."""
        return unit_factor(self.path, label, self.unit(label), wanted)

    def n_samples(self, label: str) -> int:
        return int(self._reader.getNSamples()[self.index(label)])

    def read(self, label: str, start: int = 0, n: int | None = None) -> np.ndarray:
        """Physical values float64 (n,) of channel `label` from sample `start` (to the end if n is None)."""
        index = self.index(label)
        total = int(self._reader.getNSamples()[index])
        return self._reader.readSignal(index, start, total - start if n is None else n)

    def read_leads(self, labels: Sequence[str], start: int, n: int) -> np.ndarray:
        """Physical values float64 (n, leads) of the channels `labels` from sample `start`."""
        return np.stack([self.read(label, start, n) for label in labels], axis=1)

    def blocks(self, label: str, n: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
        """Physical values float64 (<= n,) of channel `label`, in order, each read from the file."""
        total = self.n_samples(label)
        for start in range(0, total, n):
            yield self.read(label, start, min(n, total - start))

    def annotations(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """EDF+ annotations: onsets (k,) s, durations (k,) s, texts."""
        onsets, durations, texts = self._reader.readAnnotations()
        return np.asarray(onsets, dtype=float), np.asarray(durations, dtype=float), [str(t) for t in texts]

    def lost_runs(self, fs: float) -> list[tuple[int, int]]:
        """[start, end) sample ranges at `fs` Hz of the LOST_MARK annotations."""
        onsets, durations, texts = self.annotations()
        return [(round(o * fs), round((o + d) * fs)) for o, d, t in zip(onsets, durations, texts, strict=True)
                if t.startswith(LOST_MARK)]

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> EdfFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


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


def read_edf_channel(path: str | Path, label: str) -> EdfChannel:
    """Read the whole channel `label` of an EDF/EDF+ file (short recordings); errors name the file."""
    with EdfFile(path) as edf:
        fs, samples = edf.fs(label), edf.read(label)
        onsets, _, texts = edf.annotations()
        return EdfChannel(path=edf.path, label=label, fs=fs, unit=edf.unit(label), samples=samples,
                          annotation_onsets_s=onsets, annotation_texts=tuple(texts), labels=edf.labels,
                          lost=lost_in(edf.lost_runs(fs), 0, samples.size))


def lost_points(runs: list[tuple[int, int]], block: int, n_points: int) -> np.ndarray:
    """(n_points,) bool: points of `block` samples that hold a sample inside one of the lost runs
    (memory follows the points, not the samples)."""
    points = np.zeros(n_points, dtype=bool)
    for first, end in runs:
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


def edf_block_means(edf: EdfFile, label: str, block: int) -> np.ndarray:
    """Means of consecutive `block`-sample blocks of a channel (n // block,), read in file blocks;
    a trailing partial block is dropped, as edge.features.ecg.block_means does."""
    step = block * max(1, BLOCK_SAMPLES // block)  # whole point blocks per read
    parts = [chunk[: chunk.size - chunk.size % block].reshape(-1, block).mean(axis=1)
             for chunk in edf.blocks(label, step)]
    return np.concatenate(parts) if parts else np.empty(0)
