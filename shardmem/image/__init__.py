"""Image processing on shared arrays, every operation parallel over row bands.

In the style of scikit-image: one function per operation, the image first
(positional-only), options keyword-only, borders by ``mode=``/``cval=``
(``'reflect'``, ``'mirror'``, ``'nearest'``, ``'wrap'``, ``'constant'``, as in
``scipy.ndimage``), results written into ``out=`` when given (the image itself,
or a view overlapping it, gives the out-of-place answer, as scipy's
``output=``), ``pool=`` to pick the pool (default: ``sm.default_pool()``).

Images are ``H x W`` or ``H x W x C`` SharedArrays (anything else goes
through ``sm.asarray`` first) of ``uint8``, ``float32`` or ``float64``.
Like scikit-image, filters that produce non-integer values return
``float32``, and a ``uint8`` input is then scaled to ``[0, 1]`` (divided by
255, as ``skimage.img_as_float``); ``cval`` is in that scale too. Rank
filters (median, erosion, dilation), nearest resize and the uint8 point
operations keep the dtype. Colour images are filtered channel by channel,
along their last axis (``channel_axis=-1``, the default, as in scikit-image;
``channel_axis=None`` says the image is one plane and refuses a 3-D one;
channels on another axis are refused before any work: move them last with
``np.moveaxis``).
Numeric options (``cval``, ``sigma``, ``thresh``, ...) must be real numbers;
filter windows (``size``, the Gaussian kernel) span at most 65,535 pixels,
and a median's at most 255 x 255.
An empty image (a zero height, width or channel count) gives an empty
result, as in scipy.ndimage; only ``resize`` refuses one, having nothing
to interpolate from.

Agreement with scikit-image / scipy.ndimage (float64) on photographs,
checked by ``tests/test_image.py``; the float tolerances come from storing
``float32``:

============================  ==========================================  ==========
operation                     reference                                   tolerance
============================  ==========================================  ==========
invert, threshold             ``skimage.util.invert``, ``image > t``      exact
adjust_gamma (uint8)          ``skimage.exposure.adjust_gamma``           +-1
rescale_intensity (uint8)     ``skimage.exposure.rescale_intensity``      +-1
rgb2gray                      ``skimage.color.rgb2gray``                  1e-6 (uint8 out: +-1)
correlate, convolve           ``scipy.ndimage.correlate / convolve``      1e-5
box_blur                      ``scipy.ndimage.uniform_filter``            1e-5
gaussian                      ``skimage.filters.gaussian``                1e-5
sobel                         ``skimage.filters.sobel``                   1e-5
median                        ``skimage.filters.median``                  exact
erosion, dilation             ``skimage.morphology.erosion / dilation``   exact
histogram                     ``skimage.exposure.histogram``              exact
equalize_hist                 ``skimage.exposure.equalize_hist``          1e-6
resize (bilinear)             ``skimage.transform.resize(order=1)``       1e-5
resize (nearest)              ``skimage.transform.resize(order=0)``       exact
============================  ==========================================  ==========

(``resize`` compared with ``anti_aliasing=False``.)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import TypeGuard, cast

from shardmem._array import SharedArray, shares_memory, unsafe_overlap
from shardmem._borders import MODES
from shardmem._buffer import format_nbytes
from shardmem._creation import asarray, empty
from shardmem._dtypes import check_real, uint8
from shardmem._engine import Pool, resolve_pool
from shardmem._errors import (
    ArgumentTypeError,
    DTypeError,
    InvalidArgumentError,
    OutOfMemoryError,
    ShapeError,
    ShardmemError,
)
from shardmem._map import run_blockwise, whole
from shardmem.image import _kernels as kern
from shardmem.image._codec import read_image, write_image

__all__ = (
    "adjust_gamma",
    "box_blur",
    "convolve",
    "correlate",
    "dilation",
    "equalize_hist",
    "erosion",
    "gaussian",
    "histogram",
    "invert",
    "median",
    "read_image",
    "rescale_intensity",
    "resize",
    "rgb2gray",
    "sobel",
    "threshold",
    "to_uint8",
    "write_image",
)

_DTYPES = ("uint8", "float32", "float64")
MAX_WINDOW = 65535  # widest filter window (size, Gaussian kernel) in pixels


# -- plumbing --------------------------------------------------------------------------------


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
    p = resolve_pool(pool)
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


# -- point operations ----------------------------------------------------------------------


def invert(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Invert intensities: ``255 - x`` for uint8, ``1 - x`` for floats.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.invert(sm.asarray([[0, 200]], dtype="uint8")).tolist()
    [[255, 55]]
    """
    _channels(image, channel_axis, "invert")
    return _point(image, "invert", out, pool, bytes(range(255, -1, -1)), "invert")


def adjust_gamma(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    gamma: float = 1.0,
    gain: float = 1.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Gamma correction ``gain * x**gamma`` (in the [0, 1] scale; uint8 via a table).

    ``gamma >= 0`` and ``gain`` are finite numbers; uint8 results are clipped
    to 0..255. Negative values of a float image count as 0 (scikit-image
    refuses an image with negative values).

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.adjust_gamma(sm.asarray([[0, 64, 255]], dtype="uint8"), gamma=0.5).tolist()
    [[0, 128, 255]]
    """
    _channels(image, channel_axis, "adjust_gamma")
    gamma = check_real(gamma, "gamma", "adjust_gamma", finite=True)
    gain = check_real(gain, "gain", "adjust_gamma", finite=True)
    if gamma < 0:
        raise InvalidArgumentError(f"adjust_gamma(): gamma={gamma} must be >= 0")
    table = bytes(max(0, min(255, round(255 * gain * (i / 255) ** gamma))) for i in range(256))
    return _point(image, "adjust_gamma", out, pool, table, "gamma", gamma, gain)


def threshold(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    thresh: float,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Binary image (uint8 0 / 255) of ``image > thresh``, ``thresh`` in the filters' scale.

    As for every filter, a uint8 image is taken in [0, 1] (value / 255, as
    ``skimage.img_as_float``), so ``thresh=0.5`` means mid-grey for uint8 and
    float images alike.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.threshold(sm.asarray([[10, 128, 200]], dtype="uint8"), thresh=0.5).tolist()
    [[0, 255, 255]]
    """
    _channels(image, channel_axis, "threshold")
    t = check_real(thresh, "thresh", "threshold")
    if t > 1 and _image(image, "threshold").dtype == uint8:
        raise InvalidArgumentError(
            f"threshold(): thresh={thresh!r} is above 1, and for a uint8 image thresh is in the "
            f"filters' [0, 1] scale (value / 255): pass thresh={t / 255:.4g} for {t:g}/255"
        )
    table = bytes(255 if i / 255 > t else 0 for i in range(256))
    return _point(image, "threshold", out, pool, table, "threshold", t, to8=True)


def rescale_intensity(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    in_range: tuple[float, float] | None = None,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Contrast stretch: map ``in_range`` (default: the image's min, max) onto the full range.

    uint8 stays uint8 (values truncated, like scikit-image); floats go to [0, 1]
    (scikit-image uses [-1, 1] for a float image with negative values).
    ``in_range`` is a pair ``(lo, hi)`` of finite numbers in the image's units,
    ``lo <= hi``. Values are first clipped to ``in_range``. As in scikit-image,
    a range of one value (a constant image, or ``in_range=(v, v)``) stretches
    nothing: every pixel becomes ``v``, clipped to the output range (a constant
    uint8 image comes back unchanged). NaN pixels stay NaN and do not count
    towards the image's min and max (scikit-image makes the whole image NaN).
    An empty image gives an empty result (scikit-image raises: it has no min
    or max).

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.rescale_intensity(sm.asarray([[50, 100, 150]], dtype="uint8")).tolist()
    [[0, 127, 255]]
    >>> image.rescale_intensity(sm.asarray([[7, 7]], dtype="uint8")).tolist()
    [[7, 7]]
    """
    _channels(image, channel_axis, "rescale_intensity")
    a = _image(image, "rescale_intensity")
    if in_range is not None:
        lo, hi = _in_range(in_range)
    elif a.size:
        lo, hi = _min_max(a, pool)
    else:  # an empty image: nothing to stretch, the result is empty too
        lo, hi = 0.0, 1.0
    table = b""
    if a.dtype == uint8:
        table = bytes(_stretch8(i, lo, hi) for i in range(256))
    return _point(a, "rescale_intensity", out, pool, table, "stretch", float(lo), float(hi))


def _stretch8(value: int, lo: float, hi: float) -> int:
    """uint8 ``value`` clipped to ``[lo, hi]`` and stretched onto 0..255 (truncated)."""
    x = min(max(value, lo), hi)
    if hi == lo:  # nothing to stretch: the value itself, clipped to the output range
        return int(min(max(x, 0), 255))
    return int((x - lo) / (hi - lo) * 255)


def _in_range(in_range: object) -> tuple[float, float]:
    if not isinstance(in_range, tuple | list) or len(in_range) != 2:
        raise ArgumentTypeError(
            f"rescale_intensity(): in_range={in_range!r} must be a pair (lo, hi) of numbers "
            "or None (the image's min and max)"
        )
    lo = check_real(in_range[0], "in_range[0]", "rescale_intensity", finite=True)
    hi = check_real(in_range[1], "in_range[1]", "rescale_intensity", finite=True)
    if hi < lo:
        raise InvalidArgumentError(
            f"rescale_intensity(): in_range={in_range!r} is reversed: lo={lo:g} is above "
            f"hi={hi:g}; pass in_range=({hi:g}, {lo:g}), and image.invert() to flip the result"
        )
    return lo, hi


def _min_max(a: SharedArray, pool: Pool | None) -> tuple[float, float]:
    """The least and greatest value of a non-empty image; NaN is ignored (NaN if all are)."""
    if a.dtype == uint8:
        _counts, centers = histogram(a, pool=pool)
        return centers[0], centers[-1]
    vals = memoryview(a).cast("B").cast(a.dtype.format)
    lo, hi = min(vals), max(vals)  # main interpreter; float min/max are C loops
    if math.isnan(lo) or math.isnan(hi):  # only a NaN first value is kept: skip them all
        numbers = [v for v in vals.tolist() if not math.isnan(v)]
        return min(numbers, default=math.nan), max(numbers, default=math.nan)
    return lo, hi


def to_uint8(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Convert a float image in [0, 1] to uint8 (``round(255 * x)``, clipped; NaN gives 0).

    A uint8 image is copied.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.to_uint8(sm.asarray([[0.0, 0.5, 1.2]], dtype="float32")).tolist()
    [[0, 128, 255]]
    """
    _channels(image, channel_axis, "to_uint8")
    return _point(image, "to_uint8", out, pool, bytes(range(256)), "ubyte", to8=True)


def rgb2gray(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    dtype: str = "float32",
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Luminance ``0.2125 R + 0.7154 G + 0.0721 B`` (as scikit-image; alpha is ignored).

    ``dtype='float32'`` gives values in [0, 1]; ``dtype='uint8'`` (uint8
    input only) gives ``round(255 * Y)``.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> rgb = sm.asarray([[[255, 255, 255], [255, 0, 0]]], dtype="uint8")
    >>> image.rgb2gray(rgb, dtype="uint8").tolist()
    [[255, 54]]
    """
    _channels(image, channel_axis, "rgb2gray")
    a = _image(image, "rgb2gray")
    h, w, c = _hwc(a)
    if a.ndim != 3 or c < 3:
        raise ShapeError(
            f"rgb2gray(): image has shape {a.shape}; it needs H x W x 3 or 4 (RGB/RGBA)"
        )
    if dtype not in ("float32", "uint8") or (dtype == "uint8" and a.dtype != uint8):
        raise DTypeError(
            f"rgb2gray(): dtype={dtype!r} is not possible for a {a.dtype.name} image; "
            "use 'float32', or 'uint8' with a uint8 image"
        )
    res = _out(out, (h, w), dtype, "rgb2gray")
    k = 1.0 if dtype == "uint8" else _unit(a)
    _bands(
        kern.gray,
        (a, res),
        h * w,
        pool,
        "rgb2gray",
        flat=True,
        c=c,
        wr=0.2125 * k,
        wg=0.7154 * k,
        wb=0.0721 * k,
        lut8=a.dtype == uint8,
        to_uint8=dtype == "uint8",
    )
    return res


# -- filters ------------------------------------------------------------------------------------


def correlate(
    image: object,
    weights: Sequence[Sequence[float]],
    /,
    *,
    channel_axis: int | None = -1,
    mode: str = "reflect",
    cval: float = 0.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """2-D correlation with a small kernel (as ``scipy.ndimage.correlate``), float32 result.

    ``weights`` is a non-empty 2-D array or nested list of real numbers, any
    size (centred at ``(kh // 2, kw // 2)`` as in scipy).

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.correlate(sm.asarray([[0.0, 1.0, 0.0]], dtype="float32"), [[1, 2, 3]]).tolist()
    [[3.0, 2.0, 1.0]]
    """
    _channels(image, channel_axis, "correlate")
    return _correlate(image, weights, "correlate", False, mode, cval, out, pool)


def convolve(
    image: object,
    weights: Sequence[Sequence[float]],
    /,
    *,
    channel_axis: int | None = -1,
    mode: str = "reflect",
    cval: float = 0.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """2-D convolution with a small kernel (as ``scipy.ndimage.convolve``), float32 result.

    ``weights`` is a non-empty 2-D array or nested list of real numbers, any size.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.convolve(sm.asarray([[0.0, 1.0, 0.0]], dtype="float32"), [[1, 2, 3]]).tolist()
    [[1.0, 2.0, 3.0]]
    """
    _channels(image, channel_axis, "convolve")
    return _correlate(image, weights, "convolve", True, mode, cval, out, pool)


def _correlate(  # noqa: PLR0917 - private helper of correlate/convolve
    image: object,
    weights: Sequence[Sequence[float]],
    where: str,
    flip: bool,
    mode: str,
    cval: float,
    out: SharedArray | None,
    pool: Pool | None,
) -> SharedArray:
    rows = _weights(weights, where)
    kh, kw = len(rows), len(rows[0])
    if flip:
        rows = [r[::-1] for r in rows[::-1]]
    cy, cx = ((kh - 1) // 2, (kw - 1) // 2) if flip else (kh // 2, kw // 2)
    unit = _unit(asarray(image))
    flat = tuple(v * unit for r in rows for v in r)
    return _filter(
        kern.correlate,
        image,
        where,
        out,
        pool,
        mode=mode,
        cval=cval,
        weights=flat,
        kh=kh,
        kw=kw,
        cy=cy,
        cx=cx,
    )


def _weights(weights: object, where: str) -> list[list[float]]:
    """The kernel as rows of floats: a non-empty rectangular 2-D array or nested sequence."""
    nested = _listed(weights)
    if not _is_sequence(nested):
        raise ArgumentTypeError(
            f"{where}(): weights={weights!r} must be a 2-D array or nested list of "
            "numbers, e.g. [[0, 1, 0], [1, -4, 1], [0, 1, 0]]"
        )
    rows = [_listed(row) for row in nested]
    kw = len(rows[0]) if rows and _is_sequence(rows[0]) else 0
    if kw == 0 or not all(_is_row(r, kw) for r in rows):
        raise ShapeError(
            f"{where}(): weights must be a non-empty rectangular 2-D sequence, got {weights!r}"
        )
    return [
        [check_real(v, f"weights[{i}][{j}]", where) for j, v in enumerate(row)]
        for i, row in enumerate(cast("list[Sequence[object]]", rows))
    ]


def _listed(value: object) -> object:
    """An array (SharedArray, NumPy) as nested lists; anything else as it is."""
    if hasattr(value, "ndim") and hasattr(value, "tolist"):
        return value.tolist()
    return value


def _is_sequence(value: object) -> TypeGuard[Sequence[object]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _is_row(row: object, length: int) -> bool:
    """A sequence of ``length`` values that are not sequences themselves."""
    return (
        _is_sequence(row) and len(row) == length and not any(_is_sequence(_listed(v)) for v in row)
    )


def box_blur(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    size: int = 3,
    mode: str = "reflect",
    cval: float = 0.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Mean over a ``size x size`` box (as ``scipy.ndimage.uniform_filter``), float32 result.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.box_blur(sm.asarray([[0.0, 9.0, 0.0]], dtype="float32"), mode="constant").tolist()
    [[1.0, 1.0, 1.0]]
    """
    _channels(image, channel_axis, "box_blur")
    k = _size(size, "box_blur", odd=False)
    scale = _unit(asarray(image)) / (k * k)
    return _filter(kern.box, image, "box_blur", out, pool, mode=mode, cval=cval, k=k, scale=scale)


def gaussian(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    sigma: float = 1.0,
    mode: str = "nearest",
    cval: float = 0.0,
    truncate: float = 4.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Separable Gaussian blur (as ``skimage.filters.gaussian``), float32 result.

    The kernel has radius ``int(truncate * sigma + 0.5)`` pixels; ``sigma > 0``
    and ``truncate >= 0`` must be finite numbers whose kernel spans at most
    65,535 pixels.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.gaussian(sm.full((3, 4), 255, dtype="uint8"), sigma=2).tolist()[0]
    [1.0, 1.0, 1.0, 1.0]
    """
    _channels(image, channel_axis, "gaussian")
    sigma = check_real(sigma, "sigma", "gaussian", finite=True)
    truncate = check_real(truncate, "truncate", "gaussian", finite=True)
    if sigma <= 0:
        raise InvalidArgumentError(f"gaussian(): sigma={sigma} must be > 0")
    if truncate < 0:
        raise InvalidArgumentError(f"gaussian(): truncate={truncate} must be >= 0")
    if truncate * sigma + 0.5 >= MAX_WINDOW // 2 + 1:
        raise InvalidArgumentError(
            f"gaussian(): sigma={sigma} with truncate={truncate} needs a kernel of radius "
            f"{truncate * sigma + 0.5:.6g}, over {MAX_WINDOW // 2} (a window of {MAX_WINDOW} "
            "pixels); use a smaller sigma (or truncate)"
        )
    radius = int(truncate * sigma + 0.5)
    phi = [math.exp(-0.5 * (x / sigma) ** 2) for x in range(-radius, radius + 1)]
    total = sum(phi)
    wx = tuple(v / total for v in phi)
    wy = tuple(v * _unit(asarray(image)) for v in wx)
    return _filter(kern.separable, image, "gaussian", out, pool, mode=mode, cval=cval, wy=wy, wx=wx)


def sobel(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    mode: str = "reflect",
    cval: float = 0.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Sobel gradient magnitude (as ``skimage.filters.sobel``), float32 result.

    ``sqrt((gx**2 + gy**2) / 2)`` with the kernels normalised by 4.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.sobel(sm.asarray([[0.0, 0.0, 4.0, 4.0]] * 3, dtype="float32")).tolist()[1]
    [0.0, 2.8284270763397217, 2.8284270763397217, 0.0]
    """
    _channels(image, channel_axis, "sobel")
    scale = _unit(asarray(image)) / (4 * math.sqrt(2))
    return _filter(kern.sobel, image, "sobel", out, pool, mode=mode, cval=cval, scale=scale)


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


def median(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    size: int = 3,
    mode: str = "nearest",
    cval: float = 0.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Median over a ``size x size`` square (as ``skimage.filters.median``); keeps the dtype.

    ``cval`` is in the image's own units. ``size`` is at most 255 (the window's
    ``size * size`` values are sorted for every pixel).

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.median(sm.asarray([[1, 9, 1], [1, 1, 1], [9, 1, 1]], dtype="uint8")).tolist()
    [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    """
    _channels(image, channel_axis, "median")
    k = _size(size, "median", odd=True, limit=math.isqrt(MAX_WINDOW))
    return _filter(kern.median, image, "median", out, pool, mode=mode, cval=cval, keep=True, k=k)


def erosion(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    size: int = 3,
    mode: str = "reflect",
    cval: float = 0.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Grey erosion (minimum) over a ``size x size`` square; keeps the dtype.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.erosion(sm.asarray([[5, 5, 5, 0]], dtype="uint8")).tolist()
    [[5, 5, 0, 0]]
    """
    _channels(image, channel_axis, "erosion")
    k = _size(size, "erosion", odd=True)
    return _filter(
        kern.rank, image, "erosion", out, pool, mode=mode, cval=cval, keep=True, k=k, op="min"
    )


def dilation(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    size: int = 3,
    mode: str = "reflect",
    cval: float = 0.0,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Grey dilation (maximum) over a ``size x size`` square; keeps the dtype.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.dilation(sm.asarray([[0, 0, 0, 7]], dtype="uint8")).tolist()
    [[0, 0, 7, 7]]
    """
    _channels(image, channel_axis, "dilation")
    k = _size(size, "dilation", odd=True)
    return _filter(
        kern.rank, image, "dilation", out, pool, mode=mode, cval=cval, keep=True, k=k, op="max"
    )


# -- histograms ---------------------------------------------------------------------------------


def histogram(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    source_range: str = "image",
    pool: Pool | None = None,
) -> tuple[list[int], list[int]]:
    """Counts of each value of a uint8 image and the values (as ``skimage.exposure.histogram``).

    ``source_range='image'`` covers min..max of the image, ``'dtype'`` 0..255.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.histogram(sm.asarray([[3, 3, 5]], dtype="uint8"))
    ([2, 0, 1], [3, 4, 5])
    """
    _channels(image, channel_axis, "histogram")
    a = _image(image, "histogram")
    if a.dtype != uint8:
        raise DTypeError(
            f"histogram(): image dtype {a.dtype.name} is not supported; pass a uint8 "
            "image (image.to_uint8(x) converts a [0, 1] float image)"
        )
    parts = _bands(kern.histogram, (a,), a.size, pool, "histogram", flat=True)
    rows = [cast("tuple[int, ...]", part) for part in parts]
    counts = [sum(col) for col in zip(*rows, strict=True)] if rows else [0] * 256
    lo, hi = 0, 255
    if source_range == "image":
        used = [i for i, n in enumerate(counts) if n] or [0]
        lo, hi = used[0], used[-1]
    elif source_range != "dtype":
        raise InvalidArgumentError(
            f"histogram(): source_range={source_range!r}; use 'image' or 'dtype'"
        )
    return counts[lo : hi + 1], list(range(lo, hi + 1))


def equalize_hist(
    image: object,
    /,
    *,
    channel_axis: int | None = -1,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Histogram equalisation of a uint8 image (as ``skimage.exposure.equalize_hist``).

    The result is float32 in [0, 1] (empty for an empty image).

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.equalize_hist(sm.asarray([[0, 0, 100, 200]], dtype="uint8")).tolist()
    [[0.5, 0.5, 0.75, 1.0]]
    """
    _channels(image, channel_axis, "equalize_hist")
    a = _image(image, "equalize_hist")
    counts, centers = histogram(a, pool=pool)
    res = _out(out, a.shape, "float32", "equalize_hist")
    if a.size == 0:
        return res
    cdf = [n / a.size for n in _cumsum(counts)]
    table = tuple(cdf[min(max(i - centers[0], 0), len(cdf) - 1)] for i in range(256))
    _bands(kern.table_float, (a, res), a.size, pool, "equalize_hist", flat=True, table=table)
    return res


def _cumsum(values: list[int]) -> list[int]:
    total, acc = 0, []
    for v in values:
        total += v
        acc.append(total)
    return acc


# -- geometry ------------------------------------------------------------------------------------


def resize(
    image: object,
    output_shape: tuple[int, int],
    /,
    *,
    channel_axis: int | None = -1,
    order: int = 1,
    out: SharedArray | None = None,
    pool: Pool | None = None,
) -> SharedArray:
    """Resize to ``output_shape`` (rows, cols): ``order=0`` nearest, 1 bilinear.

    Nearest keeps the dtype; bilinear gives float32.

    Pixel centres are aligned as in ``skimage.transform.resize`` (without anti-aliasing).
    An image without pixels (zero height or width) cannot be resized.

    Examples
    --------
    >>> import shardmem as sm
    >>> from shardmem import image
    >>> image.resize(sm.asarray([[0.0, 1.0]], dtype="float32"), (1, 4)).tolist()
    [[0.25, 0.25, 0.75, 0.75]]
    """
    _channels(image, channel_axis, "resize")
    a = _image(image, "resize")
    h, w, c = _hwc(a)
    oh, ow = _shape2(output_shape)
    if order not in (0, 1):
        raise InvalidArgumentError(f"resize(): order={order!r}; use 0 (nearest) or 1 (bilinear)")
    dtype = a.dtype.name if order == 0 else "float32"
    res = _out(out, (oh, ow, *a.shape[2:]), dtype, "resize")
    if res.size == 0:  # no channels
        return res
    if a.size == 0:
        raise ShapeError(
            f"resize(): image has shape {a.shape}, no pixels to interpolate from; "
            "pass an image of at least 1 x 1"
        )
    try:
        ys, i0, i1, f1 = _tables((h, w, c), (oh, ow), order)
    except MemoryError as exc:  # the output fits, its per-row and per-column tables do not
        raise OutOfMemoryError(
            f"resize(): output_shape={(oh, ow)} needs tables of {oh} rows and {ow * c} "
            f"columns, about {format_nbytes((oh + 3 * ow * c) * _TABLE_ENTRY)}, which do not "
            "fit in memory; ask for a smaller size"
        ) from exc
    _bands(
        kern.resize,
        (a, res),
        oh,
        pool,
        "resize",
        wc=w * c,
        owc=ow * c,
        ys=ys,
        i0=i0,
        i1=i1,
        f1=f1,
        scale=_unit(a),
        linear=order == 1,
    )
    return res


_TABLE_ENTRY = 100  # bytes of Python objects per entry of resize's tables (a rough bound)


def _tables(
    source: tuple[int, int, int], size: tuple[int, int], order: int
) -> tuple[tuple[tuple[int, int, float], ...], tuple[int, ...], tuple[int, ...], tuple[float, ...]]:
    """Source rows of each output row; source elements and weights of each output element."""
    (h, w, c), (oh, ow) = source, size
    ys = tuple(_axis(h, oh, order))
    cols = _axis(w, ow, order)
    i0 = tuple(x0 * c + k for x0, _, _ in cols for k in range(c))
    i1 = tuple(x1 * c + k for _, x1, _ in cols for k in range(c))
    f1 = tuple(f for _, _, f in cols for _ in range(c))
    return ys, i0, i1, f1


def _shape2(shape: object) -> tuple[int, int]:
    """(rows, cols): a pair of ints (NumPy integers too) >= 1."""
    rule = "must be (rows, cols) of ints >= 1, e.g. (256, 256)"
    if not isinstance(shape, tuple | list) or not all(map(_is_int, shape)):
        raise ArgumentTypeError(f"resize(): output_shape={shape!r} {rule}")
    if len(shape) != 2 or min(map(operator.index, shape)) < 1:
        raise ShapeError(f"resize(): output_shape={shape!r} {rule}")
    return operator.index(shape[0]), operator.index(shape[1])


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and hasattr(value, "__index__")


def _axis(n: int, m: int, order: int) -> list[tuple[int, int, float]]:
    """For each output index: source indices (i0, i1) and the weight of i1."""
    s = n / m
    if order == 0:
        return [(min(int((o + 0.5) * s), n - 1),) * 2 + (0.0,) for o in range(m)]
    res = []
    for o in range(m):
        x = abs((o + 0.5) * s - 0.5)  # mirror at the first and last pixel centres
        x = max(0.0, min(x, 2 * (n - 1) - x))
        i = int(x)
        res.append((i, min(i + 1, n - 1), x - i))
    return res


from shardmem.image import data as data  # noqa: E402 - the sample images, after the operations
