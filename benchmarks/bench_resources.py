"""Resource workloads: memory per idle worker, idle CPU, zero-copy hand-over of a big array."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.pool
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent import interpreters
from concurrent.futures import InterpreterPoolExecutor, ThreadPoolExecutor

import numpy as np
from bench_harness import IPE, MP, SM2, Context, Row, make_ipe, timed_row
from bench_kernels import noop_rank, rss_mib, sleep_a_bit, touch, touch_one

import shardmem as sm

__all__ = ("handover", "idle_cpu", "memory")


def _log(row: Row) -> Row:
    print(f"  {row.workload} {row.variant}: {row.value:.4g} {row.unit}", file=sys.stderr)
    return row


def _proc(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}") as f:
        return f.read()


def _status_mib(pid: int, key: str) -> float:
    for line in _proc(pid, "status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pss_mib(pid: int) -> float:
    for line in _proc(pid, "smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pool: multiprocessing.pool.Pool) -> list[int]:
    return [p.pid for p in pool._pool if p.pid is not None]  # type: ignore[attr-defined]


def value_row(workload: str, variant: str, values: list[float], unit: str) -> Row:
    """A row whose figure is a median of non-time values (MiB, ms of CPU)."""
    row = Row(workload, variant, reps=len(values), unit=unit, value=statistics.median(values))
    row.note = f"min-max {min(values):.2f}-{max(values):.2f}"
    return row


# -- memory per idle worker ---------------------------------------------------------------------


def _rss_delta(start: Callable[[int], sm.Pool | InterpreterPoolExecutor | _Bare], n: int) -> float:
    gc.collect()
    before = rss_mib()
    handle = start(n)
    time.sleep(0.05)
    after = rss_mib()
    if isinstance(handle, InterpreterPoolExecutor):
        handle.shutdown()
    else:
        handle.close()
    return (after - before) / n


def _sm_started(n: int) -> sm.Pool:
    return _ran(sm.Pool(n))


class _Bare:
    """``n`` bare ``concurrent.interpreters.create()`` interpreters (the reference weight)."""

    def __init__(self, n: int) -> None:
        self.interps = [interpreters.create() for _ in range(n)]
        for interp in self.interps:
            interp.exec("pass")

    def close(self) -> None:
        for interp in self.interps:
            interp.close()


def _ipe_started(n: int) -> InterpreterPoolExecutor:
    ex = make_ipe(n)
    for f in [ex.submit(sleep_a_bit, 0.05) for _ in range(n)]:
        f.result()
    return ex


def _mp_pss(n: int) -> float:
    pool = multiprocessing.get_context().Pool(n)
    try:
        pool.map(sleep_a_bit, [0.05] * n, chunksize=1)
        return sum(_pss_mib(pid) for pid in _children(pool)) / n
    finally:
        pool.terminate()
        pool.join()


def memory(ctx: Context) -> list[Row]:
    """RSS per idle worker, from ``/proc/self/statm`` before and after starting 2 and 8."""
    ctx.close()  # measure against a process with no other pool started
    reps = 2 if ctx.quick else ctx.reps
    with sm.Pool(1) as warm:  # one-time imports are not per-worker memory
        warm.run(noop_rank)
    _ipe_started(1).shutdown()
    _Bare(1).close()
    rows = []
    for n in (2, 8):
        workload = f"memory_{n}_workers"
        shard, bare, ipe = [], [], []
        for _ in range(reps):  # interleaved: each round measures each kind once
            shard.append(_rss_delta(_sm_started, n))
            bare.append(_rss_delta(_Bare, n))
            ipe.append(_rss_delta(_ipe_started, n))
        mp = [_mp_pss(n) for _ in range(reps)]
        sm_row = value_row(workload, f"shardmem, {n} workers", shard, "MiB/worker")
        sm_row.reference = True
        bare_row = value_row(
            workload, f"bare interpreters.create(), {n} (reference weight)", bare, "MiB/worker"
        )
        over = (sm_row.value or 0) - (bare_row.value or 0)
        sm_row.target = (
            f"<= 3 MiB per idle worker: {sm_row.value:.2f} MiB ({over:+.2f} MiB over a bare "
            "interpreter in this environment)"
        )
        sm_row.ok = (sm_row.value or 0) <= 3
        mp_row = value_row(workload, f"multiprocessing.Pool({n}), PSS per child", mp, "MiB/worker")
        mp_row.note += "; a separate process each (PSS: shared pages split)"
        rows += [
            _log(sm_row),
            _log(bare_row),
            _log(value_row(workload, f"InterpreterPoolExecutor({n})", ipe, "MiB/worker")),
            _log(mp_row),
        ]
    return rows


def _ran(pool: sm.Pool) -> sm.Pool:
    pool.run(noop_rank)
    return pool


# -- idle CPU -------------------------------------------------------------------------------------


def _cpu_s(pids: list[int]) -> float:
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = _proc(pid, "stat").rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _idle_sm() -> tuple[Callable[[], None], list[int]]:
    pool = _ran(sm.Pool(2))
    return pool.close, []


def _idle_ipe() -> tuple[Callable[[], None], list[int]]:
    ex = _ipe_started(2)
    return ex.shutdown, []


def _idle_tpe() -> tuple[Callable[[], None], list[int]]:
    ex = ThreadPoolExecutor(2)
    for f in [ex.submit(sleep_a_bit, 0.01) for _ in range(2)]:
        f.result()
    return ex.shutdown, []


def _idle_mp() -> tuple[Callable[[], None], list[int]]:
    pool = multiprocessing.get_context().Pool(2)
    pool.map(sleep_a_bit, [0.01, 0.01], chunksize=1)

    def stop() -> None:
        pool.terminate()
        pool.join()

    return stop, _children(pool)


def _idle_none() -> tuple[Callable[[], None], list[int]]:
    return lambda: None, []


def idle_cpu(ctx: Context) -> list[Row]:
    """Process CPU time over 0.5 s of an idle, started pool (should be ~0).

    The run's shared pools are closed first; each pool under test is started
    alone, used once, then left idle. Process CPU counts every thread of
    every interpreter; for multiprocessing the children's CPU is added.
    """
    ctx.close()
    window = 0.5
    rows = []
    for name, start in (
        (SM2, _idle_sm),
        (IPE, _idle_ipe),
        ("ThreadPoolExecutor(2)", _idle_tpe),
        (MP + " (parent + children)", _idle_mp),
        ("nothing started (baseline)", _idle_none),
    ):
        stop, pids = start()
        samples = []
        try:
            for _ in range(2 if ctx.quick else ctx.reps):
                time.sleep(0.05)
                before = _cpu_s(pids)
                time.sleep(window)
                samples.append((_cpu_s(pids) - before) * 1e3)
        finally:
            stop()
        row = value_row("idle_cpu", name, samples, "ms CPU/0.5 s")
        row.reference = name == SM2
        rows.append(_log(row))
    rows[0].target = f"~0 (<= 5 ms per 0.5 s): {rows[0].value:.2f} ms"
    rows[0].ok = (rows[0].value or 0) <= 5
    return rows


# -- zero-copy hand-over ---------------------------------------------------------------------------


@contextlib.contextmanager
def _peak(pids: list[int]) -> Iterator[list[float]]:
    """Yield a list that receives the extra peak RSS (MiB, summed over ``pids``)."""
    base = []
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        base.append(_status_mib(pid, "VmRSS"))
    extra: list[float] = []
    yield extra
    extra.append(sum(_status_mib(p, "VmHWM") - b for p, b in zip(pids, base, strict=True)))


def _available_gib() -> float:
    return _status_meminfo("MemAvailable") / 1024


def _status_meminfo(key: str) -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _sm_handover(pool: sm.Pool, nbytes: int) -> tuple[float, float]:
    a = sm.empty(nbytes, dtype="uint8")
    np.asarray(a).fill(1)  # resident before the hand-over
    with _peak([os.getpid()]) as extra:
        start = time.perf_counter()
        got = pool.run(touch_one, a)
        took = time.perf_counter() - start
    assert got == [1] * pool.size
    del a
    gc.collect()
    return took, extra[0]


def _mp_handover(pool: multiprocessing.pool.Pool, nbytes: int) -> tuple[float, float]:
    arr = np.ones(nbytes, np.uint8)
    with _peak([os.getpid(), *_children(pool)]) as extra:
        start = time.perf_counter()
        got = pool.map(touch, [arr, arr], chunksize=1)
        took = time.perf_counter() - start
    assert got == [1, 1]
    del arr
    gc.collect()
    return took, extra[0]


def handover(ctx: Context) -> list[Row]:
    """Give every worker a 1 GiB array: time and extra peak memory (O(1) for shardmem)."""
    big, note = (256 << 20, "256 MiB (--quick)") if ctx.quick else (1 << 30, "1 GiB")
    if big == 1 << 30 and _available_gib() < 8:
        big, note = 256 << 20, f"256 MiB (only {_available_gib():.1f} GiB free: 1 GiB skipped)"
    small = 16 << 20
    pool, mp = ctx.sm_pool(2), ctx.mp_pool(2)
    _sm_handover(pool, small)  # warm: kernel shipped
    rows = []
    cases: list[tuple[str, Callable[[], tuple[float, float]], int]] = [
        (f"shardmem, 2 workers, {note}", lambda: _sm_handover(pool, big), big),
        ("shardmem, 2 workers, 16 MiB", lambda: _sm_handover(pool, small), small),
        (f"{MP}, array pickled to each worker, {note}", lambda: _mp_handover(mp, big), big),
    ]
    for name, fn, size in cases:
        got = [fn() for _ in range(ctx.reps if size == small or "shardmem" in name else 3)]
        row = timed_row("handover", name, [t for t, _ in got])
        row.value, row.unit = statistics.median(m for _, m in got), "MiB peak extra"
        row.reference = name.startswith("shardmem") and size == big
        rows.append(_log(row))
    ref, ref_small = rows[0], rows[1]
    growth = (ref.median_s or 0) / (ref_small.median_s or 1)
    ref.target = (
        f"O(1): {growth:.2f}x the 16 MiB time for {big // small}x the bytes, "
        f"{ref.value:.1f} MiB extra"
    )
    ref.ok = growth < 4 and (ref.value or 0) < 32
    return rows
