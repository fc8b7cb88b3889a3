"""`vigil devices`: audio inputs (PortAudio) and, unless told not to, BLE devices seen in a short scan;
and missing hardware said in one line (no audio input, no BlueZ, no adapter) for `vigil run` too.

The service's choice when a device is missing (README, "Watching a gateway"): a microphone stream
that cannot open its input fails with one line naming the device and the inputs there are; a BLE
stream keeps retrying with its backoff (bluetoothd may come up later) and is shown "waiting" with
the reason, said once per change. The other streams go on. The watchdog stays strict: a stream
without progress for its ``stall_s`` stops it, so under systemd a device missing for longer ends
in a restart (Restart=on-failure after WatchdogSec), which retries too and shows in the journal.
"""

from __future__ import annotations

import asyncio
import os

from edge.errors import InputFileError

BLUEZ_DOWN = "BlueZ not reachable on the system D-Bus"


def input_names() -> list[str]:
    try:
        import sounddevice as sd

        return [str(d["name"]) for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception:  # no PortAudio library, or PortAudio's own error
        return []


def no_audio_input(device: str | int | None, detail: str = "") -> InputFileError:
    what = "(default)" if device is None else repr(device)
    names = ", ".join(map(repr, input_names())) or "none"
    return InputFileError(f"no audio input device {what} (devices: {names})" + (f": {detail}" if detail else ""))


def describe_ble_error(exc: BaseException) -> str:
    """One line for what bleak raises when the host side is missing; other errors as they are."""
    text = str(exc)
    bus = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/dbus/system_bus_socket")
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError | PermissionError):
        return f"{BLUEZ_DOWN} ({bus}: {exc.strerror or text})"
    if "org.freedesktop.DBus.Error.ServiceUnknown" in text or ("org.bluez" in text and "not" in text.lower()):
        return f"{BLUEZ_DOWN} (no org.bluez service on {bus}: is bluetoothd running?)"
    if "No Bluetooth adapters found" in text or ("adapter" in text.lower() and "not found" in text.lower()):
        return "no Bluetooth adapter (BlueZ runs, but lists none: `bluetoothctl list`)"
    return text or type(exc).__name__


def is_host_problem(message: str) -> bool:
    """A message from describe_ble_error about the host (BlueZ, adapter), not about the device."""
    return message.startswith((BLUEZ_DOWN, "no Bluetooth adapter"))


def audio_inputs() -> list[tuple[int, str, int, float]]:
    """(index, name, input channels, default rate Hz) of every PortAudio input; [] without PortAudio."""
    try:
        import sounddevice as sd

        return [(i, d["name"], d["max_input_channels"], d["default_samplerate"])
                for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
    except OSError as exc:  # no PortAudio library
        print(f"audio: unavailable ({exc})")
        return []


async def ble_scan(seconds: float) -> list[tuple[str, str, int]]:
    """(address, name, RSSI dBm) of the devices advertising during a scan."""
    from bleak import BleakScanner

    found = await BleakScanner.discover(timeout=seconds, return_adv=True)
    return [(d.address, d.name or adv.local_name or "", adv.rssi) for d, adv in found.values()]


def devices(*, scan_s: float, ble: bool) -> int:
    inputs = audio_inputs()
    print("audio inputs:" if inputs else "audio inputs: none")
    for index, name, channels, rate in inputs:
        print(f"  [{index}] {name} ({channels} ch, {rate:g} Hz)")
    if not ble:
        return 0
    try:
        found = asyncio.run(ble_scan(scan_s))
    except Exception as exc:  # no adapter, no BlueZ: say so and go on
        print(f"BLE: {describe_ble_error(exc)}")
        return 0
    print("BLE devices:" if found else "BLE devices: none seen")
    for address, name, rssi in sorted(found, key=lambda d: -d[2]):
        print(f"  {address} {name!r} RSSI {rssi} dBm")
    return 0
