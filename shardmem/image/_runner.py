"""The plumbing every image operation shares: validation, ``out=``, and the band runner."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

from shardmem._data.array import SharedArray, shares_memory, unsafe_overlap
from shardmem._data.creation import asarray, empty
from shardmem._data.dtypes import check_real, uint8
from shardmem._engine import Pool, resolve_pool
from shardmem._errors import (
    ArgumentTypeError,
    DTypeError,
    InvalidArgumentError,
    ShapeError,
    ShardmemError,
)
from shardmem._primitives.kernels.borders import MODES
from shardmem._primitives.map import run_blockwise, whole
from shardmem.image import _kernels as kern

_DTYPES = ("uint8", "float32", "float64")


MAX_WINDOW = 65535  # widest filter window (size, Gaussian kernel) in pixels


def _image(image: object, where: str) -> SharedArray:
    a = asarray(image)
    if a.ndim not in (2, 3):
        raise ShapeError(
            f"{where}(): image has shape {a.shape}; images must be H x W or "
            "H x W x C, so reshape it or pass one plane"
        )
    if a.dtype.name not in _DTYPES:
        raise DTypeError(
            f"{where}(): image dtype {a.dtype.name} is not supported; use one of "
            f"{', '.join(_DTYPES)} (e.g. sm.asarray(x, dtype='float32'))"
        )
    return a if a._is_c_contiguous() else a.copy()


def _channels(image: object, channel_axis: object, where: str) -> None:
    """Refuse, before any work, a ``channel_axis`` the operations cannot follow.

    They filter an ``H x W x C`` image channel by channel along its last
    axis (``channel_axis=-1``, the default, as in scikit-image); an ``H x W``
    image has no channel axis. ``channel_axis=None`` says the image is one
    plane, so a 3-D one is refused rather than filtered as a volume.
    """
    if channel_axis is not None and (
        isinstance(channel_axis, bool) or not hasattr(channel_axis, "__index__")
    ):
        raise ArgumentTypeError(
            f"{where}(): channel_axis={channel_axis!r} must be an int (-1: channels last) or None"
        )
    ndim = _ndim(image)
    if channel_axis is None:
        if ndim == 3:
            raise ShapeError(
                f"{where}(): channel_axis=None says the image is one plane, but it has 3 axes; "
                "pass channel_axis=-1 to filter each channel"
            )
        return
    axis = operator.index(channel_axis)
    if ndim == 3 and axis not in (-1, 2):
        raise InvalidArgumentError(
            f"{where}(): channel_axis={axis} is not supported: channels must be the last axis "
            "(channel_axis=-1); move them there first, e.g. np.moveaxis(img, 0, -1)"
        )
    if ndim == 2 and axis != -1:
        raise InvalidArgumentError(
            f"{where}(): channel_axis={axis} names an axis of an H x W image, which has no "
            "channel axis; pass channel_axis=None (or the default, -1)"
        )


def _ndim(value: object) -> int | None:
    """The number of axes of an array or nested sequence, without converting it."""
    ndim = getattr(value, "ndim", None)
    if isinstance(ndim, int):
        return ndim
    count = 0
    while isinstance(value, list | tuple):
        count += 1
        value = value[0] if value else None
    return count or None


def _hwc(a: SharedArray) -> tuple[int, int, int]:
    h, w, *rest = a.shape
    return h, w, rest[0] if rest else 1


def _out(out: SharedArray | None, shape: tuple[int, ...], dtype: str, where: str) -> SharedArray:
    if out is None:
        return empty(shape, dtype=dtype)
    if not isinstance(out, SharedArray) or out.shape != shape or out.dtype.name != dtype:
        got = (
            f"{out.shape} {out.dtype.name}" if isinstance(out, SharedArray) else type(out).__name__
        )
        kind: type[ShardmemError] = (
            ArgumentTypeError
            if not isinstance(out, SharedArray)
            else ShapeError
            if out.shape != shape
            else DTypeError
        )
        raise kind(
            f"{where}(): out= is {got}; it must be a SharedArray of shape "
            f"{shape} and dtype {dtype}; pass out=None to allocate one"
        )
    if not out._is_c_contiguous():
        raise InvalidArgumentError(f"{where}(): out= is not C-contiguous; pass a fresh array")
    return out


def _mode(mode: str, where: str) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidArgumentError(
            f"{where}(): mode={mode!r} is not a border mode; use one of "
            f"{', '.join(map(repr, MODES))}"
        )
    return mode


def _unit(a: SharedArray) -> float:
    """Factor from stored values to the float scale of results (1/255 for uint8)."""
    return 1.0 / 255.0 if a.dtype == uint8 else 1.0


def _size(size: int, where: str, *, odd: bool, limit: int = MAX_WINDOW) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or (odd and size % 2 == 0):
        rule = "an odd int >= 1" if odd else "an int >= 1"
        raise InvalidArgumentError(f"{where}(): size={size!r} must be {rule}, e.g. size=3")
    if size > limit:
        raise InvalidArgumentError(
            f"{where}(): size={size} is larger than the largest window, {limit} pixels; "
            "use a smaller size"
        )
    return size


def _bands(
    kernel: Callable[..., object],
    arrays: Sequence[SharedArray],
    rows: int,
    pool: Pool | None,
    where: str,
    **params: object,
) -> list[object]:
    """Run ``kernel`` over row bands ``r0:r1`` (or flat ranges ``a:b``) of ``rows``.

    ``arrays`` are the inputs, then the output when there is one (an operation
    that writes: two or more arrays). Inputs are first made safe to read while
    the output is written (see `_readable`).
    """
    p = resolve_pool(pool, where=where)
    flat = bool(params.pop("flat", False))
    keys = ("a", "b") if flat else ("r0", "r1")
    if len(arrays) > 1:
        *sources, res = arrays
        arrays = [*(_readable(a, res, flat) for a in sources), res]
    everything = [whole(a) for a in arrays]  # kernels read neighbouring rows: whole views
    return run_blockwise(
        kernel, everything, (rows,), p, chunks=p.size * 4, params=params, bounds=keys
    )[0]


def _readable(source: SharedArray, res: SharedArray, flat: bool) -> SharedArray:
    """``source``, or a copy of it where writing ``res`` could change it before it is read.

    A neighbourhood kernel reads rows that other bands, or earlier rows of its
    own band, write: any shared byte is unsafe, so ``out=`` the image itself
    (or a view overlapping it) filters a copy, as ``scipy.ndimage`` does. A
    point kernel (``flat``) reads each element before writing the same one,
    so only element-for-element aliasing (an in-place call) is safe.
    """
    unsafe = unsafe_overlap(source, res) if flat else shares_memory(source, res)
    return source.copy() if unsafe else source


def _filter(
    kernel: Callable[..., object],
    image: object,
    where: str,
    out: SharedArray | None,
    pool: Pool | None,
    *,
    mode: str,
    cval: float,
    keep: bool = False,
    **params: object,
) -> SharedArray:
    """Neighbourhood filter plumbing: validate, allocate, run bands (none for empty images)."""
    a = _image(image, where)
    h, w, c = _hwc(a)
    border = _mode(mode, where)
    value = check_real(cval, "cval", where)
    res = _out(out, a.shape, a.dtype.name if keep else "float32", where)
    raw_cval = value / _unit(a)
    if keep and a.dtype == uint8:
        if math.isnan(value):
            raise InvalidArgumentError(
                f"{where}(): cval=nan cannot be stored in a uint8 image; pass a value in 0..255"
            )
        raw_cval = round(min(max(value, 0.0), 255.0))
    elif keep:
        raw_cval = value
    if pool is not None:  # a bad pool= fails on empty images too, naming the operation
        resolve_pool(pool, where=where)
    if a.size == 0:
        return res
    _bands(kernel, (a, res), h, pool, where, h=h, w=w, c=c, mode=border, cval=raw_cval, **params)
    return res


def _point(  # noqa: PLR0917 - private helper shared by the point operations
    image: object,
    where: str,
    out: SharedArray | None,
    pool: Pool | None,
    table: bytes,
    op: str,
    p: float = 0.0,
    q: float = 0.0,
    to8: bool = False,
) -> SharedArray:
    a = _image(image, where)
    dtype = "uint8" if a.dtype == uint8 or to8 else a.dtype.name
    res = _out(out, a.shape, dtype, where)
    if a.dtype == uint8:
        _bands(kern.lut, (a, res), a.size, pool, where, flat=True, table=table)
    else:
        _bands(kern.point_float, (a, res), a.size, pool, where, flat=True, op=op, p=p, q=q)
    return res
