"""`vigil simulate`: an EDF recording as the wearable would send it (frames file), with impairments."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.edf_blocks import BLOCK_SAMPLES, EdfFile, unit_factor
from edge.errors import ConfigError
from firmware_bridge.codec import encode
from firmware_bridge.protocol import FORMAT_INT16, FORMAT_INT24, link_budget, sets_per_frame
from firmware_bridge.simulator import Impairments, SimulationLog, frames, to_counts

MAX_ATT_PAYLOAD = 514  # the largest ATT MTU (517) less the 3-byte notification header


@dataclass(frozen=True)
class SimulateOptions:
    """`vigil simulate` options: EDF channel labels, sample format, ADC resolution, ATT payload bytes,
    per-frame probabilities of the impairments, seed, pacing at the device's rate."""

    channels: str = "Direct_1,Abdomen_1,Abdomen_2,Abdomen_3,Abdomen_4"
    format: str = "int16"
    uv_per_lsb: float = 0.1
    payload: int = 244
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    seed: int = 0
    realtime: bool = False


def run(file: Path, out: Path, opts: SimulateOptions) -> dict[str, Any]:
    """Write the frames file; returns the summary (frames written, impairments applied, link budget).

    The recording is read, framed, impaired and written in blocks (memory does not grow with it); the
    frames are those of firmware_bridge.simulator.impair(frames(...)) on the whole recording, byte for byte."""
    labels = [label.strip() for label in opts.channels.split(",") if label.strip()]
    for name in ("loss", "duplicate", "reorder", "corrupt"):
        if not 0 <= getattr(opts, name) <= 1:
            raise ConfigError(f"--{name} {getattr(opts, name)}: expected a probability in [0, 1]")
    if not opts.uv_per_lsb > 0:  # 0 saturated every sample silently, a negative one flipped the signal
        raise ConfigError(f"--uv-per-lsb {opts.uv_per_lsb:g}: expected the ADC step in uV, above 0")
    fmt = FORMAT_INT16 if opts.format == "int16" else FORMAT_INT24
    if opts.payload > MAX_ATT_PAYLOAD:
        raise ConfigError(f"--payload {opts.payload}: a BLE notification carries at most {MAX_ATT_PAYLOAD} bytes "
                          "(ATT MTU 517 - 3)")
    per = sets_per_frame(opts.payload, len(labels), fmt)
    if per < 1:
        raise ConfigError(f"--payload {opts.payload}: too small for one set of {len(labels)} {opts.format} samples")
    with EdfFile(file) as edf:
        rates = {edf.fs(label) for label in labels}
        if len(rates) != 1:
            raise ConfigError(f"{file}: channels {labels} have rates {sorted(rates)} Hz; expected one rate")
        # the wearable sends uV counts: a recording in mV would become counts 1000 times too small (all ~0)
        factors = np.array([unit_factor(file, label, edf.unit(label), "uV") for label in labels])
        n = min(edf.n_samples(label) for label in labels)
        n_frames = -(-n // per)
        lengths = (len(encode(0, np.zeros((per, len(labels)), np.int32), fmt)),
                   len(encode(0, np.zeros((n - (n_frames - 1) * per, len(labels)), np.int32), fmt)))
        imp = Impairments(opts.loss, opts.duplicate, opts.reorder, opts.corrupt, opts.seed)
        rng, plan, log = _plan(n_frames, lengths, imp)
        step = per * max(1, BLOCK_SAMPLES // per)  # whole frames per read

        def clean() -> Iterator[bytes]:
            reads = zip(*(edf.blocks(label, step) for label in labels), strict=False)
            for k, parts in enumerate(reads):
                size = min(p.size for p in parts)
                uv = np.stack([p[:size] for p in parts], axis=1) * factors
                yield from frames(to_counts(uv, opts.uv_per_lsb, fmt), fmt=fmt, payload=opts.payload,
                                  start_counter=k * step)

        rate = rates.pop()
        period = per / rate
        t0 = time.monotonic()
        written = 0
        with open(out, "wb") as handle:
            for frame in _reordered(_impaired(clean(), plan, log), rng, imp.reorder, n_frames - len(log.lost)
                                    + len(log.duplicated), log):
                if opts.realtime:
                    time.sleep(max(0.0, t0 + written * period - time.monotonic()))
                handle.write(struct.pack("<H", len(frame)) + frame)
                written += 1
                if opts.realtime:
                    handle.flush()
    budget = link_budget(rate, len(labels), fmt, opts.payload)
    return {"file": str(file), "out": str(out), "channels": len(labels), "rate_hz": rate,
            "frames_clean": n_frames, "frames_written": written, "lost": len(log.lost),
            "duplicated": len(log.duplicated), "reordered": len(log.reordered), "corrupted": len(log.corrupted),
            "frames_per_s": round(budget["frames_per_s"], 2), "bytes_per_s": round(budget["bytes_per_s"], 1)}


def _plan(n_frames: int, lengths: tuple[int, int], imp: Impairments) -> tuple[Any, dict[int, Any], SimulationLog]:
    """impair()'s per-frame draws, in its order, from frame lengths alone: (generator, {frame: (corruption or
    None, copies)} for the frames not sent once as they are, log). The generator goes on with the reorder draws."""
    rng = np.random.default_rng(imp.seed)
    plan: dict[int, Any] = {}
    log = SimulationLog()
    for i in range(n_frames):
        if rng.random() < imp.loss:
            log.lost.append(i)
            plan[i] = None
            continue
        corrupted = rng.random() < imp.corrupt
        size = lengths[1] if i == n_frames - 1 else lengths[0]
        hit = (int(rng.integers(0, size)), int(rng.integers(1, 256))) if corrupted else None
        copies = 2 if rng.random() < imp.duplicate else 1
        if hit is not None or copies > 1:
            plan[i] = (hit, copies)
        log.corrupted += [i] * (copies if corrupted else 0)
        log.duplicated += [i] * (copies - 1)
    return rng, plan, log


def _impaired(clean: Iterator[bytes], plan: dict[int, Any], log: SimulationLog) -> Iterator[tuple[int, bytes]]:
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


def _reordered(items: Iterator[tuple[int, bytes]], rng: Any, p: float, n_out: int,
               log: SimulationLog) -> Iterator[bytes]:
    """impair()'s adjacent swaps, one frame held back: a frame swapped forward may move on again."""
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


def command(file: Path, out: Path, opts: SimulateOptions, *, as_json: bool) -> int:
    summary = run(file, out, opts)
    print(json.dumps(summary) if as_json else "\n".join(f"{k:16s} {v}" for k, v in summary.items()))
    return 0
