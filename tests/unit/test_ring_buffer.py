"""The ring buffer: absolute sample indexing, wrap-around, and no audio lost without a count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echoic.audio import RingBuffer


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose value is their absolute index (exact in float32 below 2**24)."""
    return np.arange(start, start + n, dtype=np.float32)


def test_a_new_buffer_holds_nothing() -> None:
    buffer = RingBuffer(8)

    assert (len(buffer), buffer.start, buffer.end) == (0, 0, 0)
    assert buffer.read(0, 0).size == 0


def test_writes_within_capacity_drop_nothing_and_read_back() -> None:
    buffer = RingBuffer(8)

    assert buffer.write(ramp(0, 3)) == 0
    assert buffer.write(ramp(3, 5)) == 0

    assert (len(buffer), buffer.start, buffer.end) == (8, 0, 8)
    np.testing.assert_array_equal(buffer.read(0, 8), ramp(0, 8))
    np.testing.assert_array_equal(buffer.read(2, 5), ramp(2, 3))


def test_overflow_drops_the_oldest_and_reads_across_the_wrap() -> None:
    buffer = RingBuffer(8)
    buffer.write(ramp(0, 6))

    dropped = buffer.write(ramp(6, 5))

    assert dropped == 3
    assert (len(buffer), buffer.start, buffer.end) == (8, 3, 11)
    np.testing.assert_array_equal(buffer.read(3, 11), ramp(3, 8))  # physical slots 3..7, 0..2


def test_a_write_larger_than_capacity_keeps_its_tail() -> None:
    buffer = RingBuffer(4)
    buffer.write(ramp(0, 2))

    dropped = buffer.write(ramp(2, 10))

    assert dropped == 8  # the 2 held samples and the first 6 of the write
    assert (buffer.start, buffer.end) == (8, 12)
    np.testing.assert_array_equal(buffer.read(8, 12), ramp(8, 4))


def test_read_returns_a_copy() -> None:
    buffer = RingBuffer(4)
    buffer.write(ramp(0, 4))

    out = buffer.read(0, 4)
    out[:] = -1
    buffer.write(ramp(4, 1))

    np.testing.assert_array_equal(buffer.read(1, 5), ramp(1, 4))


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 3), (2, 10), (4, 12), (11, 12)],
    ids=["dropped", "partly-dropped", "partly-unwritten", "unwritten"],
)
def test_reading_what_is_not_held_names_the_held_range(start: int, end: int) -> None:
    buffer = RingBuffer(8)
    buffer.write(ramp(0, 11))  # holds [3, 11)

    with pytest.raises(ValueError, match=r"holds \[3, 11\)"):
        buffer.read(start, end)


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    buffer = RingBuffer(8)
    buffer.write(ramp(0, 8))

    with pytest.raises(ValueError, match="ends before it starts"):
        buffer.read(6, 5)


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(capacity)


def test_only_one_dimensional_samples_are_accepted() -> None:
    with pytest.raises(ValueError, match="1-D"):
        RingBuffer(4).write(np.zeros((2, 2), dtype=np.float32))


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=64),
    sizes=st.lists(st.integers(min_value=0, max_value=100), max_size=30),
)
def test_every_sample_is_readable_at_its_index_or_counted_as_dropped(
    capacity: int, sizes: list[int]
) -> None:
    buffer = RingBuffer(capacity)
    written = 0
    dropped = 0
    for size in sizes:
        dropped += buffer.write(ramp(written, size))
        written += size

        assert buffer.end == written
        assert len(buffer) == min(written, capacity)
        # The dropped samples are exactly the oldest ones: none lost without a count...
        assert buffer.start == dropped
        # ...and every other sample is there, at its own index, with its own value.
        np.testing.assert_array_equal(
            buffer.read(buffer.start, buffer.end), ramp(dropped, len(buffer))
        )
        for index in range(buffer.start, buffer.end):
            assert buffer.read(index, index + 1)[0] == index
