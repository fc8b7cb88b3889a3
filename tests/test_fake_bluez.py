"""The real bleak BlueZ backend against tests/fake_bluez.py on a private dbus-daemon: scan, connect, read, write,
notify, forced disconnect and reconnect. No Bluetooth hardware or bluetoothd needed."""

import asyncio
import shutil
import struct
from collections.abc import Awaitable, Callable, Iterator

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from tests.fake_bluez import BusDaemon, FakeBlueZ, FakeCharacteristic

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed")

ECG_ADDR, ECG_NAME = "C0:FF:EE:00:00:01", "VIGIL-ECG"
SERVICE = "7a1e0001-5c6b-4f4e-9d2a-1f0c3b8e6d01"
DATA = "7a1e0002-5c6b-4f4e-9d2a-1f0c3b8e6d01"  # notify
CONTROL = "7a1e0003-5c6b-4f4e-9d2a-1f0c3b8e6d01"  # write
INFO = "7a1e0004-5c6b-4f4e-9d2a-1f0c3b8e6d01"  # read
INFO_VALUE = b"vigil-ecg fw=1.2.3 fs=500"

HRM_ADDR, HRM_NAME = "C0:FF:EE:00:00:02", "HRM-1"
HR_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HR_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"

TIMEOUT = 5.0


class World:
    """A FakeBlueZ with the ECG and heart-rate peripherals, plus what was written to the control characteristic."""

    def __init__(self, fake: FakeBlueZ) -> None:
        self.fake = fake
        self.writes: list[bytes] = []
        fake.add_peripheral(ECG_ADDR, ECG_NAME, SERVICE, [
            FakeCharacteristic(DATA, ["notify"]),
            FakeCharacteristic(CONTROL, ["write", "write-without-response"], on_write=self.writes.append),
            FakeCharacteristic(INFO, ["read"], value=INFO_VALUE),
        ])  # fmt: skip
        fake.add_peripheral(HRM_ADDR, HRM_NAME, HR_SERVICE, [FakeCharacteristic(HR_MEASUREMENT, ["notify"])])


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[BusDaemon]:
    """A private bus that bleak uses as its system bus; the daemon is stopped by PID afterwards."""
    daemon = BusDaemon()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", daemon.address)
    try:
        yield daemon
    finally:
        daemon.stop()
    assert not daemon.running


def run(bus: BusDaemon, scenario: Callable[[World], Awaitable[None]]) -> None:
    """Run ``scenario`` on a fresh loop with a fresh FakeBlueZ (bleak makes one BlueZ manager per loop)."""

    async def main() -> None:
        fake = await FakeBlueZ.start(bus.address)
        try:
            await asyncio.wait_for(scenario(World(fake)), 20)
        finally:
            await fake.stop()

    asyncio.run(main())


class Collector:
    """A notification callback that records payloads and wakes up waiters once ``n`` have arrived."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self._changed = asyncio.Event()

    def __call__(self, _char: object, data: bytearray) -> None:
        self.payloads.append(bytes(data))
        self._changed.set()

    async def wait_for(self, n: int) -> list[bytes]:
        async with asyncio.timeout(TIMEOUT):
            while len(self.payloads) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.payloads


async def send(fake: FakeBlueZ, address: str, uuid: str, payloads: list[bytes]) -> None:
    for payload in payloads:
        assert await fake.notify(address, uuid, payload)


def ecg_frames(start: int, n: int) -> list[bytes]:
    """Distinct, ordered payloads: a sequence number and three int16 samples."""
    return [struct.pack("<Ihhh", seq, seq, -seq, seq * 3 % 32768) for seq in range(start, start + n)]


def test_scan_finds_devices_by_address_name_and_discover(bus: BusDaemon) -> None:
    async def scenario(world: World) -> None:
        ecg = await BleakScanner.find_device_by_address(ECG_ADDR, timeout=TIMEOUT)
        assert ecg is not None
        assert (ecg.address, ecg.name) == (ECG_ADDR, ECG_NAME)

        hrm = await BleakScanner.find_device_by_filter(lambda d, ad: ad.local_name == HRM_NAME, timeout=TIMEOUT)
        assert hrm is not None
        assert hrm.address == HRM_ADDR

        found = await BleakScanner.discover(timeout=0.5, return_adv=True)
        assert {d.address: ad.service_uuids for d, ad in found.values()} == {
            ECG_ADDR: [SERVICE],
            HRM_ADDR: [HR_SERVICE],
        }
        assert await BleakScanner.find_device_by_address("C0:FF:EE:00:00:99", timeout=0.3) is None

    run(bus, scenario)


def test_connect_read_and_write(bus: BusDaemon) -> None:
    async def scenario(world: World) -> None:
        async with BleakClient(ECG_ADDR, timeout=TIMEOUT) as client:
            assert client.is_connected
            assert world.fake.connect_count(ECG_ADDR) == 1
            service = client.services.get_service(SERVICE)
            assert service is not None
            assert sorted(c.uuid for c in service.characteristics) == [DATA, CONTROL, INFO]

            assert await client.read_gatt_char(INFO) == bytearray(INFO_VALUE)

            await client.write_gatt_char(CONTROL, b"\x01\x02", response=True)
            await client.write_gatt_char(CONTROL, bytearray(b"\xff"), response=False)
            assert world.writes == [b"\x01\x02", b"\xff"]

            with pytest.raises(BleakGATTProtocolError):
                await client.write_gatt_char(INFO, b"nope", response=True)
            assert await client.read_gatt_char(INFO) == bytearray(INFO_VALUE)
        assert not world.fake.is_connected(ECG_ADDR)

    run(bus, scenario)


def test_hundred_notifications_arrive_in_order(bus: BusDaemon) -> None:
    async def scenario(world: World) -> None:
        frames = ecg_frames(0, 100)
        async with BleakClient(ECG_ADDR, timeout=TIMEOUT) as client:
            assert not await world.fake.notify(ECG_ADDR, DATA, b"early")  # nobody subscribed yet
            got = Collector()
            await client.start_notify(DATA, got)
            assert world.fake.is_notifying(ECG_ADDR, DATA)

            await send(world.fake, ECG_ADDR, DATA, frames)
            assert await got.wait_for(100) == frames

            await client.stop_notify(DATA)
            assert not world.fake.is_notifying(ECG_ADDR, DATA)
            assert not await world.fake.notify(ECG_ADDR, DATA, b"late")
            await asyncio.sleep(0.1)
            assert len(got.payloads) == 100

    run(bus, scenario)


def test_a_burst_of_notifications_does_not_overrun_the_bus(bus: BusDaemon) -> None:
    """Without the flow control in FakeBlueZ.notify, ~170 back-to-back signals would kill the fake's bus."""

    async def scenario(world: World) -> None:
        frames = ecg_frames(1000, 2000)
        async with BleakClient(ECG_ADDR, timeout=TIMEOUT) as client:
            got = Collector()
            await client.start_notify(DATA, got)
            await send(world.fake, ECG_ADDR, DATA, frames)
            assert await got.wait_for(len(frames)) == frames
            assert await client.read_gatt_char(INFO) == bytearray(INFO_VALUE)  # both buses still alive

    run(bus, scenario)


def test_forced_disconnect_then_reconnect(bus: BusDaemon) -> None:
    async def scenario(world: World) -> None:
        disconnected = asyncio.Event()
        client = BleakClient(ECG_ADDR, disconnected_callback=lambda _c: disconnected.set(), timeout=TIMEOUT)
        await client.connect()
        try:
            got = Collector()
            await client.start_notify(DATA, got)
            await send(world.fake, ECG_ADDR, DATA, ecg_frames(0, 10))
            assert await got.wait_for(10) == ecg_frames(0, 10)

            assert await world.fake.disconnect(ECG_ADDR)
            await asyncio.wait_for(disconnected.wait(), TIMEOUT)
            assert not client.is_connected
            assert not world.fake.is_notifying(ECG_ADDR, DATA)
            assert not await world.fake.notify(ECG_ADDR, DATA, b"lost")
        finally:
            await client.disconnect()

        async with BleakClient(ECG_ADDR, timeout=TIMEOUT) as again:  # scans again, as after a real link loss
            assert world.fake.connect_count(ECG_ADDR) == 2
            got2 = Collector()
            await again.start_notify(DATA, got2)
            await send(world.fake, ECG_ADDR, DATA, ecg_frames(10, 20))
            assert await got2.wait_for(20) == ecg_frames(10, 20)
            assert await again.read_gatt_char(INFO) == bytearray(INFO_VALUE)
        assert got.payloads == ecg_frames(0, 10)  # the old subscription saw nothing after the drop

    run(bus, scenario)


def test_heart_rate_service_can_be_subscribed(bus: BusDaemon) -> None:
    async def scenario(world: World) -> None:
        device = await BleakScanner.find_device_by_filter(lambda d, ad: HR_SERVICE in ad.service_uuids, timeout=TIMEOUT)
        assert device is not None
        assert device.address == HRM_ADDR
        async with BleakClient(device, timeout=TIMEOUT) as client:
            assert client.services.get_characteristic(HR_MEASUREMENT) is not None
            got = Collector()
            await client.start_notify(HR_MEASUREMENT, got)
            # flags 0x00 (uint8 bpm) and flags 0x01 (uint16 bpm)
            measurements = [bytes([0x00, bpm]) for bpm in range(60, 80)] + [b"\x01\x2c\x01"]
            await send(world.fake, HRM_ADDR, HR_MEASUREMENT, measurements)
            assert await got.wait_for(len(measurements)) == measurements
            assert [m[1] if m[0] == 0 else int.from_bytes(m[1:3], "little") for m in got.payloads][-2:] == [79, 300]
        assert world.fake.connect_count(HRM_ADDR) == 1
        assert world.fake.connect_count(ECG_ADDR) == 0

    run(bus, scenario)
