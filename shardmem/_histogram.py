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
``hi``, exactly as ``np.linspace`` computes them in float64, and a value
``v`` lands in bin ``i`` when ``edges[i] <= v < edges[i+1]`` (the last bin
includes ``hi``), as in NumPy. Values are compared as float64, as NumPy
does (int64 and uint64 values beyond 2**53 round first); with ``range=``,
NumPy's range filter compares 64-bit integers with int bounds exactly.
Float32 data are binned against float64 edges (NumPy would use float32
edges), bools as 0 and 1.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import reprlib
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, cast

from shardmem._array import SharedArray
from shardmem._creation import asarray, zeros
from shardmem._dtypes import as_float, as_index, check_real
from shardmem._engine import Pool, resolve_pool
from shardmem._errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from shardmem._kernels_histogram import (
    bin_counts,
    fill_edges,
    linspace_into,
    minmax,
    uniform_counts,
    value_counts,
)
from shardmem._map import Whole, as_operand, run_blockwise, whole
from shardmem._reduce import tree_combine

__all__ = ("histogram",)

Number = int | float
SHIPPED_EDGES = 1024  # uniform bins up to this many: edges travel with the tasks (bisect)


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


def _real(value: object) -> object:
    """A NumPy scalar as its Python value (range= takes them as bins= does)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def _check_range(range_: object) -> tuple[Number, Number]:
    pair = [_real(v) for v in range_] if isinstance(range_, tuple | list) else []
    if len(pair) != 2 or not all(isinstance(v, int | float) for v in pair):
        raise ArgumentTypeError(
            f"histogram(): range={range_!r} must be a pair of numbers (lo, hi) or None"
        )
    lo, hi = cast("tuple[Number, Number]", tuple(pair))
    if lo > hi:
        raise InvalidArgumentError(
            f"histogram(): range=({lo}, {hi}): max must be larger than min in range "
            "parameter; pass range=(lo, hi) with lo <= hi"
        )
    if not (math.isfinite(as_float(lo)) and math.isfinite(as_float(hi))):
        raise InvalidArgumentError(
            f"histogram(): supplied range of [{reprlib.repr(lo)}, {reprlib.repr(hi)}] is not "
            "finite (range= must hold float64 numbers, at most about 1.8e308); pass finite bounds"
        )
    return lo, hi


def _outer(lo: Number, hi: Number, auto: bool) -> tuple[Number, Number]:
    if auto and not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidArgumentError(
            f"histogram(): autodetected range of [{lo}, {hi}] is not finite; "
            "remove NaN/inf values or pass range=(lo, hi)"
        )
    if lo == hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def _too_many(bins: int, start: float, stop: float) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"histogram(): too many bins for data range: cannot create {bins} finite-sized "
        f"bins in [{start}, {stop}]; pass fewer bins or a wider range="
    )


type EdgeFiller = Callable[[float, float, int], None]


def fill_uniform_edges(
    out: memoryview, lo: Number, hi: Number, *, workers: EdgeFiller | None = None
) -> None:
    """Write ``np.linspace(lo, hi, len(out))`` into ``out``, computed the same way, in float64.

    More than ``SHIPPED_EDGES`` edges are written by ``workers(first, delta,
    bins)`` when given. Raises `InvalidArgumentError` when the edges do not
    increase (too many bins for the range, as NumPy refuses them).
    """
    bins = len(out) - 1
    start, stop = float(lo), float(hi)
    delta = stop - start
    step = delta / bins
    if not math.isfinite(step):
        raise _too_many(bins, start, stop)
    if workers is None or bins <= SHIPPED_EDGES:
        linspace_into(out[:bins], 0, start, delta, bins)
    else:
        workers(start, delta, bins)
    out[bins] = stop  # type: ignore[call-overload]  # a 'd' view takes floats
    if not _surely_increasing(start, stop, step) and any(
        map(operator.ge, out[:-1], out[1:], strict=True)
    ):
        raise _too_many(bins, start, stop)


def _surely_increasing(start: float, stop: float, step: float) -> bool:
    """Whether ``i * step + start`` rounds to strictly increasing values for every ``i``.

    Consecutive products differ by at least ``step`` less one rounding, and
    their sums with ``start`` by that less another: a step of four units in
    the last place of the largest magnitude keeps them apart.
    """
    largest = max(abs(start), abs(stop), abs(stop - start))
    return step > 4 * math.ulp(largest)


def _explicit_edges(bins: Sequence[object]) -> list[float]:
    edges = [check_real(v, f"bins[{i}]", "histogram") for i, v in enumerate(bins)]
    if len(edges) < 2 or any(not b >= a for a, b in itertools.pairwise(edges)):
        raise InvalidArgumentError(
            f"histogram(): bins={list(bins)!r} as edges must hold >= 2 values increasing "
            "monotonically; pass sorted edges or an int number of bins"
        )
    return edges


def _check_bins(bins: object) -> int | list[float]:
    if isinstance(bins, bool):
        raise ArgumentTypeError("histogram(): bins=True is not allowed; pass an int or edges")
    count = as_index(bins)
    if count is not None:
        if count < 1:
            raise InvalidArgumentError(
                f"histogram(): bins={bins} must be a positive integer; pass e.g. bins=10"
            )
        if count * 8 > sys.maxsize:
            raise InvalidArgumentError(
                f"histogram(): bins={bins} needs {count * 8} bytes of counts, more than the "
                f"maximum {sys.maxsize}; pass fewer bins"
            )
        return count
    if getattr(bins, "ndim", None) == 0:  # a NumPy float scalar, a 0-d array
        raise ArgumentTypeError(
            f"histogram(): bins={bins!r} must be an int number of bins or a 1-D sequence of "
            f"edges, not a 0-d {getattr(bins, 'dtype', type(bins).__name__)} value; pass "
            "bins=int(...) for that many bins, or a list of edges"
        )
    if hasattr(bins, "ndim") and hasattr(bins, "tolist"):  # SharedArray, NumPy array
        if bins.ndim != 1:
            raise ShapeError(
                f"histogram(): bins as an array of edges must be 1-D, not of shape "
                f"{getattr(bins, 'shape', '?')}; pass e.g. a.ravel() or an int number of bins"
            )
        return _explicit_edges(bins.tolist())
    if isinstance(bins, Sequence) and not isinstance(bins, str | bytes | bytearray):
        return _explicit_edges(bins)
    raise ArgumentTypeError(
        f"histogram(): bins={bins!r} must be an int or a sequence of edges (bin-width "
        "estimators such as bins='auto' are not supported)"
    )


class _Result:
    """The two outputs, allocated before any work (an impossible size fails first)."""

    def __init__(self, nbins: int) -> None:
        self.counts = zeros(nbins, dtype="int64")
        self.edges = zeros(nbins + 1, dtype="float64")

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


def _small_int_histogram(
    flat: SharedArray, bins: int | list[float], range_: tuple[Number, Number] | None, **run: object
) -> tuple[SharedArray, SharedArray]:
    total: Counter[int] = Counter()
    for part in _run(value_counts, flat, **run):  # type: ignore[arg-type]
        total.update(cast("dict[int, int]", part))
    result = _Result(bins if isinstance(bins, int) else len(bins) - 1)
    _fill_edges(result, bins, range_, lambda: (min(total), max(total)), bool(total), run=run)
    _bin_values(total, result.edges_view(), result.counts_view())
    return result.counts, result.edges


def _fill_edges(
    result: _Result,
    bins: int | list[float],
    range_: tuple[Number, Number] | None,
    extremes: object,
    nonempty: bool,
    *,
    run: dict[str, Any],
) -> tuple[Number, Number]:
    """Write the edges into ``result``; return the outer edges (before float rounding)."""
    if not isinstance(bins, int):
        result.edges_view()[:] = array("d", bins)
        return bins[0], bins[-1]
    if range_ is not None:
        outer = _outer(*range_, auto=False)
    elif not nonempty:
        outer = (0, 1)
    else:
        lo, hi = extremes()  # type: ignore[operator]
        outer = _outer(lo, hi, auto=True)

    def workers(first: float, delta: float, nbins: int) -> None:
        edges = cast("SharedArray", result.edges[:nbins])
        params = {"first": first, "delta": delta, "nbins": nbins}
        _run(fill_edges, edges, chunks=None, pool=run["pool"], timeout=run["timeout"], **params)

    fill_uniform_edges(result.edges_view(), *outer, workers=workers)
    return outer


def _nan_pair(a: tuple[Number, Number], b: tuple[Number, Number]) -> tuple[Number, Number]:
    if math.isnan(a[0]) or math.isnan(b[0]):
        return (math.nan, math.nan)
    return (min(a[0], b[0]), max(a[1], b[1]))


def _general_histogram(
    flat: SharedArray, bins: int | list[float], range_: tuple[Number, Number] | None, **run: object
) -> tuple[SharedArray, SharedArray]:
    def extremes() -> tuple[Number, Number]:
        pairs = _run(minmax, flat, **run)  # type: ignore[arg-type]
        return tree_combine(cast("list[tuple[Number, Number]]", pairs), _nan_pair)

    nbins = bins if isinstance(bins, int) else len(bins) - 1
    result = _Result(nbins)
    outer = _fill_edges(result, bins, range_, extremes, flat.size > 0, run=run)
    if not flat.size:
        return result.counts, result.edges
    keep = _keep(range_, outer)
    if isinstance(bins, int) and bins > SHIPPED_EDGES:
        _uniform(flat, result, outer, keep, **run)
    else:
        _bisected(flat, result, keep, **run)
    return result.counts, result.edges


def _bisected(
    flat: SharedArray, result: _Result, keep: tuple[Number, Number, bool] | None, **run: Any
) -> None:
    """Bin by bisection against the edges: a few travel with each task, more are shared."""
    if result.edges.size <= SHIPPED_EDGES + 1:
        parts = _run(bin_counts, flat, edges=tuple(result.edges_view().tolist()), keep=keep, **run)
    else:
        parts = _run(bin_counts, flat, whole(result.edges), keep=keep, **run)
    out = result.counts_view()
    for part in parts:
        for index, count in cast("dict[int, int]", part).items():
            out[index] += count


def _uniform(
    flat: SharedArray,
    result: _Result,
    outer: tuple[Number, Number],
    keep: tuple[Number, Number, bool] | None,
    **run: Any,
) -> None:
    """Bin by arithmetic in the workers: only the range and the bin count travel."""
    lo, hi = outer
    nbins = result.counts.size
    both_int = isinstance(lo, int) and isinstance(hi, int)
    denom = float(hi - lo) if both_int else float(hi) - float(lo)  # NumPy's _unsigned_subtract
    pool = resolve_pool(run["pool"])
    dense = flat.size * 4 >= nbins  # shards may fill more bins than a dict should carry
    rows = zeros((pool.size, nbins) if dense else 0, dtype="int64")
    parts = _run(
        uniform_counts,
        flat,
        whole(rows),
        first=float(lo),
        stop=float(hi),
        denom=denom,
        nbins=nbins,
        keep=keep,
        chunks=run["chunks"],
        pool=pool,
        timeout=run["timeout"],
    )
    out = result.counts_view()
    filled = sorted({p for p in parts if isinstance(p, int)})
    if filled:
        flat_rows = memoryview(rows).cast("B").cast("q")
        total = array("q", flat_rows[filled[0] * nbins : (filled[0] + 1) * nbins])
        for rank in filled[1:]:
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
        ``(0, 1)`` for empty data). Values outside are not counted.
    chunks : int, optional
        Number of dynamically scheduled chunks; default one shard per worker.
    pool, timeout
        As for :func:`shardmem.map`.

    Returns
    -------
    counts : SharedArray
        ``int64`` counts, one per bin.
    edges : SharedArray
        ``float64`` bin edges, one more than the counts.

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
    Values are binned as float64, as NumPy bins integers (so int64 and
    uint64 values beyond 2**53 round first). More than 1024 uniform bins
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
    """
    flat = _flat(x)
    kind = _check_bins(bins)
    range_ = None if range is None else _check_range(range)
    run = {"chunks": chunks, "pool": pool, "timeout": timeout}
    small = flat.dtype.kind in "biu" and flat.dtype.itemsize <= 2
    make = _small_int_histogram if small else _general_histogram
    return make(flat, kind, range_, **run)
