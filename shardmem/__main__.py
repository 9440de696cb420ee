"""Command line: ``python -m shardmem {demo,info,image,bench}``.

Every error a user can cause (a bad path, an unreadable image, a bad option)
ends in a one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ("main",)

_ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Examples
    --------
    >>> from shardmem.__main__ import main
    >>> main(["info", "--no-measure"])  # doctest: +ELLIPSIS
    shardmem ...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    from shardmem import ShardmemError

    try:
        return int(args.run(args))
    except (ShardmemError, OSError) as exc:
        _say(f"shardmem {args.command}: error: {_one_line(exc)}", sys.stderr)
        return 2
    except MemoryError:
        _say(f"shardmem {args.command}: error: not enough memory for this", sys.stderr)
        return 2
    except KeyboardInterrupt:
        _say(f"shardmem {args.command}: interrupted", sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, never a traceback
        _say(
            f"shardmem {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(a bug in shardmem: please report it with this command line)",
            sys.stderr,
        )
        return 1


def _say(text: str, stream: Any) -> None:
    """Print ``text`` on ``stream`` even where its encoding cannot show every character.

    A file name that is not valid in the file system's encoding reaches Python
    with surrogate escapes (``'\\udcff'``), which a strict UTF-8 stream refuses;
    such characters are written as backslash escapes instead.
    """
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding, "replace"), file=stream)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shardmem",
        description="Shared-memory, data-parallel arrays on CPython 3.14 subinterpreters.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the image pipeline on the bundled photograph with 1 and all workers, timed",
        description="Run an image pipeline (resize, grayscale, blur, Sobel, median, "
        "equalization, ...) on the bundled photograph with 1 worker and with all workers; "
        "print per-step times and speedups and write the output images.",
    )
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    demo.add_argument("--size", type=int, help="side the photo is resized to (default 2048)")
    demo.add_argument(
        "--workers", type=int, nargs="+", help="worker counts to time (default: 1 and all)"
    )
    demo.add_argument("--quick", action="store_true", help="a small, fast run")
    demo.set_defaults(run=_demo)

    info = sub.add_parser("info", help="Python version, cores, default workers, memory per worker")
    info.add_argument(
        "--no-measure", action="store_true", help="skip starting a pool to measure memory"
    )
    info.set_defaults(run=_info)

    img = sub.add_parser(
        "image",
        help="apply one image operation to a file",
        description="Apply one shardmem.image operation: python -m shardmem image sobel in.png "
        "out.png. Options of the operation are given as -p NAME=VALUE (e.g. -p sigma=2).",
    )
    img.add_argument("operation", help="one of: " + ", ".join(_operations()))
    img.add_argument("input", type=Path, help="PNG, PGM or PPM file to read")
    img.add_argument("output", type=Path, help="file to write (format from its suffix)")
    img.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an option of the operation (repeatable)",
    )
    img.add_argument("--workers", type=int, help="worker count (default: one per core)")
    img.set_defaults(run=_image)

    bench = sub.add_parser(
        "bench",
        help="run the benchmark suite (shardmem against the alternatives, side by side)",
        description="Run benchmarks/ from a source checkout and print a table (what was "
        "measured, each variant's time against shardmem, each target met, missed or not "
        "comparable at --quick sizes); --json and --plot write machine-readable results and "
        "a figure. Exit status 1 when a variant computed a wrong result, else 0.",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="a short run with small sizes (targets set for the full sizes are not judged)",
    )
    bench.add_argument("--json", type=Path, help="write the results as JSON here")
    bench.add_argument("--plot", type=Path, help="write a PNG plot here (needs matplotlib)")
    bench.add_argument("--only", nargs="+", metavar="NAME", help="run only these workloads")
    bench.add_argument(
        "--workers",
        metavar="N,N,...",
        help="the scaling table instead: each workload on pools of these sizes (1,2,4,8,16)",
    )
    bench.set_defaults(run=_bench)
    return parser


# -- demo --------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from shardmem._demo import run_demo

    if args.size is not None and args.size < 8:
        raise _usage("--size must be at least 8")
    if args.workers and min(args.workers) < 1:
        raise _usage("--workers must be at least 1")
    start = time.perf_counter()
    run_demo(
        args.out,
        workers=args.workers,
        size=args.size,
        quick=args.quick,
        progress=sys.stderr.isatty(),  # a bar on a terminal, none in logs
    )
    print(f"wrote images to {args.out}/ in {time.perf_counter() - start:.1f} s")
    return 0


def _usage(message: str) -> Exception:
    from shardmem import InvalidArgumentError

    return InvalidArgumentError(message)


# -- info --------------------------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    import shardmem as sm

    cores = os.process_cpu_count()
    print(f"shardmem {sm.__version__}")
    print(f"python   {platform.python_implementation()} {platform.python_version()}")
    print(f"platform {platform.platform()}")
    print(f"cores    {cores} usable (os.process_cpu_count), {os.cpu_count()} in the machine")
    print(f"workers  {cores or 1} by default")
    if not args.no_measure:
        per_worker, start_ms = _measure_workers(2)
        print(f"memory   {per_worker:.1f} MiB resident per idle worker (measured with 2)")
        print(f"start    {start_ms:.1f} ms to start a 2-worker pool")
    return 0


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: peak RSS is the best available
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_workers(n: int) -> tuple[float, float]:
    import shardmem as sm

    with sm.Pool(1):
        pass  # first pool pays one-time imports
    before = _rss_mib()
    start = time.perf_counter()
    pool = sm.Pool(n)
    took = (time.perf_counter() - start) * 1e3
    pool.run(lambda *, rank: rank)
    after = _rss_mib()
    pool.close()
    return (after - before) / n, took


# -- image -------------------------------------------------------------------------------------


def _operations() -> dict[str, Callable[..., object]]:
    from shardmem import image

    skip = {"read_image", "write_image", "histogram"}
    return {
        name: getattr(image, name)
        for name in getattr(image, "__all__", ())
        if name not in skip and callable(getattr(image, name))
    }


def _image(args: argparse.Namespace) -> int:
    import shardmem as sm
    from shardmem import image
    from shardmem._progress import progress_default

    ops = _operations()
    op = ops.get(args.operation)
    if op is None:
        raise _usage(f"unknown operation {args.operation!r}; choose one of {', '.join(ops)}")
    params = _params(args.param, op)
    _check_call(args.operation, op, params)
    picture = image.read_image(args.input)
    with sm.Pool(args.workers) as pool, progress_default(sys.stderr.isatty()):
        start = time.perf_counter()
        result = _apply(op, picture, pool, params)
        took = time.perf_counter() - start
    image.write_image(args.output, result)
    _say(f"{args.operation}: {args.input} -> {args.output} in {took * 1e3:.1f} ms", sys.stdout)
    return 0


_EXAMPLES = {"output_shape": "256,256", "weights": "1,2,1;2,4,2;1,2,1", "thresh": "0.5"}


def _apply(
    op: Callable[..., object], picture: object, pool: object, params: dict[str, object]
) -> Any:
    """``op(picture, *positional-only params, pool=pool, **the others)``."""
    given = dict(params)
    positional = [
        given.pop(p.name)
        for p in list(inspect.signature(op).parameters.values())[1:]
        if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.name in given
    ]
    return op(picture, *positional, pool=pool, **given)


def _check_call(name: str, op: Callable[..., object], params: dict[str, object]) -> None:
    """Refuse, before reading any image, a call that lacks a required parameter."""
    sig = inspect.signature(op)
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.name not in {"image", "out", "pool"}
        and p.name not in params
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if missing:
        needed = " ".join(f"-p {m}={_EXAMPLES.get(m, 'VALUE')}" for m in missing)
        raise _usage(f"{name} needs {', '.join(missing)}: for example {needed}")


def _params(items: list[str], op: Callable[..., object]) -> dict[str, object]:
    accepted = set(inspect.signature(op).parameters) - {"image", "out", "pool"}
    params: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in accepted:
            raise _usage(
                f"-p {item!r}: give NAME=VALUE with NAME one of {', '.join(sorted(accepted))}"
            )
        params[name] = _value(text)
    return params


def _value(text: str) -> object:
    """A number, ``a,b,...`` (a tuple), ``a,b;c,d`` (rows of a 2-D weight table), None, a string."""
    if text == "None":
        return None
    if ";" in text:
        return tuple(_value(row) if "," in row else (_value(row),) for row in text.split(";"))
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if "," in text:
        return tuple(_value(part) for part in text.split(","))
    return text


# -- bench -------------------------------------------------------------------------------------


def _bench(args: argparse.Namespace) -> int:
    suite = _ROOT / "benchmarks" / "suite.py"
    if not suite.is_file():
        raise OSError(f"the benchmark suite ships with the source checkout ({suite} not found)")
    sys.path.insert(0, str(suite.parent))
    try:
        import suite as bench_suite  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    argv = ["--quick"] if args.quick else []
    if args.json:
        argv += ["--json", str(args.json)]
    if args.plot:
        argv += ["--plot", str(args.plot)]
    if args.only:
        argv += ["--only", *args.only]
    if args.workers:
        argv += ["--workers", args.workers]
    return int(bench_suite.main(argv))


if __name__ == "__main__":
    sys.exit(main())
