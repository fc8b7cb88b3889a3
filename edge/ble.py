"""The wearable's ECG over Bluetooth LE (bleak): find, connect, subscribe, reassemble, reconnect.

Frames are decoded at this boundary: a bad frame is counted by kind and logged, never fatal. The
reassembler outlives a connection: the device keeps counting samples while the link is down, so
after a reconnect the first frame's counter places the hole exactly, as missing samples. The
device's sample counter is mapped to gateway time with drift tracking (ClockTracker).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.ble_standard import (
    HEART_RATE_MEASUREMENT,
    PMD_CONTROL,
    PMD_DATA,
    PMD_START_ECG,
    POLAR_ECG_RATE_HZ,
    parse_heart_rate,
    parse_pmd_ecg,
)
from edge.devices import describe_ble_error, is_host_problem
from edge.errors import ConfigError
from edge.sources import Block
from firmware_bridge.codec import DecodeError, DeviceInfo, decode, decode_info
from firmware_bridge.protocol import CMD_START, CONTROL_UUID, DATA_UUID, INFO_UUID
from firmware_bridge.reassembly import Reassembler

log = logging.getLogger(__name__)


class ClockTracker:
    """Maps the device's sample index to gateway time, tracking the device clock's drift.

    Per second of device time, the earliest arrival (the least-delayed frame) is kept: the lower
    envelope of arrival - index / nominal_rate. A line fitted over the last `history_s` seconds of
    that envelope gives gateway_time(index) = intercept + slope * index; drift_ppm compares the
    device's clock with its nominal rate (positive: the device samples slower than it says).
    """

    def __init__(self, nominal_rate: float, history_s: int = 600) -> None:
        self.nominal_rate = nominal_rate
        self._envelope: deque[list[float]] = deque(maxlen=history_s)  # [bucket, index, earliest residual]
        self._slope = 1.0 / nominal_rate
        self._intercept: float | None = None
        self._stale = False

    def update(self, index_end: int, arrival_s: float) -> None:
        """Per frame: only the envelope is kept up to date (a few comparisons); the line is fitted
        when read (a 600-point polyfit at 43 frames/s was the service's largest own cost)."""
        residual = arrival_s - index_end / self.nominal_rate
        bucket = index_end // max(1, int(self.nominal_rate))
        if self._envelope and self._envelope[-1][0] == bucket:
            if residual < self._envelope[-1][2]:
                self._envelope[-1][1:] = [index_end, residual]
                self._stale = True
        else:
            self._envelope.append([bucket, index_end, residual])
            self._stale = True

    def _fit(self) -> None:
        if not self._stale:
            return
        self._stale = False
        _, idx, res = np.array(self._envelope).T
        if len(idx) >= 3:
            rate_error, offset = np.polyfit(idx - idx[0], res, 1)
        else:
            rate_error, offset = 0.0, float(res.min())
        self._slope = 1.0 / self.nominal_rate + float(rate_error)
        self._intercept = float(offset) - float(rate_error) * idx[0]

    @property
    def slope(self) -> float:
        self._fit()
        return self._slope

    @property
    def intercept(self) -> float | None:
        self._fit()
        return self._intercept

    def gateway_time(self, index: int) -> float:
        intercept = self.intercept
        if intercept is None:
            raise ValueError("no frame seen yet")
        return intercept + self.slope * index

    @property
    def drift_ppm(self) -> float:
        return (self.slope * self.nominal_rate - 1.0) * 1e6


@dataclass
class LinkStats:
    frames: int = 0
    bad_frames: dict[str, int] = field(default_factory=dict)
    connects: int = 0
    disconnects: int = 0
    reconnect_s: list[float] = field(default_factory=list)  # from a drop to data flowing again


class BleLink:
    """One BLE peripheral kept subscribed: find, connect (bleak-retry-connector), reconnect, stop.

    The device is found by `address`, or by a name in `names`; with `allowlist` set, only those
    addresses are accepted. Reconnects after a drop with exponential backoff (backoff_s[0] doubling
    up to backoff_s[1]). Subclasses subscribe in `_subscribe` and put Blocks on `_queue`.
    """

    def __init__(self, *, address: str | None = None, names: Sequence[str] = (), allowlist: Sequence[str] = (),
                 scan_timeout_s: float = 10.0, backoff_s: tuple[float, float] = (0.5, 30.0)) -> None:
        if address is None and not names:
            raise ConfigError("BLE source: give an address or at least one device name")
        self.address = address.upper() if address else None
        self.names = tuple(names)
        self.allowlist = {a.upper() for a in allowlist}
        self.scan_timeout_s = scan_timeout_s
        self.backoff_s = backoff_s
        self.stats = LinkStats()
        self._queue: asyncio.Queue[Block | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._dropped_at: float | None = None
        self.problem: str | None = None  # why the last attempt failed (None once data flows)

    def _accept(self, device: Any, adv: Any) -> bool:
        address = str(device.address).upper()
        if self.allowlist and address not in self.allowlist:
            return False
        return address == self.address if self.address else (device.name or adv.local_name) in self.names

    def _bad(self, exc: DecodeError) -> None:
        """Count and log a bad notification at the boundary; the stream goes on."""
        self.stats.bad_frames[exc.kind] = self.stats.bad_frames.get(exc.kind, 0) + 1
        log.warning("BLE %s: bad frame dropped (%s: %s)", self.address or self.names, exc.kind, exc)

    def _good(self) -> None:
        self.stats.frames += 1
        self.problem = None
        if self._dropped_at is not None:
            self.stats.reconnect_s.append(time.monotonic() - self._dropped_at)
            self._dropped_at = None

    async def _subscribe(self, client: Any) -> None:
        raise NotImplementedError

    async def _session(self) -> None:
        from bleak import BleakClient, BleakScanner
        from bleak_retry_connector import establish_connection

        device = await BleakScanner.find_device_by_filter(self._accept, timeout=self.scan_timeout_s)
        if device is None:
            raise TimeoutError(f"no device {self.address or self.names} seen in {self.scan_timeout_s} s")
        dropped = asyncio.Event()
        client = await establish_connection(BleakClient, device, device.name or device.address,
                                            disconnected_callback=lambda _c: dropped.set(), max_attempts=3)
        try:
            await self._subscribe(client)
            self.stats.connects += 1
            stop = asyncio.ensure_future(self._stopping.wait())
            drop = asyncio.ensure_future(dropped.wait())
            await asyncio.wait([stop, drop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            drop.cancel()
        finally:
            if client.is_connected:
                await client.disconnect()
        if not self._stopping.is_set():
            self.stats.disconnects += 1
            self._dropped_at = time.monotonic()
            log.warning("BLE %s: link dropped, reconnecting", device.address)

    async def run(self) -> None:
        """Keep a session up until stop(): reconnect with backoff after every drop or failure."""
        from bleak.exc import BleakError

        delay = self.backoff_s[0]
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self._session()
            except (TimeoutError, OSError, BleakError, DecodeError) as exc:
                problem = describe_ble_error(exc)
                if problem != self.problem:  # once per change, not at every retry
                    log.log(logging.DEBUG if is_host_problem(problem) else logging.WARNING,  # the service says it
                            "BLE %s: %s", self.address or self.names, problem)
                self.problem = problem
            if self._stopping.is_set():
                break
            delay = self.backoff_s[0] if time.monotonic() - started > 5 else min(delay * 2, self.backoff_s[1])
            await asyncio.sleep(delay)

    def _tail(self) -> list[Block]:
        """Blocks still held when the source stops."""
        return []

    async def blocks(self) -> AsyncIterator[Block]:
        """Blocks as they become final, until stop(); what is still held is flushed last."""
        # stop() queues a None after what is already there: one await per block, no helper tasks
        # (two tasks per block at 43 blocks/s were a tenth of the service's own CPU at the live load)
        while (block := await self._queue.get()) is not None:
            yield block
        for block in self._tail():
            yield block

    def stop(self) -> None:
        if not self._stopping.is_set():
            self._queue.put_nowait(None)
        self._stopping.set()


class BleEcgSource(BleLink):
    """The vigil wearable: blocks of ECG in uV (n, channels) float32 with a missing mask."""

    def __init__(self, *, reorder_window: int = 8, **link: Any) -> None:
        super().__init__(**link)
        self.reorder_window = reorder_window
        self.info: DeviceInfo | None = None
        self.clock: ClockTracker | None = None
        self._reassembler: Reassembler | None = None

    def _on_data(self, _sender: Any, data: bytearray) -> None:
        try:
            frame = decode(bytes(data))
        except DecodeError as exc:
            self._bad(exc)
            return
        assert self._reassembler is not None and self.info is not None and self.clock is not None
        self._good()
        for run in self._reassembler.push(frame):
            self.clock.update(run.start + run.samples.shape[0], time.monotonic())
            uv = run.samples.astype(np.float32) * np.float32(self.info.uv_per_lsb)
            self._queue.put_nowait(Block(run.start, uv, run.missing))

    async def _subscribe(self, client: Any) -> None:
        info = decode_info(bytes(await client.read_gatt_char(INFO_UUID)))
        if self.info is not None and info.labels != self.info.labels:
            raise ConfigError(f"device {client.address} changed channels {self.info.labels} -> {info.labels}")
        self.info = info
        if self._reassembler is None:
            self._reassembler = Reassembler(info.channels, window=self.reorder_window)
            self.clock = ClockTracker(info.sample_rate)
        # AcquireNotify where BlueZ offers it: notifications on a socket, not as D-Bus signals that bleak
        # unmarshals and dispatches (three quarters of the live ECG link's CPU with StartNotify)
        await client.start_notify(DATA_UUID, self._on_data, bluez={"use_start_notify": False})
        await client.write_gatt_char(CONTROL_UUID, bytes([CMD_START]), response=True)

    def _tail(self) -> list[Block]:
        if self._reassembler is None or self.info is None:
            return []
        scale = np.float32(self.info.uv_per_lsb)
        return [Block(r.start, r.samples.astype(np.float32) * scale, r.missing) for r in self._reassembler.flush()]


class HeartRateSource(BleLink):
    """A standard heart-rate strap (Heart Rate Service): RR intervals as a KPI stream, one point per
    beat, in ms; Block.start counts beats. `times_s` holds each block's arrival (monotonic s)."""

    def __init__(self, **link: Any) -> None:
        super().__init__(**link)
        self.beats = 0
        self.last_bpm: int | None = None
        self.times_s: list[float] = []

    def _on_measurement(self, _sender: Any, data: bytearray) -> None:
        try:
            hr = parse_heart_rate(bytes(data))
        except DecodeError as exc:
            self._bad(exc)
            return
        self._good()
        self.last_bpm = hr.bpm
        if hr.rr_s:
            rr_ms = (np.asarray(hr.rr_s, dtype=np.float32) * 1000)[:, None]
            self._queue.put_nowait(Block(self.beats, rr_ms))
            self.times_s.append(time.monotonic())
            self.beats += len(hr.rr_s)

    async def _subscribe(self, client: Any) -> None:
        await client.start_notify(HEART_RATE_MEASUREMENT, self._on_measurement)


class PolarEcgSource(BleLink):
    """A Polar H10's ECG (PMD service, 130 Hz, uV): blocks (n, 1), placed by the sensor's timestamps.

    Each frame's timestamp is that of its last sample; a frame that lands later than the next
    expected index leaves the samples in between missing, and an overlap (timestamp jitter) is trimmed.
    """

    def __init__(self, **link: Any) -> None:
        super().__init__(**link)
        self._origin_ns: int | None = None  # timestamp of sample index 0
        self.next_index = 0

    def _on_pmd(self, _sender: Any, data: bytearray) -> None:
        try:
            frame = parse_pmd_ecg(bytes(data))
        except DecodeError as exc:
            self._bad(exc)
            return
        self._good()
        n = frame.uv.size
        if self._origin_ns is None:
            self._origin_ns = frame.timestamp_ns - round((n - 1) * 1e9 / POLAR_ECG_RATE_HZ)
        end = round((frame.timestamp_ns - self._origin_ns) * POLAR_ECG_RATE_HZ / 1e9) + 1
        start = end - n
        uv = frame.uv.astype(np.float32)[:, None]
        if start > self.next_index:  # frames were lost in between
            gap = start - self.next_index
            self._queue.put_nowait(Block(self.next_index, np.zeros((gap, 1), np.float32), np.ones(gap, bool)))
        elif start < self.next_index:
            uv, start = uv[self.next_index - start :], self.next_index
        if uv.size:
            self._queue.put_nowait(Block(start, uv, np.zeros(uv.shape[0], bool)))
            self.next_index = start + uv.shape[0]

    async def _subscribe(self, client: Any) -> None:
        await client.start_notify(PMD_DATA, self._on_pmd)
        await client.write_gatt_char(PMD_CONTROL, PMD_START_ECG, response=True)
