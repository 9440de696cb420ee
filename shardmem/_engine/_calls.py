"""Calls, their futures and their outcomes.

A call is a batch of tasks of one kernel. Its future is completed by the
engine's collector thread, never by a caller: ``wait``, ``as_completed``,
done callbacks and ``asyncio.wrap_future`` all see it without anyone calling
``result()``. Done callbacks run on a separate callback thread, outside every
engine structure, so a callback may submit to the same pool and wait.
"""

from __future__ import annotations

import pickle
import queue
import threading
from concurrent.futures import Future
from concurrent.futures._base import (
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    LOGGER,
    PENDING,
    RUNNING,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._errors import KernelError, ShippingError, TaskCancelledError

if TYPE_CHECKING:
    from shardmem._data.buffer import SharedBuffer
    from shardmem._engine._shipping import Kernel
    from shardmem._engine._tasks import Task

__all__ = ["Call", "CallFuture", "is_cancelled", "is_done", "results"]

_DONE = frozenset({CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED})
_CANCELLED = frozenset({CANCELLED, CANCELLED_AND_NOTIFIED})


def is_done(future: Future[Any]) -> bool:
    """``future.done()`` for the collector: one read of its state, without the
    future's lock (which orders nothing more for a single read) and without the
    guard that callers' ``done()`` needs against Ctrl-C."""
    return future._state in _DONE


def is_cancelled(future: Future[Any]) -> bool:
    """``future.cancelled()`` for the collector (see ``is_done``)."""
    return future._state in _CANCELLED


class CallFuture(Future[Any]):
    """A ``concurrent.futures.Future`` completed by the engine's collector thread.

    ``cancel()`` follows ``Future``: it succeeds while the call has not
    finished and none of its tasks is running, and then the queued tasks are
    dropped when a worker dequeues them.
    """

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._call: Call | None = call

    def cancel(self) -> bool:
        lock = self._lock()
        try:
            return self._cancel(lock)
        except BaseException:
            _let_go(lock)
            raise

    def _cancel(self, lock: Any) -> bool:
        call = self._call
        engine = None if call is None else call.engine
        # Under the condition's own lock, a C RLock: ``Condition.__enter__`` and
        # Future's methods are Python code, where a Ctrl-C landing just after the
        # acquire left the lock held and the collector hung on it (issue 21). Even a
        # C lock's ``with`` can be split (CPython checks for signals after the
        # acquire's call, before the block begins): ``cancel`` lets go of it then.
        with lock:
            state = self._state
            if state in _CANCELLED:
                return True
            if state in (RUNNING, FINISHED):
                return False
            if engine is not None and call is not None and not engine.claim_cancel(call):
                # One of its tasks runs (or may have: a worker that skipped several of a
                # chunk's tasks can lose track of one). From now on the call runs to its
                # end, every later cancel() says so too, and running() is True.
                self._state = RUNNING
                return False
            self._mark_cancelled()
        self._invoke_callbacks()
        if engine is not None and call is not None:
            engine.request_cancel(call, None)
        return True

    def _mark_cancelled(self) -> None:
        # Waiters of concurrent.futures.wait/as_completed learn of it now, as an
        # executor's worker would tell them when it dequeues the call.
        self._state = CANCELLED_AND_NOTIFIED
        for waiter in self._waiters:
            waiter.add_cancelled(self)
        self._condition.notify_all()

    def finish_cancel(self) -> None:
        """Collector: end as cancelled a future whose ``cancel()`` claimed the call's
        tasks but was interrupted before it could say so (its tasks were dropped)."""
        with self._condition:
            if self._state != PENDING:
                return
            self._mark_cancelled()
        self._invoke_callbacks()

    def running(self) -> bool:
        """True while a task of the call has started and the call has not finished.

        As for ``ThreadPoolExecutor``: ``RUNNING`` from the moment the first task's
        kernel starts (read from the workers' records, so no message is waited for);
        a running call can no longer be cancelled.
        """
        lock = self._lock()
        try:
            with lock:
                if self._state == PENDING:
                    call = self._call
                    engine = None if call is None else call.engine
                    if engine is not None and call is not None and engine.call_started(call):
                        self._state = RUNNING
                return bool(self._state == RUNNING)
        except BaseException:
            _let_go(lock)  # (see _cancel)
            raise

    # done(), cancelled(), result(), exception(), add_done_callback() and repr() let go
    # of the future's lock when a Ctrl-C splits the stdlib's ``with self._condition``
    # (see ``cancel``). Each frame drops ``self`` on the way out, as ``Future.result``
    # does: the error it raises is kept by the future, and its traceback holds these
    # frames (a cycle that kept a failed call's arrays alive until the next garbage
    # collection).

    def done(self) -> bool:
        try:
            return bool(self._guarded(Future.done))
        finally:
            del self

    def result(self, timeout: float | None = None) -> Any:
        try:
            return self._guarded(Future.result, timeout)
        finally:
            del self

    def exception(self, timeout: float | None = None) -> BaseException | None:
        try:
            return self._guarded(Future.exception, timeout)  # type: ignore[no-any-return]
        finally:
            del self

    def _guarded(self, method: Any, *args: Any) -> Any:
        """``method(self, *args)``, letting go of the future's lock if a Ctrl-C split its
        ``with``, unless this thread held the lock before."""
        lock = self._lock()
        held = lock._is_owned()
        try:
            return method(self, *args)
        except BaseException:
            if not held:
                _let_go(lock)
            raise
        finally:
            del self

    def cancelled(self) -> bool:
        try:
            return bool(self._guarded(Future.cancelled))
        finally:
            del self

    def add_done_callback(self, fn: Any) -> None:
        try:
            self._guarded(Future.add_done_callback, fn)
        finally:
            del self

    def __repr__(self) -> str:
        self.running()  # (a call whose kernel runs reads "running", as in ThreadPoolExecutor)
        try:
            return str(self._guarded(Future.__repr__))
        finally:
            del self

    def detach(self) -> None:
        """Forget the call once the future is done (collector only).

        The call holds this future and this future its call: kept, that cycle
        (and the failed call's error, whose traceback holds the caller's frames
        and so its arrays) lived until the next garbage collection.
        """
        self._call = None

    def _lock(self) -> Any:
        """The C lock inside the future's condition (see ``cancel``)."""
        return self._condition._lock  # type: ignore[attr-defined]

    def begin(self, first: int, count: int) -> bool:
        """The collector queues the call's tasks with ids ``first`` ...: False if cancelled.

        Under the future's lock, so that ``cancel()`` either sees the ids (and
        announces them to the workers) or wins before any task is queued.
        """
        call = self._call
        assert call is not None
        with self._condition:
            if self._state in _CANCELLED:
                return False
            call.first = first
            call.outcomes = [None] * count
            return True

    def _invoke_callbacks(self) -> None:
        # Future's own hook (private in concurrent.futures._base, stable since 3.2),
        # called when the collector completes the future: user callbacks run on the
        # callback thread instead, where they may block or submit.
        base: Any = super()
        if getattr(self, "_done_callbacks", None) and (
            threading.current_thread().name == COLLECTOR_NAME
        ):
            _callbacks.run(base._invoke_callbacks)
        else:
            base._invoke_callbacks()


COLLECTOR_NAME = "shardmem-collector"


def _let_go(lock: Any) -> None:
    """Release the future's lock if this thread still holds it after an interrupt.

    A ``KeyboardInterrupt`` raised right after ``with lock:`` acquired the lock,
    before its block began, leaves it held (the ``with`` never exits): the
    collector then hung on that future for good (issue 21's cancel storm,
    3 of 8 runs). No caller of ``cancel``/``running`` holds it on entry.
    """
    if lock._is_owned():
        lock._release_save()


class _CallbackThread:
    """One daemon thread that runs done callbacks in order (started on first use)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Any) -> None:
        self._queue.put(fn)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._loop, name="shardmem-callbacks", daemon=True
                    )
                    self._thread.start()

    def _loop(self) -> None:
        from shardmem._engine._state import block_signals

        block_signals()
        while True:
            fn = self._queue.get()
            try:
                fn()
            except BaseException:  # noqa: BLE001 - one callback must not end the others
                LOGGER.exception("exception calling a done callback of a shardmem future")


_callbacks = _CallbackThread()


@dataclass(eq=False, slots=True)
class Call:
    """The tasks of one call and their outcomes; mutated by the collector thread only."""

    kernel: Kernel
    tasks: list[Task]
    gang: bool
    inject: bool = True  # bind rank/size/barrier when the kernel names them
    single: bool = False  # the future's value is the one task's result, not a list
    first: int = 0  # id of the first task; task i has id first + i
    outcomes: list[tuple[Any, ...] | None] = field(default_factory=list)
    unreported: int = 0  # tasks queued whose outcome has not arrived
    completed: int = 0  # outcomes received (read by progress bars)
    buffers: dict[int, SharedBuffer] = field(default_factory=dict)
    future: CallFuture | None = None
    engine: Any = None  # the _Core that runs it, set when it is queued
    stop_error: BaseException | None = None  # set when the call is being stopped
    grace_end: float = 0.0
    error: BaseException | None = None  # ends the whole call (the pool broke or closed)
    holds_kernel: bool = False  # counted in the engine's kernel_calls until unpinned
    keep: Any = None  # the Pool, held until the call completes (a pool nobody else holds)
    wire: list[Any] = field(default_factory=list)  # each task's encoded arguments, once queued
    claimed: bool = False  # a cancel() announced its task ids (and did not take them back)
    each: int = 0  # a chunk of Pool.map (P.INJECT_EACH...): one task, the kernel once per item
    # A call whose tasks are chunks of the caller's tasks (``execute`` with many): the
    # caller's tasks, and where each chunk starts among them (the last: their count).
    items: list[Task] | None = None
    starts: list[int] = field(default_factory=list)

    @property
    def inject_code(self) -> int:
        """What a worker binds or does besides calling the kernel (P.INJECT_*)."""
        if self.each:
            return self.each
        if self.items is not None:
            return P.INJECT_TASKS
        if not self.inject:
            return 0
        return P.INJECT_GANG if self.gang else P.INJECT_RANK

    @property
    def name(self) -> str:
        return self.kernel.name

    def label(self, tid: int, item: int | None = None) -> str:
        """The task ``tid`` (``item``: the caller's task at that index in chunk ``tid``)."""
        index = tid - self.first
        if item is not None and self.items is not None and 0 <= index < len(self.starts) - 1:
            index = self.starts[index] + item
            task = self.items[index] if index < len(self.items) else None
            return (task.label if task is not None else "") or f"task {index}"
        if 0 <= index < len(self.tasks):
            return self.tasks[index].label or f"task {index}"
        return f"task {tid}"

    def weight(self, tid: int) -> int:
        """How many of the caller's tasks task ``tid`` stands for (a chunk: its size)."""
        index = tid - self.first
        if self.items is None or not 0 <= index < len(self.starts) - 1:
            return 1
        return self.starts[index + 1] - self.starts[index]


def results(call: Call) -> list[object]:
    """The call's results in task order, or raise its error (the first failure, in order)."""
    if call.error is not None:
        raise call.error
    failures = [o for o in call.outcomes if o is not None and o[0] == P.FAILED]
    if failures:
        raise error_of(call, failures[0])
    if call.stop_error is not None:
        raise call.stop_error
    values: list[object] = []
    for tid, message in enumerate(call.outcomes, call.first):
        if message is None or message[0] == P.CANCELLED:
            raise TaskCancelledError(f"{call.name}: task {call.label(tid)} was cancelled")
        values.append(decode(message[3]))
    return values


def kernel_seconds(call: Call) -> float:
    """Seconds the call's kernels ran, summed over its tasks that succeeded."""
    done = [o for o in call.outcomes if o is not None and o[0] == P.DONE and len(o) > 4]
    return float(sum(o[4] for o in done))


def decode(value: object) -> object:
    if type(value) is tuple and len(value) == 2 and value[0] == P.PICKLED:
        return pickle.loads(value[1])
    return value


def error_of(call: Call, message: tuple[Any, ...], where: str | None = None) -> BaseException:
    """The exception a FAILED message stands for (``where``: the task, when not its label)."""
    _, tid, rank, exc_type, text, remote, payload = message[:7]
    where = where or call.label(tid, message[7] if len(message) > 7 else None)
    if exc_type == P.SETUP_FAILED:
        lines = str(text).strip().splitlines() or [""]
        hint = ""
        if lines[0].startswith(("ImportError", "ModuleNotFoundError")):
            hint = (
                "; worker interpreters can import the standard library and pure-Python "
                "modules only (NumPy cannot be imported in a subinterpreter today): "
                "use array, struct, math, ... inside kernels"
            )
        return ShippingError(
            f"kernel {call.name!r} cannot be set up in worker {rank}: {lines[-1].strip()}{hint}"
        )
    error = KernelError(
        f"kernel {call.name!r} raised {exc_type}: {text} (worker {rank}, {where})",
        kernel=call.name,
        task=where,
        exc_type=exc_type,
        remote_traceback=remote,
    )
    if payload is not None:
        try:
            exc = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - fall back to the KernelError alone
            return error
        if isinstance(exc, BaseException):
            exc.__cause__ = error
            return exc
    return error
