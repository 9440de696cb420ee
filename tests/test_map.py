"""sm.map and sm.vectorize against NumPy, across shapes, dtypes, worker counts and chunkings."""

from __future__ import annotations

import array
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shardmem as sm
from conftest import get_pool  # the copy pytest loaded, whose pools the leak check knows
from shardmem._primitives.planning import default_chunks, nonempty_rows, split_rows
from tests.strategies import ALL_DTYPES, numpy_arrays, shapes

workers = st.integers(1, 4)
chunkings = st.one_of(st.none(), st.integers(1, 9))


def copy_kernel(x: Any, out: Any) -> None:
    out[:] = x


def add_kernel(a: Any, b: Any, out: Any) -> None:
    out[:] = array.array(out.format, [x + y for x, y in zip(a, b, strict=True)])


def where_kernel(x: Any, out: Any, *, start: int, shape: tuple[int, ...]) -> None:
    assert len(out) == len(x)
    out[:] = array.array("q", range(start, start + len(out)))


@given(n=st.integers(0, 50), parts=st.integers(1, 8))
def test_split_rows_covers_in_order(n: int, parts: int) -> None:
    ranges = split_rows(n, parts)
    assert len(ranges) == parts
    assert [a for a, _ in ranges[1:]] == [b for _, b in ranges[:-1]]
    assert ranges[0][0] == 0
    assert ranges[-1][1] == n
    sizes = [b - a for a, b in ranges]
    assert max(sizes) - min(sizes) <= 1
    assert all(b > a for a, b in nonempty_rows(n, parts))


def test_default_chunks_depends_on_size_only() -> None:
    assert [default_chunks(n) for n in (0, 1, 65536, 65537, 64 * 65536 + 1)] == [1, 1, 1, 2, 64]


@settings(max_examples=25, deadline=None)
@given(data=st.data(), w=workers, chunks=chunkings)
def test_copy_every_dtype_and_shape(data: st.DataObject, w: int, chunks: int | None) -> None:
    dtype = data.draw(st.sampled_from(ALL_DTYPES))
    ref = data.draw(numpy_arrays(dtype, data.draw(shapes())))
    out = sm.map(copy_kernel, ref, chunks=chunks, pool=get_pool(w))
    assert out.shape == ref.shape
    assert out.dtype == dtype
    np.testing.assert_array_equal(np.asarray(out), ref)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), w=workers, chunks=chunkings)
def test_two_inputs_and_out(data: st.DataObject, w: int, chunks: int | None) -> None:
    shape = data.draw(shapes(max_dims=2, max_side=9))
    a = np.asarray(data.draw(numpy_arrays(sm.int32, shape)) // 2)
    b = np.asarray(data.draw(numpy_arrays(sm.int32, shape)) // 2)
    out = sm.empty(shape, dtype="int64")
    result = sm.map(add_kernel, a, sm.asarray(b), out=out, chunks=chunks, pool=get_pool(w))
    assert result is out
    np.testing.assert_array_equal(np.asarray(out), a.astype(np.int64) + b)


@settings(max_examples=20, deadline=None)
@given(shape=shapes(min_dims=1, max_side=7), w=workers, chunks=chunkings)
def test_injected_start_and_shape(shape: tuple[int, ...], w: int, chunks: int | None) -> None:
    x = np.zeros(shape)
    out = sm.map(where_kernel, x, dtype="int64", chunks=chunks, pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(out), np.arange(x.size).reshape(shape))


def test_scalars_params_and_rank() -> None:
    def k(x: Any, s: float, out: Any, *, scale: float, rank: int, size: int) -> None:
        out[:] = array.array("d", [(v + s) * scale + 0 * rank * size for v in x])

    out = sm.map(k, sm.arange(6.0), 1.0, scale=2.0, pool=get_pool(3))
    assert out.tolist() == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]


def test_non_contiguous_input_is_copied() -> None:
    base = sm.arange(10, dtype="int16")
    out = sm.map(copy_kernel, base[::-2], pool=get_pool(2))
    assert out.tolist() == [9, 7, 5, 3, 1]


def test_more_workers_than_rows_and_zero_d() -> None:
    assert sm.map(copy_kernel, [7], pool=get_pool(4)).tolist() == [7]
    assert sm.map(copy_kernel, np.array(3.5), pool=get_pool(4)).tolist() == 3.5
    assert sm.map(copy_kernel, np.zeros((0, 3)), pool=get_pool(4)).shape == (0, 3)


VECTOR_CASES = [
    (lambda v: 255 - v, "uint8", None, lambda x: 255 - x),
    (lambda v: -v, "int8", None, lambda x: (-x.astype(np.int16)).clip(-128, 127).astype(np.int8)),
    (lambda v: v > 100, "uint8", "bool", lambda x: x > 100),
    (lambda v: not v, "bool", None, lambda x: ~x),
    (lambda v: v * 0.5, "float64", None, lambda x: x * 0.5),
    (lambda v: v // 3, "int32", None, lambda x: x // 3),
    (lambda v: v * 2.0, "float32", None, lambda x: (x.astype(np.float64) * 2).astype(np.float32)),
]


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(VECTOR_CASES), data=st.data(), w=workers, chunks=chunkings)
def test_vectorize_one_input(case: Any, data: st.DataObject, w: int, chunks: int | None) -> None:
    fn, dtype, out_dtype, ref_fn = case
    kind = getattr(sm, dtype if dtype != "bool" else "bool_")
    x = data.draw(numpy_arrays(kind, data.draw(shapes(max_side=9))))
    if dtype == "int8":
        x = np.asarray(x.clip(-127, 127))
    if dtype == "float32":
        x = np.asarray(x.clip(-1e30, 1e30))
    out = sm.map(sm.vectorize(fn), x, dtype=out_dtype, chunks=chunks, pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(out), ref_fn(x))


@pytest.mark.parametrize("lut", [True, False])
def test_vectorize_lut_and_plain_agree(lut: bool) -> None:
    x = np.arange(256, dtype=np.uint8)
    out = sm.map(sm.vectorize(lambda v: (v * 7) % 256, lut=lut), x, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(out), (x.astype(int) * 7) % 256)


def test_vectorize_two_inputs_and_scalar() -> None:
    a, b = np.arange(5.0), np.arange(5.0) * 10
    out = sm.map(sm.vectorize(lambda x, y, z: x + y + z), a, b, 0.5, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(out), a + b + 0.5)


def test_vectorize_builtin_and_partial_domain() -> None:
    x = np.array([-3, 4, -5], dtype=np.int8)
    np.testing.assert_array_equal(np.asarray(sm.map(sm.vectorize(abs), x)), np.abs(x))
    y = np.array([1, 2, 4], dtype=np.uint8)  # 100 // v fails for v == 0: LUT falls back
    out = sm.map(sm.vectorize(lambda v: 100 // v), y, pool=get_pool(2))
    assert out.tolist() == [100, 50, 25]


def test_vectorize_errors() -> None:
    with pytest.raises(sm.ArgumentTypeError, match="not callable"):
        sm.vectorize(3)  # type: ignore[arg-type]
    pool = get_pool(2)
    with pytest.raises(OverflowError):
        sm.map(sm.vectorize(lambda v: v + 999), np.arange(3, dtype=np.uint8), pool=pool, timeout=9)
    with pytest.raises(TypeError):
        sm.map(sm.vectorize(lambda v: v / 2), np.arange(3, dtype=np.int64), pool=pool, timeout=20)


def test_map_errors() -> None:
    pool = get_pool(2)
    with pytest.raises(
        sm.ShapeError, match=r"input 0 has shape \(2,\), input 1 has shape \(3,\), out has shape"
    ):
        sm.map(copy_kernel, np.zeros(2), np.zeros(3), pool=pool)
    with pytest.raises(sm.ShapeError, match=r"out has shape \(4,\)"):
        sm.map(copy_kernel, np.zeros(2), out=sm.zeros(4), pool=pool)
    with pytest.raises(sm.InvalidArgumentError, match="out is not C-contiguous"):
        sm.map(copy_kernel, np.zeros(2), out=sm.zeros(4)[::2], pool=pool)
    with pytest.raises(sm.ArgumentTypeError, match="out= must be a SharedArray"):
        sm.map(copy_kernel, np.zeros(2), out=np.zeros(2), pool=pool)  # type: ignore[arg-type]
    with pytest.raises(sm.ArgumentTypeError, match="no array among the inputs"):
        sm.map(copy_kernel, 1.0, pool=pool)
    with pytest.raises(sm.InvalidArgumentError, match="chunks=0 must be >= 1"):
        sm.map(copy_kernel, np.zeros(2), chunks=0, pool=pool)
    with pytest.raises(sm.ShippingError, match="parameter p=object"):
        sm.map(copy_kernel, np.zeros(2), p=object(), pool=pool)


def test_an_input_that_cannot_convert_keeps_its_kind_of_error() -> None:
    pool = get_pool(2)
    with pytest.raises(sm.ShapeError, match=r"map\(\): cannot use a list as an input"):
        sm.map(copy_kernel, [[1, 2], [3]], pool=pool)
    with pytest.raises(sm.DTypeError, match=r"map\(\): cannot use a ndarray.*complex128"):
        sm.map(copy_kernel, np.zeros(2, dtype=np.complex128), pool=pool)
    with pytest.raises(sm.ArgumentTypeError, match=r"map\(\): cannot use a object as an input"):
        sm.map(copy_kernel, object(), pool=pool)


def test_kernel_error_is_reraised() -> None:
    def bad(x: Any, out: Any) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        sm.map(bad, np.zeros(4), chunks=2, pool=get_pool(2), timeout=20)


def test_default_pool_is_used() -> None:
    assert sm.map(copy_kernel, [1, 2, 3]).tolist() == [1, 2, 3]


# -- the cost model: how many workers a call without chunks= uses ---------------------------------


def _mark_shard(x, out):  # type: ignore[no-untyped-def]
    out[0] = 1  # O(1): as cheap as a kernel gets; marks where each shard begins


def _mark_start(x, out, *, start):  # type: ignore[no-untyped-def]
    out[0] = 1


def _shards(pool: sm.Pool, x: sm.SharedArray, kernel: Any = _mark_shard, **kw: Any) -> int:
    """How many shards a call of a cheap kernel ran as."""
    out = sm.full(x.shape, -1, dtype="int64")
    sm.map(kernel, x, out=out, pool=pool, **kw)
    return int((np.asarray(out) >= 0).sum())


def test_a_kernel_that_sees_its_shard_is_never_split_differently() -> None:
    # Its output may depend on where its shard starts: the same call, the same shards.
    with sm.Pool(4) as pool:
        x = sm.arange(4000, dtype="int64")
        assert [_shards(pool, x, _mark_start) for _ in range(3)] == [4, 4, 4]


def _slow_square(x, out):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        v = x[i]
        for _ in range(200):
            v = (v * v) % 1000003
        out[i] = v


def test_a_cheap_kernel_over_a_small_array_runs_on_one_worker_after_its_first_call() -> None:
    with sm.Pool(4) as pool:
        x = sm.arange(4000, dtype="int64")
        assert _shards(pool, x) == 4  # its first call measures, on every worker
        assert _shards(pool, x) == 1  # not worth waking three more workers


def test_an_expensive_kernel_keeps_every_worker() -> None:
    with sm.Pool(2) as pool:
        x = sm.arange(20_000, dtype="int64")
        for _ in range(3):
            out = sm.map(_slow_square, x, pool=pool)
        for _ in range(2):
            sm.map(_slow_square, x, pool=pool)
        ref = np.arange(20_000, dtype=np.int64)
        for _ in range(200):
            ref = (ref * ref) % 1000003
        np.testing.assert_array_equal(np.asarray(out), ref)


def test_explicit_chunks_are_never_changed_by_the_cost_model() -> None:
    with sm.Pool(4) as pool:
        x = sm.arange(4000, dtype="int64")
        assert [_shards(pool, x, chunks=8) for _ in range(3)] == [8, 8, 8]


def test_set_task_cost_zero_turns_the_model_off_and_bad_values_are_refused() -> None:
    with sm.Pool(4) as pool:
        x = sm.arange(4000, dtype="int64")
        _shards(pool, x)
        old = sm.set_task_cost(0)
        try:
            assert _shards(pool, x) == 4
        finally:
            sm.set_task_cost(old)
    with pytest.raises(sm.InvalidArgumentError, match="seconds >= 0"):
        sm.set_task_cost(-1)
    with pytest.raises(sm.InvalidArgumentError, match="seconds >= 0"):
        sm.set_task_cost(float("nan"))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3000), workers=st.integers(1, 4), calls=st.integers(1, 3))
def test_results_do_not_depend_on_how_the_model_splits(n: int, workers: int, calls: int) -> None:
    pool = get_pool(workers)
    x = sm.arange(n, dtype="int64")
    for _ in range(calls):
        got = sm.map(_slow_square, x, pool=pool)
    ref = np.arange(n, dtype=np.int64)
    for _ in range(200):
        ref = (ref * ref) % 1000003
    np.testing.assert_array_equal(np.asarray(got), ref)


def _gen_scalar(v: Any) -> Any:
    yield v


async def _async_scalar(v: Any) -> Any:
    return v


@pytest.mark.parametrize(
    ("fn", "kind"), [(_gen_scalar, "a generator function"), (_async_scalar, "an async function")]
)
@pytest.mark.parametrize("lut", [True, False])
@pytest.mark.parametrize("dtype", ["uint8", "float64"])
def test_vectorize_refuses_generator_and_async_functions_up_front(
    fn: Any, kind: str, lut: bool, dtype: str
) -> None:
    with pytest.raises(sm.KernelContractError, match=rf"vectorize\(\) function .* is {kind}"):
        sm.vectorize(fn, lut=lut)
    x = sm.asarray(np.arange(5), dtype=dtype)  # a plain function of the same shape still maps
    got = sm.map(sm.vectorize(lambda v: v, lut=lut), x, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(got), np.arange(5).astype(dtype))
