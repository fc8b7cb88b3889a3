"""`vigil simulate`: an EDF recording as the wearable would send it (frames file), with impairments."""

from __future__ import annotations

import itertools
import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError
from edge.io.edf import BLOCK_SAMPLES, EdfFile
from firmware_bridge.codec import encode
from firmware_bridge.protocol import FORMAT_INT16, FORMAT_INT24, link_budget, sets_per_frame
from firmware_bridge.simulator import Impairments, frames, impair_stream, to_counts

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
        factors = np.array([edf.factor(label, "uV") for label in labels])
        n = min(edf.n_samples(label) for label in labels)
        n_frames = -(-n // per)
        lengths = (len(encode(0, np.zeros((per, len(labels)), np.int32), fmt)),
                   len(encode(0, np.zeros((n - (n_frames - 1) * per, len(labels)), np.int32), fmt)))
        imp = Impairments(opts.loss, opts.duplicate, opts.reorder, opts.corrupt, opts.seed)
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
        sizes = itertools.chain(itertools.repeat(lengths[0], n_frames - 1), lengths[1:])
        sent, log = impair_stream(clean(), sizes, imp)
        with open(out, "wb") as handle:
            for frame in sent:
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


def command(file: Path, out: Path, opts: SimulateOptions, *, as_json: bool) -> int:
    summary = run(file, out, opts)
    print(json.dumps(summary) if as_json else "\n".join(f"{k:16s} {v}" for k, v in summary.items()))
    return 0
