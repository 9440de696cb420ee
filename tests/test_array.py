"""Tests for SharedArray and the creation functions (shardmem._array, shardmem._creation)."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import ALL_DTYPES, arrays, basic_indices, dtypes, scalars, shapes

import shardmem as sm

FAST = settings(max_examples=60, deadline=None)


def same(shared: sm.SharedArray, ref: Any) -> None:
    """Assert shape, dtype and every element agree, through three readers."""
    assert shared.shape == ref.shape
    assert shared.dtype.name == ref.dtype.name
    assert shared.tolist() == ref.tolist()
    view = np.asarray(shared)
    assert view.dtype == ref.dtype
    assert view.shape == ref.shape
    assert np.array_equal(view, ref)
    assert memoryview(shared).tolist() == ref.tolist()


# --- creation ----------------------------------------------------------------
@given(dtypes(), shapes())
@FAST
def test_zeros_empty_ones(dtype: sm.DType, shape: tuple[int, ...]) -> None:
    same(sm.zeros(shape, dtype=dtype), np.zeros(shape, dtype.name))
    same(sm.empty(shape, dtype=dtype), np.zeros(shape, dtype.name))
    same(sm.ones(shape, dtype=dtype), np.ones(shape, dtype.name))


@given(st.data(), dtypes(), shapes())
@FAST
def test_full(data: st.DataObject, dtype: sm.DType, shape: tuple[int, ...]) -> None:
    value = data.draw(scalars(dtype))
    same(sm.full(shape, value, dtype=dtype), np.full(shape, value, dtype.name))


def test_defaults() -> None:
    assert sm.zeros(3).dtype is sm.float64
    assert sm.ones(3).dtype is sm.float64
    assert sm.full(2, True).dtype is sm.bool_
    assert sm.full(2, 7).dtype is sm.int64
    assert sm.full(2, 0.5).dtype is sm.float64
    assert sm.zeros(()).shape == ()
    assert sm.zeros(()).tolist() == 0.0
    a = sm.ones((2, 3), dtype="int16")
    assert sm.empty_like(a).shape == (2, 3)
    assert sm.zeros_like(a).dtype is sm.int16
    assert sm.zeros_like(np.ones((2, 1), np.float32)).dtype is sm.float32
    assert sm.zeros_like(a, dtype=float).dtype is sm.float64


@pytest.mark.parametrize(
    "args",
    [(5,), (2, 9), (9, 2, -2), (0,), (3, 3), (-5, 5, 3), (0.5, 3), (1, 2, 0.25), (3, 0, -0.5)],
)
def test_arange_matches_numpy(args: tuple[float, ...]) -> None:
    same(sm.arange(*args), np.arange(*args))


def test_arange_dtype_and_errors() -> None:
    assert sm.arange(3, dtype="uint8").tolist() == [0, 1, 2]
    with pytest.raises(sm.InvalidArgumentError, match="step 0"):
        sm.arange(0, 3, 0)
    with pytest.raises(sm.ValueOverflowError, match="value 256 does not fit uint8"):
        sm.arange(250, 260, dtype="uint8")
    with pytest.raises(sm.DTypeError, match=r"cannot store 0\.0 of type float in an int8"):
        sm.arange(0, 1, 0.5, dtype="int8")
    with pytest.raises(sm.ArgumentTypeError, match="'a' is not an int or float"):
        sm.arange("a")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((-1, 3), r"shape \(-1, 3\) has a negative length -1 on axis 0; lengths must be >= 0"),
        ((2, 2.0), r"shape \(2, 2.0\) has a non-integer length 2.0 on axis 1"),
        ("ab", r"shape 'ab' is not an int or a tuple of ints"),
        (2**62, r"needs \d+ bytes, more than the maximum"),
        ((2**40, 2**40), r"needs \d+ bytes"),
    ],
)
def test_bad_shapes(shape: object, message: str) -> None:
    with pytest.raises(sm.ShapeError, match=message):
        sm.zeros(shape)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "shape", [np.zeros(3), np.zeros((2, 0)), np.arange(2), np.zeros(3, np.complex128)]
)
@pytest.mark.parametrize("make", [sm.zeros, sm.empty, sm.ones, lambda s: sm.full(s, 1)])
def test_array_shapes_are_refused(shape: np.ndarray, make: Any) -> None:
    with pytest.raises(
        sm.ShapeError,
        match=r"is an array, not an int or a tuple of ints; pass e\.g\. \(2, 3\), or "
        r"tuple\(a\.tolist\(\)\) for an array a of lengths",
    ):
        make(shape)


def test_numpy_integers_are_lengths() -> None:
    assert sm.zeros(np.int64(3)).shape == (3,)
    assert sm.zeros(np.array(3)).shape == (3,)  # a 0-d integer array is an int
    assert sm.ones((2, np.int32(3))).shape == (2, 3)
    assert sm.arange(6).reshape((np.int64(-1), 3)).shape == (2, 3)
    with pytest.raises(sm.ShapeError, match="is an array"):
        sm.arange(6).reshape(np.array([2, 3]))  # type: ignore[arg-type]
    with pytest.raises(sm.ShapeError, match=r"non-integer length array\(\[3\]\) on axis 1"):
        sm.zeros((2, np.array([3])))  # type: ignore[arg-type]
    with pytest.raises(sm.ShapeError, match="not an int or a tuple of ints"):
        sm.zeros(np.True_)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", ["int64", "float64", "float32", "bool", None])
@pytest.mark.parametrize(
    "value", [np.zeros(3), np.zeros((2, 0)), np.zeros(3, np.complex128), np.complex128(1j), 3 + 4j]
)
def test_full_refuses_arrays_and_complex_values(value: object, dtype: str | None) -> None:
    with pytest.raises(sm.DTypeError, match="cannot store"):
        sm.full(2, value, dtype=dtype)  # type: ignore[arg-type]


def test_full_takes_numpy_scalars() -> None:
    assert sm.full(2, np.True_, dtype="int64").tolist() == [1, 1]
    assert sm.full(2, np.array(3), dtype="int8").tolist() == [3, 3]
    assert sm.full(2, np.float16(2.5), dtype="float32").tolist() == [2.5, 2.5]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((float("nan"),), sm.InvalidArgumentError, r"argument nan is not a finite float"),
        ((0, float("inf")), sm.InvalidArgumentError, r"argument inf is not a finite float"),
        ((0, 1, float("-inf")), sm.InvalidArgumentError, r"argument -inf is not a finite"),
        ((10**400, 1.5), sm.InvalidArgumentError, r"argument 1000\d+ is not a finite float"),
        ((2**70,), sm.ShapeError,
         r"arange\(0, 1180591620717411303424, 1\) would hold 1180591620717411303424 values of "
         r"8 bytes, more than the maximum of \d+ bytes; use a smaller range"),
        ((0, 1e300, 1e-300), sm.ShapeError, r"would hold more than \d+ values"),
    ],
)  # fmt: skip
def test_arange_refuses_non_finite_and_huge(
    args: tuple[float, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        sm.arange(*args)


def test_arange_with_huge_bounds_but_few_values() -> None:
    assert sm.arange(-(2**70)).tolist() == []
    assert sm.arange(0, 5, 2**70).tolist() == [0]
    assert sm.arange(1e300, 0, 1e-300).tolist() == []
    assert sm.arange(2**62, 2**62 + 3).tolist() == [2**62, 2**62 + 1, 2**62 + 2]


def test_full_value_errors() -> None:
    with pytest.raises(
        sm.ValueOverflowError, match=r"value 128 does not fit int8 \(range -128\.\.127\)"
    ):
        sm.full(2, 128, dtype="int8")
    with pytest.raises(sm.DTypeError, match="in a bool array"):
        sm.full(2, 1, dtype=bool)


def test_no_public_constructor() -> None:
    with pytest.raises(sm.ArgumentTypeError, match=r"no public constructor; use sm\.asarray"):
        sm.SharedArray()


# --- attributes ----------------------------------------------------------------
@given(arrays())
@FAST
def test_attributes_match_numpy(pair: tuple[sm.SharedArray, Any]) -> None:
    a, ref = pair
    ref = np.asarray(ref, order="C")
    assert (a.shape, a.ndim, a.size, a.nbytes) == (ref.shape, ref.ndim, ref.size, ref.nbytes)
    assert a.strides == ref.strides or ref.size == 0  # NumPy 2 gives empty arrays 0 strides
    assert isinstance(a.buffer, sm.SharedBuffer)
    assert a._is_c_contiguous()
    assert a._offset == 0
    assert a._buffer is a.buffer


# --- indexing -------------------------------------------------------------------
@given(st.data(), arrays())
@settings(max_examples=150, deadline=None)
def test_basic_indexing_matches_numpy(
    data: st.DataObject, pair: tuple[sm.SharedArray, Any]
) -> None:
    a, ref = pair
    index = data.draw(basic_indices(ref.shape))
    got, want = a[index], ref[index]
    if isinstance(want, np.ndarray):
        assert isinstance(got, sm.SharedArray)
        same(got, want)
        assert got.strides == want.strides or want.size == 0
        assert got.buffer is a.buffer
        assert got._is_c_contiguous() == want.flags.c_contiguous or want.size == 0
    else:
        assert type(got) is type(want.item())
        assert got == want.item()


@given(st.data(), arrays())
@settings(max_examples=100, deadline=None)
def test_views_are_zero_copy(data: st.DataObject, pair: tuple[sm.SharedArray, Any]) -> None:
    a, ref = pair
    index = data.draw(basic_indices(ref.shape))
    view = a[index]
    if not isinstance(view, sm.SharedArray) or view.size == 0:
        return
    value = data.draw(scalars(a.dtype))
    np.asarray(view)[...] = value  # write through NumPy ...
    ref[index] = value
    same(a, ref)  # ... visible in the base array
    first = (0,) * view.ndim
    other = data.draw(scalars(a.dtype))
    view[first] = other  # write through SharedArray ...
    ref[index][first] = other
    assert np.array_equal(np.asarray(a), ref)  # ... visible through NumPy


@given(st.data(), arrays(shape=shapes(min_dims=1)))
@FAST
def test_setitem_sequences_and_arrays(
    data: st.DataObject, pair: tuple[sm.SharedArray, Any]
) -> None:
    a, ref = pair
    index = data.draw(basic_indices(ref.shape))
    target = ref[index]
    if not isinstance(target, np.ndarray):
        return
    new = data.draw(st.lists(scalars(a.dtype), min_size=target.size, max_size=target.size))
    values = np.array(new, dtype=ref.dtype).reshape(target.shape)
    which = data.draw(st.sampled_from(["list", "numpy", "shared"]))
    source: object = {"list": values.tolist(), "numpy": values, "shared": sm.asarray(values)}[which]
    a[index] = source
    ref[index] = values
    same(a, ref)


def test_overlapping_assignment() -> None:
    a = sm.arange(6)
    a[1:] = a[:-1]
    assert a.tolist() == [0, 0, 1, 2, 3, 4]
    a[::-1] = a
    assert a.tolist() == [4, 3, 2, 1, 0, 0]


def test_scalars_and_zero_d() -> None:
    a = sm.asarray([[1.5, 2.0]])
    assert a[0, 1] == 2.0
    assert type(a[0, 1]) is float
    assert sm.asarray([True])[0] is True
    assert type(sm.asarray([7], dtype="uint64")[0]) is int
    z = sm.asarray(5)
    assert z.shape == ()
    assert z[()] == 5
    assert z[...].shape == ()
    z[()] = 6
    assert z.tolist() == 6
    assert np.asarray(z).shape == ()
    with pytest.raises(sm.ArgumentTypeError, match="len\\(\\) of a 0-d SharedArray"):
        len(z)


@pytest.mark.parametrize(
    ("index", "error", "message"),
    [
        (
            3,
            sm.ArrayIndexError,
            r"index 3 is out of range for axis 0 with length 3; valid indices are -3\.\.2",
        ),
        ((0, -5), sm.ArrayIndexError, "index -5 is out of range for axis 1 with length 4"),
        ((0, 0, 0), sm.ArrayIndexError, "too many indices: 3 given for an array with 2 axes"),
        ((..., ...), sm.ArrayIndexError, "single ellipsis"),
        (1.0, sm.ArrayIndexError, "index 1.0 of type float is not supported"),
        ([0, 1], sm.ArrayIndexError, r"index \[0, 1\] of type list is not supported"),
        (None, sm.ArrayIndexError, "of type NoneType is not supported"),
        (True, sm.ArrayIndexError, "of type bool is not supported"),
    ],
)
def test_index_errors(index: Any, error: type[Exception], message: str) -> None:
    a = sm.zeros((3, 4))
    with pytest.raises(error, match=message):
        a[index]
    with pytest.raises(error, match=message):
        a[index] = 1.0


def test_index_error_is_index_error() -> None:
    with pytest.raises(IndexError):
        sm.zeros(2)[2]


def test_setitem_errors() -> None:
    a = sm.zeros((2, 3), dtype="uint8")
    with pytest.raises(
        sm.ShapeError, match=r"value of shape \(2,\) to a selection of shape \(3,\)"
    ):
        a[0] = [1, 2]
    with pytest.raises(sm.ValueOverflowError, match="value 256 does not fit uint8"):
        a[0, 0] = 256
    with pytest.raises(sm.ValueOverflowError, match="value -1 does not fit uint8"):
        a[1] = [0, -1, 2]
    with pytest.raises(sm.ArgumentTypeError, match="cannot convert str object to a SharedArray"):
        a[0, 0] = "x"
    with pytest.raises(sm.DTypeError, match=r"cannot store 1\.5 of type float in an uint8 array"):
        a[0, 0] = 1.5
    assert a.tolist() == [[0, 0, 0], [0, 0, 0]]


# --- reshape, copy, iteration, identity ---------------------------------------------
def test_reshape() -> None:
    a = sm.arange(12)
    b = a.reshape((3, -1))
    assert b.shape == (3, 4)
    assert b.buffer is a.buffer
    b[2, 3] = 99
    assert a[11] == 99
    assert a.reshape(12).shape == (12,)
    assert a[2:6].reshape((2, 2)).tolist() == [[2, 3], [4, 5]]
    assert sm.zeros(()).reshape((1, 1)).shape == (1, 1)
    assert b[1:2].reshape(-1).tolist() == [4, 5, 6, 7]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((5, -1), r"cannot reshape an array of size 12 into shape \(5, -1\)"),
        ((2, 2), "the number of elements must stay the same"),
        ((-1, -1), "more than one -1"),
        ((-2, 6), "negative length -2"),
    ],
)
def test_reshape_errors(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(sm.ShapeError, match=message):
        sm.arange(12).reshape(shape)


def test_reshape_non_contiguous() -> None:
    a = sm.arange(12).reshape((3, 4))[:, ::2]
    with pytest.raises(sm.ShapeError, match=r"non-contiguous view .* call \.copy\(\) first"):
        a.reshape(-1)
    assert a.copy().reshape(-1).tolist() == [0, 2, 4, 6, 8, 10]


@given(st.data(), arrays())
@FAST
def test_copy_is_independent(data: st.DataObject, pair: tuple[sm.SharedArray, Any]) -> None:
    a, ref = pair
    view = a[data.draw(basic_indices(ref.shape))]
    if not isinstance(view, sm.SharedArray):
        return
    copy = view.copy()
    same(copy, np.asarray(view).copy())
    assert copy.buffer is not a.buffer
    assert copy._is_c_contiguous()
    before = np.asarray(view).copy()
    np.asarray(copy)[...] = data.draw(scalars(a.dtype))
    assert np.array_equal(np.asarray(view), before)


def test_len_iter() -> None:
    a = sm.arange(6).reshape((3, 2))
    assert len(a) == 3
    rows = list(a)
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]  # type: ignore[union-attr]
    assert list(sm.arange(3)) == [0, 1, 2]
    assert list(sm.zeros((0, 2))) == []


def test_identity_equality() -> None:
    a = sm.zeros(3)
    b = a[...]
    assert a == a  # noqa: PLR0124 - identity equality is the point
    assert a != b
    assert a != a.copy()
    assert hash(a) == hash(a)
    assert len({a, b, a}) == 2


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_repr(dtype: sm.DType) -> None:
    a = sm.ones((1, 2), dtype=dtype)
    assert repr(a) == f"SharedArray({a.tolist()!r}, dtype={dtype.name})"
    assert repr(sm.zeros(5000)) == "<SharedArray shape=(5000,) dtype=float64>"


def test_closed_buffer() -> None:
    a = sm.arange(4)
    view = a[1:]
    a.buffer.close()
    assert "buffer closed" in repr(view)
    for action in (
        lambda: a[0],
        view.tolist,
        a.copy,
        lambda: memoryview(a),
        lambda: a.__setitem__(0, 1),
        lambda: a[1:],
        lambda: a.reshape(-1),
    ):
        with pytest.raises(sm.ClosedError, match="is closed"):
            action()


def test_buffer_in_use_by_array_views() -> None:
    a = sm.arange(4)
    held = np.asarray(a[::2])
    view = memoryview(a)[1:]
    with pytest.raises(sm.BufferInUseError):
        a.buffer.close()
    assert a.tolist() == [0, 1, 2, 3]
    del held
    view.release()
    gc.collect()
    a.buffer.close()
