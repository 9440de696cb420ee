"""100 steps of heat diffusion: shardmem (1 and 2 workers) vs InterpreterPoolExecutor.

    python benchmarks/bench_stencil.py            # 1024x1024, 100 steps
    python benchmarks/bench_stencil.py --quick    # 256x256, 100 steps

The same row kernel (5-point explicit heat step, ``mode="nearest"``) runs:

- ``sm.stencil(heat_row, ..., iterations=100)`` on a 1-worker and a 2-worker
  pool: one gang call, each worker computes its rows of every step, reading
  neighbour rows in place from shared memory, a barrier between steps;
- ``concurrent.futures.InterpreterPoolExecutor`` with 2 workers: it has no
  shared arrays and no barrier, so every step submits one task per worker
  with its rows (plus one halo row on each side) as ``bytes``, and the main
  interpreter joins the returned ``bytes`` into the next grid;
- NumPy slicing, as the correctness reference (and for scale).

All results are checked against NumPy (max abs difference <= 1e-12).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import InterpreterPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # NumPy and shardmem are imported inside main(): worker interpreters
    import numpy as np  # import this file again (for ipe_rows) and cannot load NumPy

    import shardmem as sm

ALPHA = 0.2


def heat_row(rows: Sequence[list[float]], out_row: object, *, alpha: float) -> list[float]:
    """One output row of the explicit heat step; rows are padded by one on each side."""
    up, mid, down = rows
    keep = 1 - 4 * alpha
    return [
        keep * m + alpha * ((u + d) + (left + right))
        for u, d, left, m, right in zip(up[1:], down[1:], mid, mid[1:], mid[2:])  # noqa: B905
    ]


def numpy_steps(grid: np.ndarray, steps: int, alpha: float) -> np.ndarray:
    """The reference: the same arithmetic, in the same order, with NumPy slicing."""
    import numpy as np

    g = grid
    for _ in range(steps):
        p = np.pad(g, 1, mode="edge")
        g = (1 - 4 * alpha) * g + alpha * (
            (p[:-2, 1:-1] + p[2:, 1:-1]) + (p[1:-1, :-2] + p[1:-1, 2:])
        )
    return g


# -- InterpreterPoolExecutor: one task per worker and step, rows sent as bytes ----------------


def ipe_rows(block: bytes, width: int, lo: int, hi: int, *, height: int, alpha: float) -> bytes:
    """Rows ``lo:hi`` of the next grid from ``block`` (rows ``lo-1 .. hi`` clamped)."""
    values = array("d")
    values.frombytes(block)
    start = max(lo - 1, 0)

    def padded(i: int) -> list[float]:
        k = min(max(i, 0), height - 1) - start
        line = values[k * width : (k + 1) * width].tolist()
        return [line[0], *line, line[-1]]

    out = array("d")
    window = [padded(lo - 1), padded(lo)]
    for i in range(lo, hi):
        window.append(padded(i + 1))
        out.extend(heat_row(tuple(window), None, alpha=alpha))
        del window[0]
    return out.tobytes()


def ipe_steps(ex: InterpreterPoolExecutor, grid: np.ndarray, steps: int, parts: int) -> np.ndarray:
    import numpy as np

    height, width = grid.shape
    row_bytes = 8 * width
    data = grid.tobytes()
    # Functions of a script's __main__ cannot be unpickled in a worker interpreter: submit
    # this file's function under its module name (the workers import this file again).
    from bench_stencil import ipe_rows as task

    bounds = [(p * height // parts, (p + 1) * height // parts) for p in range(parts)]
    for _ in range(steps):
        futures = [
            ex.submit(
                task,
                data[max(lo - 1, 0) * row_bytes : min(hi + 1, height) * row_bytes],
                width,
                lo,
                hi,
                height=height,
                alpha=ALPHA,
            )
            for lo, hi in bounds
        ]
        data = b"".join(f.result() for f in futures)
    return np.frombuffer(data, dtype=np.float64).reshape(height, width)


# -- the run ------------------------------------------------------------------------------------


class Timing(NamedTuple):
    name: str
    wall: float  # best wall-clock seconds
    cpu: float  # process CPU seconds (all threads) of that run: cpu/wall = cores used
    result: Any


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    before, start = os.times(), time.perf_counter()
    result = fn()
    wall, after = time.perf_counter() - start, os.times()
    return wall, (after.user - before.user) + (after.system - before.system), result


def run_interleaved(variants: dict[str, Callable[[], Any]], repeat: int) -> list[Timing]:
    """Best of ``repeat`` rounds, each round running every variant once (shares out load noise)."""
    best: dict[str, Timing] = {}
    for _ in range(repeat):
        for name, fn in variants.items():
            wall, cpu, result = timed(fn)
            if name not in best or wall < best[name].wall:
                best[name] = Timing(name, wall, cpu, result)
    return list(best.values())


def main(argv: list[str] | None = None) -> None:
    import numpy as np

    import shardmem as sm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256 instead of 1024x1024")
    parser.add_argument("--size", type=int, help="grid side (overrides --quick)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many rounds")
    args = parser.parse_args(argv)
    side = args.size or (256 if args.quick else 1024)
    steps = args.steps
    grid = np.random.default_rng(0).random((side, side)) * 100
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"os.process_cpu_count() = {os.process_cpu_count()}, load average {_load()}"
    )
    print(f"heat diffusion, {side}x{side} float64, {steps} steps, mode='nearest'\n")

    src, out = sm.asarray(grid), sm.zeros((side, side))
    with sm.Pool(1) as pool1, sm.Pool(2) as pool2, InterpreterPoolExecutor(2) as ex:

        def shardmem(pool: sm.Pool, iterations: int = steps) -> Any:
            sm.stencil(
                heat_row,
                src,
                out=out,
                mode="nearest",
                iterations=iterations,
                pool=pool,
                alpha=ALPHA,
            )
            return np.asarray(out).copy()

        for pool in (pool1, pool2):
            shardmem(pool, 1)  # warm-up: ships the kernel
        ipe_steps(ex, grid, 1, 2)  # warm-up: starts both interpreters
        timings = run_interleaved(
            {
                "shardmem stencil, 1 worker": lambda: shardmem(pool1),
                "shardmem stencil, 2 workers": lambda: shardmem(pool2),
                "InterpreterPoolExecutor, 2 workers": lambda: ipe_steps(ex, grid, steps, 2),
                "NumPy slicing, 1 thread (reference)": lambda: numpy_steps(grid, steps, ALPHA),
            },
            args.repeat,
        )
    report(timings, timings[-1].result, side * side * steps)
    print(f"\nload average after: {_load()}  (cpu/wall: cores this process kept busy)")


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def report(timings: list[Timing], want: np.ndarray, work: int) -> None:
    import numpy as np

    base = timings[0].wall
    print(
        f"{'variant':<38}{'seconds':>9}{'Melem/s':>10}{'vs 1 worker':>13}"
        f"{'cpu/wall':>10}{'max |err|':>11}"
    )
    for t in timings:
        err = float(np.max(np.abs(np.asarray(t.result) - want))) if want.size else 0.0
        print(
            f"{t.name:<38}{t.wall:9.2f}{work / t.wall / 1e6:10.2f}{base / t.wall:12.2f}x"
            f"{t.cpu / t.wall:10.2f}{err:11.1e}"
        )
        if err > 1e-12:
            sys.exit(f"{t.name}: result differs from NumPy by {err}")


if __name__ == "__main__":
    main()
