"""Dask and joblib through shardmem, beside their own threads and processes.

The pipeline is pure Python (records.py): Dask's threads share one GIL, its
processes pay start-up and pickling, and shardmem runs the same tasks in
worker interpreters of this process. Process rows include their start-up
(a fresh process pool per call, as Dask's ``"processes"`` scheduler makes by
default and as a first joblib loky call pays); shardmem rows are shown warm
(a long-lived pool) and with the pool's start-up included.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_harness import Context, Row, skipped, timed_row
from records import keep, make_lines, parse, score_lines

import shardmem as sm

__all__ = ("dask_bag", "joblib_loop")

DASK_REF = "shardmem, 2 workers (dask.compute(scheduler=pool))"
JOBLIB_REF = 'shardmem, 2 workers (backend="shardmem")'
FILES = 16  # text files of the Dask pipeline
DOC = 100  # records per joblib call


def _log(row: Row) -> Row:
    print(f"  {row.variant}: {row.median_s or 0:.3f} s", file=sys.stderr, flush=True)
    return row


def _timed(
    ctx: Context,
    workload: str,
    variant: str,
    fn: Callable[[], object],
    expected: object,
    *,
    before: Callable[[], object] | None = None,
) -> Row:
    """Best-of style timing of ``fn``, with an untimed ``before`` each time; checks the result."""
    times = []
    for i in range(ctx.reps + 1):
        if before is not None:
            before()
        start = time.perf_counter()
        got = fn()
        took = time.perf_counter() - start
        if got != expected:
            raise AssertionError(f"{workload}: {variant} computed a different result")
        if i:  # the first run (imports, first shipping) is not counted
            times.append(took)
    return _log(timed_row(workload, variant, times))


def _targets(rows: list[Row], ref_name: str, threads: str, processes: list[str]) -> None:
    by = {r.variant: r for r in rows if r.median_s}
    ref = by.get(ref_name)
    if ref is None or ref.median_s is None:
        return
    ref.reference = True
    if threads in by:
        speedup = (by[threads].median_s or 0) / ref.median_s
        ref.target = f">= 1.8x the threads row ({speedup:.2f}x)"
        ref.ok = speedup >= 1.8
    for name in processes:
        row = by.get(name)
        if row is not None and row.median_s is not None:
            row.target = f"slower than shardmem ({row.median_s / ref.median_s:.2f}x its time)"
            row.ok = row.median_s > ref.median_s


def dask_bag(ctx: Context) -> list[Row]:
    """A dask.bag pipeline over text files: read, parse, filter, count names."""
    try:
        import dask.bag as db
    except ImportError:
        return [skipped("dask_bag", "all", "dask is not installed (pip install 'shardmem[dask]')")]
    n = 30_000 if ctx.quick else 300_000
    folder = Path(tempfile.mkdtemp(prefix="shardmem-bench-"))
    ctx.callback(lambda: shutil.rmtree(folder, ignore_errors=True))
    lines = make_lines(n)
    for k in range(FILES):  # the tasks read the files: no data passes through the caller
        (folder / f"part{k:02}.csv").write_text("\n".join(lines[k::FILES]) + "\n")
    pattern = str(folder / "*.csv")

    def run(scheduler: object, **kw: object) -> list[tuple[str, int]]:
        bag = db.read_text(pattern).map(str.rstrip).map(parse).filter(keep).pluck("name")
        return sorted(bag.frequencies().compute(scheduler=scheduler, **kw))

    expected = run("sync")
    pool = ctx.sm_pool(2)

    def cold() -> list[tuple[str, int]]:
        with sm.Pool(2) as fresh:
            return run(fresh)

    threads = "Dask threads, 2 threads"
    processes = "Dask processes, 2 processes (start-up included)"
    variants: dict[str, Callable[[], object]] = {
        "Dask sync (1 thread)": lambda: run("sync"),
        threads: lambda: run("threads", pool=ctx.tpe(2)),  # (a pool closed with the run)
        processes: lambda: run("processes", num_workers=2),
        DASK_REF: lambda: run(pool),
        "shardmem, 2 workers (start-up included)": cold,
    }
    rows = [_timed(ctx, "dask_bag", name, fn, expected) for name, fn in variants.items()]
    _targets(rows, DASK_REF, threads, [processes])
    return rows


def joblib_loop(ctx: Context) -> list[Row]:
    """A joblib Parallel loop calling a pure-Python function per document of 100 records."""
    try:
        import joblib
        from joblib.externals.loky import get_reusable_executor

        import shardmem.joblib
    except ImportError:
        return [skipped("joblib_loop", "all", "joblib is not installed (pip install joblib)")]
    n = 20_000 if ctx.quick else 200_000
    lines = make_lines(n)
    docs = [lines[i : i + DOC] for i in range(0, n, DOC)]  # one call per document
    expected = [score_lines(doc) for doc in docs]
    pool = ctx.sm_pool(2)

    def run(backend: object) -> list[list[float]]:
        with joblib.parallel_config(backend=backend, n_jobs=2):
            return list(joblib.Parallel()(joblib.delayed(score_lines)(doc) for doc in docs))

    def stop_loky() -> None:
        get_reusable_executor().shutdown(wait=True)

    threads = "joblib threading, n_jobs=2"
    loky_cold = "joblib loky, n_jobs=2 (start-up included)"
    loky_warm = "joblib loky, n_jobs=2 (workers already started)"
    rows = [
        _timed(
            ctx, "joblib_loop", "sequential loop", lambda: [score_lines(d) for d in docs], expected
        ),
        _timed(ctx, "joblib_loop", threads, lambda: run("threading"), expected),
        _timed(ctx, "joblib_loop", loky_cold, lambda: run("loky"), expected, before=stop_loky),
        _timed(ctx, "joblib_loop", loky_warm, lambda: run("loky"), expected),
        _timed(
            ctx,
            "joblib_loop",
            JOBLIB_REF,
            lambda: run(shardmem.joblib.ShardmemBackend(pool=pool)),
            expected,
        ),
    ]
    stop_loky()
    _targets(rows, JOBLIB_REF, threads, [loky_cold])
    return rows
