"""The engine: pool life cycle, SPMD runs, futures, errors, stops, threads."""

from __future__ import annotations

import concurrent.futures
import gc
import math
import operator
import threading
import time
import weakref
from concurrent import interpreters

import hostile
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shardmem as sm
from conftest import get_pool
from shardmem._engine import Task, execute
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._handoff import qput

# -- kernels used below (module level: shipped with their globals) -----------------------

SCALE = 3


def _half(n: int) -> float:
    return n / 2


def fill_ranks(out, *, rank, size, base):  # type: ignore[no-untyped-def]
    n = len(out)
    for i in range(rank * n // size, (rank + 1) * n // size):
        out[i] = base + SCALE * i + int(_half(2 * rank) * 0)
    return rank


def two_phase(x, totals, out, *, rank, size, barrier):  # type: ignore[no-untyped-def]
    """A two-pass prefix sum: local totals, a barrier, then offsets."""
    n = len(x)
    lo, hi = rank * n // size, (rank + 1) * n // size
    totals[rank] = sum(x[lo:hi])
    barrier()
    acc = sum(totals[:rank])
    for i in range(lo, hi):
        acc += x[i]
        out[i] = acc
    barrier()
    return acc


def raiser(*, kind, message):  # type: ignore[no-untyped-def]
    raise {"value": ValueError, "key": KeyError, "zero": ZeroDivisionError}[kind](message)


def spin_forever():  # type: ignore[no-untyped-def]
    while True:
        pass


def wait_for_flag(flag):  # type: ignore[no-untyped-def]
    while flag[0] == 0:
        pass


def wait_at_barrier_then_fail(*, rank, barrier):  # type: ignore[no-untyped-def]
    if rank == 0:
        raise RuntimeError("rank 0 fails before the barrier")
    barrier()


def step_twice(counter, *, rank, size, barrier, steps):  # type: ignore[no-untyped-def]
    for step in range(steps):
        if rank == step % size:
            counter[0] += 1
        barrier()
        assert counter[0] == step + 1
        barrier()
    return counter[0]


def total(values):  # type: ignore[no-untyped-def]
    return sum(values)


def uses_math(*, x):  # type: ignore[no-untyped-def]
    return math.sqrt(x)


# -- life cycle ----------------------------------------------------------------------------------


def test_pool_starts_runs_and_closes_without_leaks() -> None:
    before = len(interpreters.list_all())
    with sm.Pool(2) as pool:
        assert pool.size == 2
        assert len(interpreters.list_all()) == before + 2
        assert "open" in repr(pool)
    assert pool.closed
    assert "closed" in repr(pool)
    assert len(interpreters.list_all()) == before
    pool.close()  # idempotent


def test_closed_pool_refuses_work() -> None:
    pool = sm.Pool(1)
    pool.close()
    with pytest.raises(sm.ClosedError, match="pool is closed"):
        pool.run(total, sm.zeros(3))


def test_dropped_pool_is_finalized() -> None:
    before = len(interpreters.list_all())
    pool = sm.Pool(1)
    ref = weakref.ref(pool)
    del pool
    gc.collect()
    assert ref() is None
    assert len(interpreters.list_all()) == before


@pytest.mark.parametrize(
    ("workers", "error", "match"),
    [
        (0, sm.InvalidArgumentError, "at least 1 worker"),
        (-3, sm.InvalidArgumentError, "at least 1 worker"),
        (2.0, sm.ArgumentTypeError, "must be an int"),
        ("2", sm.ArgumentTypeError, "must be an int"),
        (2**70, sm.InvalidArgumentError, "at most 4096"),
        (4097, sm.InvalidArgumentError, "one per core"),
    ],
)
def test_bad_worker_counts(workers: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        sm.Pool(workers)  # type: ignore[arg-type]


def test_default_pool_is_shared_and_module_functions_use_it() -> None:
    pool = sm.default_pool()
    assert pool is sm.default_pool()
    assert sorted(sm.run(lambda *, rank: rank)) == list(range(pool.size))  # type: ignore[misc]
    assert sm.submit(uses_math, x=16.0).result(timeout=30) == 4.0


# -- SPMD runs, barriers, buffers ---------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(workers=st.integers(1, 4), n=st.integers(0, 257), base=st.integers(-1000, 1000))
def test_run_writes_every_rank_share(workers: int, n: int, base: int) -> None:
    pool = get_pool(workers)
    out = sm.zeros(n, dtype="int64")
    ranks = pool.run(fill_ranks, out, base=base)
    assert ranks == list(range(workers))
    np.testing.assert_array_equal(np.asarray(out), base + SCALE * np.arange(n))


@settings(max_examples=20, deadline=None)
@given(
    workers=st.integers(1, 4),
    values=st.lists(st.integers(-(2**20), 2**20), max_size=300),
)
def test_barrier_separates_phases(workers: int, values: list[int]) -> None:
    pool = get_pool(workers)
    x = sm.asarray(values, dtype="int64") if values else sm.zeros(0, dtype="int64")
    totals = sm.zeros(workers, dtype="int64")
    out = sm.zeros(len(values), dtype="int64")
    pool.run(two_phase, x, totals, out)
    np.testing.assert_array_equal(np.asarray(out), np.cumsum(np.asarray(values, dtype=np.int64)))


def test_many_barriers_in_a_row(pool2: sm.Pool) -> None:
    counter = sm.zeros(1, dtype="int64")
    assert pool2.run(step_twice, counter, steps=200) == [200, 200]


def test_buffers_are_shared_not_copied(pool2: sm.Pool) -> None:
    def write(buf, *, rank):  # type: ignore[no-untyped-def]
        buf[rank] = 7 + rank

    buf = sm.SharedBuffer(4)
    pool2.run(write, buf)
    assert bytes(buf.memoryview()) == bytes([7, 8, 0, 0])
    buf.close()


def test_closing_a_buffer_releases_worker_views(pool2: sm.Pool) -> None:
    a = sm.zeros(1000, dtype="float64")
    pool2.run(total, a)
    buf = a.buffer
    del a
    buf.close()  # the workers' cached views are dropped first, so no BufferInUseError
    assert buf.closed


def test_closed_buffer_is_refused(pool2: sm.Pool) -> None:
    buf = sm.SharedBuffer(8)
    buf.close()
    with pytest.raises(sm.ClosedError):
        pool2.run(total, buf)


def test_non_contiguous_arrays_are_refused_with_a_fix(pool2: sm.Pool) -> None:
    a = sm.zeros((4, 4), dtype="int32")
    with pytest.raises(sm.InvalidArgumentError, match=r"not C-contiguous.*a\.copy\(\)"):
        pool2.run(total, a[:, ::2])


def test_positional_scalars_are_refused(pool2: sm.Pool) -> None:
    with pytest.raises(sm.ArgumentTypeError, match="keyword parameters"):
        pool2.run(total, 3)


# -- futures ----------------------------------------------------------------


def test_submit_returns_a_future(pool2: sm.Pool) -> None:
    a = sm.arange(1000, dtype="int64")
    futures = [pool2.submit(total, a) for _ in range(20)]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)
    assert [f.result(timeout=30) for f in futures] == [499500] * 20
    assert futures[0].exception() is None


def test_future_carries_the_kernel_exception(pool2: sm.Pool) -> None:
    future = pool2.submit(raiser, kind="key", message="nope")
    assert isinstance(future.exception(timeout=30), KeyError)
    with pytest.raises(KeyError, match="nope"):
        future.result()


def test_future_result_timeout_then_a_stopping_close() -> None:
    pool = sm.Pool(1)
    started = sm.zeros(2, dtype="int64")
    future = pool.submit(hostile.spin_until, started)
    while started[1] == 0:  # until the kernel runs (polling a condition)
        time.sleep(0.001)
    with pytest.raises(TimeoutError):
        future.result(timeout=0.05)
    assert not future.cancel()  # as concurrent.futures: a running call is not cancelled
    pool._core.close(cancel=True)  # what leaving a with block by an exception does
    with pytest.raises(sm.ClosedError):
        future.result(timeout=10)


# -- errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"), [("value", ValueError), ("key", KeyError), ("zero", ZeroDivisionError)]
)
def test_kernel_exceptions_keep_type_message_and_remote_traceback(
    pool2: sm.Pool, kind: str, error: type[Exception]
) -> None:
    with pytest.raises(error, match="bad thing") as info:
        pool2.run(raiser, kind=kind, message="bad thing")
    cause = info.value.__cause__
    assert isinstance(cause, sm.KernelError)
    assert cause.kernel == "raiser"
    assert cause.exc_type == error.__name__
    assert "rank" in cause.task
    assert "in raiser" in cause.remote_traceback
    assert "raise {" in cause.remote_traceback  # the source line travels with the kernel
    assert pool2.run(uses_math, x=4.0) == [2.0, 2.0]  # still usable


def test_unpicklable_exception_becomes_kernel_error(pool2: sm.Pool) -> None:
    def raise_local(*, rank):  # type: ignore[no-untyped-def]
        import threading

        class Local(Exception):  # noqa: N818 - the name is what the test checks
            pass

        error = Local(f"local {rank}")
        error.lock = threading.Lock()  # neither pickle nor cloudpickle can send it
        raise error

    with pytest.raises(sm.KernelError, match=r"raised Local: local [01]") as info:
        pool2.run(raise_local)
    assert "Worker traceback" in str(info.value)


def test_a_failure_stops_ranks_waiting_at_a_barrier(pool2: sm.Pool) -> None:
    with pytest.raises(RuntimeError, match="rank 0 fails"):
        pool2.run(wait_at_barrier_then_fail, timeout=20)
    assert pool2.run(uses_math, x=1.0) == [1.0, 1.0]


def test_system_exit_in_a_kernel_is_reported_not_fatal(pool2: sm.Pool) -> None:
    def exits():  # type: ignore[no-untyped-def]
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        pool2.run(exits)
    assert pool2.run(uses_math, x=1.0) == [1.0, 1.0]


# -- stopping ----------------------------------------------------------------


def test_timeout_stops_an_infinite_loop_and_the_pool_stays_usable(pool2: sm.Pool) -> None:
    start = time.monotonic()
    with pytest.raises(sm.TaskTimeoutError, match="did not finish within its timeout"):
        pool2.run(spin_forever, timeout=0.2)
    assert time.monotonic() - start < 5
    a = sm.arange(10, dtype="int64")
    assert pool2.run(total, a) == [45, 45]


def test_queued_tasks_of_a_timed_out_call_are_skipped() -> None:
    with sm.Pool(1) as pool:
        tasks = [Task((), (), label=f"t{i}") for i in range(5)]
        with pytest.raises(sm.TaskTimeoutError):
            execute(pool, spin_forever, tasks, timeout=0.1)
        assert pool.run(uses_math, x=25.0) == [5.0]


def test_bad_timeout(pool2: sm.Pool) -> None:
    with pytest.raises(sm.InvalidArgumentError, match="seconds >= 0"):
        pool2.run(total, sm.zeros(2), timeout=-1)


# -- threads ----------------------------------------------------------------


def test_calls_from_four_threads_at_once(pool2: sm.Pool) -> None:
    errors: list[BaseException] = []
    results: dict[int, list[int]] = {}

    def worker(k: int) -> None:
        try:
            got = []
            for i in range(30):
                out = sm.zeros(50 + k, dtype="int64")
                pool2.run(fill_ranks, out, base=k * 1000 + i)
                got.append(int(np.asarray(out).sum()))
                if k == 3 and i % 10 == 0:
                    with pytest.raises(ValueError, match="thread 3"):
                        pool2.run(raiser, kind="value", message="thread 3")
            results[k] = got
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        n = 50 + k
        want = [int((k * 1000 + i) * n + SCALE * n * (n - 1) // 2) for i in range(30)]
        assert results[k] == want


def test_progress_bar(pool2: sm.Pool, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = [Task((), (("x", float(i)),), label=f"t{i}") for i in range(8)]
    from shardmem._primitives.blockwise import run_tasks

    got = run_tasks(pool2, uses_math, tasks, progress=True)
    assert got == [math.sqrt(i) for i in range(8)]
    err = capsys.readouterr().err
    assert "8/8" in err or "uses_math" in err


def test_unsendable_return_value_says_what_to_do(pool2: sm.Pool) -> None:
    def returns_a_view(x):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(TypeError, match=r"returned a memoryview, which cannot be sent back"):
        pool2.run(returns_a_view, sm.zeros(4))
    assert pool2.run(uses_math, x=4.0) == [2.0, 2.0]


def test_closing_a_pool_while_another_thread_waits() -> None:
    pool = sm.Pool(1)
    a = sm.arange(100, dtype="int64")
    futures = [pool.submit(total, a) for _ in range(50)]
    blocked = pool.submit(spin_forever)
    outcome: list[BaseException | None] = []

    def wait_for_it() -> None:
        outcome.append(blocked.exception(timeout=60))

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    pool._core.close(cancel=True)  # what the finalizer of a dropped pool does
    waiter.join(30)
    assert not waiter.is_alive()
    assert isinstance(outcome[0], sm.TaskCancelledError | sm.ClosedError)
    for f in futures:  # queued before the stop: each either ran or says why not
        exc = f.exception(timeout=10)
        assert exc is None or isinstance(exc, sm.TaskCancelledError | sm.ClosedError)
        if exc is None:
            assert f.result() == 4950
    pool.close()


def test_graceful_close_finishes_queued_work() -> None:
    pool = sm.Pool(2)
    a = sm.arange(1000, dtype="int64")
    futures = [pool.submit(total, a) for _ in range(100)]
    pool.close()
    assert [f.result(timeout=10) for f in futures] == [499500] * 100


def test_buffer_close_while_a_call_is_queued_is_refused_then_works() -> None:
    with sm.Pool(1) as pool:
        flag = sm.zeros(1, dtype="int64")
        blocker = pool.submit(wait_for_flag, flag)
        buf = sm.SharedBuffer(16)
        queued = pool.submit(total, buf)
        with pytest.raises(sm.BufferInUseError, match="still viewed"):
            buf.close()  # its view is on the way to the worker: nothing is freed
        flag[0] = 1
        assert blocker.result(timeout=10) is None
        assert queued.result(timeout=10) == 0
        buf.close()  # the worker's cached view is dropped first
        assert buf.closed


def test_leaving_the_with_block_by_an_exception_stops_running_work() -> None:
    def leave_by_error() -> sm.Pool:
        with sm.Pool(1) as pool:
            pool.submit(spin_forever)
            raise ZeroDivisionError(pool)

    with pytest.raises(ZeroDivisionError) as info:
        leave_by_error()
    assert info.value.args[0].closed


# -- message slots (frequent messages are ints on the queues: _protocol.py) ---------------------


def _all_slots_free(pool: sm.Pool, timeout: float = 10) -> bool:
    """Every slot is free once the dropped tasks of stopped calls have been dequeued."""
    core = pool._core
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        arena = core.arena
        slots = sum(P.FIRST_CHUNK << k for k in range(len(arena.chunks)))
        if not core.slot_of and not core.owner and len(arena.free) == slots:
            return True
        time.sleep(0.01)
    calls = {id(c): c for c in core.owner.values()}.values()
    print(
        f"slots in use: {len(core.slot_of)}, free {len(arena.free)} of {slots}; tasks owned: "
        f"{len(core.owner)} of calls {[(c.name, c.unreported, c.future) for c in calls]}; "
        f"backlog {len(core.backlog)}; currents {[core.ctrl[w.current] for w in core.workers]}"
    )
    return False


def echo(*, value):  # type: ignore[no-untyped-def]
    return value


def test_messages_too_long_for_a_slot_or_for_marshal_still_travel(pool2: sm.Pool) -> None:
    long = "x" * 10 * P.SLOT_BYTES
    assert pool2.run(echo, value=long) == [long, long]  # outcome too long: a tuple
    assert pool2.run(echo, value=list(range(500))) == [list(range(500))] * 2  # task too long
    assert pool2.run(echo, value=range(3)) == [range(3)] * 2  # marshal cannot write a range
    assert (
        pool2.run(echo, value=(1.5, None, b"ab", {"k": [True]}))
        == [(1.5, None, b"ab", {"k": [True]})] * 2
    )
    assert _all_slots_free(pool2)


def test_tasks_beyond_the_last_free_slot_travel_as_tuples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(P, "MAX_CHUNKS", 1)
    x = sm.arange(3000, dtype="int64")
    with sm.Pool(2) as pool:
        out = sm.map(lambda a, o: o.__setitem__(0, a[0] * 2), x, chunks=3000, pool=pool)
        np.testing.assert_array_equal(np.asarray(out), np.arange(3000) * 2)
        assert len(pool._core.arena.chunks) == 1
        assert _all_slots_free(pool)


def test_the_arena_grows_for_big_calls_and_shrinks_when_idle(pool2: sm.Pool) -> None:
    x = sm.arange(5000, dtype="int64")
    for n in (5000, 100, 5000, 1500):  # shrink, then grow again through the same chunk numbers
        out = sm.map(lambda a, o: o.__setitem__(0, a[0] + 7), x[:n], chunks=n, pool=pool2)
        np.testing.assert_array_equal(np.asarray(out), np.arange(n) + 7)
        assert len(pool2._core.arena.chunks) == 1
        assert _all_slots_free(pool2)


def test_every_slot_is_returned_after_failures_and_timeouts(pool2: sm.Pool) -> None:
    x = sm.arange(64, dtype="int64")
    for chunks in (None, 3, 16):
        with pytest.raises(KeyError):
            sm.map(lambda a, o, *, start: {}[start] if start else None, x, chunks=chunks,
                   pool=pool2)  # fmt: skip
        with pytest.raises(sm.TaskTimeoutError):  # (a kernel that cannot end within 0 s)
            sm.map(lambda a, o: time.sleep(0.5), x, chunks=chunks, pool=pool2, timeout=0)
    assert pool2.run(echo, value=1) == [1, 1]
    assert _all_slots_free(pool2)


def test_barrier_tokens_of_very_late_calls_travel_as_tuples() -> None:
    with sm.Pool(2) as pool:
        pool._core.next_id = 1 << 29  # past what an int token can carry
        counter = sm.zeros(1, dtype="int64")
        assert pool.run(step_twice, counter, steps=20) == [20, 20]


def add_k(a, o, *, k, fail_at):  # type: ignore[no-untyped-def]
    """A reduce kernel that also writes its second input."""
    for i in range(len(a)):
        if a[i] == fail_at:
            raise ValueError(f"element {fail_at}")
        o[i] = a[i] + k
    return "x" * k  # long outcomes (k > 250) do not fit a slot


@settings(max_examples=15, deadline=None)
@given(
    plans=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([None, 1, 7, 300]),  # chunks
                st.sampled_from([0, 3, 400]),  # k: 400 gives an outcome too long for a slot
                st.booleans(),  # fail
            ),
            min_size=1,
            max_size=6,
        ),
        min_size=4,
        max_size=4,
    )
)
def test_slots_stay_consistent_under_calls_from_four_threads(
    plans: list[list[tuple[int | None, int, bool]]],
) -> None:
    """Threads mixing slot and tuple messages, failures and futures leave every slot free."""
    pool = get_pool(2)
    x = sm.arange(300, dtype="int64")
    errors: list[BaseException] = []

    def kw(chunks: int | None, k: int, fail_at: int) -> dict[str, object]:
        return {"chunks": chunks, "pool": pool, "k": k, "fail_at": fail_at}

    def worker(plan: list[tuple[int | None, int, bool]]) -> None:
        try:
            for chunks, k, fail in plan:
                out = sm.zeros(300, dtype="int64")
                fail_at = 150 if fail else -1
                if fail:
                    with pytest.raises(ValueError, match="element 150"):
                        sm.reduce(add_k, x, out, combine=operator.add, **kw(chunks, k, fail_at))
                    continue
                futures = [pool.submit(echo, value=k) for _ in range(3)]
                got = sm.reduce(add_k, x, out, combine=operator.add, **kw(chunks, k, fail_at))
                assert got == "x" * k * (chunks or 1)
                np.testing.assert_array_equal(np.asarray(out), np.arange(300) + k)
                assert [f.result(timeout=30) for f in futures] == [k] * 3
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(plan,)) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert _all_slots_free(pool)
    assert pool.run(echo, value=2) == [2, 2]  # (a shrink skipped under contention runs here)
    assert len(pool._core.arena.chunks) == 1


def _square(x):  # type: ignore[no-untyped-def]
    return x * x


def test_a_pool_nobody_holds_finishes_its_work_then_closes() -> None:
    """``sm.Pool(2).map(...)`` / ``.submit(...).result()`` inline: the calls keep the pool
    alive until they complete (as ThreadPoolExecutor's work does), then it closes itself."""
    before = len(interpreters.list_all())
    threads_before = _engine_threads()
    for _ in range(20):
        assert list(sm.Pool(2).map(_square, range(10))) == [i * i for i in range(10)]
        assert sm.Pool(2).submit(_square, 3).result(timeout=30) == 9
    assert list(sm.Pool(2).map(_square, range(10), chunksize=3)) == [i * i for i in range(10)]
    results = sm.Pool(2).map(_square, range(5))
    gc.collect()
    assert list(results) == [0, 1, 4, 9, 16]
    del results
    end = time.monotonic() + 30
    while len(interpreters.list_all()) > before and time.monotonic() < end:
        time.sleep(0.01)
    assert len(interpreters.list_all()) == before, "a pool nobody holds was not closed"
    while _engine_threads() - threads_before and time.monotonic() < end:
        time.sleep(0.01)
    assert not _engine_threads() - threads_before, "threads of dropped pools are left"


def _engine_threads() -> set[int]:
    return {
        t.ident or 0
        for t in threading.enumerate()
        if t.name.startswith("shardmem-") and t.name != "shardmem-callbacks"
    }


# -- run()'s own keywords and the kernel's signature, checked before any work (issue 25) ---------


def _k_pool(*, rank, pool):  # type: ignore[no-untyped-def]
    return pool


def _k_timeout(*, rank, timeout):  # type: ignore[no-untyped-def]
    return timeout


def _k_needs(*, rank, scale):  # type: ignore[no-untyped-def]
    return rank * scale


def _k_any(*, rank, **kw):  # type: ignore[no-untyped-def]
    return (kw["a"], kw["b"])


def test_run_refuses_a_kernel_requiring_one_of_its_own_keywords(pool2: sm.Pool) -> None:
    for call in (
        lambda: sm.run(_k_timeout, timeout=5, pool=pool2),
        lambda: pool2.run(_k_timeout, timeout=5),
    ):
        with pytest.raises(
            sm.ArgumentTypeError,
            match=r"run\(\): kernel '_k_timeout' requires the keyword timeout.*rename",
        ):
            call()
    with pytest.raises(sm.ArgumentTypeError, match=r"requires the keyword pool"):
        sm.run(_k_pool, pool=pool2)


def test_pool_run_refuses_pool_as_sm_run_does(pool2: sm.Pool) -> None:
    with pytest.raises(sm.ArgumentTypeError, match=r"run\(\): pool= is sm\.run\(\)'s own keyword"):
        pool2.run(_k_pool, pool="x")
    with pytest.raises(sm.ArgumentTypeError, match=r"pool='x' is a str"):
        sm.run(_k_pool, pool="x")  # type: ignore[arg-type]


def test_run_refuses_a_missing_keyword_before_any_work(pool2: sm.Pool) -> None:
    with pytest.raises(sm.ArgumentTypeError, match=r"requires the keyword scale.*scale=\.\.\."):
        pool2.run(_k_needs)
    assert pool2.run(_k_needs, scale=3) == [0, 3]
    assert pool2.run(_k_any, a=1, b=2) == [(1, 2), (1, 2)]


@pytest.mark.parametrize("progress", ["yes", 1, None])
def test_run_refuses_a_progress_that_is_not_a_bool(pool2: sm.Pool, progress: object) -> None:
    with pytest.raises(sm.ArgumentTypeError, match=r"run\(\): progress=.* must be True or False"):
        sm.run(_k_needs, scale=1, pool=pool2, progress=progress)  # type: ignore[arg-type]


def _square(v):  # type: ignore[no-untyped-def]
    return v * v


def test_a_worker_whose_stop_is_lost_still_ends_and_close_returns() -> None:
    """Closing tells each worker to end with one STOP on the shared queue. Should one be
    lost (seen once in about 25 interrupted closes of a pool whose stuck worker had been
    replaced), the worker left asleep with nothing queued is sent another, so close()
    returns instead of waiting for good."""
    pool = sm.Pool(2)
    assert [pool.submit(_square, v).result(timeout=30) for v in range(4)] == [0, 1, 4, 9]
    core = pool._core

    def one_stop_short() -> None:  # as if one worker's STOP had been taken and lost
        core.workers_told = True
        qput(core.shared.id, (P.STOP,))
        for w in core.workers:
            w.waker.wake()

    core._stop_workers = one_stop_short  # type: ignore[method-assign]
    closer = threading.Thread(target=pool.close, name="closer")
    closer.start()
    closer.join(30)
    assert not closer.is_alive(), "close() waits for a worker whose STOP was lost"
    assert core.finished.is_set()
