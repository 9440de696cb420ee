"""One leak scenario in a fresh process: warm up, then RSS before and after many calls.

Run by tests/test_leaks.py as ``python leak_probe.py SCENARIO CALLS``: a
warm-up round, then CALLS calls in 10 rounds (``wide_map``: CALLS rounds of one
call), with RSS read after each; the growth is the median of the last three
readings less the median of the first three. Prints one JSON line: ``{"scenario", "calls",
"growth_mib", "per_10k_mib", "curve_mib", "seconds"}``.
Every call checks its result against a sequential (NumPy or Python) reference,
so a scenario that leaks nothing because it does nothing fails too.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import shardmem as sm

MIB = 1 << 20
BIG = 20_000  # 156 KiB of float64: the size that leaked whole arrays (sm.sum of NumPy data)
BATCH = 20_000  # futures held at once by the submit scenario
WIDE = 140_000  # tasks of one map: more than the message slots
ELEMENTS = 2_000  # the other primitives: fresh arrays too, small so that 10k calls are quick


def _libc() -> object | None:
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC: Any = _libc()


def rss() -> int:
    """Resident memory, after the C allocator returned the free memory it can.

    Without the trim a round's peak (BATCH futures and their messages) stays
    resident or not by chance: readings swung by +-30 MiB from round to round,
    more than the bounds. A leak is memory still in use, which no trim returns.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def double(x, out):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        out[i] = x[i] * 2.0


def count_big(x):  # type: ignore[no-untyped-def]
    return len([v for v in x if v > 0.5])


def row_mean(rows, out_row):  # type: ignore[no-untyped-def]
    up, mid, down = rows
    return [(a + b + c) / 3.0 for a, b, c in zip(up[1:-1], mid[1:-1], down[1:-1], strict=True)]


def noop(i):  # type: ignore[no-untyped-def]
    return i


def _fresh(rng: np.random.Generator, n: int = ELEMENTS) -> np.ndarray:
    return rng.random(n)


def _check(got: object, want: object) -> None:
    if not np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float)):
        raise AssertionError(f"wrong result: {got!r} != {want!r}")


def primitive(name: str) -> Callable[[np.random.Generator], None]:
    """One call of primitive ``name`` on fresh arrays, checked against NumPy."""

    def run(rng: np.random.Generator) -> None:
        if name == "sum_numpy":  # a NumPy array: copied into a fresh SharedArray each call
            a = _fresh(rng, BIG)
            _check(sm.sum(a), a.sum())
            return
        a = _fresh(rng)
        if name == "sum":
            _check(sm.sum(sm.asarray(a)), a.sum())
        elif name == "min":
            _check(sm.min(sm.asarray(a)), a.min())
        elif name == "max":
            _check(sm.max(sm.asarray(a)), a.max())
        elif name == "mean":
            _check(sm.mean(sm.asarray(a)), a.mean())
        elif name == "dot":
            b = _fresh(rng)
            _check(sm.dot(sm.asarray(a), sm.asarray(b)), a @ b)
        elif name == "map":
            _check(np.asarray(sm.map(double, sm.asarray(a))), a * 2)
        elif name == "map_chunked":
            _check(np.asarray(sm.map(double, sm.asarray(a), chunks=16)), a * 2)
        elif name == "vectorize":
            _check(np.asarray(sm.map(sm.vectorize(abs), sm.asarray(a - 0.5))), np.abs(a - 0.5))
        elif name == "reduce":
            _check(sm.reduce(count_big, sm.asarray(a), chunks=8), (a > 0.5).sum())
        elif name == "histogram":
            counts, _ = sm.histogram(sm.asarray(a), bins=8, range=(0.0, 1.0))
            _check(np.asarray(counts), np.histogram(a, bins=8, range=(0.0, 1.0))[0])
        elif name == "cumsum":
            _check(np.asarray(sm.cumsum(sm.asarray(a))), np.cumsum(a))
        elif name == "scan":
            _check(np.asarray(sm.scan(max, sm.asarray(a))), np.maximum.accumulate(a))
        elif name == "stencil":
            img = a.reshape(40, 50)
            got = np.asarray(sm.stencil(row_mean, sm.asarray(img), mode="nearest"))
            padded = np.pad(img, 1, mode="edge")
            want = (padded[:-2, 1:-1] + padded[1:-1, 1:-1] + padded[2:, 1:-1]) / 3.0
            _check(got, want)
        else:
            raise SystemExit(f"unknown primitive {name}")

    return run


PRIMITIVES = (
    "sum_numpy",
    "sum",
    "min",
    "max",
    "mean",
    "dot",
    "map",
    "map_chunked",
    "vectorize",
    "reduce",
    "histogram",
    "cumsum",
    "scan",
    "stencil",
)


def submit_rounds(calls: int) -> Callable[[np.random.Generator], None]:
    """``calls`` tasks through ``Pool.submit``, BATCH futures at a time."""
    pool = sm.default_pool()

    def run(rng: np.random.Generator) -> None:
        left = calls
        while left:
            n = min(left, BATCH)
            futures = [pool.submit(noop, i) for i in range(n)]
            if [f.result() for f in futures] != list(range(n)):
                raise AssertionError("wrong results from submit")
            left -= n

    return run


def wide_map(rng: np.random.Generator) -> None:
    """One map with more tasks in flight than the engine has message slots (130,048)."""
    x = sm.arange(WIDE, dtype="int64")
    out = sm.map(double, x, dtype="float64", chunks=WIDE)
    _check(np.asarray(out)[::997], np.arange(WIDE)[::997] * 2.0)


def distinct_kernels(count: int) -> Callable[[np.random.Generator], None]:
    """``count`` kernels that differ by a closure value, each run once."""
    pool = sm.default_pool()
    serial = [0]

    def make(k: int) -> Callable[[int], int]:
        def add_k(v: int) -> int:
            return v + k

        return add_k

    def run(rng: np.random.Generator) -> None:
        for _ in range(count):
            serial[0] += 1
            if pool.submit(make(serial[0]), 1).result() != serial[0] + 1:
                raise AssertionError("wrong result from a fresh kernel")

    return run


def main() -> None:
    scenario, calls = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    rounds = 10
    if scenario in PRIMITIVES:
        one = primitive(scenario)
        per_round = max(1, calls // rounds)

        def step(r: np.random.Generator) -> None:
            for _ in range(per_round):
                one(r)

    elif scenario == "submit":
        step = submit_rounds(max(1, calls // rounds))
    elif scenario == "wide_map":
        rounds = calls
        step = wide_map
    elif scenario == "kernels":
        step = distinct_kernels(max(1, calls // rounds))
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    # Round 0 is the warm-up: first-use imports, allocator arenas and the engine's
    # slots reach their working size. Growth is measured over the rounds after it.
    step(rng)
    gc.collect()
    before = rss()
    curve = []
    start = time.perf_counter()
    for _ in range(rounds):
        step(rng)
        gc.collect()
        curve.append(round((rss() - before) / MIB, 2))
    seconds = time.perf_counter() - start
    # Growth from the first measured rounds to the last ones (medians of three: the
    # allocator's steps of a few MiB come and go; a leak keeps climbing).
    growth = round(statistics.median(curve[-3:]) - statistics.median(curve[:3]), 2)
    print(
        json.dumps(
            {
                "scenario": scenario,
                "calls": calls,
                "growth_mib": growth,
                "per_10k_mib": round(growth * 10_000 / calls, 3),
                "curve_mib": curve,
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
