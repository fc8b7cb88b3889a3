"""Missing hardware in one line: no audio input, no BlueZ, no Bluetooth adapter.

The service's choice (README, "When a device is missing"): it keeps running its other streams. The
stream is reported dead with the reason (one warning per change, the status file, the page,
/metrics) and retried in-process, the microphone every ``RETRY_S`` seconds and BLE with its backoff,
so a USB microphone plugged in or bluetoothd started soon after resumes the stream. The watchdog
stays strict: a stream without progress for its ``stall_s`` stops it, so under systemd a device
missing for longer ends in a restart (Restart=on-failure after WatchdogSec), which retries too and
shows up in the journal; give an optional device a long ``stall_s`` to avoid that.
"""

from __future__ import annotations

import os
from typing import Any

from edge.errors import ConfigError

RETRY_S = 10.0
BLUEZ_DOWN = "BlueZ not reachable on the system D-Bus"


class DeviceMissing(ConfigError):
    """A device the config names is not there (now): the stream waits and retries."""


def audio_inputs() -> list[str]:
    """Names of PortAudio's input devices ([] without PortAudio)."""
    try:
        import sounddevice as sd

        return [str(d["name"]) for d in sd.query_devices() if d["max_input_channels"] > 0]
    except (OSError, Exception):  # no PortAudio library, or PortAudio's own error
        return []


def no_audio_input(device: str | int | None) -> DeviceMissing:
    names = audio_inputs()
    what = "(default)" if device is None else repr(device)
    return DeviceMissing(f"no audio input device {what} (devices: {', '.join(map(repr, names)) or 'none'})")


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


def ble_scan_error(exc: Any) -> str:
    return describe_ble_error(exc)
