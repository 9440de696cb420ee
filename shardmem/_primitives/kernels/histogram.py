"""Worker-side kernels of :func:`shardmem.histogram` (stdlib only; run inside workers).

Values are compared with the edges as float64 (int64 and uint64 values
beyond 2**53 rounded first), as NumPy does for float edges, or exactly as
ints (``exact``) where NumPy compares integers with integer edges.
Float32 edges hold float32 values, so comparing them with float32 data as
float64 is NumPy's float32 comparison. ``keep``, when given, is the range
filter NumPy applies before binning: ``(lo, hi, as_float)``, comparing the
values themselves with int bounds, or their float64 values with float
bounds.
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


def _kept(x: memoryview, keep: tuple[Any, Any, bool] | None, exact: bool = False) -> Iterable[Any]:
    """The shard's values as float64 (as ints if ``exact``), filtered to ``keep``'s range."""
    wide = not exact and x.format in ("q", "Q")  # the formats whose values a float64 can round
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
    exact: bool = False,
) -> dict[int, int]:
    """Counts of ``edges[i] <= v < edges[i+1]``, the last bin also holding ``edges[-1]``.

    ``edges`` travel with the task when few, else they are the shared view
    ``shared[0]``; ``exact``: compare 64-bit integer values as ints (the
    edges are ints then). Returns the bins that hold values: ``{bin: count}``.
    """
    bounds: Any = edges if edges is not None else shared[0]
    values = list(_kept(x, keep, exact))
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
    *shared: memoryview,
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
    ``stop``. When the edges are not those float64 ones (float32 edges, or
    edges NumPy computed), they are the shared view ``shared[0]`` and the
    index is corrected against them instead. Returns the counts as a dict
    when the shard is small next to ``nbins``; else adds them into row
    ``rank`` of ``rows`` (one row of ``nbins`` per worker) and returns ``rank``.
    """
    dense = len(rows) > 0 and len(x) * 4 >= nbins
    counts: Any = [0] * nbins if dense else collections.defaultdict(int)
    if shared:
        _count_against(counts, _kept(x, keep), shared[0], first, denom, nbins)
    else:
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


def _count_against(  # noqa: PLR0917 - the hot loop's constants, passed once
    counts: Any, values: Iterable[float], edges: Any, first: float, denom: float, nbins: int
) -> None:
    """As `_count_into`, correcting the computed index against the shared ``edges``."""
    last = nbins - 1
    for v in values:
        i = int((v - first) / denom * nbins)
        if i > last:  # noqa: PLR1730 - min() is a call in the hot loop
            i = last
        if v < edges[i]:
            i -= 1
        elif i != last and v >= edges[i + 1]:
            i += 1
        counts[i] += 1


def linspace_into(  # noqa: PLR0917 - mirrors np.linspace's arguments
    out: memoryview, offset: int, first: float, delta: float, nbins: int, f32: bool = False
) -> None:
    """``out[k]`` = edge ``offset + k`` of ``np.linspace(first, first + delta, nbins + 1)``.

    As NumPy computes it: ``i * step + first`` with ``step = delta / nbins``,
    or ``i / nbins * delta + first`` when ``step`` is 0 (denormal); the last
    edge (``stop``) is the caller's to set. In float64, rounded once to
    ``out``'s format; with ``f32`` every operation is rounded to float32, as
    NumPy's ``linspace`` computes between float32 bounds (``first`` and
    ``delta`` are float32 values then). A float32 operation is the float64
    one rounded to float32: 53 bits are more than twice 24 plus 2, so the
    double rounding is harmless.
    """
    indices: Iterable[float] = range(offset, offset + len(out))
    if f32:
        indices = array("f", indices)  # np.arange in float32 (exact below 2**24)
        step = array("f", [delta / nbins])[0]
    else:
        step = delta / nbins
    if step:
        scaled: Iterable[float] = map(operator.mul, indices, itertools.repeat(step))
    else:
        fractions: Iterable[float] = map(operator.truediv, indices, itertools.repeat(nbins))
        if f32:
            fractions = array("f", fractions)
        scaled = map(operator.mul, fractions, itertools.repeat(delta))
    if f32:
        scaled = array("f", scaled)
    out[:] = array(out.format, map(operator.add, scaled, itertools.repeat(first)))


def fill_edges(
    out: memoryview, *, start: int, first: float, delta: float, nbins: int, f32: bool = False
) -> None:
    """A shard of the uniform edges (``start``: its first index), see `linspace_into`."""
    linspace_into(out, start, first, delta, nbins, f32)


def minmax(x: memoryview) -> tuple[object, object]:
    """``(min, max)`` of the shard, ``(nan, nan)`` if it holds a NaN."""
    if x.format in ("f", "d"):
        total = sum(x)
        if math.isnan(total) and any(map(math.isnan, x)):
            return (math.nan, math.nan)
    return (min(x), max(x))
