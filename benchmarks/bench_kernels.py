"""Kernels shared by every alternative, importable by name (stdlib only).

``multiprocessing`` (forkserver on Linux under 3.14) and
``InterpreterPoolExecutor`` find functions by module and name, so the
kernels live here rather than in ``__main__``; shardmem ships the same
functions by source. Every kernel runs in a worker interpreter, a child
process, a thread or the main interpreter unchanged.
"""

from __future__ import annotations

import importlib
import os
import resource
import time
from collections.abc import Callable
from multiprocessing import shared_memory
from typing import Any

__all__ = (
    "add_path",
    "barrier_loop",
    "lut_map",
    "lut_range",
    "mp_barrier_loop",
    "mp_call",
    "noop",
    "noop1",
    "noop_rank",
    "rss_mib",
    "sleep_a_bit",
    "square_sum",
    "square_sum_rank",
    "sum_range",
    "touch",
    "touch_one",
    "translate_map",
    "translate_range",
)


def square_sum(*, lo: int, hi: int, base: int) -> int:
    """The pure-Python loop: ``total += i*i`` over ``base+lo .. base+hi``."""
    total = 0
    for i in range(base + lo, base + hi):
        total += i * i
    return total


def square_sum_rank(*, rank: int, size: int, n: int, base: int) -> int:
    """``square_sum`` over this rank's share of ``n`` (for ``Pool.run``)."""
    total = 0
    for i in range(base + rank * n // size, base + (rank + 1) * n // size):
        total += i * i
    return total


def lut_range(x: memoryview, out: memoryview, *, lo: int, hi: int, lut: bytes) -> None:
    """Per-element lookup table by an index loop over ``lo:hi``."""
    for i in range(lo, hi):
        out[i] = lut[x[i]]


def lut_map(x: memoryview, out: memoryview, *, lut: bytes) -> None:
    """``lut_range`` over a whole shard (the ``sm.map`` form)."""
    for i in range(len(x)):
        out[i] = lut[x[i]]


def translate_range(x: memoryview, out: memoryview, *, lo: int, hi: int, lut: bytes) -> None:
    """The same lookup table at C speed with ``bytes.translate``."""
    out[lo:hi] = x[lo:hi].tobytes().translate(lut)


def translate_map(x: memoryview, out: memoryview, *, lut: bytes) -> None:
    """``translate_range`` over a whole shard (the ``sm.map`` form)."""
    out[:] = x.tobytes().translate(lut)


def sum_range(x: memoryview, *, lo: int, hi: int) -> float:
    """Builtin (compensated) ``sum`` of a float64 slice."""
    return sum(x[lo:hi])


def add_path(path: str) -> None:
    """InterpreterPoolExecutor initializer: a new interpreter starts from the initial
    ``sys.path``, so it would not find this module (shipped as code: it is stateless)."""
    import sys

    if path not in sys.path:
        sys.path.insert(0, path)


def noop() -> None:
    """Nothing at all: measures the machinery."""


def noop1(_: object) -> None:
    """A one-argument no-op for ``map``-style APIs."""


def noop_rank(*, rank: int) -> int:
    """A no-op for ``Pool.run``."""
    return rank


def sleep_a_bit(seconds: float) -> int:
    """Keep a worker busy so that an executor starts all of its workers."""
    time.sleep(seconds)
    return os.getpid()


def barrier_loop(*, barrier: Callable[[], object], n: int) -> int:
    """Call ``barrier()`` ``n`` times (``Pool.run`` injects ``barrier``)."""
    for _ in range(n):
        barrier()
    return n


def mp_barrier_loop(b: Any, n: int) -> None:
    """Wait on a ``multiprocessing.Barrier`` ``n`` times (in a child process)."""
    for _ in range(n):
        b.wait()


def touch_one(x: memoryview, *, rank: int) -> int:
    """Read one byte of a shared array: proves the worker holds a view of it."""
    return x[rank]


def touch(data: object) -> int:
    """Receive a pickled array in a child process and read one byte."""
    return memoryview(data).cast("B")[0]  # type: ignore[arg-type]


def rss_mib() -> float:
    """Resident set size of this process in MiB (``/proc/self/statm``)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- multiprocessing: kernels over SharedMemory blocks, attached once per child -----------------

_attached: dict[str, shared_memory.SharedMemory] = {}


def _view(name: str, fmt: str) -> memoryview:
    shm = _attached.get(name)
    if shm is None:
        shm = _attached[name] = shared_memory.SharedMemory(name, track=False)
    buf = shm.buf
    assert buf is not None
    return buf.cast(fmt)  # type: ignore[call-overload, no-any-return]


def mp_call(
    kernel: str, blocks: tuple[tuple[str, str, int], ...], kwargs: dict[str, object]
) -> object:
    """Run ``kernel`` ("module:name") on views of SharedMemory blocks in a child process."""
    module, _, name = kernel.partition(":")
    fn = getattr(importlib.import_module(module), name)
    views = [_view(block, fmt)[:count] for block, fmt, count in blocks]
    try:
        return fn(*views, **kwargs)
    finally:
        for v in views:
            v.release()
