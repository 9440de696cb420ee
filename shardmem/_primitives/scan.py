"""``scan`` and ``cumsum``: parallel prefix operations in two phases separated by a barrier.

One gang call runs one task per worker; worker ``w`` owns a contiguous
shard of the flattened input (equal shards). Phase 1: every worker whose
total a later worker needs computes it (``sum`` or ``functools.reduce``, C
speed; the first one starting from ``initial``) and publishes it into its
own slot of a small shared array. After ``barrier()``, phase 2: each worker
combines the totals published by the ranks before it, left to right, into
an offset and scans its shard from there straight into the output
(``itertools.accumulate(..., initial=offset)``). On p workers that takes
(total + scan) / p of the sequential time: the scan cannot start before the
offsets are known, and a first worker that scanned during phase 1 would put
its whole scan on the critical path (about 1.0x on 2 workers). Shards
are scanned in chunks of 65536 elements, each stored with one slice
assignment, so a worker never holds more than a chunk of Python values.
``op`` must be associative; it runs on Python values.

With ``dtype=``, each worker casts its input values to the result's dtype
before combining them, as NumPy's ``astype`` does (integers wrap, nonzero
is True, float64 rounds once to float32, floats truncate toward zero; NaN,
infinities and floats out of an integer dtype's range are refused with
`ValueOverflowError`, where NumPy's result is undefined).

Integer overflow wraps around (two's complement), as NumPy does: values are
computed with Python ints and reduced modulo ``2**bits`` when stored (and
after every step for ``*`` and Python functions, so they never grow into
huge ints). That is exact for ``+``, ``*``, ``max``, ``min``, bitwise
operators and any function made of them, since these commute with the
reduction; with other functions keep values within the dtype's range.
bool scans keep the truth value of every step's result and start the next
step from it, as NumPy's ``accumulate`` keeps its running value in the
output's dtype (and as integers wrap after every step): ``+`` acts as
``or``, ``*`` as ``and``, and the result does not depend on where shard or
chunk borders fall (``op`` must be associative on True and False).
float32 results are accumulated in double precision and rounded once
when stored. float64 sums equal NumPy's sequential ones bit for bit on 1
or 2 workers; with more, the totals of the middle shards are added in
another order and the last bits may differ.
"""

from __future__ import annotations

import inspect
import math
import operator
import types
from collections.abc import Callable
from typing import Any

from shardmem._data.array import SharedArray, unsafe_overlap
from shardmem._data.creation import DTypeLike, asarray, empty
from shardmem._data.dtypes import DType, as_dtype, check_scalar, float64, int64, uint64
from shardmem._engine import Pool, Task, as_view, bind, kernel_name, resolve_pool
from shardmem._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    KernelContractError,
    ShapeError,
    ValueOverflowError,
)
from shardmem._primitives.blockwise import check_pool, run_tasks
from shardmem._primitives.kernels import scan as kernels
from shardmem._primitives.map import refuse_not_plain
from shardmem._primitives.planning import split_rows

__all__ = ("cumsum", "scan")

type Op = Callable[[Any, Any], Any]


def scan(
    op: Op,
    x: object,
    /,
    *,
    out: SharedArray | None = None,
    inclusive: bool = True,
    initial: bool | float | None = None,
    dtype: DTypeLike | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
    progress: bool = False,
) -> SharedArray:
    """Prefix ``op`` over the flattened ``x``: ``out[i] = x[0] op x[1] op ... op x[i]``.

    Parameters
    ----------
    op : function
        An associative two-argument function: ``operator.add``, ``operator.mul``,
        ``max``, ``min``, ``operator.or_``, ``math.gcd``, or your own ``def``.
    x : SharedArray or array-like
        Input of any shape, scanned in C order (converted with `shardmem.asarray`).
    out : SharedArray, optional
        C-contiguous destination of ``x.size`` elements, shaped ``(x.size,)``
        or like ``x``; may be ``x`` itself. A new 1-D array when omitted.
    inclusive : bool
        True: ``out[i]`` includes ``x[i]``. False (exclusive):
        ``out[i] = initial op x[0] op ... op x[i-1]`` and ``out[0] = initial``.
    initial : number, optional
        Value combined before the first element. Exclusive scans need one
        unless ``op`` is ``operator.add`` (0), ``operator.mul`` (1), ``max``
        (the dtype's minimum) or ``min`` (its maximum).
    dtype : dtype, optional
        Dtype of the result (and of the arithmetic); default ``out``'s dtype,
        else ``x``'s. Inputs are cast to it first, as NumPy's ``astype``
        casts them: integers wrap into a narrower or other-signed type,
        anything nonzero (NaN too) is True, floats truncate toward zero.
    pool : Pool, optional
        Pool to run on; the default pool when None.
    timeout : float, optional
        Seconds to wait before stopping the call with `TaskTimeoutError`.
    progress : bool
        Show a progress bar over the workers' tasks.

    Returns
    -------
    SharedArray
        ``out``.

    Raises
    ------
    ArgumentTypeError
        If ``op`` is not a function, ``out`` not a SharedArray or
        ``inclusive`` not a bool.
    InvalidArgumentError
        If an exclusive scan has no ``initial`` for ``op``, or ``out`` conflicts.
    ValueOverflowError
        If a float input is NaN, infinite or out of range for an integer
        ``dtype`` (NumPy's cast gives an undefined value there; the message
        names the value and its index), as ``astype`` refuses it.
    KernelContractError
        If ``op`` cannot be called with two arguments (checked with
        `inspect.signature` where the function has one), is a generator or
        ``async`` function, or returns what the
        dtype cannot hold (a float or None for an integer dtype, None for
        any): the message names the operator, the value and the dtype.

    Notes
    -----
    Integer results wrap around on overflow (two's complement), as in NumPy:
    exact for ``+``, ``*``, ``max``, ``min``, bitwise operators and functions
    made of them; with other functions keep values within the dtype's range.
    bool scans keep the truth value of each step's result and start the next
    step from it (as NumPy's ``accumulate`` keeps its running value in the
    output's dtype): ``+`` acts as ``or``, ``*`` as ``and``, and ``op`` must
    be associative on True and False, e.g.
    ``scan(lambda a, b: a + b - 1, [False] * 4, dtype=bool)`` is
    ``[False, True, False, True]`` on any number of workers.
    float32 results are accumulated in double precision, rounded once.
    float64 sums match NumPy bit for bit on 1 or 2 workers; with more, the
    middle shards' totals are added in another order (last bits may differ).
    ``max``/``min`` are Python's (NaN handling differs from ``np.maximum``).

    Examples
    --------
    >>> import operator
    >>> import shardmem as sm
    >>> with sm.Pool(2) as pool:
    ...     sm.scan(operator.add, [3, 1, 4, 1, 5], pool=pool).tolist()
    [3, 4, 8, 9, 14]
    >>> sm.scan(max, [3, 1, 4, 1, 5], inclusive=False).tolist()
    [-9223372036854775808, 3, 3, 4, 4]
    >>> sm.scan(lambda a, b: a * b % 7, [3, 5, 6], dtype="uint8").tolist()
    [3, 1, 6]
    >>> sm.scan(max, sm.asarray([-1, 5, 3], dtype="int8"), dtype="uint8").tolist()
    [255, 255, 255]
    """
    fn = _check_op(op)
    if not isinstance(inclusive, bool):
        raise ArgumentTypeError(
            f"scan(): inclusive={inclusive!r} must be True (out[i] includes x[i]) or False "
            "(exclusive: out[i] stops before x[i])"
        )
    source, shape = _flat_source(x)
    kind = _result_dtype(dtype, out)
    kind = source.dtype if kind is None else kind
    result = _check_out(out, shape, kind)
    start = _initial(fn, kind, inclusive, initial)
    check_pool(pool, "scan")
    if source.size == 0:
        return result
    if unsafe_overlap(source, result):
        source = source.copy()
    target = resolve_pool(pool)
    totals = empty(target.size, dtype=float64 if kind.format == "f" else kind)
    how = (inclusive, start, _cast(source, kind), kernel_name(fn))
    tasks = _tasks(source, result, totals, target.size, how)
    kernel = _bind(fn)
    _worker_errors(
        lambda: run_tasks(target, kernel, tasks, gang=True, timeout=timeout, progress=progress)
    )
    return result


def cumsum(
    x: object,
    /,
    *,
    dtype: DTypeLike | None = None,
    out: SharedArray | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
    progress: bool = False,
) -> SharedArray:
    """Cumulative sum of the flattened ``x``, like ``np.cumsum(x)``.

    The default dtype follows NumPy: bool and signed integers narrower than
    64 bits sum as int64, unsigned ones as uint64, others keep their dtype.
    Integer overflow wraps around as in NumPy. With ``dtype=``, inputs are
    cast first (see `scan`): ``cumsum([1, -1, 0, 2], dtype=bool)`` is all
    True; NaN, infinities and values out of range for an integer dtype
    raise `ValueOverflowError` instead of NumPy's undefined result.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.cumsum([[1, 2], [3, 4]]).tolist()
    [1, 3, 6, 10]
    >>> a = sm.asarray([200, 100], dtype="uint8")
    >>> sm.cumsum(a).dtype, sm.cumsum(a, dtype="uint8").tolist()
    (DType('uint64'), [200, 44])
    """
    source = asarray(x)
    kind = _result_dtype(dtype, out) or _sum_dtype(source.dtype)
    check_pool(pool, "cumsum")
    return scan(
        operator.add, source, out=out, dtype=kind, pool=pool, timeout=timeout, progress=progress
    )


def _sum_dtype(kind: DType) -> DType:
    if kind.kind in "bi" and kind.itemsize < 8:
        return int64
    if kind.kind == "u" and kind.itemsize < 8:
        return uint64
    return kind


def _check_op(op: object) -> Op:
    if not isinstance(op, types.FunctionType | types.BuiltinFunctionType):
        raise ArgumentTypeError(
            f"scan() op {op!r} is a {type(op).__name__}, not a function; pass operator.add, "
            "operator.mul, max, min or a def/lambda of two arguments (NumPy ufuncs cannot "
            "run in worker interpreters)"
        )
    refuse_not_plain(op, "scan() op")
    _check_arity(op)
    return op


def _check_arity(op: Op) -> None:
    """Refuse an ``op`` that cannot take two positional arguments.

    Builtins that publish no signature (``max``, ``min``) pass.
    """
    try:
        signature = inspect.signature(op)
    except ValueError, TypeError:
        return  # max, min and other builtins that publish no signature
    try:
        signature.bind(0, 0)
    except TypeError as exc:
        raise KernelContractError(
            f"scan() op {kernel_name(op)!r} cannot be called with two arguments: its signature "
            f"is {kernel_name(op)}{signature} ({exc}); the op combines two values, op(a, b), so "
            "pass a function of exactly two positional arguments (e.g. lambda a, b: a + b)"
        ) from None


def _flat_source(x: object) -> tuple[SharedArray, tuple[int, ...]]:
    """The input as a 1-D C-contiguous array, and its original shape."""
    source = asarray(x)
    if not source._is_c_contiguous():
        source = source.copy()
    return source.reshape((source.size,)), source.shape


def _result_dtype(dtype: DTypeLike | None, out: SharedArray | None) -> DType | None:
    kind = None if dtype is None else as_dtype(dtype)
    if isinstance(out, SharedArray):
        if kind is not None and kind != out.dtype:
            raise InvalidArgumentError(
                f"dtype={kind.name} differs from out's dtype {out.dtype.name}; "
                "pass one of them (or make them agree)"
            )
        kind = out.dtype
    return kind


def _check_out(out: SharedArray | None, shape: tuple[int, ...], kind: DType) -> SharedArray:
    n = math.prod(shape)
    if out is None:
        return empty(n, dtype=kind)
    if not isinstance(out, SharedArray):
        raise ArgumentTypeError(
            f"out= must be a SharedArray, not {type(out).__name__}; create one with sm.empty(n)"
        )
    if out.shape not in ((n,), shape):
        raise ShapeError(
            f"out has shape {out.shape} but the scan produces {n} elements; "
            f"pass an out of shape ({n},) or {shape}"
        )
    if not out._is_c_contiguous():
        raise InvalidArgumentError(
            f"out is not C-contiguous (strides {out.strides}); pass a contiguous array"
        )
    return out


_IDENTITIES: dict[object, str] = {
    operator.add: "zero",
    operator.mul: "one",
    max: "low",
    min: "high",
}


def _initial(op: Op, kind: DType, inclusive: bool, initial: object) -> object:
    if initial is not None:
        return check_scalar(kind, initial)
    if inclusive:
        return None
    which = _IDENTITIES.get(op)
    if which is None:
        raise InvalidArgumentError(
            f"an exclusive scan with op {kernel_name(op)!r} needs initial=...: its first "
            "output is that value; pass the identity of your op (e.g. initial=0)"
        )
    return _identity(which, kind)


def _identity(which: str, kind: DType) -> object:
    if kind.kind == "b":
        return which in ("one", "high")
    if kind.kind == "f":
        return {"zero": 0.0, "one": 1.0, "low": -float("inf"), "high": float("inf")}[which]
    return {"zero": 0, "one": 1, "low": kind.min, "high": kind.max}[which]


def _cast(source: SharedArray, kind: DType) -> tuple[str, ...]:
    """How workers cast input values to ``kind`` before combining them (see ``_values``).

    ``('',)`` when every value is read as it is: same dtype, float32 to
    float64, or integers into a range that holds them all.
    """
    have = source.dtype
    if have == kind or (have.kind == "f" and kind == float64):
        return ("",)
    if kind.kind == "b":
        return ("bool",)
    if kind.kind == "f":
        return ("f32",) if kind.itemsize == 4 else ("float",)
    assert kind.min is not None
    assert kind.max is not None
    bits = str(8 * kind.itemsize)
    if have.kind == "f":
        return ("int", kind.format, bits, str(kind.min), str(kind.max), have.name, kind.name)
    low, high = (0, 1) if have.kind == "b" else (have.min, have.max)
    assert low is not None
    assert high is not None
    if kind.min <= low and high <= kind.max:
        return ("",)
    return ("wrap", kind.format, bits)


def _worker_errors(run: Callable[[], object]) -> None:
    """Run the scan; the errors its workers raise on purpose come back as shardmem errors."""
    try:
        run()
    except (OverflowError, TypeError) as exc:
        tag = exc.args[0] if len(exc.args) == 2 else None
        if tag == kernels.CAST_FAILED:
            raise ValueOverflowError(exc.args[1]) from exc
        if tag == kernels.BAD_RESULT:
            raise KernelContractError(exc.args[1]) from exc
        raise


def _tasks(
    source: SharedArray,
    result: SharedArray,
    totals: SharedArray,
    workers: int,
    how: tuple[bool, object, tuple[str, ...], str],
) -> list[Task]:
    inclusive, start, cast, name = how
    kind = result.dtype
    views = (as_view(source, "scan"), as_view(result, "scan"), as_view(totals, "scan"))
    common = (
        ("inclusive", inclusive),
        ("initial", start),
        ("cast", cast),
        ("fmt", kind.format),
        ("bits", 8 * kind.itemsize),
        ("name", name),
    )
    ranges = split_rows(source.size, workers)
    filled = [rank for rank, (lo, hi) in enumerate(ranges) if hi > lo]
    tasks = []
    for rank, (lo, hi) in enumerate(ranges):
        lower = tuple(j for j in filled if j < rank)
        publish = bool(filled) and rank < filled[-1]  # a later shard starts from this total
        kwargs = (
            *common,
            ("lo", lo),
            ("hi", hi),
            ("slot", rank),
            ("lower", lower),
            ("publish", publish),
        )
        tasks.append(Task(views, kwargs, rank=rank, label=f"elements {lo}:{hi}"))
    return tasks


def _bind(op: Op) -> Callable[..., object]:
    """The gang kernel, with ``op`` as a global so that it ships along."""
    return bind(kernels.scan_task, "_USER_OP", op, f"scan[{kernel_name(op)}]")
