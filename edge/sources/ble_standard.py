"""Devices people already own: the standard Heart Rate Service and the Polar H10's ECG (PMD service).

- Heart Rate Measurement (0x2A37): flags, heart rate (uint8 or uint16 bpm), optional energy
  expended (uint16 kJ), optional RR intervals (uint16, 1/1024 s). The RR intervals are a KPI
  stream: one point per beat, in ms.
- Polar Measurement Data (PMD): ECG frames of measurement type 0x00, a uint64 timestamp (ns, of
  the last sample) and frame type 0x00, then signed 24-bit little-endian samples in uV at 130 Hz.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from firmware_bridge.codec import DecodeError, TooShort, int24_le

HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
PMD_SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
POLAR_ECG_RATE_HZ = 130
# start ECG: op 0x02, type ECG 0x00; setting 0x00 (sample rate) 1 value 130; setting 0x01 (resolution) 1 value 14
PMD_START_ECG = bytes([0x02, 0x00, 0x00, 0x01, 0x82, 0x00, 0x01, 0x01, 0x0E, 0x00])


@dataclass(frozen=True)
class HeartRate:
    bpm: int
    rr_s: tuple[float, ...]
    energy_kj: int | None
    contact: bool | None  # None when the sensor does not report contact


def parse_heart_rate(data: bytes) -> HeartRate:
    """A Heart Rate Measurement value (Bluetooth SIG GATT specification)."""
    if len(data) < 2:
        raise TooShort(f"heart rate measurement of {len(data)} bytes, at least 2 expected")
    flags = data[0]
    pos = 1
    if flags & 0x01:
        if len(data) < 3:
            raise TooShort("uint16 heart rate announced, 1 byte present")
        (bpm,) = struct.unpack_from("<H", data, pos)
        pos += 2
    else:
        bpm = data[pos]
        pos += 1
    contact = bool(flags & 0x02) if flags & 0x04 else None
    energy = None
    if flags & 0x08:
        if len(data) < pos + 2:
            raise TooShort("energy expended announced, missing")
        (energy,) = struct.unpack_from("<H", data, pos)
        pos += 2
    rr: tuple[float, ...] = ()
    if flags & 0x10:
        if (len(data) - pos) % 2:
            raise DecodeError(f"RR intervals field of {len(data) - pos} bytes, expected pairs")
        rr = tuple((np.frombuffer(data, dtype="<u2", offset=pos) / 1024.0).tolist())
    return HeartRate(bpm, rr, energy, contact)


@dataclass(frozen=True)
class PolarEcgFrame:
    timestamp_ns: int  # of the last sample, on the sensor's clock
    uv: np.ndarray  # (n,) int32


def parse_pmd_ecg(data: bytes) -> PolarEcgFrame:
    """A PMD data notification carrying ECG (vectorized 24-bit decode)."""
    if len(data) < 10:
        raise TooShort(f"PMD frame of {len(data)} bytes, at least 10 expected")
    if data[0] != 0x00:
        raise DecodeError(f"PMD measurement type {data[0]:#04x}, expected 0x00 (ECG)")
    if data[9] != 0x00:
        raise DecodeError(f"PMD ECG frame type {data[9]:#04x}, expected 0x00 (24-bit samples)")
    body = np.frombuffer(data, dtype=np.uint8, offset=10)
    if body.size % 3:
        raise DecodeError(f"PMD ECG body of {body.size} bytes, expected a multiple of 3")
    uv = int24_le(body)
    (timestamp,) = struct.unpack_from("<Q", data, 1)
    return PolarEcgFrame(timestamp, uv)
