"""The wearable <-> gateway link, defined once: GATT UUIDs, frame layout, control and info records.

Everything here is the single source of truth: the codec, the simulator, the C header for firmware
(`python -m firmware_bridge.cheader`) and PROTOCOL.md follow these constants. All integers are
little-endian.

Data frame (one GATT notification):

    offset  size  field
    0       1     version            PROTOCOL_VERSION
    1       1     format             0 = int16, 1 = packed int24 (3 bytes, two's complement)
    2       1     channels           1..8
    3       1     sets               sample sets in this frame (each: one sample per channel)
    4       4     counter            absolute index of the frame's first sample set, mod 2**32
    8       n     samples            sets x channels, interleaved by set
    8+n     2     crc                CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of bytes 0..8+n-1
"""

from __future__ import annotations

import struct

PROTOCOL_VERSION = 1

# 128-bit UUIDs of vigil's GATT service (random base, fixed forever for protocol version 1)
SERVICE_UUID = "7a1e0001-5c6b-4f4e-9d2a-1f0c3b8e6d01"
DATA_UUID = "7a1e0002-5c6b-4f4e-9d2a-1f0c3b8e6d01"  # notify: data frames
CONTROL_UUID = "7a1e0003-5c6b-4f4e-9d2a-1f0c3b8e6d01"  # write: control commands
INFO_UUID = "7a1e0004-5c6b-4f4e-9d2a-1f0c3b8e6d01"  # read: device info record

FORMAT_INT16 = 0
FORMAT_INT24 = 1
BYTES_PER_SAMPLE = {FORMAT_INT16: 2, FORMAT_INT24: 3}
MAX_CHANNELS = 8

HEADER = struct.Struct("<BBBBI")
CRC = struct.Struct("<H")
HEADER_SIZE = HEADER.size  # 8
CRC_SIZE = CRC.size  # 2
OVERHEAD = HEADER_SIZE + CRC_SIZE
COUNTER_MODULUS = 1 << 32

# ATT payload = MTU - 3: 20 bytes at the default MTU of 23, 244 with data length extension (MTU 247)
ATT_PAYLOAD_DEFAULT = 20
ATT_PAYLOAD_DLE = 244

# Control commands (write to CONTROL_UUID): opcode, then arguments
CMD_START = 0x01  # no arguments
CMD_STOP = 0x02  # no arguments
CMD_SET_RATE = 0x03  # u16 sample rate in Hz
CMD_SET_CHANNELS = 0x04  # u8 channel mask (bit i = channel i)
CONTROL_RATE = struct.Struct("<BH")
CONTROL_MASK = struct.Struct("<BB")

# Info record (read from INFO_UUID): fixed part, then the channel labels, NUL-separated ASCII
INFO = struct.Struct("<BBBBHBBf")  # fw major, minor, patch, protocol, rate Hz, channels, format, uV per LSB
INFO_FIELDS = ("fw_major", "fw_minor", "fw_patch", "protocol", "sample_rate", "channels", "format", "uv_per_lsb")

CRC_POLY = 0x1021
CRC_INIT = 0xFFFF


def sets_per_frame(payload: int, channels: int, fmt: int) -> int:
    """Most sample sets one frame carries in an ATT payload of `payload` bytes."""
    return max(0, (payload - OVERHEAD) // (channels * BYTES_PER_SAMPLE[fmt]))


def link_budget(rate_hz: float, channels: int, fmt: int, payload: int) -> dict[str, float]:
    """Frames per second and bytes per second (ATT payload bytes) for a stream."""
    per = sets_per_frame(payload, channels, fmt)
    frames = rate_hz / per if per else float("inf")
    size = OVERHEAD + per * channels * BYTES_PER_SAMPLE[fmt]
    return {"sets_per_frame": per, "frames_per_s": frames, "bytes_per_s": frames * size, "frame_bytes": size}
