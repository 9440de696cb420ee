"""Fault catalogue: bad kernels, Ctrl-C, closing under load, threads; the pool survives each.

Every case asserts the exact error a caller sees *and* that the pool runs the
next call correctly afterwards (or that it is cleanly refused). Ctrl-C cases
run in a fresh interpreter that receives a real SIGINT, as in
``test_shipping.py``. Single-kernel-error basics (ValueError/KeyError/
ZeroDivisionError, SystemExit, timeouts, unsendable memoryview returns,
closures over unsendable state, NumPy imports) are covered in
``test_pool.py`` and ``test_shipping.py``; this file covers the rest.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import numpy as np
import pytest

import shardmem as sm
from conftest import get_pool

ROOT = Path(__file__).resolve().parents[1]


# -- kernels (module level: shipped with their globals) ----------------------------------------


def raise_named(*, name, rank):  # type: ignore[no-untyped-def]
    import builtins

    if name == "RecursionError":
        return _recurse(0)
    if name == "AssertionError":
        assert rank < 0, f"assert failed on {rank}"
    exc_type = getattr(builtins, name)
    raise exc_type(f"{name} from rank {rank}")


def _recurse(n):  # type: ignore[no-untyped-def]
    return _recurse(n + 1) + 1


def raise_custom(*, base):  # type: ignore[no-untyped-def]
    # Classes defined in this test module cannot be imported by workers (their
    # sys.path lacks tests/), so the kernel defines its own: they do not pickle.
    class Custom(Exception):  # noqa: N818 - the name is what a caller would match on
        pass

    class CustomBase(BaseException):
        pass

    raise (CustomBase if base else Custom)("custom payload")


def raise_cancelled():  # type: ignore[no-untyped-def]
    import asyncio

    raise asyncio.CancelledError("cancelled in a kernel")


def returns_lock():  # type: ignore[no-untyped-def]
    import threading

    return threading.Lock()


def returns_generator():  # type: ignore[no-untyped-def]
    return (i for i in range(3))


def returns_nested():  # type: ignore[no-untyped-def]
    return {"a": [1, 2, (3, None)], "b": 2.5}


def write_past_end(x, out):  # type: ignore[no-untyped-def]
    out[len(out)] = 1


def write_negative_past_start(x, out):  # type: ignore[no-untyped-def]
    out[-len(out) - 1] = 1


def write_wrong_type(x, out):  # type: ignore[no-untyped-def]
    out[0] = "text"


def write_overflow(x, out):  # type: ignore[no-untyped-def]
    out[0] = 1 << 70


def spin():  # type: ignore[no-untyped-def]
    while True:
        pass


def wait_for_flag(flag):  # type: ignore[no-untyped-def]
    while flag[0] == 0:
        pass


def spin_map(x, out):  # type: ignore[no-untyped-def]
    while True:
        pass


def sleep_in_c(*, seconds):  # type: ignore[no-untyped-def]
    import time

    time.sleep(seconds)


def imports_numpy_at_run_time():  # type: ignore[no-untyped-def]
    return __import__("numpy").zeros(1)


def identity(*, x):  # type: ignore[no-untyped-def]
    return x


def add_one(x, out):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        out[i] = x[i] + 1


def fail_at(x, out, *, start, bad):  # type: ignore[no-untyped-def]
    for i in range(len(x)):
        if start + i == bad:
            raise ValueError(f"element {bad} is bad")
        out[i] = x[i] + 1


def sum_kernel(x):  # type: ignore[no-untyped-def]
    return sum(x)


def busy(x, out, *, n):  # type: ignore[no-untyped-def]
    for _ in range(n):
        pass
    for i in range(len(x)):
        out[i] = x[i] + 1


def _usable(pool: sm.Pool) -> None:
    """The pool runs a normal call correctly (within a bounded time)."""
    assert pool.run(identity, x=7, timeout=20) == [7] * pool.size
    x = sm.arange(100, dtype="int64")
    out = sm.map(add_one, x, pool=pool, timeout=20)
    np.testing.assert_array_equal(np.asarray(out), np.arange(1, 101))


# -- kernels raising ------------------------------------------------------------------------

COMMON = [
    "TypeError",
    "IndexError",
    "AttributeError",
    "LookupError",
    "RuntimeError",
    "OverflowError",
    "MemoryError",
    "NotImplementedError",
    "UnicodeError",
    "OSError",
    "StopIteration",
    "ArithmeticError",
    "AssertionError",
    "RecursionError",
]


@pytest.mark.parametrize("name", COMMON)
def test_common_exceptions_keep_their_type_and_the_pool_survives(name: str) -> None:
    pool = get_pool(2)
    error = getattr(__import__("builtins"), name)
    with pytest.raises(error) as info:
        pool.run(raise_named, name=name, timeout=20)
    cause = info.value.__cause__
    assert isinstance(cause, sm.KernelError)
    assert cause.exc_type == name
    assert cause.kernel == "raise_named"
    assert "rank" in cause.task
    if name == "RecursionError":
        assert "maximum recursion depth" in str(info.value)
        assert "_recurse" in cause.remote_traceback
    elif name != "AssertionError":
        assert f"{name} from rank" in str(info.value)
    _usable(pool)


@pytest.mark.parametrize(
    ("name", "error"),
    [("SystemExit", SystemExit), ("KeyboardInterrupt", KeyboardInterrupt)],
)
def test_process_level_exceptions_are_reraised_in_the_caller_not_acted_on(
    name: str, error: type[BaseException]
) -> None:
    """A kernel's SystemExit/KeyboardInterrupt does not exit or stop the worker.

    It comes back to the caller as the same type (so an unhandled one ends
    the *caller's* program, as if the caller had raised it), with the
    KernelError as its cause saying where it came from.
    """
    pool = get_pool(2)
    with pytest.raises(error) as info:
        pool.run(raise_named, name=name, timeout=20)
    assert isinstance(info.value.__cause__, sm.KernelError)
    assert info.value.__cause__.exc_type == name
    _usable(pool)


def test_base_exception_subclasses_and_custom_exceptions(pool2: sm.Pool) -> None:
    """Classes a kernel defines itself travel back by value (cloudpickle), with the traceback."""
    with pytest.raises(Exception, match=r"custom payload") as info:
        pool2.run(raise_custom, base=False, timeout=20)
    assert type(info.value).__name__ == "Custom"
    cause = info.value.__cause__
    assert isinstance(cause, sm.KernelError)
    assert cause.exc_type == "Custom"
    with pytest.raises(BaseException, match=r"custom payload") as base_info:
        pool2.run(raise_custom, base=True, timeout=20)
    assert type(base_info.value).__name__ == "CustomBase"
    assert "in raise_custom" in base_info.value.__cause__.remote_traceback  # type: ignore[union-attr]
    with pytest.raises(asyncio.CancelledError, match="cancelled in a kernel"):
        pool2.run(raise_cancelled, timeout=20)
    with pytest.raises(GeneratorExit):
        pool2.run(raise_named, name="GeneratorExit", timeout=20)
    _usable(pool2)


# -- bad results and bad writes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kernel", "what"), [(returns_lock, "a lock"), (returns_generator, "a generator")]
)
def test_unsendable_results_say_what_to_return(pool2: sm.Pool, kernel: object, what: str) -> None:
    with pytest.raises(TypeError, match=f"returned {what}, which cannot be sent back") as info:
        pool2.run(kernel, timeout=20)  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, sm.KernelError)
    _usable(pool2)


def test_containers_of_plain_values_come_back(pool2: sm.Pool) -> None:
    assert pool2.run(returns_nested, timeout=20) == [{"a": [1, 2, (3, None)], "b": 2.5}] * 2


@pytest.mark.parametrize(
    ("kernel", "error", "match"),
    [
        (write_past_end, IndexError, "index out of bounds"),
        (write_negative_past_start, IndexError, "index out of bounds"),
        (write_wrong_type, TypeError, "memoryview: invalid type for format 'q'"),
        (write_overflow, ValueError, "memoryview: invalid value for format 'q'"),
    ],
)
def test_writes_outside_a_shard_or_dtype_are_refused_by_the_view(
    pool2: sm.Pool, kernel: object, error: type[Exception], match: str
) -> None:
    """Shard views are bounded memoryviews: no write can reach a neighbour's rows."""
    guard = sm.full(30, 5, dtype="int64")  # allocated right before x: must stay intact
    x = sm.arange(20, dtype="int64")
    out = sm.full(20, -1, dtype="int64")
    with pytest.raises(error, match=match):
        sm.map(kernel, x, out=out, pool=pool2, timeout=20)  # type: ignore[arg-type]
    assert np.asarray(out).tolist() == [-1] * 20  # nothing landed anywhere
    np.testing.assert_array_equal(np.asarray(x), np.arange(20))
    assert np.asarray(guard).tolist() == [5] * 30
    _usable(pool2)


# -- stopping --------------------------------------------------------------------------------


def test_timeout_stops_a_map_and_a_reduce_and_the_pool_survives(pool2: sm.Pool) -> None:
    x = sm.zeros(1000)
    start = time.monotonic()
    with pytest.raises(sm.TaskTimeoutError, match="spin_map: did not finish within its timeout"):
        sm.map(spin_map, x, pool=pool2, timeout=0.2)
    with pytest.raises(sm.TaskTimeoutError, match="did not finish"):
        sm.reduce(lambda v: [0 for _ in iter(int, 1)], x, chunks=8, pool=pool2, timeout=0.2)
    assert time.monotonic() - start < 10
    _usable(pool2)


def test_timeout_stops_a_kernel_sleeping_in_c(pool2: sm.Pool) -> None:
    """``time.sleep`` is C code: the stop lands when it returns (within STOP_GRACE)."""
    start = time.monotonic()
    with pytest.raises(sm.TaskTimeoutError):
        pool2.run(sleep_in_c, seconds=0.5, timeout=0.1)
    assert time.monotonic() - start < 5
    _usable(pool2)


def test_numpy_imported_at_run_time_is_an_import_error(pool2: sm.Pool) -> None:
    """An import hidden from the shipping check fails in the worker, not the process."""
    with pytest.raises(ImportError, match="numpy"):
        pool2.run(imports_numpy_at_run_time, timeout=60)
    _usable(pool2)


STOP_IN_DEL = """
import shardmem as sm

def busy_in_del():
    class Holder:
        def __del__(self):
            for _ in range(20_000):
                pass

    while True:
        Holder()  # half the time is spent in __del__, where an exception is ignored
        for _ in range(20_000):
            pass

with sm.Pool(2) as pool:
    for _ in range(3):
        try:
            pool.run(busy_in_del, timeout=0.2)
        except sm.TaskTimeoutError:
            print("stopped", flush=True)
    print(pool.run(lambda: 1, timeout=5))
"""


def test_a_stop_landing_in_del_is_retried_silently() -> None:
    """A stop request swallowed by ``__del__`` is raised again, without noise on stderr.

    (A kernel that spends nearly all its time in ``__del__`` can swallow every
    retry for 2 s; the pool is then broken cleanly, as for any stuck kernel.)
    """
    proc = _python(STOP_IN_DEL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["stopped"] * 3 + ["[1,", "1]"]
    assert proc.stderr == ""


IGNORES_STOP = """
import sys, time
import shardmem as sm

def ignores_stop():
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass

pool = sm.Pool(1)
try:
    pool.run(ignores_stop, timeout=0.3)
except sm.TaskTimeoutError as exc:
    print("first:", exc, flush=True)
try:
    print("second:", pool.run(lambda: 1, timeout=3), flush=True)
except Exception as exc:
    print("second:", type(exc).__name__, exc, flush=True)
pool.close()
print("closed", flush=True)
"""


def test_a_kernel_that_swallows_the_stop_is_stopped_line_by_line() -> None:
    """Stops it keeps catching escalate to line events that raise in every line of it."""
    proc = _python(IGNORES_STOP)
    assert proc.returncode == 0, proc.stderr
    first, second, closed = proc.stdout.splitlines()[:3]
    assert "still usable" in first
    assert "replaced" not in first  # stopped, not left running on a retired worker
    assert second == "second: [1]"
    assert closed == "closed"


def test_two_quick_cancels_both_drop_their_queued_calls() -> None:
    flag = sm.zeros(1, dtype="int64")
    with sm.Pool(1) as pool:
        blocker = pool.submit(wait_for_flag, flag)
        a, b = pool.submit(spin), pool.submit(spin)  # queued behind the blocker
        assert a.cancel()
        assert b.cancel()
        flag[0] = 1
        assert blocker.result(timeout=10) is None
        for f in (a, b):
            assert f.cancelled()
            with pytest.raises(CancelledError):
                f.result(timeout=3)
        assert pool.submit(abs, -3).result(timeout=10) == 3


def test_two_threads_timing_out_together_both_stop() -> None:
    with sm.Pool(2) as pool:
        x = sm.zeros(100)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                sm.map(spin_map, x, chunks=1, pool=pool, timeout=0.3)
            except BaseException as exc:  # noqa: BLE001 - checked below
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [type(e) for e in errors] == [sm.TaskTimeoutError] * 2
        assert pool.run(identity, x=1, timeout=1) == [1, 1]  # both workers are free again


# -- Ctrl-C: a real SIGINT to a fresh interpreter -----------------------------------------------

CTRL_C = """
import time
import shardmem as sm

def forever_map(x, out):
    while True:
        out[0] = x[0] + 1

def forever_reduce(x):
    while True:
        pass

def step(rows, out_row):
    while True:
        pass

def at_barrier(*, rank, barrier):
    if rank == 0:
        while True:
            pass
    barrier()

def fill(x, out):
    for i in range(len(x)):
        out[i] = x[i] * 2

pool = sm.Pool(2)
data = sm.arange(1000, dtype="float64")
grid = sm.zeros((64, 64), dtype="float64")
calls = {
    "map": lambda: sm.map(forever_map, data, pool=pool),
    "reduce": lambda: sm.reduce(forever_reduce, data, chunks=8, pool=pool),
    "stencil": lambda: sm.stencil(step, grid, iterations=50, pool=pool),
    "barrier": lambda: pool.run(at_barrier),
}
print("ready", flush=True)
try:
    calls[MODE]()
except KeyboardInterrupt:
    print(f"interrupted at {time.monotonic()!r}", flush=True)
out = sm.map(fill, data, pool=pool, timeout=30)
print("after:", out[999], flush=True)
assert data[999] == 999.0
pool.close()
"""


def _python(code: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "error"}
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
        **kw,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
@pytest.mark.parametrize("mode", ["map", "reduce", "stencil", "barrier"])
def test_ctrl_c_stops_each_primitive_within_a_second(mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "error"}
    code = f"MODE = {mode!r}\n" + textwrap.dedent(CTRL_C)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # both workers are inside their endless kernels
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert err == ""  # no warnings, no leaked interpreters at exit
    stopped = float(out.split("interrupted at ")[1].split()[0])
    assert stopped - sent < 1.0, stopped - sent
    assert "after: 1998.0" in out  # the same pool computes correctly afterwards


# -- closing under load ------------------------------------------------------------------------


def test_closing_a_pool_while_another_thread_runs_a_call_finishes_it() -> None:
    pool = sm.Pool(2)
    x = sm.arange(2000, dtype="int64")
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(sm.map(busy, x, n=300_000, pool=pool, timeout=60))
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.05)
    pool.close()  # graceful: the running call completes first
    thread.join(30)
    assert not thread.is_alive()
    result = outcome[0]
    if isinstance(result, sm.ClosedError):  # close() won the race to the lock
        assert "pool is closed" in str(result)
    else:
        assert isinstance(result, sm.SharedArray), result
        np.testing.assert_array_equal(np.asarray(result), np.arange(1, 2001))
    with pytest.raises(sm.ClosedError, match=r"create a new shardmem\.Pool"):
        pool.run(identity, x=1)


def test_cancelling_close_fails_pending_futures_with_a_reason() -> None:
    pool = sm.Pool(1)
    running = pool.submit(spin)
    queued = [pool.submit(identity, x=i) for i in range(20)]
    time.sleep(0.05)
    start = time.monotonic()
    pool._core.close(cancel=True)  # the finalizer of a dropped pool / a with block that raised
    assert time.monotonic() - start < 5
    with pytest.raises((sm.TaskCancelledError, sm.ClosedError)):
        running.result(timeout=5)
    for f in queued:
        with pytest.raises((sm.TaskCancelledError, sm.ClosedError)):
            f.result(timeout=5)
    pool.close()


def test_closing_a_buffer_used_by_a_queued_call_is_refused() -> None:
    with sm.Pool(2) as pool:
        x = sm.arange(100, dtype="int64")
        sm.map(add_one, x, pool=pool)  # every worker knows the kernel: nothing blocks in define
        flag = sm.zeros(1, dtype="int64")
        blockers = [pool.submit(wait_for_flag, flag) for _ in range(2)]
        time.sleep(0.05)
        got: list[object] = []

        def call() -> None:
            got.append(sm.map(add_one, x, pool=pool))

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(0.1)
        with pytest.raises(sm.BufferInUseError, match="still viewed"):
            x.buffer.close()
        flag[0] = 1
        for b in blockers:
            assert b.result(timeout=10) is None
        thread.join(30)
        result = got[0]
        assert isinstance(result, sm.SharedArray)
        np.testing.assert_array_equal(np.asarray(result), np.arange(1, 101))
        np.testing.assert_array_equal(np.asarray(x), np.arange(100))  # the input survived
        del result
        got.clear()
        x.buffer.close()  # once no call uses it, the workers' views are dropped first


def test_dropping_the_only_reference_to_an_input_during_a_call(pool2: sm.Pool) -> None:
    x = sm.ones(1000, dtype="float64")
    got: list[sm.SharedArray] = []

    box = [x[10:]]  # the call gets a view; every other reference is dropped meanwhile

    def call() -> None:
        got.append(sm.map(busy, box.pop(), n=200_000, pool=pool2, timeout=60))

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.02)
    del x  # the call keeps the buffer alive
    gc.collect()
    thread.join(60)
    assert np.asarray(got[0]).tolist() == [2.0] * 990


def test_closing_a_pool_from_its_finalizer_during_a_call_in_another_thread() -> None:
    """A pool dropped by everyone but a running call is not finalized under it."""
    x = sm.arange(500, dtype="int64")
    got: list[object] = []

    def call() -> None:
        pool = sm.Pool(2)
        try:
            got.append(sm.map(busy, x, n=100_000, pool=pool, timeout=60))
        finally:
            pool.close()

    thread = threading.Thread(target=call)
    thread.start()
    gc.collect()
    thread.join(60)
    np.testing.assert_array_equal(np.asarray(got[0]), np.arange(1, 501))  # type: ignore[call-overload]


# -- threads -----------------------------------------------------------------------------------


def test_four_threads_one_failing_in_every_way(pool2: sm.Pool) -> None:
    """Three threads compute; the fourth fails by exception, timeout and unsendable result."""
    errors: list[BaseException] = []
    results: dict[int, list[bool]] = {}

    def good(k: int) -> None:
        ok = []
        for i in range(15):
            x = sm.arange(200 + k * 7 + i, dtype="int64")
            out = sm.map(add_one, x, chunks=3, pool=pool2, timeout=60)
            ok.append(np.array_equal(np.asarray(out), np.asarray(x) + 1))
            total = sm.reduce(sum_kernel, x, chunks=4, pool=pool2, timeout=60)
            ok.append(total == int(np.asarray(x).sum()))
        results[k] = ok

    def bad() -> None:
        x = sm.arange(100, dtype="int64")
        for _ in range(5):
            with pytest.raises(ValueError, match="element 50 is bad"):
                sm.map(fail_at, x, bad=50, chunks=4, pool=pool2, timeout=60)
            with pytest.raises(sm.TaskTimeoutError):
                sm.map(spin_map, x, chunks=2, pool=pool2, timeout=0.05)
            with pytest.raises(TypeError, match="cannot be sent back"):
                pool2.run(returns_lock, timeout=60)

    def guard(fn: object, *args: object) -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(good, k)) for k in range(3)]
    threads.append(threading.Thread(target=guard, args=(bad,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert not any(t.is_alive() for t in threads)
    assert not errors, [getattr(e.__cause__, "remote_traceback", e) for e in errors]
    assert len(results) == 3
    assert all(all(v) for v in results.values())
    _usable(pool2)


# -- data safety -----------------------------------------------------------------------------------


def test_after_a_failed_static_map_out_holds_the_failed_prefix_and_nothing_else(
    pool2: sm.Pool,
) -> None:
    """Documented in docs/reliability.md: rows a task wrote stay written, others keep old values.

    With one static shard per worker (rows 0:5 and 5:10 on 2 workers), the
    failing shard has written the elements before the bad one and nothing
    after it. The other shard ran to its end, was stopped part-way (a prefix
    written) or was skipped (untouched), depending on when its worker saw the
    failure.
    """
    x = sm.arange(10, dtype="int64")
    out = sm.full(10, -1, dtype="int64")
    with pytest.raises(ValueError, match="element 7 is bad") as info:
        sm.map(fail_at, x, out=out, bad=7, pool=pool2, timeout=20)
    assert info.value.__cause__.task == "rows 5:10"  # type: ignore[union-attr]
    got = np.asarray(out).tolist()
    assert got[5:] == [6, 7, -1, -1, -1]
    written = sum(1 for v in got[:5] if v != -1)
    assert got[:5] == [1, 2, 3, 4, 5][:written] + [-1] * (5 - written)
    assert np.asarray(x).tolist() == list(range(10))


def test_after_a_failed_chunked_map_every_element_is_old_or_new(pool2: sm.Pool) -> None:
    x = sm.arange(1000, dtype="int64")
    out = sm.full(1000, -1, dtype="int64")
    with pytest.raises(ValueError, match="element 500 is bad"):
        sm.map(fail_at, x, out=out, bad=500, chunks=20, pool=pool2, timeout=20)
    got = np.asarray(out)
    assert ((got == -1) | (got == np.arange(1, 1001))).all()
    assert (got[450:500] == np.arange(451, 501)).all()  # the failing chunk's prefix
    assert (got[500:550] == -1).all()  # ... and nothing of it after the failure
    np.testing.assert_array_equal(np.asarray(x), np.arange(1000))


def test_failed_calls_never_modify_inputs(pool2: sm.Pool) -> None:
    rng = np.random.default_rng(8)
    x_np = rng.integers(-100, 100, size=(40, 30)).astype(np.int64)
    x = sm.asarray(x_np)
    with pytest.raises(ValueError, match="bad"):
        sm.map(fail_at, x, bad=600, pool=pool2, timeout=20)
    with pytest.raises(ZeroDivisionError):
        sm.reduce(lambda v, *, start: 1 / 0 if start else 0, x, chunks=3, pool=pool2, timeout=20)
    with pytest.raises(ZeroDivisionError):
        sm.stencil(lambda rows, o: 1 / 0, x, pool=pool2, timeout=20)
    with pytest.raises(sm.TaskTimeoutError):
        sm.stencil(
            lambda rows, o: [0 for _ in iter(int, 1)], x, iterations=3, pool=pool2, timeout=0.2
        )
    np.testing.assert_array_equal(np.asarray(x), x_np)


def _sum_values(values):  # type: ignore[no-untyped-def]
    return sum(values)


def test_a_buffer_closes_right_after_its_call_is_cancelled_or_times_out() -> None:
    """Issue 21: the view of a buffer waits on a busy worker's queue until it takes its
    next task, so closing that buffer right after the call was cancelled (or timed out)
    raised BufferInUseError. The worker's watchdog now takes such views off the queue."""
    with sm.Pool(1) as pool:
        flag = sm.zeros(1, dtype="int64")
        blocker = pool.submit(wait_for_flag, flag)  # the only worker stays busy throughout
        end = time.monotonic() + 30
        while not blocker.running():  # (else a call queued for its rank could run first)
            assert time.monotonic() < end, "the blocker never started"
            time.sleep(0.001)
        for round_ in range(20):
            buf = sm.SharedBuffer(64)
            queued = pool.submit(_sum_values, buf)
            assert queued.cancel(), round_
            buf.close()  # no BufferInUseError, no wait for the blocker
            assert buf.closed
            array = sm.arange(16, dtype="int64")
            with pytest.raises(sm.TaskTimeoutError):
                sm.map(add_one, array, pool=pool, timeout=0.05)
            array.buffer.close()
            assert array.buffer.closed
        assert not blocker.done()
        flag[0] = 1
        assert blocker.result(timeout=10) is None
        assert pool.submit(_sum_values, sm.arange(10, dtype="int64")).result(timeout=10) == 45
