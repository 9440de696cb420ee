"""Scaling: speed-up against the number of workers (``python -m shardmem bench --workers 1,2,4``).

Each workload runs on pools of each size, one after another in this one
process, and every result is checked. Throughput rows give the speed-up over
1 worker; cost rows (barrier, round trip, no-op ``sm.map``, cold start) give
how the per-call cost grows with the worker count. On a machine with fewer
cores than workers the pools are oversubscribed: no speed-up is expected past
the core count, and the cost rows then show the price of oversubscription.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from bench_harness import Context, Row, timed_row
from bench_kernels import barrier_loop, noop, noop_rank, square_sum_rank
from bench_stencil_suite import jacobi, numpy_steps

import shardmem as sm

__all__ = ("plot_scaling", "scaling")

THROUGHPUT = ("loop_small", "loop_big", "lut_loop", "box_blur", "stencil_100")
COSTS = ("barrier", "round_trip", "noop_map", "cold_start")


def _best(fn: Callable[[], object], reps: int) -> tuple[float, object]:
    """Best wall time of ``reps`` runs after a warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def _throughput(
    quick: bool,
) -> dict[str, tuple[Callable[[sm.Pool], object], Callable[[object], bool], float]]:
    """name -> (run on a pool, check its result, units of work)."""
    n_small = 2_000_000 if quick else 12_000_000
    n_big = 1_000_000 if quick else 6_000_000
    base = 10**20
    side = 512 if quick else 1536
    lut = bytes((255 - v) for v in range(256))
    img = np.random.default_rng(8).integers(0, 256, (side, side), dtype=np.uint8)
    a_img, out_img = sm.asarray(img), sm.zeros(img.shape, dtype="uint8")
    blur_in, blur_out = sm.asarray(img), sm.zeros(img.shape, dtype="float32")
    grid_side = 192 if quick else 512
    grid = np.random.default_rng(9).random((grid_side, grid_side))
    grid_expected = numpy_steps(grid, 100)
    a_grid, out_grid = sm.asarray(grid), sm.zeros(grid.shape)

    def squares(n: int, b: int) -> int:
        def f(m: int) -> int:
            return m * (m + 1) * (2 * m + 1) // 6 if m > 0 else 0

        return f(b + n - 1) - f(b - 1)

    def lut_kernel(x, out, *, table):  # type: ignore[no-untyped-def]
        for i in range(len(x)):
            out[i] = table[x[i]]

    return {
        "loop_small": (
            lambda p: sum(p.run(square_sum_rank, n=n_small, base=0)),  # type: ignore[arg-type]
            lambda got: got == squares(n_small, 0),
            n_small,
        ),
        "loop_big": (
            lambda p: sum(p.run(square_sum_rank, n=n_big, base=base)),  # type: ignore[arg-type]
            lambda got: got == squares(n_big, base),
            n_big,
        ),
        "lut_loop": (
            lambda p: sm.map(lut_kernel, a_img, out=out_img, table=lut, pool=p),
            lambda got: bool(np.array_equal(np.asarray(got), 255 - img)),
            img.size,
        ),
        "box_blur": (
            lambda p: sm.image.box_blur(blur_in, out=blur_out, pool=p),
            lambda got: bool(np.isfinite(np.asarray(got)).all()),
            img.size,
        ),
        "stencil_100": (
            lambda p: sm.stencil(
                jacobi, a_grid, out=out_grid, mode="nearest", iterations=100, pool=p
            ),
            lambda got: bool(np.allclose(np.asarray(got), grid_expected, rtol=1e-12, atol=1e-12)),
            grid.size * 100,
        ),
    }


def _costs(pool: sm.Pool, quick: bool) -> dict[str, float]:
    """Per-call costs on ``pool``, in microseconds (medians)."""
    n = 300 if quick else 2000
    x = sm.zeros(65536, dtype="uint8")

    def noop_kernel(x, out):  # type: ignore[no-untyped-def]
        pass

    def median_us(fn: Callable[[], object], count: int) -> float:
        fn()
        times = []
        for _ in range(count):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e6

    steps = 200 if quick else 2000
    start = time.perf_counter()
    done = pool.run(barrier_loop, n=steps)
    per_barrier = (time.perf_counter() - start) / steps * 1e6
    assert done == [steps] * pool.size, done
    return {
        "barrier": per_barrier,
        "round_trip": median_us(lambda: pool.submit(noop).result(), n),
        "noop_map": median_us(lambda: sm.map(noop_kernel, x, pool=pool), n),
    }


def _cold_start(workers: int, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        pool = sm.Pool(workers)
        pool.run(noop_rank)
        times.append(time.perf_counter() - start)
        pool.close()
    return statistics.median(times) * 1e3


def scaling(ctx: Context, workers: Sequence[int]) -> list[Row]:
    """Rows for every workload on pools of each size in ``workers`` (1 first)."""
    counts = sorted(set(workers) | {1})
    reps = 2 if ctx.quick else 3
    cores = os.process_cpu_count() or 1
    rows: list[Row] = []
    work = _throughput(ctx.quick)
    best: dict[str, dict[int, float]] = {name: {} for name in work}
    costs: dict[str, dict[int, float]] = {name: {} for name in COSTS}
    for w in counts:
        costs["cold_start"][w] = _cold_start(w, 3 if ctx.quick else 5)
        with sm.Pool(w) as pool:
            for name, (run, check, _) in work.items():
                took, got = _best(lambda run=run: run(pool), reps)
                if not check(got):
                    raise AssertionError(f"scaling {name} on {w} workers: wrong result")
                best[name][w] = took
                print(f"  {name} {w} workers: {took:.4g} s", file=sys.stderr, flush=True)
            for name, value in _costs(pool, ctx.quick).items():
                costs[name][w] = value
    for name, by_w in best.items():
        for w, took in by_w.items():
            row = timed_row(
                f"scaling_{name}", f"{w} worker{'s' * (w > 1)}", [took], work=work[name][2]
            )
            row.value = by_w[1] / took  # speed-up over 1 worker
            row.unit = "x vs 1 worker"
            row.reference = w == 1
            row.note = f"{cores} cores seen" + ("; oversubscribed" if w > cores else "")
            rows.append(row)
    for name, by_w in costs.items():
        for w, value in by_w.items():
            row = Row(f"scaling_{name}", f"{w} worker{'s' * (w > 1)}", value=value)
            row.unit = "ms" if name == "cold_start" else "us"
            row.reference = w == 1
            row.note = f"{cores} cores seen" + ("; oversubscribed" if w > cores else "")
            rows.append(row)
    return rows


def plot_scaling(path: Path, rows: list[Row]) -> None:
    """Speed-up (left) and per-call costs (right) against the worker count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cores = os.process_cpu_count() or 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    workers = sorted({int(r.variant.split()[0]) for r in rows})
    left.plot(workers, workers, "k:", lw=1, label="ideal")
    left.axvline(cores, color="grey", lw=0.8, ls="--", label=f"{cores} cores")
    for name in THROUGHPUT:
        pts = sorted(
            (int(r.variant.split()[0]), r.value or 0.0)
            for r in rows
            if r.workload == f"scaling_{name}"
        )
        left.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
    left.set_xlabel("workers")
    left.set_ylabel("speed-up over 1 worker")
    left.legend(fontsize=8)
    for name in COSTS:
        pts = sorted(
            (int(r.variant.split()[0]), r.value or 0.0)
            for r in rows
            if r.workload == f"scaling_{name}"
        )
        unit = "ms" if name == "cold_start" else "us"
        right.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{name} ({unit})")
    right.axvline(cores, color="grey", lw=0.8, ls="--")
    right.set_xlabel("workers")
    right.set_yscale("log")
    right.set_ylabel("cost per call")
    right.legend(fontsize=8)
    fig.suptitle(f"shardmem scaling on {cores} cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
