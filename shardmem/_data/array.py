"""SharedArray: a dtype, shape and byte strides over a SharedBuffer."""

from __future__ import annotations

import array
import ctypes
import math
import operator
import reprlib
import struct
import sys
import typing
from collections.abc import Buffer, Iterator
from types import EllipsisType

from shardmem._data.buffer import SharedBuffer, buffer_holding, strided_memoryview
from shardmem._data.dtypes import (
    Casting,
    DType,
    as_dtype,
    as_index,
    can_cast,
    cast_values,
    check_scalar,
)
from shardmem._errors import (
    ArgumentTypeError,
    ArrayIndexError,
    DTypeError,
    InvalidArgumentError,
    ShapeError,
)

__all__ = (
    "Scalar",
    "SharedArray",
    "borrow_arguments",
    "c_strides",
    "cast_view",
    "check_shape",
    "from_raw",
    "unsafe_overlap",
)

type Scalar = bool | int | float
type _Key = int | slice | EllipsisType | tuple[int | slice | EllipsisType, ...]
_REPR_LIMIT = 1000
_T = typing.TypeVar("_T")


def _shape_error(shape: object, detail: str) -> ShapeError:
    return ShapeError(f"shape {shape!r} {detail}")


def check_shape(shape: object, itemsize: int = 1, /) -> tuple[int, ...]:
    """Validate a shape (an int or a tuple/list of ints) and return it as a tuple.

    NumPy integers count as ints (also 0-d integer arrays); other arrays are
    refused, as are bools.

    Raises
    ------
    ShapeError
        If the shape is an array, a length is not an int or is negative, or
        ``itemsize`` times the product of the nonzero lengths exceeds
        ``sys.maxsize`` (NumPy's "array is too big", even with a length 0).

    Examples
    --------
    >>> from shardmem._data.array import check_shape
    >>> check_shape(3), check_shape([2, 0])
    ((3,), (2, 0))
    """
    single = as_index(shape)
    items = (shape,) if single is not None else shape
    if hasattr(shape, "ndim") and single is None:
        raise _shape_error(
            shape,
            "is an array, not an int or a tuple of ints; pass e.g. "
            "(2, 3), or tuple(a.tolist()) for an array a of lengths",
        )
    if not isinstance(items, tuple | list):
        raise _shape_error(shape, "is not an int or a tuple of ints; pass e.g. (2, 3)")
    dims = []
    total = itemsize
    for axis, length in enumerate(items):
        n = as_index(length)
        if n is None:
            raise _shape_error(
                shape, f"has a non-integer length {length!r} on axis {axis}; lengths must be ints"
            )
        if n < 0:
            raise _shape_error(
                shape, f"has a negative length {length} on axis {axis}; lengths must be >= 0"
            )
        total *= n or 1  # NumPy's rule: the lengths other than 0 must fit too
        dims.append(n)
    if total > sys.maxsize:
        raise _shape_error(
            shape,
            f"is too big: it needs {total} bytes, more than the maximum {sys.maxsize} "
            f"({itemsize}-byte elements times the lengths other than 0: as NumPy, they count "
            "even beside a 0); use a smaller shape",
        )
    return tuple(dims)


def c_strides(shape: tuple[int, ...], itemsize: int, /) -> tuple[int, ...]:
    """Return the byte strides of a C-contiguous array.

    Examples
    --------
    >>> from shardmem._data.array import c_strides
    >>> c_strides((2, 3), 8)
    (24, 8)
    """
    strides = []
    step = itemsize
    for length in reversed(shape):
        strides.append(step)
        step *= max(length, 1)
    return tuple(reversed(strides))


def from_raw(
    raw: bytes | bytearray | memoryview, shape: tuple[int, ...], dtype: DType, /
) -> SharedArray:
    """Copy C-ordered bytes into a new SharedArray.

    Examples
    --------
    >>> from shardmem._data.array import from_raw
    >>> from shardmem._data.dtypes import uint8
    >>> from_raw(b"\\x01\\x02", (2,), uint8).tolist()
    [1, 2]
    """
    buffer = SharedBuffer(len(raw))
    if len(raw):
        with memoryview(buffer._data) as view:
            view[:] = raw  # memoryview copy: a plain memcpy, faster than bytearray[:]
    return SharedArray._new(buffer, dtype, shape, c_strides(shape, dtype.itemsize), 0)


class SharedArray:
    """An N-d array in shared memory that worker interpreters see without a copy.

    There is no public constructor: create arrays with `shardmem.asarray`,
    `shardmem.zeros`, `shardmem.empty`, `shardmem.full`, `shardmem.arange`, ...
    Basic indexing (ints, slices with any step, ``...``) returns views.
    ``np.asarray(a)`` and ``memoryview(a)`` share memory with ``a``.

    ``==`` is identity, not elementwise (and arrays hash by identity); compare
    contents with ``np.array_equal(np.asarray(a), b)`` or ``a.tolist() == b``.

    Examples
    --------
    >>> import shardmem as sm
    >>> a = sm.arange(6).reshape((2, 3))
    >>> a[1, ::-1]
    SharedArray([5, 4, 3], dtype=int64)
    >>> a[:, 0] = 9
    >>> a.tolist()
    [[9, 1, 2], [9, 4, 5]]
    """

    __slots__ = ("__weakref__", "_buffer", "_dtype", "_offset", "_shape", "_strides")
    _buffer: SharedBuffer
    _dtype: DType
    _offset: int
    _shape: tuple[int, ...]
    _strides: tuple[int, ...]

    def __init__(self) -> None:
        raise ArgumentTypeError(
            "SharedArray has no public constructor; use sm.asarray(data), sm.zeros(shape), "
            "sm.empty, sm.full, sm.ones or sm.arange"
        )

    @classmethod
    def _new(
        cls,
        buffer: SharedBuffer,
        dtype: DType,
        shape: tuple[int, ...],
        strides: tuple[int, ...],
        offset: int,
    ) -> SharedArray:
        self = object.__new__(cls)
        self._buffer, self._dtype, self._offset = buffer, dtype, offset
        self._shape, self._strides = shape, strides
        return self

    # --- attributes ------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Length of each axis.

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.zeros((2, 3)).shape
        (2, 3)
        """
        return self._shape

    @property
    def dtype(self) -> DType:
        """Element type.

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.zeros(2, dtype="uint8").dtype
        DType('uint8')
        """
        return self._dtype

    @property
    def ndim(self) -> int:
        """Number of axes.

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.zeros((2, 3)).ndim
        2
        """
        return len(self._shape)

    @property
    def size(self) -> int:
        """Number of elements.

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.zeros((2, 3)).size
        6
        """
        size = 1
        for length in self._shape:
            size *= length
        return size

    @property
    def nbytes(self) -> int:
        """Bytes of the elements (not of the whole buffer for a view).

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.zeros((2, 3), dtype="int32").nbytes
        24
        """
        return self.size * self._dtype.itemsize

    @property
    def strides(self) -> tuple[int, ...]:
        """Bytes to step along each axis, like NumPy (negative for reversed views).

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.zeros((2, 3))
        >>> a.strides, a[:, ::-2].strides
        ((24, 8), (24, -16))
        """
        return self._strides

    @property
    def buffer(self) -> SharedBuffer:
        """The `SharedBuffer` holding the elements (shared by all views).

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.zeros(4)
        >>> a[1:].buffer is a.buffer
        True
        """
        return self._buffer

    def _is_c_contiguous(self) -> bool:
        if 0 in self._shape:
            return True  # as NumPy: an array without elements is contiguous
        expected = self._dtype.itemsize
        for length, stride in zip(reversed(self._shape), reversed(self._strides), strict=True):
            if length == 0:
                return True
            if length != 1 and stride != expected:
                return False
            expected *= length
        return True

    # --- memory access ---------------------------------------------------
    def _data(self) -> bytearray:
        self._buffer.check_open()
        return self._buffer._data

    def _view(self) -> memoryview:
        """Return a memoryview with this array's format, shape and strides."""
        data, fmt = self._data(), self._dtype.format
        if self.size and self._is_c_contiguous():
            start = self._offset
            return cast_view(memoryview(data)[start : start + self.nbytes], fmt, self._shape)
        offset = self._offset if self.size else 0
        return strided_memoryview(data, fmt, offset, self._shape, self._strides)

    def _tobytes(self) -> bytes:
        with self._view() as view:
            return view.tobytes()

    def _rows(self, flat: memoryview) -> Iterator[memoryview]:
        """Yield 1-d views (slices of ``flat``, the buffer cast to the format) of the rows."""
        itemsize = self._dtype.itemsize
        *outer, length = self._shape or (1,)
        step = self._strides[-1] // itemsize if self._shape else 1
        starts = [self._offset // itemsize]
        for n, stride in zip(outer, self._strides[:-1], strict=False):
            starts = [s + i * (stride // itemsize) for s in starts for i in range(n)]
        for start in starts:
            stop: int | None = start + (length - 1) * step + (1 if step > 0 else -1)
            yield flat[start : None if stop is not None and stop < 0 else stop : step]

    def _write(self, raw: bytes | memoryview) -> None:
        """Write C-ordered bytes of exactly ``self.nbytes`` into the elements."""
        data = self._data()
        if self._is_c_contiguous():
            with memoryview(data) as view:
                view[self._offset : self._offset + self.nbytes] = raw
            return
        length = self._shape[-1]
        with memoryview(data) as whole, cast_view(whole, self._dtype.format) as flat:
            source = cast_view(memoryview(raw).cast("B"), self._dtype.format)
            for i, row in enumerate(self._rows(flat)):
                row[:] = source[i * length : (i + 1) * length]

    # --- indexing ----------------------------------------------------------
    def _locate(self, key: object) -> tuple[int, tuple[int, ...], tuple[int, ...], bool]:
        given = key if isinstance(key, tuple) else (key,)
        keys = _expand_ellipsis(given, self.ndim)
        offset, shape, strides = self._offset, [], []
        axis = 0
        for item in keys:
            length, stride = self._shape[axis], self._strides[axis]
            if isinstance(item, slice):
                start, stop, step = _slice_indices(item, length, axis)
                count = len(range(start, stop, step))
                offset += start * stride if count else 0
                shape.append(count)
                strides.append(stride * step)
            else:
                offset += _int_index(item, length, axis) * stride
            axis += 1
        shape.extend(self._shape[axis:])
        strides.extend(self._strides[axis:])
        scalar = len(keys) == self.ndim and not any(isinstance(k, slice) for k in keys)
        return offset, tuple(shape), tuple(strides), scalar and Ellipsis not in given

    def __getitem__(self, key: _Key, /) -> SharedArray | Scalar:
        """Return a view (slices, ``...``) or a Python scalar (an int per axis).

        Raises
        ------
        ArrayIndexError
            If an index is out of range, there are too many, or one is not an
            int, slice or ``...``.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.asarray([[1, 2, 3], [4, 5, 6]])
        >>> a[1, 2], a[0, ::2].tolist(), a[..., -1].tolist()
        (6, [1, 3], [3, 6])
        """
        offset, shape, strides, scalar = self._locate(key)
        if scalar:
            fmt = self._dtype.format
            value: Scalar = struct.unpack_from(fmt, self._data(), offset)[0]
            return value
        self._buffer.check_open()
        return SharedArray._new(self._buffer, self._dtype, shape, strides, offset)

    def __setitem__(self, key: _Key, value: object, /) -> None:
        """Assign a scalar (to every selected element) or a same-shape array or sequence.

        Raises
        ------
        ShapeError
            If the value's shape differs from the selection's.
        DTypeError, ValueOverflowError
            If a value does not fit the dtype.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.zeros(4, dtype="int8")
        >>> a[::2] = 7
        >>> a[1:3] = [1, 2]
        >>> a.tolist()
        [7, 1, 2, 0]
        """
        from shardmem._data.convert import to_raw

        offset, shape, strides, _ = self._locate(key)
        target = SharedArray._new(self._buffer, self._dtype, shape, strides, offset)
        if isinstance(value, bool | int | float):
            pattern = struct.pack(self._dtype.format, check_scalar(self._dtype, value))
            target._write(pattern * target.size)
            return
        raw, vshape, _ = to_raw(value, self._dtype)
        if vshape != shape and (target.size or math.prod(vshape)):
            raise ShapeError(
                f"cannot assign a value of shape {vshape} to a selection of shape {shape}; "
                "the shapes must be equal (or assign a scalar)"
            )
        target._write(raw)

    # --- whole-array operations --------------------------------------------
    def _transposed(self) -> SharedArray:
        """The same elements with the axes reversed (a view; F order read as C order)."""
        shape, strides = self._shape[::-1], self._strides[::-1]
        return SharedArray._new(self._buffer, self._dtype, shape, strides, self._offset)

    def _read_order(self, order: object, where: str, allowed: str = "CFA") -> str:
        """``'C'`` or ``'F'`` for NumPy's ``order=`` (any case; None: ``'C'``).

        ``'A'``: F only for F-contiguous arrays; ``'K'`` (where ``allowed``):
        F when the strides grow along the axes (as a transposed array's), else C.
        """
        letter = "C" if order is None else order.upper() if isinstance(order, str) else order
        if letter not in tuple(allowed):
            names = ", ".join(repr(c) for c in allowed)
            raise InvalidArgumentError(
                f"{where}(): order={order!r} is not supported; use one of {names}: 'C' "
                "(row-major, the default), 'F' (column-major), 'A' ('F' for F-contiguous "
                "arrays, else 'C')" + (", 'K' (the memory's order)" if "K" in allowed else "")
            )
        if letter == "A":
            fortran = self._transposed()._is_c_contiguous() and not self._is_c_contiguous()
            return "F" if fortran else "C"
        if letter == "K":
            steps = [abs(s) for n, s in zip(self._shape, self._strides, strict=True) if n > 1]
            fortran = len(steps) > 1 and steps == sorted(steps) and not self._is_c_contiguous()
            return "F" if fortran else "C"
        return str(letter)

    def tobytes(self, order: str | None = "C") -> bytes:
        """Return the elements as bytes, like NumPy's ``ndarray.tobytes``.

        Parameters
        ----------
        order : {'C', 'F', 'A', 'K', None}, optional
            Element order: row-major (``'C'``, the default, whatever the
            strides; also ``'K'`` and None, as in NumPy), column-major
            (``'F'``), or ``'F'`` only when the array is Fortran-contiguous
            and not C-contiguous (``'A'``). Lowercase letters work too.

        Raises
        ------
        InvalidArgumentError
            If ``order`` is not one of these.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.asarray([[1, 2], [3, 4]], dtype="uint8")
        >>> a.tobytes(), a.tobytes("F"), a[:, ::-1].tobytes()
        (b'\\x01\\x02\\x03\\x04', b'\\x01\\x03\\x02\\x04', b'\\x02\\x01\\x04\\x03')
        """
        keep = isinstance(order, str) and order.upper() == "K"  # NumPy: 'K' is 'C' here
        fortran = not keep and self._read_order(order, "tobytes") == "F"
        return (self._transposed() if fortran else self)._tobytes()

    def astype(
        self,
        dtype: object,
        /,
        order: str | None = "K",
        casting: Casting = "unsafe",
        subok: bool = True,
        copy: bool | None = True,
    ) -> SharedArray:
        """Return the elements converted to ``dtype``, in a new C-contiguous SharedArray.

        Values convert as NumPy's ``astype`` does: integers wrap around, floats
        truncate toward zero when cast to integers, nonzero (and NaN) is True,
        float64 beyond float32's range becomes infinity, integers round once to
        the nearest float. Where NumPy's result is undefined (NaN, infinity or
        a value out of range cast to an integer dtype) `ValueOverflowError` is
        raised instead of a platform-dependent value. The conversion runs in
        the calling interpreter; for large arrays, NumPy's C cast
        (``sm.asarray(np.asarray(a).astype(dtype))``) is faster.

        Parameters
        ----------
        dtype : DType, str, NumPy dtype or ``bool`` / ``int`` / ``float``
            The new element type.
        casting : {'unsafe', 'same_kind', 'safe', 'equiv', 'no'}, optional
            Which casts are allowed, as ``np.can_cast`` rules them: ``'safe'``
            keeps every value, ``'same_kind'`` also narrows within bool <
            unsigned < signed < float, ``'unsafe'`` (the default) allows any.
        order : {'K', 'C', 'F', 'A', None}, optional
            The result's layout, as NumPy's: ``'K'`` (the default) is ``'F'``
            when the strides grow along the axes (a transposed array), else
            ``'C'``; ``'A'`` is ``'F'`` for a Fortran-contiguous array; None
            is ``'C'``.
        subok : bool, optional
            Accepted for NumPy compatibility (there are no subclasses).
        copy : bool or None, optional
            With a false ``copy`` (False, None, 0, ``np.False_``), the same
            dtype and an array already in the asked ``order``, ``self`` is
            returned, as NumPy does.

        Raises
        ------
        DTypeError
            If ``dtype`` is unknown or ``casting`` forbids the cast.
        InvalidArgumentError
            If ``order`` is not one of these.
        ValueOverflowError
            If a float is NaN, infinite or out of range for an integer ``dtype``.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.asarray([-1.5, 0.0, 2.7])
        >>> a.astype("int8").tolist(), a.astype(bool).tolist()
        ([-1, 0, 2], [True, False, True])
        >>> sm.asarray([255, 256]).astype("uint8").tolist()
        [255, 0]
        >>> a.astype("float32", casting="safe")
        Traceback (most recent call last):
        ...
        shardmem.DTypeError: astype(): cannot cast float64 to float32 under casting='safe' ...
        """
        target = as_dtype("float64" if dtype is None else dtype)  # NumPy: None is float64
        copying = _truth(copy, "copy")
        _truth(subok, "subok")
        if not can_cast(self._dtype, target, casting):
            raise DTypeError(
                f"astype(): cannot cast {self._dtype} to {target} under casting={casting!r} "
                "(it would change values); pass casting='unsafe' (the default) or 'same_kind'"
            )
        layout = self._read_order(order, "astype", "CFAK")
        as_laid = (self._transposed() if layout == "F" else self)._is_c_contiguous()
        if target == self._dtype and not copying and as_laid:
            return self
        if layout == "F":
            return self._transposed().astype(target, order="C")._transposed()
        if target == self._dtype:
            return self.copy()
        with cast_view(memoryview(self._tobytes()), self._dtype.format) as flat:
            values = cast_values(flat.tolist(), self._dtype, target)
        raw = bytes(values) if target.kind == "b" else array.array(target.format, values)  # type: ignore[arg-type]
        return from_raw(memoryview(raw).cast("B"), self._shape, target)

    def _strides_for(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """Strides viewing the elements (C order) as ``shape``, or None if it needs a copy."""
        if self._is_c_contiguous():
            return c_strides(shape, self._dtype.itemsize)
        return _nocopy_strides(self._shape, self._strides, shape, self._dtype.itemsize)

    def reshape(
        self,
        *shape: int | tuple[int, ...] | list[int] | None,
        order: str = "C",
        copy: bool | None = None,
    ) -> SharedArray:
        """Return the elements with a new shape: a view when NumPy gives one, else a copy.

        As NumPy's ``reshape``: one length may be ``-1`` (inferred); a view
        comes back whenever the strides allow (always for C-contiguous
        arrays; for strided views when the merged or split axes are evenly
        spaced), otherwise a C-contiguous copy in a new buffer.

        Parameters
        ----------
        *shape : int or tuple of ints
            The new shape, as one tuple or as separate ints (None: the same
            shape, as NumPy).
        order : {'C', 'F', 'A'}, optional
            Read and place elements in row-major (``'C'``, the default) or
            column-major (``'F'``) order; ``'A'`` is ``'F'`` for a
            Fortran-contiguous array, else ``'C'``.
        copy : bool or None, optional
            None (the default): a view if possible; True: always a copy;
            False: a view or a `ShapeError`.

        Raises
        ------
        ShapeError
            If the number of elements differs, more than one length is ``-1``,
            or ``copy=False`` and a copy is needed.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.arange(6)
        >>> b = a.reshape(3, -1)
        >>> b[0, 0] = 9
        >>> b.shape, a.tolist()
        ((3, 2), [9, 1, 2, 3, 4, 5])
        >>> sm.arange(6).reshape((2, 3), order="F").tolist()
        [[0, 2, 4], [1, 3, 5]]
        >>> m = sm.arange(12).reshape(3, 4)[:, :2]  # rows not adjacent: flattening copies
        >>> m.reshape(6).buffer is m.buffer, m.reshape(3, 2, 1).buffer is m.buffer
        (False, True)
        """
        if not shape:
            raise ArgumentTypeError("reshape() needs a shape: a.reshape((2, 3)) or a.reshape(2, 3)")
        if copy is not None and not isinstance(copy, bool):
            raise ArgumentTypeError(f"reshape(): copy={copy!r} must be None, True or False")
        given = shape[0] if len(shape) == 1 else shape
        if given is None:  # NumPy: the same shape, as a view
            given = self._shape
        new = _resolve_reshape(given, self.size, self._dtype.itemsize)
        if self._read_order(order, "reshape") == "F":
            return self._transposed().reshape(new[::-1], copy=copy)._transposed()
        strides = None if copy else self._strides_for(new)
        if strides is None:
            if copy is False:
                raise ShapeError(
                    f"reshape(): cannot view shape {self._shape} with strides {self._strides} "
                    f"as {new} without a copy, and copy=False; pass copy=None to allow one"
                )
            return from_raw(self._tobytes(), new, self._dtype)
        self._buffer.check_open()
        return SharedArray._new(self._buffer, self._dtype, new, strides, self._offset)

    def ravel(self, order: str = "C") -> SharedArray:
        """Return the elements as a 1-D array: a view if contiguous in that order, else a copy.

        As NumPy's ``ravel``: a C-contiguous array (``'F'``: a Fortran-contiguous
        one) gives a view; any other, even a 1-D strided view, gives a copy
        (``reshape(-1)`` returns a view of more strided arrays).

        Parameters
        ----------
        order : {'C', 'F', 'A'}, optional
            Row-major (the default), column-major, or ``'F'`` only for an
            array that is Fortran-contiguous and not C-contiguous.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.arange(6).reshape(2, 3)
        >>> a.ravel().tolist(), a.ravel("F").tolist()
        ([0, 1, 2, 3, 4, 5], [0, 3, 1, 4, 2, 5])
        >>> a.ravel().buffer is a.buffer, a[:, ::2].ravel().buffer is a.buffer
        (True, False)
        """
        if self._read_order(order, "ravel") == "F":
            return self._transposed().ravel()
        if self._is_c_contiguous():
            return self.reshape(self.size)
        return from_raw(self._tobytes(), (self.size,), self._dtype)

    def fill(self, value: object, /) -> None:
        """Set every element to ``value``, in place.

        The value must fit the dtype as in ``a[...] = value``: shardmem does
        not truncate 2.5 into an integer array as NumPy's ``fill`` does.

        Raises
        ------
        DTypeError
            If the value's type does not fit the dtype (a float for an
            integer array, an int for a bool array, a sequence).
        ValueOverflowError
            If the value is out of the dtype's range.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.zeros((2, 2), dtype="uint8")
        >>> a[:, 1].fill(7)
        >>> a.tolist()
        [[0, 7], [0, 7]]
        """
        pattern = struct.pack(self._dtype.format, check_scalar(self._dtype, value))
        self._write(pattern * self.size)

    def copy(self, order: str | None = "C") -> SharedArray:
        """Return a copy in a new buffer, C-contiguous unless ``order`` asks otherwise.

        Parameters
        ----------
        order : {'C', 'F', 'A', 'K', None}, optional
            The copy's layout, as NumPy's ``copy``: row-major (``'C'``, the
            default; also None), column-major (``'F'``), ``'F'`` only for a
            Fortran-contiguous array (``'A'``), or ``'F'`` when the strides
            grow along the axes, as a transposed array's, else ``'C'`` (``'K'``).

        Raises
        ------
        InvalidArgumentError
            If ``order`` is not one of these.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.arange(4)
        >>> b = a[::-1].copy()
        >>> b[0] = 10
        >>> a.tolist(), b.tolist()
        ([0, 1, 2, 3], [10, 2, 1, 0])
        >>> sm.zeros((2, 3)).copy("F").strides
        (8, 16)
        """
        if self._read_order(order, "copy", "CFAK") == "F":
            return self._transposed().copy()._transposed()
        return from_raw(self._tobytes(), self._shape, self._dtype)

    def tolist(self) -> list[object] | Scalar:
        """Return nested Python lists (a Python scalar for a 0-d array).

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.asarray([[True], [False]]).tolist()
        [[True], [False]]
        """
        with self._view() as view:
            result: list[object] | Scalar = view.tolist()  # type: ignore[assignment]
        return result

    def __len__(self) -> int:
        """Length of the first axis.

        Examples
        --------
        >>> import shardmem as sm
        >>> len(sm.zeros((4, 2)))
        4
        """
        if not self._shape:
            raise ArgumentTypeError("len() of a 0-d SharedArray is undefined; use a.tolist()")
        return self._shape[0]

    def __iter__(self) -> Iterator[SharedArray | Scalar]:
        """Iterate over the first axis (views for N-d, scalars for 1-d).

        Examples
        --------
        >>> import shardmem as sm
        >>> [row.tolist() for row in sm.arange(4).reshape((2, 2))]
        [[0, 1], [2, 3]]
        """
        for i in range(len(self)):
            yield self[i]

    def __buffer__(self, flags: int, /) -> memoryview:
        """Share the elements through the buffer protocol (PEP 688), zero-copy.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.arange(6, dtype="uint8").reshape((2, 3))
        >>> view = memoryview(a)[::-1]
        >>> view.format, view.shape, view.tolist()
        ('B', (2, 3), [[3, 4, 5], [0, 1, 2]])
        """
        return self._view()

    def __eq__(self, other: object) -> bool:
        """Identity: ``a == b`` only if ``a is b`` (not elementwise).

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.zeros(2)
        >>> a == a, a == a.copy()
        (True, False)
        """
        return self is other

    def __hash__(self) -> int:
        """Hash by identity, consistent with ``==``.

        Examples
        --------
        >>> import shardmem as sm
        >>> a = sm.zeros(1)
        >>> hash(a) == hash(a)
        True
        """
        return object.__hash__(self)

    def __repr__(self) -> str:
        """Show the elements (or only shape and dtype for large or closed arrays).

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.zeros((2, 2), dtype="uint8")
        SharedArray([[0, 0], [0, 0]], dtype=uint8)
        """
        if self._buffer.closed:
            return f"<SharedArray shape={self._shape} dtype={self._dtype} (buffer closed)>"
        if self.size > _REPR_LIMIT:
            return f"<SharedArray shape={self._shape} dtype={self._dtype}>"
        return f"SharedArray({self.tolist()!r}, dtype={self._dtype})"


def _span(a: SharedArray) -> tuple[int, int]:
    """The byte range ``[start, end)`` of the buffer that ``a``'s elements lie in."""
    low = high = a._offset
    for n, stride in zip(a.shape, a.strides, strict=True):
        if n == 0:
            return a._offset, a._offset
        reach = (n - 1) * stride
        low, high = (low + reach, high) if reach < 0 else (low, high + reach)
    return low, high + a.dtype.itemsize


def unsafe_overlap(source: SharedArray, result: SharedArray) -> bool:
    """True when writing ``result`` in parallel could change ``source`` before it is read.

    Element-for-element aliasing (the same memory, layout and item size: an
    in-place call) is safe, because each element is read by the task that
    writes it; any other overlap in the same buffer is not.
    """
    if not shares_memory(source, result):
        return False
    same = (
        source._offset == result._offset
        and source.dtype.itemsize == result.dtype.itemsize
        and source.strides == result.strides
    )
    return not same


def shares_memory(a: SharedArray, b: SharedArray) -> bool:
    """True when ``a`` and ``b`` may share bytes (the same buffer, intersecting spans)."""
    if a._buffer is not b._buffer:
        return False
    x, y = _span(a), _span(b)
    return x[0] < y[1] and y[0] < x[1]


def cast_view(view: memoryview, fmt: str, shape: tuple[int, ...] | None = None) -> memoryview:
    """Return ``view.cast(fmt, shape)`` for a format known only at run time.

    Examples
    --------
    >>> from shardmem._data.array import cast_view
    >>> cast_view(memoryview(bytes(8)), "d", (1,)).tolist()
    [0.0]
    """
    result = view.cast(fmt) if shape is None else view.cast(fmt, shape)  # type: ignore[call-overload]
    return typing.cast(memoryview, result)


def _expand_ellipsis(keys: tuple[object, ...], ndim: int) -> tuple[int | slice, ...]:
    count = sum(1 for k in keys if k is Ellipsis)
    if count > 1:
        raise ArrayIndexError("an index can only have a single ellipsis ('...')")
    if count:
        at = next(i for i, k in enumerate(keys) if k is Ellipsis)
        fill = (slice(None),) * (ndim - len(keys) + 1)
        keys = keys[:at] + fill + keys[at + 1 :]
    if len(keys) > ndim:
        raise ArrayIndexError(
            f"too many indices: {len(keys)} given for an array with {ndim} axes; "
            "use at most one index per axis"
        )
    for k in keys:
        _check_key_type(k)
    return keys  # type: ignore[return-value]


def _check_key_type(k: object) -> None:
    if isinstance(k, slice) or as_index(k) is not None:
        return
    kind = _index_array_kind(k)
    shown = reprlib.repr(k)
    if kind == "b":
        raise ArrayIndexError(
            f"boolean mask index {shown} is not supported: SharedArray indexing gives views only "
            "(ints, slices, '...'); use np.asarray(a)[mask], which indexes a zero-copy NumPy "
            "view of the same memory (reading gives a NumPy copy; np.asarray(a)[mask] = value "
            "writes in place)"
        )
    if kind in ("i", "u"):
        raise ArrayIndexError(
            f"integer-array (fancy) index {shown} of type {type(k).__name__} is not supported: "
            "SharedArray indexing gives views only (ints, slices, '...'); use "
            "np.asarray(a)[index], which indexes a zero-copy NumPy view of the same memory "
            "(reading gives a NumPy copy; np.asarray(a)[index] = value writes in place)"
        )
    extra = "; add an axis with a.reshape(...)" if k is None else ""
    raise ArrayIndexError(
        f"index {shown} of type {type(k).__name__} is not supported; use ints, slices "
        f"(start:stop:step) or '...' (basic indexing only){extra}"
    )


def _index_array_kind(k: object) -> str | None:
    """``'b'``, ``'i'``/``'u'`` for a mask or an integer array / list index, else None.

    A scalar True/False (also NumPy's) is a 0-d mask for NumPy, a ``range`` an
    integer-array index.
    """
    if isinstance(k, bool) or type(k).__name__ == "bool":
        return "b"
    if isinstance(k, range):
        return "i"
    dtype = getattr(k, "dtype", None)
    if dtype is not None and getattr(k, "ndim", 0) != 0:
        return str(getattr(dtype, "kind", "")) or None
    if not isinstance(k, list | tuple):
        return None
    leaves: list[object] = []
    pending: list[object] = [k]
    while pending:
        item = pending.pop()
        if isinstance(item, list | tuple):
            pending.extend(item)
        else:
            leaves.append(item)
    if leaves and all(isinstance(v, bool) or type(v).__name__ == "bool" for v in leaves):
        return "b"
    return "i" if all(as_index(v) is not None for v in leaves) else None


def _truth(value: object, name: str) -> bool:
    """NumPy's reading of a flag such as ``copy=``: bools, None (False), 0 and 1."""
    if value is None or isinstance(value, bool) or type(value).__name__ == "bool":
        return bool(value)
    if as_index(value) in (0, 1):
        return bool(as_index(value))
    raise ArgumentTypeError(f"astype(): {name}={value!r} must be True or False (or None)")


def _slice_indices(item: slice, length: int, axis: int) -> tuple[int, int, int]:
    """``item.indices(length)``, with shardmem's errors for a zero step or a bad bound."""
    try:
        return item.indices(length)
    except ValueError:
        raise ArrayIndexError(
            f"slice {item!r} on axis {axis} has step 0; a step must be a nonzero int "
            "(e.g. ::2, or ::-1 to reverse)"
        ) from None
    except TypeError:
        raise ArrayIndexError(
            f"slice {item!r} on axis {axis} has a bound that is not an int or None; "
            "slice with ints (e.g. a[1:3], or a[int(start):int(stop)])"
        ) from None


def _int_index(item: object, length: int, axis: int) -> int:
    index = operator.index(item)  # type: ignore[arg-type]  # checked by _check_key_type
    if not -length <= index < length:
        raise ArrayIndexError(
            f"index {index} is out of range for axis {axis} with length {length}; "
            f"valid indices are {-length}..{length - 1}"
        )
    return index + length if index < 0 else index


def _nocopy_strides(
    old_shape: tuple[int, ...], old_strides: tuple[int, ...], new: tuple[int, ...], itemsize: int
) -> tuple[int, ...] | None:
    """Strides that view a strided array as ``new`` in C order, or None (NumPy's algorithm).

    The port of NumPy's ``_attempt_nocopy_reshape`` (``numpy/_core/src/multiarray/shape.c``):
    groups of old axes whose product equals a group of new axes must be evenly
    spaced; axes of length 1 are ignored. Only called for arrays with elements.
    """
    kept = [(n, s) for n, s in zip(old_shape, old_strides, strict=True) if n != 1]
    dims, steps = [n for n, _ in kept], [s for _, s in kept]
    strides = [0] * len(new)
    oi, oj, ni, nj = 0, 1, 0, 1
    while ni < len(new) and oi < len(dims):
        np_, op = new[ni], dims[oi]
        while np_ != op:
            if np_ < op:
                np_, nj = np_ * new[nj], nj + 1
            else:
                op, oj = op * dims[oj], oj + 1
        if any(steps[k] != dims[k + 1] * steps[k + 1] for k in range(oi, oj - 1)):
            return None
        strides[nj - 1] = steps[oj - 1]
        for k in range(nj - 1, ni, -1):
            strides[k - 1] = strides[k] * new[k]
        ni, nj, oi, oj = nj, nj + 1, oj, oj + 1
    last = strides[ni - 1] if ni >= 1 else itemsize
    for k in range(ni, len(new)):
        strides[k] = last
    return tuple(strides)


def _resolve_reshape(shape: object, size: int, itemsize: int) -> tuple[int, ...]:
    if as_index(shape) is None and not isinstance(shape, tuple | list):
        check_shape(shape)  # raises: not an int or a tuple of ints
    items = [shape] if as_index(shape) is not None else list(shape)  # type: ignore[call-overload]
    unknown = [i for i, n in enumerate(items) if as_index(n) == -1]
    if len(unknown) > 1:
        raise ShapeError(f"shape {shape!r} has more than one -1; at most one length may be -1")
    if unknown:
        items[unknown[0]] = 1
    known = check_shape(tuple(items), itemsize)
    product = 1
    for n in known:
        product *= n
    if unknown and product and size % product == 0:
        items[unknown[0]] = size // product
        return check_shape(tuple(items), itemsize)
    if unknown or product != size:
        raise ShapeError(
            f"cannot reshape an array of size {size} into shape {shape!r}; "
            "the number of elements must stay the same"
        )
    return known


# --- foreign arrays handed to a call (pool.run) ----------------------------
def borrow_arguments(
    values: tuple[object, ...], where: str, /
) -> tuple[tuple[object, ...], typing.Callable[[_T], _T]]:
    """Copy array arguments that are not in shared memory into it, for one call.

    SharedArrays and SharedBuffers pass through unchanged (zero-copy), and so
    does a C-contiguous NumPy array of a SharedArray's memory
    (``np.asarray(a)``; a read-only one too: workers see writeable views).
    A NumPy array, a buffer (bytearray, array.array, memoryview...), nested
    lists or an Array-API array is copied into a new SharedArray, as
    ``sm.asarray`` does. An object passed twice is copied
    once, and NumPy arrays that share memory (views of one array) become
    views of one shared copy of the memory they span, so the kernel sees
    them alias as the caller's arrays do. Returns the arguments and
    ``finish(result)``: called once the call has succeeded, it copies each
    such copy back into its source when the source is writeable (a writeable
    NumPy array or buffer) and returns ``result``, so what the kernel wrote
    there is seen in the caller's array. Read-only sources (bytes, read-only
    arrays) and lists are not written: the kernel still receives a writeable
    copy, and what it writes there is discarded.

    Raises
    ------
    ArgumentTypeError
        If a value is a number (pass it as a keyword parameter) or cannot be
        converted to an array.
    InvalidArgumentError
        If a writeable buffer other than a NumPy array is multi-dimensional
        and not contiguous, or strided with a format its writes cannot be
        copied back in (it could not be written back), or NumPy arguments
        that share memory include one that is not C-contiguous.

    Examples
    --------
    >>> import array
    >>> from shardmem._data.array import borrow_arguments
    >>> data = array.array("d", [1.0, 2.0])
    >>> (shared,), finish = borrow_arguments((data,), "run")
    >>> shared[0] = 5.0  # what a kernel writes ...
    >>> finish("done"), data.tolist()  # ... is copied back when the call has finished
    ('done', [5.0, 2.0])
    """
    converted: list[object] = list(values)
    back: list[tuple[SharedArray, object]] = []
    seen: dict[int, int] = {}  # id(value) -> index of its first occurrence
    arrays: list[int] = []  # positions of NumPy arrays, handled together below
    repeats: list[tuple[int, int]] = []
    for i, value in enumerate(values):
        if isinstance(value, SharedArray | SharedBuffer):
            continue
        if id(value) in seen:
            repeats.append((i, seen[id(value)]))
            continue
        seen[id(value)] = i
        if _is_ndarray(value) and int(getattr(value, "size", 0)):
            arrays.append(i)
            continue
        converted[i] = _borrowed(value, where)
        if _writeable(value, where):
            back.append((typing.cast(SharedArray, converted[i]), value))
    _borrow_numpy(values, arrays, converted, back, where)
    for i, first in repeats:
        converted[i] = converted[first]

    def finish(result: _T) -> _T:
        for shared, source in back:
            _copy_back(shared, source)
        return result

    return tuple(converted), finish


def _is_ndarray(value: object) -> bool:
    return type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "__array_interface__")


def _borrow_numpy(
    values: tuple[object, ...],
    positions: list[int],
    converted: list[object],
    back: list[tuple[SharedArray, object]],
    where: str,
) -> None:
    """Share NumPy arguments: zero-copy views of SharedBuffers, one copy per aliasing group."""
    if not positions:
        return
    from numpy.lib.array_utils import byte_bounds

    spans: list[tuple[int, int, int]] = []
    for i in positions:
        start, end = byte_bounds(typing.cast(typing.Any, values[i]))
        zero_copy = _view_of_shared(values[i], start, end)
        if zero_copy is not None:
            converted[i] = zero_copy
        else:
            spans.append((start, end, i))
    shared = {id(_buffer_of(v)) for v in converted if isinstance(v, SharedArray | SharedBuffer)}
    for start, end, i in spans:
        found = buffer_holding(start, end)
        if found is not None and id(found[0]) in shared:
            raise InvalidArgumentError(
                f"{where}(): a NumPy argument (shape {values[i].shape}, strides "  # type: ignore[attr-defined]
                f"{values[i].strides}) is a non-contiguous view of the memory of another "  # type: ignore[attr-defined]
                "argument, so its copy would be written back over that argument; pass a "
                "SharedArray view instead (slice the SharedArray) or np.ascontiguousarray(x)"
            )
    spans.sort()
    group: list[tuple[int, int, int]] = []
    for span in spans:
        if group and span[0] >= max(end for _, end, _ in group):
            _borrow_group(values, group, converted, back, where)
            group = []
        group.append(span)
    if group:
        _borrow_group(values, group, converted, back, where)


def _buffer_of(value: SharedArray | SharedBuffer) -> SharedBuffer:
    return value._buffer if isinstance(value, SharedArray) else value


def _native_dtype(arr: typing.Any) -> DType | None:
    if not arr.dtype.isnative:
        return None
    try:
        return as_dtype(arr.dtype)
    except DTypeError:
        return None


def _view_of_shared(arr: typing.Any, start: int, end: int) -> SharedArray | None:
    """A SharedArray of the same memory when ``arr`` is a C-contiguous view of a SharedBuffer."""
    dtype = _native_dtype(arr)
    if dtype is None or not arr.flags.c_contiguous:
        return None
    found = buffer_holding(start, end)
    if found is None:
        return None
    buffer, offset = found
    shape = tuple(int(n) for n in arr.shape)
    return SharedArray._new(buffer, dtype, shape, c_strides(shape, dtype.itemsize), offset)


def _borrow_group(
    values: tuple[object, ...],
    group: list[tuple[int, int, int]],
    converted: list[object],
    back: list[tuple[SharedArray, object]],
    where: str,
) -> None:
    """Copy NumPy arrays whose memory overlaps: one copy of the bytes they span, views of it."""
    if len(group) == 1:
        i = group[0][2]
        converted[i] = _borrowed(values[i], where)
        if _writeable(values[i], where):
            back.append((typing.cast(SharedArray, converted[i]), values[i]))
        return
    low, high = group[0][0], max(end for _, end, _ in group)
    members = [values[i] for _, _, i in group]
    _check_aliasing(members, where)
    buffer = SharedBuffer(high - low)
    with memoryview(buffer._data) as view:
        view[:] = ctypes.string_at(low, high - low)
    for _, _, i in group:
        arr: typing.Any = values[i]
        dtype = as_dtype(arr.dtype)
        start = int(arr.__array_interface__["data"][0])
        shape = tuple(int(n) for n in arr.shape)
        strides = c_strides(shape, dtype.itemsize)
        converted[i] = SharedArray._new(buffer, dtype, shape, strides, start - low)
        if arr.flags.writeable:
            back.append((typing.cast(SharedArray, converted[i]), arr))


def _check_aliasing(members: list[typing.Any], where: str) -> None:
    for arr in members:
        if _native_dtype(arr) is None or not arr.flags.c_contiguous:
            raise InvalidArgumentError(
                f"{where}(): NumPy arguments share memory and one of them (shape {arr.shape}, "
                f"dtype {arr.dtype}, strides {arr.strides}) is not a C-contiguous array of a "
                "native shardmem dtype, so they cannot be passed as views of one shared copy; "
                "pass them as one SharedArray and its views (sm.asarray(x) once, then slice "
                "it), or pass np.ascontiguousarray(...) copies"
            )


def _borrowed(value: object, where: str) -> SharedArray:
    from shardmem._data.convert import to_raw

    scalar = isinstance(value, bool | int | float) or (
        getattr(value, "ndim", None) == 0 and not hasattr(value, "__len__")
    )
    if not scalar:
        try:
            raw, shape, dtype = to_raw(value, None)
        except ArgumentTypeError:
            pass
        else:
            return from_raw(raw, shape, dtype)
    raise ArgumentTypeError(
        f"{where}(): positional arguments after the kernel must be arrays (SharedArrays, "
        f"SharedBuffers, NumPy arrays, buffers or nested lists), not {type(value).__name__}; "
        "pass scalars as keyword parameters"
    )


def _writeable(value: object, where: str) -> bool:
    """Whether ``value`` takes the kernel's writes back (refusing what cannot)."""
    flags = getattr(value, "flags", None)
    if type(value).__module__.split(".")[0] == "numpy":
        return bool(getattr(flags, "writeable", False))
    if not isinstance(value, Buffer):
        return False
    with memoryview(value) as view:
        if view.readonly:
            return False
        if not view.c_contiguous and (view.ndim > 1 or not _castable(view.format)):
            raise InvalidArgumentError(
                f"{where}(): a writeable {type(value).__name__} argument of shape {view.shape} "
                f"and format {view.format!r} is not contiguous, so the kernel's writes could "
                "not be copied back; pass a SharedArray (sm.asarray(x)) or a contiguous buffer"
            )
    return True


def _castable(fmt: str) -> bool:
    """Whether ``memoryview.cast`` takes ``fmt`` (a native one-letter format)."""
    try:
        cast_view(memoryview(b""), fmt)
    except ValueError, TypeError:
        return False
    return True


def _copy_back(shared: SharedArray, source: object) -> None:
    if type(source).__module__.split(".")[0] == "numpy":
        import numpy as np

        np.copyto(source, np.asarray(shared), casting="unsafe")  # type: ignore[arg-type]
        return
    raw = shared._tobytes()
    with memoryview(source) as view:  # type: ignore[arg-type]  # checked by _writeable
        if view.c_contiguous:
            with view.cast("B") as target:
                target[:] = raw
        else:  # cast to the source's own format ('l' for int64 ...), which _writeable checked
            with cast_view(memoryview(raw), view.format) as typed:
                view[:] = typed
