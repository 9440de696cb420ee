"""Measuring: result rows, repetitions, shared pools and executors, ratios against shardmem."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.pool
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import InterpreterPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import shardmem as sm

HERE = str(Path(__file__).resolve().parent)

__all__ = ("Context", "Row", "finish_ratios", "make_ipe", "summary")

# value = work / seconds / scale for these units; "us" is seconds * 1e6
_SCALE = {"Melem/s": 1e6, "Mit/s": 1e6, "tasks/s": 1.0, "GiB/s": 2**30}

SEQUENTIAL = "sequential (1 interpreter)"
THREADS = "threading, 2 threads"
IPE = "InterpreterPoolExecutor(2)"
MP = "multiprocessing.Pool(2)"
SM1 = "shardmem, 1 worker"
SM2 = "shardmem, 2 workers"


@dataclass(slots=True)
class Row:
    """One variant of one workload: timings over repetitions and the headline figure."""

    workload: str
    variant: str
    median_s: float | None = None  # per repetition (per task for throughput and latency)
    min_s: float | None = None
    max_s: float | None = None
    reps: int = 0
    value: float | None = None  # the figure in `unit` (a rate, a latency, MiB, CPU ms)
    unit: str = ""
    ratio_vs_shardmem: float | None = None  # this / shardmem, lower-is-better metric
    cpu_per_wall: float | None = None  # process CPU / wall time: cores this process got
    reference: bool = False  # the shardmem row the others are compared with
    target: str = ""
    ok: bool | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


@dataclass
class Context:
    """Options of the run and the pools and executors that workloads share."""

    quick: bool
    reps: int
    notes: list[str] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _cache: dict[tuple[str, int], Any] = field(default_factory=dict)

    def close(self) -> None:
        """Close every shared pool and executor."""
        self._stack.close()
        self._cache.clear()

    def sm_pool(self, n: int) -> sm.Pool:
        """A shared shardmem pool of ``n`` workers."""
        return self._shared("sm", n, lambda: sm.Pool(n))

    def ipe(self, n: int) -> InterpreterPoolExecutor:
        """A shared InterpreterPoolExecutor of ``n`` interpreters, all started."""
        return self._shared("ipe", n, lambda: _started(make_ipe(n), n))

    def tpe(self, n: int) -> ThreadPoolExecutor:
        """A shared ThreadPoolExecutor of ``n`` threads."""
        return self._shared("tpe", n, lambda: ThreadPoolExecutor(n))

    def mp_pool(self, n: int) -> multiprocessing.pool.Pool:
        """A shared multiprocessing pool (the platform's default start method)."""
        return self._shared("mp", n, lambda: multiprocessing.get_context().Pool(n))

    def _shared[T](self, kind: str, n: int, make: Callable[[], T]) -> T:
        key = (kind, n)
        if key not in self._cache:
            self._cache[key] = self._stack.enter_context(_closing(make()))
        return self._cache[key]  # type: ignore[no-any-return]

    def callback(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` when the run ends (free shared memory, ...)."""
        self._stack.callback(fn)

    def measure(
        self,
        workload: str,
        variant: str,
        fn: Callable[[], object],
        *,
        reps: int | None = None,
        warmup: bool = True,
        work: float = 0.0,
        unit: str = "",
        per: int = 1,
    ) -> tuple[Row, object]:
        """Time ``fn`` ``reps`` times (after one untimed warm-up); return the row and a result.

        ``per`` divides every time (tasks per repetition); ``work`` units per
        (divided) time give ``value`` in ``unit``.
        """
        result = fn() if warmup else None
        times, cpu, wall = [], 0.0, 0.0
        for _ in range(reps or self.reps):
            gc.collect()
            cpu0, start = time.process_time(), time.perf_counter()
            result = fn()
            took = time.perf_counter() - start
            cpu, wall = cpu + time.process_time() - cpu0, wall + took
            times.append(took / per)
        row = timed_row(workload, variant, times, work=work, unit=unit)
        row.cpu_per_wall = cpu / wall if wall else None
        return row, result


def timed_row(
    workload: str, variant: str, times: list[float], *, work: float = 0.0, unit: str = ""
) -> Row:
    """A row from raw times (seconds)."""
    med = statistics.median(times)
    row = Row(workload, variant, med, min(times), max(times), len(times), unit=unit)
    if unit == "us":
        row.value = med * 1e6
    elif unit in _SCALE and med > 0:
        row.value = work / med / _SCALE[unit]
    return row


def skipped(workload: str, variant: str, why: str) -> Row:
    """A row for an alternative that could not run here."""
    return Row(workload, variant, note=f"skipped: {why}")


@contextlib.contextmanager
def _closing(obj: Any) -> Iterator[Any]:
    try:
        yield obj
    finally:
        if isinstance(obj, multiprocessing.pool.Pool):
            obj.terminate()
            obj.join()
        elif isinstance(obj, sm.Pool):
            obj.close()
        else:
            obj.shutdown(wait=True)


def make_ipe(n: int) -> InterpreterPoolExecutor:
    """An InterpreterPoolExecutor whose interpreters can import the benchmark modules."""
    from bench_kernels import add_path

    return InterpreterPoolExecutor(n, initializer=add_path, initargs=(HERE,))


def _started(ex: InterpreterPoolExecutor, n: int) -> InterpreterPoolExecutor:
    from bench_kernels import sleep_a_bit

    for f in [ex.submit(sleep_a_bit, 0.05) for _ in range(n)]:
        f.result()
    return ex


def finish_ratios(rows: list[Row]) -> None:
    """Fill ``ratio_vs_shardmem`` of each row against its workload's reference row."""
    refs = {r.workload: r for r in rows if r.reference}
    for r in rows:
        ref = refs.get(r.workload)
        if ref is None:
            continue
        if r.median_s is not None and ref.median_s:
            r.ratio_vs_shardmem = r.median_s / ref.median_s
        elif r.median_s is None and r.value is not None and ref.value:
            r.ratio_vs_shardmem = r.value / ref.value


def summary(rows: list[Row]) -> tuple[int, int]:
    """(passed, failed) target lines."""
    return sum(r.ok is True for r in rows), sum(r.ok is False for r in rows)
