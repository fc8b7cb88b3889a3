"""A fake BlueZ D-Bus service for driving the real bleak BlueZ backend in tests without Bluetooth hardware.

Start a private bus with :class:`BusDaemon`, point ``DBUS_SYSTEM_BUS_ADDRESS`` at it *before* bleak first touches
D-Bus, then run :class:`FakeBlueZ` on the same asyncio loop as bleak::

    with BusDaemon() as daemon:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = daemon.address
        fake = await FakeBlueZ.start(daemon.address)
        fake.add_peripheral("C0:FF:EE:00:00:01", "ECG", SERVICE_UUID, [FakeCharacteristic(DATA_UUID, ["notify"])])
        ...  # BleakScanner / BleakClient as usual
        await fake.notify("C0:FF:EE:00:00:01", DATA_UUID, b"\\x01\\x02")

The fake answers the raw D-Bus method calls itself (no ``ServiceInterface`` classes): every object lives in one
``path -> interface -> property -> Variant`` store, which also backs ``GetManagedObjects`` and ``Properties.Get``.
It implements what bleak 3.1 uses: ObjectManager on "/", Adapter1 discovery, Device1 Connect/Disconnect/Pair and
GattCharacteristic1 ReadValue/WriteValue/StartNotify/StopNotify (bleak's default notification path; AcquireNotify
is not offered, so ``NotifyAcquired`` is absent).
"""

import asyncio
import contextlib
import select
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbus_fast import BusType, DBusError, ErrorType, Message, MessageType, RequestNameReply, Variant
from dbus_fast.aio import MessageBus

ADAPTER_PATH = "/org/bluez/hci0"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
SERVICE = "org.bluez.GattService1"
CHARACTERISTIC = "org.bluez.GattCharacteristic1"

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

Props = dict[str, Variant]


class BusDaemon:
    """A private ``dbus-daemon`` listening on ``<tmpdir>/bus.sock``; it is started by the constructor."""

    def __init__(self, timeout: float = 5.0) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="fake-bluez-"))  # short path: unix sockets allow ~107 bytes
        socket = self._dir / "bus.sock"
        config = self._dir / "bus.conf"
        config.write_text(_BUS_CONFIG.format(socket=socket))
        self.address = f"unix:path={socket}"
        self._proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.pid = self._proc.pid
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)  # the address is printed once listening
        if not ready or not self._proc.stdout.readline() or not socket.exists():
            self.stop()
            raise RuntimeError(f"dbus-daemon did not start within {timeout} s")

    def stop(self) -> None:
        """Terminate the daemon (by its PID), wait for it and remove the temporary directory. Idempotent."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        """Whether the daemon process is still alive."""
        return self._proc.poll() is None

    def __enter__(self) -> "BusDaemon":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class FakeCharacteristic:
    """One GATT characteristic. ``flags`` are BlueZ flags: "read", "write", "write-without-response", "notify", ...

    ``value`` is what ReadValue returns (and is updated by writes and notifications); ``on_write`` is called
    synchronously with the bytes of every WriteValue.
    """

    uuid: str
    flags: list[str]
    value: bytes = b""
    on_write: Callable[[bytes], None] | None = None
    path: str = field(default="", init=False)


@dataclass
class _Peripheral:
    address: str
    name: str
    service_uuid: str
    characteristics: list[FakeCharacteristic]
    path: str
    connected: bool = False
    connect_count: int = 0


def _err(name: str, text: str) -> DBusError:
    return DBusError(f"org.bluez.Error.{name}", text)


class FakeBlueZ:
    """The fake ``org.bluez`` service with a single powered central adapter, hci0. Use :meth:`start` to create it."""

    def __init__(self, bus: MessageBus, advertise_interval: float) -> None:
        self._bus = bus
        self._advertise_interval = advertise_interval
        self._objects: dict[str, dict[str, Props]] = {}  # path -> interface -> property -> value
        self._peripherals: dict[str, _Peripheral] = {}  # by device object path
        self._chars: dict[str, tuple[_Peripheral, FakeCharacteristic]] = {}  # by characteristic object path
        self._discovering: set[str] = set()  # unique bus names of clients that called StartDiscovery
        self._advertiser: asyncio.Task[None] | None = None
        self._handlers: dict[tuple[str, str], Callable[[Message], tuple[str, list[Any]]]] = {
            (OBJECT_MANAGER, "GetManagedObjects"): self._get_managed_objects,
            (PROPERTIES, "Get"): lambda m: ("v", [self._objects[m.path or ""][m.body[0]][m.body[1]]]),
            (PROPERTIES, "GetAll"): lambda m: ("a{sv}", [self._objects[m.path or ""].get(m.body[0], {})]),
            (PROPERTIES, "Set"): self._set_property,
            (ADAPTER, "SetDiscoveryFilter"): lambda m: ("", []),  # filters are ignored; bleak filters UUIDs too
            (ADAPTER, "StartDiscovery"): self._start_discovery,
            (ADAPTER, "StopDiscovery"): self._stop_discovery,
            (DEVICE, "Connect"): self._connect,
            (DEVICE, "Disconnect"): self._disconnect,
            (DEVICE, "Pair"): self._pair,
            (CHARACTERISTIC, "ReadValue"): self._read_value,
            (CHARACTERISTIC, "WriteValue"): self._write_value,
            (CHARACTERISTIC, "StartNotify"): lambda m: self._set_notifying(m, True),
            (CHARACTERISTIC, "StopNotify"): lambda m: self._set_notifying(m, False),
        }

    @classmethod
    async def start(cls, bus_address: str, advertise_interval: float = 0.1) -> "FakeBlueZ":
        """Connect to the bus at ``bus_address``, own ``org.bluez`` and export the adapter ``/org/bluez/hci0``.

        While discovery is running, every disconnected peripheral "advertises" (an RSSI PropertiesChanged)
        every ``advertise_interval`` seconds.
        """
        bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
        self = cls(bus, advertise_interval)
        bus.add_message_handler(self._on_message)
        reply = await bus.request_name("org.bluez")
        if reply is not RequestNameReply.PRIMARY_OWNER:
            bus.disconnect()
            raise RuntimeError(f"could not own org.bluez: {reply}")
        self._add(ADAPTER_PATH, ADAPTER, {
            "Address": Variant("s", "00:11:22:33:44:55"), "AddressType": Variant("s", "public"),
            "Name": Variant("s", "fake-hci0"), "Alias": Variant("s", "fake-hci0"), "Class": Variant("u", 0),
            "Powered": Variant("b", True), "PowerState": Variant("s", "on"), "Discoverable": Variant("b", False),
            "Pairable": Variant("b", True), "Discovering": Variant("b", False), "UUIDs": Variant("as", []),
            "Roles": Variant("as", ["central", "peripheral"]),
        })  # fmt: skip
        return self

    async def stop(self) -> None:
        """Stop advertising and disconnect from the bus (releasing ``org.bluez``)."""
        if self._advertiser is not None:
            self._advertiser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._advertiser
        self._bus.disconnect()
        with contextlib.suppress(Exception):
            await self._bus.wait_for_disconnect()

    # ---- test-facing API ----

    def add_peripheral(
        self, address: str, name: str, service_uuid: str, characteristics: list[FakeCharacteristic]
    ) -> None:
        """Register a peripheral with one primary service. Its Device1 object appears once discovery starts."""
        address = address.upper()
        path = f"{ADAPTER_PATH}/dev_{address.replace(':', '_')}"
        service_path = f"{path}/service0010"  # bleak parses handles from the last 4 hex digits of the path
        for i, char in enumerate(characteristics):
            char.path = f"{service_path}/char{0x11 + 2 * i:04x}"
        peripheral = _Peripheral(address, name, service_uuid.lower(), characteristics, path)
        self._peripherals[path] = peripheral
        self._chars.update({c.path: (peripheral, c) for c in characteristics})

    async def notify(self, address: str, char_uuid: str, data: bytes) -> bool:
        """Send a notification (a ``Value`` PropertiesChanged) if the characteristic is notifying; True if sent."""
        char = self._find_char(address, char_uuid)
        if not self.is_notifying(address, char_uuid):
            return False
        char.value = bytes(data)
        await self._set(char.path, CHARACTERISTIC, Value=Variant("ay", char.value))
        return True

    async def disconnect(self, address: str) -> bool:
        """Drop the link from the peripheral side (like a lost connection); False if it was not connected."""
        return self._drop(self._find(address))

    def is_notifying(self, address: str, char_uuid: str) -> bool:
        """Whether a client has StartNotify'd the characteristic during the current connection."""
        props = self._objects.get(self._find_char(address, char_uuid).path, {}).get(CHARACTERISTIC)
        return bool(props and props["Notifying"].value)

    def connect_count(self, address: str) -> int:
        """How many times Device1.Connect has succeeded for this peripheral."""
        return self._find(address).connect_count

    def is_connected(self, address: str) -> bool:
        """Whether the peripheral is connected."""
        return self._find(address).connected

    # ---- object store and signals ----

    def _find(self, address: str) -> _Peripheral:
        return next(p for p in self._peripherals.values() if p.address == address.upper())

    def _find_char(self, address: str, uuid: str) -> FakeCharacteristic:
        return next(c for c in self._find(address).characteristics if c.uuid.lower() == uuid.lower())

    def _add(self, path: str, interface: str, props: Props) -> None:
        self._objects[path] = {interface: props}
        self._signal("/", OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", [path, {interface: props}])

    def _remove(self, path: str) -> None:
        if interfaces := self._objects.pop(path, None):
            self._signal("/", OBJECT_MANAGER, "InterfacesRemoved", "oas", [path, list(interfaces)])

    def _set(self, path: str, interface: str, **changed: Variant) -> "asyncio.Future[None]":
        """Update properties and emit PropertiesChanged; the returned future resolves once the signal is sent."""
        self._objects[path][interface].update(changed)
        return self._signal(path, PROPERTIES, "PropertiesChanged", "sa{sv}as", [interface, changed, []])

    def _signal(self, path: str, iface: str, member: str, sig: str, body: list[Any]) -> "asyncio.Future[None]":
        return self._bus.send(Message.new_signal(path, iface, member, sig, body))

    def _device_props(self, p: _Peripheral) -> Props:
        return {
            "Address": Variant("s", p.address), "AddressType": Variant("s", "public"), "Name": Variant("s", p.name),
            "Alias": Variant("s", p.name), "Adapter": Variant("o", ADAPTER_PATH), "RSSI": Variant("n", -60),
            "UUIDs": Variant("as", [p.service_uuid]), "ManufacturerData": Variant("a{qv}", {}),
            "ServiceData": Variant("a{sv}", {}), "Paired": Variant("b", False), "Bonded": Variant("b", False),
            "Trusted": Variant("b", False), "Blocked": Variant("b", False), "LegacyPairing": Variant("b", False),
            "Connected": Variant("b", False), "ServicesResolved": Variant("b", False),
        }  # fmt: skip

    # ---- discovery ----

    async def _advertise(self) -> None:
        while self._discovering:
            for p in self._peripherals.values():
                if p.path not in self._objects:
                    self._add(p.path, DEVICE, self._device_props(p))
                elif not p.connected:
                    self._set(p.path, DEVICE, RSSI=Variant("n", -60))  # what BlueZ does on each advertisement
            await asyncio.sleep(self._advertise_interval)

    def _start_discovery(self, msg: Message) -> tuple[str, list[Any]]:
        self._discovering.add(msg.sender or "")
        self._set(ADAPTER_PATH, ADAPTER, Discovering=Variant("b", True))
        if self._advertiser is None or self._advertiser.done():
            self._advertiser = asyncio.get_running_loop().create_task(self._advertise())
        return "", []

    def _stop_discovery(self, msg: Message) -> tuple[str, list[Any]]:
        self._discovering.discard(msg.sender or "")
        if not self._discovering:
            self._set(ADAPTER_PATH, ADAPTER, Discovering=Variant("b", False))
        return "", []

    # ---- connections and GATT ----

    def _connect(self, msg: Message) -> tuple[str, list[Any]]:
        p = self._peripherals[msg.path or ""]
        if not p.connected:
            p.connected, p.connect_count = True, p.connect_count + 1
            self._set(p.path, DEVICE, Connected=Variant("b", True))
            service_path = f"{p.path}/service0010"
            self._add(service_path, SERVICE, {
                "UUID": Variant("s", p.service_uuid), "Device": Variant("o", p.path), "Primary": Variant("b", True),
                "Includes": Variant("ao", []),
            })  # fmt: skip
            for c in p.characteristics:
                self._add(c.path, CHARACTERISTIC, {
                    "UUID": Variant("s", c.uuid.lower()), "Service": Variant("o", service_path),
                    "Value": Variant("ay", c.value), "Notifying": Variant("b", False), "Flags": Variant("as", c.flags),
                    "MTU": Variant("q", 247),
                })  # fmt: skip
            self._set(p.path, DEVICE, ServicesResolved=Variant("b", True))
        return "", []

    def _drop(self, p: _Peripheral) -> bool:
        """Disconnect: remove the GATT objects, then ServicesResolved=False and Connected=False (watched by bleak)."""
        if not p.connected:
            return False
        p.connected = False
        for c in p.characteristics:
            self._remove(c.path)
        self._remove(f"{p.path}/service0010")
        self._set(p.path, DEVICE, ServicesResolved=Variant("b", False), Connected=Variant("b", False))
        return True

    def _disconnect(self, msg: Message) -> tuple[str, list[Any]]:
        self._drop(self._peripherals[msg.path or ""])
        return "", []

    def _pair(self, msg: Message) -> tuple[str, list[Any]]:
        self._set(msg.path or "", DEVICE, Paired=Variant("b", True), Bonded=Variant("b", True))
        return "", []

    def _char(self, msg: Message) -> FakeCharacteristic:
        return self._chars[msg.path or ""][1]

    def _read_value(self, msg: Message) -> tuple[str, list[Any]]:
        char = self._char(msg)
        if "read" not in char.flags:
            raise _err("NotPermitted", "Read not permitted")
        return "ay", [char.value]

    def _write_value(self, msg: Message) -> tuple[str, list[Any]]:
        char, data = self._char(msg), bytes(msg.body[0])
        if not {"write", "write-without-response"} & set(char.flags):
            raise _err("NotPermitted", "Write not permitted")
        char.value = data
        if char.on_write is not None:
            char.on_write(data)
        return "", []

    def _set_notifying(self, msg: Message, on: bool) -> tuple[str, list[Any]]:
        char = self._char(msg)
        if not {"notify", "indicate"} & set(char.flags):
            raise _err("NotSupported", "Operation is not supported")
        self._set(char.path, CHARACTERISTIC, Notifying=Variant("b", on))
        return "", []

    # ---- D-Bus plumbing ----

    def _get_managed_objects(self, msg: Message) -> tuple[str, list[Any]]:
        return "a{oa{sa{sv}}}", [self._objects]

    def _set_property(self, msg: Message) -> tuple[str, list[Any]]:
        interface, name, value = msg.body
        self._set(msg.path or "", interface, **{name: value})
        return "", []

    def _on_message(self, msg: Message) -> Message | None:
        """Answer method calls on org.bluez objects; other messages go to dbus-fast's default handling."""
        if msg.message_type is not MessageType.METHOD_CALL or msg.interface is None or msg.member is None:
            return None
        handler = self._handlers.get((msg.interface, msg.member))
        if handler is None:
            if msg.interface.startswith("org.bluez."):
                raise DBusError(ErrorType.UNKNOWN_METHOD, f"{msg.interface}.{msg.member} is not faked")
            return None
        known = msg.path in self._objects or (msg.path == "/" and msg.interface == OBJECT_MANAGER)
        if not known or (msg.interface == DEVICE and msg.path not in self._peripherals):
            raise DBusError(ErrorType.UNKNOWN_OBJECT, f"no object at {msg.path}")
        signature, body = handler(msg)
        return Message.new_method_return(msg, signature, body)


__all__ = ["BusDaemon", "FakeBlueZ", "FakeCharacteristic"]
