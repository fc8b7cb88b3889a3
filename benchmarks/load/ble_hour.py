"""An hour of wearable streaming through real bleak and a fake BlueZ: loss, disconnects, exact placement.

Usage: .venv/bin/python -m benchmarks.load.ble_hour [--minutes 60] [--loss 0.02] [--disconnect-every-min 5]

The adfecgdb record r01 (5 channels, 1 kHz) is repeated to the length asked for and streamed as
fast as the bus allows, with seeded frame loss and a forced disconnect every N minutes of stream
time. While the link is down the device keeps sampling: the frames it would have sent during the
measured reconnect time (at its real frame rate) are dropped, as a real device would lose them.
Prints: frames, samples placed exactly (compared with the recording), missing samples against
what was dropped, and the reconnect times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from edge.io.edf import read_edf_channel
from edge.sources.ble import BleEcgSource
from firmware_bridge.codec import DeviceInfo, encode_info
from firmware_bridge.protocol import (
    CMD_START,
    CONTROL_UUID,
    DATA_UUID,
    FORMAT_INT16,
    INFO_UUID,
    SERVICE_UUID,
    sets_per_frame,
)
from firmware_bridge.simulator import frames, to_counts
from tests.fake_bluez import BusDaemon, FakeBlueZ, FakeCharacteristic

ROOT = Path(__file__).resolve().parents[2]

LABELS = ("Direct_1", "Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4")
ADDRESS = "C0:FF:EE:00:00:60"


async def run(args: argparse.Namespace, bus: BusDaemon) -> dict[str, object]:
    edf = args.data / "r01.edf"
    uv = np.stack([read_edf_channel(edf, label).samples for label in LABELS], axis=1)
    n = int(args.minutes * 60 * 1000)
    counts = to_counts(np.tile(uv, (math.ceil(n / len(uv)), 1))[:n], 0.1)
    clean = frames(counts, fmt=FORMAT_INT16)
    per = sets_per_frame(244, 5, FORMAT_INT16)
    frame_rate = 1000 / per
    fake = await FakeBlueZ.start(bus.address)
    started = asyncio.Event()

    def control(data: bytes) -> None:
        if data == bytes([CMD_START]):
            started.set()

    fake.add_peripheral(ADDRESS, "vigil-wearable", SERVICE_UUID, [
        FakeCharacteristic(DATA_UUID, ["notify"]),
        FakeCharacteristic(CONTROL_UUID, ["write"], on_write=control),
        FakeCharacteristic(INFO_UUID, ["read"], value=encode_info(DeviceInfo((1, 0, 0), 1, 1000, 0, 0.1, LABELS))),
    ])
    source = BleEcgSource(address=ADDRESS, allowlist=[ADDRESS], scan_timeout_s=5, backoff_s=(0.05, 1.0))
    runner = asyncio.create_task(source.run())
    blocks = []

    async def collect() -> None:
        async for block in source.blocks():
            blocks.append((block.start, block.samples, block.missing))

    collector = asyncio.create_task(collect())
    rng = np.random.default_rng(args.seed)
    delivered = np.zeros(len(clean), dtype=bool)
    every = int(args.disconnect_every_min * 60 * frame_rate)
    down_frames, i, t_start = [], 0, time.monotonic()
    while i < len(clean):
        if i and i % every == 0 and (not down_frames or down_frames[-1][0] != i):
            started.clear()
            t0 = time.monotonic()
            await fake.disconnect(ADDRESS)
            await asyncio.wait_for(started.wait(), 60)
            lost = math.ceil((time.monotonic() - t0) * frame_rate)  # sampled while the link was down
            down_frames.append((i, lost))
            i += lost
            continue
        await asyncio.wait_for(started.wait(), 60)
        if rng.random() >= args.loss and await fake.notify(ADDRESS, DATA_UUID, clean[i]):
            delivered[i] = True
        i += 1
    await asyncio.sleep(0.5)
    await source.stop()
    await asyncio.wait_for(runner, 30)
    await asyncio.wait_for(collector, 30)
    await fake.stop()
    wall = time.monotonic() - t_start
    samples = np.concatenate([b[1] for b in blocks])
    missing = np.concatenate([b[2] for b in blocks])
    expected_present = np.repeat(delivered, per)[: len(missing)]
    exact = bool(np.array_equal(~missing, expected_present)) and bool(np.allclose(
        samples[~missing], counts[: len(samples)][~missing] * np.float32(0.1), rtol=1e-6))
    return {"stream_minutes": args.minutes, "frames": len(clean), "delivered_frames": int(delivered.sum()),
            "lost_frames_random": int((~delivered).sum() - sum(d for _, d in down_frames)),
            "disconnects": len(down_frames), "frames_dropped_while_down": [d for _, d in down_frames],
            "samples_out": len(missing), "missing_samples": int(missing.sum()),
            "undelivered_samples_in_span": int((~expected_present).sum()), "placed_exactly": exact,
            "connects": source.stats.connects, "reconnect_s": [round(t, 3) for t in source.stats.reconnect_s],
            "wall_s": round(wall, 1), "frames_per_s_through_bus": round(len(clean) / wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/adfecgdb")
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--loss", type=float, default=0.02)
    parser.add_argument("--disconnect-every-min", type=float, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bus = BusDaemon()
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
    try:
        print(json.dumps(asyncio.run(run(args, bus)), indent=1))
    finally:
        bus.stop()


if __name__ == "__main__":
    main()
