from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.pipeline.ringbuffer import RingBuffer


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 64), channels=st.integers(1, 3), blocks=st.lists(st.integers(0, 100), max_size=20),
       seed=st.integers(0, 2**16))
def test_views_equal_the_written_stream(capacity: int, channels: int, blocks: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    total = sum(blocks)
    stream = rng.standard_normal((total, channels)).astype(np.float32)
    missing = rng.random(total) < 0.2
    ring = RingBuffer(capacity, channels)
    pos = 0
    for n in blocks:
        ring.write(stream[pos : pos + n], missing[pos : pos + n])
        pos += n
        held = ring.end - ring.start
        assert ring.end == pos and held == min(pos, capacity)
        data, gaps = ring.view(ring.start, held)
        np.testing.assert_array_equal(data, stream[ring.start : ring.end])
        np.testing.assert_array_equal(gaps, missing[ring.start : ring.end])
        assert data.base is not None  # a view into the buffer, not a copy


def test_view_outside_the_held_range_is_refused() -> None:
    ring = RingBuffer(8)
    ring.write(np.arange(20, dtype=np.float32))
    with pytest.raises(IndexError, match=r"\[12, 20\)"):
        ring.view(10, 4)
    with pytest.raises(IndexError):
        ring.view(18, 4)
