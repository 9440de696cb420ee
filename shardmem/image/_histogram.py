"""Histograms of uint8 images and histogram equalisation."""

from __future__ import annotations

from typing import cast

from shardmem._data.array import SharedArray
from shardmem._data.dtypes import uint8
from shardmem._engine import Pool
from shardmem._errors import (
    DTypeError,
    InvalidArgumentError,
)
from shardmem.image import _kernels as kern
from shardmem.image._runner import _bands, _channels, _image, _out

__all__ = ("equalize_hist", "histogram")


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
