"""The engine: worker interpreters, each driven by its own thread, and one collector thread.

Who does what:

- A **driver thread** per worker creates its interpreter, runs the worker
  loop (``_worker.py``) inside it until told to stop, and closes it.
- The **collector thread** owns every piece of engine state: it queues the
  tasks of new calls, reads every outcome, frees message slots and buffer
  pins, completes futures, stops cancelled calls and replaces stuck workers.
  Nothing else mutates that state, so it needs no lock.
- **Callers** (any thread) only append a request to the collector's deque (a
  single atomic operation) and wait on their own call's future. Signals are
  handled only in the main thread, between bytecodes: a ``KeyboardInterrupt``
  can land anywhere in a caller, but a caller holds nothing the engine needs,
  so the worst it can do is leave its own call to be cancelled.

How a call travels:

1. The caller packs the kernel and encodes the arguments (``_tasks.py``),
   then posts the call.
2. The collector defines the kernel in each worker that lacks it and hands
   each worker a view of every buffer once (both on the worker's control
   queue, which a worker drains after taking a task), then puts the tasks in
   message slots on the shared queue or on ranks' own queues.
3. Workers put outcomes on the results queue; the collector completes the
   call's future once every task has reported.
4. Stopping a call (a timeout, a cancel, Ctrl-C in its caller, a failed task)
   sends the id range of its tasks to every worker's watchdog: queued tasks
   are dropped when dequeued, running ones get ``Cancelled`` raised in them.
   A running task that does not stop within ``STOP_GRACE`` (a long C call)
   has its worker retired: a fresh worker takes its rank, and the old one ends
   once its call returns (waited for by ``close()``).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import itertools
import marshal
import os
import select
import signal
import sys
import threading
import time
import weakref
from concurrent import interpreters
from concurrent.futures import InvalidStateError
from pathlib import Path
from typing import Any

from shardmem._data.buffer import (
    SharedBuffer,
    add_release_listener,
    release_is_a_drop,
    remove_release_listener,
)
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._calls import COLLECTOR_NAME, Call, CallFuture, results
from shardmem._engine._handoff import HAVE_EVENTFD, Arena, Waker, qcount, qget, qput, sched_yield
from shardmem._engine._tasks import ViewSpec, encode_arg
from shardmem._errors import ClosedError, PoolBrokenError, ResourceLimitError, TaskCancelledError

__all__ = ["STOP_GRACE", "Core", "begin_exit"]

SPIN = 100e-6  # seconds a worker polls its queues before it blocks
# A barrier waits without spinning (one poll, then it blocks): with another program on the
# machine, a spinning waiter kept its peer off a core (2 workers at 0.73x of one, against
# 1.52x blocking at once, in the same run).
BARRIER_SPIN = 0.0
COLLECTOR_SPIN = 50e-6  # seconds the collector polls before it blocks
STOP_GRACE = 2.0  # seconds a running task has to stop before its worker is replaced
EVICT_BATCH = 64  # dropped buffers evicted together at most
EVICT_BYTES = 64 << 20  # ... or as soon as they hold this many bytes
EVICT_DELAY = 0.005  # ... or once no call is in flight and the oldest waited this long
_TICK = 0.05  # longest single block of the collector (timers, a missed wake-up)
SPARE_RECORDS = 8  # retired workers alive at once beyond the pool's size
# Descriptors a fresh interpreter opens while it starts (getpath, site's .pth files): a
# worker started with fewer to spare fails with InterpreterError after printing
# "Too many open files" on stderr (issue 24), so it is not started at all.
_BOOT_FDS = 8
_EXIT_NOTICE = 1.0  # seconds close() waits for a stuck kernel before saying so on stderr
_CLOSE = {"finish": 1, "drop": 2, "stop": 3}  # close requests, weakest first

# Every pool whose collector may still run: the exit hook closes and waits for each, so
# that no worker interpreter is alive when the main interpreter finalizes (CPython 3.14
# crashes in that state). Added by the caller before the collector starts, removed by
# the collector as its last step.
_live: set[Core] = set()
_exiting: list[bool] = []  # non-empty once the exit hook runs: no pool starts any more


def begin_exit() -> list[Core]:
    """Refuse new pools from now on; the pools that may still run (see ``_live``)."""
    _exiting.append(True)
    return sorted(_live, key=id)


def _boot_code() -> bytes:
    here = Path(__file__).parent
    codes = [
        compile((here / name).read_text(), str(here / name), "exec")
        for name in ("_protocol.py", "_rebuild.py", "_worker.py")
    ]
    return marshal.dumps(tuple(codes))


_BOOT: bytes | None = None
# BOOT is dropped before the loop starts (the code objects are all it needs of it).
_BOOT_SCRIPT = (
    "import marshal as _m\n_cs = _m.loads(BOOT)\ndel BOOT\nfor _c in _cs:\n    exec(_c)\n"
)


def _boot() -> bytes:
    global _BOOT
    if _BOOT is None:
        _BOOT = _boot_code()
    return _BOOT


_serials = itertools.count(1)


class _Worker:
    """One worker interpreter: its queues, its record in the control block, its thread."""

    def __init__(self, rank: int, base: int, waker: Waker, inbox: int) -> None:
        self.rank = rank
        self.base = base
        self.sleeping = base + P.W_SLEEPING
        self.current = base + P.W_CURRENT
        self.status = base + P.W_STATUS
        self.ready_id = -next(_serials)
        self.waker = waker  # shared by every worker that holds this rank
        self.inbox = inbox
        self.tasks = interpreters.create_queue()
        self.control = interpreters.create_queue()
        self.evicts = interpreters.create_queue()
        self.stops = interpreters.create_queue()
        self.leave = interpreters.create_queue()  # its leave ticket, once retired
        self.watch_r, self.watch_w = os.pipe()
        self.buffers: set[int] = set()
        # Kernels defined in it, least recently used first (at most P.KERNEL_CACHE).
        self.kernels: dict[str, None] = {}
        self.thread: threading.Thread | None = None
        self.interp: interpreters.Interpreter | None = None
        self.ready = False
        self.exited = threading.Event()  # its loop has returned (or never started)
        self.release = threading.Event()  # the collector drained what it put: close it now
        self.retired_at = 0.0
        self.stuck = ""  # what it was running when retired
        self.replaces: _Worker | None = None  # the retired worker whose rank it took
        self.fds_closed = False


class _Eviction:
    def __init__(self, count: int) -> None:
        self.left = count
        self.done = threading.Event()
        self.followers: list[_Eviction] = []
        self.buffer_ids: tuple[int, ...] = ()
        if not count:
            self.done.set()

    def finish(self) -> None:
        """Acknowledged by every holder: wake whoever waits, and those queued behind."""
        self.done.set()
        for follower in self.followers:
            follower.finish()


class Core:
    """Everything a pool owns; threads refer to this, never to the public ``Pool``."""

    def __init__(self, size: int) -> None:
        self.size = size
        # Worker records: a retired worker keeps its own until it ends.
        capacity = 2 * size + SPARE_RECORDS
        self.ring = P.C_HEADER + size
        first = self.ring + P.RING
        self.records = [first + i * P.C_STRIDE for i in range(capacity)]
        self.ctrl_bytes = bytearray(8 * (first + capacity * P.C_STRIDE))
        self.ring_lock = threading.Lock()
        self.ctrl = memoryview(self.ctrl_bytes).cast("q")
        self.results = interpreters.create_queue()
        self.shared = interpreters.create_queue()
        # Descriptors (wakers, watchdog pipes) are made and closed by the collector thread
        # alone: a Ctrl-C in the caller during start-up cannot split that (see _setup).
        self.main_waker: Waker | None = None
        self.wakers: list[Waker] = []
        self.inboxes = [interpreters.create_queue() for _ in range(size)]
        self.arena = Arena(self._share_chunk)
        self.workers: list[_Worker] = []
        self.retired: list[_Worker] = []
        self.requests: collections.deque[tuple[Any, ...]] = collections.deque()
        # Dead weak references, appended by their callbacks (one C call: no interrupt
        # splits it): the pool's own (it was dropped) and those of buffers the workers view.
        self.dropped: collections.deque[weakref.ref[Any]] = collections.deque()
        self.pool_ref: weakref.ref[Any] | None = None
        self.buffer_refs: dict[int, tuple[int, weakref.ref[Any]]] = {}  # id(ref) -> (bid, ref)
        self.watched: set[int] = set()  # buffer ids with an entry in buffer_refs
        self.owner: dict[int, Call] = {}  # task id -> its call, until its outcome arrives
        self.slot_of: dict[int, int] = {}  # task id -> its message slot
        # Tasks waiting for a free slot (or for a tuple's turn): (task id, rank, message).
        self.backlog: collections.deque[tuple[int, int | None, tuple[Any, ...]]] = (
            collections.deque()
        )
        self.big: set[int] = set()  # ids of tasks whose message travels as a tuple
        self.order: collections.deque[Call] = collections.deque()  # queued calls, oldest first
        self.kernel_calls: dict[str, int] = {}  # kernel key -> calls in flight that use it
        self.stopping: dict[int, Call] = {}  # id(call) -> a call being stopped
        self.in_use: dict[int, int] = {}  # buffer id -> calls in flight that use it
        self.evict_later: set[int] = set()
        self.nbytes: dict[int, int] = {}  # buffer id -> its size, while a worker views it
        self.deferred: dict[int, None] = {}  # dropped buffers whose eviction is batched
        self.deferred_bytes = 0
        self.deferred_since = 0.0
        self.evictions: dict[int, _Eviction] = {}
        self.poller: select.poll | None = None  # the collector's wait on its wake fd
        self.evicting: dict[int, _Eviction] = {}  # buffer id -> its eviction in flight
        self.next_id = 1
        self.path = tuple(sys.path)
        self.closing = False  # no new calls
        self.closed = False  # close() was called
        self.close_sent = 0  # the strongest close request posted (see _CLOSE)
        self.start_error: BaseException | None = None  # what stopped _setup
        self.finished = threading.Event()  # the collector has ended
        self.broken: str | None = None
        self.collector = threading.Thread(target=self._collect, name=COLLECTOR_NAME, daemon=True)
        self._start()
        add_release_listener(self.on_buffer_released)

    # -- life cycle -----------------------------------------------------------------------

    def _start(self) -> None:
        """Start the collector (it makes the workers) and wait until every worker is ready.

        Interrupted anywhere, the caller only posts a close (one atomic append): the
        collector, which owns every descriptor and thread of the pool, winds it down
        and closes each descriptor once (issue 24: the caller used to close them while
        the collector still used them).
        """
        _live.add(self)
        try:
            if _exiting:  # (checked after the add: the exit hook sees it, or it sees this)
                raise ClosedError("the interpreter is shutting down: no new pool can start")
            self.collector.start()
            deadline = time.monotonic() + 60
            while not all(w.ready for w in self.workers) or len(self.workers) < self.size:
                if self.start_error is not None or self.broken or self.finished.is_set():
                    break
                if time.monotonic() > deadline:
                    self.broken = self.broken or "timed out"
                    break
                self.finished.wait(0.005)
            if self.start_error is not None or self.broken or self.finished.is_set():
                self.close(cancel=True)
                if self.start_error is not None:
                    raise self.start_error
                raise PoolBrokenError(
                    f"a worker interpreter failed to start:\n{self.broken or 'the pool closed'}"
                )
        except BaseException:
            self.requests.append(("close", "stop"))  # first: nothing can split it
            self.closed = True
            raise

    def _setup(self) -> bool:
        """In the collector: make the wakers and workers and launch them; False if that failed.

        A failure (out of descriptors or threads) is kept in ``start_error`` for
        the caller; what was made is closed by ``_release_fds`` as the collector ends.
        """
        try:
            _check_headroom(2 + 4 * self.size + _BOOT_FDS, f"{self.size} worker(s)")
            self.main_waker = Waker(nonblocking=True)
            for _ in range(self.size):
                self.wakers.append(Waker(nonblocking=False))
            for rank in range(self.size):
                self.workers.append(self._new_worker(rank))
        except (OSError, RuntimeError) as exc:
            self.start_error = exc
            return False
        for w in self.workers:
            try:
                self._launch(w)
            except RuntimeError as exc:  # can't start new thread
                self.start_error = exc
                break
        for w in self.workers:
            if w.thread is None or w.thread.ident is None:  # never launched: nothing to wait for
                w.exited.set()
        return self.start_error is None

    def _new_worker(self, rank: int) -> _Worker:
        base = self.records[0]
        for i in range(P.C_STRIDE):
            self.ctrl[base + i] = 0
        w = _Worker(rank, base, self.wakers[rank], self.inboxes[rank].id)
        self.records.pop(0)  # (kept when the worker could not be made)
        self.ctrl[P.C_HEADER + rank] = base
        qput(w.control.id, (P.PATH, self.path))  # a tuple: a list would be pickled
        for index, chunk in enumerate(self.arena.chunks):
            qput(w.control.id, (P.ARENA, index, chunk))
        return w

    def _sync_path(self, path: tuple[str, ...]) -> None:
        for w in self.workers:
            self._put_control(w, (P.PATH, path))

    def _launch(self, w: _Worker) -> None:
        w.thread = threading.Thread(
            target=self._drive, args=(w,), name=f"shardmem-worker-{w.rank}", daemon=True
        )
        w.thread.start()

    def _drive(self, w: _Worker) -> None:
        """Owner thread of one worker: create it, run its loop until STOP, close it."""
        block_signals()
        interp = None
        assert self.main_waker is not None  # (made before any worker is launched)
        main_fd = self.main_waker.write_fd
        try:
            interp = interpreters.create()
            w.interp = interp
            interp.prepare_main(
                RANK=w.rank,
                SIZE=self.size,
                BASE=w.base,
                READY=w.ready_id,
                TASKS=w.tasks.id,
                CONTROL=w.control.id,
                EVICTS=w.evicts.id,
                STOPS=w.stops.id,
                LEAVE=w.leave.id,
                SHARED=self.shared.id,
                RESULTS=self.results.id,
                INBOXES=tuple(q.id for q in self.inboxes),
                USE_EVENTFD=HAVE_EVENTFD,
                WAKE_FDS=tuple(x.write_fd for x in self.wakers),
                WAIT_FD=w.waker.read_fd,
                MAIN_FD=main_fd,
                WATCH_FD=w.watch_r,
                WATCH_W=w.watch_w,
                CTRL=self.ctrl,
                SPIN=SPIN,
                BARRIER_SPIN=BARRIER_SPIN,
                BOOT=_boot(),
            )
            interp.exec(_BOOT_SCRIPT)
        except BaseException as exc:  # noqa: BLE001 - reported to the collector
            text = getattr(getattr(exc, "excinfo", None), "errdisplay", None) or repr(exc)
            qput(self.results.id, (P.DIED, w.ready_id, w.rank, str(text)))
        finally:
            w.exited.set()
            self._wake_collector()
            if interp is not None:
                # Items it put on a queue become unbound when it is destroyed: the
                # collector first drains them.
                w.release.wait()
                interp.close()

    def close(self, *, cancel: bool = False, wait: bool = True, drop_queued: bool = False) -> None:
        """End the workers and the collector once queued work is done.

        ``drop_queued``: cancel the futures of calls none of whose tasks runs
        yet; ``cancel``: also stop running work. A stronger close than one
        posted before is posted again (the exit hook stops what a graceful
        ``close()`` interrupted by Ctrl-C left running).
        """
        how = "stop" if cancel else "drop" if drop_queued else "finish"
        if _CLOSE[how] > self.close_sent:
            # Posted first: interrupted before the flags are set, a second close posts
            # again (the collector takes the strongest of the two).
            self.post(("close", how))
            self.close_sent = _CLOSE[how]
            self.closed = True
            remove_release_listener(self.on_buffer_released)
        if wait:
            self.join()

    def join(self) -> None:
        """Wait for the collector and every worker thread to end (Ctrl-C reaches us meanwhile)."""
        noticed = False
        start = time.monotonic()
        while not self.finished.wait(0.05):
            if not noticed and time.monotonic() - start > _EXIT_NOTICE:
                stuck = [w for w in self.retired if not w.exited.is_set()]
                if stuck:
                    noticed = True
                    names = "; ".join(f"{w.stuck} on worker {w.rank}" for w in stuck)
                    print(
                        f"shardmem: waiting for {names} to return from a C call before the "
                        "pool can close",
                        file=sys.stderr,
                        flush=True,
                    )
        for w in [*self.workers, *self.retired]:
            _join(w.thread)
        _join(self.collector)

    def wait_closed(self) -> None:
        """``join()`` for the exit hook: also returns for a collector that never started."""
        never = time.monotonic() + 1.0  # a thread the OS started runs within this
        while not self.collector.is_alive() and not self.finished.is_set():
            if time.monotonic() > never:
                return  # (start() was interrupted before the thread existed)
            self.finished.wait(0.01)
        self.join()

    def holders(self) -> list[str]:
        """What this pool's close waits for: kernels still running (read from any thread)."""
        found = [f"{w.stuck} on worker {w.rank}" for w in self.retired if not w.exited.is_set()]
        for w in self.workers:
            tid = self.ctrl[w.current]
            call = self.owner.get(tid) if tid else None
            if call is not None and not w.exited.is_set():
                found.append(f"kernel {call.name!r} ({call.label(tid)}) on worker {w.rank}")
        return found

    # -- requests from any thread -----------------------------------------------------------

    def post(self, request: tuple[Any, ...]) -> None:
        """Hand a request to the collector (one atomic append, then a wake-up)."""
        self.requests.append(request)
        if self.ctrl[P.C_MAIN_SLEEPING]:
            self._wake_collector()
        if self.finished.is_set():  # the collector has ended: nobody serves it
            self._orphans()

    def _orphans(self) -> None:
        """Complete the calls of requests the collector never served (it has ended).

        The collector runs this after setting ``finished``, and a poster after its
        append when it sees ``finished``: one of the two sees each request.
        """
        for request in list(self.requests):
            if request[0] in ("submit", "cancel") and request[1].future is not None:
                error = request[2] if request[0] == "cancel" else None
                _settle(request[1].future, exc=error or ClosedError("the pool was closed"))
                request[1].keep = None

    def _wake_collector(self) -> None:
        waker = self.main_waker
        if waker is not None and not waker.closed:
            with contextlib.suppress(OSError):  # closed meanwhile: the collector has ended
                waker.wake()

    def watch_pool(self, pool: object) -> None:
        """Close this core once ``pool`` is dropped: the weak reference's callback appends
        it to ``dropped`` (a C call no Ctrl-C can split), where the collector sees it."""
        self.pool_ref = weakref.ref(pool, self.dropped.append)

    def start_call(self, call: Call) -> CallFuture:
        """Queue ``call``; its future completes with the list of its results (or its value)."""
        future = call.future
        if future is None:
            future = call.future = CallFuture(call)
        call.engine = self
        if self.closed:
            raise ClosedError("this pool is closed; create a new shardmem.Pool() to run more work")
        if self.broken:
            raise PoolBrokenError(f"this pool is broken and cannot run work:\n{self.broken}")
        wire = [
            (
                tuple(encode_arg(v) for v in t.views),
                tuple((k, encode_arg(v)) for k, v in t.kwargs),
            )
            for t in call.tasks
        ]
        path = tuple(sys.path)
        if path != self.path:  # kernels import modules by name: from the same places
            self.post(("path", path))
            self.path = path  # (after the post: interrupted before, it is sent again)
        self.post(("submit", call, wire))
        return future

    def calls_in_flight(self) -> list[Call]:
        """The calls posted and not yet completed (a snapshot, from any thread)."""
        posted = [r[1] for r in list(self.requests) if r[0] == "submit"]
        return list({id(c): c for c in [*self.owner.values(), *posted]}.values())

    def request_cancel(self, call: Call, error: BaseException | None) -> None:
        """Stop ``call``: drop its queued tasks, stop its running ones."""
        self.post(("cancel", call, error))

    def claim_cancel(self, call: Call) -> bool:
        """Cancel the call's tasks before their kernels run: False if one runs already.

        We write the call's task ids to the cancel ring, fence, then read each
        worker's CURRENT; a worker writes CURRENT, fences, then reads the ring
        (Dekker). So either we see its task as CURRENT, or it sees the cancel
        and never runs the kernel. Both can happen at once: then the worker's
        decision stands, and we wait for it (it publishes DECIDED a few
        bytecodes after CURRENT; a skipped task's id also goes to its SKIPPED
        ring, in case it has moved on to another task before we look).
        """
        if call.first <= 0 or not call.outcomes:
            return True
        first, last = call.first, call.first + len(call.outcomes) - 1
        workers = [*self.workers, *self.retired]
        if not self._none_runs(workers, first, last) or self._started(call):
            return False  # (checked first, so that a cancel that fails leaves no trace)
        entry = first << P.RING_SHIFT | min(last - first, (1 << P.RING_SHIFT) - 1)
        call.claimed = True  # (cleared below if the claim fails: see _rerun)
        self._ring_write(entry)
        qcount(self.results.id)  # a full fence: the queue registry's mutex
        if self._none_runs(workers, first, last) and not self._started(call):
            # On every worker's stop queue before cancel() returns: the ring is only the
            # guarantee for the instant between, and a busy one can be lapped.
            for w in workers:
                self._queue_stop(w, first, last)
            return True
        # A worker started one of its tasks meanwhile: take the entry back, so that
        # no later task of the call is skipped. (A task of a call of several tasks
        # that a worker skipped in that instant fails the call: see concepts.md.)
        self._ring_write(-entry)
        call.claimed = False
        return False

    def call_started(self, call: Call) -> bool:
        """True once a task of ``call`` runs or ran its kernel (from any thread)."""
        if call.first <= 0 or not call.outcomes:
            return False
        first, last = call.first, call.first + len(call.outcomes) - 1
        workers = [*self.workers, *self.retired]
        return not self._none_runs(workers, first, last) or self._started(call)

    def _ring_write(self, entry: int) -> None:
        """Append ``entry`` to the cancel ring: its slot first, then the sequence number."""
        with self.ring_lock:  # (several threads cancel at once; workers read in sequence)
            seq = self.ctrl[P.C_CANCELS] + 1
            self.ctrl[self.ring + seq % P.RING] = entry
            self.ctrl[P.C_CANCELS] = seq

    def _started(self, call: Call) -> bool:
        """True when a task of ``call`` has finished its kernel (its outcome is on its way).

        A worker writes a task's outcome into the task's slot before it tells
        the pool, and the collector records an outcome before it frees the
        slot; so one of the two shows it. (A task whose message travelled as a
        tuple has no slot: it is seen only while its worker has not yet
        started another task, through DECIDED.)
        """
        outcomes, slot_of, arena = call.outcomes, self.slot_of, self.arena
        for index in range(len(outcomes)):
            slot = slot_of.get(call.first + index)
            if slot is not None:
                try:
                    tag = marshal.loads(arena.view(slot, P.SLOT_BYTES))[0]
                except Exception:  # noqa: BLE001 - half written, or the slot was reused
                    tag = P.DONE
                if tag not in (P.TASK, P.CANCELLED):
                    return True  # an outcome (or its BIG marker), written or being written
            outcome = outcomes[index]
            if outcome is not None and outcome[0] != P.CANCELLED:
                return True
        return False

    def _none_runs(self, workers: list[_Worker], first: int, last: int) -> bool:
        """True unless a worker runs (or ran) the kernel of a task with an id in the range.

        A worker that has just made a task CURRENT publishes within a few
        bytecodes whether it will run the kernel (DECIDED) or skip it; a
        skipped id also goes to its SKIPPED ring, in case it has moved on to
        another task by the time we look.
        """
        ctrl = self.ctrl
        for w in workers:
            if first <= ctrl[w.base + P.W_DECIDED] <= last:
                return False  # running, or finished and not yet on to its next task
            tid = ctrl[w.current]
            if not first <= tid <= last:
                continue
            while ctrl[w.current] == tid and ctrl[w.base + P.W_DECIDED] not in (tid, -tid):
                sched_yield()
            decided = ctrl[w.base + P.W_DECIDED]
            if decided == -tid:
                continue
            skips = w.base + P.W_SKIPPED
            if decided == tid or tid not in ctrl[skips : skips + P.SKIP_RING]:
                return False
        return True

    def on_buffer_released(self, buffer_id: int) -> None:
        """Release listener: drop every worker's view of a closing buffer, then return."""
        if self.closed or self.finished.is_set():
            return  # the workers drop every view as they end
        # close() frees the memory at once, so it waits until no worker views it; a
        # buffer dropped without close() is freed by the last view that goes, and its
        # eviction is batched with others (see _defer).
        if release_is_a_drop():
            # The collector's own weak reference to the buffer reports the drop (see
            # _watch_buffer): unlike this listener, a Ctrl-C cannot lose that (issue 24).
            return
        eviction = _Eviction(1)
        self.post(("evict", buffer_id, eviction))
        if threading.current_thread() is not self.collector:
            eviction.done.wait(STOP_GRACE)

    # -- the collector ------------------------------------------------------------------------

    def _collect(self) -> None:
        block_signals()
        try:
            if not self._setup():
                self._begin_close("stop")
            while not self._closed_down():
                worked = self._serve_requests()
                if self.dropped:
                    self._serve_dropped()
                worked = self._drain() or worked
                if self.backlog:
                    self._pump()
                self._advance_low()
                if self._due_evictions():
                    self._flush_evictions()
                if self.stopping:
                    self._check_stopping()
                if self.retired:
                    self._reap_retired()
                if not worked:
                    self._sleep()
        except BaseException as exc:  # pragma: no cover - a bug in the engine itself
            self.broken = f"the engine's collector thread failed: {exc!r}"
            self._fail_all(PoolBrokenError(self.broken))
            raise
        finally:
            remove_release_listener(self.on_buffer_released)  # (also when close was interrupted)
            self._release_fds()
            self.finished.set()
            self._orphans()
            _live.discard(self)

    def _sleep(self) -> None:
        """Poll for SPIN seconds, then block on the main wake fd (at most _TICK)."""
        qid = self.results.id
        end = time.perf_counter() + COLLECTOR_SPIN
        while time.perf_counter() < end:
            sched_yield()
            if qcount(qid) or self.requests:
                return
        ctrl = self.ctrl
        ctrl[P.C_MAIN_SLEEPING] = 1
        try:
            if qcount(qid) or self.requests:
                return
            timeout = _TICK
            if self.deferred and not self.owner:  # (not due while a call runs: _due_evictions)
                left = self.deferred_since + EVICT_DELAY - time.monotonic()
                timeout = max(0.0, min(timeout, left))
            if self.stopping:
                soonest = min(c.grace_end for c in self.stopping.values())
                timeout = max(0.0, min(timeout, soonest - time.monotonic()))
            waker = self.main_waker
            if waker is None:  # (start-up failed before it was made)
                time.sleep(timeout)
                return
            if self.poller is None:  # (poll, not select: descriptors past 1023 in large pools)
                self.poller = select.poll()
                self.poller.register(waker.read_fd, select.POLLIN)
            ready = self.poller.poll(timeout * 1000)
            if ready:
                waker.drain()
        finally:
            ctrl[P.C_MAIN_SLEEPING] = 0

    def _serve_dropped(self) -> None:
        """Objects that died: the pool (close, stopping its work) or a buffer (evict it)."""
        dropped = self.dropped
        while dropped:
            ref = dropped.popleft()
            if ref is self.pool_ref:
                self.closed = True
                self._begin_close("stop")
                continue
            entry = self.buffer_refs.pop(id(ref), None)
            if entry is not None and entry[1] is ref:
                self.watched.discard(entry[0])
                self._evict(entry[0], None)

    def _watch_buffer(self, buffer: SharedBuffer) -> None:
        """Evict ``buffer`` from the workers once it is dropped (see ``_serve_dropped``)."""
        if buffer.id not in self.watched:
            ref = weakref.ref(buffer, self.dropped.append)
            self.buffer_refs[id(ref)] = (buffer.id, ref)
            self.watched.add(buffer.id)

    def _serve_requests(self) -> bool:
        requests = self.requests
        if not requests:
            return False
        while requests:
            request = requests.popleft()
            kind = request[0]
            if kind == "submit":
                self._submit(request[1], request[2])
            elif kind == "cancel":
                self._stop(request[1], request[2])
            elif kind == "evict":
                self._evict(request[1], request[2])
            elif kind == "close":
                self._begin_close(request[1])
            elif kind == "path":
                self._sync_path(request[1])
        return True

    # -- queuing tasks ---------------------------------------------------------------------

    def _submit(self, call: Call, wire: list[tuple[tuple[object, ...], tuple[Any, ...]]]) -> None:
        future = call.future
        assert future is not None
        if future.cancelled():
            return
        if call.stop_error is not None:  # cancelled before it was queued
            self._complete(call)
            return
        buffers = self._buffers(call)
        error = self._refusal(buffers)
        if error is not None:
            self._complete(call, error)
            return
        count = len(call.tasks)
        if not future.begin(self.next_id, count):
            return  # cancelled meanwhile
        self.next_id += count
        call.buffers = buffers
        call.unreported = count
        call.wire = wire  # (kept until the call finishes: see _rerun)
        if not count:
            self._complete(call)
            return
        for bid in call.buffers:
            self.in_use[bid] = self.in_use.get(bid, 0) + 1
        self.order.append(call)
        ranks = {t.rank for t in call.tasks}
        targets = self.workers if None in ranks else [self.workers[r] for r in ranks]  # type: ignore[index]
        for w in targets:
            self._prepare(w, call)
        key, first = call.kernel.key, call.first
        inject = (P.INJECT_GANG if call.gang else P.INJECT_RANK) if call.inject else 0
        self.kernel_calls[key] = self.kernel_calls.get(key, 0) + 1
        call.holds_kernel = True
        backlog = self.backlog
        sleepers = 0
        for index, (task, (args, kwargs)) in enumerate(zip(call.tasks, wire, strict=True)):
            tid = first + index
            self.owner[tid] = call
            message = (P.TASK, tid, key, args, kwargs, first, inject)
            if backlog or not self._send(tid, task.rank, message):
                backlog.append((tid, task.rank, message))
            elif task.rank is None:
                sleepers += 1
        if sleepers:
            self._wake_sleepers(sleepers)

    def _send(self, tid: int, rank: int | None, message: tuple[Any, ...]) -> bool:
        """Queue one message for the workers; False when it must wait in the backlog."""
        item: int | tuple[Any, ...] | None = message
        if message[0] != P.STOP:
            item, slot = self.arena.encode(message)
            if slot >= 0:
                self.slot_of[tid] = slot
            elif item is None:
                return False
            elif len(self.big) >= P.BIG_TASKS and message[6] != P.INJECT_GANG:
                # (never a gang call's: its tasks wait at a barrier until all are sent)
                return False
            else:
                self.big.add(tid)
        if rank is None:
            qput(self.shared.id, item)
        else:
            w = self.workers[rank]
            qput(w.tasks.id, item)
            if self.ctrl[w.sleeping]:
                self._wake(w)
        return True

    def _pump(self) -> None:
        """Queue what the backlog holds, in order, while slots (and tuple turns) allow."""
        backlog, owner = self.backlog, self.owner
        sleepers = 0
        while backlog:
            tid, rank, message = backlog[0]
            call = owner.get(tid)
            if call is not None and (
                call.stop_error is not None
                or id(call) in self.stopping
                or (call.future is not None and call.future.done())
            ):
                backlog.popleft()  # stopped or cancelled before it was ever queued
                self._record(call, (P.CANCELLED, tid, -1))
                continue
            if not self._send(tid, rank, message):
                break
            backlog.popleft()
            sleepers += rank is None
        if sleepers:
            self._wake_sleepers(sleepers)

    @staticmethod
    def _buffers(call: Call) -> dict[int, SharedBuffer]:
        buffers: dict[int, SharedBuffer] = {}
        for t in call.tasks:
            for v in (*t.views, *(v for _, v in t.kwargs)):
                if isinstance(v, ViewSpec):
                    buffers[v.buffer.id] = v.buffer
        return buffers

    def _refusal(self, buffers: dict[int, SharedBuffer]) -> BaseException | None:
        if self.closing:
            return ClosedError("the pool was closed before this call was queued")
        if self.broken:
            return PoolBrokenError(f"this pool is broken and cannot run work:\n{self.broken}")
        for b in buffers.values():
            if b.closed:
                return ClosedError(f"{b!r} is closed; its arrays can no longer be used")
        return None

    def _prepare(self, w: _Worker, call: Call) -> None:
        """Define the call's kernel and share its buffers with ``w`` (once each)."""
        kernel = call.kernel
        kernels = w.kernels
        if kernel.key in kernels:
            del kernels[kernel.key]  # (re-inserted below: now the most recently used)
        else:
            self._put_control(w, (P.KERNEL, kernel.key, kernel.blob))
            if len(kernels) >= P.KERNEL_CACHE:
                self._forget_kernels(w)
        kernels[kernel.key] = None
        for bid, buffer in call.buffers.items():
            if bid not in w.buffers:
                self._watch_buffer(buffer)
                w.buffers.add(bid)
                self.nbytes[bid] = len(buffer._data)
                self._put_control(w, (P.BUFFER, bid, memoryview(buffer._data)))

    def _forget_kernels(self, w: _Worker) -> None:
        """Drop the least recently used kernels ``w`` holds that no call in flight uses."""
        excess = len(w.kernels) + 1 - P.KERNEL_CACHE
        for key in list(w.kernels):
            if excess <= 0:
                return
            if not self.kernel_calls.get(key):
                del w.kernels[key]
                self._put_control(w, (P.FORGET, key))
                excess -= 1

    def _put_control(self, w: _Worker, message: tuple[Any, ...]) -> None:
        qput(w.control.id, message)
        if self.ctrl[w.sleeping]:
            self._wake(w)

    def _wake_sleepers(self, count: int) -> None:
        """Wake sleeping workers for ``count`` tasks just put on the shared queue.

        Workers that are idle and awake (polling, or woken and not yet
        running) take queued tasks without a wake-up: only the tasks queued
        beyond them need a sleeper woken. A worker publishes RUNNING before it
        takes a task, and the flags are read after the put, so a worker counted
        as idle polls the queue after the task is on it (or, going to sleep,
        raises its flag before its last poll).

        A woken worker keeps its sleeping flag until it runs again, so waking
        "the first sleeper" for each of two quick puts would wake the same one
        twice and leave the other asleep (``_wake`` clears the flag).
        """
        ctrl = self.ctrl
        awake = 0
        for w in self.workers:
            if not ctrl[w.sleeping] and ctrl[w.status] == P.STATUS_IDLE:
                awake += 1
        count = min(count, qcount(self.shared.id) - awake)
        for w in self.workers:
            if count <= 0:
                return
            if ctrl[w.sleeping]:
                self._wake(w)
                count -= 1

    def _wake(self, w: _Worker) -> None:
        """Wake a sleeping worker, clearing its flag: the next wake-up goes to another.

        (The worker would clear it only once it runs again, and a second task
        put meanwhile would wake the same worker twice and leave another asleep.)
        """
        self.ctrl[w.sleeping] = 0
        w.waker.wake()

    def _share_chunk(self, index: int, chunk: memoryview | None) -> None:
        for w in self.workers:
            self._put_control(w, (P.ARENA, index, chunk))

    # -- outcomes -------------------------------------------------------------------------

    def _drain(self) -> bool:
        qid = self.results.id
        if not qcount(qid):
            return False
        while qcount(qid):
            self._deliver(qget(qid)[0])
        return True

    def _deliver(self, item: int | tuple[Any, ...]) -> None:
        if type(item) is int:
            if item < 0:
                self._evicted(-item)
                return
            message, _ = self.arena.decode(item)
        else:
            assert isinstance(item, tuple)
            message = item
            if message[0] == P.BIG:  # taken: the worker may send another
                self.ctrl[message[1] + P.W_BIG_TAKEN] += 1
                message = message[2]
        tag, tid = message[0], message[1]
        if tid < 0:
            self._worker_event(tag, tid, message)
            return
        call = self.owner.pop(tid, None)
        if call is not None:  # (before the slot is freed: see _started)
            call.outcomes[tid - call.first] = message
        slot = self.slot_of.pop(tid, -1)
        if slot >= 0:
            self.arena.release(slot)
        elif self.big:
            self.big.discard(tid)
        if call is not None:
            self._record(call, message)

    def _advance_low(self) -> None:
        """Publish C_LOW: every task below it has reported (workers forget stops below it)."""
        order = self.order
        if order and order[0].unreported == 0:
            while order and order[0].unreported == 0:
                order.popleft()
            self.ctrl[P.C_LOW] = order[0].first if order else self.next_id

    def _evicted(self, token: int) -> None:
        eviction = self.evictions.pop(token, None)
        if eviction is not None:
            eviction.left -= 1
            if eviction.left <= 0:
                self._eviction_done(eviction)
            else:
                self.evictions[token] = eviction  # (one token per worker: see _evict)

    def _record(self, call: Call, message: tuple[Any, ...]) -> None:
        """Keep one task's outcome; finish the call with its last, stop it at a failure."""
        tag, tid = message[0], message[1]
        self.owner.pop(tid, None)
        if tag == P.CANCELLED and self._rerun(call, tid):
            return
        call.outcomes[tid - call.first] = message
        call.unreported -= 1
        call.completed += 1
        if call.unreported == 0:
            self._finish(call)
        elif tag == P.FAILED and id(call) not in self.stopping:
            self._stop(call, None)

    def _rerun(self, call: Call, tid: int) -> bool:
        """Queue a task again that a worker skipped for a cancel that then failed.

        ``cancel()`` of a call of several tasks announces its ids before it knows
        whether one already runs; a worker may skip a task in that instant, and
        when the cancel fails (``cancel()`` returned False) the call must still
        run it (issue 21: it used to fail with ``TaskCancelledError``).
        """
        future = call.future
        if future is None:
            return False
        # Under the future's lock: ``cancel()`` sets ``claimed`` and, if a worker has
        # started a task meanwhile, clears it again while it holds that lock. Read
        # without it, a skip reported in that instant looked like a successful cancel
        # and failed the chunk with TaskCancelledError although cancel() returned False.
        with future._condition:  # noqa: SLF001 - the collector cannot be interrupted
            if (
                call.stop_error is not None
                or call.claimed  # a cancel that succeeded (its caller may have been interrupted)
                or id(call) in self.stopping
                or self.closing
                or self.broken
                or future.done()
                or not call.wire
            ):
                return False
        index = tid - call.first
        args, kwargs = call.wire[index]
        rank = call.tasks[index].rank
        inject = (P.INJECT_GANG if call.gang else P.INJECT_RANK) if call.inject else 0
        message = (P.TASK, tid, call.kernel.key, args, kwargs, call.first, inject)
        call.outcomes[index] = None
        self.owner[tid] = call
        if self.backlog or not self._send(tid, rank, message):
            self.backlog.append((tid, rank, message))
        elif rank is None:
            self._wake_sleepers(1)
        return True

    def _worker_event(self, tag: int, ready_id: int, message: tuple[Any, ...]) -> None:
        for w in self.workers:
            if w.ready_id == ready_id:
                if tag == P.DIED and w.replaces is not None and not w.ready:
                    self._replacement_failed(w, message[3])
                elif tag == P.DIED:
                    self._break(f"worker {w.rank} died:\n{message[3]}")
                else:
                    w.ready = True
                return

    def _finish(self, call: Call) -> None:
        """Every task of ``call`` has reported: unpin its buffers, complete its future."""
        self.stopping.pop(id(call), None)
        self._complete(call)
        call.tasks = []  # the arguments can go: labels were needed until now
        call.wire = []

    def _unpin(self, call: Call) -> None:
        """Let the call's buffers be closed: nothing of it runs any more (idempotent).

        Tasks of a stopped call that are still queued are dropped unread when
        dequeued; one that starts anyway finds the view gone and fails unseen.
        """
        for bid in call.buffers:
            left = self.in_use.get(bid, 0) - 1
            if left > 0:
                self.in_use[bid] = left
            else:
                self.in_use.pop(bid, None)
                if bid in self.evict_later:
                    self.evict_later.discard(bid)
                    self._evict(bid, None)
        call.buffers = {}
        if call.holds_kernel:
            call.holds_kernel = False
            key = call.kernel.key
            left = self.kernel_calls.get(key, 0) - 1
            if left > 0:
                self.kernel_calls[key] = left
            else:
                self.kernel_calls.pop(key, None)

    def _complete(self, call: Call, error: BaseException | None = None) -> None:
        self._unpin(call)
        future = call.future
        try:
            if future is None or future.done():
                return
            if error is None and self._claimed_by_interrupted_cancel(call):
                future.finish_cancel()
                return
            if error is not None:
                call.error = error
            try:
                values = results(call)
            except BaseException as exc:  # noqa: BLE001 - stored in the future
                # Raised here, its traceback holds this frame, whose ``future`` holds it:
                # a cycle that kept a failed call's arrays (and their memory) alive until
                # the next garbage collection. These frames tell the user nothing.
                exc.__traceback__ = None
                _settle(future, exc=exc)
            else:
                _settle(future, value=values[0] if call.single else values)
        finally:
            call.keep = None  # the pool may go now (see _serve_dropped)
            if future is not None and future.done():
                future.detach()

    @staticmethod
    def _claimed_by_interrupted_cancel(call: Call) -> bool:
        """A ``cancel()`` claimed the call (its tasks were dropped) but a Ctrl-C ended it
        before it marked the future cancelled: the future still says PENDING."""
        return (
            call.claimed
            and call.stop_error is None
            and any(o is not None and o[0] == P.CANCELLED for o in call.outcomes)
        )

    # -- stopping -----------------------------------------------------------------------------

    def _stop(self, call: Call, error: BaseException | None) -> None:
        """Drop the call's queued tasks and stop its running ones (``error``: why)."""
        if call.first == 0:  # never queued: a submit request is ahead of this one, or none
            if call.future is not None and call.future.done():
                return  # cancelled: its submit request (if any) is dropped when served
            call.stop_error = error or TaskCancelledError(f"{call.name}: cancelled")
            pending = list(self.requests)  # (one C call: callers may append meanwhile)
            if all(r[0] != "submit" or r[1] is not call for r in pending):
                self._complete(call)  # it was never posted (interrupted before that)
            return
        if error is not None and call.stop_error is None:
            call.stop_error = error
        if call.unreported == 0 or id(call) in self.stopping:
            self._check_stopping([call])
            return
        self.stopping[id(call)] = call
        call.grace_end = time.monotonic() + STOP_GRACE
        self._send_stop(call.first, call.first + len(call.outcomes) - 1)
        self._check_stopping([call])  # (this one only: stopping many calls is linear)

    def _send_stop(self, lo: int, hi: int | None) -> None:
        """Stop or skip tasks ``lo``..``hi`` on every worker (``hi`` None: every task)."""
        for w in self.workers:
            if w.exited.is_set():
                continue
            if hi is None:
                qput(w.stops.id, P.STOP_ALL)
            else:
                self._queue_stop(w, lo, hi)
            try:
                os.write(w.watch_w, b"c")
                w.waker.wake()
            except OSError:
                pass

    @staticmethod
    def _queue_stop(w: _Worker, lo: int, hi: int) -> None:
        """Put the task ids ``lo``..``hi`` on ``w``'s stop queue (ints: nothing to release)."""
        for start in range(lo, hi + 1, 1 << P.RING_SHIFT):
            qput(w.stops.id, start << P.RING_SHIFT | min(hi - start, (1 << P.RING_SHIFT) - 1))

    def _check_stopping(self, calls: list[Call] | None = None) -> None:
        """Complete stopped calls none of whose tasks runs; replace workers stuck past grace."""
        now = time.monotonic()
        for call in list(self.stopping.values()) if calls is None else calls:
            if id(call) not in self.stopping:
                continue  # (finished meanwhile)
            running = self._running(call)
            if not running:
                self._complete(call)  # its queued tasks are dropped when dequeued
                continue
            if now < call.grace_end:
                continue
            labels, refusals = [], []
            for w in running:
                label = call.label(self.ctrl[w.current])
                labels.append(f"{label} on worker {w.rank}")
                refusal = self._retire(w, f"kernel {call.name!r} ({label})")
                if refusal is not None:
                    refusals.append(refusal)
            self.stopping.pop(id(call), None)
            reason = call.stop_error
            if reason is None:  # stopped because a task failed: that failure is the error
                self._complete(call)
                continue
            self._complete(call, _stuck_error(reason, labels, refusals))

    def _running(self, call: Call) -> list[_Worker]:
        """Workers running a kernel of ``call`` (not ones skipping its dropped tasks)."""
        ctrl, owner = self.ctrl, self.owner
        return [
            w
            for w in self.workers
            if (tid := ctrl[w.current])
            and owner.get(tid) is call
            and ctrl[w.base + P.W_DECIDED] != -tid
        ]

    def _retire(self, w: _Worker, what: str) -> str | None:
        """Replace ``w`` by a fresh worker; ``w`` ends its loop once its task returns.

        Returns why it could not (then ``w`` keeps its rank until its C call
        returns): every spare record is held by a stuck worker, or the process
        is at its limit of open files (a ResourceLimitError's message).
        """
        if not self.records:
            return "records"
        try:
            _check_headroom(2 + _BOOT_FDS, "a fresh worker")
            fresh = self._new_worker(w.rank)
        except OSError as exc:  # it keeps its rank, as when out of records
            return _limit_message(exc, "a fresh worker")
        fresh.replaces = w
        qput(w.leave.id, 1)  # the ticket it takes to leave (see _replacement_failed)
        self.ctrl[w.base + P.W_RETIRED] = 1
        w.retired_at = time.monotonic()
        w.stuck = what
        self.retired.append(w)
        self._stop_dropped(fresh)
        self.workers[w.rank] = fresh
        for call in {id(c): c for c in self.owner.values()}.values():
            self._prepare(fresh, call)  # its tasks, on the shared queue or this rank's
        self._move_tasks(w, fresh)
        self._launch(fresh)
        return None

    def _stop_dropped(self, w: _Worker) -> None:
        """Queue on ``w`` the stops of every call in flight that is stopped or done."""
        for call in {id(c): c for c in self.owner.values()}.values():
            future = call.future
            if (
                call.stop_error is not None
                or id(call) in self.stopping
                or (future is not None and future.done())
            ):  # its queued tasks must not run on ``w`` either
                self._queue_stop(w, call.first, call.first + len(call.outcomes) - 1)

    @staticmethod
    def _move_tasks(source: _Worker, target: _Worker) -> None:
        while qcount(source.tasks.id):  # tasks queued for this rank move along
            qput(target.tasks.id, qget(source.tasks.id)[0])

    def _replacement_failed(self, fresh: _Worker, text: str) -> None:
        """A replacement's interpreter could not start (at the open-file limit, say).

        Not a dead pool: the retired worker takes its rank back, unless it has
        already taken its leave ticket (its C call returned in that instant and
        it is ending); only then does the pool break.
        """
        old = fresh.replaces
        assert old is not None
        try:
            qget(old.leave.id)  # whoever takes the ticket decides (see _poll_tasks)
        except Exception:  # noqa: BLE001 - QueueEmpty: it is leaving
            self._break(
                f"worker {fresh.rank} could not be replaced and the worker it replaced has "
                f"ended:\n{text}{_limit_hint()}"
            )
            return
        self.workers[old.rank] = old
        self.retired.remove(old)
        self.retired.append(fresh)  # reaped (its record and descriptors freed) as it ended
        self.ctrl[P.C_HEADER + old.rank] = old.base
        self.ctrl[old.base + P.W_RETIRED] = 0
        old.retired_at, old.stuck = 0.0, ""
        self._stop_dropped(old)
        self._move_tasks(fresh, old)
        old.waker.wake()

    def _reap_retired(self) -> None:
        """Close retired workers whose loop has ended; their records become free."""
        for w in [w for w in self.retired if w.exited.is_set() and not w.release.is_set()]:
            self._drain()
            w.release.set()
            _join(w.thread)
            self._close_worker_fds(w)
            self.retired.remove(w)
            self.records.append(w.base)

    # -- buffers ------------------------------------------------------------------------------

    def _eviction_done(self, tracker: _Eviction) -> None:
        for bid in tracker.buffer_ids:
            if self.evicting.get(bid) is tracker:
                del self.evicting[bid]
        tracker.finish()

    def _evict(self, buffer_id: int, eviction: _Eviction | None) -> None:
        running = self.evicting.get(buffer_id)
        if running is not None and not running.done.is_set():
            if eviction is not None:
                running.followers.append(eviction)  # done when the one in flight is
            return
        holders = [w for w in (*self.workers, *self.retired) if buffer_id in w.buffers]
        if self.in_use.get(buffer_id):
            self.evict_later.add(buffer_id)  # a call in flight uses it: after that call
            holders = []
        if not holders:
            self.nbytes.pop(buffer_id, None)
            if eviction is not None:
                eviction.done.set()
            return
        if eviction is None:  # nobody waits: batched with other dropped buffers
            self._defer(buffer_id)
            return
        self.nbytes.pop(buffer_id, None)
        token = self.next_id
        self.next_id += 1
        tracker = eviction or _Eviction(len(holders))
        tracker.left = len(holders)
        tracker.buffer_ids = (buffer_id,)
        self.evictions[token] = tracker
        self.evicting[buffer_id] = tracker
        for w in holders:
            w.buffers.discard(buffer_id)
            qput(w.evicts.id, (P.EVICT, token, buffer_id))
            try:
                os.write(w.watch_w, b"e")
            except OSError:
                tracker.left -= 1
        if tracker.left <= 0:
            self.evictions.pop(token, None)
            self._eviction_done(tracker)

    def _defer(self, buffer_id: int) -> None:
        """Evict a dropped buffer later, with others: one message per worker per batch.

        A loop of calls that each allocate an output would otherwise pay a wake-up
        of every worker's watchdog per call. The batch goes when it holds
        EVICT_BATCH buffers or EVICT_BYTES bytes, or once no call is in flight and
        the oldest waited EVICT_DELAY seconds.
        """
        if not self.deferred:
            self.deferred_since = time.monotonic()
        self.deferred[buffer_id] = None
        self.deferred_bytes += self.nbytes.get(buffer_id, 0)
        if len(self.deferred) >= EVICT_BATCH or self.deferred_bytes >= EVICT_BYTES:
            self._flush_evictions()

    def _due_evictions(self) -> bool:
        return bool(self.deferred) and (
            not self.owner and time.monotonic() - self.deferred_since >= EVICT_DELAY
        )

    def _flush_evictions(self) -> None:
        ids = self.deferred
        self.deferred, self.deferred_bytes = {}, 0
        for bid in ids:
            self.nbytes.pop(bid, None)
        messaged = 0
        token = self.next_id
        self.next_id += 1
        tracker = _Eviction(1)
        for w in (*self.workers, *self.retired):
            held = tuple(bid for bid in ids if bid in w.buffers)
            if not held:
                continue
            w.buffers.difference_update(held)
            qput(w.evicts.id, (P.EVICT, token, held))
            try:
                os.write(w.watch_w, b"e")
                messaged += 1
            except OSError:
                pass
        tracker.left = messaged
        if messaged:
            # A close() of one of these buffers must wait for this batch (see _evict).
            tracker.buffer_ids = tuple(ids)
            for bid in ids:
                self.evicting[bid] = tracker
            self.evictions[token] = tracker

    # -- closing ------------------------------------------------------------------------------

    def _begin_close(self, how: str) -> None:
        again, self.closing = self.closing, True
        calls = list({id(c): c for c in self.owner.values()}.values())
        if how == "stop":
            for call in calls:
                self._stop(call, ClosedError("the pool was closed before this call finished"))
        elif how == "drop":
            for call in calls:
                if call.future is not None and not self._running(call):
                    call.future.cancel()
        if again:
            return
        for _ in self.workers:  # behind every queued task: each worker takes one
            if self.backlog:
                self.backlog.append((0, None, (P.STOP,)))
            else:
                qput(self.shared.id, (P.STOP,))
        for w in self.workers:
            w.waker.wake()

    def _closed_down(self) -> bool:
        """True once closing and every worker (stuck ones included) has ended."""
        if not self.closing:
            return False
        everyone = [*self.workers, *self.retired]
        if not all(w.exited.is_set() for w in everyone):
            return False
        self._drain()
        self._fail_all(ClosedError("the pool was closed before this call finished"))
        for w in everyone:
            w.release.set()
        for w in everyone:
            _join(w.thread)
        return True

    def _break(self, reason: str) -> None:
        self.broken = reason
        self._fail_all(PoolBrokenError(f"this pool is broken: {reason}"))
        self._send_stop(1, None)

    def _fail_all(self, error: BaseException) -> None:
        """End every call in flight with ``error`` (the pool broke or closed under it)."""
        calls = {id(c): c for c in self.owner.values()}.values()
        self.owner.clear()
        self.stopping.clear()
        self.backlog.clear()
        self.big.clear()
        self.order.clear()
        self.kernel_calls.clear()
        for call in calls:
            self._complete(call, error)
        for request in list(self.requests):
            if request[0] == "submit":
                self._complete(request[1], error)
        self.in_use.clear()
        for eviction in self.evictions.values():
            eviction.finish()
        self.evictions.clear()
        self.evicting.clear()

    def _close_worker_fds(self, w: _Worker) -> None:
        """Close ``w``'s watchdog pipe (collector thread only; at most once)."""
        if not w.fds_closed:
            w.fds_closed = True
            for fd in (w.watch_r, w.watch_w):
                os.close(fd)

    def _release_fds(self) -> None:
        for w in [*self.workers, *self.retired]:
            if w.thread is None or not w.thread.is_alive():
                self._close_worker_fds(w)
        if all(w.thread is None or not w.thread.is_alive() for w in self.workers):
            for waker in self.wakers:
                waker.close()
            if self.main_waker is not None:
                self.main_waker.close()


def block_signals() -> None:
    """Keep SIGINT for the main thread: a signal sent to the process goes to a thread
    that does not block it, and only the main thread's waits are woken by it."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _settle(future: CallFuture, *, value: object = None, exc: BaseException | None = None) -> None:
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass  # cancelled by its owner meanwhile


def _join(thread: threading.Thread | None) -> None:
    """Join in short steps so Ctrl-C reaches the main thread (it is not delivered in join)."""
    while thread is not None and thread.is_alive():
        thread.join(0.05)


def _fd_limit() -> int | None:
    """The soft limit of open files, or None where there is none (or it is unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _check_headroom(need: int, what: str) -> None:
    """Raise EMFILE's OSError when fewer than ``need`` descriptors are left to open."""
    limit = _fd_limit()
    if limit is None or not os.path.isdir("/proc/self/fd"):
        return
    try:
        used = len(os.listdir("/proc/self/fd")) - 1  # (less the listing's own)
    except OSError:
        used = limit  # (listing them needs a descriptor too)
    if limit - used < need:
        raise OSError(
            errno.EMFILE, f"{what} needs about {need} free file descriptors, {limit - used} left"
        )


def _limit_hint() -> str:
    limit = _fd_limit()
    if limit is None:
        return ""
    return (
        f" (the process may open {limit} files: RLIMIT_NOFILE; raise it with `ulimit -n`, "
        "or close files and pools you no longer use)"
    )


def _limit_message(exc: OSError, what: str) -> str:
    """Why ``what`` was refused by the system (descriptors, usually), and the fix."""
    return (
        f"could not start {what}: {exc.strerror or exc}; the process is at its limit of open "
        f"files{_limit_hint()}"
    )


def _stuck_error(reason: BaseException, labels: list[str], refusals: list[str]) -> BaseException:
    """``reason`` (a call's stop error) saying which workers did not stop and their fate."""
    limits = [r for r in refusals if r != "records"]
    if not refusals:
        fate = (
            f"{'that worker was' if len(labels) == 1 else 'those workers were'} replaced by "
            "fresh ones and the pool is still usable"
        )
    else:
        why = (
            limits[0]
            if limits
            else f"too many stuck workers to replace them all: at most the pool's size + "
            f"{SPARE_RECORDS} retired workers are alive at once"
        )
        fate = (
            f"{len(refusals)} of them keep their rank until the C call returns ({why}); the "
            "pool is still usable with the workers it has"
        )
    error = type(reason)(
        f"{reason}; {', '.join(labels)} did not stop within {STOP_GRACE:g} s of being asked "
        f"(a long C call): {fate}"
    )
    if limits:
        error.__cause__ = ResourceLimitError(errno.EMFILE, limits[0])
    return error
