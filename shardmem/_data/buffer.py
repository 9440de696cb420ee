"""SharedBuffer: a fixed-size, zero-filled bytearray owned by the main interpreter."""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import itertools
import struct
import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Self

from shardmem._errors import (
    ArgumentTypeError,
    BufferInUseError,
    ClosedError,
    OutOfMemoryError,
    ShapeError,
)

__all__ = (
    "SharedBuffer",
    "add_release_listener",
    "buffer_holding",
    "format_nbytes",
    "remove_release_listener",
    "strided_memoryview",
)

_ids = itertools.count(1)
_listeners: list[Callable[[int], None]] = []
_live: weakref.WeakKeyDictionary[SharedBuffer, int] = weakref.WeakKeyDictionary()  # -> address


def add_release_listener(fn: Callable[[int], None], /) -> None:
    """Call ``fn(buffer_id)`` whenever a `SharedBuffer` is closed or collected.

    Listeners run at the start of ``close()`` (before the export check) and
    from the finalizer of a buffer dropped without ``close()``. Exceptions
    they raise are ignored.

    Examples
    --------
    >>> from shardmem._data.buffer import (
    ...     SharedBuffer, add_release_listener, remove_release_listener
    ... )
    >>> seen = []
    >>> add_release_listener(seen.append)
    >>> buf = SharedBuffer(4)
    >>> buf.close()
    >>> seen == [buf.id]
    True
    >>> remove_release_listener(seen.append)
    """
    _listeners.append(fn)


def remove_release_listener(fn: Callable[[int], None], /) -> None:
    """Stop calling ``fn``; a listener that is not registered is ignored.

    Examples
    --------
    >>> from shardmem._data.buffer import remove_release_listener
    >>> remove_release_listener(print)
    """
    with contextlib.suppress(ValueError):
        _listeners.remove(fn)


_local = threading.local()


def release_is_a_drop() -> bool:
    """True inside a release listener called for a buffer dropped without ``close()``.

    Nobody waits for such a release: a listener may finish its work later.

    Examples
    --------
    >>> from shardmem._data.buffer import release_is_a_drop
    >>> release_is_a_drop()
    False
    """
    return bool(getattr(_local, "dropped", False))


def _notify_dropped(buffer_id: int) -> None:
    _local.dropped = True
    try:
        _notify_release(buffer_id)
    finally:
        _local.dropped = False


def _notify_release(buffer_id: int) -> None:
    for fn in tuple(_listeners):
        with contextlib.suppress(Exception):  # a listener must not break close()
            fn(buffer_id)


def format_nbytes(nbytes: int) -> str:
    """``nbytes`` in binary units with three significant digits, as NumPy words it.

    >>> format_nbytes(8), format_nbytes(3 << 20), format_nbytes(2**63)
    ('8 bytes', '3.00 MiB', '8.00 EiB')
    """
    if nbytes < 1024:
        return f"{nbytes} bytes"
    units = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = min((nbytes.bit_length() - 1) // 10, len(units))
    return f"{nbytes / 1024**power:.2f} {units[power - 1]}"


def _check_nbytes(nbytes: object) -> int:
    if isinstance(nbytes, bool) or not hasattr(nbytes, "__index__"):
        raise ArgumentTypeError(f"nbytes {nbytes!r} is not an integer; pass an int >= 0")
    size: int = nbytes.__index__()
    if size < 0:
        raise ShapeError(f"nbytes {size} is negative; pass an int >= 0")
    return size


class SharedBuffer:
    """A zero-filled block of memory that worker interpreters can view.

    The bytes live in a ``bytearray`` allocated by the main interpreter.
    The buffer never changes size. ``close()`` frees it once no view of it
    is alive, and raises `BufferInUseError` (leaving it intact) otherwise.

    Parameters
    ----------
    nbytes : int
        Size in bytes, ``>= 0``.

    Examples
    --------
    >>> import shardmem as sm
    >>> with sm.SharedBuffer(8) as buf:
    ...     view = buf.memoryview()
    ...     view[0] = 7
    ...     print(buf.nbytes, bytes(view[:2]))
    ...     view.release()
    8 b'\\x07\\x00'
    >>> buf.closed
    True
    """

    __slots__ = ("__weakref__", "_closed", "_data", "_finalizer", "_id")

    def __init__(self, nbytes: int, /) -> None:
        size = _check_nbytes(nbytes)
        try:
            self._data = bytearray(size)
        except MemoryError as exc:
            raise OutOfMemoryError(
                f"Unable to allocate {format_nbytes(size)} ({size} bytes) for a SharedBuffer; "
                "free memory or ask for less"
            ) from exc
        self._id = next(_ids)
        self._closed = False
        self._finalizer = weakref.finalize(self, _notify_dropped, self._id)
        _live[self] = 0  # its address, read when first asked for (buffer_holding)

    @property
    def id(self) -> int:
        """Process-wide unique number of this buffer, never reused.

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.SharedBuffer(1).id != sm.SharedBuffer(1).id
        True
        """
        return self._id

    @property
    def nbytes(self) -> int:
        """Size in bytes (0 once closed).

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.SharedBuffer(16).nbytes
        16
        """
        return len(self._data)

    @property
    def closed(self) -> bool:
        """Whether `close` has succeeded.

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.SharedBuffer(1).closed
        False
        """
        return self._closed

    def memoryview(self) -> builtins.memoryview:
        """Return a writable ``memoryview`` (format ``'B'``) of the whole buffer.

        Release it (``view.release()`` or ``with``) before closing the buffer.

        Raises
        ------
        ClosedError
            If the buffer is closed.

        Examples
        --------
        >>> import shardmem as sm
        >>> buf = sm.SharedBuffer(3)
        >>> with buf.memoryview() as view:
        ...     view.tolist()
        [0, 0, 0]
        """
        self.check_open()
        return memoryview(self._data)

    def __buffer__(self, flags: int, /) -> builtins.memoryview:
        """Expose the bytes through the buffer protocol (PEP 688).

        Examples
        --------
        >>> import shardmem as sm
        >>> bytes(sm.SharedBuffer(2))
        b'\\x00\\x00'
        """
        return self.memoryview()

    def check_open(self) -> None:
        """Raise `ClosedError` if the buffer is closed.

        Examples
        --------
        >>> import shardmem as sm
        >>> sm.SharedBuffer(1).check_open()
        """
        if self._closed:
            raise ClosedError(
                f"SharedBuffer #{self._id} is closed; create a new array or buffer instead"
            )

    def close(self) -> None:
        """Free the memory; idempotent.

        Release listeners are told first. If a view is still alive, nothing
        is freed and `BufferInUseError` is raised.

        Raises
        ------
        BufferInUseError
            If a ``memoryview`` or NumPy array of the buffer is still alive.

        Examples
        --------
        >>> import shardmem as sm
        >>> buf = sm.SharedBuffer(4)
        >>> view = buf.memoryview()
        >>> buf.close()
        Traceback (most recent call last):
        ...
        shardmem.BufferInUseError: SharedBuffer #... of 4 bytes is still viewed ...
        >>> view.release()
        >>> buf.close(); buf.close()
        """
        if self._closed:
            return
        _notify_release(self._id)
        if not _clear(self._data):
            raise BufferInUseError(
                f"SharedBuffer #{self._id} of {len(self._data)} bytes is still viewed "
                "(a memoryview, NumPy array or pool holds it); release or delete those views, "
                "then close again"
            ) from None
        self._closed = True
        self._finalizer.detach()

    def __enter__(self) -> Self:
        """Return the buffer itself.

        Examples
        --------
        >>> import shardmem as sm
        >>> with sm.SharedBuffer(1) as buf:
        ...     buf.nbytes
        1
        """
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the buffer.

        Examples
        --------
        >>> import shardmem as sm
        >>> with sm.SharedBuffer(1) as buf:
        ...     pass
        >>> buf.closed
        True
        """
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"nbytes={len(self._data)}"
        return f"<SharedBuffer #{self._id} {state}>"


# --- strided memoryviews -------------------------------------------------
# The Python API cannot build a memoryview with arbitrary strides (slicing
# with a step works on the first axis only, and ``cast`` refuses empty or
# non-contiguous views). Py_buffer is part of the stable ABI, so we fill one
# in and let PyMemoryView_FromBuffer wrap it. The bytearray export is held
# by a private keeper object until the last view derived from it is gone.

_ssize = ctypes.c_ssize_t


class _PyBuffer(ctypes.Structure):
    _fields_ = (
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", _ssize),
        ("itemsize", _ssize),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.POINTER(_ssize)),
        ("strides", ctypes.POINTER(_ssize)),
        ("suboffsets", ctypes.POINTER(_ssize)),
        ("internal", ctypes.c_void_p),
    )


_api = ctypes.pythonapi
_api.PyObject_GetBuffer.argtypes = (ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int)
_api.PyObject_GetBuffer.restype = ctypes.c_int
_api.PyBuffer_Release.argtypes = (ctypes.POINTER(_PyBuffer),)
_api.PyBuffer_Release.restype = None
_api.PyMemoryView_FromBuffer.argtypes = (ctypes.POINTER(_PyBuffer),)
_api.PyMemoryView_FromBuffer.restype = ctypes.py_object
_PYBUF_WRITABLE = 1


def _release(export: _PyBuffer) -> None:
    _api.PyBuffer_Release(ctypes.byref(export))


class _Keeper:
    """Holds one bytearray export and the format/shape/strides arrays of a view."""

    __slots__ = ("__weakref__", "_arrays", "_export", "_spec")

    def __init__(
        self, data: bytearray, spec: tuple[str, int, int, tuple[int, ...], tuple[int, ...]]
    ) -> None:
        fmt, itemsize, offset, shape, strides = spec
        self._export = _PyBuffer()
        _api.PyObject_GetBuffer(data, ctypes.byref(self._export), _PYBUF_WRITABLE)
        weakref.finalize(self, _release, self._export)
        ndim = len(shape)
        self._arrays = (
            ctypes.create_string_buffer(fmt.encode()),
            (_ssize * ndim)(*shape),
            (_ssize * ndim)(*strides),
        )
        length = itemsize
        for n in shape:
            length *= n
        self._spec = _PyBuffer(
            buf=(self._export.buf or 0) + offset,
            obj=None,
            len=length,
            itemsize=itemsize,
            readonly=0,
            ndim=ndim,
            format=ctypes.cast(self._arrays[0], ctypes.c_char_p),
            shape=self._arrays[1],
            strides=self._arrays[2],
        )

    def __buffer__(self, flags: int, /) -> memoryview:
        view: memoryview = _api.PyMemoryView_FromBuffer(ctypes.byref(self._spec))
        return view


_api.PyByteArray_AsString.argtypes = (ctypes.py_object,)
_api.PyByteArray_AsString.restype = ctypes.c_void_p


def buffer_holding(start: int, end: int, /) -> tuple[SharedBuffer, int] | None:
    """The open `SharedBuffer` whose memory holds the addresses ``[start, end)``, and the offset.

    Finds the buffer behind a NumPy array of a SharedArray's memory
    (``np.asarray(a)``); None for memory that no SharedBuffer owns. Reads
    each buffer's address without exporting it (so no ``close`` is blocked).

    Examples
    --------
    >>> import ctypes
    >>> from shardmem._data.buffer import SharedBuffer, buffer_holding
    >>> buf = SharedBuffer(8)
    >>> base = ctypes.addressof(ctypes.c_char.from_buffer(buf.memoryview()))
    >>> buffer_holding(base + 2, base + 6) == (buf, 2), buffer_holding(base + 6, base + 9)
    (True, None)
    """
    for buffer, known in tuple(_live.items()):
        size = len(buffer._data)
        if buffer._closed or not size:
            continue
        base = known or _api.PyByteArray_AsString(buffer._data) or 0
        if not known:
            _live[buffer] = base  # stable from now on: an open SharedBuffer is never resized
        if base <= start and end <= base + size:
            return buffer, start - base
    return None


def strided_memoryview(
    data: bytearray, fmt: str, offset: int, shape: tuple[int, ...], strides: tuple[int, ...], /
) -> memoryview:
    """Return a writable memoryview of ``data`` with any shape and byte strides.

    The caller guarantees every element lies inside ``data``. The view (and
    views sliced from it) keep ``data`` exported, so it cannot be resized.

    Examples
    --------
    >>> from shardmem._data.buffer import strided_memoryview
    >>> data = bytearray(range(6))
    >>> view = strided_memoryview(data, "B", 5, (2, 2), (-3, -2))
    >>> view.tolist()
    [[5, 3], [2, 0]]
    """
    spec = (fmt, struct.calcsize(fmt), offset, shape, strides)
    return memoryview(_Keeper(data, spec))


_RELEASE_TRIES = 20  # ... 1 ms apart: how long close() waits for views released elsewhere


def _clear(data: bytearray) -> bool:
    """Empty ``data`` (freeing its memory); False if a view of it is still alive.

    A view another interpreter held and released is let go of here through a
    pending call, which this interpreter runs at its next check between
    bytecodes, possibly just after the releaser said it was done (issue 21:
    ``close()`` right after a cancelled call could fail so). A buffer still
    viewed gets a few such checks (a Python call each) 1 ms apart before it
    counts as in use.
    """
    for attempt in range(_RELEASE_TRIES):
        if attempt:
            _checkpoint()
            time.sleep(0.001)
        try:
            data.clear()
        except BufferError:
            continue
        return True
    return False


def _checkpoint() -> None:
    """An empty Python call: entering it runs this interpreter's pending calls."""
