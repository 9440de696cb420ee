"""Functions that create SharedArrays (the only way to make one)."""

from __future__ import annotations

import math
import numbers
import os
import struct
import sys
from collections.abc import Sized

from shardmem._data.array import SharedArray, c_strides, check_shape, from_raw
from shardmem._data.buffer import SharedBuffer, format_nbytes
from shardmem._data.convert import pack, to_raw
from shardmem._data.dtypes import DType, as_dtype, as_float, check_scalar, result_dtype
from shardmem._errors import (
    ArgumentTypeError,
    DTypeError,
    InvalidArgumentError,
    OutOfMemoryError,
    ShapeError,
)

__all__ = ("arange", "asarray", "empty", "empty_like", "full", "ones", "zeros", "zeros_like")

type ShapeLike = int | tuple[int, ...] | list[int]
type DTypeLike = DType | str | type | object


def _dtype_or(dtype: DTypeLike | None, default: DType) -> DType:
    return default if dtype is None else as_dtype(dtype)


def zeros(shape: ShapeLike, /, *, dtype: DTypeLike | None = None) -> SharedArray:
    """Return a new array of zeros (float64 unless ``dtype`` is given).

    Raises
    ------
    ShapeError
        If a length is negative or not an int, ``shape`` is an array (pass
        ``tuple(a.tolist())``), or the array needs more bytes than an address holds.
    OutOfMemoryError
        If the memory cannot be allocated (a ``MemoryError`` naming the size,
        shape and dtype, as NumPy's does).
    DTypeError
        If ``dtype`` is unknown.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.zeros((2, 2), dtype="int32")
    SharedArray([[0, 0], [0, 0]], dtype=int32)
    >>> sm.zeros((-1, 3))
    Traceback (most recent call last):
    ...
    shardmem.ShapeError: shape (-1, 3) has a negative length -1 on axis 0; ...
    """
    kind = _dtype_or(dtype, as_dtype("float64"))
    dims = check_shape(shape, kind.itemsize)
    size = math.prod(dims)
    try:
        buffer = SharedBuffer(size * kind.itemsize)
    except OutOfMemoryError as exc:
        raise OutOfMemoryError(
            f"Unable to allocate {format_nbytes(size * kind.itemsize)} for an array with shape "
            f"{dims} and data type {kind.name}; free memory or ask for a smaller shape"
        ) from exc
    return SharedArray._new(buffer, kind, dims, c_strides(dims, kind.itemsize), 0)


def empty(shape: ShapeLike, /, *, dtype: DTypeLike | None = None) -> SharedArray:
    """Return a new array; its memory is zero-filled (same as `zeros`).

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.empty(3, dtype="uint8").tolist()
    [0, 0, 0]
    """
    return zeros(shape, dtype=dtype)


def full(
    shape: ShapeLike, fill_value: bool | float, /, *, dtype: DTypeLike | None = None
) -> SharedArray:
    """Return a new array with every element set to ``fill_value``.

    The dtype defaults to bool, int64 or float64 after ``fill_value``'s type.

    Raises
    ------
    ValueOverflowError
        If ``fill_value`` does not fit ``dtype``.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.full((2,), 7, dtype="uint8")
    SharedArray([7, 7], dtype=uint8)
    >>> sm.full(2, 300, dtype="uint8")
    Traceback (most recent call last):
    ...
    shardmem.ValueOverflowError: value 300 does not fit uint8 (range 0..255); ...
    """
    if type(fill_value) not in (bool, int, float):  # NumPy scalars and other numbers
        fill_value = _plain_number(fill_value)  # type: ignore[assignment]
    try:
        kind = result_dtype([fill_value]) if dtype is None else as_dtype(dtype)
        value = check_scalar(kind, fill_value)
    except DTypeError as exc:
        raise DTypeError(f"full(): fill_value: {exc}") from None
    result = zeros(shape, dtype=kind)
    pattern = struct.pack(kind.format, value)
    if result.size and any(pattern):
        with memoryview(result.buffer._data) as view:
            view[:] = pattern * result.size
    return result


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except ValueError, OSError, AttributeError:
        return None


def _check_fits_memory(where: str, nbytes: int, what: str) -> None:
    """Refuse, before a byte is made, data larger than the machine's memory: built
    element by element (a range), it would grow until the system stopped the process."""
    total = _physical_memory()
    if total is not None and nbytes > total:
        raise OutOfMemoryError(
            f"{where}: Unable to allocate {format_nbytes(nbytes)} for {what}: this machine "
            f"has {format_nbytes(total)} of memory; convert less data"
        )


def _plain_number(value: object) -> object:
    """A NumPy scalar (or 0-d array) of a bool, int or float kind as the Python number it
    holds; other numbers (complex, arrays) pass unchanged, for the dtype check to refuse;
    what is not a number at all is refused here, by name."""
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind is not None:
        if getattr(value, "shape", None) == () and kind in "biuf":
            item = value.item() if hasattr(value, "item") else value.tolist()  # type: ignore[attr-defined]
            return bool(item) if kind == "b" else item
        return value
    if isinstance(value, numbers.Number):
        return value
    raise ArgumentTypeError(
        f"full(): fill_value={value!r} is a {type(value).__name__}; pass a bool, int or float"
    )


def ones(shape: ShapeLike, /, *, dtype: DTypeLike | None = None) -> SharedArray:
    """Return a new array of ones (float64 unless ``dtype`` is given).

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.ones(2, dtype=bool)
    SharedArray([True, True], dtype=bool)
    """
    kind = _dtype_or(dtype, as_dtype("float64"))
    return full(shape, True if kind.kind == "b" else 1, dtype=kind)


def arange(
    start: float,
    /,
    stop: float | None = None,
    step: float = 1,
    *,
    dtype: DTypeLike | None = None,
) -> SharedArray:
    """Return evenly spaced values in ``[start, stop)``, like ``range`` or NumPy.

    int64 when all arguments are ints, else float64 (``start + i * step``).

    Raises
    ------
    ArgumentTypeError
        If an argument is not an int or float.
    InvalidArgumentError
        If ``step`` is 0 or an argument is NaN or infinite.
    ShapeError
        If the result would not fit memory.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.arange(4).tolist(), sm.arange(1, 2, 0.25).tolist()
    ([0, 1, 2, 3], [1.0, 1.25, 1.5, 1.75])
    """
    for name, arg in (("start", start), ("stop", stop), ("step", step)):
        if name == "stop" and arg is None:
            continue
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            raise ArgumentTypeError(
                f"arange(): {name}={arg!r} is not an int or float (a {type(arg).__name__}); "
                "pass numbers"
            )
    if stop is None:
        start, stop = 0, start
    args = (start, stop, step)
    exact = all(isinstance(a, int) for a in args)
    for arg in args:
        if not exact and not math.isfinite(as_float(arg)):
            raise InvalidArgumentError(
                f"arange() argument {arg!r} is not a finite float; pass finite numbers"
            )
    if step == 0:
        raise InvalidArgumentError(
            "arange() step 0 would give infinitely many values; use a step != 0"
        )
    kind = _dtype_or(dtype, result_dtype(list(args)))
    span = -((start - stop) // step) if exact else (stop - start) / step
    finite = exact or math.isfinite(span)
    count = max(0, math.ceil(span)) if finite else 0 if span < 0 else sys.maxsize + 1
    if count * kind.itemsize > sys.maxsize:
        shown = count if finite else f"more than {sys.maxsize}"
        raise ShapeError(
            f"arange({start}, {stop}, {step}) would hold {shown} values of {kind.itemsize} "
            f"bytes, more than the maximum of {sys.maxsize} bytes; use a smaller range"
        )
    if exact:
        values: list[float] | range = range(int(start), int(stop), int(step))
    else:
        values = [start + i * step for i in range(count)]
    return from_raw(pack(values, kind), (count,), kind)


def asarray(obj: object, /, *, dtype: DTypeLike | None = None) -> SharedArray:
    """Copy ``obj`` into shared memory once and return it as a SharedArray.

    ``obj`` may be a Python scalar, nested lists/tuples/ranges, any buffer
    (bytes, bytearray, array.array, memoryview), a NumPy array of any strides,
    or an Array-API array. A SharedArray whose dtype matches (or with
    ``dtype=None``) is returned as is, without a copy.

    Parameters
    ----------
    obj : object
        The data.
    dtype : DType, str, NumPy dtype or Python type, optional
        Element type; inferred when omitted (bools -> bool, ints -> int64,
        floats -> float64, buffers and arrays keep theirs).

    Raises
    ------
    ShapeError
        If nested sequences are ragged, or a range is too long for memory.
    DTypeError, ValueOverflowError
        If a value does not fit the dtype or the type is not supported.
    OutOfMemoryError
        If the elements cannot be allocated.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.asarray([[1, 2], [3, 4.5]])
    SharedArray([[1.0, 2.0], [3.0, 4.5]], dtype=float64)
    >>> sm.asarray(b"hi")
    SharedArray([104, 105], dtype=uint8)
    >>> a = sm.zeros(2)
    >>> sm.asarray(a) is a
    True
    """
    target = None if dtype is None else as_dtype(dtype)
    if isinstance(obj, SharedArray) and target in (None, obj.dtype):
        return obj
    if isinstance(obj, range):  # its length is known before a byte is made
        itemsize = (target or as_dtype("int64")).itemsize
        check_shape((len(obj),), itemsize)
        _check_fits_memory("asarray()", len(obj) * itemsize, f"a range of length {len(obj)}")
    try:
        raw, shape, kind = to_raw(obj, target)
    except MemoryError as exc:
        if isinstance(exc, OutOfMemoryError):
            raise
        length = len(obj) if isinstance(obj, Sized) else "?"
        raise OutOfMemoryError(
            f"asarray(): Unable to allocate the elements of a {type(obj).__name__} of length "
            f"{length}; free memory or convert less data"
        ) from exc
    return from_raw(raw, shape, kind)


def _like(x: object, dtype: DTypeLike | None) -> tuple[tuple[int, ...], DType]:
    shape = getattr(x, "shape", None)
    if shape is None:
        raise ArgumentTypeError(f"{type(x).__name__} object has no shape; pass an array")
    return tuple(shape), _dtype_or(dtype, as_dtype(getattr(x, "dtype", "float64")))


def empty_like(x: object, /, *, dtype: DTypeLike | None = None) -> SharedArray:
    """Return a new zero-filled array with the shape (and dtype) of ``x``.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.empty_like(sm.ones((2, 3), dtype="int8")).shape
    (2, 3)
    """
    shape, kind = _like(x, dtype)
    return zeros(shape, dtype=kind)


def zeros_like(x: object, /, *, dtype: DTypeLike | None = None) -> SharedArray:
    """Return a new array of zeros with the shape (and dtype) of ``x``.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.zeros_like(sm.ones(2, dtype="int8"), dtype="float32")
    SharedArray([0.0, 0.0], dtype=float32)
    """
    shape, kind = _like(x, dtype)
    return zeros(shape, dtype=kind)
