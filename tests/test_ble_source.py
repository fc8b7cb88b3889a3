"""The BLE ECG source against a real peer: a dbus-daemon, a fake BlueZ serving simulator frames, real bleak.

The wearable streams an adfecgdb excerpt (5 channels, 1 kHz) with 2 % seeded frame loss, a few
corrupted frames and a forced disconnect in the middle; the device keeps counting while the link is
down. The source must place every delivered sample at its index, mark exactly the undelivered ones
missing, count the bad frames, and reconnect.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from edge.io.edf import read_edf_channel
from edge.sources.ble import BleEcgSource
from firmware_bridge.codec import DeviceInfo, encode_info
from firmware_bridge.protocol import CMD_START, CONTROL_UUID, DATA_UUID, FORMAT_INT16, INFO_UUID, SERVICE_UUID
from firmware_bridge.simulator import Impairments, frames, impair, to_counts
from tests.conftest import ROOT
from tests.fake_bluez import BusDaemon, FakeBlueZ, FakeCharacteristic

EDF = ROOT.parent / "shared" / "data" / "adfecgdb" / "r07.edf"
LABELS = ("Direct_1", "Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4")
ADDRESS = "C0:FF:EE:00:00:07"
UV_PER_LSB = 0.1


class Wearable:
    """The device side: frames of the recording, sent while the gateway is subscribed."""

    def __init__(self, fake: FakeBlueZ, seconds: int = 20, seed: int = 0) -> None:
        uv = np.stack([read_edf_channel(EDF, label).samples[: seconds * 1000] for label in LABELS], axis=1)
        self.counts = to_counts(uv, UV_PER_LSB)
        self.clean = frames(self.counts, fmt=FORMAT_INT16)
        self.fake = fake
        self.started = asyncio.Event()
        info = DeviceInfo((1, 2, 3), 1, 1000, FORMAT_INT16, UV_PER_LSB, LABELS)
        fake.add_peripheral(ADDRESS, "vigil-wearable", SERVICE_UUID, [
            FakeCharacteristic(DATA_UUID, ["notify"]),
            FakeCharacteristic(CONTROL_UUID, ["write"], on_write=self._control),
            FakeCharacteristic(INFO_UUID, ["read"], value=encode_info(info)),
        ])
        self.delivered: set[int] = set()  # indices of clean frames that reached the gateway intact
        self.corrupted = 0
        self.seed = seed

    def _control(self, data: bytes) -> None:
        if data == bytes([CMD_START]):
            self.started.set()

    async def stream(self, disconnect_at: int, down_frames: int) -> None:
        rng = np.random.default_rng(self.seed)
        i = 0
        while i < len(self.clean):
            if i == disconnect_at:
                self.started.clear()
                await self.fake.disconnect(ADDRESS)
                i += down_frames  # sampled while the link was down: never sent
                await asyncio.wait_for(self.started.wait(), 20)
                continue
            await asyncio.wait_for(self.started.wait(), 20)
            frame, log = impair([self.clean[i]], Impairments(loss=0.02, corrupt=0.01, seed=int(rng.integers(2**31))))
            if frame and await self.fake.notify(ADDRESS, DATA_UUID, frame[0]):
                if log.corrupted:
                    self.corrupted += 1
                else:
                    self.delivered.add(i)
            i += 1
            if i % 8 == 0:
                await asyncio.sleep(0)


@pytest.mark.parametrize("acquire", [False, True], ids=["StartNotify", "AcquireNotify"])
def test_stream_with_loss_and_a_disconnect_is_placed_exactly(bus: BusDaemon, acquire: bool) -> None:
    async def scenario() -> tuple[Wearable, BleEcgSource, list[Any]]:
        fake = await FakeBlueZ.start(bus.address, acquire_notify=acquire)
        wearable = Wearable(fake)
        source = BleEcgSource(address=ADDRESS, allowlist=[ADDRESS], scan_timeout_s=5, backoff_s=(0.05, 0.5))
        runner = asyncio.create_task(source.run())
        blocks: list[Any] = []

        async def collect() -> None:
            async for block in source.blocks():
                blocks.append(block)

        collector = asyncio.create_task(collect())
        await wearable.stream(disconnect_at=400, down_frames=37)
        await asyncio.sleep(0.3)
        await source.stop()
        await asyncio.wait_for(runner, 10)
        await asyncio.wait_for(collector, 10)
        await fake.stop()
        return wearable, source, blocks

    wearable, source, blocks = asyncio.run(scenario())
    assert wearable.fake.acquired_count == (2 if acquire else 0)  # the socket path, before and after the drop
    samples = np.concatenate([b.samples for b in blocks])
    missing = np.concatenate([b.missing for b in blocks])
    assert blocks[0].start == 0 and all(b.start == a.start + len(a.samples) for a, b in pairwise(blocks))
    expected = wearable.counts[: len(samples)] * np.float32(UV_PER_LSB)
    np.testing.assert_allclose(samples[~missing], expected[~missing], rtol=1e-6)
    per = 23
    delivered = np.zeros(len(wearable.counts), dtype=bool)
    for i in wearable.delivered:
        delivered[i * per : (i + 1) * per] = True
    np.testing.assert_array_equal(~missing, delivered[: len(missing)])  # missing exactly where nothing arrived
    assert source.stats.connects == 2 and source.stats.disconnects == 1 and len(source.stats.reconnect_s) == 1
    assert sum(source.stats.bad_frames.values()) == wearable.corrupted  # every bad frame counted, none fatal
    assert source.info is not None and source.info.labels == LABELS


def test_devices_outside_the_allowlist_are_ignored(bus: BusDaemon) -> None:
    async def scenario() -> int:
        fake = await FakeBlueZ.start(bus.address)
        Wearable(fake, seconds=1)
        source = BleEcgSource(names=["vigil-wearable"], allowlist=["C0:FF:EE:00:00:99"], scan_timeout_s=0.5,
                              backoff_s=(0.05, 0.1))
        runner = asyncio.create_task(source.run())
        await asyncio.sleep(1.5)
        await source.stop()
        await asyncio.wait_for(runner, 5)
        await fake.stop()
        return source.stats.connects + fake.connect_count(ADDRESS)

    assert asyncio.run(scenario()) == 0


HR_ADDRESS = "C0:FF:EE:00:01:80"
POLAR_ADDRESS = "A0:9E:1A:00:00:10"


def test_heart_rate_strap_rr_intervals(bus: BusDaemon) -> None:
    """A standard Heart Rate Service strap: RR intervals arrive as beats, in ms, in order."""
    from edge.sources.ble import HeartRateSource
    from edge.sources.ble_standard import HEART_RATE_MEASUREMENT, HEART_RATE_SERVICE

    rr = np.random.default_rng(2).integers(400, 1200, size=60)  # in 1/1024 s

    async def scenario() -> tuple[HeartRateSource, list[Any]]:
        fake = await FakeBlueZ.start(bus.address)
        fake.add_peripheral(HR_ADDRESS, "HRM-Pro", HEART_RATE_SERVICE,
                            [FakeCharacteristic(HEART_RATE_MEASUREMENT, ["notify"])])
        source = HeartRateSource(names=["HRM-Pro"], scan_timeout_s=5, backoff_s=(0.05, 0.5))
        runner = asyncio.create_task(source.run())
        for _ in range(200):
            if fake.is_notifying(HR_ADDRESS, HEART_RATE_MEASUREMENT):
                break
            await asyncio.sleep(0.02)
        for pair in rr.reshape(-1, 2):  # uint8 bpm, RR present
            await fake.notify(HR_ADDRESS, HEART_RATE_MEASUREMENT, bytes([0x10, 70]) + pair.astype("<u2").tobytes())
        await fake.notify(HR_ADDRESS, HEART_RATE_MEASUREMENT, bytes([0x11, 70]))  # truncated: counted, not fatal
        await asyncio.sleep(0.2)
        await source.stop()
        blocks = [b async for b in source.blocks()]
        await asyncio.wait_for(runner, 5)
        await fake.stop()
        return source, blocks

    source, blocks = asyncio.run(scenario())
    got = np.concatenate([b.samples[:, 0] for b in blocks])
    np.testing.assert_allclose(got, rr / 1024 * 1000, rtol=1e-6)
    assert [b.start for b in blocks] == list(range(0, 60, 2)) and source.stats.bad_frames == {"too_short": 1}
    assert source.last_bpm == 70


def test_polar_ecg_placed_by_timestamps(bus: BusDaemon) -> None:
    """Polar H10 PMD ECG at 130 Hz: a lost frame leaves exactly its samples missing."""
    from edge.sources.ble import PolarEcgSource
    from edge.sources.ble_standard import PMD_CONTROL, PMD_DATA, PMD_SERVICE, PMD_START_ECG

    uv = np.random.default_rng(3).integers(-2000, 2000, size=73 * 20)
    started = []

    def pmd_frame(k: int) -> bytes:
        samples = uv[73 * k : 73 * (k + 1)]
        ts = 10**12 + round((73 * (k + 1) - 1) * 1e9 / 130)  # the last sample's time
        body = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in samples)
        return bytes([0x00]) + ts.to_bytes(8, "little") + bytes([0x00]) + body

    async def scenario() -> list[Any]:
        fake = await FakeBlueZ.start(bus.address)
        fake.add_peripheral(POLAR_ADDRESS, "Polar H10 0000ABCD", PMD_SERVICE, [
            FakeCharacteristic(PMD_CONTROL, ["write"], on_write=started.append),
            FakeCharacteristic(PMD_DATA, ["notify"])])
        source = PolarEcgSource(address=POLAR_ADDRESS, scan_timeout_s=5, backoff_s=(0.05, 0.5))
        runner = asyncio.create_task(source.run())
        for _ in range(200):
            if started:
                break
            await asyncio.sleep(0.02)
        for k in range(20):
            if k != 7:  # frame 7 is lost on the air
                await fake.notify(POLAR_ADDRESS, PMD_DATA, pmd_frame(k))
        await asyncio.sleep(0.2)
        await source.stop()
        blocks = [b async for b in source.blocks()]
        await asyncio.wait_for(runner, 5)
        await fake.stop()
        return blocks

    blocks = asyncio.run(scenario())
    assert started == [PMD_START_ECG]  # the sensor was asked for ECG at 130 Hz, 14 bits
    assert [b.start for b in blocks] == [73 * k for k in range(20) if k != 7]  # frame 8 placed after the hole
    for block in blocks:
        np.testing.assert_array_equal(block.samples[:, 0], uv[block.start : block.start + 73])
    # the stream fills the hole: exactly the lost frame's samples are missing
    from edge.features.ecg import EcgSpec
    from edge.pipeline.decider import Decider
    from edge.pipeline.stream import Stream
    from tests.test_audio_pipeline import RecordingDetector

    stream = Stream(EcgSpec(channel="ECG", fs=130.0, block=1, window=10), RecordingDetector(), Decider(np.inf))
    for block in blocks:
        stream.push(block)
    assert stream.missing_samples == 73 and stream.ring.end == 73 * 20


def test_devices_command_lists_nearby_ble_devices(bus: BusDaemon) -> None:
    import subprocess
    import sys

    async def scenario() -> str:
        fake = await FakeBlueZ.start(bus.address)
        Wearable(fake, seconds=1)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "edge.cli", "devices", "--scan-s", "1.5",
                                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, _ = await proc.communicate()
        await fake.stop()
        return out.decode()

    out = asyncio.run(scenario())
    assert f"{ADDRESS} 'vigil-wearable'" in out


def test_a_device_without_the_bundles_lead_fails_the_source_with_its_address(bus: BusDaemon,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A device-side error is logged with the device and the reason, and the source ends (no hang)."""

    async def scenario() -> BleEcgSource:
        fake = await FakeBlueZ.start(bus.address)
        Wearable(fake, seconds=1)
        source = BleEcgSource(address=ADDRESS, scan_timeout_s=5, backoff_s=(0.05, 0.5), channel="Direct_9",
                              rate=1000.0)
        await source.start()
        blocks = [b async for b in source.blocks()]  # ends by itself
        await asyncio.wait_for(source.stop(), 5)
        await fake.stop()
        assert blocks == []
        return source

    with caplog.at_level("ERROR", logger="edge.sources.ble"):
        source = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert source.failure is not None and ADDRESS in source.failure and "Direct_9" in source.failure
    assert any(ADDRESS in r.getMessage() and "Direct_9" in r.getMessage() for r in caplog.records)
