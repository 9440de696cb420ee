"""The programs of notebooks/05_real_algorithms.ipynb, timed on 1 and on 2 workers.

The kernels are the notebook's own: the code cells that start with
``# program: NAME`` are executed here (as a notebook cell would be), so the
benchmark times exactly what the notebook shows, on larger inputs.
"""

from __future__ import annotations

import json
import operator
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_harness import Context, Row, timed_row

import shardmem as sm

__all__ = ("algorithms", "programs")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_real_algorithms.ipynb"
MARK = "# program:"


def programs() -> dict[str, Any]:
    """The namespace of the notebook's program cells (kernels and their drivers)."""
    book = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    space: dict[str, Any] = {"__name__": "__main__"}
    header = "import math, operator\nfrom collections import Counter\nimport numpy as np\n"
    exec(compile(header + "import shardmem as sm\n", str(NOTEBOOK), "exec"), space)
    for cell in book["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith(MARK):
            exec(compile(source, str(NOTEBOOK), "exec"), space)
    return space


def _cases(quick: bool, p: dict[str, Any]) -> dict[str, tuple[Callable[[sm.Pool], object], Any]]:
    """name -> (run on a pool, a check of the result)."""
    rng = np.random.default_rng(0)
    n = 20_000 if quick else 100_000
    centres = ((0, 0), (4, 4), (0, 5))
    points = sm.asarray(np.concatenate([rng.normal(c, 0.6, (n, 2)) for c in centres]))
    start = np.asarray(points)[[0, n, 2 * n]]
    bodies = 300 if quick else 900
    pos, mass = sm.asarray(rng.random((bodies, 3))), sm.asarray(rng.random(bodies))
    words = [b"alpha", b"beta", b"gamma", b"delta", b"to", b"be", b"or", b"not"]
    raw = b" ".join(rng.choice(words, 200_000 if quick else 2_000_000))
    text = sm.asarray(np.frombuffer(raw, dtype=np.uint8))
    photo = sm.asarray(rng.random((120, 160, 3) if quick else (600, 800, 3)))
    per_row = 2_000 if quick else 20_000
    return {
        "k-means, 5 iterations": (lambda pool: p["kmeans"](points, start, 5, pool), None),
        f"N-body accelerations, {bodies} bodies": (lambda pool: p["nbody"](pos, mass, pool), None),
        "Monte Carlo pi, seeded": (lambda pool: p["estimate_pi"](64, per_row, 7, pool), None),
        "word count, overlap=16": (
            lambda pool: p["count_words"](text, pool),
            Counter(raw.split()),
        ),
        "sepia filter, nd=True": (lambda pool: p["sepia"](photo, pool), None),
    }


def _same(a: object, b: object) -> bool:
    if isinstance(a, sm.SharedArray | np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(operator.eq(a, b))


def algorithms(ctx: Context) -> list[Row]:
    """Each notebook program on 1 and 2 workers, results compared; target >= 1.8x."""
    space = programs()
    rows = []
    one, two = ctx.sm_pool(1), ctx.sm_pool(2)
    for name, (run, expected) in _cases(ctx.quick, space).items():
        results: dict[int, object] = {}
        timings: dict[int, list[float]] = {1: [], 2: []}
        for i in range(ctx.reps + 1):
            for workers, pool in ((1, one), (2, two)):  # side by side, alternating
                start = time.perf_counter()
                results[workers] = run(pool)
                if i:  # the first (shipping, warm-up) is not counted
                    timings[workers].append(time.perf_counter() - start)
        if not _same(results[1], results[2]):
            raise AssertionError(f"{name}: 1 and 2 workers computed different results")
        if expected is not None and not _same(results[2], expected):
            raise AssertionError(f"{name}: the result differs from the sequential reference")
        ref = timed_row("algorithms", f"{name}: shardmem, 2 workers", timings[2])
        base = timed_row("algorithms", f"{name}: shardmem, 1 worker", timings[1])
        speedup = (base.median_s or 0) / (ref.median_s or 1)
        ref.target = f">= 1.8x on 2 workers ({speedup:.2f}x)"
        ref.ok = speedup >= 1.8
        print(f"  {name}: {speedup:.2f}x", file=sys.stderr, flush=True)
        rows += [base, ref]
    return rows
