"""Blockwise ``map`` and ``vectorize``: run a kernel on row shards of same-shaped arrays.

The kernel contract
-------------------
``sm.map(kernel, *inputs, out=None, **params)`` calls, once per shard::

    kernel(*input_shard_views, out_shard_view, **params)

* Arrays are split along the first axis into contiguous row ranges (a 0-d
  array is one row). Every array argument is seen as a **flat, 1-D, C-order**
  typed ``memoryview`` of the shard's elements (format = the dtype's
  ``memoryview`` code, e.g. ``'d'``, ``'B'``, ``'?'``), so ``len(view)`` is
  the shard's element count. Views are writable; write results into the last
  one (``out``), e.g. ``out[:] = array.array(out.format, ...)``.
* Python scalars among the inputs (``int``, ``float``, ``bool``) are passed
  to the kernel unchanged, in their position.
* Keyword ``params`` (numbers, strings, bytes, None, tuples/lists/dicts of
  them) are passed as keywords.
* If the kernel's signature names them (or takes ``**kwargs``), it also gets
  ``start`` (index of the shard's first element in the flattened array),
  ``shape`` (the shard's shape tuple), and from the engine ``rank`` (the
  worker running the task) and ``size`` (the pool size).
* Its return value is ignored.

By default there is one static shard per worker (``rank`` = shard index).
``chunks=k`` cuts ``k`` chunks taken dynamically by whichever worker is free,
for irregular work. Non-contiguous inputs are copied once into contiguous
shared memory; anything ``sm.asarray`` accepts (lists, NumPy arrays) is
copied into shared memory first.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shardmem import _kernels_map
from shardmem._array import SharedArray, unsafe_overlap
from shardmem._creation import DTypeLike, asarray, empty
from shardmem._dtypes import as_dtype
from shardmem._engine import Pool, Task, ViewSpec, check_params, resolve_pool
from shardmem._errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from shardmem._runner import run_tasks
from shardmem._sharding import check_chunks, nonempty_rows
from shardmem._split import record, workers_for

__all__ = ("Operand", "as_operand", "build_tasks", "map", "vectorize")

Scalar = bool | int | float
INJECTED = ("start", "shape")


@dataclass(frozen=True, slots=True)
class Plan:
    """How many rows there are, elements per row, and the row ranges with their ranks."""

    shape: tuple[int, ...]
    rows: int
    row_size: int
    ranges: list[tuple[int, int]]
    static: bool


def as_operand(value: object, where: str) -> SharedArray | Scalar:
    """A C-contiguous SharedArray (copying when needed) or a plain Python scalar."""
    if isinstance(value, bool | int | float):
        return value
    if getattr(value, "ndim", None) == 0 and not hasattr(value, "__len__"):  # NumPy scalars
        item = value.item()  # type: ignore[attr-defined]  # NumPy scalar, checked above
        if isinstance(item, bool | int | float):
            return item
    if not isinstance(value, SharedArray):
        try:
            value = asarray(value)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(
                f"{where}(): cannot use a {type(value).__name__} as an input ({exc}); "
                "pass SharedArrays, NumPy arrays, nested lists or Python scalars"
            ) from exc
    return value if value._is_c_contiguous() else value.copy()


Operand = SharedArray | Scalar


def common_shape(operands: Sequence[Operand], where: str) -> tuple[int, ...] | None:
    """The one shape shared by all array operands (None when there are none)."""
    shapes = {a.shape for a in operands if isinstance(a, SharedArray)}
    if len(shapes) > 1:
        listed = ", ".join(str(s) for s in sorted(shapes))
        raise ShapeError(
            f"{where}(): array inputs have different shapes ({listed}); "
            "map works blockwise on arrays of one shape, so reshape or slice them to match"
        )
    return shapes.pop() if shapes else None


def make_plan(
    shape: tuple[int, ...], chunks: int | None, pool: Pool, workers: int | None = None
) -> Plan:
    """Row ranges: one static range per worker, or ``chunks`` dynamic ones (empty ones dropped).

    ``workers``: how many static ranges (default: one per worker of ``pool``).
    """
    rows = shape[0] if shape else 1
    row_size = math.prod(shape[1:])
    if chunks is None:
        return Plan(shape, rows, row_size, nonempty_rows(rows, workers or pool.size), True)
    return Plan(shape, rows, row_size, nonempty_rows(rows, check_chunks(chunks)), False)


def _shard_view(a: SharedArray, plan: Plan, lo: int, hi: int) -> ViewSpec:
    step = plan.row_size * a.dtype.itemsize
    count = (hi - lo) * plan.row_size
    return ViewSpec(a._buffer, a._offset + lo * step, (hi - lo) * step, a.dtype.format, (count,))


def wanted_injections(
    kernel: Callable[..., object], among: tuple[str, ...] = INJECTED
) -> tuple[str, ...]:
    """Which of ``among`` (``start``/``shape``) the kernel's signature names (all for ``**kw``)."""
    code = getattr(kernel, "__code__", None)
    if not isinstance(code, types.CodeType):
        return ()
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    takes_kwargs = bool(code.co_flags & 0x08)
    return tuple(n for n in among if n in names or takes_kwargs)


def build_tasks(
    kernel: Callable[..., object],
    operands: Sequence[Operand],
    plan: Plan,
    params: dict[str, object],
) -> list[Task]:
    """One Task per row range, with shard views, scalars, params and injected names."""
    base = check_params(params)
    wanted = [n for n in wanted_injections(kernel) if n not in params]
    tasks = []
    for index, (lo, hi) in enumerate(plan.ranges):
        views = tuple(
            _shard_view(a, plan, lo, hi) if isinstance(a, SharedArray) else a for a in operands
        )
        extra = {"start": lo * plan.row_size, "shape": (hi - lo, *plan.shape[1:])}
        kwargs = base + tuple((n, extra[n]) for n in wanted)
        rank = index if plan.static else None
        tasks.append(Task(views, kwargs, rank=rank, label=f"rows {lo}:{hi}"))
    return tasks


def _output(
    out: object, shape: tuple[int, ...], dtype: DTypeLike | None, first: SharedArray | None
) -> SharedArray:
    if out is None:
        kind = as_dtype(dtype) if dtype is not None else None if first is None else first.dtype
        if kind is None:
            raise ArgumentTypeError(
                "map(): no array input to take the output dtype from; pass dtype= or out="
            )
        return empty(shape, dtype=kind)
    if not isinstance(out, SharedArray):
        raise ArgumentTypeError(
            f"map(): out= must be a SharedArray, not {type(out).__name__}; "
            "allocate it with sm.empty(shape, dtype=...)"
        )
    if out.shape != shape:
        raise ShapeError(
            f"map(): out has shape {out.shape} but the inputs have shape {shape}; "
            "pass an out of the inputs' shape"
        )
    if not out._is_c_contiguous():
        raise InvalidArgumentError(
            f"map(): out is not C-contiguous (strides {out.strides}); workers write flat "
            "memory, so pass a contiguous out (e.g. out.copy()) and copy the result back"
        )
    return out


def map(
    kernel: Callable[..., object],
    /,
    *inputs: object,
    out: SharedArray | None = None,
    dtype: DTypeLike | None = None,
    chunks: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
    progress: bool = False,
    **params: object,
) -> SharedArray:
    """Run ``kernel`` blockwise over same-shaped arrays, writing ``out`` in place.

    See the module docstring of ``shardmem._map`` for the exact kernel
    contract: ``kernel(*input_shard_views, out_shard_view, **params)`` with
    flat C-order typed memoryviews of each shard, plus ``start``/``shape``/
    ``rank``/``size`` when the kernel names them.

    Parameters
    ----------
    kernel : function
        A plain Python function (def or lambda) that can be shipped to workers.
    *inputs : SharedArray, array-like or scalar
        Arrays of one shape (anything ``sm.asarray`` accepts is copied into
        shared memory once; non-contiguous views are copied) and Python
        scalars, passed to the kernel as plain values.
    out : SharedArray, optional
        C-contiguous output of the inputs' shape; allocated when omitted.
    dtype : dtype, optional
        Dtype of the allocated ``out`` (default: the first array input's).
    chunks : int, optional
        Number of dynamically scheduled chunks; default one static shard per worker.
    pool : Pool, optional
        Pool to run on; default ``sm.default_pool()``.
    timeout : float, optional
        Seconds before the call is stopped with ``TaskTimeoutError``.
    progress : bool
        Show a progress bar over tasks.
    **params
        Keyword parameters for the kernel.

    Returns
    -------
    SharedArray
        ``out``.

    Examples
    --------
    >>> import array
    >>> import shardmem as sm
    >>> def add(a, b, out, *, bias):
    ...     out[:] = array.array(out.format, [x + y + bias for x, y in zip(a, b)])
    >>> with sm.Pool(2) as pool:
    ...     sm.map(add, sm.arange(5), [10, 20, 30, 40, 50], bias=1, pool=pool).tolist()
    [11, 22, 33, 44, 55]
    """
    operands = [as_operand(x, "map") for x in inputs]
    first = next((a for a in operands if isinstance(a, SharedArray)), None)
    shape = common_shape(operands, "map")
    if shape is None:
        if out is None:
            raise ArgumentTypeError("map(): no array among the inputs; pass at least one or out=")
        shape = out.shape
    result = _output(out, shape, dtype, first)
    if result.size == 0:
        return result
    # An input that overlaps out other than element for element would be read after
    # another task wrote it: it is copied first, as NumPy does.
    operands = [
        a.copy() if isinstance(a, SharedArray) and unsafe_overlap(a, result) else a
        for a in operands
    ]
    run_on = resolve_pool(pool)
    # Only a kernel that cannot see its shard may be split by the cost model: one
    # that names rank, size, start or shape (or takes **kw) could compute differently.
    adaptive = chunks is None and not _sees_its_shard(kernel)
    split = workers_for(kernel, result.size, run_on.size) if adaptive else None
    plan = make_plan(shape, chunks, run_on, split)
    tasks = build_tasks(kernel, [*operands, result], plan, params)
    timing: list[float] = []
    run_tasks(run_on, kernel, tasks, timeout=timeout, progress=progress, timing=timing)
    if adaptive:
        record(kernel, result.size, timing[0])
    return result


def _sees_its_shard(kernel: Callable[..., object]) -> bool:
    if not isinstance(getattr(kernel, "__code__", None), types.CodeType):
        return True  # (not a Python function: assume the worst)
    return bool(wanted_injections(kernel, ("rank", "size", *INJECTED)))


_VECTOR_PARTS = ("_vectorized", "_try_lut", "_store", "_table")
_vectorized_cache: weakref.WeakKeyDictionary[object, Callable[..., None]] = (
    weakref.WeakKeyDictionary()
)


def vectorize(fn: Callable[..., object], /, *, lut: bool = True) -> Callable[..., None]:
    """Turn a scalar function into an elementwise kernel for :func:`map`.

    ``sm.map(sm.vectorize(f), x, y)`` computes ``out[i] = f(x[i], y[i])`` with
    C-speed loops in the workers (``array.array(fmt, map(f, x, y))``). When
    the one input and the output are 1-byte types (uint8, int8, bool), ``f``
    is evaluated once per possible input value and applied with
    ``bytes.translate`` (hundreds of Melem/s); pass ``lut=False`` if ``f`` is
    not pure (random, stateful) or must see only values present in the data.

    ``f`` travels to the workers like a kernel: a def or lambda whose globals
    are modules, functions and constants, or a builtin such as ``abs``. Its
    results must fit the output dtype (ints for integer outputs, numbers for
    floats; any value for bool, taken as truthiness), else the worker raises
    ``TypeError``/``OverflowError``.

    Examples
    --------
    >>> import shardmem as sm
    >>> x = sm.asarray([0, 1, 254], dtype="uint8")
    >>> sm.map(sm.vectorize(lambda v: 255 - v), x).tolist()
    [255, 254, 1]
    >>> sm.map(sm.vectorize(lambda a, b: a * b), sm.arange(3.0), 2.5).tolist()
    [0.0, 2.5, 5.0]
    """
    if not callable(fn):
        raise ArgumentTypeError(f"vectorize(): {fn!r} is not callable; pass a function")
    if not isinstance(lut, bool):
        raise ArgumentTypeError(f"vectorize(): lut={lut!r} must be True or False")
    try:
        cached = _vectorized_cache.get(fn) if lut else None
    except TypeError:
        cached = None
    if cached is not None:
        return cached
    made = _build_vectorized(fn, lut)
    if lut:
        with contextlib.suppress(TypeError):
            _vectorized_cache[fn] = made
    return made


def _build_vectorized(fn: Callable[..., object], lut: bool) -> Callable[..., None]:
    template = _kernels_map.__dict__
    space: dict[str, object] = {**template, "_fn": fn, "__builtins__": builtins}
    for part in _VECTOR_PARTS:
        original = template[part]
        assert isinstance(original, types.FunctionType)
        copy = types.FunctionType(original.__code__, space, part, original.__defaults__)
        copy.__kwdefaults__ = original.__kwdefaults__
        space[part] = copy
    made = space["_vectorized"]
    assert isinstance(made, types.FunctionType)
    made.__kwdefaults__ = {"_lut": lut}
    name = getattr(fn, "__name__", "fn")
    made.__name__ = made.__qualname__ = f"vectorize({name})"
    made.__doc__ = f"Elementwise kernel applying {name} (made by shardmem.vectorize)."
    return made
