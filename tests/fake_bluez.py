"""A fake BlueZ D-Bus service that lets the real (unmodified) bleak BlueZ backend run without Bluetooth hardware.

Start a private bus with :class:`BusDaemon`, set ``DBUS_SYSTEM_BUS_ADDRESS`` to its address *before* bleak first
touches D-Bus, then run :class:`FakeBlueZ` on the same asyncio loop as bleak::

    with BusDaemon() as daemon:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = daemon.address
        fake = await FakeBlueZ.start(daemon.address)
        fake.add_peripheral("C0:FF:EE:00:00:01", "ECG", SERVICE_UUID, [FakeCharacteristic(DATA_UUID, ["notify"])])
        ...  # BleakScanner / BleakClient as usual, e.g. after client.start_notify(DATA_UUID, cb):
        await fake.notify("C0:FF:EE:00:00:01", DATA_UUID, b"\\x01\\x02")

Raw method calls are answered from one ``path -> interface -> property -> Variant`` store (which also backs
GetManagedObjects and Properties), covering what bleak 3.1 uses; notifications use StartNotify (Value
PropertiesChanged signals), or with ``acquire_notify=True`` BlueZ's AcquireNotify: a SOCK_SEQPACKET socket
passed to the client, one notification per packet, as real BlueZ offers for notify characteristics.
"""

import asyncio
import contextlib
import fcntl
import select
import shutil
import socket
import subprocess
import tempfile
import termios
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbus_fast import BusType, DBusError, ErrorType, Message, MessageType, RequestNameReply, Variant
from dbus_fast.aio import MessageBus

from tests.conftest import starts_peer

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
Reply = tuple[str, list[Any]] | None  # a method handler's (signature, body); None means an empty reply


class BusDaemon:
    """A permissive private ``dbus-daemon`` at ``address`` (``unix:path=<tmpdir>/bus.sock``), started on creation."""

    def __init__(self, timeout: float = 5.0) -> None:
        starts_peer("dbus-daemon")
        self._dir = Path(tempfile.mkdtemp(prefix="fake-bluez-"))  # short path: unix socket paths max out at 107 bytes
        socket, config, log = self._dir / "bus.sock", self._dir / "bus.conf", self._dir / "bus.log"
        config.write_text(_BUS_CONFIG.format(socket=socket))
        self.address = f"unix:path={socket}"
        with log.open("wb") as stderr:
            self._proc = subprocess.Popen(
                ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.pid = self._proc.pid
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)  # it prints the address once listening
        if not ready or not self._proc.stdout.readline() or not socket.exists():
            message = log.read_text(errors="replace")
            self.stop()
            raise RuntimeError(f"dbus-daemon did not start within {timeout} s: {message}")

    @property
    def running(self) -> bool:
        """Whether the daemon process is still alive."""
        return self._proc.poll() is None

    def stop(self) -> None:
        """Terminate the daemon by its PID, wait for it to exit and remove the temporary directory. Idempotent."""
        if self.running:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "BusDaemon":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class FakeCharacteristic:
    """A GATT characteristic. ``flags`` are BlueZ flags such as "read", "write", "write-without-response", "notify".

    ``value`` is what ReadValue returns (writes and notifications update it); ``on_write`` is called synchronously,
    on the event loop, with the bytes of every WriteValue.
    """

    uuid: str
    flags: list[str]
    value: bytes = b""
    on_write: Callable[[bytes], None] | None = None
    path: str = field(default="", init=False)  # D-Bus object path, assigned by FakeBlueZ.add_peripheral


@dataclass
class _Peripheral:
    address: str
    name: str
    service_uuid: str
    characteristics: list[FakeCharacteristic]
    path: str
    connected: bool = False
    connect_count: int = 0

    @property
    def service_path(self) -> str:
        return f"{self.path}/service0010"  # bleak takes handles from the last 4 hex digits of GATT object paths


def _device_path(address: str) -> str:
    return f"{ADAPTER_PATH}/dev_{address.upper().replace(':', '_')}"


class FakeBlueZ:
    """The fake ``org.bluez`` service: one powered central adapter (hci0) and the peripherals added to it."""

    def __init__(self, bus: MessageBus, advertise_interval: float, acquire_notify: bool = False) -> None:
        """Use :meth:`start`, which connects the bus and owns the name."""
        self._bus = bus
        self._acquire_notify = acquire_notify
        self._acquired: dict[str, tuple[socket.socket, socket.socket]] = {}  # char path -> (ours, the client's)
        self.acquired_count = 0  # AcquireNotify calls answered
        self._advertise_interval = advertise_interval
        self._objects: dict[str, dict[str, Props]] = {}  # path -> interface -> property -> value (what is exported)
        self._peripherals: dict[str, _Peripheral] = {}  # by device object path
        self._chars: dict[str, FakeCharacteristic] = {}  # by characteristic object path
        self._discovering: set[str] = set()  # unique bus names of the clients that called StartDiscovery
        self._advertiser: asyncio.Task[None] | None = None
        self._handlers: dict[tuple[str, str], Callable[[Message], Reply]] = {  # (interface, member) -> handler
            (OBJECT_MANAGER, "GetManagedObjects"): lambda m: ("a{oa{sa{sv}}}", [self._objects]),
            (PROPERTIES, "Get"): lambda m: ("v", [self._objects[m.path or ""][m.body[0]][m.body[1]]]),
            (PROPERTIES, "GetAll"): lambda m: ("a{sv}", [self._objects[m.path or ""].get(m.body[0], {})]),
            (PROPERTIES, "Set"): self._set_property,
            (ADAPTER, "SetDiscoveryFilter"): lambda m: None,  # ignored: bleak filters service UUIDs itself too
            (ADAPTER, "StartDiscovery"): self._start_discovery,
            (ADAPTER, "StopDiscovery"): self._stop_discovery,
            (DEVICE, "Connect"): lambda m: self._connect(self._peripherals[m.path or ""]),
            (DEVICE, "Disconnect"): lambda m: self._drop(self._peripherals[m.path or ""]),
            (DEVICE, "Pair"): self._pair,
            (CHARACTERISTIC, "ReadValue"): self._read_value,
            (CHARACTERISTIC, "WriteValue"): self._write_value,
            (CHARACTERISTIC, "StartNotify"): lambda m: self._set_notifying(m, True),
            (CHARACTERISTIC, "StopNotify"): lambda m: self._set_notifying(m, False),
        }

    @classmethod
    async def start(cls, bus_address: str, advertise_interval: float = 0.1,
                    acquire_notify: bool = False) -> "FakeBlueZ":
        """Connect to the bus at ``bus_address``, own ``org.bluez`` and export the adapter ``/org/bluez/hci0``.

        While any client is discovering, each disconnected peripheral "advertises" every ``advertise_interval`` s.
        """
        bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM,
                               negotiate_unix_fd=acquire_notify).connect()
        self = cls(bus, advertise_interval, acquire_notify)
        bus.add_message_handler(self._on_message)
        if (reply := await bus.request_name("org.bluez")) is not RequestNameReply.PRIMARY_OWNER:
            bus.disconnect()
            raise RuntimeError(f"could not own org.bluez: {reply}")
        self._add(ADAPTER_PATH, ADAPTER, {
            "Address": Variant("s", "00:11:22:33:44:55"), "AddressType": Variant("s", "public"),
            "Name": Variant("s", "fake-hci0"), "Alias": Variant("s", "fake-hci0"), "Class": Variant("u", 0),
            "Powered": Variant("b", True), "PowerState": Variant("s", "on"), "Discoverable": Variant("b", False),
            "Pairable": Variant("b", True), "Discovering": Variant("b", False), "UUIDs": Variant("as", []),
            "Roles": Variant("as", ["central", "peripheral"]),  # bleak requires "central" and Powered
        })  # fmt: skip
        return self

    async def stop(self) -> None:
        """Stop advertising and disconnect from the bus, which releases ``org.bluez``."""
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
        """Add a peripheral with one primary service. Its Device1 object is exported when discovery first runs."""
        p = _Peripheral(address.upper(), name, service_uuid.lower(), characteristics, _device_path(address))
        for i, char in enumerate(characteristics):
            char.path = f"{p.service_path}/char{0x11 + 2 * i:04x}"
            self._chars[char.path] = char
        self._peripherals[p.path] = p

    async def notify(self, address: str, char_uuid: str, data: bytes) -> bool:
        """Notify ``data`` (a Value PropertiesChanged) if a client enabled notifications; True if it was sent."""
        if not self.is_notifying(address, char_uuid):
            return False
        char = self._find_char(address, char_uuid)
        char.value = bytes(data)
        if char.path in self._acquired:  # AcquireNotify: one packet on the client's socket, no D-Bus
            ours = self._acquired[char.path][0]
            while True:
                try:
                    ours.send(char.value)
                    return True
                except BlockingIOError:
                    await asyncio.sleep(0.001)
        self._set(char.path, CHARACTERISTIC, Value=Variant("ay", char.value))
        # Flow control: the daemon answers in order, so after this round trip it has taken the signal. Without it a
        # burst fills the socket buffer and dbus-fast 5.2 treats the resulting EAGAIN as fatal, killing the bus.
        await self._bus.call(Message("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId"))
        return True

    async def disconnect(self, address: str) -> bool:
        """Drop the link from the peripheral side (out of range, reset...); False if it was not connected."""
        was_connected = self.is_connected(address)
        for char in self._find(address).characteristics:  # what was notified reaches the client first
            if char.path in self._acquired:
                ours = self._acquired[char.path][0]
                for _ in range(1000):
                    if not int.from_bytes(fcntl.ioctl(ours, termios.TIOCOUTQ, bytes(4)), "little"):
                        break
                    await asyncio.sleep(0.001)
        self._drop(self._find(address))
        return was_connected

    def is_notifying(self, address: str, char_uuid: str) -> bool:
        """Whether a client called StartNotify on the characteristic during the current connection."""
        path = self._find_char(address, char_uuid).path
        props = self._objects.get(path, {}).get(CHARACTERISTIC)
        return path in self._acquired or bool(props and props["Notifying"].value)

    def connect_count(self, address: str) -> int:
        """How many times Device1.Connect has connected this peripheral."""
        return self._find(address).connect_count

    def is_connected(self, address: str) -> bool:
        """Whether the peripheral is connected."""
        return self._find(address).connected

    # ---- object store and signals ----

    def _find(self, address: str) -> _Peripheral:
        return self._peripherals[_device_path(address)]  # KeyError for an unknown address

    def _find_char(self, address: str, uuid: str) -> FakeCharacteristic:
        return {c.uuid.lower(): c for c in self._find(address).characteristics}[uuid.lower()]

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

    # ---- discovery ----

    async def _advertise(self) -> None:
        while self._discovering:
            for p in self._peripherals.values():
                if p.path not in self._objects:
                    self._add(p.path, DEVICE, {
                        "Address": Variant("s", p.address), "AddressType": Variant("s", "public"),
                        "Name": Variant("s", p.name), "Alias": Variant("s", p.name),
                        "Adapter": Variant("o", ADAPTER_PATH), "RSSI": Variant("n", -60),
                        "UUIDs": Variant("as", [p.service_uuid]), "ManufacturerData": Variant("a{qv}", {}),
                        "ServiceData": Variant("a{sv}", {}), "Paired": Variant("b", False),
                        "Bonded": Variant("b", False), "Trusted": Variant("b", False), "Blocked": Variant("b", False),
                        "LegacyPairing": Variant("b", False), "Connected": Variant("b", False),
                        "ServicesResolved": Variant("b", False),
                    })  # fmt: skip
                elif not p.connected:
                    self._set(p.path, DEVICE, RSSI=Variant("n", -60))  # BlueZ does this on every advertisement
            await asyncio.sleep(self._advertise_interval)

    def _start_discovery(self, msg: Message) -> None:
        self._discovering.add(msg.sender or "")
        self._set(ADAPTER_PATH, ADAPTER, Discovering=Variant("b", True))
        if self._advertiser is None or self._advertiser.done():
            self._advertiser = asyncio.get_running_loop().create_task(self._advertise())

    def _stop_discovery(self, msg: Message) -> None:
        self._discovering.discard(msg.sender or "")
        if not self._discovering:
            self._set(ADAPTER_PATH, ADAPTER, Discovering=Variant("b", False))

    # ---- connections and GATT ----

    def _connect(self, p: _Peripheral) -> None:
        """Connected=True, export the GATT objects, then ServicesResolved=True (what bleak waits for)."""
        if p.connected:
            return
        p.connected, p.connect_count = True, p.connect_count + 1
        self._set(p.path, DEVICE, Connected=Variant("b", True))
        self._add(p.service_path, SERVICE, {
            "UUID": Variant("s", p.service_uuid), "Device": Variant("o", p.path), "Primary": Variant("b", True),
            "Includes": Variant("ao", []),
        })  # fmt: skip
        for c in p.characteristics:
            props = {
                "UUID": Variant("s", c.uuid.lower()), "Service": Variant("o", p.service_path),
                "Value": Variant("ay", c.value), "Notifying": Variant("b", False), "Flags": Variant("as", c.flags),
                "MTU": Variant("q", 247),
            }  # fmt: skip
            if self._acquire_notify and "notify" in c.flags:
                props["NotifyAcquired"] = Variant("b", False)
            self._add(c.path, CHARACTERISTIC, props)
        self._set(p.path, DEVICE, ServicesResolved=Variant("b", True))

    def _drop(self, p: _Peripheral) -> None:
        """Remove the GATT objects, then ServicesResolved=False and Connected=False (bleak's disconnect signal)."""
        if not p.connected:
            return
        p.connected = False
        for char in p.characteristics:
            for sock in self._acquired.pop(char.path, ()):
                sock.close()  # the client sees the socket hang up
        for path in [c.path for c in p.characteristics] + [p.service_path]:
            self._remove(path)
        self._set(p.path, DEVICE, ServicesResolved=Variant("b", False), Connected=Variant("b", False))

    def _pair(self, msg: Message) -> None:
        self._set(msg.path or "", DEVICE, Paired=Variant("b", True), Bonded=Variant("b", True))

    def _set_property(self, msg: Message) -> None:
        self._set(msg.path or "", msg.body[0], **{msg.body[1]: msg.body[2]})

    def _read_value(self, msg: Message) -> Reply:
        char = self._chars[msg.path or ""]
        if "read" not in char.flags:
            raise DBusError("org.bluez.Error.NotPermitted", "Read not permitted")
        return "ay", [char.value]

    def _write_value(self, msg: Message) -> None:
        char, data = self._chars[msg.path or ""], bytes(msg.body[0])
        if not {"write", "write-without-response"} & set(char.flags):
            raise DBusError("org.bluez.Error.NotPermitted", "Write not permitted")
        char.value = data
        if char.on_write is not None:
            char.on_write(data)

    def _set_notifying(self, msg: Message, on: bool) -> None:
        char = self._chars[msg.path or ""]
        if not {"notify", "indicate"} & set(char.flags):
            raise DBusError("org.bluez.Error.NotSupported", "Operation is not supported")
        self._set(char.path, CHARACTERISTIC, Notifying=Variant("b", on))

    def _acquire(self, msg: Message) -> Message:
        """AcquireNotify: (fd, mtu), the fd one end of a SOCK_SEQPACKET pair whose other end notify() writes."""
        char = self._chars[msg.path or ""]
        if self._acquire_notify is False or "notify" not in char.flags or char.path in self._acquired:
            raise DBusError("org.bluez.Error.NotPermitted", "Notify acquired")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self.acquired_count += 1
        self._acquired[char.path] = (ours, theirs)  # theirs stays open until the reply is sent and the link drops
        self._set(char.path, CHARACTERISTIC, NotifyAcquired=Variant("b", True))
        return Message.new_method_return(msg, "hq", [0, 247], unix_fds=[theirs.fileno()])

    def _on_message(self, msg: Message) -> Message | None:
        """Answer method calls to org.bluez objects; anything else is left to dbus-fast's default handling."""
        if msg.message_type is not MessageType.METHOD_CALL or msg.interface is None or msg.member is None:
            return None
        if (msg.interface, msg.member) == (CHARACTERISTIC, "AcquireNotify") and msg.path in self._chars:
            return self._acquire(msg)
        if (handler := self._handlers.get((msg.interface, msg.member))) is None:
            if msg.interface.startswith("org.bluez."):
                raise DBusError(ErrorType.UNKNOWN_METHOD, f"{msg.interface}.{msg.member} is not faked")
            return None
        interfaces = self._objects.get(msg.path or "", {})
        if msg.interface not in interfaces and not ((msg.interface == PROPERTIES and interfaces) or msg.path == "/"):
            raise DBusError(ErrorType.UNKNOWN_OBJECT, f"no {msg.interface} at {msg.path}")  # bleak checks this
        signature, body = handler(msg) or ("", [])
        return Message.new_method_return(msg, signature, body)


__all__ = ["BusDaemon", "FakeBlueZ", "FakeCharacteristic"]
