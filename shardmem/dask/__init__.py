"""Scale out with Dask: the same pure-Python kernels on every core of every machine.

``import shardmem.dask`` (install the extra: ``pip install "shardmem[dask]"``)
gives Dask-array versions of the three blockwise primitives. Dask splits the
array into blocks and schedules them on its workers; each Dask worker
process runs its blocks on its own shardmem pool (one per process, sized to
the worker's ``nthreads``, closed with the worker), so every core of every
machine runs your kernel.

======================================  ==========================================
``map_blocks(kernel, *arrays, ...)``    `shardmem.map` on every block
``reduction(kernel, *arrays, ...)``     `shardmem.reduce`: partials per block, one tree
``map_overlap(kernel, x, depth=...)``   `shardmem.stencil`: Dask exchanges the halos
======================================  ==========================================

Kernels follow the local kernel contracts unchanged and travel like local
kernels, as marshalled code plus the globals they name: kernels defined in a
notebook cell or ``__main__`` run on remote workers too, and a kernel that
cannot travel is refused here, before a graph is built. Kernel errors come
back through Dask with the kernel's exception type; the traceback inside the
worker interpreter is attached as a note.

Examples
--------
>>> import array
>>> import dask.array as da
>>> import shardmem.dask as smd
>>> def double(x, out):
...     out[:] = array.array(out.format, [2 * v for v in x])
>>> x = da.arange(6, chunks=3)
>>> smd.map_blocks(double, x).compute(scheduler="sync").tolist()
[0, 2, 4, 6, 8, 10]
"""

from __future__ import annotations

import inspect
import math
import operator
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

try:
    import dask.array as da
    import numpy as np
    from dask.base import tokenize
    from dask.delayed import delayed
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"shardmem.dask needs Dask ({exc}); install it with: pip install 'shardmem[dask]'"
    ) from exc

from shardmem._data.dtypes import as_dtype, check_real
from shardmem._engine import check_params
from shardmem._errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError
from shardmem._primitives.kernels.borders import MODES, source_index
from shardmem._primitives.map import wanted_injections
from shardmem._primitives.reduce import NO_INITIAL
from shardmem._primitives.stencil import MAX_RADIUS
from shardmem._public import publish as _publish
from shardmem.dask._ship import ShippedKernel, ship
from shardmem.dask._worker import (
    EMPTY,
    ShardmemPlugin,
    combine_parts,
    run_map,
    run_partial,
    run_stencil,
    worker_pool,
)

if TYPE_CHECKING:
    from dask.array import Array

__all__ = ("ShardmemPlugin", "map_blocks", "map_overlap", "reduction", "worker_pool")


def _arrays(inputs: tuple[object, ...], where: str) -> tuple[list[object], Array]:
    """Inputs as Dask arrays (array-likes converted) or Python scalars, and the first array."""
    first = next((x for x in inputs if isinstance(x, da.Array)), None)
    out: list[object] = []
    for x in inputs:
        _refuse_masked(x, where)
        if isinstance(x, bool | int | float | da.Array):
            out.append(x)
        elif hasattr(x, "shape") or isinstance(x, list | tuple):
            converted = _as_dask(x, where)
            out.append(converted if first is None else converted.rechunk(first.chunks))  # type: ignore[no-untyped-call]
        else:
            raise ArgumentTypeError(
                f"{where}(): cannot use a {type(x).__name__} as an input; pass Dask arrays, "
                "NumPy arrays or Python scalars"
            )
    arrays = [x for x in out if isinstance(x, da.Array)]
    if not arrays:
        raise ArgumentTypeError(f"{where}(): no array among the inputs; pass at least one")
    for a in arrays:
        _known_chunks(a, "an input array", where)
    for a in arrays:  # refuse dtypes shardmem cannot hold (complex, strings, ...) here
        _dtype(a.dtype, "an input array has dtype", where)
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        listed = ", ".join(str(s) for s in sorted(shapes))
        raise ShapeError(
            f"{where}(): array inputs have different shapes ({listed}); the kernels work "
            "blockwise on arrays of one shape, so reshape or slice them to match"
        )
    return out, arrays[0]


def _refuse_masked(x: object, where: str) -> None:
    """A masked array (NumPy's or a Dask array of them) is refused: its mask would be lost."""
    meta = getattr(x, "_meta", x) if isinstance(x, da.Array) else x
    if isinstance(meta, np.ma.MaskedArray):
        raise ArgumentTypeError(
            f"{where}(): a masked array cannot be used as an input: shardmem's kernels see the "
            "values only, so the mask would be silently dropped; fill the masked elements "
            "first (np.ma.filled(x, value), or x.filled(value) / da.ma.filled(x, value))"
        )


def _known_chunks(a: Array, what: str, where: str) -> None:
    """Refuse chunks of unknown size (NaN, e.g. after boolean indexing) with a `ShapeError`."""
    if any(math.isnan(n) for sizes in a.chunks for n in sizes):
        raise ShapeError(
            f"{where}(): {what} has chunks of unknown size ({a.chunks}), as after boolean "
            "indexing; shardmem needs every block's shape: call x.compute_chunk_sizes() "
            "(or x.rechunk with known sizes) first"
        )


def _check_keywords(
    kernel: Callable[..., object],
    params: dict[str, object],
    where: str,
    *,
    positional: int,
    whole: bool = False,
) -> None:
    """Refuse keywords the kernel cannot take, naming them, before a graph is built.

    ``positional``: how many arguments the kernel gets by position (their names
    cannot be keywords too). ``whole``: the call gives every keyword the kernel
    gets (nothing is injected), so a required keyword it lacks is refused too.
    """
    code = getattr(kernel, "__code__", None)
    if not isinstance(code, types.CodeType) or code.co_flags & inspect.CO_VARKEYWORDS:
        return
    label = f"{where}(): kernel {getattr(kernel, '__qualname__', kernel)!r}"
    named = code.co_varnames[code.co_posonlyargcount : code.co_argcount + code.co_kwonlyargcount]
    taken = code.co_varnames[: min(positional, code.co_argcount)]
    refused = [k for k in params if k not in named or k in taken]
    if refused:
        raise ArgumentTypeError(
            f"{label} takes no keyword {', '.join(f'{k}={params[k]!r}' for k in refused)}; "
            f"keywords other than {where}()'s own go to the kernel{_dask_hint(refused, where)}; "
            "add the parameter to the kernel or drop the keyword"
        )
    defaults = getattr(kernel, "__kwdefaults__", None) or {}
    keyword_only = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    missing = [k for k in keyword_only if k not in params and k not in defaults]
    if whole and missing:
        raise ArgumentTypeError(
            f"{label} requires the keyword {', '.join(missing)}, which was not given "
            f"({where}()'s own keywords do not reach the kernel); pass it, under another name "
            "if it clashes, or give it a default"
        )


def _dask_hint(refused: list[str], where: str) -> str:
    """A note on the refused keywords that belong to Dask's own function of that name."""
    dask_own = [k for k in refused if k in _DASK_KEYWORDS]
    if not dask_own:
        return ""
    return (
        f" ({', '.join(dask_own)}: Dask's keywords for dask.array.{where}, which "
        f"shardmem.dask.{where}() does not take: it trims halos and picks the output's "
        "chunks itself, so drop them)"
    )


_DASK_KEYWORDS = frozenset(
    {
        "trim",
        "allow_rechunk",
        "align_arrays",
        "drop_axis",
        "new_axis",
        "chunks",
        "meta",
        "name",
        "token",
        "enforce_ndim",
        "axis",
        "keepdims",
        "concatenate",
        "aggregate",
    }
)


def _as_dask(x: object, where: str) -> Array:
    """An array-like as a Dask array; a ragged list is a `ShapeError`, not NumPy's ValueError."""
    try:
        return cast("Array", da.asarray(x))  # type: ignore[no-untyped-call]
    except (TypeError, ValueError) as exc:
        kind = ShapeError if "inhomogeneous" in str(exc) else ArgumentTypeError
        raise kind(
            f"{where}(): cannot use a {type(x).__name__} as an input array ({exc}); pass Dask "
            "arrays, NumPy arrays or nested lists of one shape"
        ) from exc


def _dtype(value: object, what: str, where: str) -> np.dtype[Any]:
    """``value`` as a NumPy dtype that shardmem holds, or a `DTypeError` naming ``what``."""
    try:
        return np.dtype(as_dtype(getattr(value, "name", value)).name)
    except DTypeError as exc:
        shown = f"{what}{value!r}" if what.endswith("=") else f"{what} {value}"
        raise DTypeError(
            f"{where}(): {shown}, which shardmem cannot hold ({exc}); convert the data "
            "first, e.g. x.astype('float64')"
        ) from exc


def _check_start(kernel: Callable[..., object], arrays: list[object], where: str) -> None:
    """``start`` is the flat index in the whole array: blocks must span all but axis 0."""
    if "start" not in wanted_injections(kernel):
        return
    for a in arrays:
        if isinstance(a, da.Array) and any(len(c) > 1 for c in a.chunks[1:]):
            raise InvalidArgumentError(
                f"{where}(): the kernel takes start= (its flat position in the whole array), "
                f"which needs blocks of whole rows, but the chunks are {a.chunks}; rechunk "
                "first: x.rechunk({i: -1 for i in range(1, x.ndim)})"
            )


def map_blocks(
    kernel: Callable[..., object],
    /,
    *inputs: object,
    dtype: object = None,
    **params: object,
) -> Array:
    """`shardmem.map` over every block of same-shaped Dask arrays; a lazy Dask array.

    Each block runs ``kernel(*input_shard_views, out_shard_view, **params)``
    on the pool of the Dask worker that holds it, exactly as `shardmem.map`
    calls it (flat typed memoryviews; ``start``/``shape``/``rank``/``size``
    when named, ``start`` counting from the first element of the whole
    array). Blocks line up like Dask's own ``map_blocks``.

    Parameters
    ----------
    kernel : function
        A kernel for `shardmem.map`, shipped to the Dask workers by value.
    *inputs : dask.array.Array, array-like or scalar
        Arrays of one shape (NumPy arrays are converted with the first Dask
        array's chunks) and Python scalars, given to the kernel unchanged.
    dtype : dtype, optional
        Output dtype; default the first array's.
    **params
        Keyword parameters for the kernel (numbers, strings, bytes, None and
        containers of them); a keyword the kernel does not take is refused
        with `ArgumentTypeError` before a graph is built.

    Returns
    -------
    dask.array.Array
        The output, chunked like the first array input.

    Examples
    --------
    >>> import dask.array as da
    >>> import shardmem.dask as smd
    >>> def affine(x, out, *, a, b):
    ...     for i in range(len(x)):
    ...         out[i] = a * x[i] + b
    >>> y = smd.map_blocks(affine, da.ones((4, 3), chunks=2), a=2.0, b=1.0)
    >>> y.sum().compute(scheduler="sync")
    np.float64(36.0)
    """
    operands, first = _arrays(inputs, "map_blocks")
    _check_start(kernel, operands, "map_blocks")
    kind = _dtype(dtype, "dtype=", "map_blocks") if dtype is not None else first.dtype
    _check_keywords(kernel, params, "map_blocks", positional=len(operands) + 1)
    shipped = ship(kernel)
    checked = dict(check_params(params))
    token = tokenize(shipped.key, checked, kind, *operands)
    made = da.map_blocks(  # type: ignore[no-untyped-call]
        run_map,
        *operands,
        dtype=kind,
        meta=np.empty((0,) * first.ndim, dtype=kind),
        name=f"shardmem-map-{shipped.name}-{token}",
        shipped=shipped,
        dtype_name=kind.name,
        params=checked,
        global_shape=first.shape,
    )
    return cast("Array", made)


def reduction(
    kernel: Callable[..., object],
    /,
    *inputs: object,
    combine: Callable[[object, object], object] = operator.add,
    initial: object = NO_INITIAL,
    dtype: object = object,
    split_every: int = 8,
    **params: object,
) -> Array:
    """`shardmem.reduce` over Dask arrays: one partial per block, combined in a fixed tree.

    Each block is reduced on its worker's pool exactly as `shardmem.reduce`
    does (``kernel(*chunk_views, **params)`` returns a partial, chunks of
    the block combined pairwise in order). The block partials are then
    combined by ``combine`` in groups of ``split_every`` consecutive blocks,
    level by level, so the result depends only on the chunking, never on
    scheduling. ``initial``, when given, is combined last:
    ``combine(initial, total)``; it is returned for empty inputs.

    Float results equal a local `shardmem.reduce` within rounding (the
    combination tree differs); integer results are exact.

    Parameters
    ----------
    kernel : function
        A reduction kernel returning one partial per chunk.
    *inputs : dask.array.Array, array-like or scalar
        Arrays of one shape.
    combine : callable
        Associative combination of two partials (runs in the Dask workers, shipped
        with Dask's own serialization); default ``operator.add``.
    initial : object, optional
        Start value, and the result for empty inputs (which raise without it).
    dtype : dtype
        Dtype of the 0-d result; ``object`` (default) keeps any Python value
        (exact big ints, tuples).
    split_every : int
        Block partials combined per task (``>= 2``).
    **params
        Keyword parameters for the kernel.

    Returns
    -------
    dask.array.Array
        A lazy 0-d array; ``.compute()`` gives a 0-d NumPy array (``.item()``
        for the Python value).

    Examples
    --------
    >>> import dask.array as da
    >>> import shardmem.dask as smd
    >>> def count_odd(x):
    ...     return len([v for v in x if v % 2])
    >>> smd.reduction(count_odd, da.arange(11, chunks=4)).compute(scheduler="sync").item()
    5
    """
    if not callable(combine):
        raise ArgumentTypeError(
            f"reduction(): combine={combine!r} is a {type(combine).__name__}, which is not "
            "callable; pass a function of two partials (default operator.add)"
        )
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise InvalidArgumentError(
            f"reduction(): split_every={split_every!r} is not allowed; pass an int >= 2"
        )
    operands, first = _arrays(inputs, "reduction")
    _check_start(kernel, operands, "reduction")
    _check_keywords(kernel, params, "reduction", positional=len(operands))
    shipped = ship(kernel)
    checked = dict(check_params(params))
    token = tokenize(shipped.key, checked, *operands)
    partials = da.map_blocks(  # type: ignore[no-untyped-call]
        run_partial,
        *operands,
        dtype=object,
        chunks=tuple((1,) * len(c) for c in first.chunks),
        meta=np.empty((0,) * first.ndim, dtype=object),
        name=f"shardmem-partial-{shipped.name}-{token}",
        shipped=shipped,
        combine=combine,
        params=checked,
        global_shape=first.shape,
    )
    level: list[Any] = list(partials.to_delayed().ravel())
    while len(level) > 1:
        level = [
            delayed(combine_parts, pure=True)(combine, *level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    kind = np.dtype(dtype)  # type: ignore[call-overload]
    given = initial is not NO_INITIAL  # the sentinel's identity does not survive pickling
    total = delayed(_finish, pure=True)(level[0], combine, initial if given else None, given, kind)
    made = da.from_delayed(total, shape=(), dtype=kind, meta=np.empty((), dtype=kind))  # type: ignore[no-untyped-call]
    return cast("Array", made)


def _finish(
    part: object,
    combine: Callable[[object, object], object],
    initial: object,
    given: bool,
    kind: np.dtype[Any],
) -> np.ndarray:
    value = combine_parts(combine, part)
    if value is EMPTY:  # every block was empty
        if not given:
            raise InvalidArgumentError(
                "reduction(): zero-size array to reduction operation which has no identity; "
                "pass initial= (e.g. initial=0) to reduce empty arrays"
            )
        value = initial
    elif given:
        value = combine(initial, value)
    result = np.empty((), dtype=kind)
    result[()] = value
    return result


def map_overlap(
    kernel: Callable[..., object],
    x: object,
    /,
    *,
    depth: int = 1,
    boundary: str = "reflect",
    cval: float = 0,
    iterations: int = 1,
    dtype: object = None,
    **params: object,
) -> Array:
    """`shardmem.stencil` over a Dask array: Dask exchanges halos, shardmem computes each block.

    Every block is extended by ``depth`` elements along every axis (halos
    from its neighbours, or the ``boundary`` rule at the array's edges),
    the row kernel runs over it on the worker's pool with the contract of
    `shardmem.stencil` (``kernel(rows, out_row, **params)``, ``radius =
    depth``), and the halos are trimmed off. ``iterations=k`` repeats this
    k times, exchanging halos before every step.

    Parameters
    ----------
    kernel : function
        A row kernel for `shardmem.stencil`.
    x : dask.array.Array or array-like
        1-D, 2-D or 3-D input.
    depth : int
        Neighbours on each side along every axis (the stencil's ``radius``).
        Any depth works, also one beyond an axis's length or a block's size:
        the result is `shardmem.stencil`'s.
    boundary : {'reflect', 'mirror', 'nearest', 'wrap', 'constant'}
        Border rule at the array's edges, with `shardmem.stencil`'s (and
        ``scipy.ndimage``'s) meaning, at any depth.
    cval : number
        Value beyond the edges for ``boundary='constant'``. The edges are
        padded in the array itself, so ``cval`` must be a value of ``x``'s
        dtype (rounding to a float dtype is fine): ``cval=0.5`` for an
        integer array is refused, where `shardmem.stencil` hands it to the
        kernel as is. With ``iterations >= 2``, steps 2 and on pad the
        ``dtype=`` array, so ``cval`` must be a value of ``dtype`` too.
    iterations : int
        Steps to run (``>= 1``), each reading the previous one's output.
    dtype : dtype, optional
        Output dtype; default ``x``'s.
    **params
        Keyword parameters for the kernel, whatever their names (``mode=``,
        ``out=`` ... reach the kernel). Keywords the kernel does not take,
        and keyword-only parameters it requires that are not given, are
        refused with `ArgumentTypeError` before a graph is built.

    Returns
    -------
    dask.array.Array
        The output, chunked like ``x``.

    Examples
    --------
    >>> import dask.array as da
    >>> import shardmem.dask as smd
    >>> def smooth(rows, out_row):
    ...     left, mid, right = rows[0][:-2], rows[0][1:-1], rows[0][2:]
    ...     return [(a + b + c) / 3 for a, b, c in zip(left, mid, right)]
    >>> x = da.from_array([0.0, 0.0, 3.0, 0.0, 0.0], chunks=2)
    >>> smd.map_overlap(smooth, x, boundary="nearest").compute(scheduler="sync").tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    _refuse_masked(x, "map_overlap")
    if not isinstance(x, da.Array) and not (hasattr(x, "shape") or isinstance(x, list | tuple)):
        raise ArgumentTypeError(
            f"map_overlap(): x is a {type(x).__name__}; pass a Dask array or an array-like "
            "(a NumPy array, nested lists)"
        )
    source = x if isinstance(x, da.Array) else _as_dask(x, "map_overlap")
    _known_chunks(source, "x", "map_overlap")
    if not 1 <= source.ndim <= 3:
        raise ShapeError(
            f"map_overlap() needs a 1-D, 2-D or 3-D array, not shape {source.shape}; "
            "reshape the data (e.g. x.reshape((1, n)) for a single row)"
        )
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise InvalidArgumentError(
            f"map_overlap(): depth={depth!r} is not allowed; pass an int >= 0 (1 for a 3x3 "
            "neighbourhood)"
        )
    if depth > MAX_RADIUS:
        raise InvalidArgumentError(
            f"map_overlap(): depth={depth} is larger than sm.stencil supports ({MAX_RADIUS}): "
            "a kernel receives 2*depth + 1 padded rows around each output row; use a smaller "
            "depth"
        )
    if boundary not in MODES:
        raise InvalidArgumentError(
            f"map_overlap(): boundary={boundary!r} is not a border mode; use one of {MODES}"
        )
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise InvalidArgumentError(
            f"map_overlap(): iterations={iterations!r} is not allowed; pass an int >= 1 "
            "(steps to run)"
        )
    _dtype(source.dtype, "x has dtype", "map_overlap")
    kind = _dtype(dtype, "dtype=", "map_overlap") if dtype is not None else source.dtype
    fill = _check_cval(cval, boundary, source.dtype)
    if iterations > 1 and kind != source.dtype:  # later steps pad the dtype= array
        _check_cval(cval, boundary, kind, later=iterations)
    _check_keywords(kernel, params, "map_overlap", positional=2, whole=True)
    shipped = ship(kernel)
    checked = dict(check_params(params))
    result = source
    for _ in range(iterations):
        result = _overlap_step(
            result,
            shipped=shipped,
            depth=depth,
            boundary=boundary,
            cval=fill,
            kind=kind,
            params=checked,
        )
    return result


def _check_cval(cval: object, boundary: str, dtype: np.dtype[Any], later: int = 0) -> object:
    """``cval`` as a value of ``dtype`` (Dask pads the array with it), or a clear refusal.

    ``later``: the iterations, when ``dtype`` is the ``dtype=`` of the array that
    steps 2 and on read (and pad).
    """
    number = check_real(cval, "cval", "map_overlap")
    if boundary != "constant":
        return cval
    stored = _stored(cval, dtype)
    if stored is not None:
        if dtype.kind == "f":  # rounding to the dtype is expected; overflowing to inf is not
            if math.isfinite(stored) or not math.isfinite(number):
                return stored
        elif stored == cval:
            return stored
    if later:
        raise InvalidArgumentError(
            f"map_overlap(): cval={cval!r} cannot be stored in dtype={dtype.name!r}, the "
            f"dtype of the array that step{'s 2 to' if later > 2 else ''} {later} "
            f"read{'' if later > 2 else 's'} (iterations={later}); their "
            "borders are padded in that array, so pass a dtype= that holds cval (e.g. "
            "dtype='float64'), or run the steps one call at a time"
        )
    raise InvalidArgumentError(
        f"map_overlap(): cval={cval!r} cannot be stored in the array's dtype {dtype.name} "
        "(the border is padded in the array itself, unlike sm.stencil, which hands cval to "
        "the kernel as is); pass a cval of that dtype, or convert x first (x.astype(float))"
    )


def _stored(value: object, dtype: np.dtype[Any]) -> Any:
    """``value`` cast to ``dtype`` as NumPy stores it (a Python scalar), None if it cannot."""
    with np.errstate(invalid="ignore", over="ignore"):
        try:
            return np.array(value).astype(dtype, casting="unsafe").item()
        except OverflowError, ValueError, TypeError:
            return None


def _overlap_step(
    x: Array,
    *,
    shipped: ShippedKernel,
    depth: int,
    boundary: str,
    cval: object,
    kind: np.dtype[Any],
    params: dict[str, object],
) -> Array:
    run = {"shipped": shipped, "radius": depth, "dtype_name": kind.name, "params": params}
    meta = np.empty((0,) * x.ndim, dtype=kind)
    if depth == 0 or x.size == 0:
        return cast("Array", da.map_blocks(run_stencil, x, dtype=kind, meta=meta, **run))  # type: ignore[no-untyped-call]
    # The borders are padded here, by the rule of sm.stencil (any depth, even beyond an axis's
    # length, where Dask's own boundaries refuse or go wrong); Dask only exchanges the halos.
    padded = _pad(x, depth, boundary, cval)
    out = da.map_overlap(  # type: ignore[no-untyped-call]
        run_stencil, padded, depth=depth, boundary="none", dtype=kind, meta=meta, **run
    )
    return cast("Array", out[(slice(depth, -depth),) * x.ndim].rechunk(x.chunks))


def _pad(x: Array, depth: int, boundary: str, cval: object) -> Array:
    """``x`` extended by ``depth`` elements on both ends of every axis, as ``boundary`` says.

    The pads join the first and last chunks, so trimming them off later gives back
    ``x``'s chunks.
    """
    for axis in range(x.ndim):
        n = x.shape[axis]
        before = [source_index(k, n, boundary) for k in range(-depth, 0)]
        after = [source_index(k, n, boundary) for k in range(n, n + depth)]
        pieces = [_edge(x, axis, before, cval), x, _edge(x, axis, after, cval)]
        joined = cast("Array", da.concatenate(pieces, axis=axis))  # type: ignore[no-untyped-call]
        sizes = list(x.chunks[axis])
        sizes[0] += depth
        sizes[-1] += depth
        chunks = tuple(tuple(sizes) if i == axis else c for i, c in enumerate(joined.chunks))
        x = cast("Array", joined.rechunk(chunks))  # type: ignore[no-untyped-call]
    return x


def _edge(x: Array, axis: int, indices: list[int], cval: object) -> Array:
    """The elements of ``x`` at ``indices`` along ``axis`` (-1 everywhere: ``cval``)."""
    if indices and indices[0] < 0:  # constant mode
        shape = tuple(len(indices) if i == axis else n for i, n in enumerate(x.shape))
        chunks = tuple((len(indices),) if i == axis else c for i, c in enumerate(x.chunks))
        return cast("Array", da.full(shape, cval, dtype=x.dtype, chunks=chunks))  # type: ignore[no-untyped-call]
    return cast("Array", x[(slice(None),) * axis + (indices,)])


__dir__ = _publish(__name__, globals())  # help() and dir() show the public names
