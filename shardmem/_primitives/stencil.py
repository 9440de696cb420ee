"""``stencil``: neighbourhood kernels over 1-D, 2-D and 3-D arrays, many steps in one call.

The kernel contract is documented on `stencil` (``help(sm.stencil)``).

How it runs
-----------
One gang call, one task per worker: worker ``w`` owns rows ``lo:hi`` of
axis 0 (elements ``lo:hi`` for 1-D) and reads its neighbours' rows in place
from the shared source buffer, so no halo is ever copied between workers.
With ``iterations=k`` each worker runs the k steps itself, reading the
previous step's output and writing the other of two buffers (the output
and one scratch array, arranged so the last step lands in the output),
with one ``barrier()`` between steps. Kernels run with NumPy absent: use
the standard library (``map(operator.add, ...)``, ``bytes.translate``, ...).
"""

from __future__ import annotations

import operator
import types
from collections.abc import Callable

from shardmem._data.array import SharedArray, shares_memory
from shardmem._data.creation import asarray, empty, zeros
from shardmem._data.dtypes import check_real
from shardmem._engine import (
    Pool,
    Task,
    ViewSpec,
    as_view,
    bind,
    check_params,
    kernel_name,
    pack,
    resolve_pool,
)
from shardmem._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    KernelContractError,
    ShapeError,
    ShardmemError,
    ValueOverflowError,
)
from shardmem._primitives.blockwise import refuse_unknown_keywords, run_tasks
from shardmem._primitives.kernels import stencil as kernels
from shardmem._primitives.kernels.borders import MODES
from shardmem._primitives.planning import split_rows
from shardmem._progress import progress_wanted

__all__ = ("stencil",)


def stencil(
    kernel: Callable[..., object],
    src: object,
    /,
    *,
    out: SharedArray | None = None,
    radius: int = 1,
    mode: str = "reflect",
    cval: float = 0,
    iterations: int = 1,
    channel_axis: int | None = None,
    pool: Pool | None = None,
    timeout: float | None = None,
    progress: bool = False,
    **params: object,
) -> SharedArray:
    """Apply a neighbourhood ``kernel`` to every line of ``src``, ``iterations`` times.

    In short, ``kernel(rows, out_row, **params)`` computes one output row
    from the ``2*radius + 1`` padded source rows around it (a tuple of
    lists), writing ``out_row`` or returning the row; see Notes.

    Parameters
    ----------
    kernel : function
        The row kernel, a plain Python function (shipped to the workers).
    src : SharedArray or array-like
        1-D, 2-D or 3-D input; converted with `shardmem.asarray`. Not modified
        (unless it is ``out``).
    out : SharedArray, optional
        C-contiguous destination of ``src``'s shape, any dtype; a new array of
        ``src``'s dtype when omitted. May be ``src`` itself.
    channel_axis : int, optional
        For an ``H x W x C`` image: ``-1`` (or 2) runs the 2-D ``kernel`` on
        each channel separately, as scikit-image's ``channel_axis``, instead
        of treating the image as a 3-D volume. Channels must be the last axis
        (move them there with ``np.moveaxis``).
    radius : int
        Neighbours on each side along every axis (``0 <= radius <= 4096``).
    mode : {'reflect', 'mirror', 'nearest', 'wrap', 'constant'}
        Border rule, as in ``scipy.ndimage``.
    cval : number
        Value beyond the borders for ``mode='constant'`` (given as is to the
        kernel, not cast to the dtype).
    iterations : int
        Steps to run (``>= 1``); step k+1 reads step k's output. All steps run
        in one call with a barrier between steps.
    pool : Pool, optional
        Pool to run on; the default pool when None.
    timeout : float, optional
        Seconds to wait before stopping the call with `TaskTimeoutError`.
    progress : bool
        Show a progress bar over the workers' tasks.
    **params
        Keyword arguments for ``kernel``.

    Returns
    -------
    SharedArray
        ``out``.

    Raises
    ------
    ShapeError
        If ``src`` is not 1-D, 2-D or 3-D, or ``out``'s shape differs.
    InvalidArgumentError
        If ``radius``, ``mode``, ``iterations`` or ``out`` is not allowed.

    Notes
    -----
    The user kernel computes ONE output line, the run of elements along the
    last axis, from the source lines around it::

        kernel(rows, out_row, **params) -> None | sequence

    - 2-D arrays: ``rows`` is a tuple of ``2*radius + 1`` lists; ``rows[a]`` is
      source row ``i + a - radius`` for output row ``i``.
    - 3-D arrays: ``rows`` is a tuple of ``2*radius + 1`` tuples of
      ``2*radius + 1`` lists; ``rows[a][b]`` is the source line
      ``(i + a - radius, j + b - radius, :)`` for output line ``(i, j, :)``.
    - 1-D arrays: the array is split into one segment per worker and the kernel
      is called once per segment: ``rows`` is a 1-tuple holding the segment
      with its neighbours, and ``out_row`` is the segment of the output.

    Every list is a Python list of the source values (``int``, ``float`` or
    ``bool``) extended by ``radius`` values on each end as ``mode`` says, so
    ``out_row[x]`` reads ``rows[...][x : x + 2*radius + 1]``: ``rows[a][x + radius]``
    is the element straight above/below output element ``x``. Rows beyond the
    array's first and last row follow ``mode`` too (``constant`` gives a list of
    ``cval``). Treat the lists as read-only: the same list serves several
    output rows.

    ``out_row`` is a typed, writable ``memoryview`` of the output line in the
    shared destination. Either assign it (``out_row[x] = v``, or at C speed
    ``out_row[:] = array.array(out_row.format, values)``) and return None, or
    return a sequence of ``len(out_row)`` values (a list, an ``array.array``,
    ``bytes`` for uint8) and the framework stores it. Values must fit the
    output dtype: return ints for integer outputs (round yourself), floats are
    rounded to float32 for float32 outputs, anything is stored by truth value
    for bool outputs.

    ``**params`` of `stencil` reach the kernel as keyword arguments (numbers,
    strings, bytes, None and tuples/lists/dicts of them), the same for every
    row and step.

    Border modes have ``scipy.ndimage``'s meaning (shown for ``a b c d``):
    ``reflect`` ``d c b a | a b c d | d c b a``, ``mirror`` ``d c b | a b c d | c b a``,
    ``nearest`` ``a a a | a b c d | d d d``, ``wrap`` ``a b c d | a b c d | a b c d``,
    ``constant`` ``k k k | a b c d | k k k`` with ``k = cval``.

    Speed: per-element Python work dominates, so prefer C-speed row idioms
    (``map(operator.add, a, b)``, ``itertools.islice``, ``bytes.translate``)
    and return a list (float64 lists are stored with ``struct.pack_into``;
    iterators cost more to store). Names in ``**params`` must differ from
    `stencil`'s own keywords.

    All steps of one call run in one gang call: each worker owns a block of
    rows (of elements for 1-D), reads neighbour rows in place from shared
    memory, and waits at a barrier between steps; steps alternate between
    ``out`` and one scratch array so that the last lands in ``out``.

    Examples
    --------
    A 3x3 box blur of a uint8 image, at C speed per row:

    >>> import shardmem as sm
    >>> from operator import add
    >>> def box3(rows, out_row):
    ...     col = list(map(add, map(add, rows[0], rows[1]), rows[2]))
    ...     sums = map(add, map(add, col, col[1:]), col[2:])
    ...     return [(s + 4) // 9 for s in sums]
    >>> img = sm.asarray([[0, 0, 0, 0], [0, 90, 90, 0], [0, 0, 0, 0]], dtype="uint8")
    >>> with sm.Pool(2) as pool:
    ...     sm.stencil(box3, img, pool=pool).tolist()
    [[10, 20, 20, 10], [10, 20, 20, 10], [10, 20, 20, 10]]

    Conway's Game of Life on a torus, 4 steps in one call (a glider moves by
    one cell diagonally):

    >>> def life(rows, out_row):
    ...     up, mid, down = rows
    ...     for x in range(len(out_row)):
    ...         n = sum(up[x : x + 3]) + mid[x] + mid[x + 2] + sum(down[x : x + 3])
    ...         out_row[x] = 1 if n == 3 or (n == 2 and mid[x + 1]) else 0
    >>> grid = sm.zeros((5, 5), dtype="uint8")
    >>> for y, x in [(0, 1), (1, 2), (2, 0), (2, 1), (2, 2)]:
    ...     grid[y, x] = 1
    >>> with sm.Pool(2) as pool:
    ...     moved = sm.stencil(life, grid, mode="wrap", iterations=4, pool=pool)
    >>> [(y, x) for y in range(5) for x in range(5) if moved[y, x]]
    [(1, 2), (2, 3), (3, 1), (3, 2), (3, 3)]

    Heat diffusion, 10 explicit steps of the 5-point Laplacian with a
    parameter:

    >>> def heat(rows, out_row, *, alpha):
    ...     up, mid, down = rows
    ...     for x in range(len(out_row)):
    ...         c = mid[x + 1]
    ...         out_row[x] = c + alpha * (up[x + 1] + down[x + 1] + mid[x] + mid[x + 2] - 4 * c)
    >>> t = sm.zeros((4, 4))
    >>> t[1, 1] = 100.0
    >>> hot = sm.stencil(heat, t, mode="nearest", iterations=10, alpha=0.2)
    >>> round(sum(sum(r) for r in hot.tolist()), 9)  # insulated borders keep the heat
    100.0
    """
    source = _as_source(src)
    channels = _check_channel_axis(channel_axis, source)
    checked = _check_options(radius, mode, cval, iterations)
    refuse_unknown_keywords(kernel, params, "stencil")
    return _stencil(
        kernel,
        source,
        out,
        checked,
        channels,
        pool,
        timeout,
        progress=progress,
        params=params,
        where="stencil",
    )


def stencil_with(
    kernel: Callable[..., object],
    source: SharedArray,
    out: SharedArray,
    *,
    radius: int,
    pool: Pool,
    params: dict[str, object],
) -> SharedArray:
    """One ``mode='nearest'`` step of ``kernel`` over an already padded block (shardmem.dask).

    ``params`` go to the kernel alone, so that its keywords may share a name with
    `stencil`'s own (``mode``, ``out``, ``timeout`` ...).
    """
    checked = _check_options(radius, "nearest", 0, 1)
    return _stencil(
        kernel,
        source,
        out,
        checked,
        False,
        pool,
        None,
        progress=False,
        params=params,
        where="map_overlap",
    )


def _stencil(  # noqa: PLR0917 - private: stencil and stencil_with spell these out
    kernel: Callable[..., object],
    source: SharedArray,
    out: SharedArray | None,
    checked: tuple[int, str, object, int],
    channels: bool,
    pool: Pool | None,
    timeout: float | None,
    *,
    progress: bool,
    params: dict[str, object],
    where: str,
) -> SharedArray:
    bound = _bind(kernel)
    result = _check_out(out, source)
    if pool is not None:  # a bad pool= fails on any data, empty too
        resolve_pool(pool, where="stencil")
    if shares_memory(source, result):
        source = source.copy()
    if result.size == 0:
        return result
    target = resolve_pool(pool, where="stencil")
    extra: tuple[tuple[str, object], ...] = (("channels", True),) if channels else ()
    steps = None
    if progress_wanted(progress):  # each task counts its finished steps; the bar shows the least
        counter = zeros(target.size, dtype="int64")
        extra += (("steps", as_view(counter, "stencil")),)
        steps = (checked[3], counter)
    tasks = _tasks(source, result, checked, params, target.size, extra=extra)
    try:
        run_tasks(target, bound, tasks, gang=True, timeout=timeout, progress=progress, steps=steps)
    except Exception as exc:
        stored = getattr(exc, "store_format", None) is not None  # a returned row did not fit
        error = _store_error(exc, kernel, result, where) if stored else exc
        if source.ndim == 3 and not channels and source.shape[-1] <= 4:
            error.add_note(
                f"src has shape {source.shape}, so the kernel saw 3-D windows (rows[a][b] is a "
                "line): for a 2-D kernel run on each colour channel, pass channel_axis=-1"
            )
        if error is exc:
            raise
        raise error from exc
    return result


def _store_error(
    exc: BaseException, kernel: Callable[..., object], result: SharedArray, where: str
) -> ShardmemError:
    """The error for a returned row that the output's dtype cannot hold, naming the fix."""
    fix = (
        "dtype= (e.g. dtype='float64')"
        if where == "map_overlap"
        else "out=sm.empty(src.shape, dtype='float64')"
    )
    kind: type[ShardmemError] = (
        ValueOverflowError if isinstance(exc, OverflowError) else KernelContractError
    )
    return kind(
        f"{where}(): kernel {kernel_name(kernel)!r} returned a value that the output dtype "
        f"{result.dtype.name} cannot hold ({exc}); return values of that dtype (round or "
        f"clip them in the kernel), or ask for an output that holds them with {fix}"
    )


def _as_source(src: object) -> SharedArray:
    source = asarray(src)
    if not 1 <= source.ndim <= 3:
        raise ShapeError(
            f"stencil() needs a 1-D, 2-D or 3-D array, not shape {source.shape}; "
            "reshape the data (e.g. a.reshape((1, n)) for a single row)"
        )
    return source if source._is_c_contiguous() else source.copy()


MAX_RADIUS = 4096


def _check_channel_axis(channel_axis: object, source: SharedArray) -> bool:
    """True for a per-channel stencil; refuses what it cannot do before any work."""
    if channel_axis is None:
        return False
    if isinstance(channel_axis, bool) or not hasattr(channel_axis, "__index__"):
        raise ArgumentTypeError(
            f"stencil(): channel_axis={channel_axis!r} must be an int (-1: channels last) or None"
        )
    if source.ndim != 3:
        raise ShapeError(
            f"stencil(): channel_axis= is for H x W x C images, and src has shape "
            f"{source.shape}; drop channel_axis for a {source.ndim}-D array"
        )
    if operator.index(channel_axis) not in (-1, 2):
        raise InvalidArgumentError(
            f"stencil(): channel_axis={channel_axis} is not supported: channels must be the "
            "last axis (channel_axis=-1); move them there first, e.g. np.moveaxis(img, 0, -1)"
        )
    return True


def _check_options(
    radius: object, mode: object, cval: object, iterations: object
) -> tuple[int, str, object, int]:
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise InvalidArgumentError(
            f"radius={radius!r} is not allowed; pass an int >= 0 (1 for a 3x3 neighbourhood)"
        )
    if radius > MAX_RADIUS:
        raise InvalidArgumentError(
            f"radius={radius} is larger than stencil() supports ({MAX_RADIUS}): a kernel "
            "receives 2*radius + 1 padded rows around each output row; use a smaller radius"
        )
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidArgumentError(f"mode={mode!r} is not a border mode; use one of {MODES}")
    number = check_real(cval, "cval", "stencil")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise InvalidArgumentError(
            f"iterations={iterations!r} is not allowed; pass an int >= 1 (steps to run)"
        )
    value = cval if type(cval) in (int, float, bool) else number  # NumPy scalars -> float
    return radius, str(mode), value, iterations


def _check_out(out: SharedArray | None, source: SharedArray) -> SharedArray:
    if out is None:
        return empty(source.shape, dtype=source.dtype)
    if not isinstance(out, SharedArray):
        raise ArgumentTypeError(
            f"out= must be a SharedArray, not {type(out).__name__}; create one with sm.empty(...)"
        )
    if out.shape != source.shape:
        raise ShapeError(
            f"out has shape {out.shape} but src has shape {source.shape}; "
            "pass an out of the same shape (sm.empty_like(src))"
        )
    if not out._is_c_contiguous():
        raise InvalidArgumentError(
            f"out is not C-contiguous (strides {out.strides}); pass a contiguous array "
            "and copy the result into the view afterwards"
        )
    return out


def _tasks(
    source: SharedArray,
    result: SharedArray,
    checked: tuple[int, str, object, int],
    params: dict[str, object],
    workers: int,
    *,
    extra: tuple[tuple[str, object], ...] = (),
) -> list[Task]:
    """One gang task per worker (``slot`` = its rank), with ``extra`` keywords for each."""
    radius, mode, cval, iterations = checked
    scratch: ViewSpec | None = None
    if iterations > 1:
        scratch = as_view(empty(result.shape, dtype=result.dtype), "stencil")
    common = (
        ("shape", source.shape),
        ("radius", radius),
        ("mode", mode),
        ("cval", cval),
        ("iterations", iterations),
        ("fmt", result.dtype.format),
        ("kernel_params", dict(check_params(params))),
        *extra,
    )
    views = (as_view(source, "stencil"), as_view(result, "stencil"), scratch)
    what = "elements" if source.ndim == 1 else "rows"
    return [
        Task(
            views,
            (*common, ("lo", lo), ("hi", hi), ("slot", rank)),
            rank=rank,
            label=f"{what} {lo}:{hi}",
        )
        for rank, (lo, hi) in enumerate(split_rows(source.shape[0], workers))
    ]


def _bind(kernel: Callable[..., object]) -> Callable[..., object]:
    """The gang kernel, with ``kernel`` as a global so that it ships along."""
    if not isinstance(kernel, types.FunctionType):
        raise ArgumentTypeError(
            f"stencil() kernel {kernel!r} is a {type(kernel).__name__}, not a Python function; "
            "define it with def (kernels are shipped to worker interpreters)"
        )
    pack(kernel)  # a generator or async kernel: KernelContractError before any work
    return bind(kernels.stencil_task, "_USER_KERNEL", kernel, kernel_name(kernel))
