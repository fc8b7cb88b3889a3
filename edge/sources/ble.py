"""Bluetooth LE sources (bleak): the vigil wearable, Heart Rate Service straps, the Polar H10's ECG.

Each keeps one peripheral subscribed (find, connect, subscribe, reconnect with backoff). Frames are
decoded at this boundary: a bad frame is counted by kind and logged, never fatal. Samples are
numbered by the device (the wearable's counter, the Polar's timestamps, beats): after a drop or a
lost frame the next block starts later, and the stream marks the samples in between missing. A
device-side error (a changed channel layout, a wrong rate) is logged with the device and the
reason, and the source ends with ``failure`` set: the service marks the stream failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from edge.config_table import Table
from edge.errors import ConfigError, DeviceError
from edge.sources.backoff import Backoff
from edge.sources.base import Block, Channels, Needs, Source, SourceConfig, register_source
from edge.sources.ble_standard import (
    HEART_RATE_MEASUREMENT,
    PMD_CONTROL,
    PMD_DATA,
    PMD_START_ECG,
    POLAR_ECG_RATE_HZ,
    parse_heart_rate,
    parse_pmd_ecg,
)
from edge.sources.hardware import describe_ble_error, is_host_problem
from firmware_bridge.codec import DecodeError, DeviceInfo, decode, decode_info
from firmware_bridge.protocol import CMD_START, CONTROL_UUID, DATA_UUID, INFO_UUID
from firmware_bridge.reassembly import Reassembler

log = logging.getLogger(__name__)


@dataclass
class LinkStats:
    frames: int = 0
    bad_frames: dict[str, int] = field(default_factory=dict)
    connects: int = 0
    disconnects: int = 0
    reconnect_s: list[float] = field(default_factory=list)  # from a drop to data flowing again


@dataclass(frozen=True)
class BleConfig(SourceConfig):
    """The device: by address, or by advertised name; with an allowlist, only those addresses."""

    keys: ClassVar[frozenset[str]] = frozenset({"address", "names", "allowlist"})
    address: str | None = None
    names: tuple[str, ...] = ()
    allowlist: tuple[str, ...] = ()

    @classmethod
    def parse(cls, table: Table) -> BleConfig:
        address = table.get("address", str, None)
        names = table.get("names", list, [])
        allowlist = table.get("allowlist", list, [])
        for key, values in (("names", names), ("allowlist", allowlist)):
            if not all(isinstance(v, str) and v for v in values):
                raise ConfigError(f"{table.key(key)}: {values!r} (expected a list of non-empty strings)")
        if address is None and not names:
            raise ConfigError(f"{table.where}: a BLE stream needs address or names")
        return cls(None if address is None else table.mac("address", address), tuple(names),
                   tuple(table.mac("allowlist", a) for a in allowlist))


class BleLink(Source):
    """One BLE peripheral kept subscribed: find, connect (bleak-retry-connector), reconnect, stop.

    The device is found by `address`, or by a name in `names`; with `allowlist` set, only those
    addresses are accepted. Reconnects after a drop or a failed attempt with the sources' backoff
    (``edge.sources.backoff``: backoff_s[0] doubling up to backoff_s[1], jittered); until subscribed it
    is ``waiting()``. Subclasses subscribe in `_subscribe` and put Blocks on `_queue`.
    """

    config_type = BleConfig

    def __init__(self, *, address: str | None = None, names: Sequence[str] = (), allowlist: Sequence[str] = (),
                 scan_timeout_s: float = 10.0, backoff_s: tuple[float, float] = (1.0, 60.0)) -> None:
        if address is None and not names:
            raise ConfigError("BLE source: give an address or at least one device name")
        self.address = address.upper() if address else None
        self.names = tuple(names)
        self.allowlist = {a.upper() for a in allowlist}
        self.scan_timeout_s = scan_timeout_s
        self.backoff_s = backoff_s
        self.stats = LinkStats()
        self._queue: asyncio.Queue[Block | None] = asyncio.Queue()  # None: no more blocks
        self.problem: str | None = None  # why the last attempt failed (None once data flows)
        self._linked = False  # connected and subscribed now
        self._stopping = asyncio.Event()
        self._dropped_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, config: SourceConfig, needs: Needs) -> Source:
        if not isinstance(config, BleConfig):
            raise TypeError(f"{cls.__name__} needs a BleConfig, got {type(config).__name__}")
        return cls(address=config.address, names=config.names, allowlist=config.allowlist)

    @property
    def device(self) -> str:
        return self.address or "/".join(self.names)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"ble {self.device}")

    def health(self) -> dict[str, Any]:
        s = self.stats
        return {"frames": s.frames, "bad_frames": sum(s.bad_frames.values()), "connects": s.connects,
                "disconnects": s.disconnects, "problem": self.problem}

    def waiting(self) -> str | None:
        return None if self._linked else self.problem or f"connecting to {self.device}"

    def _accept(self, device: Any, adv: Any) -> bool:
        address = str(device.address).upper()
        if self.allowlist and address not in self.allowlist:
            return False
        return address == self.address if self.address else (device.name or adv.local_name) in self.names

    def _bad(self, exc: DecodeError) -> None:
        """Count and log a bad notification at the boundary; the stream goes on."""
        self.stats.bad_frames[exc.kind] = self.stats.bad_frames.get(exc.kind, 0) + 1
        log.warning("BLE %s: bad frame dropped (%s: %s)", self.device, exc.kind, exc)

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
            raise TimeoutError(f"no device {self.device} seen in {self.scan_timeout_s} s")
        dropped = asyncio.Event()
        client = await establish_connection(BleakClient, device, device.name or device.address,
                                            disconnected_callback=lambda _c: dropped.set(), max_attempts=3)
        try:
            await self._subscribe(client)
            self.stats.connects += 1
            self._linked = True
            stop = asyncio.ensure_future(self._stopping.wait())
            drop = asyncio.ensure_future(dropped.wait())
            await asyncio.wait([stop, drop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            drop.cancel()
        finally:
            self._linked = False
            if client.is_connected:
                await client.disconnect()
        if not self._stopping.is_set():
            self.stats.disconnects += 1
            self._dropped_at = time.monotonic()
            self.problem = f"link to {device.address} dropped; reconnecting"
            log.warning("BLE %s: link dropped, reconnecting", device.address)

    async def run(self) -> None:
        """Keep a session up until stop(): reconnect with backoff after every drop or link failure;
        a device-side error ends the source with ``failure`` set."""
        from bleak.exc import BleakError

        backoff = Backoff(*self.backoff_s)
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self._session()
            except DeviceError as exc:
                self.failure = str(exc)
                log.error("BLE %s: %s; the stream stops", exc.address, exc.reason)
                self._stopping.set()
                self._queue.put_nowait(None)
                break
            except (TimeoutError, OSError, BleakError, DecodeError) as exc:
                problem = describe_ble_error(exc)
                if problem != self.problem:  # once per change, not at every retry; the service names the
                    log.log(logging.DEBUG if is_host_problem(problem) else logging.WARNING,  # stream too
                            "BLE %s: %s", self.device, problem)
                self.problem = problem
            if time.monotonic() - started > 5:  # a session that held: the link, not the device, broke
                backoff.reset()
            if self._stopping.is_set() or await backoff.wait(self._stopping):  # cut short by stop()
                break

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

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Stop and disconnect; a link still scanning or connecting after timeout_s is cancelled."""
        if not self._stopping.is_set():
            self._queue.put_nowait(None)
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                log.warning("BLE %s: link still busy at stop, cancelled", self.device)


@register_source
class BleEcgSource(BleLink):
    """The vigil wearable: blocks of ECG in uV (n, channels) float32 with a missing mask, every lead;
    with ``channel`` set, that lead first (the stream's column 0), and a device without it (or at
    another rate than ``rate``) is a device-side error. ``channels()`` names the columns."""

    kind = "ble-ecg"
    modalities = ("ecg",)

    def __init__(self, *, reorder_window: int = 8, channel: str | None = None, rate: float | None = None,
                 **link: Any) -> None:
        super().__init__(**link)
        self.reorder_window = reorder_window
        self.channel, self.rate = channel, rate
        self.info: DeviceInfo | None = None
        self._order: list[int] = []  # the device's channels, the bundle's first (all of them in device order)
        self._reassembler: Reassembler | None = None

    @classmethod
    def create(cls, config: SourceConfig, needs: Needs) -> Source:
        link = super().create(config, needs)
        if isinstance(link, BleEcgSource):
            link.channel, link.rate = needs.channel, needs.rate
        return link

    def _block(self, start: int, counts: np.ndarray, missing: np.ndarray | None) -> Block:
        """Every lead in µV, the bundle's channel first (the stream's column 0)."""
        scale = np.float32(self.info.uv_per_lsb if self.info is not None else 1.0)
        return Block(start, counts[:, self._order or slice(None)].astype(np.float32) * scale, missing)

    def channels(self) -> Channels:
        labels = () if self.info is None else tuple(self.info.labels[i] for i in self._order)
        return Channels(labels)

    def _on_data(self, _sender: Any, data: bytearray) -> None:
        try:
            frame = decode(bytes(data))
        except DecodeError as exc:
            self._bad(exc)
            return
        if self._reassembler is None:  # a notification before the subscription completed
            return
        self._good()
        for run in self._reassembler.push(frame):
            self._queue.put_nowait(self._block(run.start, run.samples, run.missing))

    async def _subscribe(self, client: Any) -> None:
        info = decode_info(bytes(await client.read_gatt_char(INFO_UUID)))
        if self.info is not None and info.labels != self.info.labels:
            raise DeviceError(client.address, f"changed channels {self.info.labels} -> {info.labels}")
        if self.channel is not None and (info.labels.count(self.channel) != 1 or
                                         (self.rate is not None and info.sample_rate != self.rate)):
            raise DeviceError(client.address, f"offers {info.labels} at {info.sample_rate} Hz; the bundle needs "
                                              f"{self.channel} at {self.rate:g} Hz")
        self.info = info
        first = [info.labels.index(self.channel)] if self.channel is not None else []
        self._order = first + [i for i in range(info.channels) if i not in first]
        if self._reassembler is None:
            self._reassembler = Reassembler(info.channels, window=self.reorder_window)
        # AcquireNotify where BlueZ offers it: notifications on a socket, not as D-Bus signals that bleak
        # unmarshals and dispatches one by one
        await client.start_notify(DATA_UUID, self._on_data, bluez={"use_start_notify": False})
        await client.write_gatt_char(CONTROL_UUID, bytes([CMD_START]), response=True)

    def _tail(self) -> list[Block]:
        if self._reassembler is None:
            return []
        return [self._block(r.start, r.samples, r.missing) for r in self._reassembler.flush()]


@register_source
class HeartRateSource(BleLink):
    """A standard heart-rate strap (Heart Rate Service): RR intervals as a KPI stream, one point per
    beat, in ms; Block.start counts beats. `times_s` holds each block's arrival (monotonic s)."""

    kind = "ble-hr"
    modalities = ("kpi",)

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


@register_source
class PolarEcgSource(BleLink):
    """A Polar H10's ECG (PMD service, 130 Hz, uV): blocks (n, 1), placed by the sensor's timestamps.

    Each frame's timestamp is that of its last sample: a frame that lands later than the previous
    one's end leaves a hole (the stream marks it missing); an overlap (timestamp jitter) is trimmed
    by the stream.
    """

    kind = "ble-polar"
    modalities = ("ecg",)

    @classmethod
    def check(cls, config: SourceConfig, needs: Needs, where: str) -> None:
        super().check(config, needs, where)
        if needs.rate != POLAR_ECG_RATE_HZ:
            raise ConfigError(f"{where}: a Polar H10 sends ECG at {POLAR_ECG_RATE_HZ} Hz; the bundle expects "
                              f"{needs.rate:g} Hz")

    def __init__(self, **link: Any) -> None:
        super().__init__(**link)
        self._origin_ns: int | None = None  # timestamp of sample index 0

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
        self._queue.put_nowait(Block(end - n, frame.uv.astype(np.float32)[:, None]))

    async def _subscribe(self, client: Any) -> None:
        await client.start_notify(PMD_DATA, self._on_pmd)
        await client.write_gatt_char(PMD_CONTROL, PMD_START_ECG, response=True)
