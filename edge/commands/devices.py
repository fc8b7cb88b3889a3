"""`vigil devices`: audio inputs (PortAudio) and, unless told not to, BLE devices seen in a short scan
(missing hardware said in one line, as the sources say it: edge.sources.hardware)."""

from __future__ import annotations

import asyncio

from edge.sources.hardware import describe_ble_error


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
