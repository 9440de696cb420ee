"""Worker-side kernels of :func:`shardmem.histogram` (stdlib only; run inside workers).

Values are compared with the edges as float64, as NumPy does (int64 and
uint64 values beyond 2**53 are rounded to float64 first). ``keep``, when
given, is the range filter NumPy applies before binning: ``(lo, hi,
as_float)``, comparing the values themselves with int bounds, or their
float64 values with float bounds.
"""

from __future__ import annotations

import bisect
import collections
import functools
import itertools
import math
import operator
from array import array
from collections.abc import Iterable
from typing import Any

__all__ = ("bin_counts", "fill_edges", "linspace_into", "minmax", "uniform_counts", "value_counts")


def value_counts(x: memoryview) -> dict[int, int]:
    """How often each value occurs (for 1- and 2-byte integer and bool shards)."""
    if x.format in ("B", "?"):
        return dict(collections.Counter(x.cast("B").tobytes()))
    return dict(collections.Counter(x))


def _kept(x: memoryview, keep: tuple[Any, Any, bool] | None) -> Iterable[Any]:
    """The shard's values as float64, filtered to ``keep``'s range when given."""
    wide = x.format in ("q", "Q")  # the only formats whose values a float64 can round
    values: Iterable[Any] = x
    if keep is not None:
        lo, hi, as_float = keep
        if as_float and wide:
            values = map(float, values)
            wide = False
        values = filter(functools.partial(operator.le, lo), values)
        values = filter(functools.partial(operator.ge, hi), values)
    return map(float, values) if wide else values


def bin_counts(
    x: memoryview,
    *shared: memoryview,
    edges: tuple[float, ...] | None = None,
    keep: tuple[Any, Any, bool] | None = None,
) -> dict[int, int]:
    """Counts of ``edges[i] <= v < edges[i+1]``, the last bin also holding ``edges[-1]``.

    ``edges`` travel with the task when few, else they are the shared view
    ``shared[0]``. Returns the bins that hold values: ``{bin: count}``.
    """
    bounds: Any = edges if edges is not None else shared[0]
    values = list(_kept(x, keep))
    found = collections.Counter(map(bisect.bisect_right, itertools.repeat(bounds), values))
    last = len(bounds) - 1
    counts = {i - 1: n for i, n in found.items() if 0 < i <= last}
    on_last = operator.countOf(values, bounds[last])
    if on_last:
        counts[last - 1] = counts.get(last - 1, 0) + on_last
    return counts


def uniform_counts(
    x: memoryview,
    rows: memoryview,
    *,
    first: float,
    stop: float,
    denom: float,
    nbins: int,
    keep: tuple[Any, Any, bool] | None,
    rank: int,
) -> dict[int, int] | int:
    """Counts of ``nbins`` equal bins from ``first`` to ``stop``, without the edges.

    The bin index is computed as NumPy's ``np.histogram`` computes it,
    ``int((v - first) / denom * nbins)``, then corrected against the edge
    ``i * step + first`` (``np.linspace``'s) on either side, so a value that
    lands on an edge by rounding goes where NumPy puts it; the last bin holds
    ``stop``. Returns the counts as a dict when the shard is small next to
    ``nbins``; else adds them into row ``rank`` of ``rows`` (one row of
    ``nbins`` per worker) and returns ``rank``.
    """
    dense = len(rows) > 0 and len(x) * 4 >= nbins
    counts: Any = [0] * nbins if dense else collections.defaultdict(int)
    _count_into(counts, _kept(x, keep), first, stop, denom, nbins)
    if not dense:
        return dict(counts)
    row = rows[rank * nbins : (rank + 1) * nbins]
    row[:] = array("q", map(operator.add, row, counts, strict=True))
    return rank


def _count_into(  # noqa: PLR0917 - the hot loop's constants, passed once
    counts: Any, values: Iterable[float], first: float, stop: float, denom: float, nbins: int
) -> None:
    """``counts[i] += 1`` for the bin ``i`` of each value (one loop: this is the hot path)."""
    delta = stop - first
    step = delta / nbins
    last = nbins - 1
    if not step:  # denormal steps: linspace computes i / nbins * delta + first
        for v in values:
            i = min(int((v - first) / denom * nbins), last)
            if v < i / nbins * delta + first:
                i -= 1
            elif i != last and v >= (i + 1) / nbins * delta + first:
                i += 1
            counts[i] += 1
        return
    for v in values:
        i = int((v - first) / denom * nbins)
        if i > last:  # noqa: PLR1730 - min() is a call in the hot loop
            i = last  # NumPy: an index of nbins (v on the last edge) less one
        if v < i * step + first:
            i -= 1
        elif i != last and v >= (i + 1) * step + first:
            i += 1
        counts[i] += 1


def linspace_into(out: memoryview, offset: int, first: float, delta: float, nbins: int) -> None:
    """``out[k]`` = edge ``offset + k`` of ``np.linspace(first, first + delta, nbins + 1)``.

    As NumPy computes it: ``i * step + first`` with ``step = delta / nbins``,
    or ``i / nbins * delta + first`` when ``step`` is 0 (denormal); the last
    edge (``stop``) is the caller's to set.
    """
    indices = range(offset, offset + len(out))
    step = delta / nbins
    if step:
        scaled: Iterable[float] = map(operator.mul, indices, itertools.repeat(step))
    else:
        fractions = map(operator.truediv, indices, itertools.repeat(nbins))
        scaled = map(operator.mul, fractions, itertools.repeat(delta))
    out[:] = array("d", map(operator.add, scaled, itertools.repeat(first)))


def fill_edges(out: memoryview, *, start: int, first: float, delta: float, nbins: int) -> None:
    """A shard of the uniform edges (``start``: its first index), see `linspace_into`."""
    linspace_into(out, start, first, delta, nbins)


def minmax(x: memoryview) -> tuple[object, object]:
    """``(min, max)`` of the shard, ``(nan, nan)`` if it holds a NaN."""
    if x.format in ("f", "d"):
        total = sum(x)
        if math.isnan(total) and any(map(math.isnan, x)):
            return (math.nan, math.nan)
    return (min(x), max(x))
