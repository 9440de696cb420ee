"""Conversion of foreign data (sequences, buffers, NumPy, Array-API arrays) to raw bytes.

NumPy is imported only when an object's type comes from NumPy, and
array-api-compat only for objects no other rule recognises.
"""

from __future__ import annotations

import array
import math
from collections.abc import Buffer
from typing import Any

from shardmem._data.array import SharedArray, cast_view, check_shape
from shardmem._data.buffer import format_nbytes
from shardmem._data.dtypes import DType, as_dtype, check_scalar, dtype_from_format, result_dtype
from shardmem._errors import (
    ArgumentTypeError,
    DTypeError,
    OutOfMemoryError,
    ShapeError,
    ValueOverflowError,
)

__all__ = ("is_numpy", "pack", "to_raw")

type Raw = bytes | memoryview
_SEQUENCES = (list, tuple, range)


def is_numpy(obj: object, /) -> bool:
    """Whether ``obj``'s type comes from NumPy (without importing NumPy).

    Examples
    --------
    >>> from shardmem._data.convert import is_numpy
    >>> is_numpy([1, 2])
    False
    """
    return type(obj).__module__.split(".")[0] == "numpy"


def to_raw(obj: object, dtype: DType | None, /) -> tuple[Raw, tuple[int, ...], DType]:
    """Return C-ordered bytes, shape and dtype of ``obj`` converted to ``dtype``.

    ``dtype=None`` infers: bools -> bool, ints -> int64, floats -> float64;
    buffers and arrays keep their own dtype.

    Examples
    --------
    >>> from shardmem._data.convert import to_raw
    >>> raw, shape, dtype = to_raw([[1, 2]], None)
    >>> len(raw), shape, dtype
    (16, (1, 2), DType('int64'))
    """
    if isinstance(obj, SharedArray):
        return _from_shared(obj, dtype)
    if is_numpy(obj):
        return _from_numpy(obj, dtype)
    if isinstance(obj, bool | int | float):
        target = dtype or result_dtype([obj])
        return pack([obj], target), (), target
    if isinstance(obj, _SEQUENCES):
        return _from_sequence(obj, dtype)
    if isinstance(obj, Buffer):
        return _from_buffer(memoryview(obj), dtype)
    if _is_array_api(obj):
        return _from_numpy(_array_api_to_numpy(obj), dtype)
    raise ArgumentTypeError(
        f"cannot convert {type(obj).__name__} object to a SharedArray; pass a number, "
        "nested lists/tuples, a buffer (bytes, array.array, memoryview), or a NumPy "
        "or Array-API array"
    )


# --- Python values -------------------------------------------------------
def pack(values: list[Any] | range, dtype: DType, /) -> bytes:
    """Pack flat Python scalars into bytes of ``dtype``, checking kinds and ranges.

    Examples
    --------
    >>> from shardmem._data.convert import pack
    >>> from shardmem._data.dtypes import int16
    >>> pack([1, -1], int16)
    b'\\x01\\x00\\xff\\xff'
    """
    if dtype.kind == "b":
        if not all(isinstance(v, bool) for v in values):
            for v in values:
                check_scalar(dtype, v)
        return bytes(values)
    try:
        packed = array.array(dtype.format, values)
    except TypeError, OverflowError, ValueError:
        for v in values:
            check_scalar(dtype, v)
        raise
    if dtype.format == "f" and (math.inf in packed or -math.inf in packed):
        for v in values:
            check_scalar(dtype, v)
    return packed.tobytes()


def _from_sequence(
    obj: list[Any] | tuple[Any, ...] | range, dtype: DType | None
) -> tuple[Raw, tuple[int, ...], DType]:
    if isinstance(obj, range):
        target = dtype or as_dtype("int64")
        return pack(obj, target), (len(obj),), target
    shape, flat = _flatten(obj)
    target = dtype or result_dtype(flat)
    return pack(flat, target), shape, target


def _nested_shape(obj: object) -> tuple[int, ...]:
    shape = []
    while isinstance(obj, _SEQUENCES):
        shape.append(len(obj))
        if not obj:
            break
        obj = obj[0]
    return tuple(shape)


def _flatten(obj: list[Any] | tuple[Any, ...]) -> tuple[tuple[int, ...], list[Any]]:
    shape = _nested_shape(obj)
    level: list[Any] = [obj]
    for depth, length in enumerate(shape):
        nxt: list[Any] = []
        for position, item in enumerate(level):
            if not isinstance(item, _SEQUENCES) or len(item) != length:
                raise _ragged(shape, depth, position, item)
            nxt.extend(item)
        level = nxt
    for position, item in enumerate(level):
        if isinstance(item, _SEQUENCES):
            raise _ragged(shape, len(shape), position, item)
    check_shape(shape)
    return shape, level


def _ragged(shape: tuple[int, ...], depth: int, position: int, item: object) -> ShapeError:
    where = []
    for length in reversed(shape[:depth]):
        position, index = divmod(position, length)
        where.append(index)
    found = f"length {len(item)}" if isinstance(item, _SEQUENCES) else f"scalar {item!r}"
    want = f"length {shape[depth]}" if depth < len(shape) else "a scalar"
    return ShapeError(
        f"ragged nested sequence: the element at index {tuple(reversed(where))} has {found}, "
        f"expected {want} (like the first element at that depth); make every row the same length"
    )


# --- buffers and other SharedArrays --------------------------------------
def _from_buffer(view: memoryview, dtype: DType | None) -> tuple[Raw, tuple[int, ...], DType]:
    source = dtype_from_format(view.format, view.itemsize)
    shape = tuple(view.shape or ())
    if view.c_contiguous and view.ndim and 0 not in shape:
        raw: Raw = view.cast("B")
    else:
        check_shape(shape, source.itemsize)
        try:
            raw = view.tobytes()
        except MemoryError as exc:  # a broadcast view of a few bytes, too large to copy
            raise OutOfMemoryError(
                f"Unable to allocate {format_nbytes(math.prod(shape) * source.itemsize)} for an "
                f"array with shape {shape} and data type {source.name} (a copy of the "
                f"{type(view.obj).__name__} in shared memory); free memory or pass a smaller array"
            ) from exc
    return _convert(raw, shape, source, dtype)


def _from_shared(obj: SharedArray, dtype: DType | None) -> tuple[Raw, tuple[int, ...], DType]:
    return _convert(obj._tobytes(), obj.shape, obj.dtype, dtype)


def _convert(
    raw: Raw, shape: tuple[int, ...], source: DType, target: DType | None
) -> tuple[Raw, tuple[int, ...], DType]:
    if target is None or target == source:
        return raw, shape, source
    values = cast_view(memoryview(raw).cast("B"), source.format).tolist()
    return pack(values, target), shape, target


# --- NumPy and the Array API ---------------------------------------------
def _is_array_api(obj: object) -> bool:
    if not hasattr(obj, "__array_namespace__") and not hasattr(obj, "__dlpack__"):
        return False
    import array_api_compat

    return bool(array_api_compat.is_array_api_obj(obj))


def _array_api_to_numpy(obj: Any) -> Any:
    try:
        import numpy as np
    except ImportError:
        raise DTypeError(
            f"converting a {type(obj).__name__} array needs NumPy; install numpy "
            "or pass a buffer or nested lists"
        ) from None
    try:
        return np.from_dlpack(obj)
    except TypeError, BufferError, RuntimeError, AttributeError, ValueError:
        return np.asarray(obj)


def _from_numpy(obj: object, dtype: DType | None) -> tuple[Raw, tuple[int, ...], DType]:
    import numpy as np

    arr = np.asarray(obj)
    try:
        source = as_dtype(arr.dtype.name)
    except DTypeError:
        raise DTypeError(
            f"NumPy dtype {arr.dtype} has no shardmem equivalent; convert with "
            "x.astype(...) to bool, (u)int8..64, float32 or float64 first"
        ) from None
    target = dtype or source
    shape = check_shape(tuple(int(n) for n in arr.shape), target.itemsize)
    try:
        if target != source or not arr.flags.c_contiguous:
            np.empty(shape, dtype=target.name)  # the copy's size, refused before scanning values
        if target != source:
            arr = _cast_numpy(np, arr, source, target)
        arr = np.asarray(arr, dtype=target.name, order="C")
    except MemoryError as exc:  # a broadcast or strided view whose copy is too large
        nbytes = math.prod(shape) * target.itemsize
        raise OutOfMemoryError(
            f"Unable to allocate {format_nbytes(nbytes)} for an array with shape {shape} and "
            f"data type {target.name} (a copy of the {type(obj).__name__} in shared memory); "
            "free memory or pass a smaller array"
        ) from exc
    raw: Raw = memoryview(arr).cast("B") if arr.ndim and arr.size else arr.tobytes()
    return raw, shape, target


def _cast_numpy(np: Any, arr: Any, source: DType, target: DType) -> Any:
    if target.kind == "b" or (target.kind in "iu" and source.kind == "f"):
        raise DTypeError(
            f"cannot convert {source.name} data to {target.name} without losing values; "
            f"convert explicitly first (e.g. x.astype('{target.name}') or x != 0)"
        )
    if target.kind in "iu" and arr.size:
        low, high = int(arr.min()), int(arr.max())
        assert target.min is not None
        assert target.max is not None
        if low < target.min or high > target.max:
            bad = low if low < target.min else high
            raise ValueOverflowError(
                f"value {bad} does not fit {target.name} (range {target.min}..{target.max}); "
                "use a wider dtype"
            )
    if target.name == "float32" and source.name == "float64":
        with np.errstate(over="ignore"):
            cast = arr.astype("float32")
        if int(np.isinf(cast).sum()) != int(np.isinf(arr).sum()):
            raise ValueOverflowError("float64 data has values too large for float32; use float64")
        return cast
    return arr
