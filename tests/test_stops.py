"""Stops that must never break a healthy pool (the engine issue's cases, and a review's)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future

import numpy as np
import pytest
from engine_state import assert_idle

import shardmem as sm


def sleep_in_c(*, rank, seconds):  # type: ignore[no-untyped-def]
    import time

    if rank == 0:
        time.sleep(seconds)
    return rank


def work(x, i):  # type: ignore[no-untyped-def]
    return sum(x) + i


def hold(flag, seconds):  # type: ignore[no-untyped-def]
    import time

    flag[1] += 1  # started (read by the test; both holders never share a worker)
    end = time.monotonic() + seconds
    while flag[0] == 0 and time.monotonic() < end:
        pass
    return "healthy"


def quick(*, rank):  # type: ignore[no-untyped-def]
    return rank


def test_a_timeout_on_a_call_queued_behind_healthy_work_leaves_that_work_alone() -> None:
    """Two healthy submits occupy both workers; a queued call times out; they finish."""
    flag = sm.zeros(2, dtype="int64")
    with sm.Pool(2) as pool:
        healthy = [pool.submit(hold, flag, 3.0) for _ in range(2)]
        _wait_until_started(flag, 2)  # (a rank's own queue is served before the shared one)
        start = time.monotonic()
        with pytest.raises(sm.TaskTimeoutError, match="still usable") as info:
            pool.run(quick, timeout=0.5)
        assert time.monotonic() - start < 2.0  # it never waited for a grace: nothing ran
        assert "replaced" not in str(info.value)
        flag[0] = 1
        assert [f.result(timeout=10) for f in healthy] == ["healthy", "healthy"]
        assert pool.run(quick) == [0, 1]
        assert_idle(pool)


def test_a_retired_worker_s_replacement_runs_other_calls_queued_on_the_shared_queue() -> None:
    x = sm.arange(100, dtype="int64")
    with sm.Pool(2) as pool:
        futures: list[Future[int]] = []
        stuck_done = threading.Event()

        def submitter() -> None:  # 300 calls queued while the stuck call runs
            for i in range(300):
                futures.append(pool.submit(work, x, i))
                if i == 150:
                    stuck_done.wait(10)

        thread = threading.Thread(target=submitter)
        thread.start()
        try:
            with pytest.raises(sm.TaskTimeoutError, match="replaced"):
                pool.run(sleep_in_c, seconds=3.0, timeout=0.2)
        finally:
            stuck_done.set()
            thread.join()
        assert [f.result(timeout=30) for f in futures] == [4950 + i for i in range(len(futures))]
        assert pool.run(quick) == [0, 1]
        assert_idle(pool)


def test_more_stuck_workers_than_spares_keep_their_rank_and_the_pool_works() -> None:
    with sm.Pool(1) as pool:
        core = pool._core
        spares = len(core.records)
        for _ in range(spares + 1):
            with pytest.raises(sm.TaskTimeoutError):
                pool.run(sleep_in_c, seconds=4.0, timeout=0.05)
        assert not pool.broken
        assert pool.submit(abs, -5).result(timeout=30) == 5  # once the last C call returned
        assert_idle(pool, timeout=30)


def test_a_done_callback_that_raises_does_not_stop_later_callbacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []
    with sm.Pool(1) as pool:

        def explode(_: Future[int]) -> None:
            raise SystemExit("from a callback")

        first = pool.submit(abs, -1)
        first.add_done_callback(explode)
        with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
            second = pool.submit(abs, -2)
            done = threading.Event()
            second.add_done_callback(lambda f: (seen.append(f.result()), done.set()))
            assert done.wait(10)
    assert seen == [2]


def test_a_timed_out_call_pins_nothing_once_it_returns() -> None:
    flag = sm.zeros(2, dtype="int64")
    x = sm.arange(1000, dtype="int64")
    with sm.Pool(2) as pool:
        busy = [pool.submit(hold, flag, 5.0) for _ in range(2)]
        _wait_until_started(flag, 2)
        with pytest.raises(sm.TaskTimeoutError):
            sm.map(lambda a, o: None, x, pool=pool, timeout=0.2)
        assert x.buffer.id not in pool._core.in_use  # its queued tasks are dropped unread
        flag[0] = 1
        assert [f.result(timeout=10) for f in busy] == ["healthy", "healthy"]
        # The busy workers take the buffer's view (queued for them) only now: then it closes.
        assert_idle(pool)
        pool.run(quick)
        x.buffer.close()


def test_cancel_true_means_the_kernel_never_ran() -> None:
    """A cancel racing with a worker dequeuing the task: True only if it never runs."""
    marks = sm.zeros(3000, dtype="int64")
    with sm.Pool(2) as pool:
        cancelled = []
        for i in range(3000):
            f = pool.submit(mark, marks, i)
            if f.cancel():
                cancelled.append(i)
        assert_idle(pool)
        got = np.asarray(marks)
        ran = [i for i in cancelled if got[i]]
        assert not ran, f"{len(ran)} cancelled calls ran anyway: {ran[:5]}"


def mark(out, i):  # type: ignore[no-untyped-def]
    out[i] = 1


def _wait_until_started(flag: sm.SharedArray, count: int, limit: float = 10.0) -> None:
    end = time.monotonic() + limit
    while flag[1] < count:
        assert time.monotonic() < end, "the holding kernels never started"
