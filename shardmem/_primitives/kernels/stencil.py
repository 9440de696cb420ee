"""Worker-side code of ``stencil`` (standard library only; shipped to worker interpreters).

Nothing here may import shardmem: these functions run inside subinterpreters.
``stencil_task`` is the gang kernel. The caller runs a copy of it whose
globals bind ``_USER_KERNEL`` to the user's kernel, so the user's function
travels with it (see ``shardmem._primitives.stencil._bind``).

Every array arrives as a flat typed memoryview of the whole array; rows are
slices of it. A step builds padded copies of the source lines it needs as
Python lists (``memoryview.tolist()`` plus ``radius`` values on each side
chosen by the border mode), keeping a rolling window so each source line is
converted once per step and worker.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from shardmem._primitives.kernels.borders import source_index

__all__ = (
    "edge_indices",
    "pad",
    "stencil_task",
    "store",
)

_PACK_MAX = 1 << 16  # longest row stored with struct.pack_into (one argument per value)

_USER_KERNEL: Callable[..., object] | None = None  # bound per call in a copy of the globals

type Line = list[Any]
type Kernel = Callable[..., object]


def edge_indices(n: int, radius: int, mode: str) -> tuple[list[int], list[int]]:
    """Source indices of the ``radius`` padding values before and after a line of ``n``.

    >>> edge_indices(4, 2, "wrap")
    ([2, 3], [0, 1])
    """
    left = [source_index(k, n, mode) for k in range(-radius, 0)]
    right = [source_index(k, n, mode) for k in range(n, n + radius)]
    return left, right


def pad(line: Line, left: list[int], right: list[int], cval: object) -> Line:
    """``line`` extended in place by the values at ``left`` and ``right`` (-1 means ``cval``).

    >>> pad([1, 2, 3], [1, 0], [2, -1], 9)
    [2, 1, 1, 2, 3, 3, 9]
    """
    head = [cval if i < 0 else line[i] for i in left]
    tail = [cval if i < 0 else line[i] for i in right]
    line[0:0] = head  # in place: cheaper than building head + line + tail
    line += tail
    return line


def store(out_row: memoryview, result: object, fmt: str) -> None:
    """Write a kernel's returned row into ``out_row`` (nothing when it returned None)."""
    if result is None:
        return
    if (
        fmt == "d"
        and type(result) is list
        and len(result) == len(out_row) <= _PACK_MAX
        and out_row.c_contiguous  # (a channel's row is strided)
    ):
        try:  # struct packs a list of floats about twice as fast as array('d', list)
            struct.pack_into(f"{len(result)}d", out_row, 0, *result)
            return
        except struct.error:
            pass  # not all floats: let array() below raise its usual error
    if fmt == "?":
        data: Any = memoryview(bytes(map(bool, result))).cast("?")  # type: ignore[call-overload]
    elif _native(result, fmt):
        data = result
    else:
        try:
            data = array(fmt, result)  # type: ignore[call-overload]
        except (OverflowError, TypeError) as exc:
            exc.store_format = fmt  # type: ignore[union-attr]  # the caller names the dtype
            raise
    if len(data) != len(out_row):
        raise ValueError(
            f"the stencil kernel returned {len(data)} values for an output row of "
            f"{len(out_row)}; return exactly one value per output element (or write "
            "out_row in place and return None)"
        )
    out_row[:] = data


def _native(result: object, fmt: str) -> bool:
    """True when ``result`` can be assigned to a memoryview of format ``fmt`` as is."""
    if type(result) is array:
        return result.typecode == fmt
    return fmt == "B" and type(result) in (bytes, bytearray)


def _step_1d(kernel: Kernel, src: memoryview, dst: memoryview, job: tuple[Any, ...]) -> None:
    (n,), lo, hi, r, mode, cval, fmt, params = job
    a, b = max(lo - r, 0), min(hi + r, n)
    idx = [source_index(k, n, mode) for k in range(lo - r, a)]
    head = [cval if i < 0 else src[i] for i in idx]
    idx = [source_index(k, n, mode) for k in range(b, hi + r)]
    tail = [cval if i < 0 else src[i] for i in idx]
    out_row = dst[lo:hi]
    store(out_row, kernel((head + src[a:b].tolist() + tail,), out_row, **params), fmt)


def _step_2d(kernel: Kernel, src: memoryview, dst: memoryview, job: tuple[Any, ...]) -> None:
    (n0, n1), lo, hi, r, mode, cval, fmt, params = job
    left, right = edge_indices(n1, r, mode)
    blank = [cval] * (n1 + 2 * r)

    def padded(k: int) -> Line:
        s = source_index(k, n0, mode)
        return blank if s < 0 else pad(src[s * n1 : s * n1 + n1].tolist(), left, right, cval)

    window = [padded(k) for k in range(lo - r, lo + r)]
    for i in range(lo, hi):
        window.append(padded(i + r))
        out_row = dst[i * n1 : i * n1 + n1]
        store(out_row, kernel(tuple(window), out_row, **params), fmt)
        del window[0]


def _step_channels(kernel: Kernel, src: memoryview, dst: memoryview, job: tuple[Any, ...]) -> None:
    """A 2-D step on each channel of an H x W x C array (channels last, interleaved).

    A channel's row is a strided slice of the image row: read with
    ``tolist()``, written through a strided view, so no plane is copied.
    """
    (n0, n1, nc), lo, hi, r, mode, cval, fmt, params = job
    left, right = edge_indices(n1, r, mode)
    blank = [cval] * (n1 + 2 * r)
    span = n1 * nc

    def padded(k: int, c: int) -> Line:
        s = source_index(k, n0, mode)
        if s < 0:
            return blank
        return pad(src[s * span + c : (s + 1) * span : nc].tolist(), left, right, cval)

    windows = [[padded(k, c) for k in range(lo - r, lo + r)] for c in range(nc)]
    for i in range(lo, hi):
        for c, window in enumerate(windows):
            window.append(padded(i + r, c))
            out_row = dst[i * span + c : (i + 1) * span : nc]
            store(out_row, kernel(tuple(window), out_row, **params), fmt)
            del window[0]


def _step_3d(kernel: Kernel, src: memoryview, dst: memoryview, job: tuple[Any, ...]) -> None:
    (n0, n1, n2), lo, hi, r, mode, cval, fmt, params = job
    left, right = edge_indices(n2, r, mode)
    blank = [cval] * (n2 + 2 * r)
    cols = [source_index(k, n1, mode) for k in range(-r, n1 + r)]
    width = 2 * r + 1

    def plane(k: int) -> list[Line]:
        s = source_index(k, n0, mode)
        if s < 0:
            return [blank] * n1
        base = s * n1 * n2
        return [
            pad(src[base + j * n2 : base + j * n2 + n2].tolist(), left, right, cval)
            for j in range(n1)
        ]

    window = [plane(k) for k in range(lo - r, lo + r)]
    for i in range(lo, hi):
        window.append(plane(i + r))
        for j in range(n1):
            near = cols[j : j + width]
            rows = tuple(tuple(blank if c < 0 else p[c] for c in near) for p in window)
            start = (i * n1 + j) * n2
            out_row = dst[start : start + n2]
            store(out_row, kernel(rows, out_row, **params), fmt)
        del window[0]


def stencil_task(
    src: memoryview,
    out: memoryview,
    scratch: memoryview | None,
    *,
    shape: Sequence[int],
    lo: int,
    hi: int,
    radius: int,
    mode: str,
    cval: object,
    iterations: int,
    fmt: str,
    kernel_params: dict[str, object],
    barrier: Callable[[], None],
    steps: memoryview | None = None,
    slot: int = 0,
    channels: bool = False,
) -> None:
    """Run ``iterations`` steps on rows ``lo:hi`` (gang kernel: one task per rank).

    Step ``s`` reads the previous step's output (``src`` for the first) and
    writes ``out`` or ``scratch`` so that the last step lands in ``out``; a
    barrier separates steps, as each step reads rows other ranks wrote.
    With ``steps`` (a progress bar is shown), ``steps[slot]`` counts the
    steps this task finished.
    """
    kernel = _USER_KERNEL
    if kernel is None:
        raise RuntimeError("stencil_task was called without a bound user kernel")
    if channels:
        step = _step_channels
    else:
        step = _step_1d if len(shape) == 1 else _step_2d if len(shape) == 2 else _step_3d
    job = (tuple(shape), lo, hi, radius, mode, cval, fmt, kernel_params)
    current = src
    for s in range(iterations):
        dest = out if (iterations - 1 - s) % 2 == 0 or scratch is None else scratch
        if s:
            barrier()
        if hi > lo:
            step(kernel, current, dest, job)
        current = dest
        if steps is not None:
            steps[slot] = s + 1
