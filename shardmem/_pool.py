"""The engine: a pool of worker interpreters, each driven by its own thread.

How a call travels (see ``_protocol.py`` for the messages):

1. The kernel is packed (``_kernel.pack``) and defined once in every worker
   that lacks it; a worker that cannot define it refuses the call before any
   task is queued.
2. Each buffer a task touches is handed to a worker once, as a memoryview
   (the same memory, no copy), and cached there until the buffer is closed.
3. Tasks are small tuples put on a worker's own queue (static shards, SPMD
   ranks) or on the shared queue (dynamic chunks, ``submit``).
4. The calling thread collects results itself: it polls the results queue
   for a few microseconds, then blocks on an eventfd. Workers do the same
   with their queues. CPython's own blocking ``Queue.get()`` sleeps in 10 ms
   steps, so it is never used.
5. On an error, a timeout or Ctrl-C, the call's other tasks are stopped: a
   watchdog thread inside each worker raises in its compute thread with
   ``PyThreadState_SetAsyncExc``, because neither signals nor
   ``KeyboardInterrupt`` reach a subinterpreter's thread.

When several threads of the main interpreter wait at once, one of them (the
leader) drains the results queue for everyone and the others sleep on a
condition until their call is done or the leadership is free.
"""

from __future__ import annotations

import _interpqueues
import atexit
import contextlib
import contextvars
import itertools
import marshal
import mmap
import os
import pickle
import select
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import interpreters
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from shardmem import _protocol as P  # noqa: N812 - P.TASK etc. read like the protocol's names
from shardmem._buffer import SharedBuffer, add_release_listener, remove_release_listener
from shardmem._errors import (
    ArgumentTypeError,
    ClosedError,
    InvalidArgumentError,
    KernelError,
    PoolBrokenError,
    ShippingError,
    TaskCancelledError,
    TaskTimeoutError,
)
from shardmem._kernel import Kernel, _is_plain, pack

__all__ = [
    "Pool",
    "Task",
    "ViewSpec",
    "as_view",
    "check_params",
    "default_pool",
    "resolve_pool",
    "run",
    "submit",
]

SPIN = 100e-6  # seconds a waiting side polls before it blocks
MAX_WORKERS = 4096  # barrier tokens carry the round (log2 of the size) in 6 bits
STOP_GRACE = 2.0  # seconds to wait for stopped tasks to report before giving up on them
_TICK = 0.1  # longest single block of a waiting thread (progress bars, leader hand-off)

_HAVE_EVENTFD = hasattr(os, "eventfd")

# The low-level queue functions, by queue id: the methods of ``Queue`` add
# ~0.5 us per call and ``get_nowait`` raises on every empty poll.
_qput: Callable[..., None] = _interpqueues.put
_qget = _interpqueues.get
_qcount = _interpqueues.get_count
_yield = getattr(os, "sched_yield", lambda: None)


class ViewSpec(NamedTuple):
    """A typed, C-contiguous window of a buffer, as a worker will see it."""

    buffer: SharedBuffer
    offset: int
    nbytes: int
    format: str
    shape: tuple[int, ...]


@dataclass(slots=True)
class Task:
    """One unit of work: kernel arguments, where to run it, and a label for errors."""

    views: tuple[ViewSpec | object, ...]
    kwargs: tuple[tuple[str, object], ...] = ()
    rank: int | None = None  # None: any worker (shared queue)
    label: str = ""


def _boot_code() -> bytes:
    here = Path(__file__).parent
    codes = [
        compile((here / name).read_text(), str(here / name), "exec")
        for name in ("_protocol.py", "_worker.py")
    ]
    return marshal.dumps(tuple(codes))


_BOOT: bytes | None = None
_BOOT_SCRIPT = "import marshal as _m\nfor _c in _m.loads(BOOT):\n    exec(_c)\n"


def _boot() -> bytes:
    global _BOOT
    if _BOOT is None:
        _BOOT = _boot_code()
    return _BOOT


# -- wake-ups ---------------------------------------------------------------------------


class _Waker:
    """An fd pair another interpreter can write to wake whoever blocks on it."""

    def __init__(self, *, nonblocking: bool) -> None:
        if _HAVE_EVENTFD:
            flags = os.EFD_CLOEXEC | (os.EFD_NONBLOCK if nonblocking else 0)
            self.read_fd = self.write_fd = os.eventfd(0, flags)
        else:  # pragma: no cover - non-Linux
            self.read_fd, self.write_fd = os.pipe()
            os.set_blocking(self.read_fd, not nonblocking)

    def wake(self) -> None:
        if _HAVE_EVENTFD:
            os.eventfd_write(self.write_fd, 1)
        else:  # pragma: no cover
            os.write(self.write_fd, b"\0")

    def drain(self) -> None:
        try:
            if _HAVE_EVENTFD:
                os.eventfd_read(self.read_fd)
            else:  # pragma: no cover
                os.read(self.read_fd, 4096)
        except BlockingIOError:
            pass

    def close(self) -> None:
        for fd in {self.read_fd, self.write_fd}:
            os.close(fd)


# -- calls ------------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Call:
    """The tasks of one call and their outcomes, filled in by whoever drains results."""

    kernel: str
    labels: dict[int, str]
    remaining: int
    outcomes: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    future: Future[Any] | None = None
    keep: object = None  # the tasks, so their buffers outlive the call
    after: Callable[[_Call], None] | None = None  # run by whoever completes the call
    buffers: tuple[int, ...] = ()  # ids of the buffers its tasks use
    done: bool = False
    stopping: bool = False


class _Worker:
    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.sleeping = P.C_HEADER + rank * P.C_STRIDE + P.W_SLEEPING  # its flag in the ctrl block
        self.tasks = interpreters.create_queue()
        self.control = interpreters.create_queue()
        self.evicts = interpreters.create_queue()
        self.stops = interpreters.create_queue()
        self.inbox = interpreters.create_queue()
        self.waker = _Waker(nonblocking=False)
        self.watch_r, self.watch_w = os.pipe()
        self.buffers: set[int] = set()
        self.kernels: set[str] = set()
        self.thread: threading.Thread | None = None
        self.interp: interpreters.Interpreter | None = None
        self.exited = threading.Event()  # its loop has returned (or never started)


class _Core:
    """Everything a pool owns; threads refer to this, never to the public ``Pool``."""

    def __init__(self, workers: int) -> None:
        self.size = workers
        self.ctrl_bytes = bytearray(8 * (P.C_HEADER + workers * P.C_STRIDE))
        self.ctrl = memoryview(self.ctrl_bytes).cast("q")
        self.results = interpreters.create_queue()
        # Message slots (see _protocol.py): chunks shared with every worker, grown on demand.
        self.arena: list[memoryview] = []
        self.free_slots: list[int] = []
        self.slot_of: dict[int, int] = {}  # task id -> its slot, until its outcome is read
        self.shared = interpreters.create_queue()
        self.main_waker = _Waker(nonblocking=True)
        self.workers = [_Worker(rank) for rank in range(workers)]
        self.ids = itertools.count(1)
        self.pending: dict[int, _Call] = {}
        self.in_use: dict[int, int] = {}  # buffer id -> pending calls that use it
        self.everywhere: set[str] = set()  # keys of kernels every worker has defined
        self.submit_lock = threading.RLock()
        self.drain_lock = threading.Lock()
        self.drainer: int | None = None
        self.cond = threading.Condition(threading.Lock())
        self.closed = False
        self.broken: str | None = None
        # Items a worker put on a queue become unbound when its interpreter is
        # destroyed, so interpreters are closed only after the results are drained.
        self.release = threading.Event()
        self._start()
        add_release_listener(self.on_buffer_released)

    # -- life cycle -----------------------------------------------------------------------

    def _start(self) -> None:
        ready = _Call(kernel="<start>", labels={}, remaining=self.size)
        for w in self.workers:
            self.pending[-1 - w.rank] = ready  # each worker reports (DONE, -1 - rank) when ready
        for w in self.workers:
            w.thread = threading.Thread(
                target=self._drive, args=(w,), name=f"shardmem-worker-{w.rank}", daemon=True
            )
            w.thread.start()
        try:
            self.wait(ready, deadline=time.monotonic() + 60)
        except BaseException:
            self.close()
            raise
        if self.broken:
            self.close()
            raise PoolBrokenError(f"a worker interpreter failed to start:\n{self.broken}")

    def _drive(self, w: _Worker) -> None:
        """Owner thread of one worker: create it, run its loop until STOP, close it."""
        interp = None
        try:
            interp = interpreters.create()
            w.interp = interp
            interp.prepare_main(
                RANK=w.rank,
                SIZE=self.size,
                TASKS=w.tasks.id,
                CONTROL=w.control.id,
                EVICTS=w.evicts.id,
                STOPS=w.stops.id,
                SHARED=self.shared.id,
                RESULTS=self.results.id,
                INBOXES=tuple(x.inbox.id for x in self.workers),
                USE_EVENTFD=_HAVE_EVENTFD,
                WAKE_FDS=tuple(x.waker.write_fd for x in self.workers),
                WAIT_FD=w.waker.read_fd,
                MAIN_FD=self.main_waker.write_fd,
                WATCH_FD=w.watch_r,
                WATCH_W=w.watch_w,
                CTRL=self.ctrl,
                SPIN=SPIN,
                BOOT=_boot(),
            )
            interp.exec(_BOOT_SCRIPT)
        except BaseException as exc:  # noqa: BLE001 - reported to every waiting caller
            text = getattr(getattr(exc, "excinfo", None), "errdisplay", None) or repr(exc)
            _qput(self.results.id, (P.DIED, 0, w.rank, str(text)))
            self.main_waker.wake()
        finally:
            w.exited.set()
            if interp is not None:
                self.release.wait()
                interp.close()

    def close(self, *, cancel: bool = False) -> None:
        with self.submit_lock:
            if self.closed:
                return
            self.closed = True
        remove_release_listener(self.on_buffer_released)
        if cancel:
            self.stop_ids(1, sys.maxsize)
        for _ in self.workers:  # behind every queued task: each worker takes one
            self._put_shared((P.STOP,), wake_all=True)
        limit = STOP_GRACE if self.broken else None  # a stuck worker is left behind
        try:
            _wait_all((w.exited for w in self.workers), limit)
        except BaseException:
            self.stop_ids(1, sys.maxsize)
            _wait_all((w.exited for w in self.workers), STOP_GRACE)
            raise
        finally:
            self._deliver_leftovers()
            self._fail_all(ClosedError("the pool was closed before this call finished"))
            self.release.set()
            for w in self.workers:
                if w.exited.is_set():
                    _join(w.thread)
            self._release_fds()

    def _release_fds(self) -> None:
        left = [w for w in self.workers if w.thread is not None and w.thread.is_alive()]
        for w in self.workers:
            if w not in left:
                w.waker.close()
                os.close(w.watch_r)
                os.close(w.watch_w)
        if not left:  # a worker left behind may still write to it: never recycle its number
            self.main_waker.close()

    def _deliver_leftovers(self) -> None:
        """After the workers stopped: hand out the results still in the queue."""
        got = self.drain_lock.acquire(timeout=STOP_GRACE)
        try:
            qid = self.results.id
            while _qcount(qid):
                self._deliver(_qget(qid)[0], None)
        finally:
            if got:
                self.drain_lock.release()
            with self.cond:
                self.cond.notify_all()

    # -- sending ---------------------------------------------------------------------------

    def _put(self, w: _Worker, message: int | tuple[Any, ...], *, control: bool = False) -> None:
        _qput(w.control.id if control else w.tasks.id, message)
        if self.ctrl[w.sleeping]:
            w.waker.wake()

    def _put_shared(self, message: int | tuple[Any, ...], *, wake_all: bool = False) -> None:
        """Queue for any worker; wake as many sleeping workers as there are queued items.

        A woken worker keeps its sleeping flag until it runs again, so waking
        "the first sleeper" for each of two quick puts would wake the same one
        twice and leave the other asleep (one worker doing both tasks).
        """
        qid = self.shared.id
        _qput(qid, message)
        ctrl = self.ctrl
        sleepers = [w for w in self.workers if ctrl[w.sleeping]]
        if sleepers:  # (rare while tasks flow: do not count the queue for nothing)
            for w in sleepers if wake_all else sleepers[: _qcount(qid)]:
                w.waker.wake()

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("this pool is closed; create a new shardmem.Pool() to run more work")
        if self.broken:
            raise PoolBrokenError(f"this pool is broken and cannot run work:\n{self.broken}")

    def define(self, kernel: Kernel, *, wait: bool = True, deadline: float | None = None) -> None:
        """Make ``kernel`` known to every worker, or raise ``ShippingError``.

        With ``wait=False`` (``submit``) the definitions are queued ahead of
        the task without waiting for busy workers; a worker that cannot define
        the kernel then fails the task with the same explanation.
        """
        if kernel.key in self.everywhere:
            return
        missing = [w for w in self.workers if kernel.key not in w.kernels]
        if not missing:
            self.everywhere.add(kernel.key)
            return
        # On the control queue, which a worker drains after taking any task: a task
        # that overtakes the definition through the shared queue still finds it.
        call = self._broadcast(
            missing, lambda tid: (P.KERNEL, tid, kernel.key, kernel.blob), control=True
        )
        for w in missing:
            w.kernels.add(kernel.key)
        call.kernel = kernel.name
        if not wait:
            call.after = lambda done: self._forget_if_failed(kernel, done, missing)
            return
        try:
            self.finish(call, deadline)
        except BaseException:
            self._forget_if_failed(kernel, None, missing)
            raise
        error = _define_error(kernel, call)
        if error is not None:
            self._forget_if_failed(kernel, None, missing)
            raise error

    def _forget_if_failed(self, kernel: Kernel, call: _Call | None, workers: list[_Worker]) -> None:
        """Send the kernel again next time if defining it failed (or its outcome is unknown)."""
        if call is None or _define_error(kernel, call) is not None:
            for w in workers:
                w.kernels.discard(kernel.key)
            self.everywhere.discard(kernel.key)

    def _broadcast(
        self,
        workers: list[_Worker],
        message: Callable[[int], tuple[Any, ...]],
        *,
        evict: bool = False,
        control: bool = False,
    ) -> _Call:
        """Send each worker a control message with its own id; the call ends when all ack."""
        call = _Call(kernel="<control>", labels={}, remaining=len(workers))
        with self.submit_lock:
            self._check_open()
            for w in workers:
                tid = next(self.ids)
                self.pending[tid] = call
                if evict:  # the watchdog serves these at once, even while a task runs
                    _qput(w.evicts.id, message(tid))
                    os.write(w.watch_w, b"e")
                else:
                    self._put(w, message(tid), control=control)
        return call

    def _share(self, w: _Worker, buffer: SharedBuffer) -> None:
        if buffer.id not in w.buffers:
            w.buffers.add(buffer.id)
            self._put(w, (P.BUFFER, buffer.id, memoryview(buffer._data)), control=True)

    def submit(
        self,
        kernel: Kernel,
        tasks: Sequence[Task],
        *,
        gang: bool,
        future: bool = False,
        deadline: float | None = None,
    ) -> _Call:
        """Queue ``tasks`` (all workers' queues in one order when ``gang``)."""
        self.define(kernel, wait=not future, deadline=deadline)
        buffers = {v.buffer.id: v.buffer for t in tasks for v in t.views if isinstance(v, ViewSpec)}
        for b in buffers.values():
            if b.closed:
                raise ClosedError(f"{b!r} is closed; its arrays can no longer be used")
        call = _Call(kernel=kernel.name, labels={}, remaining=len(tasks), keep=tasks)
        call.buffers = tuple(buffers)
        if future:
            call.future = _TaskFuture(self, call)
        with self.submit_lock:
            self._check_open()
            for bid in call.buffers:
                self.in_use[bid] = self.in_use.get(bid, 0) + 1
            if buffers:  # each worker that may run a task gets each buffer once
                ranks = {t.rank for t in tasks}
                sharers = (
                    self.workers
                    if None in ranks
                    else [self.workers[r] for r in ranks if r is not None]
                )
                for w in sharers:
                    for buffer in buffers.values():
                        self._share(w, buffer)
            first = next(self.ids)
            ids = [first, *(next(self.ids) for _ in range(len(tasks) - 1))] if tasks else []
            call_id = first
            for tid, task in zip(ids, tasks, strict=True):
                call.labels[tid] = task.label
                self.pending[tid] = call
                views = tuple(_wire(v) for v in task.views)
                message = self._encode((P.TASK, tid, kernel.key, views, task.kwargs, call_id))
                if task.rank is None:
                    self._put_shared(message)
                else:
                    self._put(self.workers[task.rank], message)
        if not tasks:
            call.done = True
        return call

    def _encode(self, message: tuple[Any, ...]) -> int | tuple[Any, ...]:
        """A task message in a free slot (an int on the queue), or the tuple itself."""
        try:
            data = marshal.dumps(message)
        except ValueError:  # a parameter marshal cannot write (a range): sent as it is
            return message
        if len(data) > P.SLOT_BYTES:
            return message
        if self.free_slots:
            slot = self.free_slots.pop()
        elif len(self.arena) < P.MAX_CHUNKS:
            slot = self._grow_arena()
        else:
            return message
        self._slot(slot, len(data))[:] = data
        self.slot_of[message[1]] = slot
        return slot << P.LENGTH_BITS | len(data)

    def _grow_arena(self) -> int:
        """Add a chunk of slots, shared with every worker before any task uses it."""
        index = len(self.arena)
        count = P.FIRST_CHUNK << index
        # An anonymous mapping: its pages cost memory only once touched, and they go
        # back to the system when the chunk is dropped (a bytearray this large would
        # raise glibc's mmap threshold and stay in the heap after it is freed).
        chunk = memoryview(mmap.mmap(-1, P.SLOT_BYTES * count))
        self.arena.append(chunk)
        for w in self.workers:
            self._put(w, (P.ARENA, index, chunk), control=True)
        first = index << P.CHUNK_SHIFT
        self.free_slots.extend(range(first + count - 1, first, -1))
        return first

    def _shrink_arena(self) -> None:
        """Drop every chunk but the first once no slot is in use (called while draining).

        It never waits for the submit lock: a thread holding it may be waiting
        for this drain (a buffer released mid-submit); the next delivery that
        empties the slots tries again.
        """
        if not self.submit_lock.acquire(blocking=False):
            return
        try:
            if self.slot_of or self.closed or len(self.arena) <= 1:
                return
            for index in range(1, len(self.arena)):
                for w in self.workers:
                    self._put(w, (P.ARENA, index, None), control=True)
            del self.arena[1:]
            self.free_slots[:] = range(P.FIRST_CHUNK - 1, -1, -1)
        finally:
            self.submit_lock.release()

    def _slot(self, slot: int, length: int) -> memoryview:
        """The first ``length`` bytes of message slot ``slot``."""
        start = (slot & ((1 << P.CHUNK_SHIFT) - 1)) * P.SLOT_BYTES
        return self.arena[slot >> P.CHUNK_SHIFT][start : start + length]

    # -- receiving ---------------------------------------------------------------------------

    def wait(
        self, call: _Call, deadline: float | None, progress: Callable[[int], None] | None = None
    ) -> None:
        """Block until ``call`` is done, draining results for every caller meanwhile."""
        while not call.done:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError
            if self.drain_lock.acquire(blocking=False):
                self.drainer = threading.get_ident()
                try:
                    self._drain(call, deadline, progress)
                finally:
                    self.drainer = None
                    self.drain_lock.release()
                    with self.cond:
                        self.cond.notify_all()
            else:
                with self.cond:
                    if self.drain_lock.locked() and not call.done:
                        self.cond.wait(
                            _TICK
                            if deadline is None
                            else max(0.0, min(_TICK, deadline - time.monotonic()))
                        )

    def _drain(
        self, call: _Call, deadline: float | None, progress: Callable[[int], None] | None
    ) -> None:
        qid = self.results.id
        while not call.done:
            if _qcount(qid):
                message = _qget(qid)[0]
            else:
                message = self._sleep(deadline)
                if message is None:
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    if progress is not None:
                        progress(0)
                    continue
            self._deliver(message, call)
            if progress is not None:
                progress(1)

    def _sleep(self, deadline: float | None) -> int | tuple[Any, ...] | None:
        """Poll for SPIN seconds, then block on the main wake fd (at most _TICK)."""
        qid = self.results.id
        end = time.perf_counter() + SPIN
        while time.perf_counter() < end:
            _yield()  # with a worker per core, a spinning main thread must not starve them
            if _qcount(qid):
                return _qget(qid)[0]  # type: ignore[no-any-return]
        ctrl = self.ctrl
        ctrl[P.C_MAIN_SLEEPING] = 1
        try:
            if _qcount(qid):
                return _qget(qid)[0]  # type: ignore[no-any-return]
            timeout = (
                _TICK if deadline is None else max(0.0, min(_TICK, deadline - time.monotonic()))
            )
            ready, _, _ = select.select([self.main_waker.read_fd], [], [], timeout)
            if ready:
                self.main_waker.drain()
        finally:
            ctrl[P.C_MAIN_SLEEPING] = 0
        return None

    def _deliver(self, item: int | tuple[Any, ...], mine: _Call | None) -> None:
        message: tuple[Any, ...] = (
            # an outcome in its task's slot
            marshal.loads(self._slot(item >> P.LENGTH_BITS, item & ((1 << P.LENGTH_BITS) - 1)))
            if isinstance(item, int)
            else item
        )
        tag, tid, rank = message[0], message[1], message[2]
        slot = self.slot_of.pop(tid, None)
        if slot is not None:
            self.free_slots.append(slot)
            if not self.slot_of and len(self.arena) > 1:
                self._shrink_arena()
        if tag == P.DIED:
            self.broken = f"worker {rank} died:\n{message[3]}"
            self._fail_all(PoolBrokenError(f"this pool is broken: {self.broken}"))
            self.stop_ids(1, sys.maxsize)  # the others' calls fail too: stop their kernels
            return
        call = self.pending.pop(tid, None)
        if call is None:
            return  # an outcome of a call that was abandoned
        call.outcomes[tid] = message
        call.remaining -= 1
        if call.remaining == 0:
            call.done = True
            self._release_buffers(call)
            if call.after is not None:
                call.after(call)
            if call.future is not None:
                _resolve(call)
            if call is not mine:
                with self.cond:
                    self.cond.notify_all()
        elif tag == P.FAILED and not call.stopping:
            self.stop(call)

    def _release_buffers(self, call: _Call) -> None:
        for b in call.buffers:
            left = self.in_use.get(b, 0) - 1
            if left > 0:
                self.in_use[b] = left
            else:
                self.in_use.pop(b, None)
        call.buffers = ()

    def _fail_all(self, error: BaseException) -> None:
        """End every pending call with ``error`` (the pool broke or closed under it)."""
        with self.cond:
            calls = {id(c): c for c in self.pending.values()}.values()
            self.pending.clear()
            for call in calls:
                call.done = True
                self._release_buffers(call)
                call.outcomes[_FAILED_CALL] = (_FAILED_CALL, error)
                if call.future is not None and not call.future.done():
                    call.future.set_exception(error)
            self.cond.notify_all()

    # -- stopping ------------------------------------------------------------------------------

    def stop(self, call: _Call) -> None:
        """Skip the call's queued tasks and stop its running ones."""
        call.stopping = True
        ids = [tid for tid, c in list(self.pending.items()) if c is call]
        if ids:
            self.stop_ids(min(ids), max(ids))

    def stop_ids(self, lo: int, hi: int) -> None:
        """Ask every worker to skip or stop the tasks whose ids are in ``[lo, hi]``."""
        for w in self.workers:
            if w.exited.is_set():
                continue
            _qput(w.stops.id, (lo, hi))
            try:
                os.write(w.watch_w, b"c")
                w.waker.wake()
            except OSError:
                pass

    def finish(
        self, call: _Call, deadline: float | None, progress: Callable[[int], None] | None = None
    ) -> None:
        """Wait for ``call``; on timeout or interruption stop it and wait for it to settle."""
        try:
            self.wait(call, deadline, progress)
        except TimeoutError:
            if self._settle(call):
                raise TaskTimeoutError(
                    f"{call.kernel}: did not finish within its timeout, and its running tasks "
                    f"did not stop within {STOP_GRACE:g} s of being asked (a kernel that catches "
                    "BaseException, or one stuck in a long C call); this pool is broken now: "
                    "create a new Pool"
                ) from None
            raise TaskTimeoutError(
                f"{call.kernel}: did not finish within its timeout; its running tasks were "
                "stopped and its queued tasks skipped (the pool is still usable)"
            ) from None
        except BaseException:
            self._settle(call)
            raise

    def _settle(self, call: _Call) -> bool:
        """Stop ``call`` and wait for it; True when a task would not stop (the pool broke)."""
        self.stop(call)
        try:
            self.wait(call, time.monotonic() + STOP_GRACE)
        except TimeoutError:
            stuck = sorted(
                {call.labels.get(t, str(t)) for t, c in self.pending.items() if c is call}
            )
            self.broken = (
                f"kernel {call.kernel!r} ({', '.join(stuck)}) did not stop within "
                f"{STOP_GRACE:g} s of a stop request and keeps its worker busy"
            )
            self._fail_all(PoolBrokenError(f"this pool is broken: {self.broken}"))
            return True
        return False

    # -- buffers ---------------------------------------------------------------------------------

    def on_buffer_released(self, buffer_id: int) -> None:
        """Release listener: drop every worker's cached view of a closing buffer."""
        holders = [w for w in self.workers if buffer_id in w.buffers]
        if not holders or self.closed or self.broken or self.in_use.get(buffer_id):
            return  # a pending call uses it: the workers keep their views, close() refuses
        for w in holders:
            w.buffers.discard(buffer_id)
        call = self._broadcast(holders, lambda tid: (P.EVICT, tid, buffer_id), evict=True)
        if self.drainer == threading.get_ident():
            return  # called from a finalizer inside our own drain loop: do not wait
        with contextlib.suppress(TimeoutError):
            self.wait(call, time.monotonic() + STOP_GRACE)


def _define_error(kernel: Kernel, call: _Call) -> ShippingError | None:
    failures = [o for o in call.outcomes.values() if o[0] == P.FAILED]
    if not failures:
        return None
    _, _, rank, exc_type, message, _text, _ = failures[0]
    hint = ""
    if exc_type in {"ImportError", "ModuleNotFoundError"}:
        hint = (
            "; worker interpreters can import the standard library and pure-Python "
            "modules only (NumPy cannot be imported in a subinterpreter today): "
            "use array, struct, math, ... inside kernels"
        )
    lines = str(message).strip().splitlines() or [""]
    return ShippingError(
        f"kernel {kernel.name!r} cannot be set up in worker {rank}: "
        f"{exc_type}: {lines[-1].strip()}{hint}"
    )


def _wire(value: ViewSpec | object) -> object:
    if isinstance(value, ViewSpec):
        return (value.buffer.id, value.offset, value.nbytes, value.format, value.shape)
    return value


def _wait_all(events: Iterable[threading.Event], limit: float | None = None) -> None:
    """Wait in short steps, so Ctrl-C reaches the main thread meanwhile (``limit``: overall)."""
    end = None if limit is None else time.monotonic() + limit
    for event in events:
        while not event.wait(0.05):
            if end is not None and time.monotonic() >= end:
                return


def _join(thread: threading.Thread | None) -> None:
    """Join in short steps so Ctrl-C reaches the main thread (it is not delivered in join)."""
    while thread is not None and thread.is_alive():
        thread.join(0.05)


# -- outcomes ----------------------------------------------------------------------------------


_FAILED_CALL = -1  # outcomes key (and tag) of an error that ended the whole call


def outcome_values(call: _Call) -> list[object]:
    """The call's results in task order, or raise the first failure (in task order)."""
    failed = call.outcomes.get(_FAILED_CALL)
    if failed is not None:
        error = failed[1]
        raise type(error)(f"{call.kernel}: {error}")
    values: list[object] = []
    for tid in sorted(call.outcomes):
        message = call.outcomes[tid]
        tag = message[0]
        if tag == P.FAILED:
            raise _error(call, message)
    for tid in sorted(call.outcomes):
        message = call.outcomes[tid]
        if message[0] == P.CANCELLED:
            raise TaskCancelledError(
                f"{call.kernel}: task {call.labels.get(tid, tid)} was cancelled"
            )
        values.append(_decode(message[3]))
    return values


def _decode(value: object) -> object:
    if type(value) is tuple and len(value) == 2 and value[0] == P.PICKLED:
        return pickle.loads(value[1])
    return value


def _error(call: _Call, message: tuple[Any, ...]) -> BaseException:
    _, tid, rank, exc_type, text, remote, payload = message
    where = call.labels.get(tid) or f"task {tid}"
    error = KernelError(
        f"kernel {call.kernel!r} raised {exc_type}: {text} (worker {rank}, {where})",
        kernel=call.kernel,
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


def _resolve(call: _Call) -> None:
    future = call.future
    assert future is not None
    if future.done():
        return
    try:
        values = outcome_values(call)
    except BaseException as exc:  # noqa: BLE001 - stored in the future
        future.set_exception(exc)
    else:
        future.set_result(values[0])


class _TaskFuture(Future[Any]):
    """A ``concurrent.futures.Future`` whose ``result()`` collects results itself."""

    def __init__(self, core: _Core, call: _Call) -> None:
        super().__init__()
        self._core = core
        self._call = call

    def _collect(self, timeout: float | None) -> None:
        if self.done():
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._core.wait(self._call, deadline)
        except TimeoutError:
            raise TimeoutError(f"{self._call.kernel}: no result within {timeout} s") from None

    def result(self, timeout: float | None = None) -> Any:
        self._collect(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._collect(timeout)
        return super().exception(0)

    def cancel(self) -> bool:
        if self.done():
            return False
        self._core.stop(self._call)
        return False  # it may already run; the outcome arrives as TaskCancelledError


# -- public ------------------------------------------------------------------------------------


class Pool:
    """A pool of worker interpreters that run pure-Python kernels on shared arrays.

    Each worker is a subinterpreter with its own GIL, driven by its own
    thread, so kernels run on every core at once. Arrays reach workers as
    views of the same memory, never copies.

    Parameters
    ----------
    workers : int, optional
        Number of worker interpreters (1 to 4096); default
        ``os.process_cpu_count()``.

    Examples
    --------
    >>> import shardmem as sm
    >>> def fill(out, *, rank, size, value):
    ...     n = len(out)
    ...     lo, hi = rank * n // size, (rank + 1) * n // size
    ...     for i in range(lo, hi):
    ...         out[i] = value + i
    >>> a = sm.zeros(6, dtype="int64")
    >>> with sm.Pool(2) as pool:
    ...     _ = pool.run(fill, a, value=10)
    >>> a.tolist()
    [10, 11, 12, 13, 14, 15]

    Calls from several threads are safe and run side by side: their tasks
    share the workers' queues in the order they were submitted.
    """

    def __init__(self, workers: int | None = None) -> None:
        count = _worker_count(workers)
        self._core = _Core(count)
        self._finalizer = weakref.finalize(self, self._core.close, cancel=True)

    @property
    def size(self) -> int:
        """Number of worker interpreters."""
        return self._core.size

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._core.closed

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<shardmem.Pool workers={self.size} {state}>"

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Close the pool: gracefully, or stopping running work when the block raised."""
        self._finalizer.detach()
        self._core.close(cancel=exc_type is not None)

    def close(self) -> None:
        """Finish queued work, stop the workers and close their interpreters (idempotent)."""
        self._finalizer.detach()
        self._core.close()

    def run(
        self,
        kernel: Callable[..., object],
        /,
        *arrays: object,
        timeout: float | None = None,
        progress: bool = False,
        **params: object,
    ) -> list[object]:
        """Run ``kernel`` once on every worker (SPMD) and return each rank's result.

        The kernel receives each array as a flat typed ``memoryview`` of the
        whole array, the keyword ``params``, and, when it asks for them by
        name, ``rank`` (0 .. size-1), ``size`` and ``barrier`` (a callable
        that returns once every rank has called it).

        Examples
        --------
        >>> import shardmem as sm
        >>> def ranks(*, rank, size):
        ...     return (rank, size)
        >>> with sm.Pool(2) as pool:
        ...     pool.run(ranks)
        [(0, 2), (1, 2)]
        """
        views = tuple(as_view(a, "run") for a in arrays)
        kwargs = check_params(params)
        tasks = [Task(views, kwargs, rank=r, label=f"rank {r}") for r in range(self.size)]
        return self._execute(kernel, tasks, gang=True, timeout=timeout, progress=progress)

    def submit(
        self, kernel: Callable[..., object], /, *arrays: object, **params: object
    ) -> Future[Any]:
        """Queue one call of ``kernel`` on any free worker; return a future of its result.

        Examples
        --------
        >>> import shardmem as sm
        >>> def total(values):
        ...     return sum(values)
        >>> a = sm.arange(101, dtype="int64")
        >>> with sm.Pool(2) as pool:
        ...     pool.submit(total, a).result(timeout=10)
        5050
        """
        views = tuple(as_view(a, "submit") for a in arrays)
        task = Task(views, check_params(params), label="submitted task")
        call = self._core.submit(pack(kernel), [task], gang=False, future=True)
        assert call.future is not None
        return call.future

    def _execute(
        self,
        kernel: Callable[..., object],
        tasks: Sequence[Task],
        *,
        gang: bool = False,
        timeout: float | None = None,
        progress: bool = False,
    ) -> list[object]:
        """Run ``tasks`` and return their results in order (the primitives' entry point)."""
        packed = pack(kernel)
        deadline = None if timeout is None else time.monotonic() + _check_timeout(timeout)
        bar = _progress_bar(progress, len(tasks), packed.name)
        try:
            call = self._core.submit(packed, tasks, gang=gang, deadline=deadline)
            self._core.finish(call, deadline, None if bar is None else bar.tick)
        finally:
            if bar is not None:
                bar.close()
        return outcome_values(call)


class _Bar:
    """A progress bar over tasks: tqdm (terminal or notebook) when installed, else text."""

    def __init__(self, total: int, name: str) -> None:
        self.total, self.name, self.n = total, name, 0
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.tqdm = None
        else:
            tqdm.monitor_interval = 0  # no monitor thread left running after the call
            self.tqdm = tqdm(total=total, desc=name, unit="task", leave=False)

    def tick(self, n: int) -> None:
        self.n += n
        if self.tqdm is not None:
            self.tqdm.update(n) if n else self.tqdm.refresh()
        else:
            print(f"\r{self.name}: {self.n}/{self.total} tasks", end="", file=sys.stderr)

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
        else:
            print(file=sys.stderr)


_progress_default: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "shardmem_progress", default=False
)


@contextlib.contextmanager
def progress_default(enabled: bool) -> Iterator[None]:
    """Show a progress bar for every call inside the block (the command line's bars)."""
    token = _progress_default.set(enabled)
    try:
        yield
    finally:
        _progress_default.reset(token)


def _progress_bar(progress: bool, total: int, name: str) -> _Bar | None:
    return _Bar(total, name) if progress or _progress_default.get() else None


def _check_timeout(timeout: float) -> float:
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout >= 0:
        raise InvalidArgumentError(
            f"timeout={timeout!r} is not allowed; give a number of seconds >= 0, or None to wait"
        )
    return float(timeout)


def _worker_count(workers: int | None) -> int:
    if workers is None:
        return os.process_cpu_count() or 1
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise ArgumentTypeError(f"workers={workers!r} must be an int (or None for one per core)")
    if workers < 1:
        raise InvalidArgumentError(
            f"workers={workers} is too small; a pool needs at least 1 worker"
        )
    if workers > MAX_WORKERS:
        raise InvalidArgumentError(
            f"workers={workers} is more than a pool can start (at most {MAX_WORKERS}: each "
            "worker is an interpreter with its own thread); use about one per core"
        )
    return workers


def as_view(value: object, where: str) -> ViewSpec:
    """The whole of a SharedArray (C-contiguous) or SharedBuffer, as a flat view."""
    from shardmem._array import SharedArray

    if isinstance(value, SharedBuffer):
        return ViewSpec(value, 0, value.nbytes, "B", (value.nbytes,))
    if isinstance(value, SharedArray):
        if not value._is_c_contiguous():
            raise InvalidArgumentError(
                f"{where}(): an array argument is not C-contiguous (strides {value.strides}); "
                "workers see arrays as flat memoryviews, so pass a.copy() instead"
            )
        return ViewSpec(
            value._buffer, value._offset, value.nbytes, value.dtype.format, (value.size,)
        )
    raise ArgumentTypeError(
        f"{where}(): positional arguments after the kernel must be SharedArrays or "
        f"SharedBuffers, not {type(value).__name__}; convert data with sm.asarray(x) and pass "
        "scalars as keyword parameters"
    )


def check_params(params: dict[str, object]) -> tuple[tuple[str, object], ...]:
    """Keyword parameters as a shareable tuple, refusing values a worker cannot receive."""
    for name, value in params.items():
        if not _is_plain(value):
            raise ShippingError(
                f"parameter {name}={type(value).__name__} cannot be sent to a worker: parameters "
                "must be numbers, strings, bytes, None or tuples/lists/dicts of them; pass arrays "
                "positionally as SharedArrays"
            )
    return tuple(params.items())


# -- the default pool ----------------------------------------------------------------------------

_default: Pool | None = None
_default_lock = threading.Lock()


def default_pool() -> Pool:
    """The pool the module-level functions use, created on first use and closed at exit.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.default_pool() is sm.default_pool()
    True
    """
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Pool()
            atexit.register(_close_default)
        return _default


def _close_default() -> None:
    global _default
    if _default is not None:
        _default.close()
        _default = None


def resolve_pool(pool: Pool | None) -> Pool:
    """``pool`` itself, or the default pool when it is None."""
    return default_pool() if pool is None else pool


def run(
    kernel: Callable[..., object],
    /,
    *arrays: object,
    timeout: float | None = None,
    progress: bool = False,
    **params: object,
) -> list[object]:
    """``Pool.run`` on the default pool: ``kernel`` once on every worker (SPMD).

    Examples
    --------
    >>> import shardmem as sm
    >>> def who(*, rank):
    ...     return rank
    >>> sorted(sm.run(who)) == list(range(sm.default_pool().size))
    True
    """
    return default_pool().run(kernel, *arrays, timeout=timeout, progress=progress, **params)


def submit(kernel: Callable[..., object], /, *arrays: object, **params: object) -> Future[Any]:
    """``Pool.submit`` on the default pool: one call of ``kernel`` on a free worker.

    Examples
    --------
    >>> import shardmem as sm
    >>> def add(*, a, b):
    ...     return a + b
    >>> sm.submit(add, a=2, b=3).result(timeout=10)
    5
    """
    return default_pool().submit(kernel, *arrays, **params)
