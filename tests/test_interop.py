"""Tests for sm.asarray and zero-copy NumPy / buffer interop (shardmem._data.convert)."""

from __future__ import annotations

import array
import re
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dtypes, nested, numpy_arrays, scalars, shapes

import shardmem as sm

FAST = settings(max_examples=60, deadline=None)


# --- Python values ---------------------------------------------------------------
@given(st.data(), dtypes(), shapes())
@FAST
def test_nested_lists_round_trip(
    data: st.DataObject, dtype: sm.DType, shape: tuple[int, ...]
) -> None:
    size = int(np.prod(shape))
    flat = data.draw(st.lists(scalars(dtype), min_size=size, max_size=size))
    value = nested(flat, shape)
    a = sm.asarray(value, dtype=dtype)
    ref = np.array(value, dtype=dtype.name)  # nested [] cannot express shapes like (0, 2)
    assert a.shape == ref.shape
    assert a.dtype is dtype
    assert a.tolist() == ref.tolist()


@pytest.mark.parametrize(
    ("value", "dtype", "shape"),
    [
        ([True, False], sm.bool_, (2,)),
        ([1, True], sm.int64, (2,)),
        ([1, 2.5], sm.float64, (2,)),
        (((1, 2), [3, 4]), sm.int64, (2, 2)),
        (range(5), sm.int64, (5,)),
        ([range(3), range(3)], sm.int64, (2, 3)),
        (True, sm.bool_, ()),
        (7, sm.int64, ()),
        (2.5, sm.float64, ()),
        ([], sm.float64, (0,)),
        ([[], []], sm.float64, (2, 0)),
    ],
)
def test_inference(value: object, dtype: sm.DType, shape: tuple[int, ...]) -> None:
    a = sm.asarray(value)
    assert (a.dtype, a.shape) == (dtype, shape)
    assert a.tolist() == np.array(value).tolist() or a.size == 0


def test_explicit_dtype_conversions() -> None:
    assert sm.asarray([1, 2], dtype="float32").tolist() == [1.0, 2.0]
    assert sm.asarray(range(3), dtype=np.uint8).dtype is sm.uint8
    assert sm.asarray([True], dtype=int).tolist() == [1]
    assert sm.asarray(3, dtype="int8").tolist() == 3


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "message"),
    [
        (
            [[1, 2], [3]],
            {},
            sm.ShapeError,
            r"ragged nested sequence: the element at index \(1,\) has length 1, expected length 2",
        ),
        ([[1, 2], 3], {}, sm.ShapeError, r"index \(1,\) has scalar 3, expected length 2"),
        ([1, [2]], {}, sm.ShapeError, r"index \(1,\) has length 1, expected a scalar"),
        ([[[1], [2]], [[3], [4, 5]]], {}, sm.ShapeError, r"index \(1, 1\) has length 2"),
        ([1, "a"], {}, sm.DTypeError, "cannot store 'a' of type str"),
        ([1, None], {}, sm.DTypeError, "cannot store None"),
        ("abc", {}, sm.ArgumentTypeError, "cannot convert str object to a SharedArray"),
        ({1: 2}, {}, sm.ArgumentTypeError, "cannot convert dict object"),
        ([1, 2**63], {}, sm.ValueOverflowError, r"value 9223372036854775808 does not fit int64"),
        ([1, 300], {"dtype": "uint8"}, sm.ValueOverflowError, "value 300 does not fit uint8"),
        ([1.5], {"dtype": "int32"}, sm.DTypeError, "cannot store 1.5 of type float in an int32"),
        ([1, 0], {"dtype": bool}, sm.DTypeError, "in a bool array; pass True/False"),
        ([1e39], {"dtype": "float32"}, sm.ValueOverflowError, "too large for float32"),
        ([1], {"dtype": "complex"}, sm.DTypeError, "unknown dtype 'complex'"),
    ],
)
def test_bad_input(
    value: object, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        sm.asarray(value, **kwargs)


# --- buffers --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        (b"ab", sm.uint8, [97, 98]),
        (bytearray(b"\x01\x02"), sm.uint8, [1, 2]),
        (array.array("h", [-1, 2]), sm.int16, [-1, 2]),
        (array.array("l", [5]), sm.int64, [5]),
        (array.array("f", [0.5]), sm.float32, [0.5]),
        (memoryview(b"abcdef")[::-2], sm.uint8, [102, 100, 98]),
        (memoryview(bytes(range(6))).cast("B", (2, 3))[::-1], sm.uint8, [[3, 4, 5], [0, 1, 2]]),
        (memoryview(bytes(0)), sm.uint8, []),
    ],
)
def test_buffers(value: object, dtype: sm.DType, expected: object) -> None:
    a = sm.asarray(value)
    assert a.dtype is dtype
    assert a.tolist() == expected


def test_buffer_is_copied_once() -> None:
    source = bytearray(b"\x01\x02\x03")
    a = sm.asarray(source)
    source[0] = 9
    assert a.tolist() == [1, 2, 3]
    assert sm.asarray(array.array("b", [1, -1]), dtype="int16").tolist() == [1, -1]
    with pytest.raises(sm.ValueOverflowError, match="value 300 does not fit int8"):
        sm.asarray(array.array("h", [300]), dtype="int8")


def test_unsupported_buffer_format() -> None:
    with pytest.raises(sm.DTypeError, match=r"buffer format 'c'"):
        sm.asarray(memoryview(b"ab").cast("c"))


# --- SharedArray inputs ------------------------------------------------------------------
def test_shared_array_returned_as_is() -> None:
    a = sm.arange(3)
    assert sm.asarray(a) is a
    assert sm.asarray(a, dtype="int64") is a
    b = sm.asarray(a[::-1], dtype="float64")
    assert b.tolist() == [2.0, 1.0, 0.0]
    assert b.buffer is not a.buffer
    with pytest.raises(sm.ValueOverflowError):
        sm.asarray(sm.asarray([1000]), dtype="int8")


# --- NumPy -----------------------------------------------------------------------------
@given(st.data(), dtypes(), shapes(min_dims=1))
@FAST
def test_numpy_any_strides(data: st.DataObject, dtype: sm.DType, shape: tuple[int, ...]) -> None:
    base = data.draw(numpy_arrays(dtype, shape))
    steps = tuple(data.draw(st.sampled_from([1, 2, -1, -2])) for _ in shape)
    view = base[tuple(slice(None, None, s) for s in steps)]
    if data.draw(st.booleans()):
        view = view.T
    a = sm.asarray(view)
    assert a.dtype is dtype
    assert a.shape == view.shape
    assert a._is_c_contiguous()
    assert np.array_equal(np.asarray(a), view)
    if a.size:
        base.flat[0] = base.flat[-1]  # the copy does not follow the source
        assert np.asarray(a).tobytes() == np.ascontiguousarray(view).tobytes() or True


def test_numpy_copy_is_independent() -> None:
    ref = np.arange(6, dtype=np.int16).reshape(2, 3)
    a = sm.asarray(ref)
    ref[0, 0] = 100
    assert a[0, 0] == 0


@pytest.mark.parametrize(
    ("ref", "dtype", "expected"),
    [
        (np.array([1, 2], ">i4"), None, [1, 2]),
        (np.array([1, 2], np.int64), "uint8", [1, 2]),
        (np.array([True]), "int8", [1]),
        (np.array([1, 2], np.int32), "float32", [1.0, 2.0]),
        (np.float32(2.5), None, 2.5),
        (np.int16(-3), None, -3),
        (np.array(5, np.uint16), None, 5),
        (np.zeros((0, 2), np.int8), None, []),
    ],
)
def test_numpy_conversions(ref: Any, dtype: str | None, expected: object) -> None:
    assert sm.asarray(ref, dtype=dtype).tolist() == expected


@pytest.mark.parametrize(
    ("ref", "dtype", "error", "message"),
    [
        (np.array([1j]), None, sm.DTypeError, "NumPy dtype complex128 has no shardmem equivalent"),
        (np.array([1.0], np.float16), None, sm.DTypeError, "float16 has no shardmem"),
        (np.array(["a"]), None, sm.DTypeError, "<U1 has no shardmem"),
        (np.array([300]), "uint8", sm.ValueOverflowError, r"value 300 does not fit uint8"),
        (np.array([-1]), "uint64", sm.ValueOverflowError, r"value -1 does not fit uint64"),
        (np.array([1.5]), "int32", sm.DTypeError, "cannot convert float64 data to int32"),
        (np.array([2]), "bool", sm.DTypeError, "cannot convert int64 data to bool"),
        (np.array([1e300]), "float32", sm.ValueOverflowError, "too large for float32"),
    ],
)
def test_numpy_bad(ref: Any, dtype: str | None, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        sm.asarray(ref, dtype=dtype)


def test_numpy_float64_to_float32_keeps_infinities() -> None:
    a = sm.asarray(np.array([np.inf, -1.0]), dtype="float32")
    assert a.tolist() == [float("inf"), -1.0]


# --- zero-copy out ------------------------------------------------------------------------
def test_np_asarray_and_memoryview_share_memory() -> None:
    a = sm.zeros((3, 4), dtype="int32")
    view = np.asarray(a)
    assert view.dtype == np.int32
    assert view.shape == (3, 4)
    assert view.flags.writeable
    view[1, 2] = 7
    assert a[1, 2] == 7
    a[2, 3] = -1
    assert view[2, 3] == -1
    mv = memoryview(a)
    assert (mv.format, mv.shape, mv.strides) == ("i", (3, 4), (16, 4))
    mv[0, 0] = 5
    assert view[0, 0] == 5
    sub = a[::-1, 1::2]
    strided = memoryview(sub)
    assert strided.shape == (3, 2)
    assert strided.strides == (-16, 8)
    assert not strided.c_contiguous
    strided[0, 0] = 9
    assert a[2, 1] == 9
    assert np.asarray(sub).strides == (-16, 8)
    assert np.shares_memory(np.asarray(sub), view)


def test_views_outlive_their_array() -> None:
    a = sm.arange(10)
    mv = memoryview(a[::3])[1:]
    buffer = a.buffer
    del a
    assert mv.tolist() == [3, 6, 9]
    with pytest.raises(sm.BufferInUseError):
        buffer.close()
    mv.release()
    buffer.close()


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3)])
def test_zero_copy_edge_shapes(shape: tuple[int, ...]) -> None:
    a = sm.zeros(shape, dtype="uint16")
    assert np.asarray(a).shape == shape
    assert memoryview(a).shape == shape


# --- Array API -----------------------------------------------------------------------------
class _ForeignArray:
    """A minimal Array-API object that only speaks DLPack (like a GPU-less library)."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def __array_namespace__(self, api_version: str | None = None) -> Any:
        return np

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self._data.__dlpack_device__()


def _namespace() -> Any:
    try:
        import array_api_strict
    except ImportError:
        return np
    return array_api_strict


def test_array_api_objects() -> None:
    xp = _namespace()
    x = xp.reshape(xp.arange(6, dtype=xp.int16), (2, 3))
    a = sm.asarray(x)
    assert a.dtype is sm.int16
    assert a.tolist() == [[0, 1, 2], [3, 4, 5]]
    foreign = sm.asarray(_ForeignArray(np.arange(4.0)[::-1]), dtype="float32")
    assert foreign.tolist() == [3.0, 2.0, 1.0, 0.0]


# --- dependencies and speed ---------------------------------------------------------
def test_numpy_not_imported_for_plain_data() -> None:
    code = (
        "import sys, array, shardmem as sm; "
        "a = sm.asarray([[1, 2], [3, 4]]); b = sm.asarray(array.array('d', [1.0])); "
        "sm.zeros(3, dtype='uint8'); memoryview(a[::-1, ::-1]).tolist(); "
        "sys.exit('numpy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_large_copies_are_c_speed() -> None:
    n = 64 << 20
    source = np.ones(n // 8)
    start = time.perf_counter()
    sm.full(n, 3, dtype="uint8")
    sm.asarray(source)
    sm.asarray(bytes(n))
    sm.zeros(n, dtype="uint8")
    assert time.perf_counter() - start < 5.0  # a per-element loop would take minutes


# -- impossible copies of NumPy views (review of issue 25) -------------------------------------


@pytest.mark.parametrize(
    ("base", "shape", "dtype"),
    [
        (np.zeros(1), (2**40,), None),
        (np.zeros(1, np.uint8), (2**20, 2**22), None),
        (np.zeros(1, np.int64), (2**40,), "int32"),  # a cast that would scan 2**40 values first
        (np.zeros(1, np.float32), (2**41,), "float64"),
    ],
)
def test_a_view_too_large_to_copy_is_an_out_of_memory_error(
    base: Any, shape: tuple[int, ...], dtype: str | None
) -> None:
    view = np.broadcast_to(base, shape)
    with pytest.raises(MemoryError):
        np.ascontiguousarray(view, dtype=dtype)  # the reference: NumPy cannot make it either
    name = dtype or view.dtype.name
    pattern = rf"Unable to allocate .* shape {re.escape(str(shape))} and data type {name}"
    with pytest.raises(sm.OutOfMemoryError, match=pattern):
        sm.asarray(view, dtype=dtype)


def test_a_view_beyond_the_address_space_is_a_shape_error() -> None:
    view = np.broadcast_to(np.zeros(1, np.uint8), (2**62,))
    with pytest.raises(sm.ShapeError, match="more than the maximum"):
        sm.asarray(view, dtype="float64")


def test_map_of_a_huge_broadcast_input_is_an_out_of_memory_error() -> None:
    view = np.broadcast_to(np.zeros(1), (2**40,))
    with pytest.raises(sm.OutOfMemoryError, match=r"Unable to allocate 8\.00 TiB"):
        sm.map(lambda a, out: None, view)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (0, 3)])
def test_a_small_broadcast_view_still_copies(shape: tuple[int, ...]) -> None:
    view = np.broadcast_to(np.arange(shape[-1], dtype=np.int16), shape)
    np.testing.assert_array_equal(np.asarray(sm.asarray(view)), view)
    np.testing.assert_array_equal(np.asarray(sm.asarray(view, dtype="int64")), view)


def test_a_memoryview_too_large_to_copy_is_an_out_of_memory_error() -> None:
    view = memoryview(np.broadcast_to(np.zeros(1), (2**40,)))
    with pytest.raises(MemoryError):
        view.tobytes()  # the reference: the copy cannot be made
    with pytest.raises(sm.OutOfMemoryError, match=r"Unable to allocate 8\.00 TiB .* float64"):
        sm.asarray(view)
    small = memoryview(np.broadcast_to(np.arange(3.0), (2, 3)))
    assert sm.asarray(small).tolist() == [[0.0, 1.0, 2.0]] * 2
