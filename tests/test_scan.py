"""sm.scan and sm.cumsum against NumPy across ops, dtypes, shapes and worker counts."""

from __future__ import annotations

import functools
import itertools
import math
import operator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shardmem as sm
from conftest import get_pool
from shardmem._primitives.kernels.scan import wrap
from tests.strategies import ALL_DTYPES, numpy_arrays, shapes

workers = st.integers(1, 4)
INTS = tuple(d for d in ALL_DTYPES if d.kind in "iu")
UFUNCS: dict[object, Any] = {
    operator.add: np.add,
    operator.mul: np.multiply,
    max: np.maximum,
    min: np.minimum,
}
BOOL_UFUNCS: dict[object, Any] = {
    operator.add: np.logical_or,
    operator.mul: np.logical_and,
    max: np.logical_or,
    min: np.logical_and,
}


def reference(op: object, a: np.ndarray) -> np.ndarray:
    """NumPy's accumulate in ``a``'s own dtype (wrapping on integer overflow)."""
    flat = a.ravel()
    if flat.size == 0:
        return flat.copy()
    table = BOOL_UFUNCS if a.dtype == np.bool_ else UFUNCS
    return table[op].accumulate(flat, dtype=a.dtype)  # type: ignore[no-any-return]


def identity(op: object, dtype: np.dtype[Any]) -> object:
    if dtype == np.bool_:
        return op in (operator.mul, min)
    if dtype.kind == "f":
        return {operator.add: 0.0, operator.mul: 1.0, max: -np.inf, min: np.inf}[op]
    info = np.iinfo(dtype)
    return {operator.add: 0, operator.mul: 1, max: info.min, min: info.max}[op]


def sequential(op: Any, values: list[Any], dtype: sm.DType) -> list[Any]:
    """A plain Python scan that wraps each result into ``dtype``."""
    return [wrap(v, dtype.format, 8 * dtype.itemsize) for v in itertools.accumulate(values, op)]


# -- against NumPy ---------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(data=st.data(), w=workers, op=st.sampled_from(list(UFUNCS)))
def test_integer_and_bool_scans_match_numpy(data: st.DataObject, w: int, op: object) -> None:
    dtype = data.draw(st.sampled_from([sm.bool_, *INTS]))
    a = data.draw(numpy_arrays(dtype, data.draw(shapes(max_dims=3, max_side=6))))
    got = sm.scan(op, a, pool=get_pool(w))  # type: ignore[arg-type]
    assert got.dtype == dtype
    assert got.shape == (a.size,)
    np.testing.assert_array_equal(np.asarray(got), reference(op, a))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), w=workers, op=st.sampled_from(list(UFUNCS)))
def test_exclusive_scans_match_numpy(data: st.DataObject, w: int, op: object) -> None:
    dtype = data.draw(st.sampled_from([sm.bool_, *INTS]))
    a = data.draw(numpy_arrays(dtype, data.draw(shapes(min_dims=1, max_dims=1, max_side=12))))
    got = sm.scan(op, a, inclusive=False, pool=get_pool(w))  # type: ignore[arg-type]
    start = np.array([identity(op, a.dtype)], dtype=a.dtype)
    want = np.concatenate([start, reference(op, a)[:-1]]) if a.size else a
    np.testing.assert_array_equal(np.asarray(got), want)


finite = {"allow_nan": False, "allow_infinity": False, "min_value": -1e6, "max_value": 1e6}


@settings(max_examples=30, deadline=None)
@given(data=st.data(), w=workers, op=st.sampled_from([operator.add, max, min]))
def test_float_scans_match_numpy(data: st.DataObject, w: int, op: object) -> None:
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    width = 32 if dtype == "float32" else 64
    elements = st.floats(width=width, **finite)  # type: ignore[arg-type]
    a = data.draw(hnp.arrays(dtype, data.draw(shapes(max_dims=2, max_side=8)), elements=elements))
    got = np.asarray(sm.scan(op, a, pool=get_pool(w)))  # type: ignore[arg-type]
    assert got.dtype == a.dtype
    if op is operator.add:  # exact sum in float64 then rounded: compare with a tolerance
        exact = np.cumsum(a.ravel().astype(np.float64))
        slack = np.cumsum(np.abs(a.ravel().astype(np.float64))) * (1e-6 if width == 32 else 1e-13)
        assert np.all(np.abs(got - exact) <= slack + 1e-30)
    else:
        np.testing.assert_array_equal(got, reference(op, a))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), w=workers)
def test_cumsum_matches_numpy_dtype_and_values(data: st.DataObject, w: int) -> None:
    dtype = data.draw(st.sampled_from([d for d in ALL_DTYPES if d.kind != "f"]))
    a = data.draw(numpy_arrays(dtype, data.draw(shapes(max_dims=3, max_side=6))))
    got = sm.cumsum(a, pool=get_pool(w))
    want = np.cumsum(a)
    assert got.dtype.name == want.dtype.name
    np.testing.assert_array_equal(np.asarray(got), want)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), w=workers)
def test_python_function_scan_matches_sequential(data: st.DataObject, w: int) -> None:
    dtype = data.draw(st.sampled_from(INTS))
    a = data.draw(numpy_arrays(dtype, data.draw(shapes(min_dims=1, max_dims=1, max_side=20))))
    op = data.draw(
        st.sampled_from([operator.xor, operator.or_, math.gcd, lambda x, y: x * y + x + y])
    )
    got = sm.scan(op, a, pool=get_pool(w))
    assert got.tolist() == sequential(op, a.tolist(), dtype)


# -- overflow, dtypes and casting ---------------------------------------------------------------


@pytest.mark.parametrize("w", [1, 2, 3])
def test_int64_overflow_wraps_like_numpy(w: int) -> None:
    a = np.array([2**62, 2**62, 2**62, -(2**63), 5, 2**63 - 1], dtype=np.int64)
    np.testing.assert_array_equal(np.asarray(sm.cumsum(a, pool=get_pool(w))), np.cumsum(a))
    b = np.array([3**30] * 7, dtype=np.int64)
    got = sm.scan(operator.mul, b, pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(got), np.multiply.accumulate(b))


@pytest.mark.parametrize("w", [1, 4])
def test_small_dtype_wraps_when_asked(w: int) -> None:
    a = np.array([200, 100, 250, 7], dtype=np.uint8)
    got = sm.cumsum(a, dtype="uint8", pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(got), np.cumsum(a, dtype=np.uint8))
    b = np.array([100, 100, -100, -100, -100], dtype=np.int8)
    np.testing.assert_array_equal(
        np.asarray(sm.scan(operator.add, b, pool=get_pool(w))), np.add.accumulate(b, dtype=np.int8)
    )


def test_uint64_wraps() -> None:
    a = np.array([2**64 - 1, 2, 2**63], dtype=np.uint64)
    np.testing.assert_array_equal(np.asarray(sm.cumsum(a, pool=get_pool(2))), np.cumsum(a))


def test_cast_floats_to_int_truncates_like_numpy() -> None:
    a = np.array([1.5, 2.7, -3.9, 4.2])
    got = sm.cumsum(a, dtype="int64", pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(got), np.cumsum(a, dtype=np.int64))


def test_cast_ints_to_float() -> None:
    a = np.arange(10, dtype=np.int16)
    got = sm.cumsum(a, dtype="float32", pool=get_pool(3))
    assert got.dtype == sm.float32
    np.testing.assert_array_equal(np.asarray(got), np.cumsum(a, dtype=np.float32))


def test_bool_cumsum_counts() -> None:
    a = np.array([True, False, True, True])
    got = sm.cumsum(a, pool=get_pool(2))
    assert got.dtype == sm.int64
    assert got.tolist() == [1, 1, 2, 3]


# -- shapes, out=, initial= ---------------------------------------------------------------------


@pytest.mark.parametrize("w", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_tiny_arrays_and_more_workers_than_elements(w: int, n: int) -> None:
    a = np.arange(1, n + 1, dtype=np.int64)
    assert sm.cumsum(a, pool=get_pool(w)).tolist() == np.cumsum(a).tolist()
    got = sm.scan(operator.add, a, inclusive=False, pool=get_pool(w)).tolist()
    assert got == [0, *np.cumsum(a)[:-1].tolist()][:n]


def test_zero_dim_input_gives_one_element() -> None:
    assert sm.cumsum(np.int32(7), pool=get_pool(2)).tolist() == [7]


def test_in_place_and_nd_out() -> None:
    a = sm.asarray(np.arange(12, dtype=np.int64).reshape(3, 4))
    assert sm.scan(operator.add, a, out=a, pool=get_pool(3)) is a
    np.testing.assert_array_equal(np.asarray(a), np.cumsum(np.arange(12)).reshape(3, 4))
    flat = sm.zeros(12, dtype="int64")
    assert sm.cumsum(np.ones((3, 4), dtype=np.int64), out=flat, pool=get_pool(2)) is flat
    assert flat.tolist() == list(range(1, 13))


def test_out_overlapping_x_shifted() -> None:
    base = sm.asarray(np.arange(1, 41, dtype=np.int64))
    x, out = base[:39], base[1:]
    want = np.cumsum(np.arange(1, 40))
    sm.cumsum(x, out=out, pool=get_pool(3))
    np.testing.assert_array_equal(np.asarray(out), want)


@pytest.mark.parametrize("w", [1, 2])
def test_float64_cumsum_bitwise_numpy_on_two_workers(w: int) -> None:
    a = np.random.default_rng(1).standard_normal(200_001)
    np.testing.assert_array_equal(np.asarray(sm.cumsum(a, pool=get_pool(w))), np.cumsum(a))


@pytest.mark.parametrize("dtype", ["int64", "uint32", "int8"])
def test_long_products_stay_fast_and_wrap(dtype: str) -> None:
    a = np.full(300_000, 3, dtype=dtype)
    got = sm.scan(operator.mul, a, pool=get_pool(2), timeout=60)
    np.testing.assert_array_equal(np.asarray(got), np.multiply.accumulate(a, dtype=a.dtype))
    got = sm.scan(lambda p, q: p * q + 1, a[:1000], pool=get_pool(2), timeout=60)
    assert got.tolist() == sequential(
        lambda p, q: p * q + 1, a[:1000].tolist(), sm.asarray(a).dtype
    )


def test_non_contiguous_input() -> None:
    base = sm.asarray(np.arange(20, dtype=np.int32).reshape(4, 5))
    view = base[::2, ::-2]
    got = sm.cumsum(view, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(got), np.cumsum(np.asarray(view)))


@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("w", [1, 2, 4])
def test_initial_value(inclusive: bool, w: int) -> None:
    values = [3, 1, 4, 1, 5, 9, 2, 6]
    got = sm.scan(operator.add, values, initial=100, inclusive=inclusive, pool=get_pool(w))
    full = list(itertools.accumulate(values, initial=100))
    assert got.tolist() == (full[1:] if inclusive else full[:-1])


def test_exclusive_custom_op_needs_initial() -> None:
    with pytest.raises(sm.InvalidArgumentError, match="needs initial="):
        sm.scan(math.gcd, [4, 6], inclusive=False, pool=get_pool(2))
    got = sm.scan(math.gcd, [4, 6, 9], inclusive=False, initial=0, pool=get_pool(2))
    assert got.tolist() == [0, 4, 2]


def test_non_commutative_op_keeps_order() -> None:
    def second(x: int, y: int) -> int:  # associative, not commutative
        return y

    values = list(range(10, 30))
    for w in (1, 2, 3, 4):
        assert sm.scan(second, values, pool=get_pool(w)).tolist() == values
        got = sm.scan(second, values, inclusive=False, initial=-1, pool=get_pool(w)).tolist()
        assert got == [-1, *values[:-1]]


def test_large_array_all_workers() -> None:
    a = np.random.default_rng(0).integers(-1000, 1000, 100_003, dtype=np.int64)
    np.testing.assert_array_equal(np.asarray(sm.cumsum(a, pool=get_pool(4))), np.cumsum(a))


def test_default_pool() -> None:
    assert sm.cumsum([1, 2, 3]).tolist() == [1, 3, 6]


# -- errors -------------------------------------------------------------------------------------


def test_kernel_error_propagates() -> None:
    def bad(x: int, y: int) -> int:
        raise ZeroDivisionError("no")

    with pytest.raises(ZeroDivisionError) as info:
        sm.scan(bad, list(range(10)), pool=get_pool(2))
    assert isinstance(info.value.__cause__, sm.KernelError)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.add, [1]), {}, sm.ArgumentTypeError, "not a function"),
        ((functools.partial(operator.add), [1]), {}, sm.ArgumentTypeError, "not a function"),
        ((operator.add, [1, 2]), {"out": [0, 0]}, sm.ArgumentTypeError, "out= must be"),
        ((operator.add, [1, 2]), {"out": "x"}, sm.ArgumentTypeError, "out= must be"),
        ((operator.add, [1, 2]), {"dtype": "int8", "out": "x"}, sm.ArgumentTypeError, "out="),
        ((operator.add, [1, 2]), {"timeout": -1}, sm.InvalidArgumentError, "timeout=-1"),
        ((operator.add, [1, 2]), {"initial": 1.5}, sm.DTypeError, "1.5"),
        ((operator.add, [1, 2]), {"initial": np.zeros(3)}, sm.DTypeError,
         r"cannot store array\(\[0\., 0\., 0\.\]\) of type ndarray in an int64 array"),
        ((operator.add, [1.0, 2.0]), {"initial": np.zeros((2, 0))}, sm.DTypeError,
         "of type ndarray in a float64 array"),
        ((operator.add, [1.0, 2.0]), {"initial": np.complex128(1j)}, sm.DTypeError,
         "of type complex128 in a float64 array"),
        ((operator.add, [1, 2]), {"dtype": "int9"}, sm.DTypeError, "int9"),
    ],
)  # fmt: skip
def test_bad_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        sm.scan(*args, pool=get_pool(2), **kwargs)


def test_initial_may_be_a_numpy_scalar_or_0d_array() -> None:
    got = sm.scan(operator.add, [1, 2], initial=np.array(5), pool=get_pool(2))  # type: ignore[arg-type]
    assert got.tolist() == [6, 8]
    got = sm.scan(operator.add, [1.0, 2.0], initial=np.float32(0.5), pool=get_pool(2))
    assert got.tolist() == [1.5, 3.5]


def test_out_shape_and_dtype_conflicts() -> None:
    with pytest.raises(sm.ShapeError, match=r"out has shape \(3,\) but the scan produces 2"):
        sm.cumsum([1, 2], out=sm.zeros(3, dtype="int64"), pool=get_pool(2))
    with pytest.raises(sm.InvalidArgumentError, match="dtype=int8 differs from out's dtype"):
        sm.cumsum([1, 2], dtype="int8", out=sm.zeros(2, dtype="int64"), pool=get_pool(2))
    with pytest.raises(sm.InvalidArgumentError, match="not C-contiguous"):
        sm.cumsum([1, 2], out=sm.zeros(4, dtype="int64")[::2], pool=get_pool(2))


def test_progress_bar() -> None:
    assert sm.cumsum([1, 2, 3], pool=get_pool(2), progress=True).tolist() == [1, 3, 6]


# -- casts, refusals and operator results (issue 25) ----------------------------------------------


@pytest.mark.parametrize("w", [1, 2, 3])
def test_dtype_casts_inputs_before_combining(w: int) -> None:
    pool = get_pool(w)
    assert sm.scan(max, np.array([-1, 5, 3], np.int8), dtype="uint8", pool=pool).tolist() == [
        255,
        255,
        255,
    ]
    assert sm.cumsum([1, -1, 0, 2], dtype=bool, pool=pool).tolist() == [True] * 4
    assert sm.scan(min, np.array([5, 200], np.uint8), dtype="int8", pool=pool).tolist() == [5, -56]


@pytest.mark.parametrize(
    ("src", "dst"), [("int64", "uint8"), ("float64", "int32"), ("uint64", "int64")]
)
def test_casts_across_chunk_boundaries(src: str, dst: str) -> None:
    from shardmem._primitives.kernels.scan import CHUNK

    rng = np.random.default_rng(7)
    n = CHUNK + 4321
    if src == "float64":
        a = rng.uniform(-1000, 1000, n)
    else:
        a = rng.integers(0, 2**62, n, dtype=np.int64).astype(src) * 3
    for w in (1, 2):
        got = sm.scan(operator.add, a, dtype=dst, pool=get_pool(w))
        np.testing.assert_array_equal(np.asarray(got), np.cumsum(a.astype(dst), dtype=dst))


@pytest.mark.parametrize("w", [1, 2, 3])
@pytest.mark.parametrize("where", [0, 50, 99])
def test_nan_into_an_int_cumsum_names_the_problem(w: int, where: int) -> None:
    a = np.ones(100)
    a[where] = np.nan  # first shard: refused before the barrier; last: after it
    match = rf"cannot cast float64 value nan at index {where} \(NaN\) to int64"
    with pytest.raises(sm.ValueOverflowError, match=match) as info:
        sm.cumsum(a, dtype="int64", pool=get_pool(w))
    assert isinstance(info.value, OverflowError)
    assert sm.cumsum([1.0, 2.0], dtype="int64", pool=get_pool(w)).tolist() == [1, 3]  # pool fine


def test_floats_beyond_int64_are_refused_as_asarray_refuses_them() -> None:
    with pytest.raises(sm.ValueOverflowError, match=r"1e\+20 at index 1 \(out of range\) to int64"):
        sm.cumsum([1.0, 1e20], dtype="int64", pool=get_pool(2))
    with pytest.raises(sm.ValueOverflowError, match="an infinity"):
        sm.scan(max, [np.inf], dtype="uint8", pool=get_pool(2))


def half(a: int, b: int) -> float:
    return (a + b) / 2


def nothing(a: int, b: int) -> None:
    return None


@pytest.mark.parametrize(
    ("op", "dtype", "shown"),
    [
        (half, "int64", r"returned 0\.5 \(a float\) for dtype=int64"),
        (half, "uint8", r"returned 0\.5 \(a float\) for dtype=uint8"),
        (nothing, "int32", r"returned None \(a NoneType\) for dtype=int32"),
        (nothing, "float64", r"returned None \(a NoneType\) for dtype=float64"),
        (nothing, "bool", r"returned None \(a NoneType\) for dtype=bool"),
    ],
)
@pytest.mark.parametrize("w", [1, 2])
def test_an_op_returning_the_wrong_kind_is_named(op: Any, dtype: str, shown: str, w: int) -> None:
    name = op.__name__
    with pytest.raises(sm.KernelContractError, match=rf"scan op '{name}' {shown}") as info:
        sm.scan(op, [0, 1, 2, 3, 4, 5], dtype=dtype, pool=get_pool(w))
    assert isinstance(info.value, TypeError)
    assert "unsupported operand" not in str(info.value)


def test_a_float_op_result_is_fine_for_float_and_bool_dtypes() -> None:
    assert sm.scan(half, [1, 3, 5], dtype="float64", pool=get_pool(2)).tolist() == [1.0, 2.0, 3.5]
    assert sm.scan(half, [1, 3, 5], dtype="bool", pool=get_pool(2)).tolist() == [True] * 3


def test_an_op_raising_its_own_type_error_is_not_relabelled() -> None:
    def bad(a: int, b: int) -> int:
        return a + "x"  # type: ignore[operator, no-any-return]

    with pytest.raises(TypeError, match="unsupported operand") as info:
        sm.scan(bad, [1, 2, 3], pool=get_pool(2))
    assert not isinstance(info.value, sm.KernelContractError)


def test_generator_and_async_ops_get_the_kernel_contract_error() -> None:
    def gen(a: int, b: int) -> Any:
        yield a + b

    async def coro(a: int, b: int) -> int:
        return a + b

    with pytest.raises(sm.KernelContractError, match=r"'.*gen' is a generator function"):
        sm.scan(gen, [1, 2], pool=get_pool(2))
    with pytest.raises(sm.KernelContractError, match=r"'.*coro' is an async function"):
        sm.scan(coro, [1, 2], pool=get_pool(2))


# -- bool scans with Python ops, op arity, inclusive= (review of issue 25) -----------------------


def xnor(a: bool, b: bool) -> int:
    return a + b - 1  # an int; as a truth value, a == b (associative on True/False)


def xor_by_subtraction(a: bool, b: bool) -> int:
    return a - b  # truth value: a != b


def keep_last(a: bool, b: bool) -> bool:
    return b


BOOL_PY_OPS = (xnor, xor_by_subtraction, keep_last, operator.add, operator.mul)


def truth_steps(op: Any, values: list[bool], initial: bool | None, inclusive: bool) -> list[bool]:
    """The documented rule: every step's result is kept as its truth value."""
    out: list[bool] = []
    acc = initial
    for v in values:
        if not inclusive:
            out.append(bool(acc))
        acc = v if acc is None else bool(op(acc, v))
        if inclusive:
            out.append(bool(acc))
    return out


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    w=workers,
    op=st.sampled_from(BOOL_PY_OPS),
    inclusive=st.booleans(),
)
def test_bool_scan_with_python_op_does_not_depend_on_workers(
    data: st.DataObject, w: int, op: Any, inclusive: bool
) -> None:
    n = data.draw(st.integers(1, 40))
    values = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    initial = data.draw(st.booleans()) if not inclusive else data.draw(st.none() | st.booleans())
    got = sm.scan(op, values, dtype=bool, inclusive=inclusive, initial=initial, pool=get_pool(w))
    assert got.tolist() == truth_steps(op, values, initial, inclusive)
    if op in (operator.add, operator.mul) and inclusive and initial is None:
        ufunc = np.logical_or if op is operator.add else np.logical_and
        assert got.tolist() == ufunc.accumulate(np.array(values)).tolist()


@pytest.mark.parametrize("w", [1, 2, 3])
def test_bool_scan_with_python_op_across_the_chunk_border(w: int) -> None:
    from shardmem._primitives.kernels.scan import CHUNK

    values = [False] * (CHUNK + 2)
    got = sm.scan(xnor, values, pool=get_pool(w)).tolist()
    assert got == truth_steps(xnor, values, None, True)
    assert got[CHUNK - 2 :] == [False, True, False, True]


def three(a: int, b: int, c: int) -> int:
    return a + b + c


def one(a: int) -> int:
    return a


@pytest.mark.parametrize(
    ("op", "shown"),
    [
        (one, r"'.*one' cannot be called with two arguments: its signature is one\(a[^,]*\)"),
        (three, r"'three' cannot be called with two arguments: .*three\(a.*, b.*, c.*\)"),
        (abs, r"'abs' cannot be called with two arguments: its signature is abs\(x, /\)"),
        (lambda: 0, r"cannot be called with two arguments"),
    ],
)
def test_an_op_of_the_wrong_arity_is_refused_before_any_work(op: Any, shown: str) -> None:
    with pytest.raises(sm.KernelContractError, match=shown) as info:
        sm.scan(op, [1, 2, 3], pool=get_pool(2))
    assert isinstance(info.value, TypeError)
    assert "op(a, b)" in str(info.value)


@pytest.mark.parametrize("op", [max, min, math.gcd, operator.sub, lambda a, b=0, *rest: a - b])
def test_ops_that_take_two_arguments_pass_the_arity_check(op: Any) -> None:
    values = [40, 6, 9, 12]
    got = sm.scan(op, values, pool=get_pool(2)).tolist()
    assert got == sequential(op, values, sm.int64)


@pytest.mark.parametrize("inclusive", ["no", None, 0, 1, np.bool_(True)])
def test_inclusive_must_be_a_bool(inclusive: object) -> None:
    with pytest.raises(sm.ArgumentTypeError, match=rf"inclusive={inclusive!r} must be True"):
        sm.scan(operator.add, [1, 2, 3], inclusive=inclusive, pool=get_pool(2))  # type: ignore[arg-type]


@pytest.mark.parametrize("spelling", ["i8", "<i4", "=u2", "u1", "f4", "d", "int_", "float", "b1"])
@pytest.mark.parametrize("w", [1, 2])
def test_cumsum_takes_numpys_dtype_spellings(spelling: str, w: int) -> None:
    values = [1, 0, 3, 250]
    got = sm.cumsum(values, dtype=spelling, pool=get_pool(w))
    want = np.cumsum(np.array(values), dtype=spelling)
    assert got.dtype.name == want.dtype.name
    assert got.tolist() == want.tolist()


def test_cumsum_refuses_a_foreign_byte_order_by_name() -> None:
    foreign = ">i4" if np.little_endian else "<i4"
    with pytest.raises(sm.DTypeError, match=rf"dtype '{foreign}' has a non-native byte order"):
        sm.cumsum([1, 2], dtype=foreign, pool=get_pool(2))


@pytest.mark.parametrize("w", [1, 2, 3, 4])
def test_the_documented_bool_scan_example(w: int) -> None:
    got = sm.scan(lambda a, b: a + b - 1, [False] * 4, dtype=bool, pool=get_pool(w))
    assert got.tolist() == [False, True, False, True]
