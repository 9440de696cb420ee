"""Compute workloads: pure-Python loops, lookup tables, a box blur, a stencil, a float sum."""

from __future__ import annotations

import collections
import itertools
import sys
from collections.abc import Callable

import numpy as np
from bench_alternatives import free_threaded, parallel_variants, split_range
from bench_harness import SEQUENTIAL, SM1, SM2, THREADS, Context, Row, skipped
from bench_kernels import (
    lut_map,
    lut_range,
    square_sum,
    square_sum_rank,
    sum_range,
    translate_map,
    translate_range,
)

import shardmem as sm

__all__ = (
    "box_blur",
    "cumsum_f64",
    "histogram_bins",
    "histogram_u8",
    "loop_big",
    "loop_small",
    "lut_loop",
    "sum_f64",
    "sum_u8",
    "translate",
)

SCALING = 1.9  # target: 2 workers over 1 on pure-Python kernels (2 cores)
NUMPY = "NumPy, 1 thread"


def scaling_target(rows: list[Row], *, target: float | None = SCALING) -> None:
    """Put the 2-over-1-worker speedup (and its pass/fail) on the 2-worker row."""
    one = next(r for r in rows if r.variant == SM1)
    two = next(r for r in rows if r.variant == SM2)
    if not (one.median_s and two.median_s):
        return
    speedup = one.median_s / two.median_s
    if target is None:
        two.target = f"{speedup:.2f}x over 1 worker (no target: C-speed kernel)"
        two.ok = None
        two.note = ""
        return
    two.target = f">= {target}x over 1 worker: {speedup:.2f}x"
    two.ok = speedup >= target
    if two.cpu_per_wall is not None and two.cpu_per_wall < 1.7:
        two.note = (
            f"machine busy: this process got {two.cpu_per_wall:.2f} cores during the 2-worker run"
        )


def run_variants(
    ctx: Context,
    workload: str,
    variants: dict[str, Callable[[], object]],
    check: Callable[[object], bool],
    *,
    work: float,
    unit: str,
    reps: int | None = None,
    prepare: Callable[[], object] | None = None,
) -> list[Row]:
    """Measure every variant, check its result, mark the 2-worker shardmem row as reference."""
    rows = []
    for name, fn in variants.items():
        if prepare is not None:
            prepare()
        warm = name not in (SEQUENTIAL, THREADS, NUMPY)
        row, got = ctx.measure(workload, name, fn, reps=reps, warmup=warm, work=work, unit=unit)
        if not check(got):
            row.note = "WRONG RESULT"
        row.reference = name == SM2
        rows.append(row)
        print(f"  {name}: {row.median_s:.4g} s", file=sys.stderr, flush=True)
    scaling_target(rows)
    return rows


def _sm_variants(run: Callable[[sm.Pool], object], ctx: Context) -> dict[str, Callable[[], object]]:
    return {SM1: lambda: run(ctx.sm_pool(1)), SM2: lambda: run(ctx.sm_pool(2))}


# -- total += i*i --------------------------------------------------------------------------------


def _loop(ctx: Context, workload: str, n: int, base: int) -> list[Row]:
    expected = _squares_to(base + n - 1) - _squares_to(base - 1)
    variants = parallel_variants(ctx, square_sum, [], split_range(n, base=base), sum_parts)
    variants |= _sm_variants(lambda p: sum_parts(p.run(square_sum_rank, n=n, base=base)), ctx)
    if base == 0:
        variants[NUMPY + " (uint64, wraps mod 2**64)"] = lambda: _numpy_square_sum(n)

    def check(got: object) -> bool:
        return got in (expected, expected % 2**64)

    reps = 3 if not ctx.quick else None
    rows = run_variants(ctx, workload, variants, check, work=n, unit="Mit/s", reps=reps)
    rows.append(free_threaded(workload, n, base, reps or ctx.reps, expected))
    if base:
        rows.append(skipped(workload, NUMPY, "not expressible: Python big ints"))
    return rows


def _squares_to(m: int) -> int:
    return m * (m + 1) * (2 * m + 1) // 6 if m > 0 else 0


def sum_parts(parts: object) -> int:
    """Sum of the partial totals."""
    return sum(parts)  # type: ignore[call-overload, no-any-return]


def _numpy_square_sum(n: int) -> int:
    a = np.arange(n, dtype=np.uint64)
    return int(np.dot(a, a))


def loop_small(ctx: Context) -> list[Row]:
    """``total += i*i`` with machine-size ints."""
    return _loop(ctx, "loop_small", 2_000_000 if ctx.quick else 24_000_000, 0)


def loop_big(ctx: Context) -> list[Row]:
    """``total += i*i`` with ints beyond 64 bits (from 10**20)."""
    return _loop(ctx, "loop_big", 1_000_000 if ctx.quick else 12_000_000, 10**20)


# -- 64 MiB uint8 lookup table -----------------------------------------------------------------


def _lut_workload(
    ctx: Context, workload: str, n: int, ranged: Callable[..., None], mapped: Callable[..., None]
) -> list[Row]:
    rng = np.random.default_rng(6)
    x = rng.integers(0, 256, n, dtype=np.uint8)
    table = rng.permutation(256).astype(np.uint8)
    lut = table.tobytes()
    expected = table[x]
    out = np.zeros_like(x)
    variants = parallel_variants(ctx, ranged, [x, out], split_range(n, lut=lut), writes=True)
    a, a_out = sm.asarray(x), sm.zeros(n, dtype="uint8")
    variants |= _sm_variants(lambda p: sm.map(mapped, a, out=a_out, pool=p, lut=lut), ctx)
    variants[NUMPY + " (lut[x])"] = lambda: np.take(table, x, out=out)

    def check(got: object) -> bool:
        ok = bool(np.array_equal(np.asarray(got), expected))
        np.asarray(got)[:] = 0
        return ok

    reps = 3 if not ctx.quick else None
    return run_variants(ctx, workload, variants, check, work=n, unit="Melem/s", reps=reps)


def lut_loop(ctx: Context) -> list[Row]:
    """``out[i] = lut[x[i]]`` by an index loop over a 64 MiB uint8 array."""
    return _lut_workload(ctx, "lut_loop", (4 if ctx.quick else 64) << 20, lut_range, lut_map)


def translate(ctx: Context) -> list[Row]:
    """The same lookup table with ``bytes.translate`` (C speed)."""
    rows = _lut_workload(
        ctx, "translate", (16 if ctx.quick else 64) << 20, translate_range, translate_map
    )
    scaling_target(rows, target=None)
    return rows


# -- float64 sum ---------------------------------------------------------------------------------


def sum_f64(ctx: Context) -> list[Row]:
    """Sum of 16M float64 (``sum()`` of memoryviews, ``sm.sum``, ``np.sum``)."""
    n = (4 if ctx.quick else 16) << 20
    x = np.random.default_rng(7).random(n)
    expected = float(np.sum(x))
    variants = parallel_variants(ctx, sum_range, [x], split_range(n), sum_floats)
    a = sm.asarray(x)
    variants |= _sm_variants(lambda p: sm.sum(a, pool=p), ctx)
    variants[NUMPY + " (np.sum)"] = lambda: float(np.sum(x))

    def check(got: object) -> bool:
        return abs(float(got) - expected) <= 1e-9 * abs(expected)  # type: ignore[arg-type]

    rows = run_variants(ctx, "sum_f64", variants, check, work=n, unit="Melem/s")
    scaling_target(rows, target=None)
    return rows


U8_SUM_TARGET = 0.6  # sm.sum on 2 workers over one sum(memoryview) call in the caller


def sum_u8(ctx: Context) -> list[Row]:
    """Sum of 50M uint8: ``sm.sum`` (adler32 over 256-byte runs per shard) beside one
    ``sum(memoryview)`` call in the caller and ``np.sum``.
    """
    n = (8 if ctx.quick else 50) * 1_000_000
    x = np.random.default_rng(12).integers(0, 256, n, dtype=np.uint8)
    expected = int(x.sum(dtype=np.int64))
    view = memoryview(x)
    a = sm.asarray(x)
    variants: dict[str, Callable[[], object]] = {
        SEQUENTIAL + ", one sum(memoryview)": lambda: sum(view)
    }
    variants |= _sm_variants(lambda p: sm.sum(a, pool=p), ctx)
    variants[NUMPY + " (np.sum)"] = lambda: int(x.sum(dtype=np.int64))
    rows = run_variants(
        ctx, "sum_u8", variants, lambda got: got == expected, work=n, unit="Melem/s"
    )
    scaling_target(rows, target=None)
    one = next(r for r in rows if r.variant.startswith(SEQUENTIAL))
    two = next(r for r in rows if r.variant == SM2)
    if one.median_s and two.median_s:
        ratio = two.median_s / one.median_s
        two.target = f"<= {U8_SUM_TARGET}x one sum(memoryview): {ratio:.2f}x"
        two.ok = ratio <= U8_SUM_TARGET
    return rows


def sum_floats(parts: list[object]) -> float:
    """Sum of float partials."""
    return float(sum(parts))  # type: ignore[arg-type]


# -- prefix sum and histogram --------------------------------------------------------------------


def cumsum_f64(ctx: Context) -> list[Row]:
    """Inclusive prefix sum of 8M float64 (two phases around a barrier vs ``np.cumsum``).

    On p workers a scan takes (total + scan) / p of the sequential time: for
    float64 ``+`` a total costs half a scan, so 2 workers reach ~1.3x.
    """
    n = (2 if ctx.quick else 8) << 20
    x = np.random.default_rng(9).random(n)
    expected = np.cumsum(x)
    a, out = sm.asarray(x), sm.zeros(n)
    variants: dict[str, Callable[[], object]] = {
        SEQUENTIAL + " (itertools.accumulate)": lambda: list(
            itertools.accumulate(memoryview(x).cast("B").cast("d"))
        ),
    }
    variants |= _sm_variants(lambda p: sm.cumsum(a, out=out, pool=p), ctx)
    variants[NUMPY + " (np.cumsum)"] = lambda: np.cumsum(x)

    def check(got: object) -> bool:
        return bool(np.allclose(np.asarray(got), expected, rtol=1e-9))

    rows = run_variants(ctx, "cumsum_f64", variants, check, work=n, unit="Melem/s")
    scaling_target(rows, target=None)
    two = next(r for r in rows if r.variant == SM2)
    two.note = "the last worker has no total to publish: it waits during phase 1"
    return rows


def histogram_u8(ctx: Context) -> list[Row]:
    """256-bin histogram of 64 MiB of uint8 (the uint8 fast path vs ``np.bincount``)."""
    n = (16 if ctx.quick else 64) << 20
    x = np.random.default_rng(10).integers(0, 256, n, dtype=np.uint8)
    expected = np.bincount(x, minlength=256)
    a = sm.asarray(x)
    variants: dict[str, Callable[[], object]] = {
        SEQUENTIAL + " (collections.Counter)": lambda: _counted(x),
    }
    variants |= _sm_variants(lambda p: sm.histogram(a, bins=256, range=(0, 256), pool=p)[0], ctx)
    variants[NUMPY + " (np.bincount)"] = lambda: np.bincount(x, minlength=256)

    def check(got: object) -> bool:
        return bool(np.array_equal(np.asarray(got), expected))

    rows = run_variants(ctx, "histogram_u8", variants, check, work=n, unit="Melem/s")
    scaling_target(rows, target=None)
    return rows


BINS_TARGET = 10.0  # many uniform bins: within this factor of NumPy's time (same order)


def histogram_bins(ctx: Context) -> list[Row]:
    """1M float64 values in 10**6 and 10**7 uniform bins, side by side with ``np.histogram``.

    Past 1024 bins the workers compute each bin index arithmetically, as
    NumPy does, from the range and the bin count: the cost grows with the
    data, and with ``bins`` only by writing the outputs (edges and counts).
    """
    n = (1 if ctx.quick else 16) << 16
    x = np.random.default_rng(11).standard_normal(n)
    a = sm.asarray(x)
    rows: list[Row] = []
    for bins in (10**5, 10**6) if ctx.quick else (10**6, 10**7):
        expected = np.histogram(x, bins)[0]
        variants = _sm_variants(lambda p, b=bins: sm.histogram(a, bins=b, pool=p)[0], ctx)
        variants[NUMPY + " (np.histogram)"] = lambda b=bins: np.histogram(x, bins=b)[0]

        def check(got: object, want: np.ndarray = expected) -> bool:
            return bool(np.array_equal(np.asarray(got), want))

        name = f"histogram_1e{len(str(bins)) - 1}_bins"
        found = run_variants(ctx, name, variants, check, work=n, unit="Melem/s", reps=3)
        scaling_target(found, target=None)
        _against_numpy(found)
        rows += found
    return rows


def _against_numpy(rows: list[Row]) -> None:
    """Put shardmem's time over NumPy's (and the same-order target) on the 2-worker row."""
    two = next(r for r in rows if r.variant == SM2)
    ref = next(r for r in rows if r.variant.startswith(NUMPY))
    if not (two.median_s and ref.median_s):
        return
    ratio = two.median_s / ref.median_s
    two.target = f"<= {BINS_TARGET:g}x NumPy's time: {ratio:.1f}x"
    two.ok = ratio <= BINS_TARGET


def _counted(x: np.ndarray) -> list[int]:
    counts = collections.Counter(memoryview(x))
    return [counts[v] for v in range(256)]


# -- 3x3 box blur --------------------------------------------------------------------------------


def box_blur(ctx: Context) -> list[Row]:
    """3x3 box blur of a 2048x2048 uint8 image, float32 result (vs ``uniform_filter``)."""
    from scipy import ndimage

    from shardmem.image import _kernels as _kernels_image

    side = 1024 if ctx.quick else 2048
    img = np.random.default_rng(8).integers(0, 256, (side, side), dtype=np.uint8)
    expected = ndimage.uniform_filter(img, size=3, output=np.float32, mode="reflect") / 255
    out = np.zeros(img.shape, np.float32)

    def bands(parts: int) -> list[dict[str, object]]:
        fixed = {"h": side, "w": side, "c": 1, "k": 3, "scale": 1 / 255 / 9}
        return [
            {"r0": p * side // parts, "r1": (p + 1) * side // parts, **fixed}
            | {"mode": "reflect", "cval": 0.0}
            for p in range(parts)
        ]

    variants = parallel_variants(ctx, _kernels_image.box, [img, out], bands, writes=True)
    a, a_out = sm.asarray(img), sm.zeros(img.shape, dtype="float32")
    variants |= _sm_variants(lambda p: sm.image.box_blur(a, out=a_out, pool=p), ctx)
    f32 = np.zeros(img.shape, np.float32)
    variants["scipy.ndimage.uniform_filter, 1 thread"] = lambda: _scaled(
        ndimage.uniform_filter(img, size=3, output=f32, mode="reflect"), f32
    )

    def check(got: object) -> bool:
        ok = bool(np.allclose(np.asarray(got), expected, atol=1e-5))
        np.asarray(got)[:] = 0
        return ok

    return run_variants(ctx, "box_blur", variants, check, work=side * side, unit="Melem/s")


def _scaled(_: object, f32: np.ndarray) -> np.ndarray:
    f32 *= np.float32(1 / 255)
    return f32
