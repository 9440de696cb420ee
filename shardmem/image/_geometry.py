"""Geometry: resizing by nearest or bilinear interpolation."""

from __future__ import annotations

import operator

from shardmem._array import SharedArray
from shardmem._buffer import format_nbytes
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
