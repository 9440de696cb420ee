"""shardmem.dask on a real distributed.LocalCluster: two worker processes, one pool each.

One module-scoped cluster serves every test. It is warmed up before the first
test (a computation and a gather), so the client-side threads distributed
starts lazily (IO loop, offload executor, profiler) exist before the leak
check's first snapshot and are not taken for leaks.
"""

from __future__ import annotations

import array
import operator
import pickle
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
ndi = pytest.importorskip("scipy.ndimage")

from pools import get_pool  # noqa: E402

import shardmem as sm  # noqa: E402
import shardmem.dask as smd  # noqa: E402
from shardmem.dask import _ship as _dask_ship  # noqa: E402
from shardmem.dask import _worker as _dask_worker  # noqa: E402

TIMEOUT = 60  # seconds for any one gather: generous, a result normally takes well under 1 s


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
    )
    c = distributed.Client(cluster, timeout=TIMEOUT)
    try:
        warm = smd.map_blocks(_double, da.arange(8, chunks=4))
        assert c.compute(warm).result(timeout=TIMEOUT).tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
        yield c
    finally:
        c.close(timeout=TIMEOUT)
        cluster.close(timeout=TIMEOUT)


def _double(x, out):
    out[:] = array.array(out.format, [2 * v for v in x])


def compute(c: distributed.Client, arr: object) -> object:
    return c.compute(arr).result(timeout=TIMEOUT)


# -- map_blocks ----------------------------------------------------------------------------------


def test_map_blocks_equals_local_map_and_numpy(client: distributed.Client) -> None:
    def scaled_sum(a, b, out, *, gain):  # defined here: shipped by value, like a notebook cell's
        for i in range(len(out)):
            out[i] = gain * a[i] + b[i] if a[i] > 0.5 else -b[i]

    rng = np.random.default_rng(1)
    a, b = rng.random((60, 7)), rng.random((60, 7))
    got = compute(client, smd.map_blocks(scaled_sum, da.from_array(a, chunks=(16, 3)), b, gain=3.0))
    expected = np.where(a > 0.5, 3.0 * a + b, -b)
    local = np.asarray(sm.map(scaled_sum, a, b, gain=3.0, pool=get_pool(2)))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, local)


def test_map_blocks_start_is_global_and_scalars_pass_through(client: distributed.Client) -> None:
    def index_plus(x, k, out, *, start, shape):
        for i in range(len(out)):
            out[i] = start + i + k + 0 * x[i]

    x = da.zeros((10, 3), chunks=(4, 3), dtype="int64")
    got = compute(client, smd.map_blocks(index_plus, x, 100))
    np.testing.assert_array_equal(got, np.arange(30).reshape(10, 3) + 100)
    with pytest.raises(sm.InvalidArgumentError, match="blocks of whole rows"):
        smd.map_blocks(index_plus, da.zeros((4, 4), chunks=2), 1)


def test_map_blocks_dtype_and_chained_blocks(client: distributed.Client) -> None:
    def threshold(x, out, *, level):
        out[:] = array.array(out.format, [v > level for v in x])

    x = da.arange(1000, chunks=250)
    doubled = smd.map_blocks(_double, x)
    flags = smd.map_blocks(threshold, doubled, dtype="uint8", level=999)
    got = compute(client, flags)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, (2 * np.arange(1000) > 999).astype(np.uint8))


def test_map_blocks_refuses_unshippable_kernels_before_building_a_graph() -> None:
    lock = threading.Lock()

    def uses_lock(x, out):
        with lock:
            out[:] = x

    with pytest.raises(sm.ShippingError, match="closure variable 'lock'"):
        smd.map_blocks(uses_lock, da.ones(4, chunks=2))
    with pytest.raises(sm.ShapeError, match="different shapes"):
        smd.map_blocks(_double, da.ones(4, chunks=2), da.ones(5, chunks=2))


# -- reduction -----------------------------------------------------------------------------------


def test_reduction_equals_local_reduce_and_numpy(client: distributed.Client) -> None:
    def count_and_sum(x, *, above):
        picked = [v for v in x if v > above]
        return (len(picked), sum(picked))

    def pairwise(p, q):
        return (p[0] + q[0], p[1] + q[1])

    values = np.arange(100_000, dtype="int64") % 997
    x = da.from_array(values, chunks=30_000)
    got = compute(client, smd.reduction(count_and_sum, x, combine=pairwise, above=500)).item()
    local = sm.reduce(count_and_sum, values, combine=pairwise, above=500, pool=get_pool(2))
    picked = values[values > 500]
    assert got == local == (picked.size, int(picked.sum()))


def test_reduction_float_sum_and_initial(client: distributed.Client) -> None:
    def total(x):
        return sum(x)

    values = np.random.default_rng(2).random((300, 40))
    x = da.from_array(values, chunks=(70, 40))
    got = compute(client, smd.reduction(total, x, dtype="float64", initial=1.0))
    assert got.dtype == np.float64
    assert got.item() == pytest.approx(values.sum() + 1.0, rel=1e-12)
    empty = smd.reduction(total, da.zeros((0,), chunks=1), initial=0)
    assert compute(client, empty).item() == 0
    with pytest.raises(sm.InvalidArgumentError, match="initial="):
        compute(client, smd.reduction(total, da.zeros((0,), chunks=1)))


# -- map_overlap ---------------------------------------------------------------------------------


def _box3(rows, out_row):
    col = list(
        map(operator.add, map(operator.add, rows[0], rows[1], strict=True), rows[2], strict=True)
    )
    return [sum(col[x : x + 3]) / 9.0 for x in range(len(out_row))]


@pytest.mark.parametrize(
    ("boundary", "scipy_mode"),
    [
        ("reflect", "reflect"),
        ("mirror", "mirror"),
        ("nearest", "nearest"),
        ("wrap", "wrap"),
        ("constant", "constant"),
    ],
)
def test_map_overlap_equals_local_stencil_and_scipy(
    client: distributed.Client, boundary: str, scipy_mode: str
) -> None:
    image = np.random.default_rng(3).random((37, 23))
    x = da.from_array(image, chunks=(10, 12))
    got = compute(client, smd.map_overlap(_box3, x, depth=1, boundary=boundary, cval=0.5))
    local = sm.stencil(_box3, image, mode=boundary, cval=0.5, pool=get_pool(2))
    np.testing.assert_allclose(got, np.asarray(local), rtol=1e-12)
    np.testing.assert_allclose(
        got, ndi.uniform_filter(image, 3, mode=scipy_mode, cval=0.5), rtol=1e-12
    )


def test_map_overlap_iterations_radius_2_and_3d(client: distributed.Client) -> None:
    def heat(rows, out_row, *, alpha):
        up, mid, down = rows
        for x in range(len(out_row)):
            c = mid[x + 1]
            out_row[x] = c + alpha * (up[x + 1] + down[x + 1] + mid[x] + mid[x + 2] - 4 * c)

    grid = np.zeros((24, 24))
    grid[5, 7] = grid[18, 3] = 100.0
    got = compute(
        client,
        smd.map_overlap(
            heat, da.from_array(grid, chunks=8), boundary="nearest", iterations=5, alpha=0.2
        ),
    )
    local = sm.stencil(heat, grid, mode="nearest", iterations=5, alpha=0.2, pool=get_pool(2))
    np.testing.assert_allclose(got, np.asarray(local), rtol=1e-12)

    def max5(rows, out_row):
        return [max(max(r[x : x + 5]) for r in rows) for x in range(len(out_row))]

    values = np.random.default_rng(4).integers(0, 255, (30, 9), dtype=np.uint8)
    got2 = compute(client, smd.map_overlap(max5, da.from_array(values, chunks=(7, 9)), depth=2))
    np.testing.assert_array_equal(got2, ndi.maximum_filter(values, 5, mode="reflect"))

    def max3d(rows, out_row):
        lines = [line for plane in rows for line in plane]
        return [max(max(line[x : x + 3]) for line in lines) for x in range(len(out_row))]

    cube = np.random.default_rng(5).integers(0, 1000, (8, 6, 5), dtype=np.int32)
    got3 = compute(
        client, smd.map_overlap(max3d, da.from_array(cube, chunks=(3, 4, 5)), boundary="wrap")
    )
    np.testing.assert_array_equal(got3, ndi.maximum_filter(cube, 3, mode="wrap"))


# -- map_overlap: any depth, also at and beyond an axis's length ---------------------------------

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
NUMPY_PAD = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap"}


def _correlate(rows, out_row, *, weights):
    """sum(w * neighbour) over the window; ``weights`` flat in C order over (2r+1,) * ndim."""
    lines = [line for plane in rows for line in plane] if isinstance(rows[0], tuple) else rows
    width = len(lines[0]) - len(out_row) + 1
    taps = [(i // width, i % width, w) for i, w in enumerate(weights) if w]
    return [float(sum(w * lines[a][x + b] for a, b, w in taps)) for x in range(len(out_row))]


def _numpy_correlate(
    src: np.ndarray, weights: np.ndarray, depth: int, mode: str, cval: float
) -> np.ndarray:
    """The reference: NumPy pads (any depth), then a sum of shifted windows."""
    if mode == "constant":
        padded = np.pad(src.astype(np.float64), depth, mode="constant", constant_values=cval)
    else:
        padded = np.pad(src.astype(np.float64), depth, mode=NUMPY_PAD[mode])
    out = np.zeros(src.shape)
    for offset in np.ndindex(*weights.shape):
        window = tuple(slice(o, o + n) for o, n in zip(offset, src.shape, strict=True))
        out += weights[offset] * padded[window]
    return out


@st.composite
def _overlap_cases(
    draw: st.DrawFn,
) -> tuple[np.ndarray, tuple[int, ...], int, str, int, np.ndarray]:
    """An array, a chunking and a depth below, at or above the length of one of its axes."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(
        draw(st.lists(st.integers(1, 5 if ndim < 3 else 3), min_size=ndim, max_size=ndim))
    )
    axis = draw(st.integers(0, ndim - 1))
    depth = max(0, shape[axis] + draw(st.sampled_from([-1, 0, 1, 2])))
    chunks = tuple(draw(st.integers(1, n)) for n in shape)
    dtype = draw(st.sampled_from(["float64", "int32", "uint8"]))
    src = draw(
        st.lists(st.integers(0, 9), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
    )
    width = 2 * depth + 1
    taps = draw(st.lists(st.integers(-2, 2), min_size=width**ndim, max_size=width**ndim))
    mode = draw(st.sampled_from(MODES))
    values = np.array(src).reshape(shape).astype(dtype)
    return (
        values,
        chunks,
        depth,
        mode,
        draw(st.integers(0, 7)),
        np.array(taps).reshape((width,) * ndim),
    )


@settings(max_examples=60, deadline=None)
@given(case=_overlap_cases())
def test_map_overlap_any_depth_equals_stencil_scipy_and_numpy(
    case: tuple[np.ndarray, tuple[int, ...], int, str, int, np.ndarray],
) -> None:
    src, chunks, depth, mode, cval, weights = case
    flat = weights.ravel().tolist()
    got = smd.map_overlap(
        _correlate,
        da.from_array(src, chunks=chunks),
        depth=depth,
        boundary=mode,
        cval=cval,
        dtype="float64",
        weights=flat,
    ).compute(scheduler="sync")
    want = _numpy_correlate(src, weights, depth, mode, cval)
    np.testing.assert_array_equal(got, want)
    scipy = ndi.correlate(src.astype(np.float64), weights.astype(np.float64), mode=mode, cval=cval)
    np.testing.assert_array_equal(got, scipy)
    local = sm.stencil(
        _correlate,
        src,
        out=sm.zeros(src.shape),
        radius=depth,
        mode=mode,
        cval=cval,
        pool=get_pool(2),
        weights=flat,
    )
    np.testing.assert_array_equal(got, np.asarray(local))


@pytest.mark.parametrize("boundary", MODES)
@pytest.mark.parametrize(
    ("shape", "chunks", "depth"),
    [((1,), 1, 1), ((1,), 1, 3), ((1, 4), (1, 2), 1), ((2, 5), (1, 2), 4), ((3, 1, 2), 1, 2)],
)
def test_map_overlap_depth_beyond_a_short_axis_on_a_cluster(
    client: distributed.Client,
    boundary: str,
    shape: tuple[int, ...],
    chunks: object,
    depth: int,
) -> None:
    src = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    width = 2 * depth + 1
    weights = np.arange(1.0, 1.0 + width ** len(shape)).reshape((width,) * len(shape))
    x = da.from_array(src, chunks=chunks)
    lazy = smd.map_overlap(
        _correlate, x, depth=depth, boundary=boundary, cval=0.5, weights=weights.ravel().tolist()
    )
    assert lazy.shape == shape
    assert lazy.chunks == x.chunks
    got = compute(client, lazy)
    np.testing.assert_array_equal(got, _numpy_correlate(src, weights, depth, boundary, 0.5))


@pytest.mark.parametrize("iterations", [1, 3])
def test_map_overlap_iterations_beyond_a_short_axis(iterations: int) -> None:
    src = np.array([[4.0, 1.0, 7.0]])
    weights = np.ones((5, 5))
    x = da.from_array(src, chunks=(1, 2))
    got = smd.map_overlap(
        _correlate, x, depth=2, boundary="mirror", iterations=iterations, weights=[1.0] * 25
    ).compute(scheduler="sync")
    want = src
    for _ in range(iterations):
        want = _numpy_correlate(want, weights, 2, "mirror", 0)
    np.testing.assert_array_equal(got, want)


def test_map_overlap_of_an_empty_array_calls_no_kernel() -> None:
    def never(rows, out_row):
        raise AssertionError("called")

    x = da.zeros((0, 4), chunks=2)
    got = smd.map_overlap(never, x, depth=3, boundary="mirror").compute(scheduler="sync")
    assert got.shape == (0, 4)


@pytest.mark.parametrize(
    ("dtype", "cval"),
    [("uint8", 300), ("int32", 0.5), ("int64", 2**70), ("float32", 1e300), ("bool", 2)],
)
def test_map_overlap_refuses_a_cval_its_dtype_cannot_hold(dtype: str, cval: object) -> None:
    x = da.zeros((4, 4), dtype=dtype, chunks=2)
    with pytest.raises(sm.InvalidArgumentError, match=re.escape(f"cval={cval!r}") + f".*{dtype}"):
        smd.map_overlap(_box3, x, boundary="constant", cval=cval)


def test_map_overlap_cval_rounds_to_a_float_dtype_and_is_free_in_other_modes() -> None:
    x = da.ones((3, 3), dtype="float32", chunks=2)
    got = smd.map_overlap(_box3, x, boundary="constant", cval=0.1).compute(scheduler="sync")
    want = ndi.uniform_filter(np.ones((3, 3), dtype=np.float32), 3, mode="constant", cval=0.1)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert smd.map_overlap(_box3, da.ones(3, dtype="uint8", chunks=2), cval=0.5) is not None


# -- errors, workers, shipping -------------------------------------------------------------------


def test_kernel_errors_come_back_with_their_type_and_worker_traceback(
    client: distributed.Client,
) -> None:
    def fragile(x, out):
        for i in range(len(x)):
            out[i] = 1.0 / (x[i] - 7)  # the element 7 divides by zero

    with pytest.raises(ZeroDivisionError) as info:
        compute(client, smd.map_blocks(fragile, da.arange(20.0, chunks=5)))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "worker traceback" in notes
    assert "fragile" in notes
    assert "1.0 / (x[i] - 7)" in notes  # the kernel's source line, from the worker interpreter

    def bad_row(rows, out_row):
        raise KeyError("no such row")

    with pytest.raises(KeyError, match="no such row"):
        compute(client, smd.map_overlap(bad_row, da.ones((6, 6), chunks=3)))


def test_one_pool_per_worker_process_sized_to_its_threads(client: distributed.Client) -> None:
    compute(client, smd.map_blocks(_double, da.arange(40, chunks=5)))

    def describe(dask_worker: distributed.Worker) -> tuple[int, int, bool]:
        plugin = dask_worker.plugins["shardmem"]
        pool = plugin._pool
        return dask_worker.state.nthreads, pool.size, pool.closed

    found = client.run(describe)
    assert len(found) == 2
    assert all(v == (1, 1, False) for v in found.values()), found


def test_plugin_teardown_closes_the_pool_and_its_interpreters(client: distributed.Client) -> None:
    compute(client, smd.map_blocks(_double, da.arange(40, chunks=5)))

    def interpreters_now(dask_worker: distributed.Worker) -> int:
        from concurrent import interpreters

        return len(interpreters.list_all())

    assert set(client.run(interpreters_now).values()) == {2}  # main + a 1-worker pool

    async def remove_plugin(dask_worker: distributed.Worker) -> None:
        await dask_worker.plugin_remove("shardmem")  # what a worker's shutdown does: teardown()

    client.run(remove_plugin)
    assert set(client.run(interpreters_now).values()) == {1}
    got = compute(client, smd.map_blocks(_double, da.arange(6, chunks=3)))  # a new pool, lazily
    assert got.tolist() == [0, 2, 4, 6, 8, 10]
    assert set(client.run(interpreters_now).values()) == {2}


def test_blocks_made_by_shardmem_are_reused_without_a_copy() -> None:
    made = sm.arange(12, dtype="int64").reshape((3, 4))
    block = _dask_worker.as_numpy(made)
    assert _dask_worker.as_shared(block)._buffer is made._buffer
    rows = _dask_worker.as_shared(block[1:])
    assert rows._buffer is made._buffer
    assert rows.tolist() == [[4, 5, 6, 7], [8, 9, 10, 11]]
    plain = np.arange(12, dtype="int64")
    copied = _dask_worker.as_shared(plain)
    assert copied.tolist() == plain.tolist()
    assert _dask_worker.as_shared(block[:, 1:])._buffer is not made._buffer  # strided: copied


def test_shipped_kernels_rebuild_and_kernel_errors_pickle() -> None:
    source = "import math\nSCALE = 3\ndef k(x, out):\n    out[0] = math.floor(x[0] * SCALE)\n"
    space: dict[str, object] = {"__name__": "__main__"}
    exec(compile(source, "<cell-42>", "exec"), space)  # a notebook-cell kernel
    shipped = pickle.loads(pickle.dumps(_dask_ship.ship(space["k"])))  # type: ignore[arg-type]
    rebuilt = _dask_ship.rebuild(shipped)
    assert rebuilt is not space["k"]
    out = array.array("d", [0.0])
    rebuilt(array.array("d", [1.5]), out)
    assert out[0] == 4.0
    err = sm.KernelError("boom", kernel="k", task="rows 0:1", exc_type="E", remote_traceback="tb")
    again = pickle.loads(pickle.dumps(err))
    assert (again.kernel, again.task, again.remote_traceback) == ("k", "rows 0:1", "tb")


def test_local_schedulers_use_the_default_pool() -> None:
    got = smd.map_blocks(_double, da.arange(6, chunks=4)).compute(scheduler="sync")
    assert got.tolist() == [0, 2, 4, 6, 8, 10]


# -- the worker's pool as a named executor ---------------------------------------------------------


def test_annotated_tasks_run_in_the_workers_pool_and_the_others_on_its_threads(
    client: distributed.Client,
) -> None:
    import dask
    from dask import delayed

    def _where(tag):  # type: ignore[no-untyped-def]
        # Defined here: a function of this module would travel by name, and a worker
        # interpreter cannot import this module (it imports NumPy).
        from concurrent import interpreters

        return tag, interpreters.get_current().id

    def words(line):  # type: ignore[no-untyped-def]
        return len(line.split())

    client.register_plugin(smd.ShardmemPlugin())
    with dask.annotate(executor="shardmem"):
        inside = [delayed(_where)(i) for i in range(8)]
        counted = [delayed(words)(f"{'w ' * i}end") for i in range(20)]
    outside = [delayed(_where)(i) for i in range(4)]
    futures = client.compute(
        [delayed(list)(inside), delayed(list)(counted), delayed(list)(outside)]
    )
    got_in, got_counted, got_out = (f.result(timeout=TIMEOUT) for f in futures)
    assert [tag for tag, _ in got_in] == list(range(8))
    assert all(interp != 0 for _, interp in got_in)  # a worker interpreter of the pool
    assert got_counted == [i + 1 for i in range(20)]
    assert [tag for tag, _ in got_out] == list(range(4))
    assert all(interp == 0 for _, interp in got_out)  # the Dask worker's own thread


def test_annotated_task_error_comes_back_with_its_type(client: distributed.Client) -> None:
    import dask
    from dask import delayed

    def lookup(key):  # type: ignore[no-untyped-def]
        return {"a": 1}[key]

    client.register_plugin(smd.ShardmemPlugin())
    with dask.annotate(executor="shardmem"):
        bad, good = delayed(lookup)("b"), delayed(lookup)("a")
    with pytest.raises(KeyError, match="'b'"):
        client.compute(bad).result(timeout=TIMEOUT)
    assert client.compute(good).result(timeout=TIMEOUT) == 1


def test_an_annotated_task_whose_message_cannot_be_built_fails_instead_of_hanging(
    client: distributed.Client,
) -> None:
    import dask
    from dask import delayed

    def unsizable():  # type: ignore[no-untyped-def]
        class Odd:
            def __sizeof__(self):  # type: ignore[no-untyped-def]
                raise RuntimeError("no size")

        return Odd()

    client.register_plugin(smd.ShardmemPlugin())
    with dask.annotate(executor="shardmem"):
        odd = delayed(unsizable)()
    with pytest.raises(Exception):  # noqa: B017, PT011 - any error, as long as it comes back
        client.compute(odd).result(timeout=TIMEOUT)
    with dask.annotate(executor="shardmem"):
        fine = delayed(abs)(-3)
    assert client.compute(fine).result(timeout=TIMEOUT) == 3


# -- the contracts of the local primitives, kept on Dask (issue 25) ------------------------------


def _returns_values(x, out):
    return [2 * v for v in x]  # returns instead of writing out


def test_map_blocks_refuses_a_kernel_that_returns_its_values_as_map_does() -> None:
    with pytest.raises(sm.KernelContractError, match=r"map\(\): kernel '_returns_values' returned"):
        sm.map(_returns_values, np.arange(6.0), pool=get_pool(2))
    lazy = smd.map_blocks(_returns_values, da.arange(6.0, chunks=3))
    with pytest.raises(
        sm.KernelContractError, match=r"map_blocks\(\): kernel '_returns_values' returned a list"
    ):
        lazy.compute(scheduler="sync")


def _tens(rows, out_row):
    r = rows[0]
    return [int(10 * (r[x] + r[x + 1] + r[x + 2])) for x in range(len(out_row))]


def _quarter(rows, out_row):
    return [rows[0][x] // 4 for x in range(len(out_row))]


@pytest.mark.parametrize(
    ("kernel", "src", "dtype", "cval"),
    [
        (_tens, np.array([1.0, 2.0, 3.0, 4.0]), "int32", 1.5),
        (_quarter, np.array([4, 8, 12], np.uint8), "int8", 200),
    ],
)
def test_map_overlap_refuses_a_cval_that_dtype_cannot_hold_for_later_steps(
    kernel: Any, src: np.ndarray, dtype: str, cval: object
) -> None:
    local = sm.stencil(
        kernel, src, out=sm.empty(src.shape, dtype=dtype), mode="constant", cval=cval, iterations=2
    )
    assert local.dtype.name == dtype  # sm.stencil hands cval to the kernel as is
    x = da.from_array(src, chunks=2)
    with pytest.raises(
        sm.InvalidArgumentError,
        match=re.escape(f"cval={cval!r} cannot be stored in dtype='{dtype}'"),
    ):
        smd.map_overlap(kernel, x, boundary="constant", cval=cval, dtype=dtype, iterations=2)
    one = smd.map_overlap(kernel, x, boundary="constant", cval=cval, dtype=dtype)  # one step pads x
    want = sm.stencil(kernel, src, out=sm.empty(src.shape, dtype=dtype), mode="constant", cval=cval)
    assert one.compute(scheduler="sync").tolist() == want.tolist()


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 9),
    chunk=st.integers(1, 4),
    iterations=st.integers(2, 3),
    pair=st.sampled_from(
        [("uint8", "int16", 200), ("float64", "float32", 1.5), ("int32", "float64", -3)]
    ),
)
def test_map_overlap_later_steps_pad_dtype_like_stencil(
    n: int, chunk: int, iterations: int, pair: tuple[str, str, object]
) -> None:
    src_dtype, dtype, cval = pair
    src = (np.arange(n) % 5).astype(src_dtype)
    got = smd.map_overlap(
        _third,
        da.from_array(src, chunks=chunk),
        boundary="constant",
        cval=cval,
        dtype=dtype,
        iterations=iterations,
    ).compute(scheduler="sync")
    out = sm.empty(n, dtype=dtype)
    want = sm.stencil(_third, src, out=out, mode="constant", cval=cval, iterations=iterations)
    assert got.dtype == np.dtype(dtype)
    assert got.tolist() == want.tolist()


def _third(rows, out_row):
    r = rows[0]
    return [(r[x] + r[x + 1] + r[x + 2]) // 3 for x in range(len(out_row))]


def _wants(name: str):  # type: ignore[no-untyped-def]
    ns: dict[str, Any] = {}
    exec(f"def k(rows, out_row, *, {name}):\n    return [{name}] * len(out_row)\n", ns)
    return ns["k"]


@pytest.mark.parametrize(
    "name", ["mode", "radius", "out", "pool", "timeout", "progress", "channel_axis"]
)
def test_map_overlap_delivers_keywords_named_like_stencils_own_to_the_kernel(name: str) -> None:
    x = da.arange(6.0, chunks=3)
    got = smd.map_overlap(_wants(name), x, **{name: 7}).compute(scheduler="sync")
    assert got.tolist() == [7.0] * 6


def _plain(rows, out_row):
    return rows[0][1:-1]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"timeout": 0}, "timeout=0"),
        ({"trim": False}, "trim=False"),
        ({"allow_rechunk": True}, "allow_rechunk=True"),
        ({"rows": 1}, "rows=1"),
    ],
)
def test_map_overlap_refuses_keywords_the_kernel_does_not_take(
    params: dict[str, object], named: str
) -> None:
    with pytest.raises(
        sm.ArgumentTypeError, match=re.escape(f"kernel '_plain' takes no keyword {named}")
    ):
        smd.map_overlap(_plain, da.arange(6.0, chunks=3), **params)


def test_map_blocks_and_reduction_refuse_keywords_the_kernel_does_not_take() -> None:
    x = da.arange(6.0, chunks=3)
    with pytest.raises(
        sm.ArgumentTypeError,
        match=r"map_blocks\(\): kernel '_double' takes no keyword drop_axis=0.*dask\.array\.map",
    ):
        smd.map_blocks(_double, x, drop_axis=0)
    with pytest.raises(sm.ArgumentTypeError, match=r"kernel '_double' takes no keyword out=1"):
        smd.map_blocks(_double, x, out=1)  # out is given by position
    with pytest.raises(sm.ArgumentTypeError, match=r"reduction\(\): .* takes no keyword axis=0"):
        smd.reduction(_count, x, axis=0)
    assert smd.reduction(_count, x).compute(scheduler="sync").item() == 6


def _count(x):
    return len(x)


def test_map_overlap_refuses_a_kernel_missing_a_keyword_it_requires() -> None:
    with pytest.raises(sm.ArgumentTypeError, match=r"kernel 'k' requires the keyword cval"):
        smd.map_overlap(_wants("cval"), da.arange(6.0, chunks=3), cval=7)


def test_map_overlap_passes_any_keyword_to_a_kernel_with_kwargs() -> None:
    def anything(rows, out_row, **kw):
        return [float(kw["trim"])] * len(out_row)

    got = smd.map_overlap(anything, da.arange(4.0, chunks=2), trim=3).compute(scheduler="sync")
    assert got.tolist() == [3.0] * 4


def test_unknown_chunk_sizes_are_a_shape_error_naming_the_fix() -> None:
    x = da.arange(10.0, chunks=3)
    u = x[x > 2]
    fix = r"unknown size .*x\.compute_chunk_sizes\(\)"
    with pytest.raises(sm.ShapeError, match=r"map_overlap\(\): x has chunks of " + fix):
        smd.map_overlap(_plain, u)
    with pytest.raises(sm.ShapeError, match=r"map_blocks\(\): an input array has chunks of " + fix):
        smd.map_blocks(_double, u)
    with pytest.raises(sm.ShapeError, match=r"reduction\(\): .*" + fix):
        smd.reduction(len, u)
    u.compute_chunk_sizes()
    assert smd.map_blocks(_double, u).compute(scheduler="sync").tolist() == [
        2 * v for v in range(3, 10)
    ]


def _sum3(rows, out_row):
    r = rows[0]
    return [r[x] + r[x + 1] + r[x + 2] for x in range(len(out_row))]


def test_map_overlap_names_dtype_for_a_value_the_output_cannot_hold() -> None:
    x = da.from_array(np.array([200, 100, 50], np.uint8), chunks=2)
    with pytest.raises(
        sm.ValueOverflowError,
        match=r"map_overlap\(\): kernel '_sum3' returned a value that the output dtype uint8 "
        r"cannot hold .*dtype= \(e\.g\. dtype='float64'\)",
    ):
        smd.map_overlap(_sum3, x, boundary="nearest").compute(scheduler="sync")
    got = smd.map_overlap(_sum3, x, boundary="nearest", dtype="float64").compute(scheduler="sync")
    want = ndi.correlate1d(np.array([200.0, 100.0, 50.0]), [1.0, 1.0, 1.0], mode="nearest")
    np.testing.assert_array_equal(got, want)


def test_masked_arrays_are_refused_naming_filled() -> None:
    masked = np.ma.masked_array([1.0, 2.0, 3.0, 4.0], mask=[0, 1, 0, 0])
    lazy_masked = da.from_array(masked, chunks=2)
    fix = r"a masked array cannot be used as an input.*np\.ma\.filled\(x, value\)"
    for x in (masked, lazy_masked):
        with pytest.raises(sm.ArgumentTypeError, match=r"map_overlap\(\): " + fix):
            smd.map_overlap(_plain, x)
        with pytest.raises(sm.ArgumentTypeError, match=r"map_blocks\(\): " + fix):
            smd.map_blocks(_double, x)
        with pytest.raises(sm.ArgumentTypeError, match=r"reduction\(\): " + fix):
            smd.reduction(len, x)
    filled = np.ma.filled(masked, 0.0)
    got = smd.map_overlap(_plain, filled, boundary="nearest").compute(scheduler="sync")
    assert got.tolist() == filled.tolist()
