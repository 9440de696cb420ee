"""Grey morphology with a square footprint: erosion and dilation."""

from __future__ import annotations

from shardmem._data.array import SharedArray
from shardmem._engine import Pool
from shardmem.image import _kernels as kern
from shardmem.image._runner import _channels, _filter, _size

__all__ = ("dilation", "erosion")


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
