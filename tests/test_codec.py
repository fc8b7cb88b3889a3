"""firmware_bridge: codec round trips, typed decode errors, fuzzing, reassembly with loss and reordering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.codec import BadCrc, BadLength, BadVersion, DecodeError, TooShort, decode, encode
from firmware_bridge.protocol import FORMAT_INT16, FORMAT_INT24, OVERHEAD, link_budget
from firmware_bridge.reassembly import Reassembler

FMT_RANGE = {FORMAT_INT16: 2**15, FORMAT_INT24: 2**23}


@st.composite
def frames(draw: st.DrawFn) -> tuple[int, np.ndarray, int]:
    fmt = draw(st.sampled_from([FORMAT_INT16, FORMAT_INT24]))
    channels = draw(st.integers(1, 8))
    sets = draw(st.integers(0, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    top = FMT_RANGE[fmt]
    samples = np.random.default_rng(seed).integers(-top, top, size=(sets, channels))
    return draw(st.integers(0, 2**32 - 1)), samples, fmt


@settings(max_examples=500, deadline=None)
@given(frames())
def test_round_trip(case: tuple[int, np.ndarray, int]) -> None:
    counter, samples, fmt = case
    data = encode(counter, samples, fmt)
    assert len(data) == OVERHEAD + samples.size * (2 if fmt == FORMAT_INT16 else 3)
    frame = decode(data)
    assert frame.counter == counter and frame.fmt == fmt
    np.testing.assert_array_equal(frame.samples, samples)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_a_typed_error(data: bytes) -> None:
    try:
        frame = decode(data)
    except DecodeError as exc:
        assert exc.kind != "decode" and str(exc)
    else:
        assert frame.samples.ndim == 2


@settings(max_examples=1000, deadline=None)
@given(frames(), st.data())
def test_every_corrupted_frame_is_rejected(case: tuple[int, np.ndarray, int], data: st.DataObject) -> None:
    """A flipped bit anywhere is caught (CRC-16 detects every 1-bit error); a cut frame too."""
    frame = bytearray(encode(*case))
    bit = data.draw(st.integers(0, 8 * len(frame) - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecodeError):
        decode(bytes(frame))
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(DecodeError):
        decode(bytes(frame[:cut]))


def test_errors_are_typed() -> None:
    good = encode(7, np.arange(10).reshape(5, 2))
    with pytest.raises(TooShort):
        decode(good[:5])
    with pytest.raises(BadVersion):
        decode(bytes([9]) + good[1:])
    with pytest.raises(BadLength):
        decode(good + b"\x00")
    with pytest.raises(BadCrc):
        decode(good[:-1] + bytes([good[-1] ^ 1]))


def test_five_channels_at_1khz_fit_a_normal_link() -> None:
    dle = link_budget(1000, 5, FORMAT_INT16, 244)
    assert dle["sets_per_frame"] == 23 and dle["frames_per_s"] < 50 and dle["bytes_per_s"] < 11_000
    assert link_budget(1000, 5, FORMAT_INT16, 20)["sets_per_frame"] == 1  # default MTU: 1000 frames/s


def frames_of(samples: np.ndarray, per: int, start: int = 0) -> list:
    return [decode(encode(start + i, samples[i : i + per])) for i in range(0, len(samples), per)]


def collect(runs: list) -> tuple[np.ndarray, np.ndarray, int]:
    start = runs[0].start
    return np.concatenate([r.samples for r in runs]), np.concatenate([r.missing for r in runs]), start


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**16), st.floats(0, 0.3), st.floats(0, 0.3), st.integers(0, 3))
def test_reassembly_places_every_sample_exactly(seed: int, loss: float, dup: float, shuffle: int) -> None:
    rng = np.random.default_rng(seed)
    samples = rng.integers(-1000, 1000, size=(400, 3))
    start = 2**32 - 150  # the counter wraps inside the stream
    sent = frames_of(samples, 10, start)
    kept = [f for f in sent if rng.random() >= loss]
    kept += [f for f in kept if rng.random() < dup]  # duplicates
    order = np.arange(len(kept))
    for i in range(0, len(order) - shuffle, shuffle + 1):  # local reordering within the window
        order[i : i + shuffle + 1] = order[i : i + shuffle + 1][::-1]
    reassembler = Reassembler(3, window=8)
    runs = [r for i in order for r in reassembler.push(kept[i])] + reassembler.flush()
    if not kept:
        assert runs == []
        return
    got, missing, first = collect(runs)
    first_sent = min(reassembler.absolute(f.counter) for f in kept)
    assert first == first_sent
    offset = (first - start) % 2**32
    expected = samples[offset : offset + len(got)]
    np.testing.assert_array_equal(got[~missing], expected[~missing])
    received = {(f.counter - start) % 2**32 for f in kept}
    lost = {(f.counter - start) % 2**32 for f in sent} - received
    lost_inside = sum(10 for c in lost if offset <= c < offset + len(got))
    assert missing.sum() == lost_inside == reassembler.stats.lost_samples
    assert reassembler.stats.duplicates == len(kept) - len(received)
