"""Encode and decode data frames (layout in protocol.py). Vectorized: no Python loop per sample.

Every decode error is a DecodeError subclass with a short `kind`, so the gateway counts bad frames
by kind at the boundary and goes on; a bad frame never stops a stream.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np

from firmware_bridge.protocol import (
    BYTES_PER_SAMPLE,
    CRC,
    CRC_INIT,
    CRC_SIZE,
    FORMAT_INT16,
    FORMAT_INT24,
    HEADER,
    HEADER_SIZE,
    INFO,
    MAX_CHANNELS,
    OVERHEAD,
    PROTOCOL_VERSION,
)


class DecodeError(ValueError):
    kind = "decode"


class TooShort(DecodeError):
    kind = "too_short"


class BadVersion(DecodeError):
    kind = "bad_version"


class BadFormat(DecodeError):
    kind = "bad_format"


class BadChannels(DecodeError):
    kind = "bad_channels"


class BadLength(DecodeError):
    kind = "bad_length"


class BadCrc(DecodeError):
    kind = "bad_crc"


@dataclass(frozen=True)
class Frame:
    """A decoded frame: `samples` int32 (sets, channels) in ADC counts; `counter` mod 2**32."""

    counter: int
    fmt: int
    samples: np.ndarray

    @property
    def sets(self) -> int:
        return int(self.samples.shape[0])


def int24_le(body: np.ndarray) -> np.ndarray:
    """Packed little-endian signed 24-bit values, uint8 (3n,) -> int32 (n,), vectorized."""
    b = body.reshape(-1, 3).astype(np.int32)
    return ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) ^ 0x800000) - 0x800000  # sign-extend 24 bits


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (binascii's C implementation of poly 0x1021, here with init 0xFFFF)."""
    return binascii.crc_hqx(data, CRC_INIT)


def encode(counter: int, samples: np.ndarray, fmt: int = FORMAT_INT16) -> bytes:
    """samples (sets, channels) integers -> one frame. Raises ValueError for values out of range."""
    samples = np.asarray(samples)
    if samples.ndim != 2 or not 1 <= samples.shape[1] <= MAX_CHANNELS or samples.shape[0] > 255:
        raise ValueError(f"samples shape {samples.shape}: expected (sets <= 255, 1..{MAX_CHANNELS} channels)")
    bits = 8 * BYTES_PER_SAMPLE[fmt]
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if samples.size and (samples.min() < low or samples.max() > high):
        raise ValueError(f"sample values outside [{low}, {high}] for {bits}-bit frames")
    if fmt == FORMAT_INT16:
        body = samples.astype("<i2").tobytes()
    else:
        body = samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    head = HEADER.pack(PROTOCOL_VERSION, fmt, samples.shape[1], samples.shape[0], counter % (1 << 32))
    payload = head + body
    return payload + CRC.pack(crc16(payload))


def decode(data: bytes) -> Frame:
    """One frame -> Frame; every malformed input raises a DecodeError naming what was wrong."""
    if len(data) < OVERHEAD:
        raise TooShort(f"{len(data)} bytes, a frame has at least {OVERHEAD}")
    version, fmt, channels, sets, counter = HEADER.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise BadVersion(f"protocol version {version}, expected {PROTOCOL_VERSION}")
    if fmt not in BYTES_PER_SAMPLE:
        raise BadFormat(f"sample format {fmt}, expected {FORMAT_INT16} (int16) or {FORMAT_INT24} (int24)")
    if not 1 <= channels <= MAX_CHANNELS:
        raise BadChannels(f"{channels} channels, expected 1..{MAX_CHANNELS}")
    expected = OVERHEAD + sets * channels * BYTES_PER_SAMPLE[fmt]
    if len(data) != expected:
        raise BadLength(f"{len(data)} bytes, header says {expected}")
    (stored,) = CRC.unpack_from(data, len(data) - CRC_SIZE)
    if crc16(data[:-CRC_SIZE]) != stored:
        raise BadCrc(f"CRC {stored:#06x} does not match the frame")
    body = np.frombuffer(data, dtype=np.uint8, offset=HEADER_SIZE, count=len(data) - OVERHEAD)
    values = body.view("<i2").astype(np.int32) if fmt == FORMAT_INT16 else int24_le(body)
    return Frame(counter=counter, fmt=fmt, samples=values.reshape(sets, channels))


@dataclass(frozen=True)
class DeviceInfo:
    """The info characteristic: firmware version, stream format, scale and channel labels."""

    fw_version: tuple[int, int, int]
    protocol: int
    sample_rate: int
    fmt: int
    uv_per_lsb: float
    labels: tuple[str, ...]

    @property
    def channels(self) -> int:
        return len(self.labels)


def encode_info(info: DeviceInfo) -> bytes:
    fixed = INFO.pack(*info.fw_version, info.protocol, info.sample_rate, info.channels, info.fmt, info.uv_per_lsb)
    return fixed + "\0".join(info.labels).encode("ascii")


def decode_info(data: bytes) -> DeviceInfo:
    if len(data) < INFO.size:
        raise TooShort(f"info record of {len(data)} bytes, at least {INFO.size} expected")
    major, minor, patch, proto, rate, channels, fmt, scale = INFO.unpack_from(data)
    if proto != PROTOCOL_VERSION:
        raise BadVersion(f"device speaks protocol {proto}, expected {PROTOCOL_VERSION}")
    try:
        labels = tuple(data[INFO.size :].decode("ascii").split("\0"))
    except UnicodeDecodeError:
        raise DecodeError("channel labels are not ASCII") from None
    if len(labels) != channels or not 1 <= channels <= MAX_CHANNELS or fmt not in BYTES_PER_SAMPLE:
        raise BadChannels(f"info says {channels} channels, format {fmt}, labels {labels}")
    return DeviceInfo((major, minor, patch), proto, rate, fmt, scale, labels)
