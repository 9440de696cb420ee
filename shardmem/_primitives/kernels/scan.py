"""Worker-side code of ``scan`` (standard library only; shipped to worker interpreters).

``scan_task`` is the gang kernel. The caller runs a copy of it whose globals
bind ``_USER_OP`` to the scan's operator, so the operator travels with it
(see ``shardmem._primitives.scan._bind``).
"""

from __future__ import annotations

import functools
import math
import operator
from array import array
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any

__all__ = ("BAD_RESULT", "CAST_FAILED", "CHUNK", "bounded", "scan_task", "store", "wrap")

type Op = Callable[[Any, Any], Any]

_USER_OP: Op | None = None  # bound per call in a copy of the globals
CHUNK = 1 << 16  # elements scanned and stored at a time (bounds the worker's memory)
# First argument of the errors this module raises on purpose: the caller turns them into
# shardmem errors (workers cannot import shardmem).
CAST_FAILED = "shardmem.scan: cast failed"
BAD_RESULT = "shardmem.scan: bad result"


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


def _values(x: memoryview, lo: int, hi: int, cast: tuple[str, ...]) -> Iterable[Any]:
    """Elements ``lo:hi`` of ``x`` cast to the scan's dtype first, as NumPy's ``astype``.

    ``cast[0]`` names the cast: ``''`` (as read), ``'bool'`` (truth values,
    NaN too), ``'float'`` (ints to float64), ``'f32'`` (rounded once to
    float32), ``'wrap'`` (integers into a narrower or other-signed range,
    two's complement) or ``'int'`` (floats truncated toward zero, refused
    when NaN, infinite or out of range). Casts that change values build a
    list (at most a chunk).
    """
    shard = x[lo:hi]
    how = cast[0]
    if how == "":
        return shard
    if how == "bool":
        return map(bool, shard)
    if how == "float":
        return map(float, shard)
    if how == "f32":
        values = shard if shard.format in ("f", "d") else map(_int_to_f32, shard)
        return array("f", values).tolist()
    fmt, bits = cast[1], int(cast[2])
    if how == "wrap":
        mask = (1 << bits) - 1
        unsigned = array(fmt.upper(), map(mask.__and__, shard))
        wrapped: list[int] = memoryview(unsigned).cast("B").cast(fmt).tolist()  # type: ignore[call-overload]
        return wrapped
    return _truncated(shard, lo, cast)


def _truncated(shard: memoryview, lo: int, cast: tuple[str, ...]) -> list[int]:
    """Floats truncated toward zero; a NaN, infinity or value out of range is refused."""
    low, high = int(cast[3]), int(cast[4])
    try:
        values = list(map(int, shard))
    except ValueError, OverflowError:
        values = []
    if len(values) == len(shard) and (not values or (low <= min(values) and max(values) <= high)):
        return values
    where = next(i for i, v in enumerate(shard) if not (math.isfinite(v) and low <= int(v) <= high))
    value = shard[where]
    problem = "NaN" if math.isnan(value) else "an infinity" if math.isinf(value) else "out of range"
    raise OverflowError(
        CAST_FAILED,
        f"cannot cast {cast[5]} value {value!r} at index {lo + where} ({problem}) to {cast[6]} "
        f"(range {low}..{high}): the scan casts its input to dtype={cast[6]} first, as NumPy "
        "does, and NumPy gives an undefined, platform-dependent result there; remove NaN and "
        "infinities or clip the values first (or scan in a float dtype)",
    )


def _int_to_f32(value: int) -> float:
    """``value`` rounded once to the nearest float32 (half to even), as a C cast does."""
    size = abs(value)
    if size < 1 << 53:
        return float(value)  # exact; array('f') then rounds once
    shift = size.bit_length() - 24
    kept, rest = divmod(size, 1 << shift)
    half = 1 << (shift - 1)
    if rest > half or (rest == half and kept & 1):
        kept += 1
    rounded = float(kept << shift)  # at most 25 significant bits: exact in a double
    return rounded if value > 0 else -rounded


def bounded(op: Op, fmt: str, bits: int, name: str = "op") -> Op:
    """``op`` wrapped into the integer range of ``fmt`` after every step.

    Used for integer scans whose values could grow without bound (``*`` and
    Python functions): a product of many int64 values would otherwise become
    a huge Python int. ``+``, ``max``, ``min`` and bitwise ops keep ``op``.
    A result that is not an integer (a float, None) is refused by name.

    For bool scans every step's result becomes its truth value, so the next
    step starts from True or False wherever the shard and chunk borders fall
    (as NumPy's ``accumulate`` carries its running value in the output's
    dtype). ``+`` and ``*`` keep ``op``: on True/False their results have the
    truth values of ``or`` and ``and`` at every step anyway.
    """
    if fmt == "?":
        closed = (operator.add, operator.mul, max, min, operator.and_, operator.or_, operator.xor)
        return op if op in closed else _truth_steps(op, name)  # bool op bool: a bool or 0/1
    if fmt in ("f", "d"):
        return op
    if op in (operator.add, max, min, operator.and_, operator.or_, operator.xor):
        return op
    mask = (1 << bits) - 1
    half = 0 if fmt.isupper() else 1 << (bits - 1)

    def step(a: Any, b: Any) -> Any:
        result = op(a, b)
        try:
            return ((result + half) & mask) - half
        except TypeError:
            raise TypeError(BAD_RESULT, bad_result(name, result, fmt)) from None

    return step


def _truth_steps(op: Op, name: str) -> Op:
    """``op`` whose every result is stored as its truth value (None is refused by name)."""

    def step(a: Any, b: Any) -> bool:
        result = op(a, b)
        if result is None:
            raise TypeError(BAD_RESULT, bad_result(name, result, "?"))
        return bool(result)

    return step


_FORMAT_NAMES = {
    "?": "bool",
    "b": "int8",
    "B": "uint8",
    "h": "int16",
    "H": "uint16",
    "i": "int32",
    "I": "uint32",
    "q": "int64",
    "Q": "uint64",
    "f": "float32",
    "d": "float64",
}


def bad_result(name: str, value: Any, fmt: str) -> str:
    """The message for a scan op that returned ``value``, which ``fmt`` cannot hold."""
    dtype = _FORMAT_NAMES.get(fmt, fmt)
    want = "an int" if fmt not in ("?", "f", "d") else "a number" if fmt != "?" else "a value"
    return (
        f"scan op {name!r} returned {value!r} (a {type(value).__name__}) for dtype={dtype}: "
        f"with that dtype the op must return {want}; fix the op (e.g. int(...) or // for "
        "integers) or scan in a dtype that holds its results (dtype='float64')"
    )


def _fits(value: Any, fmt: str) -> bool:
    if fmt == "?":
        return value is not None
    if fmt in ("f", "d"):
        return isinstance(value, int | float)
    return isinstance(value, int)


def _checked(value: Any, fmt: str, name: str) -> Any:
    if not _fits(value, fmt):
        raise TypeError(BAD_RESULT, bad_result(name, value, fmt))
    return value


def _total(
    x: memoryview, span: tuple[int, int], op: Op, how: tuple[Any, ...], *, start: tuple[bool, Any]
) -> Any:
    """``start op x[lo] op ... op x[hi-1]``, left to right (phase 1), a chunk at a time."""
    cast, fmt, _, name = how
    have, acc = start
    lo, hi = span
    for a in range(lo, hi, CHUNK):
        values = _values(x, a, min(a + CHUNK, hi), cast)
        if op is operator.add and fmt not in ("f", "d"):
            acc = sum(values, acc) if have else sum(values)  # exact for ints, faster than reduce
        else:
            acc = functools.reduce(op, values, acc) if have else functools.reduce(op, values)
        have = True
    return _checked(acc, fmt, name)


def _scan_into(
    x: memoryview,
    out: memoryview,
    *,
    span: tuple[int, int],
    op: Op,
    start: tuple[bool, Any],
    inclusive: bool,
    how: tuple[Any, ...],
) -> Any:
    """Scan ``x[lo:hi]`` into ``out[lo:hi]`` chunk by chunk from ``start``; return the last."""
    cast, fmt, bits, name = how
    have, carry = start
    lo, hi = span
    for a in range(lo, hi, CHUNK):
        b = min(a + CHUNK, hi)
        values = _values(x, a, b, cast)
        run = list(accumulate(values, op, initial=carry) if have else accumulate(values, op))
        carry = _checked(run[-1], fmt, name)
        if have:
            del run[0 if inclusive else -1]
        have = True
        _store_checked(out, a, run, (fmt, bits, name))
        carry = wrap(carry, fmt, bits)
    return carry


def _store_checked(out: memoryview, lo: int, run: list[Any], how: tuple[str, int, str]) -> None:
    fmt, bits, name = how
    try:
        if fmt == "?" and None in run:
            raise TypeError
        store(out, lo, run, fmt, bits)
    except TypeError:
        bad = next((v for v in run if not _fits(v, fmt)), None)
        if bad is None and (fmt != "?" or None not in run):
            raise
        raise TypeError(BAD_RESULT, bad_result(name, bad, fmt)) from None


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
    cast: tuple[str, ...],
    fmt: str,
    bits: int,
    name: str,
    barrier: Callable[[], None],
) -> None:
    """Scan elements ``lo:hi`` (gang kernel: one task per rank).

    Phase 1: a rank whose total a later rank needs (``publish``) computes it
    (from ``initial`` on the first non-empty rank) and publishes it at
    ``totals[slot]``. After the barrier, phase 2: each rank combines the
    totals of the ``lower`` ranks, left to right, into an offset and scans its
    shard from it into ``out``. Nothing is written before the barrier, and
    each rank writes only its own shard, so ``out`` may be ``x``. Input values
    are cast to the result's dtype first (``cast``, see `_values`); ``name``
    is the operator's, for messages.
    """
    op = _USER_OP
    if op is None:
        raise RuntimeError("scan_task was called without a bound operator")
    how = (cast, fmt, bits, name)
    step = bounded(op, fmt, bits, name)
    first = (initial is not None, initial)
    if hi > lo and publish:
        total = _total(x, (lo, hi), step, how, start=first if not lower else (False, None))
        totals[slot] = wrap(total, totals.format, bits)
    barrier()  # a rank that failed above never arrives: the engine stops the others' wait
    if hi > lo:
        start = (True, _checked(_offset(totals, lower, step), fmt, name)) if lower else first
        _scan_into(x, out, span=(lo, hi), op=step, start=start, inclusive=inclusive, how=how)
