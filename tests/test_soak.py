"""Soak and large-data tests (``slow``; they run in CI too): no growth, no leaks, no warnings.

Resident memory is read from ``/proc/self/statm`` after a warm-up round, so
allocator pools and first-use imports do not count as growth. The figures
are printed (``pytest -s``) and copied into docs/reliability.md.
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import subprocess
import sys
import threading
import time
from concurrent import interpreters
from pathlib import Path

import numpy as np
import pytest

import shardmem as sm

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc"),
]

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
GROWTH_LIMIT = 50 * MIB


def rss() -> int:
    """Resident set size of this process in bytes."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def tiny(x, out):  # type: ignore[no-untyped-def]
    out[0] = x[0] + 1


def maybe_fail(x, out, *, start, seed, fail):  # type: ignore[no-untyped-def]
    if fail and start <= seed < start + len(x):
        raise ValueError(f"planned failure {seed}")
    for i in range(len(x)):
        out[i] = x[i] * 2


def touch(x, *, rank, size):  # type: ignore[no-untyped-def]
    n = len(x)
    step = 4096
    total = 0
    for i in range(rank * step, n, size * step):
        total += x[i]
    return total


def _report(name: str, **figures: object) -> None:
    print(f"\n[soak] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def test_100k_tiny_tasks_without_growth() -> None:
    with sm.Pool(2) as pool:
        x = sm.arange(100_000, dtype="int64")
        out = sm.zeros(100_000, dtype="int64")
        # Warm-up with the same call: one call's 100k task records are freed afterwards, but
        # the allocator keeps its arenas, so the first calls' peak stays resident.
        for _ in range(2):
            sm.map(tiny, x, out=out, chunks=100_000, pool=pool, timeout=120)
        gc.collect()
        before = rss()
        start = time.perf_counter()
        for _ in range(4):
            sm.map(tiny, x, out=out, chunks=100_000, pool=pool, timeout=120)  # a task per row
        elapsed = time.perf_counter() - start
        gc.collect()
        growth = rss() - before
    np.testing.assert_array_equal(np.asarray(out), np.arange(1, 100_001))
    _report("4 x 100k tasks", seconds=round(elapsed, 1), growth_mib=round(growth / MIB, 1))
    # Tuple messages leaked ~0.5 KiB per task here (200 MiB); allocator noise is ~10 MiB.
    assert growth < GROWTH_LIMIT


def test_200_pool_cycles_leave_nothing_behind() -> None:
    threads_before = threading.active_count()
    x = sm.arange(64, dtype="int64")
    for _ in range(5):  # warm-up
        with sm.Pool(2) as pool:
            sm.map(tiny, x, pool=pool)
    gc.collect()
    before = rss()
    interps = len(interpreters.list_all())
    start = time.perf_counter()
    for i in range(200):
        with sm.Pool(1 + i % 2) as pool:
            out = sm.map(tiny, x, pool=pool)
        assert out[0] == 1
    elapsed = time.perf_counter() - start
    gc.collect()
    growth = rss() - before
    _report("200 pools", seconds=round(elapsed, 1), growth_mib=round(growth / MIB, 1))
    assert len(interpreters.list_all()) == interps
    assert threading.active_count() == threads_before
    assert growth < GROWTH_LIMIT


def _random_call(pool: sm.Pool, x: sm.SharedArray, rng: random.Random, i: int) -> str:
    """One call of the soak mix: 2% time out at once, ~28% fail in one chunk, the rest pass."""
    kind = rng.random()
    out = sm.zeros(1000, dtype="int64")
    try:
        if kind < 0.02:
            sm.map(maybe_fail, x, out=out, seed=i, fail=False, chunks=4, pool=pool, timeout=0)
        else:
            sm.map(maybe_fail, x, out=out, seed=rng.randrange(1000), fail=kind < 0.3,
                   chunks=rng.choice([None, 3, 8]), pool=pool, timeout=60)  # fmt: skip
    except ValueError as exc:
        return "failed" if "planned failure" in str(exc) else f"wrong error: {exc}"
    except sm.TaskTimeoutError:
        return "timed_out"
    assert out[999] == 1998
    return "passed"


def test_1000_calls_with_random_failures() -> None:
    counts: dict[str, int] = {"passed": 0, "failed": 0, "timed_out": 0}
    with sm.Pool(2) as pool:
        x = sm.arange(1000, dtype="int64")
        warm = random.Random(7)
        for i in range(200):  # warm-up with the same mix: first failures import traceback etc.
            _random_call(pool, x, warm, i)
        rng = random.Random(8)
        gc.collect()
        marks = [rss()]
        for half in range(2):
            for i in range(500):
                outcome = _random_call(pool, x, rng, 500 * half + i)
                counts[outcome] = counts.get(outcome, 0) + 1
            gc.collect()
            marks.append(rss())
        assert sm.map(tiny, x, pool=pool)[0] == 1
    growth = [(b - a) / MIB for a, b in itertools.pairwise(marks)]
    _report("1000 calls", **counts, growth_mib_per_500=[round(g, 2) for g in growth])
    assert set(counts) == {"passed", "failed", "timed_out"}
    assert counts["failed"] > 100
    assert marks[-1] - marks[0] < 4 * MIB  # a leak of 2 KiB per call would show


SOAK_SCRIPT = """
import random
import shardmem as sm

def k(x, out, *, fail):
    if fail:
        raise RuntimeError("planned")
    for i in range(len(x)):
        out[i] = x[i] + 1

rng = random.Random(1)
x = sm.arange(500, dtype="int64")
for i in range(30):
    with sm.Pool(2) as pool:
        for _ in range(10):
            try:
                sm.map(k, x, fail=rng.random() < 0.3, chunks=4, pool=pool, timeout=30)
            except RuntimeError:
                pass
print(sm.sum(x))
"""


def test_soak_in_a_fresh_process_exits_without_warnings() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", SOAK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "124750"
    assert proc.stderr == ""


@pytest.mark.skipif(available() < 6 << 30, reason="needs 6 GiB of free memory")
def test_2gib_array_is_shared_zero_copy_with_every_worker() -> None:
    n = (2 << 30) // 8
    gc.collect()
    before = rss()
    a = sm.ones(n, dtype="int64")  # 2 GiB
    after_alloc = rss()
    with sm.Pool(2) as pool:
        totals = pool.run(touch, a, timeout=120)
        peak = rss()
    per_worker_pages = (n + 4095 * 2) // (4096 * 2)
    assert sum(totals) == (n + 4095) // 4096  # every 4096th element, split over the ranks
    assert totals[0] in (per_worker_pages, per_worker_pages - 1)
    extra = peak - after_alloc
    _report("2 GiB", alloc_mib=round((after_alloc - before) / MIB), extra_while_shared_mib=round(
        extra / MIB))  # fmt: skip
    assert extra < 200 * MIB  # workers see the same memory: no copy of 2 GiB
    del a
