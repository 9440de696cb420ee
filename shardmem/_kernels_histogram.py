"""Worker-side kernels of :func:`shardmem.histogram` (stdlib only; run inside workers)."""

from __future__ import annotations

import bisect
import collections
import itertools
import math
import operator

__all__ = ("bin_counts", "minmax", "value_counts")


def value_counts(x: memoryview) -> dict[int, int]:
    """How often each value occurs (for 1- and 2-byte integer and bool shards)."""
    if x.format in ("B", "?"):
        return dict(collections.Counter(x.cast("B").tobytes()))
    return dict(collections.Counter(x))


def bin_counts(x: memoryview, *, edges: tuple[float, ...]) -> tuple[int, ...]:
    """Counts of ``edges[i] <= v < edges[i+1]``, the last bin also holding ``edges[-1]``."""
    found = collections.Counter(map(bisect.bisect_right, itertools.repeat(edges), x))
    counts = [found.get(i, 0) for i in range(1, len(edges))]
    counts[-1] += operator.countOf(x, edges[-1])
    return tuple(counts)


def minmax(x: memoryview) -> tuple[object, object]:
    """``(min, max)`` of the shard, ``(nan, nan)`` if it holds a NaN."""
    if x.format in ("f", "d"):
        total = sum(x)
        if math.isnan(total) and any(map(math.isnan, x)):
            return (math.nan, math.nan)
    return (min(x), max(x))
