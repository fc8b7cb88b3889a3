"""Parsers for devices people own: Heart Rate Measurement (0x2A37) and Polar H10 PMD ECG frames."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edge.sources.ble_standard import parse_heart_rate, parse_pmd_ecg
from firmware_bridge.codec import DecodeError


def test_heart_rate_uint8_with_contact_and_rr() -> None:
    # flags: uint8 HR, contact supported + detected (0x06), RR present (0x10)
    hr = parse_heart_rate(bytes([0x16, 72]) + struct.pack("<HH", 1024, 820))
    assert hr.bpm == 72 and hr.contact is True and hr.energy_kj is None
    assert hr.rr_s == pytest.approx((1.0, 820 / 1024))


def test_heart_rate_uint16_energy_no_contact_support() -> None:
    hr = parse_heart_rate(bytes([0x09]) + struct.pack("<HH", 300, 1234))
    assert (hr.bpm, hr.energy_kj, hr.contact, hr.rr_s) == (300, 1234, None, ())


@pytest.mark.parametrize("data", [b"", bytes([0x01, 60]), bytes([0x10, 60, 1]), bytes([0x08, 60])])
def test_heart_rate_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_heart_rate(data)


def test_polar_ecg_frame() -> None:
    uv = np.array([0, 1, -1, 8388607, -8388608, 1234, -4321])
    body = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in uv)
    frame = parse_pmd_ecg(bytes([0x00]) + struct.pack("<Q", 599_000_000_123) + bytes([0x00]) + body)
    assert frame.timestamp_ns == 599_000_000_123
    np.testing.assert_array_equal(frame.uv, uv)


@pytest.mark.parametrize("data", [b"\x00" * 9, bytes([0x02]) + bytes(9), bytes(9) + b"\x01", bytes(10) + b"\x01\x02"])
def test_polar_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_pmd_ecg(data)
