"""Geometry: resizing by nearest or bilinear interpolation."""

from __future__ import annotations

import operator
from array import array
from itertools import repeat
from operator import sub

from shardmem._data.array import SharedArray
from shardmem._data.buffer import format_nbytes
from shardmem._engine import Pool
from shardmem._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    OutOfMemoryError,
    ShapeError,
)
from shardmem.image import _kernels as kern
from shardmem.image._runner import _bands, _channels, _hwc, _image, _out, _unit

__all__ = ("resize",)


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
    try:  # compact tables (8 bytes an entry), built before any work starts
        ys = tuple(t.tobytes() for t in _axis(h, oh, order))  # (bytes: shipped as they are)
        xs = tuple(t.tobytes() for t in _axis(w, ow, order))
    except MemoryError as exc:  # the output fits, its per-row and per-column tables do not
        raise OutOfMemoryError(
            f"resize(): output_shape={(oh, ow)} needs tables of {oh} rows and {ow} "
            f"columns, about {format_nbytes((oh + ow) * _TABLE_ENTRY)}, which do not "
            "fit in memory; ask for a smaller size"
        ) from exc
    _bands(
        kern.resize,
        (a, res),
        oh,
        pool,
        "resize",
        c=c,
        wc=w * c,
        owc=ow * c,
        ys=ys,
        xs=xs,
        scale=_unit(a),
        linear=order == 1,
    )
    return res


_TABLE_ENTRY = 24  # bytes of resize's tables per output row or column (3 arrays)


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


def _axis(n: int, m: int, order: int) -> tuple[array[int], array[int], array[float]]:
    """For each of ``m`` output indices: source indices ``i0``, ``i1`` and the weight of ``i1``.

    Nearest gives ``i0`` only (``i1`` and the weights empty). Each step is one C
    ``map`` over all ``m`` indices, the arithmetic of the formula written per index::

        x = abs((o + 0.5) * s - 0.5)        # mirrored at the first and last centres
        x = max(0.0, min(x, 2 * (n - 1) - x))
        i0, i1, weight = int(x), min(int(x) + 1, n - 1), x - int(x)
    """
    s = n / m
    at = map(s.__mul__, map((0.5).__add__, range(m)))  # (o + 0.5) * s
    if order == 0:
        return array("q", map(min, map(int, at), repeat(n - 1))), array("q"), array("d")
    xs = list(map(abs, map((-0.5).__add__, at)))
    xs = list(map(max, repeat(0.0), map(min, xs, map(float(2 * (n - 1)).__sub__, xs), strict=True)))
    i0 = list(map(int, xs))
    i1 = array("q", map(min, map((1).__add__, i0), repeat(n - 1)))
    return array("q", i0), i1, array("d", map(sub, xs, i0, strict=True))
