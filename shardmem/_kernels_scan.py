"""Worker-side code of ``scan`` (standard library only; shipped to worker interpreters).

``scan_task`` is the gang kernel. The caller runs a copy of it whose globals
bind ``_USER_OP`` to the scan's operator, so the operator travels with it
(see ``shardmem._scan._bind``).
"""

from __future__ import annotations

import functools
import operator
from array import array
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any

__all__ = ("CHUNK", "bounded", "scan_task", "store", "wrap")

type Op = Callable[[Any, Any], Any]

_USER_OP: Op | None = None  # bound per call in a copy of the globals
CHUNK = 1 << 16  # elements scanned and stored at a time (bounds the worker's memory)


def wrap(value: Any, fmt: str, bits: int) -> Any:
    """``value`` reduced into the range of ``fmt`` (two's complement), for integer formats.

    >>> wrap(300, "B", 8), wrap(-129, "b", 8), wrap(2.5, "d", 64), wrap(3, "?", 8)
    (44, 127, 2.5, True)
    """
    if fmt == "?":
        return bool(value)
    if fmt in ("f", "d"):
        return value
    value &= (1 << bits) - 1
    if fmt.islower() and value >> (bits - 1):
        value -= 1 << bits
    return value


def store(out: memoryview, lo: int, values: list[Any], fmt: str, bits: int) -> None:
    """Write ``values`` to ``out[lo:]``; integers wrap into range, bools store truth values."""
    if fmt == "?":
        data: Any = memoryview(bytes(map(bool, values))).cast("?")
    else:
        try:
            data = array(fmt, values)
        except OverflowError:
            mask = (1 << bits) - 1  # two's complement: keep the low bits, reinterpret
            unsigned = array(fmt.upper(), map(mask.__and__, values))
            data = memoryview(unsigned).cast("B").cast(fmt)  # type: ignore[call-overload]
    out[lo : lo + len(values)] = data


def _values(x: memoryview, lo: int, hi: int, cast: str) -> Iterable[Any]:
    shard = x[lo:hi]
    if cast == "float":
        return map(float, shard)
    if cast == "int":
        return map(int, shard)
    return shard


def bounded(op: Op, fmt: str, bits: int) -> Op:
    """``op`` wrapped into the integer range of ``fmt`` after every step.

    Used for integer scans whose values could grow without bound (``*`` and
    Python functions): a product of many int64 values would otherwise become
    a huge Python int. ``+``, ``max``, ``min`` and bitwise ops keep ``op``.
    """
    if fmt in ("?", "f", "d"):
        return op
    if op in (operator.add, max, min, operator.and_, operator.or_, operator.xor):
        return op
    mask = (1 << bits) - 1
    if fmt.isupper():
        return lambda a, b: op(a, b) & mask
    half = 1 << (bits - 1)
    return lambda a, b: ((op(a, b) + half) & mask) - half


def _total(
    x: memoryview, lo: int, hi: int, op: Op, how: tuple[str, str, int], *, start: tuple[bool, Any]
) -> Any:
    """``start op x[lo] op ... op x[hi-1]``, left to right (phase 1)."""
    cast, fmt, _ = how
    have, first = start
    values = _values(x, lo, hi, cast)
    if op is operator.add and fmt not in ("f", "d") and cast == "":
        return sum(values, first) if have else sum(values)  # exact for ints, faster than reduce
    return functools.reduce(op, values, first) if have else functools.reduce(op, values)


def _scan_into(
    x: memoryview,
    out: memoryview,
    *,
    span: tuple[int, int],
    op: Op,
    start: tuple[bool, Any],
    inclusive: bool,
    how: tuple[str, str, int],
) -> Any:
    """Scan ``x[lo:hi]`` into ``out[lo:hi]`` chunk by chunk from ``start``; return the last."""
    cast, fmt, bits = how
    have, carry = start
    lo, hi = span
    for a in range(lo, hi, CHUNK):
        b = min(a + CHUNK, hi)
        values = _values(x, a, b, cast)
        run = list(accumulate(values, op, initial=carry) if have else accumulate(values, op))
        carry = run[-1]
        if have:
            del run[0 if inclusive else -1]
        have = True
        store(out, a, run, fmt, bits)
        carry = wrap(carry, fmt, bits)
    return carry


def _offset(totals: memoryview, lower: tuple[int, ...], op: Op) -> Any:
    """The published values of the ``lower`` ranks combined left to right."""
    acc = totals[lower[0]]
    for rank in lower[1:]:
        acc = op(acc, totals[rank])
    return acc


def scan_task(
    x: memoryview,
    out: memoryview,
    totals: memoryview,
    *,
    lo: int,
    hi: int,
    slot: int,
    lower: tuple[int, ...],
    publish: bool,
    inclusive: bool,
    initial: Any,
    cast: str,
    fmt: str,
    bits: int,
    barrier: Callable[[], None],
) -> None:
    """Scan elements ``lo:hi`` (gang kernel: one task per rank).

    Phase 1: a rank whose total a later rank needs (``publish``) computes it
    (from ``initial`` on the first non-empty rank) and publishes it at
    ``totals[slot]``. After the barrier, phase 2: each rank combines the
    totals of the ``lower`` ranks, left to right, into an offset and scans its
    shard from it into ``out``. Nothing is written before the barrier, and
    each rank writes only its own shard, so ``out`` may be ``x``.
    """
    op = _USER_OP
    if op is None:
        raise RuntimeError("scan_task was called without a bound operator")
    how = (cast, fmt, bits)
    step = bounded(op, fmt, bits)
    first = (initial is not None, initial)
    if hi > lo and publish:
        total = _total(x, lo, hi, step, how, start=first if not lower else (False, None))
        totals[slot] = wrap(total, totals.format, bits)
    barrier()
    if hi > lo:
        start = (True, _offset(totals, lower, step)) if lower else first
        _scan_into(x, out, span=(lo, hi), op=step, start=start, inclusive=inclusive, how=how)
