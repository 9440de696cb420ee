"""Worker-side kernels of the built-in reductions (stdlib only; run inside workers).

Each returns one Python number for its shard; the caller combines partials.
"""

from __future__ import annotations

import math
import operator

__all__ = ("dot_partial", "max_partial", "min_partial", "sum_partial")


def sum_partial(x: memoryview) -> int | float:
    """Exact for ints and bools; compensated (Neumaier) ``sum()`` for floats."""
    return sum(x)


def _nan_in(x: memoryview) -> bool:
    if x.format not in ("f", "d"):
        return False
    total = sum(x)
    return math.isnan(total) and any(map(math.isnan, x))


def min_partial(x: memoryview) -> object:
    """Smallest element; NaN when the shard holds one (like NumPy)."""
    return math.nan if _nan_in(x) else min(x)


def max_partial(x: memoryview) -> object:
    """Largest element; NaN when the shard holds one (like NumPy)."""
    return math.nan if _nan_in(x) else max(x)


def dot_partial(a: memoryview, b: memoryview) -> int | float:
    """``sum(a[i] * b[i])``: exact for ints, compensated sum of exact products for floats."""
    return sum(map(operator.mul, a, b, strict=True))  # type: ignore[no-any-return]
