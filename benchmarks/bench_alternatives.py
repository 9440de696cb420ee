"""The same kernel run by each alternative: sequentially, threads, InterpreterPoolExecutor,
multiprocessing with SharedMemory, and a free-threaded ``python3.14t`` when one is on PATH.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory
from typing import Any

import numpy as np
from bench_harness import IPE, MP, SEQUENTIAL, THREADS, Context, Row, skipped, timed_row

__all__ = ("Split", "free_threaded", "parallel_variants", "split_range")

Split = Callable[[int], list[dict[str, object]]]  # parts -> one kwargs dict per task


def split_range(n: int, **fixed: object) -> Split:
    """Kwargs ``lo``/``hi`` cutting ``0..n`` into equal parts, plus ``fixed``."""
    return lambda parts: [
        {"lo": p * n // parts, "hi": (p + 1) * n // parts, **fixed} for p in range(parts)
    ]


def parallel_variants(
    ctx: Context,
    kernel: Callable[..., object],
    arrays: Sequence[np.ndarray],
    split: Split,
    combine: Callable[[list[object]], object] = lambda parts: parts,
    *,
    writes: bool = False,
) -> dict[str, Callable[[], object]]:
    """Callables running ``kernel(*views, **kwargs)`` for each alternative.

    Each callable returns ``combine(task results)``, or when the kernel
    ``writes`` its output (the last array) that output array itself.
    """
    views: list[memoryview] = [
        memoryview(a).cast("B").cast(str(a.dtype.char))  # type: ignore[call-overload]
        for a in arrays
    ]
    blocks, shm_arrays = _shared_copies(ctx, arrays)
    name = f"{kernel.__module__}:{kernel.__name__}"

    def out_of(parts: list[object], where: Sequence[np.ndarray] = arrays) -> object:
        return where[-1] if writes else combine(parts)

    def sequential() -> object:
        return out_of([kernel(*views, **kw) for kw in split(1)])

    def threads() -> object:
        return out_of(_in_threads(kernel, views, split(2)))

    def ipe() -> object:
        ex = ctx.ipe(2)
        return out_of([f.result() for f in [ex.submit(kernel, *views, **kw) for kw in split(2)]])

    def mp() -> object:
        from bench_kernels import mp_call

        pool = ctx.mp_pool(2)
        jobs = [pool.apply_async(mp_call, (name, blocks, kw)) for kw in split(2)]
        return out_of([j.get() for j in jobs], shm_arrays)

    return {SEQUENTIAL: sequential, THREADS: threads, IPE: ipe, MP: mp}


def _in_threads(
    kernel: Callable[..., object], views: list[memoryview], tasks: list[dict[str, object]]
) -> list[object]:
    results: list[object] = [None] * len(tasks)

    def one(i: int) -> None:
        results[i] = kernel(*views, **tasks[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(tasks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _shared_copies(
    ctx: Context, arrays: Sequence[np.ndarray]
) -> tuple[tuple[tuple[str, str, int], ...], list[np.ndarray]]:
    """Copy ``arrays`` into SharedMemory blocks (setup, not timed) for multiprocessing."""
    blocks, copies = [], []
    for a in arrays:
        shm = shared_memory.SharedMemory(create=True, size=max(a.nbytes, 1))
        copy: np.ndarray = np.ndarray(a.shape, a.dtype, buffer=shm.buf)
        copy[...] = a
        blocks.append((shm.name, a.dtype.char, a.size))
        copies.append(copy)
        ctx.callback(_releaser(shm, copies))
    return tuple(blocks), copies


def _releaser(shm: shared_memory.SharedMemory, copies: list[np.ndarray]) -> Callable[[], None]:
    def release() -> None:
        copies.clear()
        with contextlib.suppress(BufferError):  # a view still alive; unlink frees the name
            shm.close()
        shm.unlink()

    return release


_FT_SCRIPT = """
import json, sys, threading, time
n, base, reps = (int(v) for v in sys.argv[1:4])
def square_sum(lo, hi, base):
    total = 0
    for i in range(base + lo, base + hi):
        total += i * i
    return total
def once():
    out = [0, 0]
    def one(k):
        out[k] = square_sum(k * n // 2, (k + 1) * n // 2, base)
    ts = [threading.Thread(target=one, args=(k,)) for k in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    return sum(out)
once()
times = []
for _ in range(reps):
    t = time.perf_counter(); total = once(); times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "total": str(total), "gil": sys._is_gil_enabled()}))
"""

FREE_THREADED = "python3.14t, 2 threads (free-threaded)"


def free_threaded(workload: str, n: int, base: int, reps: int, expected: int) -> Row:
    """The loop in 2 threads of a free-threaded ``python3.14t`` subprocess (timed inside it)."""
    exe = shutil.which("python3.14t")
    if exe is None:
        return skipped(workload, FREE_THREADED, "no python3.14t on PATH")
    try:
        proc = subprocess.run(
            [exe, "-X", "gil=0", "-c", _FT_SCRIPT, str(n), str(base), str(reps)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        data: dict[str, Any] = json.loads(proc.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return skipped(workload, FREE_THREADED, f"python3.14t failed: {exc}")
    row = timed_row(workload, FREE_THREADED, data["times"], work=n, unit="Mit/s")
    if int(data["total"]) != expected:
        row.note = "WRONG RESULT"
    elif data["gil"]:
        row.note = "the GIL was enabled"
    return row
