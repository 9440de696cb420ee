"""``histogram``: bin counts like ``np.histogram``, one partial histogram per shard.

Three paths, all exact integer counts:

* 1- and 2-byte integers and bools: each shard counts its distinct values
  (``collections.Counter`` over the bytes); the main interpreter bins at
  most 65536 distinct values. One pass, for any ``bins``/``range``.
* Other dtypes, explicit edges or at most ``SHIPPED_EDGES`` uniform bins:
  one pass for ``(min, max)`` when ``range`` is not given, then one
  ``bisect`` pass per shard against the edges (a few travel with each task;
  more are one shared view of the edges output); each task returns only
  the bins it filled.
* More uniform bins: each shard computes the bin index arithmetically, as
  ``np.histogram`` does, from the range and the bin count alone, so the cost
  does not grow with ``bins`` beyond writing the outputs; counts come back as
  one dict per shard when they fill few bins, else each worker adds them
  into its own row of a shared ``(workers, bins)`` array and the rows are
  summed at C speed (memory: 8 bytes per bin per worker, allocated only when
  the data hold at least ``bins / 4`` values).

Edges are ``i * step + lo`` for uniform bins, with the last edge set to
``hi``, exactly as ``np.linspace`` computes them, in NumPy's dtype for them
(``result_type(lo, hi, data)``, float64 for integers): float32 for float32
data, computed in float32 steps when the bounds are the data's float32
extremes, else in float64 and rounded once; a range of NumPy scalars has
its edges computed by NumPy itself. Explicit edges keep the dtype
``np.asarray(bins)`` gives them. A value ``v`` lands in bin ``i`` when
``edges[i] <= v < edges[i+1]`` (the last bin includes ``hi``), compared in
the dtype NumPy promotes the data and the edges to: exactly for integers
with integer edges, else as float64 (int64 and uint64 values beyond 2**53
round first); with ``range=``, NumPy's range filter compares 64-bit
integers with int bounds exactly. bools are binned as 0 and 1.
"""

from __future__ import annotations

import bisect
import math
import operator
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from shardmem._data.array import SharedArray
from shardmem._data.creation import asarray, zeros
from shardmem._data.dtypes import DType, as_float, float32
from shardmem._engine import Pool, resolve_pool
from shardmem._primitives.blockwise import check_pool
from shardmem._primitives.histogram_edges import (
    SHIPPED_EDGES,
    Edges,
    Number,
    Spec,
    bin_spec,
    bound_as_float,
    check_bins,
    check_range,
    compares_as_float,
    f32_of,
    fill_uniform_edges,
    outer_edges,
    plain_number,
    too_many,
    write_edges,
)
from shardmem._primitives.kernels.histogram import (
    bin_counts,
    fill_edges,
    minmax,
    uniform_counts,
    value_counts,
)
from shardmem._primitives.map import Whole, as_operand, run_blockwise, whole
from shardmem._primitives.reduce import tree_combine

__all__ = ("histogram",)


def _flat(x: object) -> SharedArray:
    value = as_operand(x, "histogram")
    data = value if isinstance(value, SharedArray) else asarray(value)
    return data.reshape((data.size,))


def _run(
    kernel: object,
    flat: SharedArray,
    *extra: Whole,
    chunks: int | None,
    pool: Pool | None,
    timeout: float | None,
    **params: object,
) -> list[object]:
    run_on = resolve_pool(pool)
    results, _ = run_blockwise(
        kernel,  # type: ignore[arg-type]
        [flat, *extra],
        flat.shape,
        run_on,
        chunks=chunks,
        params=params,
        timeout=timeout,
    )
    return results


class _Result:
    """The two outputs, allocated before any work (an impossible size fails first)."""

    def __init__(self, nbins: int, edges: DType) -> None:
        self.counts = zeros(nbins, dtype="int64")
        self.edges = zeros(nbins + 1, dtype=edges)

    def counts_view(self) -> memoryview:
        return memoryview(self.counts)

    def edges_view(self) -> memoryview:
        return memoryview(self.edges)


def _keep(
    range_: tuple[Number, Number] | None, outer: tuple[Number, Number]
) -> tuple[Number, Number, bool] | None:
    """NumPy's range filter ``lo <= v <= hi`` for ``range=`` (None without one: no value is out).

    NumPy compares the values themselves with int bounds and their float64
    values with float bounds (only 64-bit integers can tell the two apart).
    """
    if range_ is None:
        return None
    lo, hi = outer
    as_float = isinstance(lo, float) or isinstance(hi, float)
    return (float(lo), float(hi), True) if as_float else (lo, hi, False)


def _bin_values(counts: Counter[int], edges: memoryview, out: memoryview) -> None:
    last = edges[len(edges) - 1]
    bins = len(out)
    for value, count in counts.items():
        index = bins - 1 if value == last else bisect.bisect_right(edges, value) - 1
        if 0 <= index < bins:
            out[index] += count


@dataclass(frozen=True, slots=True)
class _Filled:
    """What binning needs after the edges are written.

    ``outer``: the outer edges as Python numbers; ``keep``: NumPy's range
    filter; ``standard``: the edges are float64 ``i * step + lo`` (workers
    may compute them instead of reading them).
    """

    outer: tuple[Number, Number]
    keep: tuple[Number, Number, bool] | None
    standard: bool


def _small_int_histogram(
    flat: SharedArray, bins: int | Edges, range_: _Range, **run: Any
) -> tuple[SharedArray, SharedArray]:
    total: Counter[int] = Counter()
    for part in _run(value_counts, flat, **run):
        total.update(cast("dict[int, int]", part))
    result = _Result(*_shape_of(bins, range_))
    extremes = lambda: (min(total), max(total))  # noqa: E731 - called only for uniform bins
    _fill_edges(result, bins, range_, extremes, bool(total), data=flat.dtype, run=run)
    _bin_values(total, result.edges_view(), result.counts_view())
    return result.counts, result.edges


type _Range = tuple[tuple[Number, Number] | None, Spec | None]


def _shape_of(bins: int | Edges, range_: _Range) -> tuple[int, DType]:
    if isinstance(bins, Edges):
        return len(bins.values) - 1, bins.dtype
    assert range_[1] is not None
    return bins, range_[1].dtype


def _fill_edges(
    result: _Result,
    bins: int | Edges,
    range_: _Range,
    extremes: Callable[[], tuple[Number, Number]],
    nonempty: bool,
    *,
    data: DType,
    run: dict[str, Any],
) -> _Filled:
    """Write the edges into ``result``, as NumPy computes them in its dtype for them."""
    view = result.edges_view()
    if isinstance(bins, Edges):
        write_edges(view, bins)
        return _Filled((bins.values[0], bins.values[-1]), None, False)
    bounds, spec = range_
    assert spec is not None
    if spec.numpy is not None:
        return _numpy_edges(result, spec.numpy, data)
    narrow = result.edges.dtype == float32
    f32 = False
    if bounds is not None:
        outer = outer_edges(*bounds, auto=False)
    elif not nonempty:
        outer = (0, 1)
    else:
        lo, hi = extremes()
        outer = outer_edges(lo, hi, auto=True)
        f32 = narrow  # NumPy's bounds are the data's float32 min and max: it computes in float32
        if f32 and lo == hi:
            outer = (f32_of(lo - 0.5), f32_of(hi + 0.5))

    def workers(first: float, delta: float, nbins: int, f32: bool) -> None:
        edges = cast("SharedArray", result.edges[:nbins])
        params = {"first": first, "delta": delta, "nbins": nbins, "f32": f32}
        _run(fill_edges, edges, chunks=None, pool=run["pool"], timeout=run["timeout"], **params)

    fill_uniform_edges(view, *outer, workers=workers, f32=f32)
    if not narrow:
        return _Filled(outer, _keep(bounds, outer), True)
    keep = None if bounds is None else (view[0], view[len(view) - 1], True)
    return _Filled(outer, keep, False)  # NumPy casts Python bounds to float32 to compare


def _numpy_edges(result: _Result, spec: tuple[Any, Any, str], data: DType) -> _Filled:
    """Edges for a range of NumPy scalars, computed by NumPy itself (NumPy is loaded)."""
    import numpy as np

    first, last, kind = spec
    nbins = result.counts.size
    edges = np.linspace(first, last, nbins + 1, endpoint=True, dtype=kind)
    if np.any(edges[:-1] >= edges[1:]):
        raise too_many(nbins, float(first), float(last))
    memoryview(result.edges).cast("B")[:] = edges.astype(result.edges.dtype.name).tobytes()
    lo, hi = cast("tuple[Number, Number]", (plain_number(first), plain_number(last)))
    if bound_as_float(data, first) or bound_as_float(data, last):
        return _Filled((lo, hi), (float(lo), float(hi), True), False)
    return _Filled((lo, hi), (int(lo), int(hi), False), False)


def _nan_pair(a: tuple[Number, Number], b: tuple[Number, Number]) -> tuple[Number, Number]:
    if math.isnan(a[0]) or math.isnan(b[0]):
        return (math.nan, math.nan)
    return (min(a[0], b[0]), max(a[1], b[1]))


def _general_histogram(
    flat: SharedArray, bins: int | Edges, range_: _Range, **run: Any
) -> tuple[SharedArray, SharedArray]:
    def extremes() -> tuple[Number, Number]:
        pairs = _run(minmax, flat, **run)
        return tree_combine(cast("list[tuple[Number, Number]]", pairs), _nan_pair)

    result = _Result(*_shape_of(bins, range_))
    filled = _fill_edges(result, bins, range_, extremes, flat.size > 0, data=flat.dtype, run=run)
    if not flat.size:
        return result.counts, result.edges
    if isinstance(bins, Edges):
        _explicit(flat, result, bins, **run)
    elif bins > SHIPPED_EDGES:
        _uniform(flat, result, filled, **run)
    else:
        _bisected(flat, result, filled.keep, **run)
    return result.counts, result.edges


def _explicit(flat: SharedArray, result: _Result, edges: Edges, **run: Any) -> None:
    """Bin against explicit edges, comparing as NumPy does (exact ints where it does)."""
    if not compares_as_float(flat.dtype, edges.dtype):
        ints = [int(v) for v in edges.values]
        if len(ints) <= SHIPPED_EDGES + 1 and ints[0] >= -(2**63) and ints[-1] < 2**63:
            parts = _run(bin_counts, flat, edges=tuple(ints), exact=True, **run)
        else:  # many edges, or beyond int64 (a task's parameters are 64-bit): shared
            parts = _run(bin_counts, flat, whole(result.edges), exact=True, **run)
        _add_parts(result, parts)
    elif edges.dtype.kind == "f":
        _bisected(flat, result, None, **run)
    else:  # integer edges compared as float64: their rounded values
        floats = asarray([as_float(v) for v in edges.values], dtype="float64")
        _bisected(flat, result, None, floats=floats, **run)


def _add_parts(result: _Result, parts: list[object]) -> None:
    out = result.counts_view()
    for part in parts:
        for index, count in cast("dict[int, int]", part).items():
            out[index] += count


def _bisected(
    flat: SharedArray,
    result: _Result,
    keep: tuple[Number, Number, bool] | None,
    *,
    floats: SharedArray | None = None,
    **run: Any,
) -> None:
    """Bin by bisection against the edges: a few travel with each task, more are shared."""
    edges = result.edges if floats is None else floats
    if edges.size <= SHIPPED_EDGES + 1:
        shipped = tuple(memoryview(edges).tolist())
        parts = _run(bin_counts, flat, edges=shipped, keep=keep, **run)
    else:
        parts = _run(bin_counts, flat, whole(edges), keep=keep, **run)
    _add_parts(result, parts)


def _uniform(flat: SharedArray, result: _Result, filled: _Filled, **run: Any) -> None:
    """Bin by arithmetic in the workers: only the range and the bin count travel.

    Edges that are not float64 ``i * step + lo`` (float32 ones, or NumPy's
    own) are shared with the workers, which correct the index against them.
    """
    lo, hi = filled.outer
    nbins = result.counts.size
    both_int = isinstance(lo, int) and isinstance(hi, int)
    denom = float(hi - lo) if both_int else float(hi) - float(lo)  # NumPy's _unsigned_subtract
    first, stop = float(lo), float(hi)
    shared: tuple[Whole, ...] = ()
    if not filled.standard:
        view = result.edges_view()
        first, stop = float(view[0]), float(view[nbins])
        denom = stop - first
        shared = (whole(result.edges),)
    pool = resolve_pool(run["pool"])
    dense = flat.size * 4 >= nbins  # shards may fill more bins than a dict should carry
    rows = zeros((pool.size, nbins) if dense else 0, dtype="int64")
    parts = _run(
        uniform_counts,
        flat,
        whole(rows),
        *shared,
        first=first,
        stop=stop,
        denom=denom,
        nbins=nbins,
        keep=filled.keep,
        chunks=run["chunks"],
        pool=pool,
        timeout=run["timeout"],
    )
    out = result.counts_view()
    filled_rows = sorted({p for p in parts if isinstance(p, int)})
    if filled_rows:
        flat_rows = memoryview(rows).cast("B").cast("q")
        total = array("q", flat_rows[filled_rows[0] * nbins : (filled_rows[0] + 1) * nbins])
        for rank in filled_rows[1:]:
            total = array(
                "q",
                map(operator.add, total, flat_rows[rank * nbins : (rank + 1) * nbins], strict=True),
            )
        out[:] = total
    for part in parts:
        if isinstance(part, dict):
            for index, count in part.items():
                out[index] += count


def histogram(
    x: object,
    /,
    bins: int | Sequence[float] = 10,
    *,
    range: tuple[float, float] | None = None,
    chunks: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
) -> tuple[SharedArray, SharedArray]:
    """Count the elements of ``x`` (flattened) in bins, like ``np.histogram``.

    Parameters
    ----------
    x : SharedArray or array-like
        Data; non-contiguous arrays are copied once, array-likes copied into
        shared memory.
    bins : int or sequence of float
        Number of equal-width bins in ``range``, or the bin edges (increasing):
        a list, tuple or 1-D array of real numbers. String estimators such as
        ``'auto'`` are not supported.
    range : (float, float), optional
        Lower and upper edge (Python or NumPy numbers); default the data's
        min and max (widened by 0.5 on both sides when they are equal;
        ``(0, 1)`` for empty data). Values outside are not counted. Ignored
        when ``bins`` are edges, as NumPy ignores it.
    chunks : int, optional
        Number of dynamically scheduled chunks; default one shard per worker.
    pool, timeout
        As for :func:`shardmem.map`.

    Returns
    -------
    counts : SharedArray
        ``int64`` counts, one per bin.
    edges : SharedArray
        Bin edges, one more than the counts, in NumPy's dtype: for uniform
        bins float64, or float32 for float32 data (NumPy scalars in
        ``range`` take part as NumPy promotes them); explicit edges keep the
        dtype NumPy gives them (``[0, 2, 4]`` is int64, a float32 array
        stays float32; float16 and object edges become float64).

    Raises
    ------
    ArgumentTypeError
        If ``bins`` is neither an int nor a sequence of real numbers, or
        ``range`` is not a pair of numbers.
    ShapeError
        If ``bins`` is an array of edges that is not 1-D.
    InvalidArgumentError
        For ``bins < 1`` or more bins than an address holds, decreasing or
        NaN edges, a reversed or non-finite range, NaN/inf data without
        ``range``, or more bins than the range holds distinct floats.
    OutOfMemoryError
        If the counts or edges cannot be allocated (raised before any work).

    Notes
    -----
    Values are compared with the edges in the dtype NumPy promotes the two
    to: integers with integer edges exactly (``[2**53, 2**53 + 1]`` with
    edges ``[0, 2**53 + 1, 2**53 + 3]`` fall in different bins), otherwise
    as float64 (int64 and uint64 values beyond 2**53 round first, as
    against uniform bins, whose edges are floats); float32 data against
    float32 edges, as NumPy. More than 1024 uniform bins
    are binned without the edges: each worker computes a value's bin from
    the range and the bin count as NumPy does, corrected against the edges
    on either side, so the cost grows with the data, and with ``bins`` only
    for writing the outputs. When the data hold at least ``bins / 4``
    values, each worker keeps its counts in a row of a shared
    ``(workers, bins)`` int64 array (8 bytes per bin per worker).

    Examples
    --------
    >>> import shardmem as sm
    >>> counts, edges = sm.histogram([0, 1, 1, 2, 7], bins=4)
    >>> counts.tolist(), edges.tolist()
    ([3, 1, 0, 1], [0.0, 1.75, 3.5, 5.25, 7.0])
    >>> counts, edges = sm.histogram([2**53, 2**53 + 1], bins=[0, 2**53 + 1, 2**53 + 3])
    >>> counts.tolist(), edges.dtype
    ([1, 1], DType('int64'))
    """
    flat = _flat(x)
    kind = check_bins(bins)
    range_: _Range = (None, None)
    if isinstance(kind, int):  # NumPy ignores range= beside explicit edges
        bounds = None if range is None else check_range(range)
        range_ = (bounds, bin_spec(flat.dtype, range))
    check_pool(pool, "histogram")
    run = {"chunks": chunks, "pool": pool, "timeout": timeout}
    small = flat.dtype.kind in "biu" and flat.dtype.itemsize <= 2
    make = _small_int_histogram if small else _general_histogram
    return make(flat, kind, range_, **run)
