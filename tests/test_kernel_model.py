"""The map kernel model: arrays sharing their first axis, whole arrays, several outputs,
N-d views, seeded random streams, and the refusals that keep results from being silently wrong.

Every parallel result is compared with NumPy or a sequential run of the same kernel.
"""

from __future__ import annotations

import math
import operator
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pools import get_pool

import shardmem as sm

np = pytest.importorskip("numpy")

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- kernels (module level: they ship by value like any kernel) -----------------------------------


def row_stats_flat(x, w, total, scaled, *, start, shape):  # type: ignore[no-untyped-def]
    """(N, d) and (N,) in; (N,) and (N, d) out; flat views."""
    d = len(x) // len(w) if len(w) else 0
    for i in range(len(w)):
        acc = 0.0
        for j in range(d):
            v = x[i * d + j]
            acc += v
            scaled[i * d + j] = v * w[i]
        total[i] = acc + w[i]


def row_stats_nd(x, w, total, scaled):  # type: ignore[no-untyped-def]
    """The same with N-d views: x[i, j]."""
    rows, d = x.shape
    for i in range(rows):
        acc = 0.0
        for j in range(d):
            v = x[i, j]
            acc += v
            scaled[i, j] = v * w[i]
        total[i] = acc + w[i]


def nearest(points, centres, labels):  # type: ignore[no-untyped-def]
    """k-means' assignment step: (N, 2) points, whole (k, 2) centres, (N,) labels."""
    k = len(centres) // 2
    for i in range(len(labels)):
        px, py = points[2 * i], points[2 * i + 1]
        best, best_d = 0, math.inf
        for c in range(k):
            dx, dy = px - centres[2 * c], py - centres[2 * c + 1]
            dist = dx * dx + dy * dy
            if dist < best_d:
                best, best_d = c, dist
        labels[i] = best


def rgb_to_gray(img, out):  # type: ignore[no-untyped-def]
    """H x W x 3 in, H x W out, N-d views."""
    h, w, _ = img.shape
    for i in range(h):
        for j in range(w):
            out[i, j] = 0.25 * img[i, j, 0] + 0.5 * img[i, j, 1] + 0.25 * img[i, j, 2]


def draw(out, *, rng):  # type: ignore[no-untyped-def]
    for i in range(len(out)):
        out[i] = rng.random()


def hits(out, *, rng, per_row):  # type: ignore[no-untyped-def]
    """Monte Carlo: points in the unit quarter circle, per row."""
    for i in range(len(out)):
        n = 0
        for _ in range(per_row):
            x, y = rng.random(), rng.random()
            n += x * x + y * y <= 1.0
        out[i] = n


def fill_index(out, *, start):  # type: ignore[no-untyped-def]
    for i in range(len(out)):
        out[i] = start + i


def returns_sum(x, out):  # type: ignore[no-untyped-def]
    return sum(x)


def copy1(x, out):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        out[i] = x[i]


# -- arrays that share their first axis ------------------------------------------------------------


@SETTINGS
@given(
    rows=st.integers(0, 60),
    d=st.integers(1, 5),
    x_dtype=st.sampled_from(["float64", "float32", "int32"]),
    workers=st.integers(1, 4),
    chunks=st.one_of(st.none(), st.integers(1, 9)),
    nd=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_mixed_trailing_shapes_dtypes_and_two_outputs_match_numpy(  # noqa: PLR0917
    rows: int, d: int, x_dtype: str, workers: int, chunks: int | None, nd: bool, seed: int
) -> None:
    gen = np.random.default_rng(seed)
    x = (gen.standard_normal((rows, d)) * 10).astype(x_dtype)
    w = gen.integers(-5, 5, rows).astype("int16")
    total, scaled = sm.empty(rows), sm.empty((rows, d))
    got = sm.map(
        row_stats_nd if nd else row_stats_flat,
        x,
        w,
        out=(total, scaled),
        chunks=chunks,
        nd=nd,
        pool=get_pool(workers),
        timeout=60,
    )
    assert got == (total, scaled)
    xf = x.astype("float64")
    np.testing.assert_allclose(np.asarray(total), xf.sum(axis=1) + w, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(np.asarray(scaled), xf * w[:, None], rtol=1e-12)


@SETTINGS
@given(
    n=st.integers(1, 200),
    k=st.integers(1, 6),
    workers=st.integers(1, 4),
    chunks=st.one_of(st.none(), st.integers(1, 12)),
    seed=st.integers(0, 2**32 - 1),
)
def test_whole_array_reaches_every_shard_kmeans_assignment(
    n: int, k: int, workers: int, chunks: int | None, seed: int
) -> None:
    gen = np.random.default_rng(seed)
    points, centres = gen.random((n, 2)), gen.random((k, 2))
    labels = sm.map(
        nearest,
        points,
        sm.whole(centres),
        out=sm.empty(n, dtype="int64"),
        chunks=chunks,
        pool=get_pool(workers),
    )
    dist = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(np.asarray(labels), dist.argmin(axis=1))


def test_whole_shares_memory_no_copy() -> None:
    centres = sm.asarray([[0.0, 0.0], [1.0, 1.0]])
    wrapped = sm.whole(centres)
    assert wrapped.array is centres
    assert sm.whole(wrapped) is wrapped


@SETTINGS
@given(h=st.integers(1, 20), w=st.integers(1, 20), workers=st.integers(1, 4))
def test_rgb_image_with_nd_views(h: int, w: int, workers: int) -> None:
    img = np.random.default_rng(h * 100 + w).random((h, w, 3))
    gray = sm.map(rgb_to_gray, img, out=sm.empty((h, w)), nd=True, pool=get_pool(workers))
    expected = 0.25 * img[..., 0] + 0.5 * img[..., 1] + 0.25 * img[..., 2]
    np.testing.assert_allclose(np.asarray(gray), expected, rtol=1e-12)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_map_with_only_out_is_a_parallel_fill(workers: int) -> None:
    out = sm.map(fill_index, out=sm.empty((7, 3), dtype="int64"), pool=get_pool(workers))
    np.testing.assert_array_equal(np.asarray(out), np.arange(21).reshape(7, 3))


# -- random streams --------------------------------------------------------------------------------


@SETTINGS
@given(
    n=st.integers(1, 300),
    chunks=st.one_of(st.none(), st.integers(1, 20)),
    seed=st.integers(0, 2**64),
)
def test_rng_results_are_identical_for_any_worker_count(
    n: int, chunks: int | None, seed: int
) -> None:
    runs = [
        np.asarray(sm.map(draw, out=sm.empty(n), seed=seed, chunks=chunks, pool=get_pool(w)))
        for w in (1, 2, 3, 4)
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)
    assert ((runs[0] >= 0) & (runs[0] < 1)).all()


def test_rng_streams_follow_the_documented_derivation() -> None:
    """Chunk c of a call with seed s draws from random.Random(sha256('shardmem.rng:s:c'))."""
    import hashlib

    got = np.asarray(sm.map(draw, out=sm.empty(12), seed=5, chunks=3, pool=get_pool(2)))
    for c in range(3):
        key = int.from_bytes(hashlib.sha256(f"shardmem.rng:5:{c}".encode()).digest(), "big")
        stream = random.Random(key)
        assert got[4 * c : 4 * c + 4].tolist() == [stream.random() for _ in range(4)]


def test_rng_streams_differ_between_chunks_and_seeds() -> None:
    a = np.asarray(sm.map(draw, out=sm.empty(400), seed=1, chunks=4, pool=get_pool(2)))
    b = np.asarray(sm.map(draw, out=sm.empty(400), seed=2, chunks=4, pool=get_pool(2)))
    parts = a.reshape(4, 100)
    assert len({tuple(p) for p in parts}) == 4  # no two chunks share a stream
    assert not np.array_equal(a, b)
    fresh = [np.asarray(sm.map(draw, out=sm.empty(50), pool=get_pool(2))) for _ in range(2)]
    assert not np.array_equal(*fresh)  # no seed: fresh streams each call


def test_seeded_monte_carlo_estimate_is_reproducible_and_close() -> None:
    estimates = []
    for workers in (1, 2):
        counts = sm.map(
            hits, out=sm.empty(64, dtype="int64"), per_row=2000, seed=2026, pool=get_pool(workers)
        )
        estimates.append(4 * np.asarray(counts).sum() / (64 * 2000))
    assert estimates[0] == estimates[1]
    assert abs(estimates[0] - math.pi) < 0.05


# -- refusals --------------------------------------------------------------------------------------


def test_a_map_kernel_that_returns_a_value_is_refused() -> None:
    with pytest.raises(
        sm.KernelContractError, match=r"returned a float .* write into their output"
    ):
        sm.map(returns_sum, sm.arange(10.0), chunks=2, pool=get_pool(2))


def test_first_axis_mismatch_names_every_array() -> None:
    with pytest.raises(
        sm.ShapeError,
        match=r"input 0 has shape \(4, 2\), input 1 has shape \(3,\), out has shape \(4,\)",
    ):
        sm.map(copy1, np.zeros((4, 2)), np.zeros(3), out=sm.empty(4), pool=get_pool(2))
    with pytest.raises(sm.ShapeError, match=r"out 1 has shape \(5,\)"):
        sm.map(copy1, np.zeros(4), out=(sm.empty(4), sm.empty(5)), pool=get_pool(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": 3}, sm.InvalidArgumentError, "seed= is for kernels that take rng"),
        ({"nd": 1}, sm.ArgumentTypeError, r"nd=1 must be True or False"),
        ({"out": ()}, sm.ArgumentTypeError, r"out=\(\) names no output"),
        (
            {"out": (sm.empty(3),), "dtype": "float32"},
            sm.ArgumentTypeError,
            "dtype= allocates one output",
        ),
        ({"out": (np.zeros(3),)}, sm.ArgumentTypeError, "out= must be a SharedArray"),
    ],
)
def test_bad_map_arguments_are_refused_before_any_work(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        sm.map(copy1, np.zeros(3), pool=get_pool(2), **kwargs)


def test_rng_seed_must_be_an_int() -> None:
    with pytest.raises(sm.InvalidArgumentError, match=r"seed=1.5 must be an int"):
        sm.map(draw, out=sm.empty(3), seed=1.5, pool=get_pool(2))  # type: ignore[arg-type]


def test_whole_refuses_scalars() -> None:
    with pytest.raises(sm.ArgumentTypeError, match="whole\\(\\): 3 is a scalar"):
        sm.whole(3)


def test_only_whole_arrays_and_no_out_is_refused() -> None:
    with pytest.raises(sm.ArgumentTypeError, match=r"sm\.whole arrays do not count"):
        sm.map(copy1, sm.whole([1, 2]), pool=get_pool(2))


# -- reductions: no silent concatenation, records across chunk borders ---------------------------


def positions(x, *, start):  # type: ignore[no-untyped-def]
    return [start + i for i in range(len(x))]


def words_in(text, *, own, start):  # type: ignore[no-untyped-def]
    """Counter of the words that start in this chunk's own part (look-behind through start).

    A word starts at i when text[i] is a letter and text[i - 1] is not; at a
    chunk's first element the previous one belongs to the chunk before, so
    the chunk instead skips to the first separator unless it is the first
    chunk, and reads past its end to finish a word that starts in its part
    (the rule line readers of split files use).
    """
    from collections import Counter

    counts = Counter()
    i = 0
    if start:
        while i < len(text) and text[i] != 32:
            i += 1
    while i <= own and i < len(text):  # a word starting exactly at `own` is ours too
        if text[i] == 32:
            i += 1
            continue
        j = i
        while j < len(text) and text[j] != 32:
            j += 1
        counts[bytes(text[i:j]).decode()] += 1
        i = j
    return counts


def test_default_combine_refuses_non_numbers() -> None:
    with pytest.raises(sm.KernelContractError, match=r"returned a list partial .* pass combine="):
        sm.reduce(positions, sm.arange(10), chunks=3, pool=get_pool(2))
    got = sm.reduce(positions, sm.arange(10), combine=operator.add, chunks=3, pool=get_pool(2))
    assert got == list(range(10))


@SETTINGS
@given(
    words=st.lists(st.sampled_from(["a", "to", "be", "or", "not", "lorem", "ipsum"]), max_size=80),
    gaps=st.integers(1, 3),
    chunks=st.integers(1, 30),
    workers=st.integers(1, 4),
)
def test_overlap_word_count_equals_sequential(
    words: list[str], gaps: int, chunks: int, workers: int
) -> None:
    from collections import Counter

    text = (" " * gaps).join(words).encode()
    if not text:
        text = b" "
    got = sm.reduce(
        words_in,
        np.frombuffer(text, dtype=np.uint8),
        combine=operator.add,
        chunks=chunks,
        overlap=8,  # longer than any word, plus its separator
        pool=get_pool(workers),
    )
    assert got == Counter(words)


def test_overlap_needs_own() -> None:
    with pytest.raises(sm.InvalidArgumentError, match="must take own="):
        sm.reduce(positions, sm.arange(4), combine=operator.add, overlap=1, pool=get_pool(2))
    with pytest.raises(sm.InvalidArgumentError, match=r"overlap=-1 must be an int >= 0"):
        sm.reduce(words_in, sm.arange(4), combine=operator.add, overlap=-1, pool=get_pool(2))


def test_overlap_is_clipped_at_the_end_and_own_counts_own_elements() -> None:
    def seen(x, *, own, start):  # type: ignore[no-untyped-def]
        return [(start, own, len(x))]

    got = sm.reduce(seen, sm.arange(10), combine=operator.add, chunks=3, overlap=2)
    assert got == [(0, 4, 6), (4, 3, 5), (7, 3, 3)]


# -- values that ship as what they are to the user -----------------------------------------------

GAIN = np.float64(2.5)
WORD = __import__("re").compile(r"[a-z]+", __import__("re").IGNORECASE)


def scaled(x, out, *, offset):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        out[i] = x[i] * GAIN + offset


def count_words(text):  # type: ignore[no-untyped-def]
    return len(WORD.findall(bytes(text).decode()))


def test_numpy_scalars_ship_as_python_numbers() -> None:
    got = sm.map(scaled, sm.arange(4.0), offset=np.int64(1), pool=get_pool(2))
    assert got.tolist() == [1.0, 3.5, 6.0, 8.5]

    def times(k):  # type: ignore[no-untyped-def]
        def kernel(x, out):  # type: ignore[no-untyped-def]
            for i in range(len(x)):
                out[i] = x[i] * k

        return kernel

    got = sm.map(times(np.float32(0.5)), sm.arange(3.0), pool=get_pool(2))  # a closure value
    assert got.tolist() == [0.0, 0.5, 1.0]
    future = get_pool(2).submit(lambda v, w: v + w[0], np.float32(1.5), [np.int64(2)])
    assert future.result(timeout=30) == 3.5


def test_compiled_regex_global_ships_as_pattern_and_flags() -> None:
    text = np.frombuffer(b"One two THREE four", dtype=np.uint8)
    assert sm.reduce(count_words, text, chunks=1, pool=get_pool(2)) == 4


# -- reductions along one axis ------------------------------------------------------------


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 5), min_size=2, max_size=4).map(tuple),
    dtype=st.sampled_from(["float64", "float32", "int32", "uint8", "bool"]),
    data=st.data(),
    workers=st.integers(1, 4),
)
def test_sum_min_max_mean_along_an_axis_match_numpy(
    shape: tuple[int, ...], dtype: str, data: st.DataObject, workers: int
) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    values = np.random.default_rng(sum(shape)).standard_normal(shape) * 50
    x = values.astype(dtype)
    pool = get_pool(workers)
    got = sm.sum(x, axis=axis, pool=pool)
    want = x.sum(axis=axis)
    assert got.shape == want.shape
    assert np.dtype(got.dtype.name) == (want.dtype if dtype != "float32" else np.float32)
    if dtype == "float32":  # summed in double, rounded once: NumPy's float32 sum is the rougher
        want = x.sum(axis=axis, dtype=np.float64).astype(np.float32)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6 if dtype == "float32" else 1e-12)
    if x.shape[axis % len(shape)] == 0:
        if 0 not in want.shape:
            with pytest.raises(sm.InvalidArgumentError, match="zero-size"):
                sm.min(x, axis=axis, pool=pool)
        return
    np.testing.assert_array_equal(np.asarray(sm.min(x, axis=axis, pool=pool)), x.min(axis=axis))
    np.testing.assert_array_equal(np.asarray(sm.max(x, axis=axis, pool=pool)), x.max(axis=axis))
    np.testing.assert_allclose(
        np.asarray(sm.mean(x, axis=axis, pool=pool)), x.mean(axis=axis, dtype="float64")
    )


def test_min_max_along_an_axis_propagate_nan() -> None:
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(np.asarray(sm.max(x, axis=1)), np.array([np.nan, 6.0]))
    np.testing.assert_array_equal(np.asarray(sm.min(x, axis=0)), np.array([1.0, np.nan, 3.0]))


@pytest.mark.parametrize(
    ("axis", "error", "match"),
    [
        (2, sm.InvalidArgumentError, r"axis 2 is out of bounds .* \[-2, 1\]"),
        (-3, sm.InvalidArgumentError, "out of bounds"),
        ((0, 1), sm.ArgumentTypeError, "one axis at a time"),
        (True, sm.ArgumentTypeError, "must be an int or None"),
    ],
)
def test_bad_axis_is_refused(axis: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        sm.sum(np.zeros((2, 3)), axis=axis)  # type: ignore[arg-type]


# -- stencil on colour images, channel by channel --------------------------------------------------


def box3(rows, out_row):  # type: ignore[no-untyped-def]
    up, mid, down = rows
    for x in range(len(out_row)):
        out_row[x] = (sum(up[x : x + 3]) + sum(mid[x : x + 3]) + sum(down[x : x + 3])) / 9


def box3_returning(rows, out_row):  # type: ignore[no-untyped-def]
    up, mid, down = rows
    return [
        (sum(up[x : x + 3]) + sum(mid[x : x + 3]) + sum(down[x : x + 3])) / 9
        for x in range(len(out_row))
    ]


@SETTINGS
@given(
    h=st.integers(1, 16),
    w=st.integers(1, 16),
    c=st.integers(1, 4),
    iterations=st.integers(1, 3),
    mode=st.sampled_from(["reflect", "mirror", "nearest", "wrap"]),
    workers=st.integers(1, 4),
    returning=st.booleans(),
)
def test_stencil_per_channel_matches_scipy(  # noqa: PLR0917
    h: int, w: int, c: int, iterations: int, mode: str, workers: int, returning: bool
) -> None:
    ndi = pytest.importorskip("scipy.ndimage")
    img = np.random.default_rng(h * w * c).random((h, w, c))
    got = sm.stencil(
        box3_returning if returning else box3,
        img,
        channel_axis=-1,
        mode=mode,
        iterations=iterations,
        pool=get_pool(workers),
    )
    want = img
    for _ in range(iterations):
        want = ndi.uniform_filter(want, (3, 3, 1), mode=mode)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "axis", "error", "match"),
    [
        ((4, 5), -1, sm.ShapeError, "channel_axis= is for H x W x C images"),
        ((4, 5, 3), 0, sm.InvalidArgumentError, r"channels must be the last axis.*moveaxis"),
        ((4, 5, 3), "last", sm.ArgumentTypeError, "must be an int"),
    ],
)
def test_stencil_channel_axis_refusals(
    shape: tuple[int, ...], axis: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        sm.stencil(box3, np.zeros(shape), channel_axis=axis, pool=get_pool(2))  # type: ignore[arg-type]


def test_a_2d_kernel_on_an_rgb_volume_points_at_channel_axis() -> None:
    with pytest.raises(TypeError) as info:
        sm.stencil(box3, np.zeros((6, 5, 3)), pool=get_pool(2))
    assert "pass channel_axis=-1" in " ".join(info.value.__notes__)


def own_seed(x, out, *, seed):  # type: ignore[no-untyped-def]
    for i in range(len(out)):
        out[i] = seed


def test_a_kernel_with_its_own_seed_parameter_still_receives_it() -> None:
    got = sm.map(own_seed, sm.arange(3), seed=42, pool=get_pool(2))
    assert got.tolist() == [42, 42, 42]


# -- partials folded inside the workers --------------------------------------------------


@SETTINGS
@given(
    words=st.lists(st.sampled_from(["a", "to", "be", "or", "not", "lorem", "ipsum"]), max_size=80),
    chunks=st.one_of(st.none(), st.integers(1, 30)),
    workers=st.integers(1, 4),
)
def test_in_workers_word_count_equals_sequential(
    words: list[str], chunks: int | None, workers: int
) -> None:
    from collections import Counter

    text = " ".join(words).encode() or b" "
    got = sm.reduce(
        words_in,
        np.frombuffer(text, dtype=np.uint8),
        combine=operator.add,
        chunks=chunks,
        overlap=8,
        in_workers=True,
        pool=get_pool(workers),
    )
    assert got == Counter(words)


def test_in_workers_folds_each_workers_chunks_and_sees_whole_inputs() -> None:
    def seen(x, scale, *, start):  # type: ignore[no-untyped-def]
        return [(start, len(x), len(scale))]

    got = sm.reduce(
        seen, sm.arange(10), sm.whole([1, 2, 3]), combine=operator.add, chunks=5, in_workers=True,
        pool=get_pool(2),
    )  # fmt: skip
    assert got == [(0, 2, 3), (4, 2, 3), (8, 2, 3), (2, 2, 3), (6, 2, 3)]  # worker 0, then 1


def test_in_workers_needs_a_combine() -> None:
    with pytest.raises(sm.InvalidArgumentError, match="in_workers=True folds partials"):
        sm.reduce(positions, sm.arange(4), in_workers=True, pool=get_pool(2))
    with pytest.raises(sm.ArgumentTypeError, match="in_workers=1 must be True or False"):
        sm.reduce(positions, sm.arange(4), combine=operator.add, in_workers=1)  # type: ignore[arg-type]


# -- found by review ------------------------------------------------------------------------------


def roll_left(x, out, *, start):  # type: ignore[no-untyped-def]
    n = len(x)
    for i in range(len(out)):
        out[i] = x[(start + i + 1) % n]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_whole_input_that_is_the_output_is_copied_first(workers: int) -> None:
    x = sm.arange(50_000, dtype="int64")
    expected = np.roll(np.arange(50_000), -1)
    sm.map(roll_left, sm.whole(x), out=x, chunks=16, pool=get_pool(workers))
    np.testing.assert_array_equal(np.asarray(x), expected)


def test_integer_sums_along_an_axis_wrap_like_numpy() -> None:
    for a in (np.full((2, 3), 2**62, np.int64), np.full((3, 2), 2**63, np.uint64)):
        np.testing.assert_array_equal(np.asarray(sm.sum(a, axis=0)), a.sum(axis=0))


def reduce_draw(x, *, rng):  # type: ignore[no-untyped-def]
    return rng.random()


def test_reduce_rng_streams_are_seeded_and_fresh_without_a_seed() -> None:
    pool = get_pool(2)
    a = sm.reduce(reduce_draw, sm.arange(10), chunks=3, seed=5, pool=pool)
    assert a == sm.reduce(reduce_draw, sm.arange(10), chunks=3, seed=np.int64(5), pool=pool)
    assert a != sm.reduce(reduce_draw, sm.arange(10), chunks=3, pool=pool)
    with pytest.raises(sm.InvalidArgumentError, match="in_workers=True does not provide"):
        sm.reduce(reduce_draw, sm.arange(10), combine=operator.add, in_workers=True, pool=pool)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sm.map(copy1, np.zeros(0), seed="x"), sm.InvalidArgumentError, "must be an int"),
        (lambda: sm.map(copy1, np.zeros(0), chunks=0), sm.InvalidArgumentError, "chunks=0"),
        (lambda: sm.map(copy1, np.zeros(0), p=object()), sm.ShippingError, "parameter p"),
        (
            lambda: sm.map(copy1, np.zeros(3), out=sm.empty(3), dtype="int8"),
            sm.ArgumentTypeError,
            "with out= given, drop it",
        ),
        (lambda: sm.sum(np.float64(2.0), axis=0), sm.InvalidArgumentError, "0-d array has no axis"),
    ],
)
def test_refusals_hold_on_empty_data_and_odd_combinations(
    call: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call()


def test_numpy_integers_as_axis_and_channel_axis() -> None:
    m = np.arange(6.0).reshape(2, 3)
    assert sm.sum(m, axis=np.int64(1)).tolist() == [3.0, 12.0]
    img = np.random.default_rng(0).random((5, 6, 3))
    got = sm.stencil(box3, img, channel_axis=np.int64(-1), pool=get_pool(2))
    assert got.shape == img.shape
