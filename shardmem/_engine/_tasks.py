"""Task records and how their arguments travel to a worker."""

from __future__ import annotations

import io
import pickle
import types
from dataclasses import dataclass
from typing import Any, NamedTuple

from shardmem._data.buffer import SharedBuffer
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._shipping import _is_plain, as_plain, cloudpickle_module
from shardmem._errors import ArgumentTypeError, InvalidArgumentError, ShippingError

__all__ = [
    "Encoded",
    "RandomSeed",
    "Task",
    "ViewSpec",
    "as_view",
    "check_params",
    "encode_arg",
    "view_of",
]

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


class Encoded(NamedTuple):
    """An argument already in the form it travels in (``encode_arg`` passes it on)."""

    wire: object


class RandomSeed(int):
    """An argument that arrives in the worker as ``random.Random(seed)``: a stream per task."""

    __slots__ = ()


def encode_arg(value: object) -> object:
    """An argument as it travels: plain scalars as they are, anything else tagged."""
    if type(value) in _SCALARS:
        return value
    if type(value) is RandomSeed:
        return (P.A_RANDOM, int(value))
    if type(value) is Encoded:
        return value.wire
    if isinstance(value, ViewSpec):
        return (P.A_VIEW, value.buffer.id, value.offset, value.nbytes, value.format, value.shape)
    value = as_plain(value)  # (NumPy scalars: a worker cannot unpickle them)
    if type(value) in _SCALARS:
        return value
    if _is_plain(value):
        return (P.A_VALUE, value)
    return (P.A_PICKLED, _pickle(value))


class _NeedsValueError(Exception):
    """A function or class that pickle would send by a name no worker can look up."""


class _Pickler(pickle.Pickler):
    """Plain pickle, refusing what it would send by a name only this interpreter has.

    Functions and classes of ``__main__`` (a script, ``python -c``, a notebook
    cell) pickle by reference, and the reference fails in a worker, whose
    ``__main__`` is its own: those go to cloudpickle, which sends them by value.
    """

    def reducer_override(self, obj: object) -> Any:
        if isinstance(obj, types.FunctionType | type) and obj.__module__ == "__main__":
            raise _NeedsValueError(f"{obj.__qualname__} is defined in __main__")
        return NotImplemented


def _pickle(value: object) -> bytes:
    """``value`` pickled for a worker: pickle first, cloudpickle where pickle cannot.

    The fallback is the one Dask's process scheduler makes: lambdas, nested
    functions and functions of ``__main__`` travel by value through cloudpickle
    when it is installed (it comes with Dask and joblib).
    """
    try:
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - every refusal gets the fallback or the error below
        refusal: Exception = exc
    else:
        if b"__main__" not in data:  # (the C pickler alone: the common case stays fast)
            return data
        try:  # a reference to __main__, or only the string?
            _Pickler(io.BytesIO(), pickle.HIGHEST_PROTOCOL).dump(value)
        except _NeedsValueError as exc:
            refusal = exc
        else:
            return data
    cloudpickle = cloudpickle_module()
    hint = ""
    if cloudpickle is not None:
        try:
            return bytes(cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:  # noqa: BLE001 - reported below
            refusal = exc
    else:
        hint = (
            "; functions defined in __main__, a notebook cell or a lambda need cloudpickle "
            "(pip install cloudpickle)"
        )
    raise ShippingError(
        f"an argument of type {type(value).__name__} cannot be sent to a worker: it is not "
        f"a shared array, a plain value or picklable ({refusal}){hint}; pass arrays as "
        "SharedArrays and other data as picklable values"
    ) from refusal


def view_of(value: object) -> object:
    """A SharedArray or SharedBuffer as a ViewSpec; any other value as it is."""
    if type(value) in _SCALARS:
        return value
    from shardmem._data.array import SharedArray

    if isinstance(value, SharedBuffer | SharedArray):
        return as_view(value, "submit")
    return value


def as_view(value: object, where: str) -> ViewSpec:
    """The whole of a SharedArray (C-contiguous) or SharedBuffer, as a flat view."""
    from shardmem._data.array import SharedArray

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
    """Keyword parameters as a shareable tuple, refusing values a worker cannot receive.

    NumPy scalars become Python numbers (see ``as_plain``).
    """
    params = {name: as_plain(value) for name, value in params.items()}
    for name, value in params.items():
        if not _is_plain(value):
            raise ShippingError(
                f"parameter {name}={type(value).__name__} cannot be sent to a worker: parameters "
                "must be numbers, strings, bytes, None or tuples/lists/dicts of them; pass arrays "
                "positionally as SharedArrays"
            )
    return tuple(params.items())
