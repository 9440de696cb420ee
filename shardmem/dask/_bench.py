# mypy: disable-error-code="no-untyped-call, import-untyped"
"""Measure shardmem.dask against a local pool and plain Dask: ``python -m shardmem.dask._bench``.

The figures in ``docs/scaling-out.md`` come from this script. Each row is the
best of ``--repeat`` runs of one workload, inputs already in memory where they
are used (persisted on the cluster, or a SharedArray for the local pool), and
only the result's completion is waited for (outputs stay on the workers).
"""

from __future__ import annotations

import argparse
import operator
import os
import time
from collections.abc import Callable
from typing import Any

__all__ = ("main",)


def branchy(x, out, *, gain):  # type: ignore[no-untyped-def]
    """A per-element branch NumPy can express (so plain Dask has a NumPy row too)."""
    for i in range(len(x)):
        v = x[i]
        out[i] = gain * v if v > 0.5 else v - 1.0


def branchy_numpy(block, *, gain):  # type: ignore[no-untyped-def]
    """The same kernel on a NumPy block in the Dask worker itself (GIL-bound in threads)."""
    import numpy as np

    block = np.ascontiguousarray(block)
    out = np.empty_like(block)
    branchy(memoryview(block).cast("B").cast("d"), memoryview(out).cast("B").cast("d"), gain=gain)
    return out


def count_above(x, *, level):  # type: ignore[no-untyped-def]
    """A reduction partial."""
    return sum(1 for v in x if v > level)


def box3(rows, out_row, *, eps=0.0):  # type: ignore[no-untyped-def]
    """3x3 box blur of one row."""
    col = list(
        map(operator.add, map(operator.add, rows[0], rows[1], strict=True), rows[2], strict=True)
    )
    return [(col[x] + col[x + 1] + col[x + 2]) / 9.0 for x in range(len(out_row))]


def _best(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm: pools started, kernels defined
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    """Run the comparison and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2048, help="side of the square float64 array")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import numpy as np

    import shardmem as sm

    n, rows = args.n, []
    data = np.random.default_rng(0).random((n, n))
    shared = sm.asarray(data)
    chunks = (n // 8, n)

    def add(what: str, setup: str, seconds: float) -> None:
        rows.append((what, setup, seconds))
        print(f"{what:<28} {setup:<44} {seconds:8.3f} s", flush=True)

    cores = os.process_cpu_count()
    for workers in (1, 2):
        _local_rows(shared, workers=workers, repeat=args.repeat, add=add)
    for n_workers, threads in ((2, 1), (1, 2)):
        _cluster_rows(
            data, chunks=chunks, n_workers=n_workers, threads=threads, repeat=args.repeat, add=add
        )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\n{n}x{n} float64, {cores} cores, chunks {chunks}, best of {args.repeat}, "
        f"load average at the end {load}\n"
    )
    print("| workload | setup | seconds |\n| --- | --- | ---: |")
    for what, setup, seconds in rows:
        print(f"| {what} | {setup} | {seconds:.3f} |")


def _local_rows(
    shared: Any, *, workers: int, repeat: int, add: Callable[[str, str, float], None]
) -> None:
    import shardmem as sm

    with sm.Pool(workers) as pool:
        cases: list[tuple[str, str, Callable[[], object]]] = [
            ("map (branchy)", "sm.map", lambda: sm.map(branchy, shared, gain=3.0, pool=pool)),
            (
                "reduce (count > 0.5)",
                "sm.reduce",
                lambda: sm.reduce(count_above, shared, level=0.5, pool=pool),
            ),
            (
                "stencil (3x3 box)",
                "sm.stencil",
                lambda: sm.stencil(box3, shared, pool=pool, eps=0.0),
            ),
        ]
        for what, how, call in cases:
            add(what, f"local {how}, Pool({workers})", _best(call, repeat))


def _cluster_rows(
    data: Any,
    *,
    chunks: tuple[int, int],
    n_workers: int,
    threads: int,
    repeat: int,
    add: Callable[[str, str, float], None],
) -> None:
    import dask.array as da
    import scipy.ndimage as ndi
    from distributed import Client, LocalCluster, wait

    import shardmem.dask as smd

    label = f"LocalCluster {n_workers} process(es) x {threads} thread(s)"
    with (
        LocalCluster(
            processes=True,
            n_workers=n_workers,
            threads_per_worker=threads,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        x = client.persist(da.from_array(data, chunks=chunks))
        wait(x)

        def run(make: Callable[[float], object]) -> Callable[[], None]:
            # a new tiny epsilon each time gives fresh keys, else Dask reuses the last result
            counter = iter(range(1, 1000))
            return lambda: wait(client.persist(make(next(counter) * 1e-12)))

        def uniform(e: float) -> object:
            return x.map_overlap(
                ndi.uniform_filter, depth=1, boundary="reflect", size=3, mode="reflect", cval=e
            )

        cases: list[tuple[str, str, Callable[[float], object]]] = [
            ("map (branchy)", "shardmem.dask", lambda e: smd.map_blocks(branchy, x, gain=3.0 + e)),
            (
                "map (branchy)",
                "dask + same kernel on NumPy blocks",
                lambda e: x.map_blocks(branchy_numpy, gain=3.0 + e),
            ),
            (
                "map (branchy)",
                "dask + NumPy np.where",
                lambda e: da.where(x > 0.5, (3.0 + e) * x, x - 1.0),
            ),
            (
                "reduce (count > 0.5)",
                "shardmem.dask",
                lambda e: smd.reduction(count_above, x, level=0.5 + e),
            ),
            ("reduce (count > 0.5)", "dask + NumPy", lambda e: (x > 0.5 + e).sum()),
            ("stencil (3x3 box)", "shardmem.dask", lambda e: smd.map_overlap(box3, x, eps=e)),
            ("stencil (3x3 box)", "dask + scipy uniform_filter", uniform),
        ]
        for what, how, make in cases:
            add(what, f"{how}, {label}", _best(run(make), repeat))


if __name__ == "__main__":
    main()
