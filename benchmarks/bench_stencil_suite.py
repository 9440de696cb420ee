"""The iterative stencil workload: 100 Jacobi steps on 1024x1024 float64.

``sm.stencil(..., iterations=100)`` runs every step in one gang call with a
barrier between steps. The alternatives run the same row kernel over lists
of rows: sequentially, and in 2 threads with a ``threading.Barrier``;
``InterpreterPoolExecutor`` and ``multiprocessing.Pool`` have no barrier
between the tasks of one call, so they are listed as not applicable.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from operator import add

import numpy as np
from bench_compute import NUMPY, run_variants
from bench_harness import IPE, MP, SEQUENTIAL, SM1, SM2, THREADS, Context, Row, skipped

import shardmem as sm

__all__ = ("jacobi", "numpy_steps", "stencil", "threaded_steps")

Grid = list[list[float]]


def jacobi(rows: Sequence[list[float]], out_row: memoryview) -> list[float]:
    """One output row: the mean of the four neighbours (rows padded by one each side)."""
    up, mid, down = rows
    s = map(add, map(add, up[1:-1], down[1:-1]), map(add, mid[:-2], mid[2:]))  # noqa: B912
    return [v * 0.25 for v in s]


def _padded(row: list[float]) -> list[float]:
    return [row[0], *row, row[-1]]  # mode="nearest"


def _steps(  # noqa: PLR0917 - a thread target, called positionally
    src: Grid, dst: Grid, lo: int, hi: int, steps: int, wait: threading.Barrier | None
) -> None:
    h = len(src)
    for _ in range(steps):
        for i in range(lo, hi):
            rows = (src[max(i - 1, 0)], src[i], src[min(i + 1, h - 1)])
            dst[i] = _padded(jacobi(rows, memoryview(b"")))
        src, dst = dst, src
        if wait is not None:
            wait.wait()


def threaded_steps(grid: np.ndarray, steps: int, parts: int) -> np.ndarray:
    """``steps`` Jacobi steps of the row kernel over padded lists in ``parts`` threads."""
    src: Grid = [_padded(r) for r in grid.tolist()]
    dst: Grid = [list(r) for r in src]
    h = len(src)
    if parts == 1:
        _steps(src, dst, 0, h, steps, None)
    else:
        wait = threading.Barrier(parts)
        threads = [
            threading.Thread(
                target=_steps, args=(src, dst, p * h // parts, (p + 1) * h // parts, steps, wait)
            )
            for p in range(parts)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    last = src if steps % 2 == 0 else dst
    return np.array([r[1:-1] for r in last])


def numpy_steps(grid: np.ndarray, steps: int) -> np.ndarray:
    """The same steps with NumPy slicing."""
    g = grid
    for _ in range(steps):
        p = np.pad(g, 1, mode="edge")
        g = 0.25 * ((p[:-2, 1:-1] + p[2:, 1:-1]) + (p[1:-1, :-2] + p[1:-1, 2:]))
    return g


def stencil(ctx: Context) -> list[Row]:
    """100 Jacobi steps on 1024x1024 float64 (``sm.stencil(iterations=100)``)."""
    side, steps = (192, 100) if ctx.quick else (1024, 100)
    grid = np.random.default_rng(9).random((side, side))
    expected = numpy_steps(grid, steps)
    a, out = sm.asarray(grid), sm.zeros((side, side))

    def run_sm(pool: sm.Pool) -> sm.SharedArray:
        return sm.stencil(jacobi, a, out=out, mode="nearest", iterations=steps, pool=pool)

    variants = {
        SEQUENTIAL: lambda: threaded_steps(grid, steps, 1),
        THREADS: lambda: threaded_steps(grid, steps, 2),
        SM1: lambda: run_sm(ctx.sm_pool(1)),
        SM2: lambda: run_sm(ctx.sm_pool(2)),
        NUMPY + " (slicing)": lambda: numpy_steps(grid, steps),
    }

    def check(got: object) -> bool:
        return bool(np.allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12))

    reps = 3 if not ctx.quick else None
    work = side * side * steps
    rows = run_variants(ctx, "stencil", variants, check, work=work, unit="Melem/s", reps=reps)
    why = "no barrier between the tasks of one call (one call per step would be needed)"
    return [*rows, skipped("stencil", IPE, why), skipped("stencil", MP, why)]
