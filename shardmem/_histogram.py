"""``histogram``: bin counts like ``np.histogram``, one partial histogram per shard.

Two paths, both exact integer counts summed in the main interpreter:

* 1- and 2-byte integers and bools: each shard counts its distinct values
  (``collections.Counter`` over the bytes); the main interpreter bins at
  most 65536 distinct values. One pass, for any ``bins``/``range``.
* Other dtypes: one pass for ``(min, max)`` when ``range`` is not given,
  then one ``bisect`` pass per shard against the edges.

Edges are ``i * step + lo`` for uniform bins, with the last edge set to
``hi``, exactly as ``np.linspace`` computes them in float64, and a value
``v`` lands in bin ``i`` when ``edges[i] <= v < edges[i+1]`` (the last bin
includes ``hi``), as in NumPy. Float32 data are binned against float64
edges (NumPy would use float32 edges), bools as 0 and 1.
"""

from __future__ import annotations

import bisect
import itertools
import math
import sys
from collections import Counter
from collections.abc import Sequence
from typing import cast

from shardmem._array import SharedArray
from shardmem._creation import asarray
from shardmem._dtypes import as_index, check_real
from shardmem._engine import Pool, resolve_pool
from shardmem._errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from shardmem._kernels_histogram import bin_counts, minmax, value_counts
from shardmem._map import as_operand, run_blockwise
from shardmem._reduce import tree_combine

__all__ = ("histogram",)

Number = int | float


def _flat(x: object) -> SharedArray:
    value = as_operand(x, "histogram")
    array = value if isinstance(value, SharedArray) else asarray(value)
    return array.reshape((array.size,))


def _run(
    kernel: object,
    flat: SharedArray,
    *,
    chunks: int | None,
    pool: Pool | None,
    timeout: float | None,
    **params: object,
) -> list[object]:
    run_on = resolve_pool(pool)
    results, _ = run_blockwise(
        kernel,  # type: ignore[arg-type]
        [flat],
        flat.shape,
        run_on,
        chunks=chunks,
        params=params,
        timeout=timeout,
    )
    return results


def _check_range(range_: object) -> tuple[Number, Number]:
    pair = list(range_) if isinstance(range_, tuple | list) else []
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
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidArgumentError(
            f"histogram(): supplied range of [{lo}, {hi}] is not finite; pass finite bounds"
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


def uniform_edges(lo: Number, hi: Number, bins: int) -> list[float]:
    """``np.linspace(lo, hi, bins + 1)`` computed the same way, in float64.

    >>> uniform_edges(0, 1, 4)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    start, stop = float(lo), float(hi)
    step = (stop - start) / bins
    if step == 0:
        edges = [i / bins * (stop - start) + start for i in range(bins + 1)]
    else:
        edges = [i * step + start for i in range(bins + 1)]
    edges[-1] = stop
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise InvalidArgumentError(
            f"histogram(): too many bins for data range: cannot create {bins} finite-sized "
            f"bins in [{start}, {stop}]; pass fewer bins or a wider range="
        )
    return edges


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


def _bin_values(counts: Counter[int], edges: list[float]) -> list[int]:
    out = [0] * (len(edges) - 1)
    last = edges[-1]
    for value, count in counts.items():
        index = len(out) - 1 if value == last else bisect.bisect_right(edges, value) - 1
        if 0 <= index < len(out):
            out[index] += count
    return out


def _small_int_histogram(
    flat: SharedArray, bins: int | list[float], range_: tuple[Number, Number] | None, **run: object
) -> tuple[list[int], list[float]]:
    total: Counter[int] = Counter()
    for part in _run(value_counts, flat, **run):  # type: ignore[arg-type]
        total.update(cast("dict[int, int]", part))
    edges = _edges_for(bins, range_, lambda: (min(total), max(total)), bool(total))
    return _bin_values(total, edges), edges


def _edges_for(
    bins: int | list[float],
    range_: tuple[Number, Number] | None,
    extremes: object,
    nonempty: bool,
) -> list[float]:
    if not isinstance(bins, int):
        return bins
    if range_ is not None:
        return uniform_edges(*_outer(*range_, auto=False), bins)
    if not nonempty:
        return uniform_edges(0, 1, bins)
    lo, hi = extremes()  # type: ignore[operator]
    return uniform_edges(*_outer(lo, hi, auto=True), bins)


def _nan_pair(a: tuple[Number, Number], b: tuple[Number, Number]) -> tuple[Number, Number]:
    if math.isnan(a[0]) or math.isnan(b[0]):
        return (math.nan, math.nan)
    return (min(a[0], b[0]), max(a[1], b[1]))


def _general_histogram(
    flat: SharedArray, bins: int | list[float], range_: tuple[Number, Number] | None, **run: object
) -> tuple[list[int], list[float]]:
    def extremes() -> tuple[Number, Number]:
        pairs = _run(minmax, flat, **run)  # type: ignore[arg-type]
        return tree_combine(cast("list[tuple[Number, Number]]", pairs), _nan_pair)

    edges = _edges_for(bins, range_, extremes, flat.size > 0)
    counts = [0] * (len(edges) - 1)
    if flat.size:
        for part in _run(bin_counts, flat, edges=tuple(edges), **run):  # type: ignore[arg-type]
            counts = [a + b for a, b in zip(counts, part, strict=True)]  # type: ignore[call-overload]
    return counts, edges


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
        Lower and upper edge; default the data's min and max (widened by 0.5
        on both sides when they are equal; ``(0, 1)`` for empty data).
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
        For ``bins < 1`` or more bins than fit memory, decreasing or NaN
        edges, a reversed or non-finite range, or NaN/inf data without ``range``.

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
    counts, edges = make(flat, kind, range_, **run)
    return asarray(counts, dtype="int64"), asarray(edges, dtype="float64")
