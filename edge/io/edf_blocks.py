"""EDF/EDF+ channels read in blocks (pyedflib reads any sample range), so memory does not grow
with the recording: a day of 1 kHz fetal ECG is 86 M samples per channel."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edge.errors import InputFileError

BLOCK_SAMPLES = 1 << 16  # samples per read: 512 KB of float64
UNIT_TO_UV = {"uv": 1.0, "µv": 1.0, "mv": 1000.0, "v": 1e6, "nv": 1e-3}


def unit_factor(path: Path, label: str, found: str, wanted: str) -> float:
    """What a channel's physical values in `found` are multiplied by to be in `wanted` (EDF units: uV, mV, V,
    nV). A blank unit is taken as `wanted` (EDFs that leave it empty); another unit is refused."""
    have, want = UNIT_TO_UV.get(found.strip().lower()), UNIT_TO_UV.get(wanted.strip().lower())
    if not found.strip() or want is None:
        return 1.0
    if have is None:
        raise InputFileError(f"{path}: channel {label!r} in unit {found!r} (expected uV, mV or V)")
    return have / want


def open_edf_reader(path: Path) -> Any:
    """A pyedflib reader on `path`; a missing or unreadable file is one InputFileError naming it."""
    import pyedflib  # the gateway's EDF reader, imported when a recording is opened

    if not path.is_file():
        raise InputFileError(f"{path}: no such file (expected an EDF recording)")
    try:
        with _stdout_to_devnull():
            return pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable EDF/EDF+ file ({str(exc).strip()})") from None


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
    """An open EDF/EDF+ file: channel ``labels``; ``fs``, ``n_samples`` and ``blocks`` per channel label."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader: Any = open_edf_reader(self.path)
        self.labels = tuple(self._reader.getSignalLabels())

    def index(self, label: str) -> int:
        if label not in self.labels:
            raise InputFileError(f"{self.path}: no channel labelled {label!r} (channels: {', '.join(self.labels)})")
        return self.labels.index(label)

    def fs(self, label: str) -> float:
        return float(self._reader.getSampleFrequency(self.index(label)))

    def unit(self, label: str) -> str:
        return str(self._reader.getPhysicalDimension(self.index(label)))

    def n_samples(self, label: str) -> int:
        return int(self._reader.getNSamples()[self.index(label)])

    def blocks(self, label: str, n: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
        """Physical values float64 (<= n,) of channel `label`, in order, each read from the file."""
        index, total = self.index(label), self.n_samples(label)
        for start in range(0, total, n):
            yield self._reader.readSignal(index, start, min(n, total - start))

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> EdfFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def edf_block_means(edf: EdfFile, label: str, block: int) -> np.ndarray:
    """Means of consecutive `block`-sample blocks of a channel (n // block,), read in file blocks;
    a trailing partial block is dropped, as edge.features.ecg.block_means does."""
    step = block * max(1, BLOCK_SAMPLES // block)  # whole point blocks per read
    parts = [chunk[: chunk.size - chunk.size % block].reshape(-1, block).mean(axis=1)
             for chunk in edf.blocks(label, step)]
    return np.concatenate(parts) if parts else np.empty(0)
