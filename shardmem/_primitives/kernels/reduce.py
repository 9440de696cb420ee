"""Worker-side kernels of the built-in reductions (stdlib only; run inside workers).

Each returns one Python number for its shard; the caller combines partials.
"""

from __future__ import annotations

import math
import operator
import zlib
from typing import Any

__all__ = (
    "axis_partial",
    "divide_by",
    "dot_partial",
    "fold_task",
    "max_partial",
    "min_partial",
    "sum_partial",
)


def sum_partial(x: memoryview) -> int | float:
    """Exact for ints and bools; compensated (Neumaier) ``sum()`` for floats.

    One-byte elements (uint8, int8, bool) are summed by ``zlib.adler32`` over
    runs of bytes, about 5x faster than ``sum()`` over the memoryview; a reversed
    shard is summed forwards; other strided shards (copying them would cost more
    than it saves) by ``sum()``.
    """
    if x.format in ("B", "b", "?"):
        if x.ndim == 1 and x.strides == (-1,):
            x = x[::-1]  # the same bytes, forwards (a sum does not depend on the order)
        if x.c_contiguous:
            return _byte_sum(x)
    return sum(x)


_ADLER_RUN = 256  # bytes per adler32 call: their sum (at most 65,280) fits its modulus, 65,521
_SIGN_BIT = bytes(v >> 7 for v in range(256))  # byte -> 1 where an int8 is negative, else 0


def _byte_sum(x: memoryview) -> int:
    """Sum of one-byte elements at C speed.

    adler32's low 16 bits are ``1 + sum(bytes) % 65521``; over 256 bytes the
    sum is below the modulus, so each run gives its exact sum. An int8 sum is
    the unsigned one minus 256 per negative element; a bool sum counts the
    bytes that are not zero.
    """
    raw = x.cast("B")
    n = len(raw)
    if x.format == "?":
        return n - raw.tobytes().count(0)
    step = _ADLER_RUN
    bounds = map(slice, range(0, n, step), range(step, n + step, step), strict=True)
    runs = map(raw.__getitem__, bounds)
    total = sum(map((0xFFFF).__and__, map(zlib.adler32, runs))) - (n + step - 1) // step
    if x.format == "b":
        total -= 256 * raw.tobytes().translate(_SIGN_BIT).count(1)
    return total


def _nan_in(x: memoryview) -> bool:
    if x.format not in ("f", "d"):
        return False
    total = sum(x)
    return math.isnan(total) and any(map(math.isnan, x))


def _backwards(x: memoryview) -> memoryview:
    """Float shards read from the end, so that among equal values (0.0 and -0.0)
    ``min``/``max``, which keep the first they see, keep the last, as NumPy does."""
    return x[::-1] if x.format in ("f", "d") else x


def min_partial(x: memoryview) -> object:
    """Smallest element (the last of equal ones); NaN when the shard holds one (like NumPy)."""
    return math.nan if _nan_in(x) else min(_backwards(x))


def max_partial(x: memoryview) -> object:
    """Largest element (the last of equal ones); NaN when the shard holds one (like NumPy)."""
    return math.nan if _nan_in(x) else max(_backwards(x))


def dot_partial(a: memoryview, b: memoryview) -> int | float:
    """``sum(a[i] * b[i])``: exact for ints, compensated sum of exact products for floats."""
    return sum(map(operator.mul, a, b, strict=True))  # type: ignore[no-any-return]


def axis_partial(x: memoryview, out: Any, *, op: str, n: int, inner: int, start: int) -> None:
    """Reduce along one axis: ``x`` is the whole input, seen as ``(outer, n, inner)``.

    Output element ``k`` (this shard's first is ``start``) reduces the ``n``
    elements ``x[a, :, b]`` with ``a, b = divmod(k, inner)``: one strided
    slice, summed or searched at C speed.
    """
    step = n * inner
    wrap = out.format in ("q", "Q")  # integer sums wrap around at 64 bits, as NumPy's do
    for i in range(len(out)):
        a, b = divmod(start + i, inner)
        line = x[a * step + b : (a + 1) * step : inner]
        if op == "sum":
            total = sum(line)
            if wrap:
                total &= 0xFFFF_FFFF_FFFF_FFFF
                if out.format == "q" and total >= 1 << 63:
                    total -= 1 << 64
            out[i] = total
        elif _nan_in(line):
            out[i] = math.nan
        else:
            line = _backwards(line)
            out[i] = min(line) if op == "min" else max(line)


def divide_by(x: memoryview, out: Any, *, n: float) -> None:
    """``out[i] = x[i] / n`` (the mean from the sum, in place)."""
    for i in range(len(out)):
        out[i] = x[i] / n


_USER_KERNEL: Any = None  # bound per call in a copy of fold_task's globals
_USER_COMBINE: Any = None


def fold_task(
    *args: Any,
    ranges: list[tuple[int, int]],
    rows: int,
    row_sizes: tuple[int, ...],
    ref_shape: tuple[int, ...],
    overlap: int,
    wanted: tuple[str, ...],
    params: dict[str, Any],
) -> tuple[Any, ...]:
    """One rank's share of a ``reduce(..., in_workers=True)``: its chunks, folded here.

    ``args`` are whole flat views (``row_sizes[i] > 0``) or values passed as
    they are (0). Each chunk sees its rows plus ``overlap`` more, as in a
    plain reduce; its partial is combined with the previous ones in this
    interpreter, so one partial per rank travels back. Returns ``()`` for a
    rank without chunks, else ``(partial,)``.
    """
    kernel, combine = _USER_KERNEL, _USER_COMBINE
    ref_row = 1
    for n in ref_shape[1:]:
        ref_row *= n
    folded: tuple[Any, ...] = ()
    for lo, hi in ranges:
        end = min(hi + overlap, rows)
        views = [a[lo * rs : end * rs] if rs else a for a, rs in zip(args, row_sizes, strict=True)]
        extra = {
            "start": lo * ref_row,
            "shape": (hi - lo, *ref_shape[1:]),
            "own": (hi - lo) * ref_row,
        }
        kw = dict(params)
        for name in wanted:
            kw[name] = extra[name]
        part = kernel(*views, **kw)
        folded = (combine(folded[0], part),) if folded else (part,)
    return folded
