"""Resource safety under hostile use: one test (or more) per finding of the resource audit.

Memory over long runs is measured by tests/test_leaks.py; these tests pin
each mechanism: evicted views, bounded kernel caches, outcomes that cannot
kill a worker, broken pools replaced, fork, overlapping views, barriers where
they cannot work, resource limits and interpreter-wide settings. Paths that
could crash the process run in subprocesses, many times.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import hostile
import numpy as np
import pytest
from engine_state import assert_idle
from hypothesis import given, settings
from hypothesis import strategies as st

import shardmem as sm
from conftest import cpu_hog
from shardmem._engine import _protocol as P  # noqa: N812

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def run_script(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def rank_state(*, rank):  # type: ignore[no-untyped-def]
    return hostile.worker_state()


def count(v):  # type: ignore[no-untyped-def]
    return len(v)


# -- 1. evicted views ---------------------------------------------------------------------------


@pytest.mark.parametrize("hog", [False, True], ids=["idle", "cpu-hog"])
def test_views_of_closed_arrays_do_not_stay_in_worker_caches(hog: bool) -> None:
    rng = np.random.default_rng(1)
    with sm.Pool(2) as pool, cpu_hog(hog):
        for _ in range(600):
            a = rng.random(2_000)
            assert sm.sum(a, pool=pool) == pytest.approx(a.sum())
            x = sm.asarray(a)
            assert sm.reduce(count, x, chunks=7, pool=pool) == 2_000
            del x
        gc.collect()
        # Dropped arrays are evicted in batches: once the pool is idle, within 5 ms.
        assert_idle(pool)
        cached = [s["views"] for s in pool.run(rank_state)]
    # Every array above was dropped: a worker keeps no view of any of them.
    assert cached == [0, 0]


# -- 3. the kernel cache ------------------------------------------------------------------------


def _adder(k: int):  # type: ignore[no-untyped-def]
    def add(v):  # type: ignore[no-untyped-def]
        return v + k

    return add


def test_worker_kernel_caches_are_bounded_and_reship_on_demand() -> None:
    with sm.Pool(2) as pool:
        kernels = [_adder(k) for k in range(P.KERNEL_CACHE + 150)]
        for k, fn in enumerate(kernels):
            assert pool.submit(fn, 1).result() == k + 1
        held = pool.run(rank_state)
        assert all(s["kernels"] <= P.KERNEL_CACHE + 1 for s in held), held
        # The first kernels were dropped from the workers: they are sent again.
        assert [pool.submit(kernels[k], 10).result() for k in range(5)] == [10, 11, 12, 13, 14]


def test_many_distinct_kernels_in_flight_at_once_all_run() -> None:
    """More distinct kernels queued at once than the cache holds: none is dropped early."""
    with sm.Pool(2) as pool:
        count = P.KERNEL_CACHE * 2 + 10
        futures = [pool.submit(_adder(k), 0) for k in range(count)]
        assert [f.result() for f in futures] == list(range(count))


# -- 4. outcomes that cannot kill a worker ------------------------------------------------------

HOSTILE = [
    (hostile.raise_str_raises, "StrRaisesError"),
    (hostile.raise_str_subclass, "StrSubclassError"),
    (hostile.raise_str_interrupts, "StrInterruptsError"),
    (hostile.raise_reduce_exits, "ReduceExitsError"),
    (hostile.return_pickling_interrupts, "PicklingInterrupts"),
    (hostile.return_pickling_exits, "PicklingExits"),
]


@pytest.mark.parametrize(("kernel", "name"), HOSTILE, ids=[n for _, n in HOSTILE])
def test_a_hostile_outcome_reaches_the_caller_and_the_worker_lives(kernel, name) -> None:  # type: ignore[no-untyped-def]
    with sm.Pool(1) as pool:
        with pytest.raises(BaseException) as info:  # noqa: PT011 - any type, checked below
            pool.submit(kernel).result(timeout=30)
        error = info.value
        assert not isinstance(error, KeyboardInterrupt | SystemExit)
        shown = "".join(
            part
            for e in (error, error.__cause__)
            if e is not None
            for part in (type(e).__name__, BaseException.__str__(e))
        )
        assert name in shown, shown
        assert pool.submit(hostile.recursion_limit).result(timeout=30) > 0
        assert not pool.broken
        assert not pool._core.retired


# -- 5. broken pools are replaced ---------------------------------------------------------------


def test_a_broken_default_pool_is_replaced_on_the_next_call() -> None:
    old = sm.default_pool()
    old._core.broken = "worker 0 died: a test broke it"
    assert "broken" in repr(old)
    with pytest.raises(sm.PoolBrokenError, match="a test broke it"):
        old.submit(hostile.recursion_limit)
    assert sm.sum(sm.arange(10)) == 45
    assert sm.default_pool() is not old


# -- 6. fork -------------------------------------------------------------------------------------


def test_fork_after_a_call_gives_a_working_child_every_time() -> None:
    done = run_script(
        """
        import os, warnings
        import shardmem as sm
        warnings.simplefilter("error")  # no warning: the default pool is no user's pool
        crashed = 0
        for i in range(20):
            assert sm.sum(sm.arange(100)) == 4950
            pid = os.fork()
            if pid == 0:
                os._exit(0 if sm.sum(sm.arange(10)) == 45 else 1)
            _, status = os.waitpid(pid, 0)
            crashed += os.waitstatus_to_exitcode(status) != 0
        print("crashed", crashed)
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["crashed", "0"]


def test_multiprocessing_fork_context_works_after_a_call() -> None:
    done = run_script(
        """
        import multiprocessing
        import shardmem as sm

        def child_sum(n):
            return sm.sum(sm.arange(n))

        if __name__ == "__main__":
            assert sm.sum(sm.arange(5)) == 10
            with multiprocessing.get_context("fork").Pool(2) as mp:
                print(mp.map(child_sum, [10, 100]))
            print(sm.sum(sm.arange(4)))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["[45,", "4950]", "6"]


def test_fork_with_a_user_pool_open_warns_and_names_the_cpython_issue() -> None:
    done = run_script(
        """
        import os, warnings
        import shardmem as sm
        pool = sm.Pool(1)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            pid = os.fork()
            if pid == 0:
                os._exit(0)
        os.waitpid(pid, 0)
        print([str(w.message) for w in seen if w.category is RuntimeWarning])
        pool.close()
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "139759" in done.stdout
    assert "close the pool" in done.stdout


# -- 7. overlapping input and output views ------------------------------------------------------


def copy_kernel(x, out):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        out[i] = x[i]


@settings(max_examples=30, deadline=None)
@given(
    shift=st.sampled_from([-7, -1, 1, 3, 64]),
    chunks=st.sampled_from([None, 2, 64]),
    n=st.integers(200, 3000),
)
def test_map_with_overlapping_views_matches_numpy(shift: int, chunks: int | None, n: int) -> None:
    s = sm.arange(n, dtype="float64")
    ref = np.arange(n, dtype="float64")
    k = abs(shift)
    ahead, behind = slice(k, None), slice(None, n - k)
    src, dst = (ahead, behind) if shift > 0 else (behind, ahead)
    np.copyto(ref[dst], ref[src])
    sm.map(copy_kernel, s[src], out=s[dst], chunks=chunks)
    np.testing.assert_array_equal(np.asarray(s), ref)


def add_one_in_place(x, out):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        out[i] = x[i] + 1


def test_map_in_place_on_the_same_view_is_not_copied_and_is_right() -> None:
    s = sm.arange(1000, dtype="float64")
    sm.map(add_one_in_place, s, out=s)
    np.testing.assert_array_equal(np.asarray(s), np.arange(1000) + 1.0)


# -- 8. barrier only where every rank runs ------------------------------------------------------


def waits(x, out, barrier):  # type: ignore[no-untyped-def]
    barrier()


def reduce_waits(x, *, barrier):  # type: ignore[no-untyped-def]
    barrier()
    return 0


def test_map_and_reduce_refuse_a_kernel_that_takes_a_barrier_before_any_work() -> None:
    x = sm.zeros(1)
    with pytest.raises(sm.InvalidArgumentError, match=r"'waits' takes a barrier.*pool\.run"):
        sm.map(waits, x)
    with pytest.raises(sm.InvalidArgumentError, match="takes a barrier"):
        sm.reduce(reduce_waits, x)


def test_a_submitted_kernel_gets_no_barrier_and_the_pool_stays_healthy(pool2: sm.Pool) -> None:
    def meet(barrier):  # type: ignore[no-untyped-def]
        barrier()

    with pytest.raises(TypeError, match="barrier"):
        pool2.submit(meet).result(timeout=30)
    assert pool2.submit(hostile.recursion_limit).result(timeout=5) > 0
    assert pool2.run(lambda *, rank, barrier: barrier() or rank, timeout=30) == [0, 1]


def test_a_map_kernel_taking_kwargs_runs_without_a_barrier() -> None:
    def takes_all(x, out, **kw):  # type: ignore[no-untyped-def]
        out[0] = float("barrier" in kw)

    assert sm.map(takes_all, sm.zeros(1)).tolist() == [0.0]


# -- 9. consistent refusals ---------------------------------------------------------------------


def test_a_kernel_that_cannot_be_set_up_raises_shipping_error_from_every_door(
    pool2: sm.Pool,
) -> None:
    def uses_numpy(x, out=None):  # type: ignore[no-untyped-def]
        return np.sum(x)

    with pytest.raises(sm.ShippingError, match="numpy"):
        sm.map(uses_numpy, sm.zeros(4), pool=pool2)
    with pytest.raises(sm.ShippingError, match="numpy"):
        pool2.submit(uses_numpy, 1).result(timeout=30)
    with pytest.raises(sm.ShippingError, match="numpy"):
        list(pool2.map(uses_numpy, [1, 2]))


# -- 10. resource limits and interpreter-wide settings -------------------------------------------


def test_pool_at_the_file_descriptor_limit_raises_clearly_and_leaks_nothing() -> None:
    done = run_script(
        """
        import os, resource
        import shardmem as sm
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_fds = lambda: len(os.listdir("/proc/self/fd"))
        before = open_fds()
        outcomes = set()
        for room in range(0, 40, 3):
            resource.setrlimit(resource.RLIMIT_NOFILE, (before + room, hard))
            try:
                sm.Pool(4).close()
                outcomes.add("started")
            except sm.ResourceLimitError as exc:
                assert "ulimit" in str(exc), exc
                outcomes.add("refused")
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            assert open_fds() == before, (room, open_fds(), before)
        with sm.Pool(2) as pool:
            assert pool.submit(abs, -3).result() == 3
        print(sorted(outcomes))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "['refused', 'started']"


def test_a_stuck_kernel_is_stopped_even_when_its_worker_cannot_open_files() -> None:
    done = run_script(
        """
        import os, resource
        import shardmem as sm
        def spin():
            while True:
                pass
        with sm.Pool(1) as pool:
            pool.submit(abs, 1).result()
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")), hard))
            try:
                sm.map(lambda x, out: spin(), sm.zeros(1), pool=pool, timeout=0.5)
            except sm.TaskTimeoutError:
                print("stopped")
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            print(pool.submit(abs, -2).result(timeout=30))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["stopped", "2"]


def test_interpreter_wide_settings_do_not_carry_over_between_kernels() -> None:
    with sm.Pool(1) as pool:
        default_limit = pool.submit(hostile.recursion_limit).result()
        default_digits = pool.submit(hostile.int_digits).result()
        assert pool.submit(hostile.set_recursion_limit, 10**6).result() == 10**6
        assert pool.submit(hostile.set_int_digits, 0).result() == 0
        assert pool.submit(hostile.recursion_limit).result() == default_limit
        assert pool.submit(hostile.int_digits).result() == default_digits


def test_a_very_deep_recursion_error_comes_back_quickly_and_short() -> None:
    with sm.Pool(1) as pool:
        with pytest.raises(RecursionError) as info:
            # Formatting all 200k frames would take seconds: far past this timeout.
            pool.submit(hostile.recurse_deeply, 200_000).result(timeout=30)
        text = str(info.value.__cause__ or "")
        assert len(text) < 100_000
        assert not pool._core.retired
        assert pool.submit(hostile.recursion_limit).result(timeout=30) < 200_000


def test_closing_a_pool_from_its_own_done_callback_does_not_deadlock() -> None:
    pool = sm.Pool(2)
    closed = threading.Event()

    def close_it(_future: object) -> None:
        pool.close()
        closed.set()

    pool.submit(abs, -1).add_done_callback(close_it)
    assert closed.wait(30)
    assert pool.closed
    assert pool._core.finished.is_set()


# -- found by review ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [30, 50])
def test_a_kernel_that_lowers_the_recursion_limit_and_fails_leaves_its_worker_alive(
    limit: int,
) -> None:
    with sm.Pool(1) as pool:  # a fresh worker: reporting a failure still has imports to do
        with pytest.raises(ValueError, match=f"recursion limit of {limit}"):
            pool.submit(hostile.low_limit_then_raise, limit).result(timeout=30)
        assert not pool.broken
        assert pool.submit(hostile.recursion_limit).result(timeout=30) > limit


def test_a_gang_call_with_more_ranks_than_tuple_turns_does_not_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Task messages too long for a slot travel as tuples, a bounded number at a time;
    # a gang call's tasks wait at a barrier for each other, so they are never held back.
    monkeypatch.setattr(P, "BIG_TASKS", 2)
    with sm.Pool(4) as pool:
        long = "x" * 400  # makes every task message too long for a slot

        def meet(*, rank, barrier, pad):  # type: ignore[no-untyped-def]
            barrier()
            return rank + len(pad)

        assert pool.run(meet, pad=long, timeout=60) == [400, 401, 402, 403]
        x = sm.arange(1000, dtype="int64")
        np.testing.assert_array_equal(np.asarray(sm.cumsum(x, pool=pool)), np.cumsum(range(1000)))


def test_a_map_kernel_may_take_its_own_parameter_named_barrier() -> None:
    def clip(x, out, *, barrier):  # type: ignore[no-untyped-def]
        for i in range(len(x)):
            out[i] = min(x[i], barrier)

    assert sm.map(clip, sm.arange(6), barrier=3).tolist() == [0, 1, 2, 3, 3, 3]


@pytest.mark.parametrize("hog", [False, True], ids=["idle", "cpu-hog"])
def test_thousands_of_cancelled_futures_never_run_their_kernel(hog: bool) -> None:
    n = 3000
    flags = sm.zeros(n, dtype="int64")
    gate = sm.zeros(2, dtype="int64")
    with sm.Pool(2) as pool, cpu_hog(hog):
        blockers = [pool.submit(hostile.spin_until, gate) for _ in range(2)]
        futures = [pool.submit(hostile.mark, flags, i) for i in range(n)]
        cancelled = [f.cancel() for f in futures]
        gate[0] = 1
        for b in blockers:
            b.result(timeout=60)
        pool.shutdown(wait=True)
    ran = flags.tolist()
    assert sum(cancelled) > 0
    assert [i for i in range(n) if cancelled[i] and ran[i]] == []
    assert all(ran[i] for i in range(n) if not cancelled[i])


def test_shutdown_cancelling_20k_queued_futures_cancels_them_all() -> None:
    gate = sm.zeros(2, dtype="int64")
    pool = sm.Pool(1)
    blocker = pool.submit(hostile.spin_until, gate)
    futures = [pool.submit(abs, -i) for i in range(20_000)]
    pool.shutdown(wait=False, cancel_futures=True)
    gate[0] = 1
    pool.shutdown(wait=True)
    assert blocker.exception() is None
    assert all(f.cancelled() for f in futures)


def spin_partial(x):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(3_000_000):
        total += i
    return total


def test_the_collector_sleeps_while_a_call_runs_after_a_buffer_was_dropped() -> None:
    """A dropped buffer's deferred eviction must not make the collector poll without sleeping.

    It did: while any call ran, the eviction was not yet due but the wait for it
    was, so the collector's timeout was 0 and it used a whole core. The caller's
    process then used ~2 cores of CPU for a 1-worker pool.
    """
    with sm.Pool(1) as pool:
        sm.reduce(spin_partial, sm.arange(4), chunks=1, pool=pool)  # shipped, warm
        sm.arange(16)  # a buffer dropped at once: its eviction is deferred
        wall, cpu = time.perf_counter(), time.process_time()
        sm.reduce(spin_partial, sm.arange(16), chunks=4, pool=pool)
        ratio = (time.process_time() - cpu) / (time.perf_counter() - wall)
    assert ratio < 1.5, f"the process used {ratio:.2f} cores for one busy worker"
