"""Point operations: each output pixel from the same input pixel (tables for uint8)."""

from __future__ import annotations

import math

from shardmem._data.array import SharedArray
from shardmem._data.dtypes import check_real, uint8
from shardmem._engine import Pool
from shardmem._errors import (
    ArgumentTypeError,
    DTypeError,
    InvalidArgumentError,
    ShapeError,
)
from shardmem.image import _kernels as kern
from shardmem.image._histogram import histogram
from shardmem.image._runner import _bands, _channels, _hwc, _image, _out, _point, _unit

__all__ = ("adjust_gamma", "invert", "rescale_intensity", "rgb2gray", "threshold", "to_uint8")


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
    table = bytes(_gamma8(i, gamma, gain) for i in range(256))
    return _point(image, "adjust_gamma", out, pool, table, "gamma", gamma, gain)


def _gamma8(value: int, gamma: float, gain: float) -> int:
    """``rint(255 * gain * (value / 255) ** gamma)`` clipped to 0..255, as scikit-image's table.

    With a huge ``gain``, ``255 * gain`` overflows to inf, and inf times a zero
    power is NaN: value 0 then gives 0 (its power is 0), not an error.
    """
    power = (value / 255) ** gamma
    scaled = 255 * gain * power if power else 0.0
    return round(min(max(scaled, 0.0), 255.0))


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
    uint8 image comes back unchanged). NaN pixels stay NaN, and NaN, inf and
    -inf do not count towards the image's min and max (scikit-image makes the
    whole image NaN): inf pixels become 1 and -inf pixels 0. A range wider than
    the largest float (``-1.7e308`` to ``1.7e308``) is stretched without
    overflow.
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
    """The least and greatest finite value of a non-empty image.

    NaN, inf and -inf are ignored, so that one non-finite pixel does not make
    the whole result NaN (an image without finite values: its least and greatest
    infinity, or NaN if all values are NaN).
    """
    if a.dtype == uint8:
        _counts, centers = histogram(a, pool=pool)
        return centers[0], centers[-1]
    vals = memoryview(a).cast("B").cast(a.dtype.format)
    lo, hi = min(vals), max(vals)  # main interpreter; float min/max are C loops
    if math.isfinite(lo) and math.isfinite(hi):  # (a NaN first value would be kept: checked)
        return lo, hi
    values = vals.tolist()
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        finite = [v for v in values if not math.isnan(v)]
    return min(finite, default=math.nan), max(finite, default=math.nan)


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
        to_uint8=dtype == "uint8",
    )
    return res
