"""The benchmark suite: ``python -m shardmem bench [--quick] [--json P] [--plot P] [--only N...]``.

Every workload runs, in this one process, with shardmem and with each
applicable alternative (the same kernel sequentially, in threads, in an
``InterpreterPoolExecutor``, in ``multiprocessing`` over SharedMemory,
NumPy/SciPy in one thread, a free-threaded ``python3.14t`` when one is on
PATH). Each row gives the median and min-max over repetitions and the ratio
against shardmem on 2 workers; target lines say met, missed, not comparable
(a --quick run of a workload whose targets are set for the full sizes) or info.
The exit status is 1 when a variant computed a wrong result, else 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the kernels must stay importable by name (forkserver, IPE)
    sys.path.insert(0, str(HERE))

import bench_algorithms  # noqa: E402
import bench_compute  # noqa: E402
import bench_engine  # noqa: E402
import bench_image  # noqa: E402
import bench_integrations  # noqa: E402
import bench_report  # noqa: E402
import bench_resources  # noqa: E402
import bench_scaling  # noqa: E402
import bench_stencil_suite  # noqa: E402
from bench_harness import Context, Row, finish_ratios  # noqa: E402

__all__ = ("WORKLOADS", "main", "run")

Workload = Callable[[Context], list[Row]]

WORKLOADS: dict[str, Workload] = {
    "loop_small": bench_compute.loop_small,
    "loop_big": bench_compute.loop_big,
    "lut_loop": bench_compute.lut_loop,
    "translate": bench_compute.translate,
    "box_blur": bench_compute.box_blur,
    "image_ops": bench_image.image_ops,
    "stencil": bench_stencil_suite.stencil,
    "sum_f64": bench_compute.sum_f64,
    "sum_u8": bench_compute.sum_u8,
    "cumsum_f64": bench_compute.cumsum_f64,
    "histogram_u8": bench_compute.histogram_u8,
    "histogram_bins": bench_compute.histogram_bins,
    "tiny_tasks": bench_engine.tiny_tasks,
    "latency": bench_engine.latency,
    "executor": bench_engine.executor,
    "small_calls": bench_engine.small_calls,
    "barrier": bench_engine.barrier,
    "gang_busy": bench_engine.gang_busy,
    "cold_start": bench_engine.cold_start,
    "memory": bench_resources.memory,
    "idle_cpu": bench_resources.idle_cpu,
    "handover": bench_resources.handover,
    "dask_bag": bench_integrations.dask_bag,
    "joblib_loop": bench_integrations.joblib_loop,
    "algorithms": bench_algorithms.algorithms,
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shardmem bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, few repetitions (~1 min)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--plot", type=Path, help="write a PNG plot here (matplotlib)")
    p.add_argument(
        "--workers",
        type=_counts,
        metavar="N,N,...",
        help="run the scaling table instead: every workload on pools of these sizes "
        "(e.g. 1,2,4,8,16); --plot draws speed-up and per-call costs against workers",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=list(WORKLOADS),
        help="run only these workloads",
    )
    return p


def _counts(text: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give worker counts like 1,2,4,8") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: worker counts are integers >= 1")
    return counts


def run(names: Sequence[str], *, quick: bool) -> tuple[list[Row], list[str]]:
    """Run the named workloads; return their rows (ratios filled in) and notes."""
    ctx = Context(quick=quick, reps=3 if quick else 5)
    rows: list[Row] = []
    old_path = list(sys.path)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    try:
        for name in names:
            start = time.perf_counter()
            print(f"[{name}]", file=sys.stderr, flush=True)
            new = WORKLOADS[name](ctx)
            if quick:
                bench_report.mark_quick(new, name)
            rows += new
            ctx.notes.append(f"{name}: {time.perf_counter() - start:.1f} s")
    finally:
        ctx.close()
        sys.path[:] = old_path
    finish_ratios(rows)
    return rows, ctx.notes


def main(argv: list[str]) -> int:
    """Run the suite with command-line ``argv``; print the table.

    Returns 1 when a variant computed a wrong result, else 0: the timing
    targets depend on the machine and its load, so they are reported (met,
    missed, or not comparable at --quick sizes), not enforced.
    """
    args = _parser().parse_args(argv)
    if args.workers:
        return _scaling_main(args)
    names = list(args.only or WORKLOADS)
    meta = bench_report.metadata(quick=args.quick, workloads=names)
    rows, notes = run(names, quick=args.quick)
    print(bench_report.table(rows, meta))
    if args.json:
        bench_report.write_json(args.json, rows, meta, notes)
        print(f"wrote {args.json}")
    if args.plot:
        bench_report.plot(args.plot, rows, meta)
        print(f"wrote {args.plot}")
    return 1 if bench_report.wrong_results(rows) else 0


def _scaling_main(args: argparse.Namespace) -> int:
    names = [f"scaling ({','.join(map(str, args.workers))} workers)"]
    meta = bench_report.metadata(quick=args.quick, workloads=names)
    ctx = Context(quick=args.quick, reps=3)
    try:
        rows = bench_scaling.scaling(ctx, args.workers)
    finally:
        ctx.close()
    print(bench_report.table(rows, meta))
    if args.json:
        bench_report.write_json(args.json, rows, meta, [])
        print(f"wrote {args.json}")
    if args.plot:
        bench_scaling.plot_scaling(args.plot, rows)
        print(f"wrote {args.plot}")
    return 0
