"""Ctrl-C anywhere: "a KeyboardInterrupt anywhere leaves the pool usable, with nothing
held, pending or pinned, and other threads' calls unaffected."

Three ways in:

1. Line-level injection. A trace hook (main thread only) raises
   ``KeyboardInterrupt`` the N-th time any line of the engine's caller-side
   code runs, for N = 1, 2, ... until a call completes without the hook
   firing, so every line a representative call executes gets its interrupt.
   Calls whose kernels wait on a *gate* (shared memory the test opens) cannot
   finish on their own: there the sweep also shows that the interrupted call
   is cancelled (its tasks stop without the gate being opened). After each
   interrupt the pool must be idle (``assert_idle``), compute correctly, and a
   second thread, which loops checked calls on the same pool during the whole
   sweep, must make progress and never see an error or wrong data.
2. Real SIGINT storms in a fresh interpreter (``interrupt_storm.py``), on an
   idle machine and beside a CPU hog.
3. Ctrl-C while waiting in ``future.result()`` of an Executor future neither
   cancels that future nor breaks the pool.
"""

from __future__ import annotations

import array
import contextlib
import gc
import inspect
import os
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import _base as futures_base
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_state import assert_idle

import shardmem as sm
from conftest import cpu_hog, get_pool
from shardmem._engine import _calls, _core, _pool, _tasks
from shardmem._engine._core import STOP_GRACE
from shardmem._primitives import blockwise as _runner
from shardmem._primitives import map as _map
from shardmem._primitives import reduce as _reduce

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


# -- kernels (module level: shipped by code) ---------------------------------------------------


def copy_kernel(x, out):  # type: ignore[no-untyped-def]
    out[:] = x


def double_kernel(x, out):  # type: ignore[no-untyped-def]
    out[:] = array.array(out.format, [2 * v for v in x])


def square(v):  # type: ignore[no-untyped-def]
    return v * v


def ranks(*, rank, size):  # type: ignore[no-untyped-def]
    return (rank, size)


def gated_copy(x, gate, out):  # type: ignore[no-untyped-def]
    while not gate[0]:
        pass
    out[:] = x


def gated_sum(x, gate):  # type: ignore[no-untyped-def]
    while not gate[0]:
        pass
    return sum(x)


def gated_rank(gate, *, rank):  # type: ignore[no-untyped-def]
    while not gate[0]:
        pass
    return rank


def gated_square(gate, v):  # type: ignore[no-untyped-def]
    gate[1] = 1  # started
    while not gate[0]:
        pass
    return v * v


GATED_KERNELS = {"gated_copy", "gated_sum", "gated_rank", "gated_square"}


# -- the injection hook -------------------------------------------------------------------------


def _with_nested(codes: list[types.CodeType]) -> frozenset[types.CodeType]:
    found: set[types.CodeType] = set()
    todo = list(codes)
    while todo:
        code = todo.pop()
        if code not in found:
            found.add(code)
            todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return frozenset(found)


def _module_functions(module: types.ModuleType) -> list[types.CodeType]:
    return [
        f.__code__
        for f in vars(module).values()
        if isinstance(f, types.FunctionType) and f.__globals__ is vars(module)  # defined there
    ]


def _engine_main_side() -> frozenset[types.CodeType]:
    """Code objects of every engine function that runs on a caller's thread."""
    Pool, Core = _pool.Pool, _core.Core
    functions: list[Any] = [
        Pool.submit,
        Pool.map,
        Pool.run,
        Pool.close,
        Pool.shutdown,
        Pool._chunk_submitter,
        Pool._map_in_chunks,
        _pool._map_chunks,
        _pool._travels_plain,
        _pool._MapRun.send,
        _pool._MapRun.results,
        _pool.stop_between_items,
        _pool._task_chunks,
        _pool._lazy_map,
        _pool._chunked,
        _pool.execute,
        _pool._wait,
        _pool.pack_callable,
        _pool._check_timeout,
        _pool.resolve_pool,
        Core.start_call,
        Core.post,
        Core.request_cancel,
        Core.claim_cancel,
        Core._ring_write,
        Core.stop_between_items,
        Core._queue_stop,
        Core.calls_in_flight,
        Core._none_runs,
        Core._started,
        Core.on_buffer_released,
        Core.close,
        Core.join,
        _core._join,
        _calls.CallFuture.cancel,
        _calls.CallFuture._cancel,
        _calls.CallFuture.running,
        _calls.CallFuture.result,
        _calls.CallFuture.exception,
        _calls.CallFuture.done,
        _calls.CallFuture._guarded,
        _map.map,
        _map.build_tasks,
        _map.make_plan,
        _runner.run_tasks,
    ]
    codes = [f.__code__ for f in functions]
    codes += _module_functions(_tasks)
    codes += _module_functions(_reduce)
    return _with_nested(codes)


ENGINE_CODE = _engine_main_side()


def _line_of(function: Callable[..., object], text: str) -> tuple[types.CodeType, int]:
    lines, first = inspect.getsourcelines(function)
    matches = [first + i for i, line in enumerate(lines) if text in line]
    assert len(matches) == 1, (text, matches)
    return function.__code__, matches[0]  # type: ignore[attr-defined]


# Where a caller blocks until its call is done: a gated call never gets past it.
BLOCK_LINE = _line_of(_pool._wait, "future.exception(step)")


@dataclass
class Injector:
    """Raise KeyboardInterrupt at the ``n``-th traced line (or at ``final``), once."""

    codes: frozenset[types.CodeType]
    n: int
    final: tuple[types.CodeType, int] | None = None
    seen: int = 0
    fired: str | None = None
    fired_at_final: bool = False

    def global_trace(self, frame: types.FrameType, event: str, arg: object) -> Any:
        return self.local_trace if frame.f_code in self.codes else None

    def local_trace(self, frame: types.FrameType, event: str, arg: object) -> Any:
        if event != "line" or self.fired is not None:
            return self.local_trace
        self.seen += 1
        here = (frame.f_code, frame.f_lineno)
        if self.seen >= self.n or here == self.final:
            self.fired = _where(frame)
            self.fired_at_final = here == self.final
            raise KeyboardInterrupt
        return self.local_trace

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        assert threading.current_thread() is threading.main_thread()
        old = sys.gettrace()
        gc_was_on = gc.isenabled()
        gc.disable()  # no finalizer of an unrelated object runs under the hook
        sys.settrace(self.global_trace)
        try:
            yield
        finally:
            sys.settrace(old)
            if gc_was_on:
                gc.enable()


def _where(frame: types.FrameType) -> str:
    code = frame.f_code
    path = Path(code.co_filename)
    with contextlib.suppress(ValueError):
        path = path.relative_to(ROOT)
    source = inspect.getframeinfo(frame, context=1).code_context or [""]
    return f"{path}:{frame.f_lineno} in {code.co_qualname}: {source[0].strip()}"


# -- a second thread that keeps calling the same pool --------------------------------------------


class Background:
    """Loops checked ``sm.map`` calls on ``pool``; pausable so the pool can be seen idle."""

    def __init__(self, pool: sm.Pool) -> None:
        self.pool = pool
        self.cond = threading.Condition()
        self.paused = False
        self.idle = False
        self.stopped = False
        self.calls = 0
        self.errors: list[str] = []
        self.x = sm.arange(3000, dtype="int64")
        self.out = sm.zeros(3000, dtype="int64")
        self.expected = 2 * np.arange(3000)
        self.thread = threading.Thread(target=self._loop, name="interrupt-background")

    def _loop(self) -> None:
        while True:
            with self.cond:
                self.idle = True
                self.cond.notify_all()
                while self.paused and not self.stopped:
                    self.cond.wait()
                if self.stopped:
                    return
                self.idle = False
            self.out[:] = 0
            try:
                sm.map(double_kernel, self.x, out=self.out, chunks=4, pool=self.pool, timeout=60)
                if not np.array_equal(np.asarray(self.out), self.expected):
                    self.errors.append(f"call {self.calls}: wrong data")
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(f"call {self.calls}: {exc!r}")
            with self.cond:
                self.calls += 1
                self.cond.notify_all()

    def pause(self) -> None:
        with self.cond:
            self.paused = True
            assert self.cond.wait_for(lambda: self.idle, timeout=30), "background call hangs"

    def resume(self) -> None:
        """Let it run again and wait until it completed one more call."""
        with self.cond:
            self.paused = False
            before = self.calls
            self.cond.notify_all()
            assert self.cond.wait_for(lambda: self.calls > before, timeout=30), (
                "a call from another thread made no progress"
            )

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self.stopped = True
            self.paused = True
            self.cond.notify_all()
        self.thread.join(60)
        assert not self.thread.is_alive()


# -- scenarios ------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One representative call: ``call(state)`` under the hook, ``check(state, result)``."""

    name: str
    call: Callable[[dict[str, Any]], object]
    check: Callable[[dict[str, Any], object], None]
    setup: Callable[[sm.Pool], dict[str, Any]] | None = None  # each time, when given
    gated: bool = False  # kernels wait for the gate: the call ends only when cancelled
    recover: Callable[[dict[str, Any]], str | None] | None = None  # after an interrupt
    verify: Callable[[dict[str, Any]], str | None] | None = None  # after each: what is wrong


N = 2000
X = np.arange(N, dtype=np.int64)


def _arrays(pool: sm.Pool) -> dict[str, Any]:
    gate = sm.zeros(N, dtype="uint8")
    return {
        "pool": pool,
        "x": sm.asarray(X),
        "out": sm.zeros(N, dtype="int64"),
        "gate": gate,
        "gate_np": np.asarray(gate),
    }


def _check_out(state: dict[str, Any], result: object) -> None:
    assert result is state["out"]
    np.testing.assert_array_equal(np.asarray(state["out"]), X)


def _equals(expected: object) -> Callable[[dict[str, Any], object], None]:
    def check(state: dict[str, Any], result: object) -> None:
        assert result == expected

    return check


def _release_setup(pool: sm.Pool) -> dict[str, Any]:
    state = _arrays(pool)
    a = sm.arange(512, dtype="int64")
    sm.map(copy_kernel, a, out=sm.zeros(512, dtype="int64"), pool=pool)  # workers view it
    state["buffer"] = a._buffer
    return state


def _release_check(state: dict[str, Any], result: object) -> None:
    assert state["buffer"].closed


def _release_recover(state: dict[str, Any]) -> str | None:
    """Closing again after the interrupt works (the workers' views are dropped)."""
    buffer = state["buffer"]
    try:
        buffer.close()
    except sm.BufferInUseError as exc:
        end = time.monotonic() + 10
        while not buffer.closed and time.monotonic() < end:
            with contextlib.suppress(sm.BufferInUseError):
                buffer.close()
            time.sleep(0.005)
        assert buffer.closed, "the pool keeps a view of the buffer for good"
        return f"closing the buffer again right after the interrupt raised {exc}"
    return None


def worker_path():  # type: ignore[no-untyped-def]
    import sys

    return list(sys.path)


def _new_path_setup(pool: sm.Pool) -> dict[str, Any]:
    """A new sys.path entry before each call: the engine must hand it to the workers."""
    state = _arrays(pool)
    entry = str(TESTS / f"interrupt-path-{time.monotonic_ns()}")
    sys.path.append(entry)
    state["entry"] = entry
    return state


def _workers_see_path(state: dict[str, Any]) -> str | None:
    paths = state["pool"].run(worker_path, timeout=30)
    if all(state["entry"] in p for p in paths):
        return None
    return f"the workers never get sys.path entry {state['entry']!r}: kernels cannot import from it"


def _abandon(state: dict[str, Any]) -> object:
    it = state["pool"].map(square, range(20))
    first = next(it)
    it.close()  # cancels the futures not consumed
    return first


def _marks(s: Scenario) -> list[pytest.MarkDecorator]:
    return [pytest.mark.slow] if s.gated else []


SCENARIOS = [
    Scenario(
        "map",
        lambda s: sm.map(copy_kernel, s["x"], out=s["out"], chunks=50, pool=s["pool"]),
        _check_out,
    ),
    Scenario(
        "map-new-path",
        lambda s: sm.map(copy_kernel, s["x"], out=s["out"], chunks=4, pool=s["pool"]),
        _check_out,
        setup=_new_path_setup,
        verify=_workers_see_path,
    ),
    Scenario(
        "map-gated",
        lambda s: sm.map(gated_copy, s["x"], s["gate"], out=s["out"], chunks=8, pool=s["pool"]),
        _check_out,
        gated=True,
    ),
    Scenario("sum", lambda s: sm.sum(s["x"], chunks=8, pool=s["pool"]), _equals(int(X.sum()))),
    Scenario(
        "reduce-gated",
        lambda s: sm.reduce(gated_sum, s["x"], s["gate"], chunks=8, pool=s["pool"]),
        _equals(int(X.sum())),
        gated=True,
    ),
    Scenario("run", lambda s: s["pool"].run(ranks), _equals([(0, 2), (1, 2)])),
    Scenario(
        "run-gated", lambda s: s["pool"].run(gated_rank, s["gate"]), _equals([0, 1]), gated=True
    ),
    Scenario("submit", lambda s: s["pool"].submit(square, 7).result(timeout=30), _equals(49)),
    Scenario(
        "executor-map",
        lambda s: list(s["pool"].map(square, range(20))),
        _equals([i * i for i in range(20)]),
    ),
    Scenario(
        "executor-map-chunked",
        lambda s: list(s["pool"].map(square, range(20), chunksize=4)),
        _equals([i * i for i in range(20)]),
    ),
    Scenario("executor-map-abandoned", _abandon, _equals(0)),
    Scenario(
        "buffer-close",
        lambda s: s["buffer"].close(),
        _release_check,
        setup=_release_setup,
        recover=_release_recover,
    ),
]


def _fresh_call_works(pool: sm.Pool, state: dict[str, Any]) -> None:
    out = sm.zeros(N, dtype="int64")
    sm.map(double_kernel, state["x"], out=out, chunks=3, pool=pool, timeout=30)
    np.testing.assert_array_equal(np.asarray(out), 2 * X)


def _gated_tasks_left(pool: sm.Pool) -> list[str]:
    core = pool._core
    queued = [r[1] for r in list(core.requests) if r[0] == "submit"]
    calls = [*queued, *list(core.owner.values()), *list(core.stopping.values())]
    return sorted({c.name for c in calls if c.name in GATED_KERNELS})


def _wait_gated_gone(pool: sm.Pool, timeout: float) -> list[str]:
    end = time.monotonic() + timeout
    while (left := _gated_tasks_left(pool)) and time.monotonic() < end:
        time.sleep(0.005)
    return left


MAX_STEPS = 5000  # far more lines than any scenario executes


def sweep(scenario: Scenario, pool: sm.Pool, background: Background) -> tuple[int, list[str]]:
    """Interrupt the call at each line in turn; return (interrupts injected, violations)."""
    state = _arrays(pool)
    violations: list[str] = []
    final = BLOCK_LINE if scenario.gated else None
    for n in range(1, MAX_STEPS):
        if scenario.setup is not None:
            state = scenario.setup(pool)
        state["gate_np"][:] = 0 if scenario.gated else 1
        state["out"][:] = 0
        hook = Injector(ENGINE_CODE, n, final)
        result: object = None
        interrupted = False
        with hook.armed():
            try:
                result = scenario.call(state)
            except KeyboardInterrupt:
                interrupted = True
        where = hook.fired
        if where is None:
            assert not scenario.gated, "a gated call finished without its gate open"
            scenario.check(state, result)
            assert_idle(pool)
            return n - 1, violations
        if not interrupted:  # it landed after the result was in hand
            scenario.check(state, result)
        elif scenario.gated:
            left = _wait_gated_gone(pool, STOP_GRACE + 2)
            if left:
                violations.append(
                    f"{scenario.name}: interrupt at {where}: the call was not cancelled "
                    f"(tasks of {left} still run {STOP_GRACE + 2:g} s later)"
                )
        state["gate_np"][:] = 1  # whatever still waits may finish now
        if scenario.recover is not None and interrupted and (wrong := scenario.recover(state)):
            violations.append(f"{scenario.name}: interrupt at {where}: {wrong}")
        background.pause()
        try:
            assert_idle(pool)
        except AssertionError as exc:
            violations.append(f"{scenario.name}: interrupt at {where}: {exc}")
            assert_idle(pool, timeout=30)  # not even this: the pool is lost, stop here
        _fresh_call_works(pool, state)
        if scenario.verify is not None and (wrong := scenario.verify(state)):
            violations.append(f"{scenario.name}: interrupt at {where}: {wrong}")
        background.resume()  # another thread's call still gets through
        if hook.fired_at_final:
            return n, violations
    raise AssertionError(f"{scenario.name}: more than {MAX_STEPS} lines")


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, id=s.name, marks=_marks(s)) for s in SCENARIOS],
)
def test_an_interrupt_at_any_engine_line_leaves_the_pool_usable(scenario: Scenario) -> None:
    pool = get_pool(2)
    saved_path = list(sys.path)
    try:
        with Background(pool) as background:
            count, violations = sweep(scenario, pool, background)
    finally:
        sys.path[:] = saved_path
    assert count > 5, f"the hook fired only {count} times: the sweep covers nothing"
    assert not background.errors, background.errors
    assert background.calls > count // 2
    assert not violations, f"{len(violations)} violation(s):\n" + "\n".join(violations)
    assert_idle(pool)


def test_an_interrupt_at_any_line_of_close_leaves_a_pool_that_closes() -> None:
    """Ctrl-C inside ``pool.close()``: closing it again ends every worker, without a hang."""
    violations: list[str] = []
    for n in range(1, 200):
        pool = sm.Pool(1)
        assert pool.submit(square, 3).result(timeout=30) == 9
        hook = Injector(ENGINE_CODE, n)
        with hook.armed(), contextlib.suppress(KeyboardInterrupt):
            pool.close()
        if hook.fired is None:
            assert pool._core.finished.is_set()
            assert n > 5, "the sweep covers nothing"
            assert not violations, f"{len(violations)} violation(s):\n" + "\n".join(violations)
            return
        closer = threading.Thread(target=pool.close, name="close-again")
        closer.start()
        closer.join(STOP_GRACE + 10)
        if closer.is_alive():
            violations.append(
                f"interrupt at {hook.fired}: close() called again hangs (the collector was "
                "never told to close)"
            )
            pool._core.post(("close", True))  # clean up what the interrupted close() skipped
            closer.join(30)
            assert not closer.is_alive(), "the pool cannot be closed at all"
        assert pool._core.finished.is_set()
    raise AssertionError("close() ran more than 200 lines")


# -- locks taken on a caller's thread ------------------------------------------------------------


def _from_another_thread(fn: Callable[[], object], timeout: float = 30) -> object:
    """``fn()`` on a fresh thread: it must return (a lock left held would block it)."""
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(fn()), name="other-caller")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "another thread's call waits for a lock left held"
    return box[0]


def test_an_interrupt_at_any_line_of_the_cancel_ring_write_leaves_its_lock_free() -> None:
    """The cancel ring's lock, taken inside ``cancel()``: a Ctrl-C at any of its lines
    (the ``with`` line is traced again before ``__exit__`` runs) leaves it free, so the
    next ``cancel()``, here from another thread, does not wait for good. (Left held, the
    abandoned ``Executor.map`` scenario above hung about one run in ten.)"""
    pool = get_pool(2)
    gate = sm.zeros(2, dtype="uint8")
    gate_np = np.asarray(gate)
    code = frozenset({_core.Core._ring_write.__code__})
    try:
        for n in range(1, 20):
            gate_np[:] = 0
            busy = [pool.submit(gated_square, gate, 1) for _ in range(2)]  # both workers
            queued = pool.submit(square, 3)
            other = pool.submit(square, 4)
            for future in (queued, other):  # queued by the pool: cancel() writes the ring
                call = future._call  # type: ignore[attr-defined]
                end = time.monotonic() + 30
                while call is not None and not call.first and time.monotonic() < end:
                    time.sleep(0.001)
            hook = Injector(code, n)
            with hook.armed(), contextlib.suppress(KeyboardInterrupt):
                queued.cancel()
            assert _from_another_thread(other.cancel) is True, hook.fired
            gate_np[0] = 1
            assert [f.result(timeout=30) for f in busy] == [1, 1]
            try:  # an interrupted cancel() may have taken effect (its tasks dropped) or not
                value = queued.result(timeout=30)
            except futures_base.CancelledError:
                assert queued.cancelled()
            else:
                assert value == 9
            assert_idle(pool)
            if hook.fired is None:
                assert n > 3, "the sweep covers nothing"
                return
        raise AssertionError("_ring_write ran more than 20 lines")
    finally:
        gate_np[0] = 1


def test_an_interrupt_at_any_line_of_default_pool_leaves_its_lock_free() -> None:
    """``sm.default_pool()`` interrupted at any of its lines (its pool being made):
    another thread's ``default_pool()`` still returns a working pool."""
    for n in range(1, 40):
        _pool._close_default()
        hook = Injector(frozenset({_pool.default_pool.__code__}), n)
        with hook.armed(), contextlib.suppress(KeyboardInterrupt):
            sm.default_pool()
        pool = _from_another_thread(sm.default_pool)
        assert isinstance(pool, sm.Pool)
        assert pool.submit(square, 5).result(timeout=30) == 25
        if hook.fired is None:
            assert n > 3, "the sweep covers nothing"
            return
    raise AssertionError("default_pool ran more than 40 lines")


# -- Ctrl-C while waiting on an Executor future --------------------------------------------------


RESULT_CODE = _with_nested([futures_base.Future.result.__code__])


def test_an_interrupt_while_waiting_for_a_result_does_not_cancel_the_future() -> None:
    pool = get_pool(2)
    gate = sm.zeros(2, dtype="uint8")
    gate_np = np.asarray(gate)
    for n in range(1, 50):
        gate_np[:] = 0
        future = pool.submit(gated_square, gate, 7)
        other = pool.submit(square, 5)
        hook = Injector(RESULT_CODE, n, _line_of(futures_base.Future.result, "wait(timeout)"))
        with hook.armed(), pytest.raises(KeyboardInterrupt):
            future.result(timeout=30)
        assert not future.cancelled()
        assert not future.done()
        gate_np[0] = 1
        assert future.result(timeout=30) == 49, hook.fired
        assert other.result(timeout=30) == 25
        assert_idle(pool)
        if hook.fired_at_final:
            return
    raise AssertionError("Future.result ran more than 50 lines")


# -- real SIGINTs in a fresh interpreter ----------------------------------------------------------


def _script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run(
            [sys.executable, "-X", "dev", str(TESTS / "interrupt_storm.py"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the script hung ({timeout:g} s): {exc.stdout!r} {exc.stderr!r}")


def _check_storm(proc: subprocess.CompletedProcess[str]) -> None:
    kinds = ("storm", "result", "cancel", "drop")
    summary = [line for line in proc.stdout.splitlines() if line.startswith(kinds)]
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-4000:])
    assert len(summary) == 1, proc.stdout
    assert summary[0].endswith("problems=[]"), summary


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
@pytest.mark.parametrize(("seed", "hog"), [(1, False), (2, True)], ids=["idle", "cpu-hog"])
def test_a_sigint_storm_leaves_the_pool_usable_and_idle(seed: int, hog: bool) -> None:
    with cpu_hog(hog):
        proc = _script("storm", str(seed), "70")
    _check_storm(proc)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_a_real_sigint_in_future_result_does_not_cancel_it() -> None:
    _check_storm(_script("result", timeout=60))


DROP_RUNS = 10


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_a_sigint_storm_over_dropped_arrays_leaves_none_mapped() -> None:
    """SIGINTs every 0.3-3 ms for 5 s while arrays are created, used and dropped (10 runs,
    4 at a time): afterwards no buffer is mapped in any worker."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as ex:
        procs = list(ex.map(lambda seed: _script("drop", str(seed), "5"), range(DROP_RUNS)))
    for proc in procs:
        _check_storm(proc)


CANCEL_RUNS = 10


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_a_sigint_storm_over_submit_and_cancel_leaves_no_lock_held() -> None:
    """SIGINTs every 0.3-1.5 ms for 5 s while the main thread submits and cancels futures
    (10 runs, 4 at a time): no future's lock is left held, every future that was not
    cancelled completes right, the pool is idle. (Before: 3 of 8 runs of 3 s hung, a
    KeyboardInterrupt raised just after ``with lock:`` acquired a future's lock.)"""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as ex:
        procs = list(ex.map(lambda seed: _script("cancel", str(seed), "5"), range(CANCEL_RUNS)))
    for proc in procs:
        _check_storm(proc)
