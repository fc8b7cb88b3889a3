"""`vigil features`: a feature set of every window of an audio file, computed block by block.

Windows are computed from a buffer that starts at the next window's first sample, exactly as a
live stream computes them (each window depends only on its own samples), so the result equals
computing the whole file at once while memory holds one block plus one window. The (windows,
dim) float32 array is written straight into a memory-mapped ``.npy`` (its length is known from
the file's frame count), beside the target, and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from edge.errors import InputFileError
from edge.features.spec import FeatureSpec
from edge.io.audio_file import AudioFile

SPAN_SAMPLES = 1 << 18  # samples per vectorized call (16 s at 16 kHz): bounded memory, cache-friendly


def feature_blocks(spec: FeatureSpec, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Features (k, spec.dim) float32 of consecutive complete windows of mono blocks at spec.sr."""
    hop, win = spec.hop_samples, spec.window_samples
    per_call = max(1, (SPAN_SAMPLES - win) // hop + 1)  # seed: 31 one-second windows; logmel: 507 vectors
    span = (per_call - 1) * hop + win
    buffer = np.empty(0, dtype=np.float32)
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while buffer.size >= span:
            yield spec.compute(buffer[:span])
            buffer = buffer[per_call * hop :]
    n = spec.n_windows(buffer.size)
    if n:
        yield spec.compute(buffer[: (n - 1) * hop + win])


def npy_path(out: Path) -> Path:
    """Where np.save would write: ``out`` itself if it ends in .npy, else ``out`` + ".npy"."""
    return out if out.suffix == ".npy" else out.with_name(out.name + ".npy")


def write_features(path: Path, spec: FeatureSpec, out: Path, *, channel: int | None = None) -> tuple[Path, int]:
    """Compute spec's features of every window of the file at `path` into the .npy at npy_path(out).

    Returns (the .npy path, windows). Refuses a file shorter than one window, naming both lengths.
    """
    target = npy_path(out)
    with AudioFile(path, sr_out=spec.sr, channel=channel) as audio:
        n = spec.n_windows(audio.frames_out)
        if n == 0:
            raise InputFileError(f"{path}: {audio.frames_out / spec.sr:.3f} s is shorter than one {spec.set!r} "
                                 f"window ({spec.window_samples / spec.sr:.3f} s)")
        partial = target.with_name(f".{target.name}.partial")
        try:
            array = open_memmap(partial, mode="w+", dtype=np.float32, shape=(n, spec.dim))
            _reserve(partial)
            done = 0
            for rows in feature_blocks(spec, audio.blocks()):
                array[done : done + rows.shape[0]] = rows
                done += rows.shape[0]
            array.flush()
            del array
            if done != n:  # the header's frame count and the samples read disagree
                raise InputFileError(f"{path}: {done} windows read, the header promised {n}")
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
    return target, n


def _reserve(path: Path) -> None:
    """Allocate the sparse file's blocks now: a full disk then fails here as an OSError (one line, the
    partial file removed) instead of as SIGBUS on a write into the memory map."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)
