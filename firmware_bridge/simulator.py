"""The wearable, simulated: samples in, the frames its firmware would send, with seeded impairments.

The recording (n, channels) in uV becomes ADC counts (round(uV / uv_per_lsb), saturating) and
frames of as many sample sets as the ATT payload holds. Impairments are applied to the frame
sequence with one seeded generator and logged, so a test knows exactly what was lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

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
    rng = np.random.default_rng(imp.seed)
    log = SimulationLog()
    out: list[tuple[int, bytes]] = []
    for i, frame in enumerate(clean):
        if rng.random() < imp.loss:
            log.lost.append(i)
            continue
        corrupted = rng.random() < imp.corrupt
        if corrupted:
            data = bytearray(frame)
            data[int(rng.integers(0, len(data)))] ^= int(rng.integers(1, 256))
            frame = bytes(data)
        copies = 2 if rng.random() < imp.duplicate else 1
        out += [(i, frame)] * copies
        log.corrupted += [i] * (copies if corrupted else 0)  # one entry per corrupted frame written
        log.duplicated += [i] * (copies - 1)
    for k in range(len(out) - 1):
        if rng.random() < imp.reorder:
            out[k], out[k + 1] = out[k + 1], out[k]
            log.reordered.append(out[k][0])
    return [f for _, f in out], log


def paced(sequence: list[bytes], frame_period_s: float) -> Iterator[tuple[float, bytes]]:
    """(due time in s from the start, frame) pairs for sending at the device's real rate."""
    for i, frame in enumerate(sequence):
        yield i * frame_period_s, frame
