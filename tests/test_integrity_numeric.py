"""No silent wrong answer: scans, reductions and histograms against NumPy at the edges.

Every ``dtype=`` cast of ``scan``/``cumsum`` (across signedness, to bool, to
narrower types, floats to ints); constant, empty and single-element inputs
for reductions, scans and histograms; signed zeros and NaN in ``min``/``max``;
histogram values that land on bin edges by rounding, with many bins.
"""

from __future__ import annotations

import operator
import re
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shardmem as sm
from conftest import get_pool  # the copy pytest loaded, whose pools the leak check knows
from tests.strategies import ALL_DTYPES, numpy_arrays

workers = st.integers(1, 3)
chunkings = st.one_of(st.none(), st.integers(1, 7))
lengths = st.integers(0, 24)
UFUNCS: dict[Any, Any] = {
    operator.add: np.add,
    operator.mul: np.multiply,
    max: np.maximum,
    min: np.minimum,
}
BOOL_UFUNCS: dict[Any, Any] = {
    operator.add: np.logical_or,
    operator.mul: np.logical_and,
    max: np.logical_or,
    min: np.logical_and,
}


def quietly_cast(a: np.ndarray, dtype: str) -> np.ndarray:
    """NumPy's ``astype`` without its warnings (float64 beyond float32 becomes inf)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return a.astype(dtype)


def source_values(src: sm.DType, dst: sm.DType, n: int) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``src`` whose cast to ``dst`` NumPy defines (floats to ints: in range)."""
    if src.kind == "f" and dst.kind in "iu":
        assert dst.min is not None
        assert dst.max is not None
        low, high = max(dst.min, -(2**62)), min(dst.max, 2**62)
        if src.itemsize == 4:
            low, high = max(low, -(2**30)), min(high, 2**30)  # exact in float32
        elements = st.floats(low, high, width=8 * src.itemsize, allow_nan=False)
        return hnp.arrays(src.name, n, elements=elements)
    if src.kind == "f":
        return hnp.arrays(src.name, n, elements=st.floats(-1e6, 1e6, width=8 * src.itemsize))
    return numpy_arrays(src, (n,))


def reference_scan(op: Any, cast: np.ndarray) -> np.ndarray:
    if cast.size == 0:
        return cast
    table = BOOL_UFUNCS if cast.dtype == np.bool_ else UFUNCS
    return table[op].accumulate(cast, dtype=cast.dtype)  # type: ignore[no-any-return]


def assert_float_sums(got: np.ndarray, cast: np.ndarray) -> None:
    """Sums accumulated in double precision and rounded once: within a relative slack."""
    exact = np.cumsum(cast.astype(np.float64))
    tiny = 1e-6 if cast.dtype == np.float32 else 1e-13
    slack = np.cumsum(np.abs(cast.astype(np.float64))) * tiny
    assert np.all(np.abs(got.astype(np.float64) - exact) <= slack + 1e-30)


# -- every dtype= cast of scan / cumsum -------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    src=st.sampled_from(ALL_DTYPES),
    dst=st.sampled_from(ALL_DTYPES),
    op=st.sampled_from(list(UFUNCS)),
    w=workers,
)
def test_scan_casts_inputs_first_like_numpy(
    data: st.DataObject, src: sm.DType, dst: sm.DType, op: Any, w: int
) -> None:
    if dst.kind == "f" and op is operator.mul:
        op = operator.add  # float products overflow to inf: covered by add, max and min
    a = data.draw(source_values(src, dst, data.draw(lengths)))
    cast = quietly_cast(a, dst.name)
    got = np.asarray(sm.scan(op, a, dtype=dst.name, pool=get_pool(w)))
    assert got.dtype == np.dtype(dst.name)
    if dst.kind == "f" and op is operator.add:
        assert_float_sums(got, cast)
    else:
        np.testing.assert_array_equal(got, reference_scan(op, cast))
    if not (dst.kind == "f" and op is operator.add and w > 2):  # one order of additions
        again = sm.scan(op, sm.asarray(a).astype(dst), pool=get_pool(w))
        np.testing.assert_array_equal(got, np.asarray(again))  # as astype(dtype) first


@settings(max_examples=60, deadline=None)
@given(data=st.data(), src=st.sampled_from(ALL_DTYPES), dst=st.sampled_from(ALL_DTYPES), w=workers)
def test_cumsum_dtype_matches_numpy(
    data: st.DataObject, src: sm.DType, dst: sm.DType, w: int
) -> None:
    a = data.draw(source_values(src, dst, data.draw(lengths)))
    got = np.asarray(sm.cumsum(a, dtype=dst.name, pool=get_pool(w)))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = np.cumsum(a, dtype=dst.name)
    assert got.dtype == want.dtype
    if dst.kind == "f":
        assert_float_sums(got, quietly_cast(a, dst.name))
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("values", "src", "dst", "op", "want"),
    [
        ([-1, 5, 3], "int8", "uint8", max, [255, 255, 255]),
        ([1, -1, 0, 2], "int64", "bool", operator.add, [True, True, True, True]),
        ([5, 200], "uint8", "int8", min, [5, -56]),
        ([2**63, 1], "uint64", "int64", operator.add, [-(2**63), -(2**63) + 1]),
        ([300, 256], "int64", "uint8", operator.add, [44, 44]),
        ([0.5, -0.0, 0.0], "float64", "bool", operator.add, [True, True, True]),
        ([np.nan, 0.0], "float64", "bool", operator.mul, [True, False]),
        ([-2.9, 2.9], "float32", "int16", operator.add, [-2, 0]),
        ([2**24 + 1, 1], "int64", "float32", max, [2.0**24, 2.0**24]),
    ],
)  # fmt: skip
def test_issue_casts(values: list[Any], src: str, dst: str, op: Any, want: list[Any]) -> None:
    a = np.array(values, dtype=src)
    for w in (1, 2, 3):
        assert sm.scan(op, a, dtype=dst, pool=get_pool(w)).tolist() == want
    np.testing.assert_array_equal(reference_scan(op, quietly_cast(a, dst)), np.array(want, dst))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    data=st.data(),
    bad=st.sampled_from([np.nan, np.inf, -np.inf, 1e19, -1e19, 300.0]),
    dst=st.sampled_from(["int8", "uint8", "int32", "int64", "uint64"]),
    w=workers,
)
def test_float_to_int_cast_refuses_undefined_values(
    n: int, data: st.DataObject, bad: float, dst: str, w: int
) -> None:
    info = np.iinfo(dst)
    if info.min <= bad <= info.max:
        bad = np.nan
    where = data.draw(st.integers(0, n - 1))
    a = np.ones(n)
    a[where] = bad
    problem = "NaN" if np.isnan(bad) else "an infinity" if np.isinf(bad) else "out of range"
    value = re.escape(repr(float(bad)))
    match = rf"cannot cast float64 value {value} at index {where} \({problem}\) to {dst}"
    with pytest.raises(sm.ValueOverflowError, match=match):
        sm.cumsum(a, dtype=dst, pool=get_pool(w))
    with pytest.raises(sm.ValueOverflowError):  # as astype refuses them
        sm.asarray(a).astype(dst)


# -- constant, empty and single-element inputs -----------------------------------------------


def small_inputs(dtype: sm.DType) -> st.SearchStrategy[np.ndarray]:
    """Empty, one element, or one value repeated."""
    return st.one_of(
        st.just(np.zeros(0, dtype.name)),
        numpy_arrays(dtype, (1,)),
        st.tuples(numpy_arrays(dtype, (1,)), st.integers(2, 40)).map(lambda p: np.repeat(*p)),
    )


@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(ALL_DTYPES), w=workers, chunks=chunkings)
def test_reductions_of_constant_empty_and_single(
    data: st.DataObject, dtype: sm.DType, w: int, chunks: int | None
) -> None:
    a = data.draw(small_inputs(dtype))
    pool = get_pool(w)
    if dtype.kind != "f":
        assert sm.sum(a, chunks=chunks, pool=pool) == int(a.astype(object).sum())
    if a.size == 0:
        for fn in (sm.min, sm.max):
            with pytest.raises(sm.InvalidArgumentError, match="zero-size array"):
                fn(a, chunks=chunks, pool=pool)
        return
    for fn, ref in ((sm.min, np.min), (sm.max, np.max)):
        got, want = fn(a, chunks=chunks, pool=pool), ref(a)
        assert got == want or (np.isnan(want) and got != got)  # noqa: PLR0124
        if dtype.kind == "f":
            assert np.signbit(got) == np.signbit(want)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(ALL_DTYPES), w=workers)
def test_scans_of_constant_empty_and_single(data: st.DataObject, dtype: sm.DType, w: int) -> None:
    a = data.draw(small_inputs(dtype))
    if dtype.kind == "f":
        a = np.clip(a, -1e6, 1e6).astype(dtype.name)
    got = np.asarray(sm.cumsum(a, pool=get_pool(w)))
    want = np.cumsum(a)
    assert got.dtype == want.dtype
    if dtype.kind == "f":
        assert_float_sums(got, a)
    else:
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        np.asarray(sm.scan(max, a, pool=get_pool(w))), reference_scan(max, a)
    )


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from([d for d in ALL_DTYPES if d.kind != "b"]),
    bins=st.sampled_from([1, 2, 7, 1024, 1025, 3000]),
    w=workers,
    chunks=chunkings,
)
def test_histogram_of_constant_empty_and_single(
    data: st.DataObject, dtype: sm.DType, bins: int, w: int, chunks: int | None
) -> None:
    a = data.draw(small_inputs(dtype))
    if dtype.kind == "f":  # float32 data against NumPy's float32 edges, as NumPy bins them
        limit = 1e300 if dtype == sm.float64 else 1e30
        a = np.clip(a, -limit, limit).astype(dtype.name)
    ref = a
    try:
        want_counts, want_edges = np.histogram(ref, bins)
    except ValueError as exc:  # v - 0.5 and v + 0.5 round to one float
        assert "Too many bins" in str(exc)  # noqa: PT017
        with pytest.raises(sm.InvalidArgumentError, match="too many bins for data range"):
            sm.histogram(a, bins, chunks=chunks, pool=get_pool(w))
        return
    counts, edges = sm.histogram(a, bins, chunks=chunks, pool=get_pool(w))
    assert edges.dtype.name == want_edges.dtype.name
    np.testing.assert_array_equal(np.asarray(counts), want_counts)
    np.testing.assert_array_equal(np.asarray(edges), want_edges)


# -- signed zeros and NaN in min / max ---------------------------------------------------------

zeros_and_nan = st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan]), min_size=1, max_size=8)


@settings(max_examples=100, deadline=None)
@given(
    values=zeros_and_nan, w=workers, chunks=chunkings, dtype=st.sampled_from(["float32", "float64"])
)
def test_min_max_signed_zeros_and_nan_match_numpy(
    values: list[float], w: int, chunks: int | None, dtype: str
) -> None:
    a = np.array(values, dtype=dtype)
    for fn, ref in ((sm.min, np.min), (sm.max, np.max)):
        got, want = fn(a, chunks=chunks, pool=get_pool(w)), ref(a)
        assert str(got) == str(float(want)), (values, fn.__name__)  # the sign of 0.0 too


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.sampled_from([0.0, -0.0, 2.0]), min_size=9, max_size=200), w=workers)
def test_min_max_among_equal_values_keep_the_last(values: list[float], w: int) -> None:
    a = np.array(values)
    for fn, pick in ((sm.min, min), (sm.max, max)):
        best = pick(values)
        want = [v for v in values if v == best][-1]  # the last of the equal ones
        assert str(fn(a, pool=get_pool(w))) == str(want)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    axis=st.sampled_from([0, 1, -1]),
    w=workers,
)
def test_min_max_along_an_axis_signed_zeros_match_numpy(
    data: st.DataObject, shape: tuple[int, int], axis: int, w: int
) -> None:
    size = shape[0] * shape[1]
    choices = st.sampled_from([0.0, -0.0, 1.0, np.nan])
    flat = data.draw(st.lists(choices, min_size=size, max_size=size))
    a = np.array(flat).reshape(shape)
    for fn, ref in ((sm.min, np.min), (sm.max, np.max)):
        got, want = np.asarray(fn(a, axis=axis, pool=get_pool(w))), ref(a, axis=axis)
        assert [str(v) for v in got.tolist()] == [str(v) for v in want.tolist()]


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0), (2, 0, 4)])
@pytest.mark.parametrize("fn", [sm.min, sm.max])
def test_min_max_along_an_empty_axis_raise_as_numpy(shape: tuple[int, ...], fn: Any) -> None:
    a = np.zeros(shape)
    for axis in range(len(shape)):
        ref = np.min if fn is sm.min else np.max
        if shape[axis] == 0:
            with pytest.raises(ValueError, match="zero-size array"):
                ref(a, axis=axis)
            with pytest.raises(sm.InvalidArgumentError, match="zero-size array to reduction"):
                fn(a, axis=axis, pool=get_pool(2))
        else:
            assert fn(a, axis=axis, pool=get_pool(2)).shape == ref(a, axis=axis).shape


# -- histogram: values on edges, many bins, wide integers ----------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    lo=st.floats(-1e6, 1e6),
    width=st.floats(1e-3, 1e6),
    bins=st.sampled_from([3, 10, 1000, 1025, 4099, 100_000]),
    w=workers,
    chunks=chunkings,
    ranged=st.booleans(),
)
def test_histogram_values_on_edges_match_numpy(  # noqa: PLR0917 - hypothesis draws
    data: st.DataObject,
    lo: float,
    width: float,
    bins: int,
    w: int,
    chunks: int | None,
    ranged: bool,
) -> None:
    edges = np.linspace(lo, lo + width, bins + 1)
    picks = data.draw(st.lists(st.integers(0, bins), min_size=1, max_size=40))
    nudge = data.draw(
        st.lists(st.sampled_from([-1, 0, 1]), min_size=len(picks), max_size=len(picks))
    )
    values = np.nextafter(edges[picks], edges[picks] + np.array(nudge, dtype=float))
    values = np.concatenate([values, [lo, lo + width]])
    range_ = (lo, lo + width) if ranged else None
    try:
        want_counts, want_edges = np.histogram(values, bins, range=range_)
    except ValueError as exc:
        assert "Too many bins" in str(exc)  # noqa: PT017
        with pytest.raises(sm.InvalidArgumentError, match="too many bins"):
            sm.histogram(values, bins, range=range_, chunks=chunks, pool=get_pool(w))
        return
    counts, got_edges = sm.histogram(values, bins, range=range_, chunks=chunks, pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(got_edges), want_edges)
    np.testing.assert_array_equal(np.asarray(counts), want_counts)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    lo=st.floats(-1e4, 1e4, width=32),
    width=st.floats(0.125, 1e4, width=32),
    bins=st.sampled_from([3, 10, 1000, 1025, 4099]),
    w=workers,
    chunks=chunkings,
    ranged=st.booleans(),
)
def test_float32_histogram_values_on_edges_match_numpy(  # noqa: PLR0917 - hypothesis draws
    data: st.DataObject,
    lo: float,
    width: float,
    bins: int,
    w: int,
    chunks: int | None,
    ranged: bool,
) -> None:
    edges = np.linspace(lo, lo + width, bins + 1, dtype=np.float32)
    picks = data.draw(st.lists(st.integers(0, bins), min_size=1, max_size=40))
    nudge = data.draw(
        st.lists(st.sampled_from([-1, 0, 1]), min_size=len(picks), max_size=len(picks))
    )
    toward = edges[picks] + np.array(nudge, dtype=np.float32)
    values = np.nextafter(edges[picks], toward).astype(np.float32)
    values = np.concatenate([values, edges[[0, -1]]])
    range_ = (lo, lo + width) if ranged else None
    try:
        want = np.histogram(values, bins, range=range_)
    except ValueError as exc:
        assert "Too many bins" in str(exc)  # noqa: PT017
        with pytest.raises(sm.InvalidArgumentError, match="too many bins"):
            sm.histogram(values, bins, range=range_, chunks=chunks, pool=get_pool(w))
        return
    counts, got_edges = sm.histogram(values, bins, range=range_, chunks=chunks, pool=get_pool(w))
    assert got_edges.dtype == sm.float32
    np.testing.assert_array_equal(np.asarray(got_edges), want[1])
    np.testing.assert_array_equal(np.asarray(counts), want[0])


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30),
    bins=st.sampled_from([1, 5, 1024, 2000]),
    w=workers,
    ranged=st.sampled_from([None, "int", "float"]),
)
def test_histogram_of_wide_integers_compares_as_float64(
    values: list[int], bins: int, w: int, ranged: str | None
) -> None:
    a = np.array(values, dtype=np.int64)
    range_: Any = None
    if ranged is not None:
        lo, hi = sorted((values[0], values[-1]))
        range_ = (lo, hi) if ranged == "int" else (float(lo), float(hi))
    try:
        want = np.histogram(a, bins, range=range_)
    except ValueError as exc:
        assert "Too many bins" in str(exc) or "max must be larger" in str(exc)  # noqa: PT017
        with pytest.raises(sm.InvalidArgumentError):
            sm.histogram(a, bins, range=range_, pool=get_pool(w))
        return
    counts, edges = sm.histogram(a, bins, range=range_, pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(counts), want[0])
    np.testing.assert_array_equal(np.asarray(edges), want[1])


# -- impossible allocations ----------------------------------------------------------------------


HUGE = (
    (lambda: sm.zeros(2**60, dtype="uint8"), r"1\.00 EiB", r"\(1152921504606846976,\)", "uint8"),
    (
        lambda: sm.empty((2**20, 2**20), dtype="int16"),
        r"2\.00 TiB",
        r"\(1048576, 1048576\)",
        "int16",
    ),
    (lambda: sm.histogram([1.0], bins=2**40), r"8\.00 TiB", r"\(1099511627776,\)", "int64"),
)


@pytest.mark.parametrize(("make", "size", "shape", "dtype"), HUGE)
def test_impossible_allocations_say_how_much(make: Any, size: str, shape: str, dtype: str) -> None:
    match = f"Unable to allocate {size} for an array with shape {shape} and data type {dtype}"
    with pytest.raises(sm.OutOfMemoryError, match=match) as info:
        make()
    assert isinstance(info.value, MemoryError)


def test_impossible_buffer_says_how_many_bytes() -> None:
    with pytest.raises(
        MemoryError, match=r"1\.00 PiB \(1125899906842624 bytes\) for a SharedBuffer"
    ):
        sm.SharedBuffer(2**50)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    src=st.sampled_from(ALL_DTYPES),
    dst=st.sampled_from([d for d in ALL_DTYPES if d.kind != "f"]),
    op=st.sampled_from(list(UFUNCS)),
    w=workers,
)
def test_exclusive_scans_cast_inputs_first(
    data: st.DataObject, src: sm.DType, dst: sm.DType, op: Any, w: int
) -> None:
    a = data.draw(source_values(src, dst, data.draw(st.integers(1, 24))))
    cast = quietly_cast(a, dst.name)
    got = np.asarray(sm.scan(op, a, dtype=dst.name, inclusive=False, pool=get_pool(w)))
    first = np.asarray(sm.scan(op, cast[:1], inclusive=False, pool=get_pool(1)))  # the identity
    want = np.concatenate([first, reference_scan(op, cast)[:-1]])
    np.testing.assert_array_equal(got, want)
