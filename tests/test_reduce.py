"""sm.reduce and the built-in reductions vs NumPy; bitwise reproducibility across worker counts."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shardmem as sm
from conftest import get_pool  # the copy pytest loaded, whose pools the leak check knows
from shardmem._primitives.reduce import tree_combine
from tests.strategies import ALL_DTYPES, numpy_arrays, shapes

workers = st.integers(1, 4)
chunkings = st.one_of(st.none(), st.integers(1, 9))
INT_DTYPES = [d for d in ALL_DTYPES if d.kind in "biu"]


def exact_sum(ref: Any) -> int:
    return sum(int(v) for v in ref.ravel().tolist())


def length(x: Any) -> int:
    return len(x)


@given(n=st.integers(1, 40))
def test_tree_combine_order_is_pairwise(n: int) -> None:
    parts = [str(i) for i in range(n)]
    assert tree_combine(parts, operator.add) == "".join(parts)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), w=workers, chunks=chunkings)
def test_int_sum_min_max_mean(data: st.DataObject, w: int, chunks: int | None) -> None:
    dtype = data.draw(st.sampled_from(INT_DTYPES))
    ref = data.draw(numpy_arrays(dtype, data.draw(shapes())))
    pool = get_pool(w)
    assert sm.sum(ref, chunks=chunks, pool=pool) == exact_sum(ref)
    if ref.size == 0:
        return
    assert sm.min(ref, chunks=chunks, pool=pool) == ref.min()
    assert sm.max(ref, chunks=chunks, pool=pool) == ref.max()
    assert sm.mean(ref, chunks=chunks, pool=pool) == pytest.approx(exact_sum(ref) / ref.size)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), w=workers, chunks=chunkings)
def test_float_sum_min_max_mean(data: st.DataObject, w: int, chunks: int | None) -> None:
    dtype = data.draw(st.sampled_from([sm.float32, sm.float64]))
    ref = data.draw(numpy_arrays(dtype, data.draw(shapes(max_side=9))))
    lim = ref.dtype.type(np.finfo(ref.dtype).max / 2**40)
    ref = np.asarray(np.clip(ref, -lim, lim))
    pool = get_pool(w)
    x64 = ref.astype(np.float64)
    tol = ref.size * np.finfo(np.float64).eps * np.abs(x64).sum()
    assert abs(sm.sum(ref, chunks=chunks, pool=pool) - math.fsum(x64.ravel())) <= tol
    if ref.size:
        assert sm.min(ref, chunks=chunks, pool=pool) == x64.min()
        assert sm.max(ref, chunks=chunks, pool=pool) == x64.max()
        assert abs(sm.mean(ref, chunks=chunks, pool=pool) - x64.mean()) <= tol / ref.size + 1e-300


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(0, 3000),
    chunks=chunkings,
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_float_results_bitwise_identical_for_1_to_4_workers(
    n: int, chunks: int | None, seed: int, dtype: str
) -> None:
    rng = np.random.default_rng(seed)
    a = sm.asarray((rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)).astype(dtype))
    b = sm.asarray(rng.standard_normal(n).astype(dtype))
    results = set()
    for w in (1, 2, 3, 4):
        pool = get_pool(w)
        got = (sm.sum(a, chunks=chunks, pool=pool), sm.dot(a, b, chunks=chunks, pool=pool))
        results.add(tuple(v.hex() if isinstance(v, float) else v for v in got))
    assert len(results) == 1


def test_default_chunking_is_worker_independent() -> None:
    x = sm.asarray(np.random.default_rng(5).standard_normal(300_001))
    assert len({sm.sum(x, pool=get_pool(w)).hex() for w in (1, 2, 3, 4)}) == 1


@settings(max_examples=20, deadline=None)
@given(data=st.data(), w=workers, chunks=chunkings)
def test_dot(data: st.DataObject, w: int, chunks: int | None) -> None:
    n = data.draw(st.integers(0, 40))
    a = data.draw(numpy_arrays(sm.int16, (n,)))
    b = data.draw(numpy_arrays(sm.float64, (n,)))
    b = np.asarray(np.clip(b, -1e100, 1e100))
    ints = sum(int(x) * int(y) for x, y in zip(a.tolist(), a.tolist(), strict=True))
    assert sm.dot(a, a, chunks=chunks, pool=get_pool(w)) == ints
    got = sm.dot(a, b, chunks=chunks, pool=get_pool(w))
    tol = (n + 1) * np.finfo(np.float64).eps * np.abs(a * b).sum()
    assert abs(got - math.fsum((a * b).tolist())) <= tol


@settings(max_examples=20, deadline=None)
@given(shape=shapes(), w=workers, chunks=chunkings)
def test_generic_reduce_with_injected_start(
    shape: tuple[int, ...], w: int, chunks: int | None
) -> None:
    def starts(x: Any, *, start: int) -> tuple[int, ...]:
        return (start,) if len(x) else ()

    got = sm.reduce(
        starts, np.zeros(shape), combine=operator.add, initial=(), chunks=chunks, pool=get_pool(w)
    )
    assert list(got) == sorted(got)
    assert all(s % max(1, math.prod(shape[1:])) == 0 for s in got)  # type: ignore[attr-defined]
    count = sm.reduce(length, np.zeros(shape), initial=0, chunks=chunks, pool=get_pool(w))
    assert count == math.prod(shape)


def test_reduce_custom_combine_and_params() -> None:
    def scaled_max(x: Any, *, k: int) -> int:
        return max(x) * k

    got = sm.reduce(scaled_max, sm.arange(10), combine=max, chunks=4, k=3, pool=get_pool(2))
    assert got == 27


def test_nan_propagates_and_bool() -> None:
    x = np.array([1.0, np.nan, -3.0])
    assert math.isnan(sm.min(x, chunks=3))
    assert math.isnan(sm.max(x, chunks=2))
    flags = np.array([True, False, True])
    assert sm.sum(flags) == 2
    assert sm.min(flags) is False
    assert sm.max(flags) is True


def test_non_contiguous_and_scalar_inputs() -> None:
    base = sm.arange(12).reshape((3, 4))
    assert sm.sum(base[:, ::2]) == np.arange(12).reshape(3, 4)[:, ::2].sum()
    assert sm.sum(5) == 5


def test_empty_inputs() -> None:
    assert sm.sum(np.zeros(0)) == 0.0
    assert isinstance(sm.sum(np.zeros(0)), float)
    assert sm.sum(np.zeros(0, dtype=np.int8)) == 0
    assert sm.dot([], []) == 0
    with pytest.raises(sm.InvalidArgumentError, match="zero-size array to reduction operation min"):
        sm.min(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="zero-size array to reduction operation max"):
        sm.max([])
    with pytest.raises(sm.InvalidArgumentError, match="mean of an empty array"):
        sm.mean([])
    with pytest.raises(sm.InvalidArgumentError, match="pass initial="):
        sm.reduce(length, np.zeros(0))


def test_errors() -> None:
    with pytest.raises(sm.ShapeError, match="sizes 2 and 3 differ"):
        sm.dot([1, 2], [1, 2, 3])
    with pytest.raises(sm.InvalidArgumentError, match="chunks=0 must be >= 1"):
        sm.sum([1.0], chunks=0)
    with pytest.raises(sm.ShapeError, match="different shapes"):
        sm.reduce(length, np.zeros(2), np.zeros(3))


@pytest.mark.parametrize("initial", [None, "x", [], (1, 2, 3), object()])
def test_initial_that_does_not_combine_is_an_argument_type_error(initial: object) -> None:
    with pytest.raises(
        sm.ArgumentTypeError,
        match=r"reduce\(\): combine\(initial, result\) raised TypeError \(.*\) with initial=.* "
        r"and a result of type int; pass an initial that combine accepts, e.g\. initial=0",
    ) as info:
        sm.reduce(length, np.zeros(10), initial=initial, pool=get_pool(2))
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value.__cause__, TypeError)


def as_tuple(x: Any) -> tuple[int]:
    return (len(x),)


def test_initial_may_be_any_value_combine_takes() -> None:
    pool = get_pool(2)
    assert sm.reduce(length, np.zeros(10), initial=0.5, pool=pool) == 10.5
    got = sm.reduce(
        as_tuple, np.zeros(10), combine=operator.add, initial=("start",), chunks=2, pool=pool
    )
    assert got == ("start", 5, 5)
    assert sm.reduce(length, np.zeros(0), initial=None, pool=pool) is None  # nothing to combine


# -- empty axes, signed zeros, kernels that are not plain functions (issue 25) ------------------


@pytest.mark.parametrize("fn", [sm.min, sm.max])
@pytest.mark.parametrize(("shape", "axis"), [((0, 0), 0), ((0, 0), 1), ((0, 3), 0), ((3, 0), 1)])
def test_min_max_along_an_empty_axis_raise_as_numpy(
    fn: Any, shape: tuple[int, ...], axis: int
) -> None:
    with pytest.raises(ValueError, match="zero-size array"):
        (np.min if fn is sm.min else np.max)(np.zeros(shape), axis=axis)
    with pytest.raises(sm.InvalidArgumentError, match=rf"zero-size array .* along axis {axis}"):
        fn(sm.zeros(shape), axis=axis, pool=get_pool(2))


def test_min_max_along_a_full_axis_of_an_empty_array_are_empty() -> None:
    assert sm.max(sm.zeros((3, 0)), axis=0, pool=get_pool(2)).shape == (0,)
    assert sm.min(sm.zeros((0, 3)), axis=1, pool=get_pool(2)).shape == (0,)


@pytest.mark.parametrize("w", [1, 2, 3])
@pytest.mark.parametrize(
    "values", [[0.0, -0.0], [-0.0, 0.0], [0.0, 0.0, -0.0], [-0.0, 1.0, 0.0], [1.0, -0.0, 0.0, -0.0]]
)
def test_signed_zeros_follow_numpy(w: int, values: list[float]) -> None:
    for dtype in ("float64", "float32"):
        a = np.array(values, dtype=dtype)
        for chunks in (None, 1, len(values)):
            for fn, ref in ((sm.min, np.min), (sm.max, np.max)):
                got = fn(a, chunks=chunks, pool=get_pool(w))
                assert str(got) == str(float(ref(a))), (values, dtype, chunks, fn.__name__)


def test_the_last_of_equal_zeros_wins_on_long_arrays() -> None:
    a = np.zeros(1000)
    a[999] = -0.0
    assert str(sm.min(a, pool=get_pool(2))) == "-0.0"
    a[999] = 0.0
    a[500] = -0.0
    assert str(sm.min(a, chunks=7, pool=get_pool(3))) == "0.0"
    assert str(sm.min(a[:501], pool=get_pool(2))) == "-0.0"


def test_generator_and_async_kernels_get_the_kernel_contract_error() -> None:
    def counts(x: Any) -> Any:
        yield len(x)

    async def later(x: Any) -> int:
        return len(x)

    with pytest.raises(sm.KernelContractError, match=r"'.*counts' is a generator function"):
        sm.reduce(counts, np.zeros(10), pool=get_pool(2))
    with pytest.raises(sm.KernelContractError, match=r"'.*later' is an async function"):
        sm.reduce(later, np.zeros(10), pool=get_pool(2))

    def fill(x: Any, out: Any) -> Any:
        yield

    with pytest.raises(sm.KernelContractError, match="generator function"):
        sm.map(fill, np.zeros(4), pool=get_pool(2))


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from(["uint8", "int8", "bool"]),
    n=st.one_of(st.integers(0, 1100), st.sampled_from([255, 256, 257, 511, 512, 513, 70_000])),
    step=st.sampled_from([1, 1, 3, -1]),
    w=workers,
    chunks=chunkings,
    seed=st.integers(0, 2**32 - 1),
)
def test_one_byte_sums_are_exact(
    *, dtype: str, n: int, step: int, w: int, chunks: int | None, seed: int
) -> None:
    """uint8, int8 and bool sums (adler32 over 256-byte runs per shard) equal NumPy's
    exact sum, over run boundaries, extreme values and strided views."""
    rng = np.random.default_rng(seed)
    raw = rng.choice(np.array([0, 1, 127, 128, 255], dtype=np.uint8), n)
    raw[: n // 3] = rng.integers(0, 256, n // 3, dtype=np.uint8)
    ref = (raw != 0) if dtype == "bool" else raw.view(dtype)
    a = sm.asarray(ref)[::step]
    expected = int(ref[::step].astype(np.int64).sum())
    assert sm.sum(a, chunks=chunks, pool=get_pool(w)) == expected


def test_bool_sum_counts_bytes_that_are_not_zero() -> None:
    """A bool buffer holding bytes other than 0 and 1 counts each such element once."""
    from shardmem._primitives.kernels.reduce import sum_partial

    raw = np.frombuffer(bytes([0, 2, 255, 1] * 100), dtype=bool)
    assert sum_partial(memoryview(raw)) == sum(memoryview(raw)) == 300


def _gen_combine(a: Any, b: Any) -> Any:
    yield a + b


async def _async_combine(a: Any, b: Any) -> Any:
    return a + b


class _AsyncCallable:
    async def __call__(self, a: Any, b: Any) -> Any:
        return a + b


def _partial_sum(v: Any) -> float:
    return float(sum(v))


@pytest.mark.parametrize(
    ("combine", "kind"),
    [
        (_gen_combine, "a generator function"),
        (_async_combine, "an async function"),
        (_AsyncCallable(), "an async function"),
    ],
)
@pytest.mark.parametrize("in_workers", [False, True])
@pytest.mark.parametrize("chunks", [1, 4])
def test_generator_and_async_combine_is_refused_before_any_work(
    combine: Any, kind: str, in_workers: bool, chunks: int
) -> None:
    calls = sm.zeros(1, dtype="int64")

    def counted(v: Any, calls: Any) -> float:
        calls[0] += 1
        return float(sum(v))

    with pytest.raises(sm.KernelContractError, match=rf"combine= .* is {kind}: calling it"):
        sm.reduce(
            counted,
            sm.arange(10.0),
            sm.whole(calls),
            combine=combine,
            chunks=chunks,
            in_workers=in_workers,
            pool=get_pool(2),
        )
    assert calls.tolist() == [0]  # no chunk ran
    plain = sm.reduce(_partial_sum, sm.arange(10.0), combine=operator.add, chunks=chunks)
    assert plain == float(np.arange(10.0).sum())


@pytest.mark.parametrize("combine", [3, "add"])
def test_combine_must_be_callable(combine: object) -> None:
    with pytest.raises(sm.ArgumentTypeError, match=rf"combine={combine!r} is not callable"):
        sm.reduce(_partial_sum, sm.arange(10.0), combine=combine, chunks=1, pool=get_pool(2))  # type: ignore[arg-type]
