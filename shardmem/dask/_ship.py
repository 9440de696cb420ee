"""Shipping kernels to Dask workers: the packed blob of ``_kernel.pack``, rebuilt there.

A kernel travels to a Dask worker process exactly as it travels to a worker
interpreter: as marshalled code plus the globals it names (see
``shardmem._kernel``), so a kernel defined in a notebook cell, ``__main__``,
``python -c`` or a module the workers cannot import runs remotely, and a
kernel that cannot be shipped is refused on the client before any graph is
built. The Dask worker rebuilds a plain function from the blob (the same
steps as a worker interpreter: ``_engine._rebuild``) and hands it to its local pool, which packs it
again. The source lines of every file the kernel's code comes from travel
too, so tracebacks from remote workers show code.

Client and workers must run the same CPython minor version (marshal format),
which Dask requires anyway.
"""

from __future__ import annotations

import linecache
import marshal
import os
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from shardmem._engine import pack, rebuild_functions
from shardmem._errors import KernelError

__all__ = ("ShippedKernel", "attach_remote_traceback", "rebuild", "ship")


@dataclass(frozen=True, slots=True)
class ShippedKernel:
    """A packed kernel as it travels in a Dask graph (picklable, hashable)."""

    name: str
    key: str
    blob: bytes
    sources: tuple[tuple[str, tuple[str, ...]], ...]


def ship(fn: Callable[..., object]) -> ShippedKernel:
    """Pack ``fn`` on the client (raising `ShippingError` now if it cannot travel)."""
    packed = pack(fn)
    _entry, table, _sources = marshal.loads(packed.blob)
    files = sorted({spec[1].co_filename for spec in table})
    sources = tuple((f, tuple(lines)) for f in files if (lines := linecache.getlines(f)))
    return ShippedKernel(packed.name, packed.key, packed.blob, sources)


_rebuilt: dict[str, types.FunctionType] = {}
_rebuilt_lock = threading.Lock()
_KEEP = 256  # rebuilt kernels kept per process


def rebuild(shipped: ShippedKernel) -> types.FunctionType:
    """The kernel as a plain function in this process, cached by its key."""
    with _rebuilt_lock:
        fn = _rebuilt.get(shipped.key)
        if fn is None:
            fn = _rebuild(shipped)
            if len(_rebuilt) >= _KEEP:  # a long-lived worker sees many notebook redefinitions
                del _rebuilt[next(iter(_rebuilt))]
            _rebuilt[shipped.key] = fn
        return fn


def _rebuild(shipped: ShippedKernel) -> types.FunctionType:
    for filename, lines in shipped.sources:
        if filename not in linecache.cache and not os.path.isfile(filename):
            linecache.cache[filename] = (sum(map(len, lines)), None, list(lines), filename)
    entry, table, sources = marshal.loads(shipped.blob)
    for filename, lines in sources:
        if filename not in linecache.cache:
            linecache.cache[filename] = (sum(map(len, lines)), None, list(lines), filename)
    return cast("types.FunctionType", rebuild_functions(table)[entry])


# -- errors ------------------------------------------------------------------------------------


def attach_remote_traceback(exc: BaseException) -> BaseException:
    """Make a kernel's exception carry the worker interpreter's traceback through Dask.

    Pickling drops ``__cause__`` (where shardmem chains the `KernelError`
    holding the traceback text), but keeps ``__notes__``: the text goes there.
    """
    cause = exc if isinstance(exc, KernelError) else exc.__cause__
    if isinstance(cause, KernelError) and cause is not exc:
        note = f"shardmem kernel {cause.kernel!r} ({cause.task}), worker traceback:\n"
        exc.add_note(note + cause.remote_traceback.rstrip())
    return exc
