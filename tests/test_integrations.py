"""A Pool as Dask's local scheduler, and the joblib backend "shardmem", used as their users do.

Every function a task calls is defined inside its test (or in a ``python -c``
program): such functions cannot be pickled by name, so they travel by value,
as a notebook cell's do. Results are compared with a sequential run.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from concurrent import interpreters

import pytest
from engine_state import assert_idle

import shardmem as sm

dask = pytest.importorskip("dask")
db = pytest.importorskip("dask.bag")
joblib = pytest.importorskip("joblib")
import shardmem.joblib as smj  # noqa: E402

TIMEOUT = 60


@pytest.fixture
def pool() -> sm.Pool:
    with sm.Pool(2) as p:
        yield p
        assert_idle(p)


def _records(n: int) -> list[str]:
    return [f"{i},{'abcdefgh'[i % 8]},{(i * 37) % 101},{'x y z'[: 1 + i % 5]}" for i in range(n)]


# -- Dask: a Pool as the scheduler -----------------------------------------------------------------


def test_dask_bag_pipeline_of_local_functions_and_lambdas(pool: sm.Pool) -> None:
    def parse(line):  # type: ignore[no-untyped-def]
        i, name, score, tags = line.split(",")
        return {"id": int(i), "name": name, "score": int(score), "tags": tags.split()}

    lines = _records(5000)
    bag = (
        db.from_sequence(lines, npartitions=7)
        .map(parse)
        .filter(lambda r: r["score"] > 30 and "y" in r["tags"])
        .pluck("name")
        .frequencies()
    )
    expected = sorted(bag.compute(scheduler="sync"))
    assert sorted(bag.compute(scheduler=pool)) == expected
    with dask.config.set(scheduler=pool):
        assert sorted(bag.compute()) == expected


def test_dask_runs_the_tasks_in_worker_interpreters(pool: sm.Pool) -> None:
    def where(_):  # type: ignore[no-untyped-def]
        from concurrent import interpreters

        return interpreters.get_current().id

    ids = set(db.from_sequence(range(40), npartitions=8).map(where).compute(scheduler=pool))
    assert ids
    assert interpreters.get_current().id not in ids


def test_dask_delayed_graph_equals_sequential(pool: sm.Pool) -> None:
    from dask import delayed

    def collatz(n):  # type: ignore[no-untyped-def]
        steps = 0
        while n != 1:
            n = 3 * n + 1 if n % 2 else n // 2
            steps += 1
        return steps

    parts = [delayed(collatz)(n) for n in range(1, 300)]
    total = delayed(sum)(parts)
    longest = delayed(max)(parts)
    assert dask.compute(total, longest, scheduler=pool) == dask.compute(
        total, longest, scheduler="sync"
    )


def test_dask_task_error_is_raised_with_its_type_and_the_pool_stays_usable(
    pool: sm.Pool,
) -> None:
    from dask import delayed

    def lookup(key):  # type: ignore[no-untyped-def]
        return {"a": 1}[key]

    with pytest.raises(KeyError, match="'b'"):
        delayed(lookup)("b").compute(scheduler=pool)
    assert delayed(lookup)("a").compute(scheduler=pool) == 1


def test_dask_task_needing_numpy_is_refused_clearly_not_hung(pool: sm.Pool) -> None:
    da = pytest.importorskip("dask.array")
    with pytest.raises(sm.ShippingError, match="'numpy', which cannot be imported in a worker"):
        da.arange(10, chunks=5).sum().compute(scheduler=pool)
    assert db.from_sequence([1, 2, 3]).sum().compute(scheduler=pool) == 6


def test_dask_and_joblib_from_python_c() -> None:
    """Functions and lambdas of ``python -c`` (``__main__``) travel by value."""
    code = textwrap.dedent(
        """
        import dask.bag as db, joblib, shardmem as sm, shardmem.joblib
        def square(v):
            return v * v
        with sm.Pool(2) as pool:
            bag = db.from_sequence(range(100), npartitions=4).map(square).filter(lambda v: v % 3)
            print(bag.sum().compute(scheduler=pool))
            with joblib.parallel_config(backend="shardmem", n_jobs=2):
                print(sum(joblib.Parallel()(joblib.delayed(square)(i) for i in range(100))))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert run.returncode == 0, run.stderr
    squares = [v * v for v in range(100)]
    assert run.stdout.split() == [str(sum(v for v in squares if v % 3)), str(sum(squares))]


def test_without_cloudpickle_a_lambda_argument_is_refused_saying_what_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["cloudpickle"] = None  # as if it were not installed
        import shardmem as sm
        def apply(fn, v):
            return fn(v)
        with sm.Pool(1) as pool:
            try:
                pool.submit(apply, lambda v: v + 1, 1)
            except sm.ShippingError as exc:
                print("refused:", exc)
            print(pool.submit(apply, abs, -2).result(timeout=30))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert run.returncode == 0, run.stderr
    refused, result = run.stdout.strip().splitlines()
    assert refused.startswith("refused: an argument of type function cannot be sent")
    assert "pip install cloudpickle" in refused
    assert result == "2"


# -- joblib ----------------------------------------------------------------------------------------


def test_joblib_backend_results_equal_sequential() -> None:
    def score(line):  # type: ignore[no-untyped-def]
        _, name, s, tags = line.split(",")
        return (name, int(s) * len(tags.split()))

    lines = _records(3000)
    expected = [score(line) for line in lines]
    with joblib.parallel_config(backend="shardmem", n_jobs=2):
        assert joblib.Parallel()(joblib.delayed(score)(line) for line in lines) == expected
        assert joblib.Parallel(batch_size=7)(joblib.delayed(score)(v) for v in lines) == expected
        assert joblib.Parallel(n_jobs=-1)(
            joblib.delayed(lambda v: v * 2)(i) for i in range(50)
        ) == [2 * i for i in range(50)]


def test_joblib_runs_in_the_given_pool(pool: sm.Pool) -> None:
    def where(_):  # type: ignore[no-untyped-def]
        from concurrent import interpreters

        return interpreters.get_current().id

    with sm.Pool(1) as one, joblib.parallel_config(backend=smj.ShardmemBackend(pool=one)):
        ids = set(joblib.Parallel(n_jobs=2)(joblib.delayed(where)(i) for i in range(20)))
    assert len(ids) == 1
    assert interpreters.get_current().id not in ids


@pytest.mark.parametrize("return_as", ["generator", "generator_unordered"])
def test_joblib_generators(return_as: str) -> None:
    def cube(v):  # type: ignore[no-untyped-def]
        return v**3

    with joblib.parallel_config(backend="shardmem", n_jobs=2):
        got = joblib.Parallel(return_as=return_as)(joblib.delayed(cube)(i) for i in range(500))
        values = list(got)
    if return_as == "generator":
        assert values == [i**3 for i in range(500)]
    else:
        assert sorted(values) == [i**3 for i in range(500)]


def test_joblib_error_is_raised_with_its_type_and_the_backend_stays_usable() -> None:
    def check(v):  # type: ignore[no-untyped-def]
        if v == 13:
            raise ValueError(f"{v} is unlucky")
        return v

    with joblib.parallel_config(backend="shardmem", n_jobs=2):
        with pytest.raises(ValueError, match="13 is unlucky") as info:
            joblib.Parallel()(joblib.delayed(check)(i) for i in range(200))
        assert isinstance(info.value.__cause__, sm.KernelError)
        assert ", in check" in info.value.__cause__.remote_traceback  # the worker's frames
        assert joblib.Parallel()(joblib.delayed(check)(i) for i in range(5)) == list(range(5))
    assert_idle(sm.default_pool())


def test_joblib_timeout_raises_timeout_error() -> None:
    def spin(seconds):  # type: ignore[no-untyped-def]
        import time

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return seconds

    with (
        joblib.parallel_config(backend="shardmem", n_jobs=2),
        pytest.raises(multiprocessing.TimeoutError),  # what joblib raises for every backend
    ):
        joblib.Parallel(timeout=0.2)(joblib.delayed(spin)(1.0) for _ in range(2))
    assert_idle(sm.default_pool(), timeout=30)


def test_joblib_numpy_function_is_refused_clearly() -> None:
    def uses_numpy(v):  # type: ignore[no-untyped-def]
        import numpy

        return int(numpy.int64(v))

    with (
        joblib.parallel_config(backend="shardmem", n_jobs=2),
        pytest.raises(ImportError) as info,
    ):
        joblib.Parallel()(joblib.delayed(uses_numpy)(i) for i in range(4))
    assert "cannot be imported in a subinterpreter" in " ".join(info.value.__notes__)


# -- found by review: nested computes, classes of __main__, abandoned batches, n_jobs ----------


def test_a_task_that_calls_compute_runs_it_in_place_and_leaves_the_pool_healthy(
    pool: sm.Pool,
) -> None:
    from dask import delayed

    def inner_delayed(n):  # type: ignore[no-untyped-def]
        import dask
        from dask import delayed

        return sum(dask.compute(*[delayed(abs)(-i) for i in range(n)]))  # Dask's default

    def inner_bag(n):  # type: ignore[no-untyped-def]
        import dask.bag as db

        return db.from_sequence(range(n), npartitions=2).map(lambda v: v * 2).sum().compute()

    got = dask.compute([delayed(inner_delayed)(5) for _ in range(3)], scheduler=pool)
    assert got == ([10, 10, 10],)
    got = dask.compute([delayed(inner_bag)(10) for _ in range(3)], scheduler=pool)
    assert got == ([90, 90, 90],)
    for _ in range(10):  # nothing left behind in the workers
        assert db.from_sequence(range(100), npartitions=4).sum().compute(scheduler=pool) == 4950


def test_threads_a_kernel_leaves_in_an_executor_are_ended_and_later_tasks_succeed(
    pool: sm.Pool,
) -> None:
    def leaves_a_thread_pool():  # type: ignore[no-untyped-def]
        import sys
        from concurrent.futures import ThreadPoolExecutor

        executor = ThreadPoolExecutor(2)
        list(executor.map(abs, [-1, -2, -3]))
        sys.modules["__main__"].__dict__["kept"] = executor  # never shut down

    with pytest.raises(RuntimeError, match="thread"):
        pool.submit(leaves_a_thread_pool).result(timeout=TIMEOUT)
    results = [pool.submit(abs, -i).result(timeout=TIMEOUT) for i in range(40)]
    assert results == list(range(40))
    assert not pool.broken


CODE_MAIN_CLASSES = textwrap.dedent(
    """
    import dask, joblib
    from dask import delayed
    import shardmem as sm, shardmem.joblib

    class AppError(Exception):
        pass

    class Point:
        def __init__(self, x):
            self.x = x

    def fail(i):
        raise AppError(f"bad {i}")

    def make(i):
        return Point(i)

    with sm.Pool(2) as pool:
        caught = []
        for run in (
            lambda: dask.compute(delayed(fail)(1), scheduler=pool),
            lambda: joblib.Parallel(backend=shardmem.joblib.ShardmemBackend(pool=pool))(
                joblib.delayed(fail)(i) for i in range(4)
            ),
            lambda: pool.submit(fail, 1).result(),
        ):
            try:
                run()
            except AppError:
                caught.append("AppError")
        points = dask.compute([delayed(make)(i) for i in range(3)], scheduler=pool)[0]
        print(caught, [type(p) is Point and p.x for p in points])
    """
)


def test_classes_and_exceptions_of_main_come_back_as_themselves() -> None:
    run = subprocess.run(
        [sys.executable, "-c", CODE_MAIN_CLASSES],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['AppError', 'AppError', 'AppError'] [0, 1, 2]"


def test_joblib_timeout_stops_the_abandoned_batches() -> None:
    def forever(_):  # type: ignore[no-untyped-def]
        while True:
            pass

    with sm.Pool(2) as own, joblib.parallel_config(backend=smj.ShardmemBackend(pool=own)):
        with pytest.raises(multiprocessing.TimeoutError):
            joblib.Parallel(n_jobs=2, timeout=0.3)(joblib.delayed(forever)(i) for i in range(2))
        assert_idle(own, timeout=30)  # the spinning kernels were stopped
        assert joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]


def test_joblib_without_n_jobs_uses_every_worker() -> None:
    def where(_):  # type: ignore[no-untyped-def]
        import time
        from concurrent import interpreters

        end = time.monotonic() + 0.02  # long enough that one worker cannot take every batch
        while time.monotonic() < end:
            pass
        return interpreters.get_current().id

    with sm.Pool(2) as own, joblib.parallel_config(backend=smj.ShardmemBackend(pool=own)):
        ids = joblib.Parallel(batch_size=1)(joblib.delayed(where)(i) for i in range(20))
    assert len(set(ids)) == 2
