"""The worker loop's start-up weight and its waits (shardmem/_engine/_worker.py)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pools import get_pool

import shardmem as sm


def loaded_modules() -> tuple[str, ...]:
    """The modules a worker has imported (names: plain strings travel without pickle)."""
    import sys

    return tuple(sorted(sys.modules))


def worker_path() -> tuple[str, ...]:
    import sys

    return tuple(sys.path)


def test_a_fresh_worker_has_not_imported_pickle_or_collections() -> None:
    # A start-up message that travelled by pickle (sys.path as a list) made every worker
    # import pickle and the modules it needs: ~2 MiB and ~20 ms per worker.
    with sm.Pool(1) as pool:
        modules = pool.submit(loaded_modules).result(timeout=60)
    assert "pickle" not in modules
    assert "collections" not in modules
    assert "_worker" not in modules  # the loop runs as code, never imported by name
    assert "marshal" in modules  # (the list is real: the loop's own imports are there)


def test_a_c_function_travels_by_name_without_pickle_in_the_worker() -> None:
    # abs, math.fsum and operator.add are sent by name, as pickle would send them, but
    # the worker looks them up itself: importing pickle there costs ~1 MiB per worker.
    import math
    import operator

    with sm.Pool(1) as pool:
        assert pool.submit(abs, -3).result(timeout=60) == 3
        assert list(pool.map(math.fsum, [[0.1] * 10, [1.0, 2.0]])) == [1.0, 3.0]
        assert pool.submit(operator.add, 2, 5).result(timeout=60) == 7
        modules = pool.submit(loaded_modules).result(timeout=60)
        assert "pickle" not in modules
        assert "math" in modules  # imported by name, as unpickling would have
        # Any other callable still travels by pickle, and works the same.
        assert pool.submit(int.from_bytes, b"\x01\x00", "little").result(timeout=60) == 1
        assert pool.submit(str.upper, "ab").result(timeout=60) == "AB"


def test_a_c_function_of_a_module_a_worker_cannot_import_fails_its_task() -> None:
    # NumPy's C functions name a module that cannot load in a subinterpreter: the task
    # fails with a ShippingError that says so, as when the function travelled by pickle,
    # and the pool goes on.
    from numpy._core import _multiarray_umath as umath

    fn = umath.normalize_axis_index
    with sm.Pool(1) as pool:
        with pytest.raises(sm.ShippingError, match="does not support loading in subinterpreters"):
            pool.submit(fn, 1, 3).result(timeout=60)
        assert pool.submit(abs, -1).result(timeout=60) == 1


def test_a_c_function_that_is_not_its_modules_attribute_is_refused_as_pickle_refuses_it() -> None:
    # Only a function that its module really holds under its name travels by name: a
    # bound C method of a module object with no usable __name__ is left to pickle,
    # which refuses it at submit (before, reading the name raised from submit).
    import types

    nameless = types.ModuleType("scratch")
    del nameless.__name__
    odd = types.ModuleType("scratch2")
    odd.__name__ = ["not", "a", "name"]  # type: ignore[assignment]
    with sm.Pool(1) as pool:
        for fn in (nameless.__dir__, odd.__dir__):
            with pytest.raises(sm.ShippingError, match="pickle refused it"):
                pool.submit(fn)
        assert pool.submit(abs, -2).result(timeout=60) == 2


def test_a_worker_sees_the_callers_sys_path(pool2: sm.Pool) -> None:
    assert list(pool2.submit(worker_path).result(timeout=60)) == sys.path


def rendezvous(flags: memoryview, *, me: int, other: int) -> bool:
    """Raise this task's flag, then wait (bounded) for the other task's: True if it came."""
    import time

    flags[me] = 1
    end = time.monotonic() + 30
    while not flags[other] and time.monotonic() < end:
        time.sleep(0.0005)
    return bool(flags[other])


@settings(max_examples=10, deadline=None)
@given(via_map=st.booleans(), rounds=st.integers(1, 3))
def test_two_tasks_queued_together_run_at_once_on_two_workers(via_map: bool, rounds: int) -> None:
    # Each task waits for the other: they finish only if a second worker (asleep or
    # spinning when the tasks were queued) takes the second task while the first runs.
    pool2 = get_pool(2)
    for _ in range(rounds):
        flags = sm.zeros(2, dtype="int64")
        if via_map:
            got = list(pool2.map(_rendezvous_by_index, [flags, flags], [0, 1], [1, 0], timeout=60))
        else:
            futures = [
                pool2.submit(rendezvous, flags, me=0, other=1),
                pool2.submit(rendezvous, flags, me=1, other=0),
            ]
            got = [f.result(timeout=60) for f in futures]
        assert got == [True, True], _engine_state(pool2)
        np.testing.assert_array_equal(np.asarray(flags), [1, 1])


def _engine_state(pool: sm.Pool) -> str:
    """What each worker's record says now (to tell why a task was not taken)."""
    from shardmem._engine import _protocol as P  # noqa: N812
    from shardmem._engine._handoff import qcount

    core = pool._core
    ctrl = core.ctrl
    fields = {"sleeping": P.W_SLEEPING, "status": P.W_STATUS, "current": P.W_CURRENT}
    fields |= {"big_sent": P.W_BIG_SENT, "big_taken": P.W_BIG_TAKEN}
    workers = [{k: ctrl[w.base + v] for k, v in fields.items()} for w in core.workers]
    return f"workers {workers}; shared queue {qcount(core.shared.id)}; retired {core.retired}"


def _rendezvous_by_index(flags: memoryview, me: int, other: int) -> bool:
    import time

    flags[me] = 1
    end = time.monotonic() + 30
    while not flags[other] and time.monotonic() < end:
        time.sleep(0.0005)
    return bool(flags[other])


def lose_a_race() -> tuple[bool, bool]:
    """Take from an empty queue, as a worker that loses the race for a shared task does."""
    import _interpqueues
    import sys

    qid = _interpqueues.create(1, 2, 1)
    try:
        _interpqueues.get(qid)
    except Exception:  # noqa: BLE001 - whichever class is registered
        raised = True
    else:
        raised = False
    finally:
        _interpqueues.destroy(qid)
    return raised, "concurrent.interpreters" in sys.modules or "pickle" in sys.modules


def stdlib_queue_empty() -> str:
    """A kernel that uses concurrent.interpreters itself gets its real QueueEmpty."""
    from concurrent import interpreters

    queue = interpreters.create_queue()
    try:
        queue.get_nowait()
    except interpreters.QueueEmpty as exc:
        return type(exc).__module__
    return "nothing raised"


def test_an_empty_queue_in_a_worker_raises_without_importing_concurrent_interpreters() -> None:
    with sm.Pool(1) as pool:
        assert pool.submit(lose_a_race).result(timeout=60) == (True, False)
        assert (
            pool.submit(stdlib_queue_empty).result(timeout=60).startswith("concurrent.interpreters")
        )
        assert pool.submit(lose_a_race).result(timeout=60)[0] is True
