"""Soak: mixed load on the default pool from several threads, resident memory over time.

    python benchmarks/soak.py [--minutes 10] [--threads 4] [--json P] [--plot P]

Every thread loops over a random mix of calls, each checked against NumPy or
plain Python: every primitive on fresh arrays and on arrays it reuses,
kernels that fail, calls that time out, futures cancelled while queued or
running, calls stopped by a KeyboardInterrupt raised in the calling thread
(as Ctrl-C does), ``Pool.submit``/``Pool.map`` bursts and fresh kernels. RSS
is sampled once a second. The run fails (exit 1) on a wrong result, an
unexpected error or a hang; the JSON and the plot go into docs/reliability.md.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
from bench_kernels import rss_mib

import shardmem as sm


def double(x, out):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        out[i] = x[i] * 2.0


def fail_at(x, out, *, start, bad):  # type: ignore[no-untyped-def]
    if start <= bad < start + len(x):
        raise ValueError(f"planned failure at {bad}")
    for i in range(len(x)):
        out[i] = x[i]


def spin(x, out):  # type: ignore[no-untyped-def]
    n = 0
    while True:
        n += 1


def count_big(x):  # type: ignore[no-untyped-def]
    return len([v for v in x if v > 0.5])


def rows_mean(rows, out_row):  # type: ignore[no-untyped-def]
    up, mid, down = rows
    return [(a + b + c) / 3.0 for a, b, c in zip(up[1:-1], mid[1:-1], down[1:-1], strict=True)]


def square(v):  # type: ignore[no-untyped-def]
    return v * v


def _raise_in(thread_id: int) -> None:
    """Raise KeyboardInterrupt in another thread of this interpreter, as Ctrl-C would."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(KeyboardInterrupt)
    )


KINDS = (
    "sum_fresh",
    "sum_kept",
    "map_fresh",
    "map_chunked",
    "reduce",
    "cumsum",
    "stencil",
    "histogram",
    "failure",
    "timeout",
    "cancel",
    "interrupt",
    "submit_burst",
    "executor_map",
    "fresh_kernel",
)


class Soak:
    def __init__(self, seconds: float, threads: int) -> None:
        self.end = time.monotonic() + seconds
        self.threads = threads
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.curve: list[tuple[float, float]] = []

    def note(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)

    def one(self, kind: str, rng: random.Random, kept: sm.SharedArray, data: np.ndarray) -> None:
        n = rng.choice([100, 2_000, 20_000])
        a = np.random.default_rng(rng.randrange(1 << 30)).random(n)
        if kind == "sum_fresh":
            assert abs(sm.sum(a) - a.sum()) < 1e-6 * n
        elif kind == "sum_kept":
            assert abs(sm.sum(kept) - data.sum()) < 1e-6 * len(data)
        elif kind == "map_fresh":
            np.testing.assert_allclose(np.asarray(sm.map(double, sm.asarray(a))), a * 2)
        elif kind == "map_chunked":
            np.testing.assert_allclose(np.asarray(sm.map(double, a, chunks=17)), a * 2)
        elif kind == "reduce":
            assert sm.reduce(count_big, a, chunks=5) == int((a > 0.5).sum())
        elif kind == "cumsum":
            np.testing.assert_allclose(np.asarray(sm.cumsum(a)), np.cumsum(a))
        elif kind == "stencil":
            img = a[: (n // 50) * 50].reshape(-1, 50)
            got = np.asarray(sm.stencil(rows_mean, img, mode="nearest"))
            p = np.pad(img, 1, mode="edge")
            np.testing.assert_allclose(got, (p[:-2, 1:-1] + p[1:-1, 1:-1] + p[2:, 1:-1]) / 3)
        elif kind == "histogram":
            counts, _ = sm.histogram(a, bins=4, range=(0.0, 1.0))
            assert counts.tolist() == np.histogram(a, bins=4, range=(0.0, 1.0))[0].tolist()
        elif kind == "failure":
            try:
                sm.map(fail_at, a, chunks=4, bad=n // 2)
            except ValueError as exc:
                if "planned failure" not in str(exc):
                    raise
            else:
                raise AssertionError("the planned failure did not raise")
        elif kind == "timeout":
            try:
                sm.map(spin, a[:10], timeout=0.05)
            except sm.TaskTimeoutError:
                pass
            else:
                raise AssertionError("a spinning kernel did not time out")
        elif kind == "cancel":
            pool = sm.default_pool()
            futures = [pool.submit(square, i) for i in range(200)]
            cancelled = sum(f.cancel() for f in futures[100:])
            for i, f in enumerate(futures):
                if not f.cancelled():
                    assert f.result(timeout=60) == i * i
            self.note(f"cancelled:{cancelled > 0}")
        elif kind == "interrupt":
            me = threading.get_ident()
            timer = threading.Timer(rng.random() * 0.01, _raise_in, args=(me,))
            timer.start()
            try:
                np.testing.assert_allclose(np.asarray(sm.map(double, a, chunks=8)), a * 2)
                time.sleep(0.02)  # the interrupt lands here when the call was quicker
            except KeyboardInterrupt:
                pass
            finally:
                timer.join()
        elif kind == "submit_burst":
            pool = sm.default_pool()
            futures = [pool.submit(square, i) for i in range(2_000)]
            assert [f.result(timeout=60) for f in futures] == [i * i for i in range(2_000)]
        elif kind == "executor_map":
            got = list(sm.default_pool().map(square, range(500), chunksize=rng.choice([1, 7])))
            assert got == [i * i for i in range(500)]
        elif kind == "fresh_kernel":
            k = rng.randrange(1 << 20)
            assert sm.submit(lambda v: v + k, 1).result(timeout=60) == k + 1

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        data = np.random.default_rng(seed).random(50_000)
        kept = sm.asarray(data)
        while time.monotonic() < self.end:
            kind = rng.choice(KINDS)
            try:
                self.one(kind, rng, kept, data)
                self.note(kind)
            except KeyboardInterrupt:
                self.note("interrupt_late")
            except BaseException as exc:  # noqa: BLE001 - recorded, the run fails
                self.fail(f"{kind}: {type(exc).__name__}: {exc}")
                return

    def unraisable(self, info: object) -> None:
        # A KeyboardInterrupt raised into a thread that is running a finalizer (a
        # buffer dropped without close()) is reported as "ignored" by Python: counted.
        if getattr(info, "exc_type", None) is KeyboardInterrupt:
            self.note("interrupt_in_finalizer")
        else:
            self.fail(f"unraisable: {getattr(info, 'exc_value', info)!r}")

    def run(self) -> None:
        sys.unraisablehook = self.unraisable
        start = time.monotonic()
        workers = [
            threading.Thread(target=self.worker, args=(i,), daemon=True)
            for i in range(self.threads)
        ]
        for t in workers:
            t.start()
        while any(t.is_alive() for t in workers):
            self.curve.append((round(time.monotonic() - start, 1), round(rss_mib(), 1)))
            for t in workers:
                t.join(timeout=1.0 / len(workers))
            if time.monotonic() > self.end + 120:
                self.fail("a thread did not finish within 120 s of the end: hang")
                break


def plot(curve: list[tuple[float, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot([t / 60 for t, _ in curve], [r for _, r in curve], lw=1.2)
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    soak = Soak(args.minutes * 60, args.threads)
    soak.run()
    curve = soak.curve
    settled = [r for t, r in curve if t >= min(60.0, curve[-1][0] / 2)] or [curve[-1][1]]
    summary = {
        "minutes": args.minutes,
        "threads": args.threads,
        "cores": os.process_cpu_count(),
        "python": sys.version.split()[0],
        "calls": sum(v for k, v in soak.counts.items() if ":" not in k),
        "counts": dict(sorted(soak.counts.items())),
        "rss_start_mib": curve[0][1],
        "rss_after_warmup_mib": settled[0],
        "rss_end_mib": curve[-1][1],
        "rss_max_mib": max(r for _, r in curve),
        "errors": soak.errors,
        "curve": curve,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "curve"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary) + "\n")
    if args.plot:
        title = (
            f"shardmem soak: {args.threads} threads, {summary['calls']:,} mixed calls in "
            f"{args.minutes:g} min, {summary['cores']} cores"
        )
        plot(curve, args.plot, title)
    return 1 if soak.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
