"""Neighbourhood filters: correlation, box, Gaussian, Sobel, median."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeGuard, cast

from shardmem._data.array import SharedArray
from shardmem._data.creation import asarray
from shardmem._data.dtypes import check_real
from shardmem._engine import Pool
from shardmem._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    ShapeError,
)
from shardmem.image import _kernels as kern
from shardmem.image._runner import MAX_WINDOW, _channels, _filter, _size, _unit

__all__ = ("box_blur", "convolve", "correlate", "gaussian", "median", "sobel")


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
    mode: str = "reflect",
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


def median(
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
