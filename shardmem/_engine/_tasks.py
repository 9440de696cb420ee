"""Task records and how their arguments travel to a worker."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import NamedTuple

from shardmem._buffer import SharedBuffer
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._shipping import _is_plain
from shardmem._errors import ArgumentTypeError, InvalidArgumentError, ShippingError

__all__ = ["Task", "ViewSpec", "as_view", "check_params", "encode_arg", "view_of"]

_SCALARS = (int, float, str, bytes, bool, type(None))


class ViewSpec(NamedTuple):
    """A typed, C-contiguous window of a buffer, as a worker will see it."""

    buffer: SharedBuffer
    offset: int
    nbytes: int
    format: str
    shape: tuple[int, ...]


@dataclass(slots=True)
class Task:
    """One unit of work: kernel arguments, where to run it, and a label for errors.

    ``views`` are the positional arguments (``ViewSpec`` or plain values),
    ``kwargs`` the keyword ones; ``rank`` pins the task to one worker (gang
    calls), None lets any worker take it.
    """

    views: tuple[ViewSpec | object, ...]
    kwargs: tuple[tuple[str, object], ...] = ()
    rank: int | None = None
    label: str = ""


def encode_arg(value: object) -> object:
    """An argument as it travels: plain scalars as they are, anything else tagged."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, ViewSpec):
        return (P.A_VIEW, value.buffer.id, value.offset, value.nbytes, value.format, value.shape)
    if _is_plain(value):
        return (P.A_VALUE, value)
    return (P.A_PICKLED, _pickle(value))


def _pickle(value: object) -> bytes:
    try:
        return pickle.dumps(value)
    except Exception as exc:
        raise ShippingError(
            f"an argument of type {type(value).__name__} cannot be sent to a worker: it is not "
            f"a shared array, a plain value or picklable ({exc}); pass arrays as SharedArrays "
            "and other data as picklable values"
        ) from exc


def view_of(value: object) -> object:
    """A SharedArray or SharedBuffer as a ViewSpec; any other value as it is."""
    if type(value) in _SCALARS:
        return value
    from shardmem._array import SharedArray

    if isinstance(value, SharedBuffer | SharedArray):
        return as_view(value, "submit")
    return value


def as_view(value: object, where: str) -> ViewSpec:
    """The whole of a SharedArray (C-contiguous) or SharedBuffer, as a flat view."""
    from shardmem._array import SharedArray

    if isinstance(value, SharedBuffer):
        return ViewSpec(value, 0, value.nbytes, "B", (value.nbytes,))
    if isinstance(value, SharedArray):
        if not value._is_c_contiguous():
            raise InvalidArgumentError(
                f"{where}(): an array argument is not C-contiguous (strides {value.strides}); "
                "workers see arrays as flat memoryviews, so pass a.copy() instead"
            )
        return ViewSpec(
            value._buffer, value._offset, value.nbytes, value.dtype.format, (value.size,)
        )
    raise ArgumentTypeError(
        f"{where}(): positional arguments after the kernel must be SharedArrays or "
        f"SharedBuffers, not {type(value).__name__}; convert data with sm.asarray(x) and pass "
        "scalars as keyword parameters"
    )


def check_params(params: dict[str, object]) -> tuple[tuple[str, object], ...]:
    """Keyword parameters as a shareable tuple, refusing values a worker cannot receive."""
    for name, value in params.items():
        if not _is_plain(value):
            raise ShippingError(
                f"parameter {name}={type(value).__name__} cannot be sent to a worker: parameters "
                "must be numbers, strings, bytes, None or tuples/lists/dicts of them; pass arrays "
                "positionally as SharedArrays"
            )
    return tuple(params.items())
