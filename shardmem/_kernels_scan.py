"""Worker-side code of ``scan`` (standard library only; shipped to worker interpreters).

``scan_task`` is the gang kernel. The caller runs a copy of it whose globals
bind ``_USER_OP`` to the scan's operator, so the operator travels with it
(see ``shardmem._scan._bind``).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from itertools import accumulate, repeat
from typing import Any

__all__ = ("scan_task", "store", "wrap")

_USER_OP: Callable[[Any, Any], Any] | None = None  # bound per call in a copy of the globals


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


def _offset(
    totals: memoryview, lower: tuple[int, ...], op: Callable[[Any, Any], Any], initial: Any
) -> tuple[bool, Any]:
    """``initial`` (when given) combined with the totals of the lower ranks, left to right."""
    have, acc = initial is not None, initial
    for rank in lower:
        acc = op(acc, totals[rank]) if have else totals[rank]
        have = True
    return have, acc


def scan_task(
    x: memoryview,
    out: memoryview,
    totals: memoryview,
    *,
    lo: int,
    hi: int,
    slot: int,
    lower: tuple[int, ...],
    inclusive: bool,
    initial: Any,
    cast: str,
    fmt: str,
    bits: int,
    barrier: Callable[[], None],
) -> None:
    """Scan elements ``lo:hi`` (gang kernel: one task per rank).

    Phase 1 scans the shard locally and publishes its total at
    ``totals[slot]``; after the barrier, phase 2 combines the totals of the
    ``lower`` ranks (and ``initial``) into an offset applied to the shard.
    All reads happen before the barrier and all writes after it, so ``out``
    may overlap ``x``.
    """
    op = _USER_OP
    if op is None:
        raise RuntimeError("scan_task was called without a bound operator")
    local = list(accumulate(_values(x, lo, hi, cast), op))
    if local:
        totals[slot] = wrap(local[-1], totals.format, bits)
    barrier()
    if not local:
        return
    have, offset = _offset(totals, lower, op, initial)
    if not inclusive:
        local = [offset, *map(op, repeat(offset), local[:-1])]
    elif have:
        local = list(map(op, repeat(offset), local))
    store(out, lo, local, fmt, bits)
