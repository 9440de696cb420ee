"""sm.stencil against scipy.ndimage and NumPy: border modes, dims, dtypes, workers, iterations."""

# ruff: noqa: B912  (kernels map over padded rows of different lengths on purpose)

from __future__ import annotations

import array
import sys
import time
from itertools import islice, repeat
from operator import add, mul
from typing import Any

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shardmem as sm
from conftest import get_pool
from shardmem._primitives.kernels.stencil import edge_indices, pad, source_index
from tests.strategies import ALL_DTYPES, numpy_arrays, shapes

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
workers = st.integers(1, 4)
modes = st.sampled_from(MODES)
radii = st.integers(0, 2)

# -- kernels --------------------------------------------------------------------------------


def correlate_1d(rows: Any, out_row: Any, *, weights: list[float]) -> None:
    line = rows[0]
    for x in range(len(out_row)):
        out_row[x] = sum(w * line[x + b] for b, w in enumerate(weights))


def correlate_2d(rows: Any, out_row: Any, *, weights: list[list[float]]) -> None:
    k = len(weights)
    for x in range(len(out_row)):
        out_row[x] = sum(weights[a][b] * rows[a][x + b] for a in range(k) for b in range(k))


def correlate_3d(rows: Any, out_row: Any, *, weights: list[list[list[float]]]) -> None:
    k = len(weights)
    cells = [(a, b, c) for a in range(k) for b in range(k) for c in range(k)]
    for x in range(len(out_row)):
        out_row[x] = sum(weights[a][b][c] * rows[a][b][x + c] for a, b, c in cells)


CORRELATE = {1: correlate_1d, 2: correlate_2d, 3: correlate_3d}


def centre(rows: Any, out_row: Any, *, r: int) -> list[Any]:
    """The source line itself (the centre of the neighbourhood), returned."""
    line = rows
    while isinstance(line, tuple):
        line = line[r] if len(line) > 1 else line[0]
    return line[r : len(line) - r]  # type: ignore[no-any-return]


def life(rows: Any, out_row: Any) -> bytes:
    """Game of Life on 0/1 uint8 rows at C speed: 3x3 sums, then a 20-entry rule table."""
    up, mid, down = rows
    col = list(map(add, map(add, up, mid), down))
    nine = list(map(add, map(add, col, col[1:]), col[2:]))
    table = bytes(1 if i in (6, 7, 9) else 0 for i in range(256))  # 2*sum + alive
    return bytes(map(add, map(add, nine, nine), islice(mid, 1, None))).translate(table)


def heat(rows: Any, out_row: Any, *, alpha: float) -> Any:
    """One explicit step of the 5-point heat equation: (1-4a)*c + a*((u+d) + (l+r))."""
    up, mid, down = rows
    vertical = map(add, islice(up, 1, None), islice(down, 1, None))
    horizontal = map(add, mid, islice(mid, 2, None))
    near = map(mul, repeat(alpha), map(add, vertical, horizontal))
    return map(add, map(mul, repeat(1 - 4 * alpha), islice(mid, 1, None)), near)


# -- references -----------------------------------------------------------------------------


def life_numpy(grid: np.ndarray, steps: int) -> np.ndarray:
    g = grid.astype(np.int64)
    for _ in range(steps):
        n = sum(
            np.roll(g, (dy, dx), axis=(0, 1))
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if (dy, dx) != (0, 0)
        )
        g = ((n == 3) | ((g == 1) & (n == 2))).astype(np.int64)
    return g.astype(np.uint8)


def heat_numpy(t: np.ndarray, steps: int, alpha: float) -> np.ndarray:
    for _ in range(steps):
        p = np.pad(t, 1, mode="symmetric")  # scipy's 'reflect'
        vertical = p[:-2, 1:-1] + p[2:, 1:-1]
        horizontal = p[1:-1, :-2] + p[1:-1, 2:]
        t = (1 - 4 * alpha) * t + alpha * (vertical + horizontal)
    return t


def small_ints(dtype: sm.DType, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    top = 1 if dtype.kind == "b" else 100
    values = hnp.arrays(np.int64, shape, elements=st.integers(0, top))
    return values.map(lambda a: a.astype(dtype.name))


# -- border modes and neighbourhoods ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_source_index_matches_numpy_pad(mode: str, n: int) -> None:
    radius = 7
    line = np.arange(n)
    if mode == "constant":
        want = np.pad(line, radius, mode="constant", constant_values=-1)
    else:
        kind = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap"}
        want = np.pad(line, radius, mode=kind[mode])  # type: ignore[call-overload]
    if mode == "mirror" and n == 1:
        want = np.zeros(n + 2 * radius, dtype=int)
    left, right = edge_indices(n, radius, mode)
    assert pad(list(range(n)), left, right, -1) == want.tolist()
    assert [source_index(k, n, mode) for k in range(n)] == list(range(n))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), w=workers, mode=modes, radius=radii)
def test_correlate_matches_scipy(data: st.DataObject, w: int, mode: str, radius: int) -> None:
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=6).filter(lambda s: 0 not in s))
    dtype = data.draw(st.sampled_from(ALL_DTYPES))
    src = data.draw(small_ints(dtype, shape))
    width = 2 * radius + 1
    weights = data.draw(hnp.arrays(np.int64, (width,) * len(shape), elements=st.integers(-3, 3)))
    cval = data.draw(st.sampled_from([0, 2.5, -7]))
    out = sm.zeros(shape, dtype="float64")
    kernel = CORRELATE[len(shape)]
    result = sm.stencil(
        kernel,
        src,
        out=out,
        radius=radius,
        mode=mode,
        cval=cval,
        pool=get_pool(w),
        weights=weights.tolist(),
    )
    assert result is out
    want = ndi.correlate(src.astype(np.float64), weights.astype(np.float64), mode=mode, cval=cval)
    np.testing.assert_array_equal(np.asarray(out), want)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), w=workers, mode=modes, step=st.sampled_from([-1, 0, 1, 3]))
def test_radius_below_at_and_beyond_an_axis_length(
    data: st.DataObject, w: int, mode: str, step: int
) -> None:
    """The radius is drawn relative to one axis's length: below it, at it or beyond it."""
    ndim = data.draw(st.integers(1, 3))
    side = 4 if ndim < 3 else 2
    shape = tuple(data.draw(st.lists(st.integers(1, side), min_size=ndim, max_size=ndim)))
    axis = data.draw(st.integers(0, ndim - 1))
    radius = max(0, shape[axis] + step)
    src = data.draw(small_ints(sm.int16, shape))
    width = 2 * radius + 1
    weights = data.draw(hnp.arrays(np.int64, (width,) * ndim, elements=st.integers(-3, 3)))
    cval = data.draw(st.sampled_from([0, 2.5, -7]))
    out = sm.stencil(
        CORRELATE[ndim],
        src,
        out=sm.zeros(shape, dtype="float64"),
        radius=radius,
        mode=mode,
        cval=cval,
        pool=get_pool(w),
        weights=weights.tolist(),
    )
    src64 = src.astype(np.float64)
    want = ndi.correlate(src64, weights.astype(np.float64), mode=mode, cval=cval)
    np.testing.assert_array_equal(np.asarray(out), want)
    if mode == "constant":
        padded = np.pad(src64, radius, mode="constant", constant_values=cval)
    else:
        kind = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap"}
        padded = np.pad(src64, radius, mode=kind[mode])  # type: ignore[call-overload]
    by_numpy = np.zeros(shape)
    for offset in np.ndindex(*weights.shape):
        by_numpy += (
            weights[offset]
            * padded[tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))]
        )
    np.testing.assert_array_equal(np.asarray(out), by_numpy)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), w=workers, mode=modes, radius=radii)
def test_every_dtype_round_trips(data: st.DataObject, w: int, mode: str, radius: int) -> None:
    dtype = data.draw(st.sampled_from(ALL_DTYPES))
    ref = data.draw(numpy_arrays(dtype, data.draw(shapes(min_dims=1, max_dims=3))))
    got = sm.stencil(centre, ref, radius=radius, mode=mode, pool=get_pool(w), r=radius)
    assert got.dtype == dtype
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.asarray(got), ref)


@settings(max_examples=15, deadline=None)
@given(w=workers, mode=modes, data=st.data())
def test_in_place_equals_out_of_place(w: int, mode: str, data: st.DataObject) -> None:
    src = data.draw(small_ints(sm.float64, data.draw(shapes(min_dims=2, max_dims=2, max_side=7))))
    weights = [[1.0, 2.0, 0.0], [-1.0, 3.0, 1.0], [0.5, 0.0, 2.0]]
    want = np.asarray(sm.stencil(correlate_2d, src, mode=mode, pool=get_pool(w), weights=weights))
    a = sm.asarray(src)
    assert sm.stencil(correlate_2d, a, out=a, mode=mode, pool=get_pool(w), weights=weights) is a
    np.testing.assert_array_equal(np.asarray(a), want)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4), (0, 0, 0)])
def test_empty_arrays_call_no_kernel(shape: tuple[int, ...]) -> None:
    def boom(rows: Any, out_row: Any) -> None:
        raise AssertionError("called")

    got = sm.stencil(boom, sm.zeros(shape, dtype="uint8"), pool=get_pool(2), iterations=3)
    assert got.shape == shape
    assert got.dtype == sm.uint8


@pytest.mark.parametrize("w", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1), (2, 5), (3,), (3, 2, 2)])
def test_more_workers_than_rows(w: int, shape: tuple[int, ...]) -> None:
    src = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    weights = np.ones((3,) * len(shape))
    got = sm.stencil(CORRELATE[len(shape)], src, pool=get_pool(w), weights=weights.tolist())
    np.testing.assert_array_equal(np.asarray(got), ndi.correlate(src, weights, mode="reflect"))


# -- many steps in one call ----------------------------------------------------------------------


@pytest.mark.parametrize("w", [1, 2, 3, 4])
def test_game_of_life_100_steps_matches_numpy_exactly(w: int) -> None:
    rng = np.random.default_rng(w)
    grid = (rng.random((23, 31)) < 0.35).astype(np.uint8)
    got = sm.stencil(life, grid, mode="wrap", iterations=100, pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(got), life_numpy(grid, 100))


@pytest.mark.parametrize("w", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_heat_diffusion_100_steps_matches_numpy(w: int, dtype: str) -> None:
    rng = np.random.default_rng(7)
    t = (rng.random((19, 26)) * 100).astype(dtype)
    got = sm.stencil(heat, t, mode="reflect", iterations=100, pool=get_pool(w), alpha=0.2)
    assert got.dtype.name == dtype
    if dtype == "float64":
        want = heat_numpy(t, 100, 0.2)
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12)
    else:  # float32 storage rounds each step: compare with a float32 NumPy loop
        want32 = t.copy()
        for _ in range(100):
            want32 = heat_numpy(want32.astype(np.float64), 1, 0.2).astype(np.float32)
        np.testing.assert_allclose(np.asarray(got), want32, rtol=0, atol=1e-4)


@pytest.mark.parametrize("iterations", [1, 2, 3, 6])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_iterations_equal_repeated_calls(iterations: int, ndim: int) -> None:
    shape = {1: (17,), 2: (9, 8), 3: (5, 4, 6)}[ndim]
    src = np.random.default_rng(ndim).integers(0, 9, shape).astype(np.float64)
    weights = np.full((3,) * ndim, 1.0 / 3**ndim)
    kernel = CORRELATE[ndim]
    pool = get_pool(3)
    want = src
    for _ in range(iterations):
        want = ndi.correlate(want, weights, mode="mirror")
    got = sm.stencil(
        kernel, src, mode="mirror", iterations=iterations, pool=pool, weights=weights.tolist()
    )
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


def test_iterations_in_place_keep_src_until_done() -> None:
    grid = (np.random.default_rng(3).random((16, 16)) < 0.4).astype(np.uint8)
    a = sm.asarray(grid)
    sm.stencil(life, a, out=a, mode="wrap", iterations=7, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(a), life_numpy(grid, 7))


def test_src_is_not_modified() -> None:
    grid = (np.random.default_rng(4).random((10, 12)) < 0.4).astype(np.uint8)
    a = sm.asarray(grid)
    sm.stencil(life, a, mode="wrap", iterations=4, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(a), grid)


# -- the kernel contract -------------------------------------------------------------------------


def test_docstring_life_kernel_per_element_matches_fast_kernel() -> None:
    def slow_life(rows: Any, out_row: Any) -> None:
        up, mid, down = rows
        for x in range(len(out_row)):
            n = sum(up[x : x + 3]) + mid[x] + mid[x + 2] + sum(down[x : x + 3])
            out_row[x] = 1 if n == 3 or (n == 2 and mid[x + 1]) else 0

    grid = (np.random.default_rng(5).random((12, 9)) < 0.4).astype(np.uint8)
    slow = sm.stencil(slow_life, grid, mode="wrap", iterations=5, pool=get_pool(2))
    fast = sm.stencil(life, grid, mode="wrap", iterations=5, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(slow), np.asarray(fast))


def test_rows_are_lists_padded_by_radius() -> None:
    def probe(rows: Any, out_row: Any) -> None:
        assert isinstance(rows, tuple)
        assert len(rows) == 5
        assert all(type(r) is list and len(r) == len(out_row) + 4 for r in rows)
        assert out_row.format == "h"
        out_row[:] = array.array("h", rows[2][2:-2])

    src = np.arange(-20, 20, dtype=np.int16).reshape(5, 8)
    got = sm.stencil(probe, src, radius=2, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(got), src)


def test_three_d_rows_are_nested_tuples() -> None:
    def probe(rows: Any, out_row: Any) -> list[int]:
        assert len(rows) == 3
        assert all(len(r) == 3 for r in rows)
        return [rows[0][1][x + 1] for x in range(len(out_row))]  # the plane above

    src = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    got = sm.stencil(probe, src, mode="wrap", pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(got), np.roll(src, 1, axis=0))


def test_out_may_have_another_dtype() -> None:
    def blur(rows: Any, out_row: Any) -> list[int]:
        col = list(map(add, map(add, rows[0], rows[1]), rows[2]))
        return [round(s / 9) for s in map(add, map(add, col, col[1:]), col[2:])]

    src = np.random.default_rng(1).random((6, 7)) * 255
    out = sm.zeros((6, 7), dtype="uint8")
    sm.stencil(blur, src, out=out, mode="nearest", pool=get_pool(2))
    want = np.round(ndi.uniform_filter(src, 3, mode="nearest"))
    np.testing.assert_allclose(np.asarray(out), want, atol=1)


def test_uniform_filter_constant_mode_with_cval() -> None:
    def box(rows: Any, out_row: Any) -> Any:
        col = list(map(add, map(add, rows[0], rows[1]), rows[2]))
        return (s / 9 for s in map(add, map(add, col, col[1:]), col[2:]))

    src = np.random.default_rng(2).random((9, 5))
    got = sm.stencil(box, src, mode="constant", cval=0.75, pool=get_pool(3))
    want = ndi.uniform_filter(src, 3, mode="constant", cval=0.75)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


def test_wrong_row_length_is_reported() -> None:
    def short(rows: Any, out_row: Any) -> list[int]:
        return [0]

    with pytest.raises(ValueError, match="returned 1 values for an output row of 4"):
        sm.stencil(short, np.zeros((3, 4)), pool=get_pool(2))


def test_value_out_of_range_for_uint8_raises_overflow() -> None:
    def too_big(rows: Any, out_row: Any) -> list[int]:
        return [300] * len(out_row)

    with pytest.raises(OverflowError):
        sm.stencil(too_big, np.zeros((3, 4), dtype=np.uint8), pool=get_pool(2))


def test_kernel_error_is_reraised_with_its_type() -> None:
    def fails(rows: Any, out_row: Any) -> None:
        raise KeyError("nope")

    with pytest.raises(KeyError) as info:
        sm.stencil(fails, np.zeros((4, 4)), iterations=3, pool=get_pool(2))
    assert isinstance(info.value.__cause__, sm.KernelError)
    assert "rows" in str(info.value.__cause__)


def test_kernel_reading_rows_beyond_its_radius_raises_its_own_index_error() -> None:
    """radius=0 and 1-D sources are valid; a kernel that assumes more rows fails by itself."""

    def below(rows: Any, out_row: Any) -> None:
        out_row[0] = rows[1][0]

    for src, radius in ((np.zeros((3, 4)), 0), (b"ab", 1), (np.arange(12.0), 1)):
        with pytest.raises(IndexError, match="tuple index out of range") as info:
            sm.stencil(below, src, radius=radius, pool=get_pool(2))
        assert isinstance(info.value.__cause__, sm.KernelError)
        assert info.value.__cause__.kernel.endswith("below")


def test_numpy_scalar_cval_reaches_the_kernel_as_a_float() -> None:
    def above(rows: Any, out_row: Any) -> list[Any]:
        return rows[0][1:-1]  # the row above the only row: cval

    src = np.zeros((1, 3))
    got = sm.stencil(above, src, mode="constant", cval=np.float32(2.5), pool=get_pool(2))
    assert got.tolist() == [[2.5, 2.5, 2.5]]


def test_timeout_stops_the_call() -> None:
    def slow(rows: Any, out_row: Any) -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass

    start = time.monotonic()
    with pytest.raises(sm.TaskTimeoutError):
        sm.stencil(slow, np.zeros((4, 4)), pool=get_pool(2), timeout=0.2)
    assert time.monotonic() - start < 5


def test_default_pool() -> None:
    got = sm.stencil(centre, [[1, 2], [3, 4]], r=1)
    assert got.tolist() == [[1, 2], [3, 4]]


def test_non_contiguous_source_is_copied() -> None:
    base = sm.asarray(np.arange(48, dtype=np.float64).reshape(6, 8))
    view = base[::2, 1::3]
    got = sm.stencil(centre, view, pool=get_pool(2), r=1)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(view))


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"radius": -1}, sm.InvalidArgumentError, "radius=-1"),
        ({"radius": 1.5}, sm.InvalidArgumentError, "radius=1.5"),
        ({"radius": 2**70}, sm.InvalidArgumentError, r"larger than stencil\(\) supports \(4096\)"),
        ({"mode": "edge"}, sm.InvalidArgumentError, "mode='edge' is not a border mode"),
        ({"iterations": 0}, sm.InvalidArgumentError, "iterations=0"),
        ({"cval": "x"}, sm.ArgumentTypeError, "cval='x'"),
        ({"cval": None}, sm.ArgumentTypeError,
         r"stencil\(\): cval=None must be a real number \(int or float\), not NoneType"),
        ({"cval": np.zeros(3)}, sm.ArgumentTypeError, r"cval=array\(.*\) must be a real number"),
        ({"mode": np.zeros(3)}, sm.InvalidArgumentError, r"mode=array\(.*\) is not a border mode"),
        ({"mode": np.zeros((2, 0))}, sm.InvalidArgumentError, "is not a border mode"),
        ({"mode": None}, sm.InvalidArgumentError, "mode=None is not a border mode"),
        ({"out": np.zeros((2, 2))}, sm.ArgumentTypeError, "out= must be a SharedArray"),
        ({"out": "shape"}, sm.ArgumentTypeError, "out= must be a SharedArray"),
        ({"timeout": -1}, sm.InvalidArgumentError, "timeout=-1"),
    ],
)  # fmt: skip
def test_bad_options(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        sm.stencil(centre, np.zeros((2, 2)), pool=get_pool(2), r=1, **kwargs)


def test_bad_out_shape_and_layout() -> None:
    with pytest.raises(sm.ShapeError, match=r"out has shape \(2, 3\) but src has shape \(2, 2\)"):
        sm.stencil(centre, np.zeros((2, 2)), out=sm.zeros((2, 3)), pool=get_pool(2), r=1)
    with pytest.raises(sm.InvalidArgumentError, match="not C-contiguous"):
        sm.stencil(centre, np.zeros((2, 2)), out=sm.zeros((2, 4))[:, ::2], pool=get_pool(2), r=1)


@pytest.mark.parametrize("shape", [(), (2, 2, 2, 2)])
def test_bad_ndim(shape: tuple[int, ...]) -> None:
    with pytest.raises(sm.ShapeError, match="needs a 1-D, 2-D or 3-D array"):
        sm.stencil(centre, np.zeros(shape), pool=get_pool(2), r=1)


def test_kernel_must_be_a_function() -> None:
    with pytest.raises(sm.ArgumentTypeError, match="not a Python function"):
        sm.stencil(print, np.zeros((2, 2)), pool=get_pool(2))
    with pytest.raises(sm.ShippingError, match="param"):
        sm.stencil(centre, np.zeros((2, 2)), pool=get_pool(2), r=object())


def test_progress_bar() -> None:
    got = sm.stencil(centre, np.ones((6, 5)), pool=get_pool(2), progress=True, iterations=2, r=1)
    assert got.tolist() == np.ones((6, 5)).tolist()


def test_progress_of_a_multi_step_stencil_counts_steps(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the text bar, which capsys can read
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    got = sm.stencil(centre, np.ones((40, 8)), pool=get_pool(2), progress=True, iterations=7, r=1)
    assert got.tolist() == np.ones((40, 8)).tolist()
    shown = capsys.readouterr().err.replace("\r", "\n").split()
    assert "7/7" in shown
    assert "steps" in shown
    assert "tasks" not in shown


FACTOR = 2


def scaled(rows: Any, out_row: Any) -> list[int]:
    return [FACTOR * v for v in rows[1][1:-1]]


def test_rebound_global_of_a_kernel_is_seen() -> None:
    global FACTOR
    src = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert sm.stencil(scaled, src, pool=get_pool(2)).tolist() == (2 * src).tolist()
    FACTOR = 5
    try:
        assert sm.stencil(scaled, src, pool=get_pool(2)).tolist() == (5 * src).tolist()
    finally:
        FACTOR = 2


def _gen_kernel(rows: Any, out_row: Any) -> Any:
    yield


async def _async_kernel(rows: Any, out_row: Any) -> None:
    out_row[0] = 1


@pytest.mark.parametrize(
    ("kernel", "kind"),
    [(_gen_kernel, "a generator function"), (_async_kernel, "an async function")],
)
@pytest.mark.parametrize("shape", [(6, 5), (0, 5)])
def test_generator_and_async_kernels_are_refused_before_any_work(
    kernel: Any, kind: str, shape: tuple[int, int]
) -> None:
    out = sm.full(shape, 7.0)
    with pytest.raises(sm.KernelContractError, match=rf"kernel '.*' is {kind}"):
        sm.stencil(kernel, sm.zeros(shape), out=out, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(out), np.full(shape, 7.0))


def _sum3(rows, out_row):
    r = rows[0]
    return [r[x] + r[x + 1] + r[x + 2] for x in range(len(out_row))]


def _half(rows, out_row):
    return [v / 2 for v in rows[0][1:-1]]


@given(workers=st.integers(1, 3), n=st.integers(1, 9))
@settings(max_examples=15, deadline=None)
def test_a_returned_value_the_output_dtype_cannot_hold_is_named(workers: int, n: int) -> None:
    src = np.full(n, 200, np.uint8)
    with pytest.raises(
        sm.ValueOverflowError,
        match=r"stencil\(\): kernel '_sum3' returned a value that the output dtype uint8 "
        r"cannot hold .*out=sm\.empty\(src\.shape, dtype='float64'\)",
    ) as caught:
        sm.stencil(_sum3, src, mode="nearest", pool=get_pool(workers))
    assert isinstance(caught.value.__cause__, OverflowError)
    wide = sm.stencil(_sum3, src, out=sm.empty(n, dtype="float64"), mode="nearest")
    want = ndi.correlate1d(src.astype(np.float64), [1.0, 1.0, 1.0], mode="nearest")
    np.testing.assert_array_equal(np.asarray(wide), want)


def test_a_returned_float_for_an_int_output_is_a_kernel_contract_error() -> None:
    with pytest.raises(
        sm.KernelContractError, match=r"kernel '_half' returned .* output dtype int64 cannot hold"
    ) as caught:
        sm.stencil(_half, np.arange(4), pool=get_pool(2))
    assert isinstance(caught.value.__cause__, TypeError)


def test_a_kernel_raising_overflow_itself_keeps_its_error() -> None:
    def boom(rows, out_row):
        raise OverflowError("the kernel's own")

    with pytest.raises(OverflowError, match="the kernel's own") as caught:
        sm.stencil(boom, np.arange(4), pool=get_pool(2))
    assert not isinstance(caught.value, sm.ShardmemError)
