"""sm.histogram against np.histogram across dtypes, bins, ranges, worker counts and chunkings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shardmem as sm
from conftest import get_pool  # the copy pytest loaded, whose pools the leak check knows
from tests.strategies import ALL_DTYPES, numpy_arrays, shapes

workers = st.integers(1, 4)
chunkings = st.one_of(st.none(), st.integers(1, 9))
bin_specs = st.one_of(
    st.integers(1, 300),
    st.lists(st.integers(-300, 300), min_size=2, max_size=8).map(sorted),
)
ranges = st.one_of(
    st.none(),
    st.tuples(st.integers(-200, 200), st.integers(0, 300)).map(lambda p: (p[0], p[0] + p[1])),
)


def reference(x: Any, bins: Any, range_: Any) -> tuple[Any, Any]:
    if x.dtype == np.bool_:
        x = x.astype(np.int64)  # NumPy cannot subtract bools for uniform bins; shardmem bins 0/1
    return np.histogram(x, bins, range=range_)


def assert_same(got: tuple[Any, Any], want: tuple[Any, Any]) -> None:
    """Counts and edges equal NumPy's, the edges in NumPy's dtype."""
    counts, edges = got
    assert counts.dtype == sm.int64
    assert edges.dtype.name == want[1].dtype.name
    np.testing.assert_array_equal(np.asarray(counts), want[0])
    np.testing.assert_array_equal(np.asarray(edges), want[1])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), bins=bin_specs, range_=ranges, w=workers, chunks=chunkings)
def test_matches_numpy(data: st.DataObject, bins: Any, range_: Any, w: int, chunks: Any) -> None:
    dtype = data.draw(st.sampled_from(ALL_DTYPES))
    ref = data.draw(numpy_arrays(dtype, data.draw(shapes(max_side=9))))
    if dtype.kind == "f":
        lim = ref.dtype.type(np.finfo(ref.dtype).max / 2**40)
        ref = np.asarray(np.clip(ref, -lim, lim))
    if isinstance(bins, list) and len(set(bins)) < 2:
        bins = [bins[0], bins[0] + 1]
    try:
        want_counts, want_edges = reference(ref, bins, range_)
    except ValueError as exc:
        assert "Too many bins" in str(exc)  # noqa: PT017
        with pytest.raises(sm.InvalidArgumentError, match="too many bins for data range"):
            sm.histogram(ref, bins, range=range_, chunks=chunks, pool=get_pool(w))
        return
    got = sm.histogram(ref, bins, range=range_, chunks=chunks, pool=get_pool(w))
    assert_same(got, (want_counts, want_edges))


@pytest.mark.parametrize("w", [1, 2, 3, 4])
def test_uint8_256_bins(w: int) -> None:
    x = np.random.default_rng(w).integers(0, 256, 100_003, dtype=np.uint8)
    counts, edges = sm.histogram(x, 256, range=(0, 256), pool=get_pool(w))
    np.testing.assert_array_equal(np.asarray(counts), np.bincount(x, minlength=256))
    np.testing.assert_array_equal(np.asarray(edges), np.arange(257.0))


def test_float_edges_and_last_bin_inclusive() -> None:
    x = np.random.default_rng(0).standard_normal(50_000)
    x[:10] = x.max()
    for bins in (1, 7, 100):
        counts, edges = sm.histogram(x, bins, pool=get_pool(3))
        want, want_edges = np.histogram(x, bins)
        np.testing.assert_array_equal(np.asarray(counts), want)
        np.testing.assert_array_equal(np.asarray(edges), want_edges)


def test_special_cases() -> None:
    counts, edges = sm.histogram([], 3)
    assert counts.tolist() == [0, 0, 0]
    assert edges.tolist() == np.histogram([], 3)[1].tolist()
    counts, edges = sm.histogram([5, 5], 2)
    assert edges.tolist() == [4.5, 5.0, 5.5]
    assert counts.tolist() == [0, 2]
    x = np.array([0.5, np.nan, np.inf, 0.25])
    assert sm.histogram(x, 2, range=(0, 1))[0].tolist() == [1, 1]
    base = sm.arange(10, dtype="int32")
    assert sm.histogram(base[::3], 3)[0].tolist() == np.histogram(np.arange(10)[::3], 3)[0].tolist()


def test_errors() -> None:
    with pytest.raises(sm.InvalidArgumentError, match="bins=0 must be a positive integer"):
        sm.histogram([1], 0)
    with pytest.raises(sm.InvalidArgumentError, match="increasing monotonically"):
        sm.histogram([1], [3, 1])
    with pytest.raises(sm.InvalidArgumentError, match="max must be larger than min"):
        sm.histogram([1], 2, range=(2, 1))
    with pytest.raises(sm.InvalidArgumentError, match=r"range of \[0, inf\] is not finite"):
        sm.histogram([1], 2, range=(0, float("inf")))
    with pytest.raises(sm.InvalidArgumentError, match="autodetected range of"):
        sm.histogram([1.0, np.nan], 2)
    with pytest.raises(sm.ArgumentTypeError, match="must be a pair of numbers"):
        sm.histogram([1], 2, range=(1,))  # type: ignore[arg-type]
    with pytest.raises(sm.ArgumentTypeError, match="must be an int or a sequence"):
        sm.histogram([1], 2.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bins", "error", "match"),
    [
        ("x", sm.ArgumentTypeError,
         r"bins='x' must be an int or a sequence of edges \(bin-width estimators such as "
         r"bins='auto' are not supported\)"),
        ("auto", sm.ArgumentTypeError, "bins='auto' must be an int or a sequence of edges"),
        (b"ab", sm.ArgumentTypeError, "must be an int or a sequence of edges"),
        ({"a": 1}, sm.ArgumentTypeError, "must be an int or a sequence of edges"),
        (None, sm.ArgumentTypeError, "must be an int or a sequence of edges"),
        (np.zeros((2, 3)), sm.ShapeError,
         r"bins as an array of edges must be 1-D, not of shape \(2, 3\)"),
        (sm.zeros(()), sm.ArgumentTypeError,
         r"bins=SharedArray\(0\.0, dtype=float64\) must be an int number of bins or a 1-D "
         r"sequence of edges, not a 0-d float64 value"),
        (np.float64(3), sm.ArgumentTypeError,
         r"bins=np\.float64\(3\.0\) must be an int number of bins or a 1-D sequence of edges, "
         r"not a 0-d float64 value; pass bins=int\(\.\.\.\)"),
        (np.array(2.5), sm.ArgumentTypeError, "not a 0-d float64 value"),
        (np.zeros(3, np.complex128), sm.ArgumentTypeError,
         r"histogram\(\): bins\[0\]=0j must be a real number \(int or float\), not complex"),
        ([0, "1", 2], sm.ArgumentTypeError, r"bins\[1\]='1' must be a real number"),
        ([[1, 2], [3]], sm.ArgumentTypeError, r"bins\[0\]=\[1, 2\] must be a real number"),
        ([0, float("nan"), 2], sm.InvalidArgumentError, "increasing monotonically"),
        (2**70, sm.InvalidArgumentError,
         r"bins=1180591620717411303424 needs \d+ bytes of counts, more than the maximum"),
    ],
)  # fmt: skip
def test_bad_bins(bins: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        sm.histogram(sm.arange(12), bins, pool=get_pool(2))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bins", [np.int64(3), np.array([0.0, 5.0, 11.0]), (0, 4, 11), range(0, 12, 4), [0, np.inf]]
)
def test_numpy_ints_arrays_and_ranges_as_bins(bins: Any) -> None:
    counts, edges = sm.histogram(sm.arange(12), bins, pool=get_pool(2))
    want_counts, want_edges = np.histogram(np.arange(12), bins)
    assert counts.tolist() == want_counts.tolist()
    assert edges.tolist() == want_edges.tolist()


# -- many bins, wide integers, NumPy scalars, impossible sizes (issue 25) -----------------------


@pytest.mark.parametrize("bins", [5, 2000])
@pytest.mark.parametrize("w", [1, 2])
def test_int64_beyond_2_53_compares_as_float64(bins: int, w: int) -> None:
    x = np.array([2**53 + 1, 2**53 + 3, 2**60 + 5, 2**62 + 1, 3], dtype=np.int64)
    for range_ in (None, (3, 2**62), (3.0, 2.0**62)):
        counts, edges = sm.histogram(x, bins, range=range_, pool=get_pool(w))
        want_counts, want_edges = np.histogram(x, bins, range=range_)
        np.testing.assert_array_equal(np.asarray(counts), want_counts)
        np.testing.assert_array_equal(np.asarray(edges), want_edges)
    u = np.array([2**64 - 1, 2**63 + 1, 2**53 + 1, 0], dtype=np.uint64)
    np.testing.assert_array_equal(
        np.asarray(sm.histogram(u, bins, pool=get_pool(w))[0]), np.histogram(u, bins)[0]
    )


@pytest.mark.parametrize(
    "range_", [(np.float32(0), np.int64(4)), (np.float64(0.5), 3), [np.int8(0), np.uint16(4)]]
)
def test_range_takes_numpy_scalars_as_bins_does(range_: Any) -> None:
    x = [1.0, 2.0, 2.5, 3.9]
    counts, edges = sm.histogram(x, np.int64(3), range=range_, pool=get_pool(2))
    want_counts, want_edges = np.histogram(x, 3, range=tuple(range_))
    assert counts.tolist() == want_counts.tolist()
    assert edges.tolist() == want_edges.tolist()


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    bins=st.sampled_from([1025, 1500, 4000]),
    w=workers,
    chunks=chunkings,
    dtype=st.sampled_from(["float64", "float32", "int64", "uint32"]),
)
def test_many_bins_with_dense_counts_match_numpy(
    data: st.DataObject, bins: int, w: int, chunks: int | None, dtype: str
) -> None:
    n = data.draw(st.integers(bins // 4, 3 * bins))  # enough values for per-worker rows
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = (np.random.default_rng(seed).standard_normal(n) * 1000).astype(dtype)
    range_ = data.draw(st.sampled_from([None, (-500, 700), (-500.5, 700.25)]))
    got = sm.histogram(x, bins, range=range_, chunks=chunks, pool=get_pool(w))
    assert_same(got, np.histogram(x, bins, range=range_))


def test_many_uniform_bins_send_only_the_range_to_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    import shardmem._primitives.histogram as h

    sent: list[dict[str, object]] = []
    real = h.run_blockwise

    def spy(kernel: Any, operands: Any, shape: Any, pool: Any, **kw: Any) -> Any:
        sent.append(kw["params"])
        return real(kernel, operands, shape, pool, **kw)

    monkeypatch.setattr(h, "run_blockwise", spy)
    counts, edges = sm.histogram([0.25, 0.75], 10**6, pool=get_pool(2))
    assert counts.size == 10**6
    assert edges.size == 10**6 + 1
    assert sum(counts.tolist()) == 2
    assert counts[0] == 1  # the data's own range: 0.25 in the first bin, 0.75 in the last
    assert counts[10**6 - 1] == 1
    assert edges[0] == 0.25
    assert edges[10**6] == 0.75
    assert len(sent) >= 2
    for params in sent:  # no edges, no per-bin values: a few scalars per task
        assert all(not isinstance(v, tuple | list) or len(v) <= 3 for v in params.values())


def test_impossible_bins_say_how_much_memory() -> None:
    match = r"Unable to allocate 8\.00 TiB for an array with shape \(1099511627776,\)"
    with pytest.raises(sm.OutOfMemoryError, match=match):
        sm.histogram([1.0, 2.0], bins=2**40, pool=get_pool(2))


def test_per_worker_rows_only_when_the_data_can_fill_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import shardmem._primitives.histogram as h

    shapes: list[object] = []
    real = h.zeros

    def spy(shape: Any, **kw: Any) -> Any:
        shapes.append(shape)
        return real(shape, **kw)

    monkeypatch.setattr(h, "zeros", spy)
    pool = get_pool(2)
    sm.histogram(np.arange(2.0), 100_000, pool=pool)
    assert shapes == [100_000, 100_001, 0]  # counts, edges, no rows: 2 values fill 2 bins
    shapes.clear()
    x = np.random.default_rng(3).random(1000)
    counts, _ = sm.histogram(x, 2000, pool=pool)
    assert shapes == [2000, 2001, (2, 2000)]  # one row of 8-byte counts per worker
    np.testing.assert_array_equal(np.asarray(counts), np.histogram(x, 2000)[0])


@pytest.mark.parametrize("w", [1, 2, 3])
def test_many_explicit_edges_are_shared_not_shipped(
    w: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shardmem._primitives.histogram as h

    sent: list[dict[str, object]] = []
    real = h.run_blockwise

    def spy(kernel: Any, operands: Any, shape: Any, pool: Any, **kw: Any) -> Any:
        sent.append(kw["params"])
        return real(kernel, operands, shape, pool, **kw)

    monkeypatch.setattr(h, "run_blockwise", spy)
    edges = np.cumsum(np.random.default_rng(w).random(5000))
    x = np.concatenate([edges[::7], np.random.default_rng(9).uniform(-1, edges[-1] + 1, 3000)])
    counts, got_edges = sm.histogram(x, edges, chunks=5, pool=get_pool(w))
    want_counts, want_edges = np.histogram(x, edges)
    np.testing.assert_array_equal(np.asarray(counts), want_counts)
    np.testing.assert_array_equal(np.asarray(got_edges), want_edges)
    assert all("edges" not in params for params in sent)


@pytest.mark.parametrize(
    "bound", [2**1100, -(2**1100), 10**400], ids=["2**1100", "-2**1100", "10**400"]
)
def test_a_range_beyond_float64_names_range(bound: int) -> None:
    range_ = (min(0, bound), max(0, bound))
    with pytest.raises(TypeError):
        np.histogram([1.0], range=range_)  # NumPy refuses it too (with a ufunc TypeError)
    with pytest.raises(
        sm.InvalidArgumentError, match=r"supplied range of \[.*\] is not finite \(range="
    ):
        sm.histogram([1.0], range=range_, pool=get_pool(2))


# -- float32 data, integer edges beyond 2**53, NumPy's edge dtypes (review of issue 25) ----------

float32_ranges = st.one_of(
    st.none(),
    st.sampled_from([(-1.5, 2.25), (0, 1), (-3, 5)]),
    st.sampled_from([(np.float32(-1.1), np.float32(2.3)), (np.float64(-1.1), np.float64(2.3))]),
    st.sampled_from([(np.float32(0.1), 3), (np.int8(-2), np.int8(3)), (np.float16(0), 2)]),
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    bins=st.one_of(st.integers(1, 40), st.sampled_from([1024, 1025, 3000])),
    range_=float32_ranges,
    w=workers,
    chunks=chunkings,
)
def test_float32_data_bins_like_numpy(
    data: st.DataObject, bins: int, range_: Any, w: int, chunks: int | None
) -> None:
    n = data.draw(st.integers(0, 400))
    seed = data.draw(st.integers(0, 2**32 - 1))
    kind = data.draw(st.sampled_from(["normal", "constant", "sevenths"]))
    rng = np.random.default_rng(seed)
    if kind == "normal":
        x = rng.standard_normal(n).astype(np.float32)
    elif kind == "constant":
        x = np.full(n, rng.standard_normal(), dtype=np.float32)
    else:
        x = np.arange(n, dtype=np.float32) / np.float32(7)
    try:
        want = np.histogram(x, bins, range=range_)
    except ValueError as exc:
        assert "Too many bins" in str(exc)  # noqa: PT017
        with pytest.raises(sm.InvalidArgumentError, match="too many bins"):
            sm.histogram(x, bins, range=range_, chunks=chunks, pool=get_pool(w))
        return
    assert_same(sm.histogram(x, bins, range=range_, chunks=chunks, pool=get_pool(w)), want)


def test_float32_edges_are_numpys_float32_edges() -> None:
    x = np.array([0.1, 0.2, 0.3, 0.7, 1.0], dtype=np.float32)
    counts, edges = sm.histogram(x, 3, pool=get_pool(2))
    assert edges.dtype == sm.float32
    assert counts.tolist() == [3, 0, 2] == np.histogram(x, 3)[0].tolist()  # float64 edges: 3, 1, 1


def test_numpy_scalar_range_edges_are_computed_in_their_dtype() -> None:
    x = np.linspace(0, 3.5, 1000)  # float64 data, float32 bounds: linspace runs in float32
    for bins in (7, 2000):
        want = np.histogram(x, bins, range=(np.float32(0.1), np.float32(3.3)))
        assert_same(sm.histogram(x, bins, range=(np.float32(0.1), np.float32(3.3))), want)


wide_ints = st.sampled_from(
    [0, 1, 2**53 - 1, 2**53, 2**53 + 1, 2**53 + 2, 2**53 + 3, 2**62 + 1, 2**63 - 1, -(2**53) - 1]
)
wide_uints = st.sampled_from([0, 2**53 + 1, 2**63, 2**63 + 1, 2**64 - 1, 2**64 - 2])


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(["int64", "uint64", "int32", "uint8", "float64", "bool"]),
    edge_kind=st.sampled_from(["int list", "uint list", "mixed list", "int64", "uint64", "float"]),
    range_=st.sampled_from([None, (5, 1), (0, 2**40)]),
    w=workers,
    chunks=chunkings,
)
def test_explicit_edges_compare_as_numpy_does(  # noqa: PLR0917 - hypothesis draws
    data: st.DataObject, dtype: str, edge_kind: str, range_: Any, w: int, chunks: int | None
) -> None:
    if dtype in ("int64", "float64"):
        values = data.draw(st.lists(wide_ints, min_size=0, max_size=30))
    elif dtype == "uint64":
        values = data.draw(st.lists(wide_uints, min_size=0, max_size=30))
    else:
        values = data.draw(st.lists(st.integers(0, 200), min_size=0, max_size=30))
    x = np.array(values, dtype=np.int64 if dtype != "uint64" else np.uint64).astype(dtype)
    pool = wide_uints if edge_kind in ("uint list", "uint64") else wide_ints
    raw = sorted(set(data.draw(st.lists(pool, min_size=2, max_size=8))))
    if len(raw) < 2:  # (2**64 in a list makes NumPy's edges an object array: not drawn)
        raw = [raw[0], raw[0] + 1] if raw[0] + 1 < 2**64 else [raw[0] - 1, raw[0]]
    if edge_kind == "mixed list":
        raw = [float(raw[0]), *raw[1:]]
    bins: Any = raw
    if edge_kind in ("int64", "uint64"):
        bins = np.array(raw, dtype=edge_kind)
    elif edge_kind == "float":
        bins = np.array(raw, dtype=np.float64)
    ref = x.astype(np.uint8) if dtype == "bool" else x  # what NumPy does, with a warning
    want = np.histogram(ref, bins, range=range_)  # NumPy ignores range= beside edges
    assert_same(sm.histogram(x, bins, range=range_, chunks=chunks, pool=get_pool(w)), want)


def test_integer_edges_beyond_2_53_compare_exactly() -> None:
    x = np.array([2**53, 2**53 + 1, 2**53 + 2], dtype=np.int64)
    edges = [0, 2**53 + 1, 2**53 + 3]
    counts, got_edges = sm.histogram(x, bins=edges, pool=get_pool(2))
    assert counts.tolist() == [1, 2] == np.histogram(x, bins=edges)[0].tolist()
    assert got_edges.dtype == sm.int64
    assert got_edges.tolist() == edges
    many = [*range(0, 2 * 2000, 2), 2**53 + 1, 2**53 + 3]  # shared with the workers
    counts, _ = sm.histogram(x, bins=many, pool=get_pool(2))
    np.testing.assert_array_equal(np.asarray(counts), np.histogram(x, bins=many)[0])


@pytest.mark.parametrize("data", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("edges", ALL_DTYPES, ids=str)
def test_compares_as_float_is_numpys_promotion(data: sm.DType, edges: sm.DType) -> None:
    from shardmem._primitives.histogram_edges import compares_as_float

    promoted = np.result_type(np.dtype(data.name), np.dtype(edges.name))
    assert compares_as_float(data, edges) == (promoted.kind == "f")


def test_range_is_ignored_beside_explicit_edges_as_numpy_does() -> None:
    for range_ in [(5, 1), (0, 2**1100)]:
        counts, _ = sm.histogram([1, 2, 3], [0, 2, 4], range=range_, pool=get_pool(2))  # type: ignore[arg-type]
        assert counts.tolist() == np.histogram([1, 2, 3], [0, 2, 4], range=range_)[0].tolist()


@pytest.mark.parametrize("bins", [np.array([0, 1, 2], np.float16), [0, 2**64], [0, 1, 2**70]])
@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_edges_shardmem_has_no_dtype_for_become_float64(bins: Any, dtype: str) -> None:
    x = np.array([0, 1, 2, 7, 2**40], dtype=dtype)
    want_counts, want_edges = np.histogram(x, bins)
    assert want_edges.dtype.name in ("float16", "object")
    counts, edges = sm.histogram(x, bins, pool=get_pool(2))
    assert edges.dtype == sm.float64
    np.testing.assert_array_equal(np.asarray(counts), want_counts)
    np.testing.assert_array_equal(np.asarray(edges), want_edges.astype(np.float64))
