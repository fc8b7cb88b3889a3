"""`vigil simulate`: an EDF recording as the wearable would send it (frames file), with impairments."""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.edf import read_edf_channel
from edge.errors import ConfigError
from firmware_bridge.protocol import FORMAT_INT16, FORMAT_INT24, link_budget, sets_per_frame
from firmware_bridge.simulator import Impairments, frames, impair, to_counts

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
    """Write the frames file; returns the summary (frames written, impairments applied, link budget)."""
    labels = [label.strip() for label in opts.channels.split(",") if label.strip()]
    channels = [read_edf_channel(file, label) for label in labels]
    rates = {c.fs for c in channels}
    if len(rates) != 1:
        raise ConfigError(f"{file}: channels {labels} have rates {sorted(rates)} Hz; expected one rate")
    for name in ("loss", "duplicate", "reorder", "corrupt"):
        if not 0 <= getattr(opts, name) <= 1:
            raise ConfigError(f"--{name} {getattr(opts, name)}: expected a probability in [0, 1]")
    fmt = FORMAT_INT16 if opts.format == "int16" else FORMAT_INT24
    if opts.payload > MAX_ATT_PAYLOAD:
        raise ConfigError(f"--payload {opts.payload}: a BLE notification carries at most {MAX_ATT_PAYLOAD} bytes "
                          "(ATT MTU 517 - 3)")
    if sets_per_frame(opts.payload, len(labels), fmt) < 1:
        raise ConfigError(f"--payload {opts.payload}: too small for one set of {len(labels)} {opts.format} samples")
    uv = np.stack([c.samples for c in channels], axis=1)
    clean = frames(to_counts(uv, opts.uv_per_lsb, fmt), fmt=fmt, payload=opts.payload)
    sent, log = impair(clean, Impairments(opts.loss, opts.duplicate, opts.reorder, opts.corrupt, opts.seed))
    rate = rates.pop()
    period = sets_per_frame(opts.payload, len(labels), fmt) / rate
    t0 = time.monotonic()
    with open(out, "wb") as handle:
        for i, frame in enumerate(sent):
            if opts.realtime:
                time.sleep(max(0.0, t0 + i * period - time.monotonic()))
            handle.write(struct.pack("<H", len(frame)) + frame)
            if opts.realtime:
                handle.flush()
    budget = link_budget(rate, len(labels), fmt, opts.payload)
    return {"file": str(file), "out": str(out), "channels": len(labels), "rate_hz": rate,
            "frames_clean": len(clean), "frames_written": len(sent), "lost": len(log.lost),
            "duplicated": len(log.duplicated), "reordered": len(log.reordered), "corrupted": len(log.corrupted),
            "frames_per_s": round(budget["frames_per_s"], 2), "bytes_per_s": round(budget["bytes_per_s"], 1)}


def command(file: Path, out: Path, opts: SimulateOptions, *, as_json: bool) -> int:
    summary = run(file, out, opts)
    print(json.dumps(summary) if as_json else "\n".join(f"{k:16s} {v}" for k, v in summary.items()))
    return 0
