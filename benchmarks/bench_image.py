"""Every ``shardmem.image`` operation on 1 and 2 workers beside SciPy / scikit-image in one thread.

``python benchmarks/bench_image.py [--quick]`` prints a Markdown table (the one in
docs/image-processing.md); ``python -m shardmem bench --only image_ops`` runs it in the
suite. Variants run in interleaved rounds (shardmem 1 worker, 2 workers, the reference,
then again), and each keeps its best round, so a burst of load from elsewhere on the
machine hits every variant alike. A spin control (a pure-Python loop run once and as two
tasks at the same time on a 2-worker pool) says how many cores the run really got:
about 1.0 means two cores, about 2.0 means one.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench_harness import SM1, SM2, Context, Row, timed_row

import shardmem as sm

__all__ = ("OPERATIONS", "image_ops", "main", "spin_control")

CORES = "cores during the 2-worker rounds"
BOX_TARGET = 3.0  # box blur 2048^2 float64, 2 workers, over scipy.ndimage.uniform_filter


@dataclass(frozen=True)
class Op:
    """One operation: how shardmem and its reference run it, and the idiom its kernel uses."""

    name: str
    dtype: str  # the input image: uint8, float32, float64, or rgb (uint8 H x W x 3)
    run: Callable[[Any, sm.Pool], Any]
    reference: str
    ref: Callable[[np.ndarray], Any]
    idiom: str
    tol: float = 1e-5


def _ops() -> list[Op]:
    from scipy import ndimage as ndi
    from skimage import color, exposure, filters, transform, util

    im = sm.image
    k3 = [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    return [
        Op("invert", "uint8", lambda a, p: im.invert(a, pool=p), "skimage.util.invert",
           util.invert, "bytes.translate table", 0),
        Op("adjust_gamma", "uint8", lambda a, p: im.adjust_gamma(a, gamma=0.5, pool=p),
           "skimage.exposure.adjust_gamma", lambda x: exposure.adjust_gamma(x, 0.5),
           "bytes.translate table", 1),
        Op("threshold", "uint8", lambda a, p: im.threshold(a, thresh=0.5, pool=p),
           "NumPy x > t", lambda x: (x / 255 > 0.5).astype(np.uint8) * 255,
           "bytes.translate table", 0),
        Op("rescale_intensity", "uint8", lambda a, p: im.rescale_intensity(a, pool=p),
           "skimage.exposure.rescale_intensity", exposure.rescale_intensity,
           "Counter(bytes) for the range, bytes.translate", 1),
        Op("to_uint8", "float32", lambda a, p: im.to_uint8(a, pool=p),
           "skimage.util.img_as_ubyte", util.img_as_ubyte,
           "map(round/min/max) into bytes", 1),
        Op("rgb2gray", "rgb", lambda a, p: im.rgb2gray(a, pool=p),
           "skimage.color.rgb2gray", color.rgb2gray,
           "one map(mul), two map(math.fma) over channel slices", 1e-6),
        Op("correlate 3x3", "float32", lambda a, p: im.correlate(a, k3, pool=p),
           "scipy.ndimage.correlate", lambda x: ndi.correlate(x, np.array(k3), mode="reflect"),
           "map(math.fma) per tap over row slices"),
        Op("convolve 3x3", "float32", lambda a, p: im.convolve(a, k3, pool=p),
           "scipy.ndimage.convolve", lambda x: ndi.convolve(x, np.array(k3), mode="reflect"),
           "map(math.fma) per tap over row slices"),
        Op("box_blur 3x3", "float64", lambda a, p: im.box_blur(a, pool=p),
           "scipy.ndimage.uniform_filter",
           lambda x: ndi.uniform_filter(x, 3, output=np.float32, mode="reflect"),
           "row pairs share a column sum (map(add), math.fma), power-of-two window sums"),
        Op("gaussian sigma=1", "float32", lambda a, p: im.gaussian(a, sigma=1.0, pool=p),
           "skimage.filters.gaussian", lambda x: filters.gaussian(x, sigma=1.0, mode="reflect"),
           "separable; mirrored taps summed, then map(math.fma)"),
        Op("sobel", "float32", lambda a, p: im.sobel(a, pool=p), "skimage.filters.sobel",
           filters.sobel, "map(add/sub), math.fma for 2*x, map(math.hypot)"),
        Op("median 3x3", "uint8", lambda a, p: im.median(a, pool=p),
           "scipy.ndimage.median_filter", lambda x: ndi.median_filter(x, 3),
           "min/max sorting network of map(min/max)", 0),
        Op("erosion 3x3", "uint8", lambda a, p: im.erosion(a, pool=p),
           "scipy.ndimage.grey_erosion", lambda x: ndi.grey_erosion(x, 3, mode="reflect"),
           "map(min, *rows), then shifted slices", 0),
        Op("dilation 3x3", "uint8", lambda a, p: im.dilation(a, pool=p),
           "scipy.ndimage.grey_dilation", lambda x: ndi.grey_dilation(x, 3, mode="reflect"),
           "map(max, *rows), then shifted slices", 0),
        Op("histogram", "uint8", lambda a, p: im.histogram(a, source_range="dtype", pool=p)[0],
           "skimage.exposure.histogram", lambda x: exposure.histogram(x, source_range="dtype")[0],
           "collections.Counter(bytes)", 0),
        Op("equalize_hist", "uint8", lambda a, p: im.equalize_hist(a, pool=p),
           "skimage.exposure.equalize_hist", exposure.equalize_hist,
           "histogram, then map(table.__getitem__, bytes)", 1e-6),
        Op("resize x2 bilinear", "float32", lambda a, p: im.resize(a, _twice(a), pool=p),
           "skimage.transform.resize(order=1)",
           lambda x: transform.resize(x, _twice(x), order=1, anti_aliasing=False),
           "itemgetter gathers, map(math.fma)"),
    ]  # fmt: skip


def _twice(a: Any) -> tuple[int, int]:
    return (a.shape[0] * 2, a.shape[1] * 2)


OPERATIONS = tuple(op.name for op in _ops())


def _image(dtype: str, side: int) -> np.ndarray:
    rng = np.random.default_rng(22)
    if dtype == "rgb":
        return rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    if dtype == "uint8":
        return rng.integers(0, 256, (side, side), dtype=np.uint8)
    return rng.random((side, side)).astype(dtype)


def _agrees(got: Any, want: Any, tol: float) -> bool:
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=0, atol=tol, equal_nan=True))


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def spin_control(pool: sm.Pool, n: int = 2_000_000, rounds: int = 3) -> float:
    """Best time of two spin tasks at once over the best time of one, on ``pool`` (2 workers).

    About 1.0: two cores were free; about 2.0: the two tasks shared one core.
    """
    one = two = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        pool.submit(_spin, n).result()
        one = min(one, time.perf_counter() - start)
        start = time.perf_counter()
        for f in [pool.submit(_spin, n) for _ in range(2)]:
            f.result()
        two = min(two, time.perf_counter() - start)
    return two / one


def _measure(op: Op, side: int, rounds: int, ctx: Context) -> tuple[dict[str, float], bool]:
    """Best seconds of each variant over interleaved rounds, and whether results agree.

    ``best[CORES]`` is the process's CPU time over the wall time of the 2-worker rounds:
    the cores the two workers got (2.0 at best; the main thread only waits).
    """
    x = _image(op.dtype, side)
    a = sm.asarray(x)
    want = op.ref(x)
    variants: dict[str, Callable[[], Any]] = {
        SM1: lambda: op.run(a, ctx.sm_pool(1)),
        SM2: lambda: op.run(a, ctx.sm_pool(2)),
        op.reference: lambda: op.ref(x),
    }
    ok = _agrees(variants[SM2](), want, op.tol) and _agrees(variants[SM1](), want, op.tol)
    best = dict.fromkeys(variants, float("inf"))
    cpu = wall = 0.0
    for _ in range(rounds):
        for name, fn in variants.items():
            cpu0, start = time.process_time(), time.perf_counter()
            fn()
            took = time.perf_counter() - start
            best[name] = min(best[name], took)
            if name == SM2:
                cpu, wall = cpu + time.process_time() - cpu0, wall + took
    best[CORES] = cpu / wall if wall else 0.0
    return best, ok


def _sides(quick: bool) -> tuple[int, int]:
    """(side of every image, side of the box blur's, the one with a target)."""
    return (256, 512) if quick else (1024, 2048)


def image_ops(ctx: Context) -> list[Row]:
    """Rows for every image operation: shardmem on 1 and 2 workers and its reference."""
    side, box_side = _sides(ctx.quick)
    rounds = 2 if ctx.quick else 3
    rows: list[Row] = []
    for op in _ops():
        n = box_side if op.name.startswith("box_blur") else side
        best, ok = _measure(op, n, rounds, ctx)
        workload = f"image {op.name} {n}^2 {op.dtype}"
        cores = best.pop(CORES)
        for variant, seconds in best.items():
            row = timed_row(workload, variant, [seconds], work=n * n, unit="Melem/s")
            row.reference = variant == SM2
            row.cpu_per_wall = cores if variant == SM2 else None
            rows.append(row)
        two = rows[-2]
        ratio = best[SM2] / best[op.reference]
        wrong = "" if ok else f"WRONG RESULT (differs from {op.reference}); "
        two.note = f"{wrong}{ratio:.1f}x {op.reference}; idiom: {op.idiom}"
        if op.name.startswith("box_blur") and not ctx.quick:
            two.target = f"<= {BOX_TARGET}x uniform_filter: {ratio:.2f}x"
            two.ok = ok and ratio <= BOX_TARGET
    control = spin_control(ctx.sm_pool(2))
    ctx.notes.append(f"image_ops spin control (2 tasks / 1 task on 2 workers): {control:.2f}")
    return rows


def table(ctx: Context) -> str:
    """The Markdown table of docs/image-processing.md, with the machine and the control."""
    side, box_side = _sides(ctx.quick)
    rounds = 2 if ctx.quick else 3
    before = spin_control(ctx.sm_pool(2))
    lines = [
        "| operation | image | 1 worker | 2 workers (cores got) | reference, 1 thread |"
        " 2 workers / ref | idiom |",
        "| --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for op in _ops():
        n = box_side if op.name.startswith("box_blur") else side
        best, ok = _measure(op, n, rounds, ctx)
        cores = best.pop(CORES)
        ms = {k: f"{v * 1e3:.1f} ms" for k, v in best.items()}
        lines.append(
            f"| `{op.name}` | {n}^2 {op.dtype} | {ms[SM1]} | {ms[SM2]} ({cores:.2f}) | "
            f"`{op.reference}` {ms[op.reference]} | {best[SM2] / best[op.reference]:.1f}x"
            f"{'' if ok else ' (WRONG RESULT)'} | {op.idiom} |"
        )
    after = spin_control(ctx.sm_pool(2))
    load = os.getloadavg()[0]
    lines += [
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
        f"{load:.1f}; best of {rounds} interleaved rounds. Spin control (two pure-Python "
        f"tasks at once over one, on 2 workers; 1.0 = two free cores, 2.0 = one): "
        f"{before:.2f} before, {after:.2f} after.",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Print the table (``--quick``: small images)."""
    ctx = Context(quick="--quick" in argv, reps=1)
    try:
        print(table(ctx))
    finally:
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
