"""Missing hardware said in one line (no audio input, no BlueZ, no Bluetooth adapter): what the
microphone and BLE sources raise or report, and what `vigil devices` prints.

A missing device is a normal state for a gateway (a USB microphone not plugged in yet, a wearable out
of range, bluetoothd not up yet): its source retries with backoff (``edge.sources.backoff``), and the
stream is shown "waiting" with the reason (the microphone: the device and the inputs there are),
said once per change. The other streams go on, and the systemd watchdog stays fed: a restart would
not bring the device.
"""

from __future__ import annotations

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


def portaudio_words(text: str, *, channels: int, rate: float) -> str:
    """PortAudio's error as a user can act on it; its own words kept, in brackets, for a search."""
    low = text.lower()
    if "querying device -1" in low or "no default" in low:
        said = "no default input; plug in a microphone, or name one as the stream's device (`vigil devices`)"
    elif "invalid number of channels" in low:
        said = f"it has fewer than {channels} input channel(s) (channel is 0-based)"
    elif "invalid sample rate" in low:
        said = f"it does not record at {rate:g} Hz"
    elif "unavailable" in low or "busy" in low:
        said = "it is in use by another program, or was unplugged"
    else:
        return f"PortAudio: {text}"
    return f"{said} [PortAudio: {text}]"


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
