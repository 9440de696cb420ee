"""The demo pipeline: the bundled photograph through `shardmem.image`, timed per worker count.

``python -m shardmem demo`` calls `run_demo`; `format_table` renders its rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from shardmem import image
from shardmem._data.array import SharedArray
from shardmem._engine import Pool
from shardmem._progress import Bar, progress_bar
from shardmem.image import data

__all__ = ("SAMPLE", "format_table", "run_demo")

SAMPLE = data.ASTRONAUT  # the bundled photograph (shardmem.image.data)
"""The bundled sample photograph (512 x 512 RGB, public domain; see data/README.md)."""

type Step = tuple[str, str, Callable[[dict[str, SharedArray], Pool, int], SharedArray]]

# (name, input, operation(results, pool, side)): each step stores its result under its name.
_STEPS: tuple[Step, ...] = (
    ("resize", "photo", lambda r, p, n: image.resize(r["photo"], (n, n), pool=p)),
    ("to_uint8", "resize", lambda r, p, n: image.to_uint8(r["resize"], pool=p)),
    ("rgb2gray", "to_uint8", lambda r, p, n: image.rgb2gray(r["to_uint8"], dtype="uint8", pool=p)),
    ("gaussian", "rgb2gray", lambda r, p, n: image.gaussian(r["rgb2gray"], sigma=1.0, pool=p)),
    ("box_blur", "rgb2gray", lambda r, p, n: image.box_blur(r["rgb2gray"], size=3, pool=p)),
    ("sobel", "rgb2gray", lambda r, p, n: image.sobel(r["rgb2gray"], pool=p)),
    ("median", "rgb2gray", lambda r, p, n: image.median(r["rgb2gray"], pool=p)),
    ("erosion", "rgb2gray", lambda r, p, n: image.erosion(r["rgb2gray"], pool=p)),
    ("equalize_hist", "rgb2gray", lambda r, p, n: image.equalize_hist(r["rgb2gray"], pool=p)),
    ("invert", "rgb2gray", lambda r, p, n: image.invert(r["rgb2gray"], pool=p)),
)
_SAVED = ("to_uint8", "rgb2gray", "gaussian", "sobel", "median", "equalize_hist", "invert")


def _pipeline(
    photo: SharedArray, size: int, pool: Pool, bar: Bar | None = None
) -> tuple[dict[str, float], dict[str, SharedArray]]:
    results: dict[str, SharedArray] = {"photo": photo}
    times: dict[str, float] = {}
    for name, _, step in _STEPS:
        start = time.perf_counter()
        results[name] = step(results, pool, size)
        times[name] = time.perf_counter() - start
        if bar is not None:
            bar.tick(1)
    return times, results


def run_demo(
    out_dir: Path,
    *,
    workers: list[int] | None = None,
    size: int | None = None,
    quick: bool = False,
    quiet: bool = False,
    progress: bool = False,
    repeats: int | None = None,
) -> list[dict[str, object]]:
    """Run the demo pipeline with each worker count and write the images of the last run.

    Parameters
    ----------
    out_dir : Path
        Folder for the output PNGs (created if missing).
    workers : list of int, optional
        Worker counts to time; default ``[1, os.process_cpu_count()]``.
    size : int, optional
        Side of the square the photo is resized to; default 2048 (256 when ``quick``).
    quick : bool
        A small, fast run (for tests and smoke checks).
    quiet : bool
        Do not print the table.
    progress : bool
        Show a progress bar over the pipeline's steps on stderr.
    repeats : int, optional
        Runs of the pipeline per worker count; each step's time is its best
        run (default 3; 1 when ``quick``), so that one slow run on a shared
        machine does not decide a speed-up.

    Returns
    -------
    list of dict
        One row per step: ``step``, ``shape``, ``seconds`` (``{workers: s}``),
        ``mpix_s`` (``{workers: Mpixel/s}``) and ``speedup`` (last count vs first).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from shardmem._demo import run_demo
    >>> rows = run_demo(pathlib.Path(tempfile.mkdtemp()), workers=[1], size=64, quiet=True)
    >>> rows[0]["step"], rows[0]["shape"]
    ('resize', (64, 64, 3))
    """
    counts = workers or sorted({1, os.process_cpu_count() or 1})
    side = size or (256 if quick else 2048)
    photo = image.read_image(SAMPLE)
    seconds: dict[int, dict[str, float]] = {}
    results: dict[str, SharedArray] = {}
    runs = repeats or (1 if quick else 3)
    bar = progress_bar(progress, runs * len(counts) * len(_STEPS), f"demo ({side}x{side})")
    try:
        for n in counts:
            with Pool(n) as pool:
                _pipeline(photo, 32, pool)  # ship the kernels before timing
                for _ in range(runs):
                    times, results = _pipeline(photo, side, pool, bar)
                    best = seconds.setdefault(n, times)
                    for step, took in times.items():
                        best[step] = min(best[step], took)
    finally:
        if bar is not None:
            bar.close()
    _save(results, Path(out_dir))
    rows = [_row(name, results[name].shape, seconds, counts) for name, _, _ in _STEPS]
    if not quiet:
        print(format_table(rows))
    return rows


def _row(
    name: str, shape: tuple[int, ...], seconds: dict[int, dict[str, float]], counts: list[int]
) -> dict[str, object]:
    pixels = shape[0] * shape[1]
    secs = {n: seconds[n][name] for n in counts}
    return {
        "step": name,
        "shape": shape,
        "seconds": secs,
        "mpix_s": {n: pixels / s / 1e6 for n, s in secs.items()},
        "speedup": secs[counts[0]] / secs[counts[-1]],
    }


def _save(results: dict[str, SharedArray], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in _SAVED:
        img = results[name]
        if name == "sobel":
            img = image.rescale_intensity(img)
        image.write_image(out_dir / f"{name}.png", img)


def format_table(rows: list[dict[str, object]]) -> str:
    """Render `run_demo` rows as a text table: seconds per worker count, Mpixel/s and speedup.

    Examples
    --------
    >>> from shardmem._demo import format_table
    >>> row = {"step": "sobel", "shape": (8, 8), "seconds": {1: 0.2, 2: 0.1},
    ...        "mpix_s": {1: 1.0, 2: 2.0}, "speedup": 2.0}
    >>> print(format_table([row]).splitlines()[2])
    sobel            8x8         0.200 s    0.100 s    2.0 Mpix/s   2.00x
    """
    counts = list(rows[0]["seconds"]) if rows else []  # type: ignore[call-overload]
    head = f"{'step':<16} {'shape':<10} " + " ".join(f"{'w=' + str(n):>10}" for n in counts)
    lines = [f"cores seen: {os.process_cpu_count()}", head + "   last rate  speedup"]
    for r in rows:
        shape = "x".join(map(str, r["shape"][:2]))  # type: ignore[index]
        secs: dict[int, float] = r["seconds"]  # type: ignore[assignment]
        rate: dict[int, float] = r["mpix_s"]  # type: ignore[assignment]
        cells = " ".join(f"{secs[n]:>8.3f} s" for n in counts)
        lines.append(
            f"{r['step']:<16} {shape:<10} {cells} {rate[counts[-1]]:>6.1f} Mpix/s "
            f"{r['speedup']:>6.2f}x"
        )
    return "\n".join(lines)
