"""SharedArray and the creation functions (shardmem._data.array, shardmem._data.creation)."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pools import get_pool
from strategies import ALL_DTYPES, arrays, basic_indices, dtypes, numpy_arrays, scalars, shapes

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
        (True, sm.ArrayIndexError, "boolean mask index True is not supported"),
        (np.True_, sm.ArrayIndexError, "boolean mask index np.True_ is not supported"),
        (range(2), sm.ArrayIndexError, r"integer-array \(fancy\) index range\(0, 2\)"),
        (slice(None, None, 0), sm.ArrayIndexError, "has step 0; a step must be a nonzero int"),
        (slice(1.0, 3), sm.ArrayIndexError, "has a bound that is not an int or None"),
        ((0, slice(0, 2, 0)), sm.ArrayIndexError, "on axis 1 has step 0"),
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
    flat = a.reshape(-1)  # the rows are evenly spaced: NumPy gives a view, and so does shardmem
    assert flat.buffer is a.buffer
    assert flat.tolist() == [0, 2, 4, 6, 8, 10]
    b = sm.arange(12).reshape((3, 4))[:, :2]
    copied = b.reshape(6)  # rows not evenly spaced: a copy
    assert copied.buffer is not b.buffer
    assert copied.tolist() == [0, 1, 4, 5, 8, 9]
    with pytest.raises(sm.ShapeError, match=r"cannot view shape \(3, 2\) .* without a copy"):
        b.reshape(6, copy=False)
    assert b.reshape(3, 2, copy=True).buffer is not b.buffer


# --- strided views and NumPy's basics, against NumPy -----------------------------
@st.composite
def strided(draw: st.DrawFn, min_dims: int = 0) -> tuple[sm.SharedArray, Any]:
    """A view of a SharedArray (any basic index, maybe transposed) and the NumPy view of it."""
    a, _ = draw(arrays(shape=shapes(min_dims=min_dims, max_dims=4)))
    view = a[draw(basic_indices(a.shape))]
    if not isinstance(view, sm.SharedArray):
        view = a
    if draw(st.booleans()):
        view = view._transposed()  # F-ordered views for order='F' / 'A'
    return view, np.asarray(view)


def _new_shape(draw: st.DrawFn, size: int) -> tuple[int, ...]:
    """A random shape with ``size`` elements (prime factors spread over up to 4 axes)."""
    ndim = draw(st.integers(0 if size == 1 else 1, 4))
    dims = [1] * ndim
    if size == 0:
        dims[draw(st.integers(0, ndim - 1))] = 0
        for i in range(ndim):
            dims[i] = dims[i] if dims[i] == 0 else draw(st.integers(1, 3))
        return tuple(dims)
    n, factor = size, 2
    while n > 1:
        while n % factor == 0:
            dims[draw(st.integers(0, ndim - 1))] *= factor
            n //= factor
        factor += 1
    return tuple(dims)


def _views_same_memory(got: sm.SharedArray, base: sm.SharedArray) -> bool:
    return got.buffer is base.buffer


@given(st.data(), strided(), st.sampled_from(["C", "F", "A"]))
@settings(max_examples=200, deadline=None)
def test_tobytes_and_tolist_match_numpy(
    data: st.DataObject, pair: tuple[sm.SharedArray, Any], order: str
) -> None:
    view, ref = pair
    assert view.tobytes(order) == ref.tobytes(order)
    assert view.tobytes() == ref.tobytes()
    assert view.tolist() == ref.tolist()


@given(st.data(), strided(), st.sampled_from(["C", "F", "A"]))
@settings(max_examples=300, deadline=None)
def test_reshape_matches_numpy(
    data: st.DataObject, pair: tuple[sm.SharedArray, Any], order: str
) -> None:
    view, ref = pair
    shape = _new_shape(data.draw, view.size)
    if shape and data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(shape) - 1))
        asked = (*shape[:at], -1, *shape[at + 1 :])
    else:
        asked = shape
    if view.size == 0 and -1 in asked:
        asked = shape  # NumPy cannot infer a -1 beside a 0 either
    want = ref.reshape(asked, order=order)
    got = view.reshape(asked, order=order)
    same(got, want)
    if ref.size:
        assert _views_same_memory(got, view) == np.shares_memory(want, ref)
        if np.shares_memory(want, ref):
            moving = [i for i, n in enumerate(want.shape) if n > 1]  # length-1 strides are free
            assert [got.strides[i] for i in moving] == [want.strides[i] for i in moving]
    is_view = view.size == 0 or np.shares_memory(want, ref)
    if is_view:
        assert view.reshape(asked, order=order, copy=False).shape == want.shape
    else:
        with pytest.raises(sm.ShapeError, match="without a copy, and copy=False"):
            view.reshape(asked, order=order, copy=False)
        with pytest.raises(ValueError, match="Unable to avoid creating a copy"):
            ref.reshape(asked, order=order, copy=False)
    forced = view.reshape(asked, order=order, copy=True)
    same(forced, want)
    assert not _views_same_memory(forced, view)


@given(strided(), st.sampled_from(["C", "F", "A"]))
@settings(max_examples=200, deadline=None)
def test_ravel_matches_numpy(pair: tuple[sm.SharedArray, Any], order: str) -> None:
    view, ref = pair
    want = ref.ravel(order)
    got = view.ravel(order)
    same(got, want)
    if ref.size:
        assert _views_same_memory(got, view) == np.shares_memory(want, ref)


def test_reshape_forms_and_errors() -> None:
    a = sm.arange(6)
    assert a.reshape(2, 3).shape == a.reshape((2, 3)).shape == a.reshape([2, 3]).shape == (2, 3)
    with pytest.raises(sm.ArgumentTypeError, match=r"reshape\(\) needs a shape"):
        a.reshape()
    with pytest.raises(sm.InvalidArgumentError, match=r"reshape\(\): order='K' is not supported"):
        a.reshape(6, order="K")
    with pytest.raises(sm.ArgumentTypeError, match=r"copy='no' must be None, True or False"):
        a.reshape(6, copy="no")  # type: ignore[arg-type]
    with pytest.raises(sm.InvalidArgumentError, match=r"ravel\(\): order='X'"):
        a.ravel("X")
    with pytest.raises(sm.InvalidArgumentError, match=r"tobytes\(\): order='X'"):
        a.tobytes("X")
    with pytest.raises(sm.InvalidArgumentError, match=r"copy\(\): order='X' .*'K'"):
        a.copy("X")
    with pytest.raises(sm.InvalidArgumentError, match=r"astype\(\): order='X'"):
        a.astype("int8", order="X")


@given(st.data(), strided())
@settings(max_examples=150, deadline=None)
def test_fill_matches_numpy(data: st.DataObject, pair: tuple[sm.SharedArray, Any]) -> None:
    view, ref = pair
    before = np.array(np.asarray(view.buffer))  # the whole buffer, to see nothing else changed
    value = data.draw(scalars(view.dtype))
    view.fill(value)
    expected = ref.copy()
    expected.fill(value)
    same(view, expected)
    changed = np.asarray(view.buffer) != before
    assert changed.sum() <= view.nbytes


def test_fill_refuses_what_does_not_fit() -> None:
    with pytest.raises(sm.DTypeError, match=r"cannot store 2\.5 of type float in an int8 array"):
        sm.zeros(2, dtype="int8").fill(2.5)
    with pytest.raises(sm.ValueOverflowError, match="value 256 does not fit uint8"):
        sm.zeros(2, dtype="uint8").fill(256)
    with pytest.raises(sm.DTypeError, match="cannot store"):
        sm.zeros(2).fill([1.0, 2.0])
    z = sm.zeros(())
    z.fill(3)
    assert z.tolist() == 3.0


def _numpy_cast(ref: Any, target: sm.DType) -> Any:
    with np.errstate(all="ignore"):
        return ref.astype(target.name)


def _undefined_in_numpy(ref: Any, target: sm.DType) -> bool:
    """NaN, infinity or out-of-range floats cast to an integer dtype (platform-dependent)."""
    if ref.dtype.kind != "f" or target.kind not in "iu" or ref.size == 0:
        return False
    values = ref.astype("float64").ravel()
    if not np.isfinite(values).all():
        return True
    whole = [int(v) for v in np.trunc(values).tolist()]  # exact Python ints, not float64
    return bool(min(whole) < target.min or max(whole) > target.max)  # type: ignore[operator]


@given(st.data(), strided(), dtypes())
@settings(max_examples=400, deadline=None)
def test_astype_matches_numpy(
    data: st.DataObject, pair: tuple[sm.SharedArray, Any], target: sm.DType
) -> None:
    view, ref = pair
    if view.dtype.kind == "f" and target.kind in "iu" and data.draw(st.booleans()):
        low, high = (target.min or 0) - 0.9, (target.max or 0) + 0.9  # in range after truncation
        np.asarray(view)[...] = np.clip(ref, max(low, -3e38), min(high, 3e38))
    if _undefined_in_numpy(ref, target):
        with pytest.raises(sm.ValueOverflowError, match=f"to {target.name} .* undefined"):
            view.astype(target)
        return
    got, want = view.astype(target), _numpy_cast(ref, target)
    same(got, want)
    assert got._is_c_contiguous() == bool(want.flags.c_contiguous)  # order='K', as NumPy
    assert got._transposed()._is_c_contiguous() == bool(want.flags.f_contiguous)
    assert not _views_same_memory(got, view)


@pytest.mark.parametrize("source", ALL_DTYPES, ids=str)
def test_astype_special_floats_and_wrapping(source: sm.DType) -> None:
    values = {"b": [True, False], "i": [source.min, -1, 0, 1, source.max]}
    values["u"] = [0, 1, source.max]
    big = 3e38 if source.itemsize == 4 else 1e300
    values["f"] = [float("nan"), float("inf"), -float("inf"), -0.0, big, -1e-30, 3.5, -2.5]
    ref = np.array(values[source.kind], dtype=source.name)
    a = sm.asarray(ref)
    for target in ALL_DTYPES:
        if _undefined_in_numpy(ref, target):
            continue
        got, want = a.astype(target), _numpy_cast(ref, target)
        assert np.array_equal(np.asarray(got), want, equal_nan=True), (source, target)


@pytest.mark.parametrize("casting", ["no", "equiv", "safe", "same_kind", "unsafe"])
def test_astype_casting_rules_are_numpys(casting: Any) -> None:
    for source in ALL_DTYPES:
        a = sm.zeros(2, dtype=source)
        for target in ALL_DTYPES:
            allowed = np.can_cast(source.name, target.name, casting)
            if allowed:
                assert a.astype(target, casting=casting).dtype is target
            else:
                with pytest.raises(sm.DTypeError, match=f"cannot cast {source} to {target} under"):
                    a.astype(target, casting=casting)


def test_astype_copy_and_errors() -> None:
    a = sm.arange(4)
    assert a.astype("int64", copy=False) is a
    b = a.astype("int64")
    assert b is not a
    assert b.buffer is not a.buffer
    assert a.astype(float, copy=False).dtype is sm.float64
    with pytest.raises(sm.DTypeError, match="unknown dtype 'complex64'"):
        a.astype("complex64")
    with pytest.raises(sm.InvalidArgumentError, match="casting='maybe' is not a casting rule"):
        a.astype("int8", casting="maybe")  # type: ignore[arg-type]
    with pytest.raises(sm.ArgumentTypeError, match="copy='no' must be True or False"):
        a.astype("int8", copy="no")  # type: ignore[arg-type]
    with pytest.raises(sm.ValueOverflowError, match="cannot cast float64 value nan to int8"):
        sm.asarray([float("nan")]).astype("int8")


MASKS_AND_FANCY = [
    (np.array([True, False, True]), "boolean mask"),
    ([True, False, True], "boolean mask"),
    ("shared-bool", "boolean mask"),
    (np.array([0, 2]), "integer-array"),
    ([0, 2], "integer-array"),
    ([[0], [2]], "integer-array"),
    ("shared-int", "integer-array"),
    ((slice(None), [0, 1]), "integer-array"),
    (np.array([2]), "integer-array"),
]


@pytest.mark.parametrize(("key", "what"), MASKS_AND_FANCY)
def test_masks_and_fancy_indexing_are_refused_clearly(key: Any, what: str) -> None:
    a = sm.arange(9).reshape(3, 3)
    key = {"shared-bool": sm.asarray([True, False, True]), "shared-int": sm.asarray([0, 2])}.get(
        key if isinstance(key, str) else "", key
    )
    pattern = rf"{what} .*is not supported: .*use np\.asarray\(a\)\["
    with pytest.raises(sm.ArrayIndexError, match=pattern) as info:
        a[key]
    assert isinstance(info.value, IndexError)
    assert isinstance(info.value, sm.ShardmemError)
    with pytest.raises(sm.ArrayIndexError, match=pattern):
        a[key] = 0
    np.asarray(a)[key] = -1  # the zero-copy way the message names writes the shared memory
    expected = np.arange(9).reshape(3, 3)
    expected[np.asarray(key) if not isinstance(key, tuple) else key] = -1
    assert a.tolist() == expected.tolist()


def test_newaxis_is_refused_with_a_hint() -> None:
    with pytest.raises(sm.ArrayIndexError, match=r"add an axis with a\.reshape"):
        sm.arange(3)[None]


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


# --- foreign arrays handed to pool.run (borrow_arguments) ------------------------
def add_rank(values, *, rank, size, barrier):  # type: ignore[no-untyped-def]
    """Each rank adds rank + 1 to its share of the flat elements (the last rank takes the rest)."""
    n = len(values)
    start, stop = rank * n // size, (rank + 1) * n // size
    for i in range(start, stop):
        values[i] += rank + 1
    barrier()
    return sum(values[i] for i in range(n))


@given(
    st.data(),
    dtypes(),
    shapes(min_dims=1),
    st.sampled_from(["C", "strided"]),
    st.sampled_from([1, 2]),
)
@settings(max_examples=40, deadline=None)
def test_run_takes_numpy_arrays_and_copies_writes_back(
    data: st.DataObject, dtype: sm.DType, shape: tuple[int, ...], layout: str, workers: int
) -> None:
    if dtype.kind == "b":
        dtype = sm.uint8
    ref = np.clip(np.asarray(data.draw(numpy_arrays(dtype, shape))), 0, 100).astype(dtype.name)
    base = np.zeros((2, *shape), dtype.name)
    given_array = base[1] if layout == "C" else np.moveaxis(np.stack([ref, ref]), 0, -1)[..., 0]
    given_array[...] = ref
    expected = ref.ravel().copy()
    for r in range(workers):
        expected[r * ref.size // workers : (r + 1) * ref.size // workers] += r + 1
    totals = get_pool(workers).run(add_rank, given_array)
    assert np.array_equal(given_array.ravel(), expected)  # the kernel's writes, copied back
    assert totals == [sum(expected.tolist())] * workers  # what the kernel sums: Python numbers
    assert not base[0].any()  # nothing beside the array written


def test_run_sources_that_are_not_written_back(pool2: sm.Pool) -> None:
    frozen = np.arange(4.0)
    frozen.flags.writeable = False
    listed = [0.0, 1.0, 2.0, 3.0]
    raw = bytes(range(4))
    for source in (frozen, listed, raw):
        totals = pool2.run(add_rank, source)
        assert totals[0] == sum(float(v) for v in source) + 2 * 1 + 2 * 2
    assert frozen.tolist() == listed == [0.0, 1.0, 2.0, 3.0]
    assert raw == b"\x00\x01\x02\x03"


def test_run_writes_back_into_buffers(pool2: sm.Pool) -> None:
    import array

    data = array.array("i", [10, 20, 30, 40])
    block = bytearray(b"\x01\x02\x03\x04")
    strided = memoryview(bytearray(b"\x00\x01\x00\x02\x00\x03\x00\x04"))[1::2]
    pool2.run(add_rank, data)
    pool2.run(add_rank, block)
    pool2.run(add_rank, strided)
    assert data.tolist() == [11, 21, 32, 42]
    assert list(block) == [2, 3, 5, 6]
    assert strided.tolist() == [2, 3, 5, 6]


def test_run_shares_shared_arrays_and_refuses_numbers(pool2: sm.Pool) -> None:
    a = sm.zeros(4)
    pool2.run(add_rank, a)
    assert a.tolist() == [1.0, 1.0, 2.0, 2.0]
    for number in (3, 2.5, np.float64(1.0)):
        with pytest.raises(sm.ArgumentTypeError, match="pass scalars as keyword parameters"):
            pool2.run(add_rank, number)
    with pytest.raises(sm.ArgumentTypeError, match=r"run\(\): positional arguments .* not object"):
        pool2.run(add_rank, object())
    flat = np.zeros(2 * 4 * 2, np.uint8)
    odd = memoryview(flat).cast("B", (2, 4, 2))  # contiguous: accepted
    pool2.run(add_rank, odd)
    assert flat.tolist()[:2] == [1, 1]


def test_run_writes_back_nothing_when_the_kernel_fails(pool2: sm.Pool) -> None:
    target = np.zeros(4)

    def write_then_fail(values, *, rank):  # type: ignore[no-untyped-def]
        values[rank] = 7.0
        raise ValueError("kernel failed")

    with pytest.raises(ValueError, match="kernel failed"):
        pool2.run(write_then_fail, target)
    assert target.tolist() == [0.0, 0.0, 0.0, 0.0]


def write_then_read(x, y, *, rank, barrier):  # type: ignore[no-untyped-def]
    """Rank 0 writes every element of ``x``; after the barrier every rank reads ``y``."""
    if rank == 0:
        for i in range(len(x)):
            x[i] = i + 100
    barrier()
    return [y[i] for i in range(len(y))]


def _sequential_write_then_read(x: Any, y: Any) -> list[Any]:
    """The reference: the same writes and reads on the NumPy arrays themselves."""
    flat = x.reshape(-1)  # a view: the arguments are C-contiguous
    for i in range(flat.size):
        flat[i] = i + 100
    return list(y.reshape(-1).tolist())


@given(
    st.sampled_from(["float64", "int64", "int16"]),
    st.integers(1, 12),
    st.data(),
    st.sampled_from(["same object", "views", "reshaped view"]),
    st.sampled_from([1, 2]),
)
@settings(max_examples=60, deadline=None)
def test_run_aliasing_numpy_arguments_share_one_copy(
    dtype: str, n: int, data: st.DataObject, how: str, workers: int
) -> None:
    base = np.arange(n, dtype=dtype) % 50
    start = data.draw(st.integers(0, n - 1))
    stop = data.draw(st.integers(start + 1, n))
    other = data.draw(st.integers(0, n - 1))
    if how == "same object":
        x = y = base[start:stop]
    elif how == "views":
        x, y = base[start:stop], base[other : data.draw(st.integers(other + 1, n))]
    else:
        x, y = base[start:stop], base.reshape(1, n)
    ref_base = base.copy()
    ref_x = ref_base[start:stop]
    ref_y = (
        ref_x if y is x else ref_base.reshape(1, n) if y.ndim == 2 else ref_base[other:][: y.size]
    )
    want = _sequential_write_then_read(ref_x, ref_y)
    got = get_pool(workers).run(write_then_read, x, y)
    assert got == [want] * workers  # every rank read what rank 0 wrote through the other argument
    assert base.tolist() == ref_base.tolist()  # and the caller's array holds the writes


def test_run_numpy_view_of_a_shared_array_is_passed_zero_copy(pool2: sm.Pool) -> None:
    s = sm.zeros(6)
    pool2.run(write_then_read, np.asarray(s)[2:5], s)
    assert s.tolist() == [0.0, 0.0, 100.0, 101.0, 102.0, 0.0]
    t = sm.zeros(4)
    reads = pool2.run(write_then_read, t, np.asarray(t))  # the SharedArray and its NumPy view
    assert reads == [[100.0, 101.0, 102.0, 103.0]] * 2
    assert t.tolist() == [100.0, 101.0, 102.0, 103.0]


def test_run_refuses_aliasing_it_cannot_share(pool2: sm.Pool) -> None:
    s = sm.zeros(6)
    with pytest.raises(sm.InvalidArgumentError, match=r"run\(\): a NumPy argument .* view of"):
        pool2.run(write_then_read, np.asarray(s)[::2], s)
    base = np.zeros(6)
    with pytest.raises(sm.InvalidArgumentError, match=r"NumPy arguments share memory .* not a C"):
        pool2.run(write_then_read, base[::2], base)
    assert not base.any()  # refused before any work
    assert not np.asarray(s).any()
    alone = np.asarray(s)[::2]  # a strided view of shared memory alone: copied and written back
    pool2.run(write_then_read, alone, alone)
    assert s.tolist() == [100.0, 0.0, 101.0, 0.0, 102.0, 0.0]


def test_run_strided_buffer_written_back_in_its_own_format(pool2: sm.Pool) -> None:
    import array
    import ctypes

    data = array.array("l", [0] * 8)  # 'l', not shardmem's 'q'
    pool2.run(write_then_read, memoryview(data)[::2], b"")
    assert data.tolist() == [100, 0, 101, 0, 102, 0, 103, 0]
    foreign = memoryview((ctypes.c_int64 * 4)())[::2]  # format '<q': cannot be cast back
    with pytest.raises(sm.InvalidArgumentError, match=r"format '<q' is not contiguous"):
        pool2.run(write_then_read, foreign, b"")


ORDERS = ["C", "F", "A", "K", "c", "f", "a", "k", None]


@given(st.data(), strided(), st.sampled_from(ORDERS))
@settings(max_examples=150, deadline=None)
def test_copy_tobytes_astype_orders_match_numpy(
    data: st.DataObject, pair: tuple[sm.SharedArray, Any], order: Any
) -> None:
    view, ref = pair
    got, want = view.copy(order), ref.copy(order)
    same(got, want)
    assert got._is_c_contiguous() == bool(want.flags.c_contiguous)
    assert got._transposed()._is_c_contiguous() == bool(want.flags.f_contiguous)
    assert view.tobytes(order) == ref.tobytes(order)
    target = data.draw(dtypes())
    if not _undefined_in_numpy(ref, target):
        cast, want_cast = view.astype(target, order=order), _numpy_cast(ref, target)
        same(cast, want_cast.astype(target.name, order=order))


def test_order_values_numpy_refuses_are_refused() -> None:
    a = sm.arange(6)
    with pytest.raises(sm.InvalidArgumentError, match=r"reshape\(\): order='k' is not supported"):
        a.reshape(2, 3, order="k")
    assert a.reshape(2, 3, order=None).tolist() == np.arange(6).reshape(2, 3, order=None).tolist()
    assert a.reshape(2, 3, order="f").tolist() == np.arange(6).reshape(2, 3, order="F").tolist()
    m = sm.arange(6).reshape(2, 3)[:, ::2]
    same_shape = m.reshape(None)  # NumPy: the same shape, a view
    assert same_shape.shape == np.arange(6).reshape(2, 3)[:, ::2].reshape(None).shape
    assert same_shape.buffer is m.buffer
    with pytest.raises(sm.ShapeError, match="has a non-integer length None"):
        m.reshape(None, 2)


@pytest.mark.parametrize("copy", [False, None, 0, np.False_])
def test_astype_false_copy_values_return_self_as_numpy(copy: Any) -> None:
    a, ref = sm.arange(4), np.arange(4)
    assert (a.astype("int64", copy=copy) is a) == (ref.astype("int64", copy=copy) is ref)
    assert a.astype("int64", copy=copy, order="F") is a  # 1-D: C and F at once
    t = sm.arange(6).reshape(2, 3)._transposed()
    assert t.astype("int64", copy=copy) is t  # 'K' keeps the F layout, so nothing to copy
    assert t.astype("int64", copy=copy, order="C") is not t


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((2**31, 0, 2**31), "float64"),
        ((2**30, 0, 2**30), "float64"),
        ((2**62, 0), "uint8"),
        ((2**62, 0), "float64"),
        ((2**60, 0, 8), "float64"),
        ((2**60, 0, 7), "uint8"),
        ((2**63 - 1, 0), "uint8"),
        ((2**60, 0), "float64"),
    ],
)
def test_too_big_shapes_are_refused_as_numpy_refuses_them(shape: Any, dtype: str) -> None:
    try:
        np.empty(shape, dtype)
    except ValueError:
        refused = True
    else:
        refused = False
    makers = [
        lambda: sm.empty(shape, dtype=dtype),
        lambda: sm.zeros(shape, dtype=dtype),
        lambda: sm.zeros(0, dtype=dtype).reshape(shape),
    ]
    for make in makers:
        if refused:
            with pytest.raises(sm.ShapeError, match=r"is too big: it needs \d+ bytes"):
                make()
        else:
            assert make().shape == shape


def test_asarray_of_a_range_too_long_is_refused_before_allocating() -> None:
    with pytest.raises(sm.ShapeError, match=r"shape \(4611686018427387904,\) is too big"):
        sm.asarray(range(2**62))
    with pytest.raises(sm.ShapeError, match=r"shape \(2305843009213693952,\) is too big"):
        sm.asarray(range(2**61), dtype="int32")
    assert sm.asarray(range(3), dtype="int8").tolist() == np.arange(3, dtype="int8").tolist()
