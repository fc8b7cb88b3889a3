"""The wearable, simulated: samples in, the frames its firmware would send, with seeded impairments.

The recording (n, channels) in uV becomes ADC counts (round(uV / uv_per_lsb), saturating) and
frames of as many sample sets as the ATT payload holds. Impairments are applied to the frame
sequence with one seeded generator and logged, so a test knows exactly what was lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge.codec import encode
from firmware_bridge.protocol import ATT_PAYLOAD_DLE, BYTES_PER_SAMPLE, FORMAT_INT16, sets_per_frame


@dataclass(frozen=True)
class Impairments:
    """Probabilities per frame: lost, sent twice, swapped with the next one, one byte corrupted."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    seed: int = 0


@dataclass
class SimulationLog:
    """What the impairments did, by frame index in the clean sequence."""

    lost: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    reordered: list[int] = field(default_factory=list)
    corrupted: list[int] = field(default_factory=list)


def to_counts(uv: np.ndarray, uv_per_lsb: float, fmt: int = FORMAT_INT16) -> np.ndarray:
    """uV (n, channels) -> int32 ADC counts, saturating at the format's range as an ADC would."""
    top = (1 << (8 * BYTES_PER_SAMPLE[fmt] - 1)) - 1
    return np.clip(np.rint(uv / uv_per_lsb), -top - 1, top).astype(np.int32)


def frames(counts: np.ndarray, *, fmt: int = FORMAT_INT16, payload: int = ATT_PAYLOAD_DLE,
           start_counter: int = 0) -> list[bytes]:
    """The clean frame sequence for counts (n, channels), starting at sample counter start_counter."""
    per = sets_per_frame(payload, counts.shape[1], fmt)
    if per < 1:
        raise ValueError(f"{payload}-byte payload cannot carry one set of {counts.shape[1]} channels")
    return [encode(start_counter + i, counts[i : i + per], fmt) for i in range(0, counts.shape[0], per)]


def impair(clean: list[bytes], imp: Impairments) -> tuple[list[bytes], SimulationLog]:
    """Apply seeded loss, duplication, reordering (adjacent swaps) and single-byte corruption."""
    sent, log = impair_stream(clean, [len(frame) for frame in clean], imp)
    return list(sent), log


def impair_stream(clean: Iterable[bytes], sizes: Iterable[int], imp: Impairments) -> tuple[Iterator[bytes],
                                                                                          SimulationLog]:
    """impair() one frame at a time, for recordings too long to hold: `sizes` are the clean frames' lengths
    in bytes (known before the frames are made). The log's reordered list fills as the frames are taken."""
    rng, plan, log, n = _plan(sizes, imp)
    n_out = n - len(log.lost) + len(log.duplicated)
    return _reordered(_applied(clean, plan), rng, imp.reorder, n_out, log), log


def _plan(sizes: Iterable[int], imp: Impairments) -> tuple[np.random.Generator, dict[int, Any], SimulationLog, int]:
    """The per-frame draws (loss, corruption and its byte, duplication), in frame order: (generator, {frame:
    None if lost, else (corruption or None, copies)} for the frames not sent once as they are, log, frames). The
    generator goes on with the reorder draws, so one seed gives one sequence however the frames arrive."""
    rng = np.random.default_rng(imp.seed)
    plan: dict[int, Any] = {}
    log = SimulationLog()
    n = 0
    for i, size in enumerate(sizes):
        n = i + 1
        if rng.random() < imp.loss:
            log.lost.append(i)
            plan[i] = None
            continue
        corrupted = rng.random() < imp.corrupt
        hit = (int(rng.integers(0, size)), int(rng.integers(1, 256))) if corrupted else None
        copies = 2 if rng.random() < imp.duplicate else 1
        if hit is not None or copies > 1:
            plan[i] = (hit, copies)
        log.corrupted += [i] * (copies if corrupted else 0)  # one entry per corrupted frame written
        log.duplicated += [i] * (copies - 1)
    return rng, plan, log, n


def _applied(clean: Iterable[bytes], plan: dict[int, Any]) -> Iterator[tuple[int, bytes]]:
    """(frame index, bytes) as sent: lost frames dropped, corrupted ones changed, duplicated ones twice."""
    for i, frame in enumerate(clean):
        step = plan.get(i, (None, 1))
        if step is None:
            continue
        hit, copies = step
        if hit is not None:
            data = bytearray(frame)
            data[hit[0]] ^= hit[1]
            frame = bytes(data)
        for _ in range(copies):
            yield i, frame


def _reordered(items: Iterator[tuple[int, bytes]], rng: np.random.Generator, p: float, n_out: int,
               log: SimulationLog) -> Iterator[bytes]:
    """Adjacent swaps with probability p, one frame held back: a frame swapped forward may move on again
    (the in-place pass k = 0 .. n-2 over the whole list does the same)."""
    hold = next(items, None)
    if hold is None:
        return
    for _ in range(n_out - 1):
        nxt = next(items)
        if rng.random() < p:
            log.reordered.append(nxt[0])
            yield nxt[1]
        else:
            yield hold[1]
            hold = nxt
    yield hold[1]


def paced(sequence: list[bytes], frame_period_s: float) -> Iterator[tuple[float, bytes]]:
    """(due time in s from the start, frame) pairs for sending at the device's real rate."""
    for i, frame in enumerate(sequence):
        yield i * frame_period_s, frame
