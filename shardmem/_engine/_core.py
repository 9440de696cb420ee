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

The collector's state and its methods are split by responsibility: this
module holds the loop, requests and closing; ``_roster``, ``_dispatch``,
``_stops`` and ``_evictions`` the rest, each owning the fields that
``_state.EngineState`` lists under its name.

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

import contextlib
import select
import sys
import threading
import time
import weakref
from typing import Any

from shardmem._data.buffer import add_release_listener, remove_release_listener
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._calls import COLLECTOR_NAME, is_done
from shardmem._engine._dispatch import Dispatch
from shardmem._engine._evictions import Evictions
from shardmem._engine._handoff import qcount, qput, sched_yield
from shardmem._engine._roster import Roster
from shardmem._engine._state import (
    _TICK,
    COLLECTOR_SPIN,
    EVICT_DELAY,
    STOP_GRACE,
    _join,
    _settle,
    block_signals,
)
from shardmem._engine._stops import Stops
from shardmem._errors import ClosedError, PoolBrokenError

__all__ = ["STOP_GRACE", "Core", "begin_exit", "block_signals"]

_START_POLL = 0.0005  # seconds between looks at the workers while a pool starts
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


class Core(Dispatch, Stops, Roster, Evictions):
    """Everything a pool owns; threads refer to this, never to the public ``Pool``."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.collector = threading.Thread(target=self._collect, name=COLLECTOR_NAME, daemon=True)
        self._start()
        add_release_listener(self.on_buffer_released)

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
                time.sleep(_START_POLL)  # (no lock: an interrupted wait cannot keep one)
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

    def _begin_close(self, how: str) -> None:
        self.closing = True
        calls = list({id(c): c for c in self.owner.values()}.values())
        if how == "stop":
            for call in calls:
                self._stop(call, ClosedError("the pool was closed before this call finished"))
        elif how == "drop":
            for call in calls:
                if call.future is not None and not self._running(call):
                    call.future.cancel()

    def _stop_workers(self) -> None:
        """Tell each worker to end, behind every queued task (each takes one STOP).

        Only once no call in flight is unfinished: until then a task that a worker
        skipped for a cancel that then failed may have to run again (see _rerun),
        and a worker that had taken its STOP could not run it.
        """
        self.workers_told = True
        for _ in self.workers:
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
        if not self.workers_told:
            if any(c.future is not None and not is_done(c.future) for c in self.order):
                return False
            self._stop_workers()
        everyone = [*self.workers, *self.retired]
        if not all(w.exited.is_set() for w in everyone):
            self._restop_sleepers()
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
