"""Reductions with a reproducible combination order: ``reduce`` and sum/min/max/mean/dot.

Each chunk (a contiguous range of rows) gives one partial; partials are
combined in the main interpreter by a pairwise tree over chunk index::

    ((p0 + p1) + (p2 + p3)) + p4

The tree depends only on the number of chunks, never on timing or on the
number of workers, and the default chunking depends only on the size
(``ceil(size / 65536)`` clamped to ``[1, 64]``). So float results are bitwise
identical run to run and for any pool size with the same ``chunks``.

Accuracy of the built-ins: integer and bool sums and dot products are exact
Python ints (NumPy wraps around at 64 bits instead). Float sums use Python's
compensated ``sum()`` per chunk, accumulated in double precision also for
float32, so they are at least as accurate as NumPy's pairwise sum: the two
agree within ``n * eps * sum(|x|)`` (``eps`` of float64), and usually to a
few ulps.
"""

from __future__ import annotations

import math
import numbers
import operator
import reprlib
from collections.abc import Callable
from typing import Any, cast

from shardmem._data.array import SharedArray
from shardmem._data.creation import asarray, empty
from shardmem._engine import Pool, Task, as_view, bind, check_params, kernel_name, resolve_pool
from shardmem._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    KernelContractError,
    ShapeError,
)
from shardmem._primitives.blockwise import check_pool, refuse_unknown_keywords, run_tasks
from shardmem._primitives.kernels.reduce import (
    axis_partial,
    divide_by,
    dot_partial,
    fold_task,
    max_partial,
    min_partial,
    sum_partial,
)
from shardmem._primitives.map import (
    Operand,
    Whole,
    as_operand,
    common_shape,
    refuse_not_plain,
    rng_options,
    run_blockwise,
    wanted_injections,
    whole,
)
from shardmem._primitives.map import map as map_
from shardmem._primitives.planning import check_chunks, default_chunks, nonempty_rows

__all__ = ("dot", "max", "mean", "min", "reduce", "sum", "tree_combine")

Number = int | float | bool


class _NoInitial:
    def __repr__(self) -> str:
        return "<no initial>"


NO_INITIAL = _NoInitial()


def tree_combine[T](parts: list[T], combine: Callable[[T, T], T]) -> T:
    """Combine ``parts`` pairwise, level by level, in index order.

    >>> tree_combine(["a", "b", "c", "d", "e"], lambda x, y: f"({x}{y})")
    '(((ab)(cd))e)'
    """
    while len(parts) > 1:
        paired = [combine(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    return parts[0]


def _partials(
    kernel: Callable[..., object],
    operands: list[Operand | Whole],
    *,
    chunks: int | None,
    pool: Pool | None,
    timeout: float | None,
    progress: bool,
    params: dict[str, object],
    overlap: int = 0,
    combine: object = None,
    seed: int | None = None,
    in_workers: bool = False,
) -> list[object]:
    """The partials of ``kernel``: one per chunk, or one per worker with ``in_workers``."""
    shape = common_shape(operands, "reduce")
    if shape is None:
        raise InvalidArgumentError("reduce(): no array among the inputs; pass at least one array")
    size = math.prod(shape)
    if size == 0:
        return []
    run_on = resolve_pool(pool)
    count = default_chunks(size) if chunks is None else check_chunks(chunks)
    if in_workers:
        return _folded(
            kernel, operands, shape, count, run_on, timeout, progress, params, overlap, combine
        )
    results, _ = run_blockwise(
        kernel,
        operands,
        shape,
        run_on,
        chunks=count,
        params=params,
        timeout=timeout,
        progress=progress,
        overlap=overlap,
        seed=seed,
    )
    return results


def _folded(  # noqa: PLR0917 - private: one caller, above
    kernel: Callable[..., object],
    operands: list[Operand | Whole],
    shape: tuple[int, ...],
    count: int,
    run_on: Pool,
    timeout: float | None,
    progress: bool,
    params: dict[str, object],
    overlap: int,
    combine: object,
) -> list[object]:
    """One partial per worker: each folds the partials of its chunks with ``combine``."""
    rows = shape[0] if shape else 1
    ranges = nonempty_rows(rows, count)
    args = tuple(
        as_view(a.reshape((a.size,)), "reduce")
        if isinstance(a, SharedArray)
        else as_view(a.array.reshape((a.array.size,)), "reduce")
        if isinstance(a, Whole)
        else a
        for a in operands
    )
    row_sizes = tuple(
        (math.prod(a.shape[1:]) if a.ndim else 1) if isinstance(a, SharedArray) else 0
        for a in operands
    )
    common = {
        "rows": rows,
        "row_sizes": row_sizes,
        "ref_shape": shape,
        "overlap": overlap,
        "wanted": wanted_injections(kernel, ("start", "shape", "own")),
        "params": dict(check_params(params)),
    }
    tasks = [
        Task(
            args,
            tuple({**common, "ranges": ranges[r :: run_on.size]}.items()),
            rank=r,
            label=f"chunks {r}::{run_on.size}",
        )
        for r in range(run_on.size)
    ]
    label = f"reduce[{kernel_name(kernel)}]"
    merge = cast("Callable[..., object]", combine)
    folder = bind(bind(fold_task, "_USER_KERNEL", kernel, label), "_USER_COMBINE", merge, label)
    results = run_tasks(run_on, folder, tasks, gang=True, timeout=timeout, progress=progress)
    return [r[0] for r in results if r]  # type: ignore[index]


def reduce(
    kernel: Callable[..., object],
    /,
    *inputs: object,
    combine: Callable[[object, object], object] | None = None,
    initial: object = NO_INITIAL,
    chunks: int | None = None,
    overlap: int = 0,
    in_workers: bool = False,
    seed: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
    progress: bool = False,
    **params: object,
) -> object:
    """Reduce same-shaped arrays chunk by chunk, combining partials in a fixed tree.

    ``kernel(*chunk_views, **params)`` returns one partial per chunk (views
    are flat C-order memoryviews as in :func:`shardmem.map`, and ``start``/
    ``shape``/``own``/``rank``/``size`` are injected when named). ``combine(a, b)``
    runs in the main interpreter over a pairwise tree of chunk index, and
    ``initial`` (when given) is combined first: ``combine(initial, tree)``.

    Parameters
    ----------
    kernel : function
        Shippable function returning a partial (number, str, bytes, tuple, or
        a picklable stdlib object).
    *inputs : SharedArray, array-like, whole(array) or scalar
        Arrays of one shape, split into the same chunks (non-contiguous ones
        are copied once); arrays wrapped in `shardmem.whole`, seen entire by
        every chunk.
    combine : callable, optional
        Associative combination of two partials. Default: addition of
        numbers; partials of any other type (lists, strings, Counters) need
        an explicit ``combine`` (``KernelContractError`` otherwise), so that
        a list is never concatenated where a sum was meant.
    initial : object, optional
        Start value; returned for empty inputs (which raise without it). Any
        value ``combine`` accepts together with a partial.
    chunks : int, optional
        Number of chunks; default ``ceil(size / 65536)`` clamped to ``[1, 64]``,
        independent of the pool size.
    overlap : int
        Rows past its end that each chunk also sees (fewer at the array's
        end), read-only by convention, for records that cross a chunk border
        (words, lines). The kernel must take ``own``: the number of elements
        of its views that are its own (the rest is the overlap).
    in_workers : bool
        Combine partials inside the workers: worker ``r`` runs chunks ``r,
        r + p, r + 2p, ...`` (``p`` workers) and folds their partials with
        ``combine`` as it goes, so one partial per worker travels back to be
        combined here. For large container partials (a ``Counter`` per
        chunk), whose pickling and merging would otherwise run in the caller.
        Needs an explicit ``combine``, associative and commutative (the
        grouping depends on the number of workers).
    seed : int, optional
        As for :func:`shardmem.map`: a kernel naming ``rng`` gets one stream
        per chunk, keyed on (``seed``, chunk index); fresh ones when None.
    pool, timeout, progress
        As for :func:`shardmem.map`.

    Raises
    ------
    KernelContractError
        If ``combine`` is a generator or ``async`` function (before any work).
    ArgumentTypeError
        If ``combine`` is not callable, or ``combine(initial, result)``
        raises a ``TypeError`` (``initial`` does not combine with the
        partials, e.g. ``initial=None`` with
        ``operator.add``); that error is its ``__cause__``.
    InvalidArgumentError
        For empty inputs without ``initial``.

    Examples
    --------
    >>> import shardmem as sm
    >>> def count_odd(x):
    ...     return len([v for v in x if v % 2])
    >>> sm.reduce(count_odd, sm.arange(11), chunks=3)
    5
    >>> sm.reduce(count_odd, sm.arange(0), initial=0)
    0

    Words of a text cut into chunks: each chunk counts the words that end in
    its own part, looking past its end to see where its last word ends.

    >>> def words_ending_here(text, *, own):
    ...     ends = 0
    ...     for i in range(own):
    ...         last = i + 1 == len(text) or text[i + 1] == 32   # 32: a space
    ...         ends += text[i] != 32 and last
    ...     return ends
    >>> text = sm.asarray(list(b"to be or not to be"), dtype="uint8")
    >>> sm.reduce(words_ending_here, text, chunks=4, overlap=1)
    6
    """
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise InvalidArgumentError(
            f"reduce(): overlap={overlap!r} must be an int >= 0 (rows each chunk sees past its end)"
        )
    if overlap and "own" not in wanted_injections(kernel, ("own",)):
        raise InvalidArgumentError(
            f"reduce(): with overlap={overlap}, every chunk sees elements of the next one, so "
            f"kernel {kernel_name(kernel)!r} must take own= (how many elements are its own) "
            "to count each record once; add an own parameter, or drop overlap="
        )
    if not isinstance(in_workers, bool):
        raise ArgumentTypeError(f"reduce(): in_workers={in_workers!r} must be True or False")
    if combine is not None:
        if not callable(combine):
            raise ArgumentTypeError(
                f"reduce(): combine={combine!r} is not callable; pass a function of two "
                "partials, e.g. combine=operator.add"
            )
        refuse_not_plain(combine, "reduce() combine=")
    if in_workers and combine is None:
        raise InvalidArgumentError(
            "reduce(): in_workers=True folds partials inside the workers with combine=, so "
            "pass it (e.g. combine=operator.add)"
        )
    refuse_unknown_keywords(kernel, params, "reduce")
    params, seed, takes_rng = rng_options(kernel, seed, params, "reduce")
    if takes_rng and in_workers:
        raise InvalidArgumentError(
            "reduce(): a kernel taking rng gets one stream per chunk, which in_workers=True "
            "does not provide; drop in_workers (or rng)"
        )
    check_pool(pool, "reduce")
    operands = [x if isinstance(x, Whole) else as_operand(x, "reduce") for x in inputs]
    parts = _partials(
        kernel,
        operands,
        chunks=chunks,
        pool=pool,
        timeout=timeout,
        progress=progress,
        params=params,
        overlap=overlap,
        combine=combine,
        seed=seed,
        in_workers=in_workers,
    )
    if combine is None:
        combine = _add_numbers(kernel, parts)
    if not parts:
        if initial is NO_INITIAL:
            raise InvalidArgumentError(
                "reduce(): zero-size array to reduction operation which has no identity; "
                "pass initial= (e.g. initial=0) to reduce empty arrays"
            )
        return initial
    total = tree_combine(parts, combine)
    if initial is NO_INITIAL:
        return total
    try:
        return combine(initial, total)
    except TypeError as exc:
        raise ArgumentTypeError(
            f"reduce(): combine(initial, result) raised TypeError ({exc}) with "
            f"initial={reprlib.repr(initial)} and a result of type {type(total).__name__}; "
            "pass an initial that combine accepts, e.g. initial=0 for sums"
        ) from exc


def _add_numbers(
    kernel: Callable[..., object], parts: list[object]
) -> Callable[[object, object], object]:
    """``operator.add``, once every partial is a number (the default combine)."""
    for index, part in enumerate(parts):
        if not isinstance(part, numbers.Number):
            raise KernelContractError(
                f"reduce(): kernel {kernel_name(kernel)!r} returned a {type(part).__name__} "
                f"partial (chunk {index}); the default combine adds numbers only, so pass "
                "combine= to say how two partials merge (e.g. combine=operator.add to "
                "concatenate lists, or combine=lambda a, b: a + b for Counters)"
            )
    return operator.add


def _flat(x: object, where: str) -> SharedArray:
    value = as_operand(x, where)
    array = value if isinstance(value, SharedArray) else asarray(value)
    return array.reshape((array.size,))


def sum(
    x: object,
    /,
    *,
    axis: int | None = None,
    chunks: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
) -> Any:
    """Sum of all elements (flattened), or along ``axis``; 0 for an empty array.

    Integers and bools give exact Python ints; floats a Python float, bitwise
    reproducible for a given ``chunks`` whatever the pool size, and within
    ``n * eps * sum(|x|)`` of NumPy's sum (usually a few ulps).

    With ``axis=k``, a SharedArray of the other axes (NumPy's shape), each
    element the sum of one line along ``k``: int64 for signed integers and
    bools, uint64 for unsigned ones (wrapping around at 64 bits, as NumPy
    does; the flat sum is exact), the input's dtype for floats (summed in
    double precision). A 1-D input gives the plain sum.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.sum(sm.arange(101))
    5050
    >>> sm.sum([0.5, 0.25]), sm.sum(sm.zeros(0))
    (0.75, 0.0)
    >>> m = sm.arange(6).reshape((2, 3))
    >>> sm.sum(m, axis=0).tolist(), sm.sum(m, axis=-1).tolist()
    ([3, 5, 7], [3, 12])
    """
    check_pool(pool, "sum")
    if axis is not None:
        return _along("sum", x, axis, pool, timeout)
    flat = _flat(x, "sum")
    if flat.size == 0:
        return 0.0 if flat.dtype.kind == "f" else 0
    return cast("int | float", reduce(sum_partial, flat, chunks=chunks, pool=pool, timeout=timeout))


def _along(which: str, x: object, axis: object, pool: Pool | None, timeout: float | None) -> Any:
    """``which`` (sum, min, max, mean) along one axis, as a SharedArray of the other axes."""
    value = as_operand(x, which)
    array = value if isinstance(value, SharedArray) else asarray(value)
    if isinstance(axis, bool) or not hasattr(axis, "__index__"):
        raise ArgumentTypeError(
            f"{which}(): axis={axis!r} must be an int or None (one axis at a time; "
            "reduce twice for two axes)"
        )
    axis = operator.index(axis)  # (NumPy integers too)
    ndim = array.ndim
    if ndim == 0:
        raise InvalidArgumentError(f"{which}(): a 0-d array has no axis {axis}; pass axis=None")
    if not -ndim <= axis < ndim:
        raise InvalidArgumentError(
            f"{which}(): axis {axis} is out of bounds for an array of {ndim} dimension(s) "
            f"(shape {array.shape}); pass an axis in [{-ndim}, {ndim - 1}] or None"
        )
    axis %= ndim
    if ndim == 1:
        whole_result = {"sum": sum, "min": min, "max": max, "mean": mean}[which]
        return whole_result(array, pool=pool, timeout=timeout)
    shape = array.shape
    n = shape[axis]
    rest = shape[:axis] + shape[axis + 1 :]
    if n == 0 and which != "sum":
        raise InvalidArgumentError(
            f"{which}(): zero-size array to reduction operation along axis {axis} "
            f"(shape {shape}); there is nothing to take the {which} of"
        )
    if which == "mean" and n == 0:
        raise InvalidArgumentError(
            f"mean(): the mean along axis {axis} of shape {shape} is of zero elements; "
            "check the array is not empty along that axis"
        )
    kind = array.dtype.kind
    if which == "mean":
        dtype = "float64"
    elif which == "sum" and kind != "f":
        dtype = "uint64" if kind == "u" else "int64"
    else:
        dtype = array.dtype.name
    out = empty(rest, dtype=dtype)
    if out.size == 0:
        return out
    source = array if array._is_c_contiguous() else array.copy()
    line = out.reshape((out.size,))
    op = "sum" if which == "mean" else which
    inner = math.prod(shape[axis + 1 :])
    everything = whole(source.reshape((source.size,)))
    map_(axis_partial, everything, out=line, op=op, n=n, inner=inner, pool=pool, timeout=timeout)
    if which == "mean":
        map_(divide_by, line, out=line, n=float(n), pool=pool, timeout=timeout)
    return out


def _extreme(  # noqa: PLR0917 - private: the public functions spell these out
    which: str,
    x: object,
    chunks: int | None,
    pool: Pool | None,
    timeout: float | None,
    axis: int | None = None,
) -> Any:
    check_pool(pool, which)
    if axis is not None:
        return _along(which, x, axis, pool, timeout)
    flat = _flat(x, which)
    if flat.size == 0:
        raise InvalidArgumentError(
            f"{which}(): zero-size array to reduction operation {which}imum which has no "
            "identity; check the array is not empty before calling it"
        )
    kernel = min_partial if which == "min" else max_partial
    pick = _nan_min if which == "min" else _nan_max
    value = reduce(kernel, flat, combine=pick, chunks=chunks, pool=pool, timeout=timeout)
    return cast("Number", value)


def _nan_min(a: object, b: object) -> object:
    """The smaller of two partials (``b`` comes later): NaN wins, then ``b`` on a tie."""
    if a != a:  # noqa: PLR0124 - NaN propagates like NumPy's min
        return a
    return a if a < b else b  # type: ignore[operator]  # a tie (0.0, -0.0) gives the later


def _nan_max(a: object, b: object) -> object:
    """The larger of two partials (``b`` comes later): NaN wins, then ``b`` on a tie."""
    if a != a:  # noqa: PLR0124 - NaN propagates like NumPy's max
        return a
    return a if a > b else b  # type: ignore[operator]  # a tie (0.0, -0.0) gives the later


def min(
    x: object,
    /,
    *,
    axis: int | None = None,
    chunks: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
) -> Any:
    """Smallest element (flattened), or along ``axis``; NaN if any element is NaN, like NumPy.

    With ``axis=k``: a SharedArray of the other axes, of the input's dtype.
    Among equal values (``0.0`` and ``-0.0``) the last one is returned, as
    NumPy's ``np.min`` does for short arrays (for longer ones NumPy's
    answer depends on its SIMD lanes, so no order can match it everywhere).

    Raises
    ------
    InvalidArgumentError
        For an empty array, or along an axis of length 0 (a ``ValueError``,
        as in NumPy).

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.min([3, -1, 2])
    -1
    """
    return _extreme("min", x, chunks, pool, timeout, axis)


def max(
    x: object,
    /,
    *,
    axis: int | None = None,
    chunks: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
) -> Any:
    """Largest element (flattened), or along ``axis``; NaN if any element is NaN, like NumPy.

    With ``axis=k``: a SharedArray of the other axes, of the input's dtype.
    Among equal values (``0.0`` and ``-0.0``) the last one is returned, as
    NumPy's ``np.max`` does for short arrays (for longer ones NumPy's
    answer depends on its SIMD lanes, so no order can match it everywhere).

    Raises
    ------
    InvalidArgumentError
        For an empty array, or along an axis of length 0 (a ``ValueError``,
        as in NumPy).

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.max([3, -1, 2.5])
    3.0
    """
    return _extreme("max", x, chunks, pool, timeout, axis)


def mean(
    x: object,
    /,
    *,
    axis: int | None = None,
    chunks: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
) -> Any:
    """Arithmetic mean (flattened) as a float: ``sm.sum(x) / x.size``; or along ``axis``.

    With ``axis=k``: a float64 SharedArray of the other axes.

    Raises
    ------
    InvalidArgumentError
        For an empty array (NumPy warns and returns NaN instead).

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.mean(sm.arange(4))
    1.5
    """
    check_pool(pool, "mean")
    if axis is not None:
        return _along("mean", x, axis, pool, timeout)
    flat = _flat(x, "mean")
    if flat.size == 0:
        raise InvalidArgumentError(
            "mean(): the mean of an empty array is undefined; check the array is not empty"
        )
    return sum(flat, chunks=chunks, pool=pool, timeout=timeout) / flat.size


def dot(
    a: object,
    b: object,
    /,
    *,
    chunks: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
) -> int | float:
    """Inner product of two arrays of the same size (both flattened).

    Integer and bool inputs give an exact Python int; otherwise a float from
    a compensated sum of exact double products (0 for empty inputs).

    Raises
    ------
    ShapeError
        If the sizes differ.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.dot([1, 2, 3], [4, 5, 6])
    32
    """
    check_pool(pool, "dot")
    fa, fb = _flat(a, "dot"), _flat(b, "dot")
    if fa.size != fb.size:
        raise ShapeError(
            f"dot(): sizes {fa.size} and {fb.size} differ; pass arrays with the same "
            "number of elements"
        )
    if fa.size == 0:
        return 0.0 if "f" in (fa.dtype.kind, fb.dtype.kind) else 0
    total = reduce(dot_partial, fa, fb, chunks=chunks, pool=pool, timeout=timeout)
    return cast("int | float", total)
