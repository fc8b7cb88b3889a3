"""`vigil simulate`: an EDF recording as the wearable would send it (frames file), with impairments."""

from __future__ import annotations

import argparse
import struct
import time
from typing import Any

import numpy as np

from edge.edf import read_edf_channel
from edge.errors import ConfigError
from firmware_bridge.protocol import FORMAT_INT16, FORMAT_INT24, link_budget, sets_per_frame
from firmware_bridge.simulator import Impairments, frames, impair, to_counts

MAX_ATT_PAYLOAD = 514  # the largest ATT MTU (517) less the 3-byte notification header


def run(args: argparse.Namespace) -> dict[str, Any]:
    labels = [label.strip() for label in args.channels.split(",") if label.strip()]
    channels = [read_edf_channel(args.file, label) for label in labels]
    rates = {c.fs for c in channels}
    if len(rates) != 1:
        raise ConfigError(f"{args.file}: channels {labels} have rates {sorted(rates)} Hz; expected one rate")
    for name in ("loss", "duplicate", "reorder", "corrupt"):
        if not 0 <= getattr(args, name) <= 1:
            raise ConfigError(f"--{name} {getattr(args, name)}: expected a probability in [0, 1]")
    fmt = FORMAT_INT16 if args.format == "int16" else FORMAT_INT24
    if args.payload > MAX_ATT_PAYLOAD:
        raise ConfigError(f"--payload {args.payload}: a BLE notification carries at most {MAX_ATT_PAYLOAD} bytes "
                          "(ATT MTU 517 - 3)")
    if sets_per_frame(args.payload, len(labels), fmt) < 1:
        raise ConfigError(f"--payload {args.payload}: too small for one set of {len(labels)} {args.format} samples")
    uv = np.stack([c.samples for c in channels], axis=1)
    clean = frames(to_counts(uv, args.uv_per_lsb, fmt), fmt=fmt, payload=args.payload)
    sent, log = impair(clean, Impairments(args.loss, args.duplicate, args.reorder, args.corrupt, args.seed))
    rate = rates.pop()
    period = sets_per_frame(args.payload, len(labels), fmt) / rate
    t0 = time.monotonic()
    with open(args.out, "wb") as handle:
        for i, frame in enumerate(sent):
            if args.realtime:
                time.sleep(max(0.0, t0 + i * period - time.monotonic()))
            handle.write(struct.pack("<H", len(frame)) + frame)
            if args.realtime:
                handle.flush()
    budget = link_budget(rate, len(labels), fmt, args.payload)
    return {"file": str(args.file), "out": str(args.out), "channels": len(labels), "rate_hz": rate,
            "frames_clean": len(clean), "frames_written": len(sent), "lost": len(log.lost),
            "duplicated": len(log.duplicated), "reordered": len(log.reordered), "corrupted": len(log.corrupted),
            "frames_per_s": round(budget["frames_per_s"], 2), "bytes_per_s": round(budget["bytes_per_s"], 1)}
