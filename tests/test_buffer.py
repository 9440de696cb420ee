"""Tests for SharedBuffer and the release-listener registry (shardmem._data.buffer)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest

import shardmem as sm
from shardmem._data import buffer as _buffer


@pytest.fixture
def released() -> Iterator[list[int]]:
    seen: list[int] = []
    _buffer.add_release_listener(seen.append)
    yield seen
    _buffer.remove_release_listener(seen.append)


def test_zero_filled_and_sized() -> None:
    buf = sm.SharedBuffer(10)
    assert buf.nbytes == 10
    assert not buf.closed
    with buf.memoryview() as view:
        assert view.format == "B"
        assert not view.readonly
        assert bytes(view) == bytes(10)
    assert bytes(buf) == bytes(10)
    assert isinstance(buf._data, bytearray)
    assert sm.SharedBuffer(0).nbytes == 0


def test_ids_unique() -> None:
    ids = {sm.SharedBuffer(1).id for _ in range(100)}
    assert len(ids) == 100


@pytest.mark.parametrize(
    ("nbytes", "error", "message"),
    [
        (-1, sm.ShapeError, "nbytes -1 is negative; pass an int >= 0"),
        (1.5, sm.ArgumentTypeError, "nbytes 1.5 is not an integer"),
        (True, sm.ArgumentTypeError, "is not an integer"),
        ("3", TypeError, "is not an integer"),
    ],
)
def test_bad_nbytes(nbytes: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        sm.SharedBuffer(nbytes)  # type: ignore[arg-type]


def test_close_is_idempotent_and_context_manager(released: list[int]) -> None:
    with sm.SharedBuffer(4) as buf:
        pass
    assert buf.closed
    assert buf.nbytes == 0
    buf.close()
    assert released == [buf.id]
    assert "closed" in repr(buf)
    with pytest.raises(sm.ClosedError, match=r"SharedBuffer #\d+ is closed"):
        buf.memoryview()


def test_close_while_viewed_keeps_data(released: list[int]) -> None:
    buf = sm.SharedBuffer(4)
    view = buf.memoryview()
    view[0] = 42
    with pytest.raises(
        sm.BufferInUseError, match=r"is still viewed .* release or delete those views"
    ):
        buf.close()
    assert not buf.closed
    assert view[0] == 42
    assert buf.nbytes == 4
    assert released == [buf.id]  # listeners run first, even when close then fails
    view.release()
    buf.close()
    assert buf.closed


def test_close_while_numpy_views(released: list[int]) -> None:
    buf = sm.SharedBuffer(8)
    arr = np.frombuffer(buf.memoryview(), dtype=np.uint8)
    with pytest.raises(BufferError):
        buf.close()
    del arr
    gc.collect()
    buf.close()


def test_listener_errors_are_ignored(released: list[int]) -> None:
    def broken(buffer_id: int) -> None:
        raise RuntimeError("boom")

    _buffer.add_release_listener(broken)
    try:
        buf = sm.SharedBuffer(1)
        buf.close()
    finally:
        _buffer.remove_release_listener(broken)
    assert buf.closed
    assert released == [buf.id]
    _buffer.remove_release_listener(broken)  # removing twice is harmless


def test_finalizer_notifies_on_garbage_collection(released: list[int]) -> None:
    buf = sm.SharedBuffer(16)
    buffer_id = buf.id
    del buf
    gc.collect()
    assert released == [buffer_id]


def test_no_second_notification_after_close(released: list[int]) -> None:
    buf = sm.SharedBuffer(16)
    buf.close()
    del buf
    gc.collect()
    assert len(released) == 1


def test_cannot_be_resized() -> None:
    buf = sm.SharedBuffer(4)
    assert not hasattr(buf, "resize")
    with pytest.raises(AttributeError):
        buf.nbytes = 8  # type: ignore[misc]


def test_buffer_holding_finds_the_buffer_behind_numpy_views() -> None:
    from shardmem._data.buffer import buffer_holding

    a = sm.zeros(6)
    view = np.asarray(a)[2:5]
    start = view.__array_interface__["data"][0]
    assert buffer_holding(start, start + view.nbytes) == (a.buffer, 16)
    assert buffer_holding(start, start + 48) is None  # past the buffer's end
    own = np.zeros(3)
    address = own.__array_interface__["data"][0]
    assert buffer_holding(address, address + own.nbytes) is None  # NumPy's own memory
    b = sm.SharedBuffer(8)
    gone = np.asarray(b)
    address = gone.__array_interface__["data"][0]
    del gone
    b.close()
    assert buffer_holding(address, address + 8) is None  # closed buffers are not found
