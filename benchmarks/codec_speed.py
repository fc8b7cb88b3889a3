"""Frame decode (+ reassembly) throughput on one core, against what 5 channels at 1 kHz need.

Usage: .venv/bin/python -m benchmarks.codec_speed
"""

from __future__ import annotations

import json
import time

import numpy as np

from edge.commands.scoring import pin_to_one_core as _pin_to_one_core
from firmware_bridge.codec import decode
from firmware_bridge.protocol import ATT_PAYLOAD_DEFAULT, ATT_PAYLOAD_DLE, FORMAT_INT16, FORMAT_INT24, link_budget
from firmware_bridge.reassembly import Reassembler
from firmware_bridge.simulator import frames


def main() -> None:
    cpu = _pin_to_one_core()
    counts = np.random.default_rng(0).integers(-3000, 3000, size=(300_000, 5))
    report: dict[str, object] = {"cpu": cpu}
    for fmt, name in ((FORMAT_INT16, "int16"), (FORMAT_INT24, "int24")):
        for payload in (ATT_PAYLOAD_DEFAULT, ATT_PAYLOAD_DLE) if fmt == FORMAT_INT16 else (ATT_PAYLOAD_DLE,):
            seq = frames(counts, fmt=fmt, payload=payload)
            t0 = time.process_time()
            decoded = [decode(f) for f in seq]
            t_decode = time.process_time() - t0
            reassembler = Reassembler(5)
            t0 = time.process_time()
            for f in decoded:
                reassembler.push(f)
            t_reassemble = time.process_time() - t0
            total = t_decode + t_reassemble
            need = link_budget(1000, 5, fmt, payload)["frames_per_s"]
            report[f"{name}_payload{payload}"] = {
                "frames": len(seq), "frames_per_s": round(len(seq) / total),
                "samples_per_s": round(counts.size / total),
                "needed_frames_per_s": round(need, 1), "headroom_x": round(len(seq) / total / need, 1),
                "decode_share": round(t_decode / total, 2)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
