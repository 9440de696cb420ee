"""Pool as a ``concurrent.futures.Executor``: CPython's executor tests, ported.

The cases follow ``Lib/test/test_concurrent_futures/`` (executor.py, test_wait.py,
test_as_completed.py, test_shutdown.py, test_thread_pool.py, test_future.py). Where
CPython blocks a task on a ``threading.Event`` (which cannot cross interpreters), a
kernel here spins on a shared int64 flag that the test sets. Every parallel result is
compared with the same computation run sequentially in this interpreter.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import functools
import itertools
import logging
import operator
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    CancelledError,
    Future,
    ThreadPoolExecutor,
)
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_state import assert_idle
from hypothesis import given, settings
from hypothesis import strategies as st
from plain_values import Point, make_point
from pools import get_pool

import shardmem as sm
from shardmem._engine._pool import _MAP_CHUNK, _map_chunks, pack_callable

WAIT = 30.0  # seconds a test waits for a result before it counts as hung


# -- kernels (module level; shipped to workers as code) ----------------------------------------


def mul(x, y):  # type: ignore[no-untyped-def]
    return x * y


def add(x, y):  # type: ignore[no-untyped-def]
    return x + y


def capture(*args, **kwargs):  # type: ignore[no-untyped-def]
    return args, kwargs


def identity(x):  # type: ignore[no-untyped-def]
    return x


def block(flag):  # type: ignore[no-untyped-def]
    """Say it started (flag[1]), then spin until the test sets flag[0]."""
    flag[1] = 1
    while flag[0] == 0:
        pass
    return "released"


def gated(flag, value):  # type: ignore[no-untyped-def]
    """Return ``value`` once the test sets flag[0]."""
    while flag[0] == 0:
        pass
    return value


def gated_raise(flag):  # type: ignore[no-untyped-def]
    while flag[0] == 0:
        pass
    raise Exception("this is an exception")


def record(out, i):  # type: ignore[no-untyped-def]
    out[i] = i + 1
    return i


def mark(out):  # type: ignore[no-untyped-def]
    out[0] = 1


def raiser(kind, message):  # type: ignore[no-untyped-def]
    exc = {"value": ValueError, "key": KeyError, "zero": ZeroDivisionError, "os": OSError}[kind]
    raise exc(message)


def exit_with(code):  # type: ignore[no-untyped-def]
    raise SystemExit(code)


def timeout_on_one(x):  # type: ignore[no-untyped-def]
    if x == 1:
        raise TimeoutError
    return x


def imports_numpy():  # type: ignore[no-untyped-def]
    import numpy

    return numpy.zeros(1)


def describe(view):  # type: ignore[no-untyped-def]
    view[0] = -7
    return type(view).__name__, view.format, len(view), sum(view)


def falsey_raiser(kind, msg):  # type: ignore[no-untyped-def]
    """Raise a falsey exception of a class local to the kernel (nothing to import)."""

    class FalseyBoolError(Exception):
        def __bool__(self):  # type: ignore[no-untyped-def]
            return False

    class FalseyLenError(Exception):
        def __len__(self):  # type: ignore[no-untyped-def]
            return 0

    raise (FalseyBoolError if kind == "bool" else FalseyLenError)(msg)


# -- helpers ---------------------------------------------------------------------------------


class Gate:
    """A shared flag that ``block``/``gated`` kernels spin on until ``open()``."""

    def __init__(self) -> None:
        self.flag = sm.zeros(2, dtype="int64")

    def hold(self, pool: sm.Pool) -> Future[Any]:
        """Submit ``block`` and return once a worker is running it."""
        future = pool.submit(block, self.flag)
        deadline = time.monotonic() + WAIT
        while self.flag[1] == 0:
            if future.done():
                future.result()  # surfaces why it never started
            assert time.monotonic() < deadline, "the blocker never started"
            time.sleep(0.001)  # polling a condition, not waiting out a race
        return future

    def open(self) -> None:
        self.flag[0] = 1


@contextlib.contextmanager
def gated_pool(workers: int) -> Iterator[tuple[sm.Pool, Gate]]:
    """A fresh pool and a gate; the gate is opened and the pool closed on the way out."""
    gate = Gate()
    pool = sm.Pool(workers)
    try:
        yield pool, gate
    finally:
        gate.open()
        pool.shutdown(wait=True)


def successful_future() -> Future[Any]:
    f: Future[Any] = Future()
    f.set_result(42)
    return f


def exception_future() -> Future[Any]:
    f: Future[Any] = Future()
    f.set_exception(OSError())
    return f


def cancelled_future() -> Future[Any]:
    f: Future[Any] = Future()
    assert f.cancel()
    return f


def cancelled_and_notified_future() -> Future[Any]:
    f = cancelled_future()
    assert not f.set_running_or_notify_cancel()
    return f


@pytest.fixture
def pool() -> sm.Pool:
    return get_pool(2)


# -- submit ----------------------------------------------------------------------------------


def test_submit(pool: sm.Pool) -> None:
    future = pool.submit(pow, 2, 8)
    assert isinstance(future, Future)
    assert future.result(timeout=WAIT) == pow(2, 8) == 256


def test_submit_keyword(pool: sm.Pool) -> None:
    assert pool.submit(mul, 2, y=8).result(timeout=WAIT) == mul(2, y=8) == 16
    future = pool.submit(capture, 1, self=2, fn=3)
    assert future.result(timeout=WAIT) == capture(1, self=2, fn=3) == ((1,), {"self": 2, "fn": 3})
    with pytest.raises(TypeError):
        pool.submit(fn=capture, arg=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        pool.submit(arg=1)  # type: ignore[call-arg]


def test_submit_builtins_and_pickled_callables(pool: sm.Pool) -> None:
    assert pool.submit(pow, 2, 10).result(timeout=WAIT) == 1024
    assert pool.submit(divmod, 17, 5).result(timeout=WAIT) == divmod(17, 5)
    assert pool.submit(operator.add, "a", "b").result(timeout=WAIT) == "ab"
    pow2 = functools.partial(pow, 2)
    assert pool.submit(pow2, 20).result(timeout=WAIT) == pow2(20)
    assert list(pool.map(abs, [-1, 2])) == [1, 2]


def test_submit_lambda_and_function_defined_in_the_test(pool: sm.Pool) -> None:
    offset = 5

    def shifted(values: list[int], *, scale: int = 1) -> list[int]:
        return [v * scale + offset for v in values]

    assert pool.submit(lambda x: x * x + 1, 7).result(timeout=WAIT) == 50
    data = list(range(-3, 4))
    assert pool.submit(shifted, data, scale=3).result(timeout=WAIT) == shifted(data, scale=3)
    assert list(pool.map(lambda a, b: a - b, range(10), range(0, 20, 2))) == [
        a - b for a, b in zip(range(10), range(0, 20, 2), strict=True)
    ]


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        2**200,
        -(3**90),
        -1.5,
        float("inf"),
        1e-300,
        3 + 4j,
        "",
        "snowman \u2603",
        b"",
        bytes(range(256)),
        (1, (2, (3, None))),
        [1, [2.5, ["x", b"y"]]],
        {"a": [1, 2], "b": {"c": (None, 1.0)}},
        {1, 2, 3},
        frozenset({"x"}),
        range(3, 30, 4),
        bytearray(b"abc"),
    ],
    ids=repr,
)
def test_results_of_various_types_round_trip(pool: sm.Pool, value: object) -> None:
    result = pool.submit(identity, value).result(timeout=WAIT)
    assert result == value
    assert type(result) is type(value)


def test_module_level_dataclass_result(pool: sm.Pool) -> None:
    """Workers import it from the caller's sys.path (a module without NumPy: workers cannot
    import modules that need it)."""
    result = pool.submit(make_point, 3, 0.5).result(timeout=WAIT)
    assert result == make_point(3, 0.5) == Point(3, 0.5)
    assert pool.submit(identity, Point(1, 2.0)).result(timeout=WAIT) == Point(1, 2.0)


def test_shared_array_arrives_as_a_flat_zero_copy_view(pool: sm.Pool) -> None:
    a = sm.arange(10, dtype="int64")
    expected = sum([-7, *range(1, 10)])
    assert pool.submit(describe, a).result(timeout=WAIT) == ("memoryview", "q", 10, expected)
    assert a[0] == -7  # the worker wrote into our memory


# -- map -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunksize", [1, 3, 100])
def test_map(pool: sm.Pool, chunksize: int) -> None:
    assert list(pool.map(pow, range(10), range(10), chunksize=chunksize)) == list(
        map(pow, range(10), range(10), strict=False)
    )


@pytest.mark.parametrize("chunksize", [1, 2])
def test_map_several_iterables_stops_at_the_shortest(pool: sm.Pool, chunksize: int) -> None:
    xs, ys, zs = range(20), [3, 1, 4, 1, 5, 9, 2, 6], (i * 0.5 for i in range(100))
    expected = list(
        map(lambda x, y, z: x * y + z, range(20), [3, 1, 4, 1, 5, 9, 2, 6], range(8), strict=False)
    )
    result = list(pool.map(lambda x, y, z: x * y + z * 2, xs, ys, zs, chunksize=chunksize))
    assert result == expected


def test_map_is_ordered_with_uneven_work(pool: sm.Pool) -> None:
    def slow_for_small(n: int) -> int:
        total = 0
        for i in range((20 - n) * 2000):
            total += i % 7
        return n * 1000 + total % 7

    items = list(range(20))
    assert list(pool.map(slow_for_small, items)) == [slow_for_small(n) for n in items]


def test_map_exception_is_raised_at_that_item(pool: sm.Pool) -> None:
    results = pool.map(divmod, [5, 5, 5, 5], [2, 3, 0, 5])
    assert next(results) == divmod(5, 2)
    assert next(results) == divmod(5, 3)
    with pytest.raises(ZeroDivisionError):
        next(results)
    # Python 3.14's Executor.map: the iterator ends with the exception.
    assert next(results, "end") == "end"


def test_map_exception_with_chunks_fails_from_its_chunk(pool: sm.Pool) -> None:
    # As ProcessPoolExecutor: a failing item fails its whole chunk, earlier chunks arrive.
    results = pool.map(divmod, [5] * 6, [2, 3, 4, 0, 5, 6], chunksize=2)
    assert next(results) == divmod(5, 2)
    assert next(results) == divmod(5, 3)
    with pytest.raises(ZeroDivisionError):
        next(results)
    assert next(results, "end") == "end"


def test_map_kernel_exception_keeps_type_and_message(pool: sm.Pool) -> None:
    with pytest.raises(KeyError, match="missing"):
        list(pool.map(raiser, ["key", "value"], ["missing", "later"]))


def test_map_timeout_from_the_callable_is_not_the_map_timeout(pool: sm.Pool) -> None:
    for timeout in (None, WAIT):
        results = pool.map(timeout_on_one, [0, 1, 2, 3], timeout=timeout)
        assert next(results) == 0
        with pytest.raises(TimeoutError):
            next(results)


@pytest.mark.parametrize("chunksize", [1, 2])
def test_map_timeout(chunksize: int) -> None:
    with gated_pool(2) as (pool, gate):
        flags = itertools.repeat(gate.flag)
        results = []
        it = pool.map(gated, flags, [0, 1, 2], timeout=0.2, chunksize=chunksize)
        with pytest.raises(TimeoutError):
            results.extend(it)
        assert results == []
        assert next(it, "end") == "end"  # the remaining calls were cancelled
        gate.open()
        # Items that do not block come back in time.
        assert list(pool.map(mul, [1, 2, 3], [4, 5, 6], timeout=WAIT)) == [4, 10, 18]


def test_map_timeout_after_some_results() -> None:
    gate = Gate()
    open_flag = sm.ones(2, dtype="int64")
    with gated_pool(2) as (pool, _):
        it = pool.map(gated, [open_flag, open_flag, gate.flag], [0, 1, 2], timeout=1.0)
        results = []
        with pytest.raises(TimeoutError):
            results.extend(it)
        assert results == [0, 1]
        gate.open()


@pytest.mark.parametrize("chunksize", [1, 2])
def test_map_close(pool: sm.Pool, chunksize: int) -> None:
    results = pool.map(divmod, [5, 5, 5, 5], [2, 7, 3, 5], chunksize=chunksize)
    assert next(results) == (2, 1)
    results.close()  # type: ignore[attr-defined]
    assert next(results, "end") == "end"


@pytest.mark.parametrize("chunksize", [1, 3])
@pytest.mark.parametrize("buffersize", [1, 2, 4, 8])
def test_map_buffersize(pool: sm.Pool, chunksize: int, buffersize: int) -> None:
    ints = range(4)
    assert list(pool.map(str, ints, buffersize=buffersize, chunksize=chunksize)) == list(
        map(str, ints)
    )
    assert list(pool.map(add, ints, ints, buffersize=buffersize, chunksize=chunksize)) == [
        0,
        2,
        4,
        6,
    ]


@pytest.mark.parametrize("chunksize", [1, 2])
def test_map_buffersize_on_infinite_iterables(pool: sm.Pool, chunksize: int) -> None:
    results = pool.map(str, itertools.count(), buffersize=2, chunksize=chunksize)
    assert [next(results) for _ in range(3)] == ["0", "1", "2"]
    results = pool.map(add, itertools.count(), itertools.count(), buffersize=2, chunksize=chunksize)
    assert [next(results) for _ in range(5)] == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("chunksize", [1, 2])
def test_map_buffersize_on_empty_or_no_iterable(pool: sm.Pool, chunksize: int) -> None:
    assert next(pool.map(str, [], buffersize=2, chunksize=chunksize), None) is None
    assert next(pool.map(str, buffersize=2, chunksize=chunksize), None) is None


@pytest.mark.parametrize(("chunksize", "taken"), [(1, 2), (3, 6)])
def test_map_buffersize_takes_only_what_it_queues(
    pool: sm.Pool, chunksize: int, taken: int
) -> None:
    ints = iter(range(100))
    results = pool.map(str, ints, buffersize=2, chunksize=chunksize)
    assert next(ints) == taken, "map took more items than buffersize allows"
    assert next(results) == "0"


@pytest.mark.parametrize("chunksize", [1, 3])
@pytest.mark.parametrize(("buffersize", "error"), [("foo", TypeError), (2.0, TypeError)])
def test_map_buffersize_type_validation(
    pool: sm.Pool, chunksize: int, buffersize: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="buffersize must be an integer or None"):
        pool.map(str, range(4), buffersize=buffersize, chunksize=chunksize)  # type: ignore[arg-type]


@pytest.mark.parametrize("chunksize", [1, 3])
@pytest.mark.parametrize("buffersize", [0, -1])
def test_map_buffersize_value_validation(pool: sm.Pool, chunksize: int, buffersize: int) -> None:
    with pytest.raises(ValueError, match="buffersize must be None or > 0"):
        pool.map(str, range(4), buffersize=buffersize, chunksize=chunksize)


@pytest.mark.parametrize("chunksize", [0, -1])
def test_map_chunksize_validation(pool: sm.Pool, chunksize: int) -> None:
    with pytest.raises(ValueError, match="chunksize"):
        pool.map(str, range(4), chunksize=chunksize)


def test_map_submits_without_iteration() -> None:
    # test_thread_pool.test_map_submits_without_iteration: map() queues every call at once.
    out = sm.zeros(10, dtype="int64")
    pool = sm.Pool(2)
    try:
        pool.map(record, itertools.repeat(out), range(10))
    finally:
        pool.shutdown(wait=True)
    assert out.tolist() == list(range(1, 11))


@settings(max_examples=15, deadline=None)
@given(
    values=st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=40),
    chunksize=st.integers(min_value=1, max_value=5),
    workers=st.integers(min_value=1, max_value=3),
    buffersize=st.none() | st.integers(min_value=1, max_value=4),
)
def test_map_matches_builtin_map(
    values: list[int], chunksize: int, workers: int, buffersize: int | None
) -> None:
    pool = get_pool(workers)

    def f(x: int, y: int) -> tuple[int, int]:
        return divmod(x * 3 + 1, y or 7)

    shifted = values[1:] + values[:1]
    expected = list(map(f, values, shifted, strict=True))
    assert list(pool.map(f, values, shifted, chunksize=chunksize, buffersize=buffersize)) == (
        expected
    )
    assert list(pool.map(abs, values, chunksize=chunksize)) == list(map(abs, values))


# Pool.map with the defaults sends its items in chunks (one task each): the promises
# are Executor.map's all the same, item by item.


def fail_at(x, bad):  # type: ignore[no-untyped-def]
    if x == bad:
        raise ValueError("bad item", x)
    return x * 3


@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=3000),
    where=st.floats(min_value=0, max_value=1.2),
    workers=st.integers(min_value=1, max_value=3),
)
def test_map_yields_every_result_before_the_failing_item(
    count: int, where: float, workers: int
) -> None:
    pool = get_pool(workers)
    bad = int(count * where)  # (count or more: nothing fails)
    results = pool.map(fail_at, range(count), itertools.repeat(bad))
    got = []
    if bad >= count:
        got.extend(results)
        assert got == [x * 3 for x in range(count)]
        return
    with pytest.raises(ValueError, match="bad item") as info:
        got.extend(results)
    assert got == [x * 3 for x in range(bad)]
    assert info.value.args == ("bad item", bad)
    assert f"map item {bad})" in str(info.value.__cause__)
    assert next(results, "end") == "end"
    assert pool.submit(add, 2, 3).result(timeout=WAIT) == 5


def unsendable_at(x, bad):  # type: ignore[no-untyped-def]
    return threading.Lock() if x == bad else x


def test_map_result_that_cannot_travel_fails_at_its_item(pool: sm.Pool) -> None:
    results = pool.map(unsendable_at, range(600), itertools.repeat(450))
    got = []
    with pytest.raises(TypeError, match="cannot be sent back"):
        got.extend(results)
    assert got == list(range(450))


def test_map_of_large_items_and_results(pool: sm.Pool) -> None:
    items = [f"{i:06d}" * 1000 for i in range(700)]
    assert list(pool.map(str.upper, items)) == [s.upper() for s in items]
    assert list(pool.map(len, items)) == [6000] * 700
    assert list(pool.map(identity, [(i, [i], {"k": i}) for i in range(500)])) == [
        (i, [i], {"k": i}) for i in range(500)
    ]


def touch(path: str) -> str:
    time.sleep(0.01)
    Path(path).touch()
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_map_closed_early_runs_no_item_not_started(tmp_path: Path, workers: int) -> None:
    # Executor.map: closing its iterator cancels the calls that have not started.
    paths = [str(tmp_path / f"{i}") for i in range(300)]
    with sm.Pool(workers) as pool:
        results = pool.map(touch, paths)
        assert next(results) == paths[0]
        results.close()  # type: ignore[attr-defined]
    ran = len(list(tmp_path.iterdir()))
    assert 1 <= ran < len(paths)
    assert next(results, "end") == "end"


def bump(d: dict[str, int]) -> int:
    d["n"] += 1
    return d["n"]


_grown: list[int] = []


def grow(i: int) -> list[int]:
    _grown.append(i)
    return _grown


def test_map_items_and_results_travel_on_their_own(pool: sm.Pool) -> None:
    shared = {"n": 0}
    assert list(pool.map(bump, [shared] * 40)) == [1] * 40  # as submit: a copy each
    assert shared == {"n": 0}
    results = list(pool.map(grow, range(40)))  # each as it was when its item returned
    assert [got[-1] for got in results] == list(range(40))  # not a later item's state


def lower_limit_at_zero(i: int) -> int:
    if i == 0:
        sys.setrecursionlimit(60)
        sys.set_int_max_str_digits(700)
    return sys.getrecursionlimit() * 10_000 + sys.get_int_max_str_digits()


def test_map_item_sees_no_limit_an_earlier_item_set() -> None:
    # As from one task to the next: a chunk restores the limits after each item.
    pool = get_pool(1)
    untouched = pool.submit(lower_limit_at_zero, 1).result(timeout=WAIT)
    assert list(pool.map(lower_limit_at_zero, range(1, 9))) == [untouched] * 8
    got = list(pool.map(lower_limit_at_zero, range(50)))
    assert got[1:] == [untouched] * 49


def leave_thread_at(i: int, bad: int) -> int:
    if i == bad:
        import threading

        threading.Thread(target=time.sleep, args=(0.5,)).start()
    return i


def test_map_kernel_leaving_a_thread_fails_at_its_item(pool: sm.Pool) -> None:
    got = []
    with pytest.raises(RuntimeError, match="thread"):
        got.extend(pool.map(leave_thread_at, range(60), itertools.repeat(22)))
    assert got == list(range(22))
    assert pool.submit(add, 1, 2).result(timeout=WAIT) == 3


def test_map_shutdown_cancel_futures_starts_no_further_item(tmp_path: Path) -> None:
    paths = [str(tmp_path / f"{i}") for i in range(400)]
    pool = sm.Pool(2)
    results = pool.map(touch, paths)
    got = [next(results)]
    pool.shutdown(wait=True, cancel_futures=True)
    ran = len(list(tmp_path.iterdir()))
    with pytest.raises(cf.CancelledError):
        got.extend(results)
    assert ran < len(paths)
    assert len(list(tmp_path.iterdir())) == ran  # nothing started after shutdown returned
    assert got == paths[: len(got)]


def slow_between(i: int, lo: int, hi: int) -> tuple[int, int]:
    import _thread

    if lo <= i < hi:
        time.sleep(0.005)
    return i, _thread.get_native_id()  # the worker's own thread


def test_map_shares_a_run_of_slow_items_between_workers(pool: sm.Pool) -> None:
    # Chunks hold at most _MAP_CHUNK items: a run of slow items longer than that is
    # taken by several workers, as it would be item by item.
    assert max(_map_chunks(5000, 2)) == _MAP_CHUNK < 256
    results = list(pool.map(slow_between, range(5000), *map(itertools.repeat, (255, 511))))
    assert [i for i, _ in results] == list(range(5000))
    assert len({who for i, who in results if 255 <= i < 511}) == 2


def test_map_chunk_sizes_grow_then_shrink_and_cover_every_item() -> None:
    for count in (0, 1, 7, 100, 1000, 100_000):
        for workers in (1, 2, 16):
            sizes = list(_map_chunks(count, workers))
            assert sum(sizes) == count
            assert all(1 <= s <= _MAP_CHUNK for s in sizes)
            if count:
                assert sizes[0] == 1
                assert sizes[-1] <= max(1, count // (4 * workers))
    # Slow items: the first result after one item, the last chunks one item each.
    assert list(_map_chunks(40, 2))[:3] == [1, 2, 4]
    assert list(_map_chunks(40, 2))[-3:] == [1, 1, 1]


# -- shutdown --------------------------------------------------------------------------------


def test_run_after_shutdown() -> None:
    pool = sm.Pool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(pow, 2, 5)
    with pytest.raises(sm.ClosedError):
        pool.submit(mul, 2, 5)
    with pytest.raises(RuntimeError):
        list(pool.map(abs, [1, 2]))


def test_shutdown_is_idempotent() -> None:
    pool = sm.Pool(2)
    assert pool.submit(mul, 3, 4).result(timeout=WAIT) == 12
    pool.shutdown()
    pool.shutdown()
    pool.shutdown(wait=False)
    pool.shutdown(wait=True, cancel_futures=True)
    pool.close()
    assert pool.closed


def test_shutdown_waits_for_queued_work() -> None:
    # test_hang_issue12364
    pool = sm.Pool(2)
    futures = [pool.submit(mul, i, i) for i in range(50)]
    pool.shutdown()
    assert [f.result(timeout=0) for f in futures] == [i * i for i in range(50)]


def test_shutdown_race_issue12456() -> None:
    pool = sm.Pool(2)
    pool.map(str, [2] * (pool.size + 1))
    pool.shutdown()


def test_shutdown_no_wait_results_still_arrive() -> None:
    pool = sm.Pool(2)
    results = pool.map(abs, range(-5, 5))
    futures = [pool.submit(mul, i, 3) for i in range(20)]
    pool.shutdown(wait=False)
    assert pool.closed
    assert list(results) == [abs(v) for v in range(-5, 5)]
    assert [f.result(timeout=WAIT) for f in futures] == [i * 3 for i in range(20)]
    pool.shutdown(wait=True)  # joins what wait=False left running


def test_shutdown_cancel_futures_cancels_the_queued_ones() -> None:
    with gated_pool(1) as (pool, gate):
        blocker = gate.hold(pool)
        queued = [pool.submit(mul, i, 2) for i in range(10)]
        pool.shutdown(wait=False, cancel_futures=True)
        gate.open()
        pool.shutdown(wait=True)
        assert blocker.done()
        states = [
            (f.cancelled(), f.exception(timeout=0) if not f.cancelled() else None) for f in queued
        ]
        assert all(f.cancelled() for f in queued), f"not cancelled: {states}"


def test_shutdown_cancel_futures_lets_running_work_finish() -> None:
    # "Any futures that are completed or running won't be cancelled, regardless of the
    # value of cancel_futures" (concurrent.futures docs).
    with gated_pool(1) as (pool, gate):
        blocker = gate.hold(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        gate.open()
        assert blocker.result(timeout=WAIT) == "released"


def test_shutdown_cancel_futures_without_blockers_finishes_or_cancels_each() -> None:
    # test_cancel_futures, with nothing running for long: every future ends either done
    # with its result or cancelled; none is left pending.
    pool = sm.Pool(1)
    futures = [pool.submit(mul, i, 2) for i in range(50)]
    pool.shutdown(cancel_futures=True)
    for i, f in enumerate(futures):
        assert f.done()
        if not f.cancelled() and f.exception() is None:
            assert f.result() == i * 2


def test_shutdown_after_a_cancelled_submit_does_not_hang() -> None:
    # test_hang_gh94440
    pool = sm.Pool(1)
    assert pool.submit(int).result(timeout=WAIT) == 0
    pool.submit(int).cancel()
    pool.shutdown(wait=True)
    assert pool.closed


def test_context_manager_shutdown() -> None:
    with sm.Pool(2) as pool:
        assert list(pool.map(abs, range(-5, 5))) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
    assert pool.closed
    with pytest.raises(RuntimeError):
        pool.submit(abs, 1)


def test_leaving_the_with_block_by_an_exception_stops_running_work() -> None:
    flag = sm.zeros(2, dtype="int64")
    with pytest.raises(LookupError), sm.Pool(1) as pool:  # noqa: PT012
        running = pool.submit(block, flag)
        queued = pool.submit(mul, 1, 2)
        raise LookupError
    assert running.done()
    assert queued.done()
    assert isinstance(running.exception(timeout=0), RuntimeError)


# -- wait ------------------------------------------------------------------------------------


def test_wait_on_a_duplicated_future(pool: sm.Pool) -> None:
    # bpo-20369
    future = pool.submit(mul, 1, 2)
    done, not_done = cf.wait([future, future], timeout=WAIT, return_when=ALL_COMPLETED)
    assert done == {future}
    assert not_done == set()


def test_wait_first_completed() -> None:
    cancelled = cancelled_future()
    with gated_pool(2) as (pool, gate):
        future2 = gate.hold(pool)
        future1 = pool.submit(mul, 21, 2)
        done, not_done = cf.wait(
            [cancelled, future1, future2], timeout=WAIT, return_when=FIRST_COMPLETED
        )
        assert done == {future1}
        assert not_done == {cancelled, future2}
        gate.open()
        assert future2.result(timeout=WAIT) == "released"


def test_wait_first_completed_some_already_completed() -> None:
    notified, ok = cancelled_and_notified_future(), successful_future()
    with gated_pool(1) as (pool, gate):
        future1 = gate.hold(pool)
        finished, pending = cf.wait(
            [notified, ok, future1], timeout=WAIT, return_when=FIRST_COMPLETED
        )
        assert finished == {notified, ok}
        assert pending == {future1}


def test_wait_first_exception() -> None:
    gate2 = Gate()
    with gated_pool(2) as (pool, gate1):
        try:
            future1 = pool.submit(mul, 2, 21)
            future2 = pool.submit(gated_raise, gate1.flag)
            future3 = pool.submit(gated, gate2.flag, "third")
            # future2 raises only once future1 is done.
            future1.add_done_callback(lambda _: gate1.open())
            finished, pending = cf.wait(
                [future1, future2, future3], timeout=WAIT, return_when=FIRST_EXCEPTION
            )
            assert finished == {future1, future2}
            assert pending == {future3}
            assert future1.result() == 42
            assert type(future2.exception()) is Exception
        finally:
            gate2.open()
        assert future3.result(timeout=WAIT) == "third"


def test_wait_first_exception_some_already_complete() -> None:
    ok, cancelled, notified = (
        successful_future(),
        cancelled_future(),
        cancelled_and_notified_future(),
    )
    with gated_pool(2) as (pool, gate):
        future2 = gate.hold(pool)
        future1 = pool.submit(divmod, 21, 0)
        finished, pending = cf.wait(
            [ok, cancelled, notified, future1, future2],
            timeout=WAIT,
            return_when=FIRST_EXCEPTION,
        )
        assert finished == {ok, notified, future1}
        assert pending == {cancelled, future2}
        assert isinstance(future1.exception(), ZeroDivisionError)


def test_wait_first_exception_one_already_failed() -> None:
    failed = exception_future()
    with gated_pool(1) as (pool, gate):
        future1 = gate.hold(pool)
        finished, pending = cf.wait([failed, future1], timeout=WAIT, return_when=FIRST_EXCEPTION)
        assert finished == {failed}
        assert pending == {future1}


def test_wait_all_completed(pool: sm.Pool) -> None:
    ok, notified, failed = successful_future(), cancelled_and_notified_future(), exception_future()
    future1 = pool.submit(divmod, 2, 0)
    future2 = pool.submit(mul, 2, 21)
    finished, pending = cf.wait(
        [ok, notified, failed, future1, future2], timeout=WAIT, return_when=ALL_COMPLETED
    )
    assert finished == {ok, notified, failed, future1, future2}
    assert pending == set()
    assert future2.result() == 42


def test_wait_timeout() -> None:
    notified, failed, ok = cancelled_and_notified_future(), exception_future(), successful_future()
    with gated_pool(1) as (pool, gate):
        future = gate.hold(pool)
        finished, pending = cf.wait(
            [notified, failed, ok, future], timeout=0.05, return_when=ALL_COMPLETED
        )
        assert finished == {notified, failed, ok}
        assert pending == {future}
        gate.open()
        assert future.result(timeout=WAIT) == "released"


def test_wait_many_released_at_once() -> None:
    # test_pending_calls_race: 100 calls held by one flag, released together.
    with gated_pool(2) as (pool, gate):
        fs = {pool.submit(gated, gate.flag, i) for i in range(100)}
        gate.open()
        done, not_done = cf.wait(fs, timeout=WAIT, return_when=ALL_COMPLETED)
        assert not not_done
        assert sorted(f.result() for f in done) == list(range(100))


# -- as_completed ----------------------------------------------------------------------------


def test_as_completed_no_timeout(pool: sm.Pool) -> None:
    preset = {cancelled_and_notified_future(), exception_future(), successful_future()}
    future1 = pool.submit(mul, 2, 21)
    future2 = pool.submit(mul, 7, 6)
    completed = set(cf.as_completed([*preset, future1, future2], timeout=WAIT))
    assert completed == {*preset, future1, future2}
    assert future1.result() == future2.result() == 42


def test_as_completed_yields_in_completion_order() -> None:
    with gated_pool(2) as (pool, gate):
        slow = gate.hold(pool)
        fast = pool.submit(mul, 6, 7)
        it = cf.as_completed([slow, fast], timeout=WAIT)
        assert next(it) is fast
        gate.open()
        assert next(it) is slow
        assert next(it, None) is None


@pytest.mark.parametrize("timeout", [0, 0.1])
def test_as_completed_times_out(timeout: float) -> None:
    already = {cancelled_and_notified_future(), exception_future(), successful_future()}
    with gated_pool(1) as (pool, gate):
        future = gate.hold(pool)
        completed = set()

        def drain() -> None:
            for f in cf.as_completed(already | {future}, timeout):
                completed.add(f)

        with pytest.raises(TimeoutError, match=r"1 \(of 4\) futures unfinished"):
            drain()
        assert completed == already


def test_as_completed_duplicate_futures(pool: sm.Pool) -> None:
    future1 = pool.submit(mul, 3, 3)
    assert list(cf.as_completed(itertools.repeat(future1, 3), timeout=WAIT)) == [future1]


def test_as_completed_many(pool: sm.Pool) -> None:
    futures = {pool.submit(mul, i, i + 1): i for i in range(60)}
    seen = {futures[f]: f.result() for f in cf.as_completed(futures, timeout=WAIT)}
    assert seen == {i: i * (i + 1) for i in range(60)}


# -- done callbacks --------------------------------------------------------------------------


def test_done_callback_fires_without_anyone_calling_result(pool: sm.Pool) -> None:
    fired = threading.Event()
    seen: list[tuple[object, str]] = []

    def callback(f: Future[Any]) -> None:
        seen.append((f.result(), threading.current_thread().name))
        fired.set()

    pool.submit(mul, 5, 6).add_done_callback(callback)
    assert fired.wait(WAIT)
    assert seen == [(30, "shardmem-callbacks")]


def test_done_callback_with_exception(pool: sm.Pool) -> None:
    fired = threading.Event()
    seen: list[BaseException | None] = []

    def callback(f: Future[Any]) -> None:
        seen.append(f.exception())
        fired.set()

    pool.submit(raiser, "os", "boom").add_done_callback(callback)
    assert fired.wait(WAIT)
    assert isinstance(seen[0], OSError)
    assert str(seen[0]) == "boom"


def test_done_callback_on_an_already_done_future_runs_at_once(pool: sm.Pool) -> None:
    future = pool.submit(mul, 2, 3)
    assert future.result(timeout=WAIT) == 6
    seen: list[tuple[object, threading.Thread]] = []
    future.add_done_callback(lambda f: seen.append((f.result(), threading.current_thread())))
    assert seen == [(6, threading.current_thread())]


def test_done_callbacks_run_in_order_and_survive_a_raising_one(
    pool: sm.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    fired = threading.Event()
    order: list[int] = []

    def bad(_: Future[Any]) -> None:
        order.append(1)
        raise RuntimeError("callback failure")

    def good(_: Future[Any]) -> None:
        order.append(2)
        fired.set()

    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        future = pool.submit(mul, 1, 1)
        future.add_done_callback(bad)
        future.add_done_callback(good)
        assert fired.wait(WAIT)
    assert order == [1, 2]
    assert "exception calling callback" in caplog.text


def test_callback_that_submits_to_the_same_pool_and_waits(pool: sm.Pool) -> None:
    fired = threading.Event()
    seen: list[object] = []

    def callback(f: Future[Any]) -> None:
        try:
            seen.append(pool.submit(mul, f.result(), 10).result(timeout=WAIT))
            inner = pool.map(mul, range(5), range(5), timeout=WAIT)
            seen.append(list(inner))
        except BaseException as exc:  # noqa: BLE001 - reported below
            seen.append(exc)
        fired.set()

    pool.submit(mul, 4, 5).add_done_callback(callback)
    assert fired.wait(WAIT), "the callback deadlocked"
    assert seen == [200, [0, 1, 4, 9, 16]]


def test_callback_chain_on_a_one_worker_pool() -> None:
    # Each callback submits the next step: nothing may be held while callbacks run.
    with sm.Pool(1) as pool:
        fired = threading.Event()
        steps: list[int] = []

        def step(f: Future[Any]) -> None:
            steps.append(f.result())
            if len(steps) < 5:
                pool.submit(mul, f.result(), 2).add_done_callback(step)
            else:
                fired.set()

        pool.submit(mul, 1, 1).add_done_callback(step)
        assert fired.wait(WAIT)
    assert steps == [1, 2, 4, 8, 16]


def test_done_callback_on_a_cancelled_future() -> None:
    with gated_pool(1) as (pool, gate):
        gate.hold(pool)
        queued = pool.submit(mul, 1, 2)
        seen: list[bool] = []
        queued.add_done_callback(lambda f: seen.append(f.cancelled()))
        assert queued.cancel()
        assert seen == [True]
        gate.open()
    assert_idle(pool)


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_a_queued_future_and_not_a_running_one() -> None:
    out = sm.zeros(1, dtype="int64")
    with gated_pool(1) as (pool, gate):
        running = gate.hold(pool)
        queued = pool.submit(mark, out)
        assert not running.cancel()
        assert not running.cancelled()
        assert queued.cancel()
        assert queued.cancelled()
        assert queued.done()
        assert queued.cancel()  # cancelling twice still reports cancelled
        with pytest.raises(CancelledError):
            queued.result(timeout=0)
        with pytest.raises(CancelledError):
            queued.exception(timeout=0)
        gate.open()
        assert running.result(timeout=WAIT) == "released"
        assert not running.cancel()  # done: too late
        # Work queued after the cancelled call still runs; the cancelled one never did.
        assert pool.submit(mul, 3, 3).result(timeout=WAIT) == 9
        assert_idle(pool)
        assert out[0] == 0, "a cancelled call ran"


def test_cancel_a_done_future_fails(pool: sm.Pool) -> None:
    future = pool.submit(mul, 2, 2)
    assert future.result(timeout=WAIT) == 4
    assert not future.cancel()
    assert not future.cancelled()


def test_cancel_every_other_queued_call() -> None:
    with gated_pool(1) as (pool, gate):
        gate.hold(pool)
        futures = [pool.submit(mul, i, 3) for i in range(40)]
        assert all(f.cancel() for f in futures[::2])
        gate.open()
        assert [f.result(timeout=WAIT) for f in futures[1::2]] == [i * 3 for i in range(1, 40, 2)]
        assert all(f.cancelled() for f in futures[::2])
        assert_idle(pool)


def test_cancelled_futures_are_notified_for_wait_and_as_completed() -> None:
    # A queued future cancelled by its owner is CANCELLED until the executor reaches it,
    # then CANCELLED_AND_NOTIFIED (ThreadPoolExecutor calls set_running_or_notify_cancel
    # when its worker dequeues it): only then do wait() and as_completed() count it done.
    with gated_pool(1) as (pool, gate):
        running = gate.hold(pool)
        queued = [pool.submit(mul, i, i) for i in range(5)]
        for f in queued:
            assert f.cancel()
        gate.open()
        assert running.result(timeout=WAIT) == "released"
        assert pool.submit(mul, 2, 2).result(timeout=WAIT) == 4  # FIFO: the queue was passed
        assert_idle(pool)
        not_done = cf.wait(queued, timeout=1.0).not_done
        assert not not_done, f"cancelled futures never notified: {not_done}"
        assert set(cf.as_completed([running, *queued], timeout=1.0)) == {running, *queued}


# -- exceptions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"), [("value", ValueError), ("key", KeyError), ("zero", ZeroDivisionError)]
)
def test_exception_type_is_preserved(pool: sm.Pool, kind: str, error: type[Exception]) -> None:
    future = pool.submit(raiser, kind, "bad thing")
    with pytest.raises(error, match="bad thing") as info:
        future.result(timeout=WAIT)
    assert type(info.value) is error
    exc = future.exception()
    assert type(exc) is error
    assert isinstance(exc.__cause__, sm.KernelError)
    assert "raiser" in str(exc.__cause__)


def test_builtin_exception_from_a_pickled_callable(pool: sm.Pool) -> None:
    future = pool.submit(divmod, 1, 0)
    assert isinstance(future.exception(timeout=WAIT), ZeroDivisionError)


@pytest.mark.parametrize("kind", ["bool", "len"])
def test_falsey_exceptions_are_not_swallowed(pool: sm.Pool, kind: str) -> None:
    # gh-132063: an exception that is falsey (bool() False or len() 0) still fails the call.
    with pytest.raises(Exception, match=f"{kind}{kind}"):
        pool.submit(falsey_raiser, kind, f"{kind}{kind}").result(timeout=WAIT)
    future = pool.submit(falsey_raiser, kind, "again")
    assert future.exception(timeout=WAIT) is not None


def test_system_exit_comes_back_and_the_pool_stays_usable() -> None:
    with sm.Pool(1) as pool:
        future = pool.submit(exit_with, 3)
        with pytest.raises(SystemExit) as info:
            future.result(timeout=WAIT)
        assert info.value.code == 3
        assert isinstance(future.exception(), SystemExit)
        assert pool.submit(mul, 6, 7).result(timeout=WAIT) == 42
        assert list(pool.map(mul, range(4), range(4))) == [0, 1, 4, 9]


def test_importing_numpy_in_a_worker_fails_without_hanging(pool: sm.Pool) -> None:
    with pytest.raises(sm.ShippingError):
        pool.submit(imports_numpy).result(timeout=WAIT)
    assert pool.submit(mul, 2, 2).result(timeout=WAIT) == 4


# -- asyncio ---------------------------------------------------------------------------------


def test_run_in_executor(pool: sm.Pool) -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        first = await loop.run_in_executor(pool, mul, 6, 7)
        second = await loop.run_in_executor(pool, pow, 3, 4)
        return [first, second]

    assert asyncio.run(main()) == [42, 81]


def test_wrap_future_and_gather(pool: sm.Pool) -> None:
    async def main() -> tuple[object, list[object]]:
        loop = asyncio.get_running_loop()
        single = await asyncio.wrap_future(pool.submit(mul, 2, 21))
        several = await asyncio.gather(
            *(asyncio.wrap_future(pool.submit(mul, i, i)) for i in range(10)),
            *(loop.run_in_executor(pool, add, i, 100) for i in range(10)),
        )
        return single, several

    single, several = asyncio.run(main())
    assert single == 42
    assert several == [i * i for i in range(10)] + [i + 100 for i in range(10)]


def test_asyncio_sees_kernel_exceptions(pool: sm.Pool) -> None:
    async def main() -> list[object]:
        return await asyncio.gather(
            asyncio.wrap_future(pool.submit(raiser, "key", "k")),
            asyncio.wrap_future(pool.submit(mul, 1, 2)),
            return_exceptions=True,
        )

    failed, ok = asyncio.run(main())
    assert isinstance(failed, KeyError)
    assert ok == 2


def test_asyncio_wait_for_timeout_then_the_call_still_finishes() -> None:
    with gated_pool(1) as (pool, gate):
        running = gate.hold(pool)

        async def main() -> None:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(running)), 0.05)

        asyncio.run(main())
        gate.open()
        assert running.result(timeout=WAIT) == "released"


# -- functions from python -c and unguarded scripts --------------------------------------------


def _python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        check=False,
        cwd=cwd,
    )


def test_function_defined_in_python_c() -> None:
    code = textwrap.dedent(
        """
        import shardmem as sm

        def collatz(n):
            steps = 0
            while n != 1:
                n = 3 * n + 1 if n % 2 else n // 2
                steps += 1
            return steps

        with sm.Pool(2) as pool:
            parallel = list(pool.map(collatz, range(1, 200), chunksize=7))
            single = pool.submit(collatz, 27).result(timeout=30)
        print(parallel == [collatz(n) for n in range(1, 200)], single, single == collatz(27))
        """
    )
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "111", "True"]


def test_unguarded_script_maps_a_top_level_function(tmp_path: Path) -> None:
    # InterpreterPoolExecutor pickles functions by name, so it cannot run a function
    # defined in an unguarded __main__ script; a Pool ships its code instead.
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            """
            import shardmem as sm

            SCALE = 3

            def work(x, y=1):
                return (x * SCALE) ** 2 - y

            pool = sm.Pool(2)
            parallel = list(pool.map(work, range(50), range(50, 100)))
            futures = [pool.submit(work, i, y=i) for i in range(10)]
            extra = [f.result(timeout=30) for f in futures]
            pool.shutdown()
            print(parallel == list(map(work, range(50), range(50, 100))))
            print(extra == [work(i, y=i) for i in range(10)])
            """
        )
    )
    proc = _python(str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]
    assert not proc.stderr


# -- threads ---------------------------------------------------------------------------------


def test_submit_from_several_threads(pool: sm.Pool) -> None:
    results: dict[int, list[object]] = {}

    def client(k: int) -> None:
        futures = [pool.submit(mul, k, i) for i in range(25)]
        results[k] = [f.result(timeout=WAIT) for f in futures]

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert results == {k: [k * i for i in range(25)] for k in range(4)}


def test_pool_is_a_concurrent_futures_executor(pool: sm.Pool) -> None:
    assert isinstance(pool, cf.Executor)
    future = pool.submit(mul, 1, 1)
    assert isinstance(future, Future)
    assert future.result(timeout=WAIT) == 1


# -- Future.running() (issue 24) -------------------------------------------------------------


def _until(predicate: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.001)


def test_running_is_true_while_the_kernel_runs_as_with_thread_pool_executor() -> None:
    """PENDING while queued (cancel() succeeds), RUNNING once the kernel starts (cancel()
    fails, wait() does not count it done), FINISHED after: as ThreadPoolExecutor."""
    pool = get_pool(1)
    flag = sm.zeros(2, dtype="uint8")
    flag_np = np.asarray(flag)
    queued_flag = sm.zeros(2, dtype="uint8")
    release = threading.Event()
    started = threading.Event()

    def thread_block() -> str:
        started.set()
        release.wait(30)
        return "released"

    with ThreadPoolExecutor(1) as tpe:
        runs = [
            (pool.submit(block, flag), lambda: flag_np[1] == 1),
            (tpe.submit(thread_block), started.is_set),
        ]
        queued = [pool.submit(block, queued_flag), tpe.submit(thread_block)]
        for future, has_started in runs:
            _until(has_started)
            # repr() says "running" as soon as the kernel runs, before running() is asked
            _until(lambda f=future: "state=running" in repr(f))  # type: ignore[misc]
            _until(future.running)  # (as soon as the worker publishes that it runs it)
            assert future.running()
            assert not future.done()
            assert not future.cancel()
            assert future.running()
            done, not_done = cf.wait([future], timeout=0.01)
            assert not done
            assert not_done == {future}
        for future in queued:
            assert not future.running()
            assert future.cancel()
            assert future.cancelled()
            assert not future.running()
        flag_np[0] = 1
        release.set()
        for future, _ in runs:
            assert future.result(timeout=30) == "released"
            assert not future.running()
    assert_idle(pool)


@pytest.mark.parametrize("how", ["close", "shutdown_cancel_futures", "with", "shutdown_only"])
def test_a_cancel_that_fails_then_close_still_returns_the_chunk(how: str) -> None:
    """``cancel()`` of map chunks racing with their start, then the pool closed at once:
    every chunk whose cancel returned False (or that shutdown's own cancel left running)
    returns all its results. (A task a worker skipped in that instant used to be refused
    its second run once the pool was closing: TaskCancelledError.)"""
    for p in range(10):
        pool = sm.Pool(2)
        submit = pool._chunk_submitter(pack_callable(identity))
        kept = []
        for i in range(200):
            base = (p * 200 + i) * 16
            future = submit(tuple((base + k,) for k in range(16)))
            call = future._call  # type: ignore[attr-defined]
            while call is not None and not call.first and not future.done():
                pass
            for _ in range(i * 7 % 64):
                pass
            if how == "shutdown_only" or not future.cancel():
                kept.append((future, [base + k for k in range(16)]))
        if how == "close":
            pool.close()
        elif how == "with":
            pool.__exit__(None, None, None)
        else:
            pool.shutdown(cancel_futures=True)
        for future, want in kept:
            if how == "shutdown_only" and future.cancelled():
                continue
            assert future.result(timeout=30) == want


class _SplitCondition(threading.Condition):
    """A condition whose ``with`` is interrupted once right after the acquire, as a
    SIGINT can do between the lock's C call and the block (CPython checks for signals
    there): the lock stays held unless the code that entered lets go of it."""

    armed = False

    def __enter__(self) -> bool:
        entered = super().__enter__()
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return entered


@pytest.mark.parametrize(
    "wait",
    [
        lambda f: f.done(),
        lambda f: f.result(timeout=0.01),
        lambda f: f.exception(timeout=0.01),
        lambda f: f.cancelled(),
        lambda f: f.add_done_callback(lambda _: None),
        repr,
    ],
    ids=["done", "result", "exception", "cancelled", "add_done_callback", "repr"],
)
def test_a_ctrl_c_splitting_the_futures_with_leaves_its_lock_free(wait: Any) -> None:
    """Ctrl-C right after a future method takes the future's lock: the lock is let go
    (held, the engine's collector would hang on it), and the call completes. (cancel()
    and running() take the C lock itself: the SIGINT storms of test_interrupts.py
    cover them.)"""
    pool = get_pool(1)
    gate = sm.zeros(2, dtype="uint8")
    gate_np = np.asarray(gate)
    future = pool.submit(block, gate)
    _until(lambda: gate_np[1] == 1)  # running: cancel() cannot end it
    lock = future._condition._lock  # type: ignore[attr-defined]
    split = _SplitCondition(lock)
    future._condition = split  # type: ignore[attr-defined]
    split.armed = True
    try:
        with pytest.raises(KeyboardInterrupt):
            wait(future)
        assert not lock._is_owned(), "the interrupted method left the future's lock held"
    finally:
        gate_np[0] = 1
    assert future.result(timeout=30) == "released"
    assert_idle(pool)


def test_running_is_set_by_the_first_task_of_a_call_of_several() -> None:
    """A map chunk of several items is RUNNING from its first item on."""
    pool = get_pool(2)
    assert_idle(pool)  # (an earlier test's dropped tasks drain in the background)
    flag = sm.zeros(2, dtype="uint8")
    flag_np = np.asarray(flag)
    results = pool.map(block, [flag, flag], chunksize=2)  # one call, two tasks
    try:
        _until(lambda: flag_np[1] == 1)
        core_calls = pool._core.calls_in_flight()
        assert len(core_calls) == 1, core_calls
        assert core_calls[0].future is not None
        future = core_calls[0].future
        _until(future.running)
        assert not future.cancel()
    finally:
        flag_np[0] = 1  # (failing, the blocked kernels must not keep the pool busy)
    assert list(results) == ["released", "released"]
    assert not future.running()
    assert future.done()
    assert_idle(pool)


def test_a_cancel_that_fails_never_fails_the_chunk() -> None:
    """``cancel()`` of a map chunk (one call of several tasks) racing with its start: when
    it returns False, the chunk completes with its results, never ``TaskCancelledError``
    (a worker may skip a task in the instant the cancel is tried; it is run again), and
    a second ``cancel()`` says False too (as for a running future)."""
    pool = get_pool(2)
    submit = pool._chunk_submitter(pack_callable(identity))
    refused = 0
    for i in range(2000):
        size = 4 if i % 2 else 16  # (16: a worker skips more items than its record keeps)
        future = submit(tuple((i + k,) for k in range(size)))
        call = future._call  # type: ignore[attr-defined]
        while call is not None and not call.first and not future.done():
            pass  # queued: its tasks may start any moment now (done: the future forgot it)
        for _ in range(i % 64):  # cancel at varied moments of the chunk's start
            pass
        if not future.cancel():
            refused += 1
            assert not future.cancel(), "cancel() said False, then True"
            assert future.result(timeout=30) == [i + k for k in range(size)]
        else:
            assert future.cancelled()
    assert refused > 0, "no cancel raced with a start"
    assert_idle(pool)
