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
import functools
import hashlib
import inspect
import math
import operator
import secrets
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shardmem._data.array import SharedArray, shares_memory, unsafe_overlap
from shardmem._data.creation import DTypeLike, asarray, empty
from shardmem._data.dtypes import as_dtype
from shardmem._engine import (
    Pool,
    RandomSeed,
    Task,
    ViewSpec,
    check_params,
    kernel_name,
    resolve_pool,
)
from shardmem._errors import (
    ArgumentTypeError,
    DTypeError,
    InvalidArgumentError,
    KernelContractError,
    ShapeError,
)
from shardmem._primitives.blockwise import refuse_unknown_keywords, run_tasks
from shardmem._primitives.kernels import map as _kernels_map
from shardmem._primitives.planning import check_chunks, nonempty_rows
from shardmem._primitives.split import record, workers_for

__all__ = ("Operand", "Whole", "as_operand", "build_tasks", "map", "vectorize", "whole")

Scalar = bool | int | float
INJECTED = ("start", "shape")
RNG_CHUNKS = 64  # chunks of a kernel taking rng when chunks= is not given (at most one per row)


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
            message = (
                f"{where}(): cannot use a {type(value).__name__} as an input ({exc}); "
                "pass SharedArrays, NumPy arrays, nested lists or Python scalars"
            )
            # A ragged list stays a ShapeError, a complex array a DTypeError, ...
            kind = type(exc) if isinstance(exc, ShapeError | DTypeError) else ArgumentTypeError
            raise kind(message) from exc
    return value if value._is_c_contiguous() else value.copy()


Operand = SharedArray | Scalar


def common_shape(operands: Sequence[Operand | Whole], where: str) -> tuple[int, ...] | None:
    """The one shape shared by all array operands (None when there are none)."""
    shapes = {a.shape for a in operands if isinstance(a, SharedArray)}
    if len(shapes) > 1:
        listed = ", ".join(str(s) for s in sorted(shapes))
        raise ShapeError(
            f"{where}(): array inputs have different shapes ({listed}); "
            f"{where} works chunkwise on arrays of one shape, so reshape or slice them to "
            "match, or wrap an array every chunk needs entire in sm.whole(...)"
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


def _shard_view(a: SharedArray, plan: Plan, lo: int, hi: int, nd: bool = False) -> ViewSpec:
    """Rows ``lo:hi`` of ``a`` (its own trailing shape), flat or with their N-d shape."""
    row_size = math.prod(a.shape[1:]) if a.ndim else 1
    step = row_size * a.dtype.itemsize
    count = (hi - lo) * row_size
    shape = (hi - lo, *a.shape[1:]) if nd and a.ndim > 1 else (count,)
    return ViewSpec(a._buffer, a._offset + lo * step, (hi - lo) * step, a.dtype.format, shape)


def _whole_view(a: SharedArray, nd: bool) -> ViewSpec:
    shape = a.shape if nd and a.ndim > 1 else (a.size,)
    return ViewSpec(a._buffer, a._offset, a.nbytes, a.dtype.format, shape)


class Whole:
    """An array every task of a call sees whole, read-only by convention: see `whole`."""

    __slots__ = ("array",)

    def __init__(self, array: SharedArray) -> None:
        self.array = array

    def __repr__(self) -> str:
        return f"whole({self.array!r})"


def whole(x: object, /) -> Whole:
    """Give every shard of a `map` call the whole of ``x``, without a copy.

    `map` splits its array arguments along their first axis; an argument
    wrapped in ``whole`` is passed entire to every task instead: the
    centroids of k-means, a lookup table, the positions in an N-body step.
    It is the same shared memory in every worker (a SharedArray travels
    without a copy; anything else is copied into shared memory once), so
    kernels should only read it.

    Examples
    --------
    >>> import shardmem as sm
    >>> def nearest(points, centres, out):
    ...     for i in range(len(out)):
    ...         p = points[i]
    ...         out[i] = min(range(len(centres)), key=lambda k: abs(centres[k] - p))
    >>> sm.map(nearest, [0.1, 4.2, 9.9, 5.1], sm.whole([0.0, 5.0, 10.0]), dtype="int64").tolist()
    [0, 1, 2, 1]
    """
    if isinstance(x, Whole):
        return x
    value = as_operand(x, "whole")
    if not isinstance(value, SharedArray):
        raise ArgumentTypeError(
            f"whole(): {x!r} is a scalar; pass scalars to map() as they are, whole() is for arrays"
        )
    return Whole(value)


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
    operands: Sequence[Operand | Whole],
    plan: Plan,
    params: dict[str, object],
    *,
    nd: bool = False,
    seed: int | None = None,
    first_out: SharedArray | None = None,
    overlap: int = 0,
    bounds: tuple[str, str] | None = None,
) -> list[Task]:
    """One Task per row range, with shard views, scalars, params and injected names.

    ``start``/``shape`` describe the shard of ``first_out`` (default: the last
    array operand); a kernel naming ``rng`` gets a stream keyed on (``seed``,
    chunk index). With ``overlap``, each shard also sees up to that many rows
    past its end, and ``own`` is the number of its own elements. ``bounds``
    names two keywords that receive each task's row range (``lo``, ``hi``).
    """
    base = check_params(params)
    names = (*INJECTED, "rng", "own")
    wanted = [n for n in wanted_injections(kernel, names) if n not in params]
    ref = first_out
    if ref is None:
        ref = next((a for a in reversed(operands) if isinstance(a, SharedArray)), None)
    ref_shape = ref.shape if ref is not None else plan.shape
    ref_row = math.prod(ref_shape[1:])
    wholes = {id(a): _whole_view(a.array, nd) for a in operands if isinstance(a, Whole)}
    tasks = []
    for index, (lo, hi) in enumerate(plan.ranges):
        end = min(hi + overlap, plan.rows)
        views = tuple(
            _shard_view(a, plan, lo, end, nd)
            if isinstance(a, SharedArray)
            else wholes[id(a)]
            if isinstance(a, Whole)
            else a
            for a in operands
        )
        extra: dict[str, object] = {
            "start": lo * ref_row,
            "shape": (hi - lo, *ref_shape[1:]),
            "own": (hi - lo) * ref_row,
        }
        if "rng" in wanted:
            extra["rng"] = RandomSeed(stream_seed(seed, index))
        kwargs = base + tuple((n, extra[n]) for n in wanted)
        if bounds is not None:
            kwargs += ((bounds[0], lo), (bounds[1], hi))
        rank = index if plan.static else None
        tasks.append(Task(views, kwargs, rank=rank, label=f"rows {lo}:{hi}"))
    return tasks


def run_blockwise(
    kernel: Callable[..., object],
    operands: Sequence[Operand | Whole],
    shape: tuple[int, ...],
    pool: Pool,
    *,
    chunks: int | None,
    params: dict[str, object],
    workers: int | None = None,
    timeout: float | None = None,
    progress: bool = False,
    timing: list[float] | None = None,
    start_offset: int = 0,
    **options: Any,
) -> tuple[list[object], list[Task]]:
    """The one blockwise runner: plan rows of ``shape``, build the tasks, run them.

    ``map``, ``reduce``, ``histogram`` and the Dask blocks all run through
    here; ``options`` go to `build_tasks` (``nd``, ``seed``, ``first_out``,
    ``overlap``). ``start_offset`` shifts the injected ``start`` (a Dask
    block's place in the whole array). Returns the tasks' results and the
    tasks (for their labels).
    """
    plan = make_plan(shape, chunks, pool, workers)
    tasks = build_tasks(kernel, operands, plan, params, **options)
    if start_offset:
        for task in tasks:
            task.kwargs = tuple(
                (k, v + start_offset if k == "start" else v)  # type: ignore[operator]
                for k, v in task.kwargs
            )
    results = run_tasks(pool, kernel, tasks, timeout=timeout, progress=progress, timing=timing)
    return results, tasks


def stream_seed(seed: int | None, chunk: int) -> int:
    """The seed of chunk ``chunk``'s ``random.Random``: SHA-256 of (``seed``, ``chunk``)."""
    text = f"shardmem.rng:{seed}:{chunk}".encode()
    return int.from_bytes(hashlib.sha256(text).digest(), "big")


def rng_options(
    kernel: Callable[..., object], seed: object, params: dict[str, object], where: str
) -> tuple[dict[str, object], int | None, bool]:
    """(params, seed, takes rng) for a call with ``seed=``: checked before any work.

    A kernel naming ``rng`` gets streams keyed on ``seed`` (fresh random bits
    when None); a kernel with a ``seed`` parameter of its own also receives
    the value; ``seed=`` for a kernel that uses neither is refused.
    """
    if seed is not None:
        if isinstance(seed, bool) or not hasattr(seed, "__index__"):
            raise InvalidArgumentError(
                f"{where}(): seed={seed!r} must be an int (or None for fresh, unrepeatable streams)"
            )
        seed = operator.index(seed)  # (NumPy integers too)
        if "seed" in wanted_injections(kernel, ("seed",)):
            params = {**params, "seed": seed}
    takes_rng = "rng" in wanted_injections(kernel, ("rng",))
    if takes_rng:
        return params, secrets.randbits(128) if seed is None else seed, True
    if seed is not None and "seed" not in params:
        raise InvalidArgumentError(
            f"{where}(): seed= is for kernels that take rng, and {kernel_label(kernel)} does "
            "not; add an rng parameter to the kernel, or drop seed="
        )
    return params, None, False


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
            f"map(): out= must be a SharedArray or a tuple of them, not {type(out).__name__}; "
            "allocate it with sm.empty(shape, dtype=...)"
        )
    if not out._is_c_contiguous():
        raise InvalidArgumentError(
            f"map(): out is not C-contiguous (strides {out.strides}); workers write flat "
            "memory, so pass a contiguous out (e.g. out.copy()) and copy the result back"
        )
    return out


def _rows_of(named: list[tuple[str, SharedArray]]) -> int:
    """The first-axis length every sharded array shares (a 0-d array is one row)."""
    lengths = {(a.shape[0] if a.ndim else 1) for _, a in named}
    if len(lengths) > 1:
        listed = ", ".join(f"{name} has shape {a.shape}" for name, a in named)
        raise ShapeError(
            f"map(): arrays are split along their first axis, so they must agree on its "
            f"length: {listed}; wrap an array every shard needs entire in sm.whole(...)"
        )
    return lengths.pop()


def map(
    kernel: Callable[..., object],
    /,
    *inputs: object,
    out: SharedArray | tuple[SharedArray, ...] | None = None,
    dtype: DTypeLike | None = None,
    chunks: int | None = None,
    nd: bool = False,
    seed: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
    progress: bool = False,
    **params: object,
) -> Any:
    """Run ``kernel`` on row shards of arrays that share their first axis, writing ``out``.

    The exact kernel contract is in the documentation ("Concepts", the
    kernel contract): ``kernel(*input_shard_views, *out_shard_views, **params)``
    with typed memoryviews of each shard (flat, or N-d with ``nd=True``),
    plus ``start``/``shape``/``rng``/``rank``/``size`` when the kernel names
    them.

    Parameters
    ----------
    kernel : function
        A plain Python function (def or lambda) that can be shipped to workers.
        It writes its results into the output views and returns None.
    *inputs : SharedArray, array-like, whole(array) or scalar
        Arrays with the same first-axis length (their trailing shapes and
        dtypes may differ: ``(N, 3)`` points with ``(N,)`` masses), split
        into the same rows; arrays wrapped in `whole`, passed entire to
        every shard; Python or NumPy scalars, passed as plain numbers.
        Anything ``sm.asarray`` accepts is copied into shared memory once.
    out : SharedArray or tuple of SharedArray, optional
        C-contiguous output(s) with the inputs' first-axis length, each seen
        by the kernel after the inputs. Default: one array allocated like
        the first array input (its shape, and its dtype unless ``dtype=``).
    dtype : dtype, optional
        Dtype of the allocated ``out``.
    chunks : int, optional
        Number of dynamically scheduled chunks; default one static shard per
        worker (fewer for a call too small to gain from them).
    nd : bool
        Give the kernel N-d views (``x[i, j]``, ``x[i, j, c]``) of arrays
        with more than one axis, instead of flat ones (``x[i * w + j]``).
        N-d views index element by element only; flat ones also slice (see the kernel contract).
    seed : int, optional
        Seed of the random streams of a kernel that names ``rng``: each chunk
        gets its own ``random.Random``, keyed on (``seed``, chunk index).
        The same ``seed`` and ``chunks`` give the same result on any number
        of workers. Default: fresh streams each call. A kernel with a
        ``seed`` parameter of its own receives the value too.
    pool : Pool, optional
        Pool to run on; default ``sm.default_pool()``.
    timeout : float, optional
        Seconds before the call is stopped with ``TaskTimeoutError``.
    progress : bool
        Show a progress bar over tasks.
    **params
        Keyword parameters for the kernel (numbers, strings, bytes, None and
        containers of them).

    Returns
    -------
    SharedArray or tuple of SharedArray
        ``out`` (a tuple when ``out`` was a tuple).

    Examples
    --------
    >>> import array
    >>> import shardmem as sm
    >>> def add(a, b, out, *, bias):
    ...     out[:] = array.array(out.format, [x + y + bias for x, y in zip(a, b)])
    >>> with sm.Pool(2) as pool:
    ...     sm.map(add, sm.arange(5), [10, 20, 30, 40, 50], bias=1, pool=pool).tolist()
    [11, 22, 33, 44, 55]

    Rows of a 2-D array in, one value per row out, with N-d views:

    >>> def row_norm1(m, out):
    ...     for i in range(len(out)):
    ...         out[i] = sum(abs(m[i, j]) for j in range(m.shape[1]))
    >>> m = sm.asarray([[1.0, -2.0], [3.0, 4.0], [-5.0, 0.5]])
    >>> sm.map(row_norm1, m, out=sm.empty(3), nd=True).tolist()
    [3.0, 7.0, 5.5]
    """
    if not isinstance(nd, bool):
        raise ArgumentTypeError(f"map(): nd={nd!r} must be True or False")
    operands: list[Operand | Whole] = [
        x if isinstance(x, Whole) else as_operand(x, "map") for x in inputs
    ]
    sharded = [(f"input {i}", a) for i, a in enumerate(operands) if isinstance(a, SharedArray)]
    first = sharded[0][1] if sharded else None
    several = isinstance(out, tuple | list)
    if several:
        if not out:
            raise ArgumentTypeError("map(): out=() names no output; pass one SharedArray or more")
        if dtype is not None:
            raise ArgumentTypeError(
                "map(): dtype= allocates one output; it cannot go with out=(...)"
            )
        outs = [_output(o, (), None, None) for o in out]
    elif out is None:
        if first is None:
            raise ArgumentTypeError(
                "map(): no array among the inputs (sm.whole arrays do not count); "
                "pass at least one, or out="
            )
        outs = [_output(None, first.shape, dtype, first)]
    else:
        if dtype is not None:
            raise ArgumentTypeError(
                "map(): dtype= is the dtype of an allocated output; with out= given, drop it"
            )
        outs = [_output(out, (), None, None)]
    named = [*sharded, *((f"out {k}" if several else "out", o) for k, o in enumerate(outs))]
    rows = _rows_of(named)
    result = tuple(outs) if several else outs[0]
    # Checked before the empty case returns, so that a bad call fails on any data.
    if chunks is not None:
        check_chunks(chunks)
    refuse_unknown_keywords(kernel, params, "map")
    params, seed, takes_rng = rng_options(kernel, seed, params, "map")
    if pool is not None:
        resolve_pool(pool, where="map")
    if rows == 0 or any(o.size == 0 for o in outs):
        check_params(params)  # (otherwise build_tasks checks them)
        return result
    # An input that overlaps an output other than element for element would be read
    # after another task wrote it: it is copied first, as NumPy does.
    # A whole input is read by every task, so any overlap with an output is unsafe.
    operands = [
        a.copy()
        if isinstance(a, SharedArray) and any(unsafe_overlap(a, o) for o in outs)
        else Whole(a.array.copy())
        if isinstance(a, Whole) and any(shares_memory(a.array, o) for o in outs)
        else a
        for a in operands
    ]
    run_on = resolve_pool(pool, where="map")
    if takes_rng and chunks is None:  # streams keyed on chunks independent of the pool size
        chunks = min(rows, RNG_CHUNKS)
    # Only a kernel that cannot see its shard may be split by the cost model: one
    # that names rank, size, start or shape (or takes **kw) could compute differently.
    adaptive = chunks is None and not _sees_its_shard(kernel)
    size = outs[0].size
    split = workers_for(kernel, size, run_on.size) if adaptive else None
    timing: list[float] = []
    returned, tasks = run_blockwise(
        kernel,
        [*operands, *outs],
        (rows,),
        run_on,
        chunks=chunks,
        params=params,
        workers=split,
        timeout=timeout,
        progress=progress,
        timing=timing,
        nd=nd,
        seed=seed,
        first_out=outs[0],
    )
    refuse_returned(kernel, returned, tasks, "map")
    if adaptive:
        record(kernel, size, timing[0])
    return result


def refuse_returned(
    kernel: object, returned: Sequence[object], tasks: Sequence[Task], where: str
) -> None:
    """Raise `KernelContractError` when a map kernel returned a value instead of writing ``out``."""
    for task, value in zip(tasks, returned, strict=True):
        if value is not None:
            raise KernelContractError(
                f"{where}(): {kernel_label(kernel)} returned a {type(value).__name__} for "
                f"{task.label}; map kernels write into their output views (out[i] = ...) and "
                "return None. To combine values returned by each shard, use sm.reduce"
            )


def kernel_label(kernel: object) -> str:
    """``kernel 'name'`` for messages."""
    return f"kernel {kernel_name(kernel)!r}"


def refuse_not_plain(fn: object, what: str) -> None:
    """Raise `KernelContractError` when ``fn`` is a generator or ``async`` function.

    ``what`` names the role for the message (``"vectorize() function"``,
    ``"reduce() combine="``). Calling such a function returns a generator or
    coroutine instead of doing the work, so it is refused before any work.
    """
    plain = inspect.isfunction(fn) or inspect.ismethod(fn) or isinstance(fn, functools.partial)
    call = fn if plain else type(fn).__call__  # a callable object: its __call__ method
    if inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call):
        kind = "a generator function"
    elif inspect.iscoroutinefunction(call):
        kind = "an async function"
    else:
        return
    raise KernelContractError(
        f"{what} {kernel_name(fn)!r} is {kind}: calling it returns a generator or coroutine, "
        "not a value, so its work would never run; write a plain def (without yield or "
        "async) that computes and returns its result"
    )


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
    refuse_not_plain(fn, "vectorize() function")
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
