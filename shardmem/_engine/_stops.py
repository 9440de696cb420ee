"""Cancelling and stopping calls: the cancel ring, stop queues, grace and retirement."""

from __future__ import annotations

import marshal
import os
import time

from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._calls import Call, _let_go, is_done
from shardmem._engine._handoff import qcount, qput, sched_yield
from shardmem._engine._roster import _Worker
from shardmem._engine._state import (
    STOP_GRACE,
    EngineState,
    _stuck_error,
)
from shardmem._errors import TaskCancelledError


class Stops(EngineState):
    """Cancel and stop calls: the cancel ring (any thread), stop queues, retirement."""

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

    def stop_between_items(self, call: Call) -> None:
        """Ask a running chunk of ``Pool.map`` to stop before its next item (any thread).

        Its task ids go on the cancel ring, which a map chunk reads between two
        items; it then reports the results it has and that it stopped. Nothing is
        claimed: the call finishes as any other (a worker lapped on the ring misses
        it and runs the chunk to its end).
        """
        if call.first > 0 and call.outcomes:
            first, last = call.first, call.first + len(call.outcomes) - 1
            self._ring_write(first << P.RING_SHIFT | min(last - first, (1 << P.RING_SHIFT) - 1))

    def call_started(self, call: Call) -> bool:
        """True once a task of ``call`` runs or ran its kernel (from any thread)."""
        if call.first <= 0 or not call.outcomes:
            return False
        first, last = call.first, call.first + len(call.outcomes) - 1
        workers = [*self.workers, *self.retired]
        return not self._none_runs(workers, first, last) or self._started(call)

    def _ring_write(self, entry: int) -> None:
        """Append ``entry`` to the cancel ring: its slot first, then the sequence number.

        Several threads cancel at once, and workers read the ring in sequence: under
        ``ring_lock``. A Ctrl-C can split a ``with`` (right after the acquire, or, for a
        line-level interrupt, before ``__exit__`` runs: its call is on the ``with`` line
        again), so the lock is let go of by hand then: held, the next ``cancel()`` on
        this thread waited for itself for good (the interrupt sweep's abandoned
        ``Executor.map``, about 1 run in 10).
        """
        lock = self.ring_lock
        try:
            with lock:
                seq = self.ctrl[P.C_CANCELS] + 1
                self.ctrl[self.ring + seq % P.RING] = entry
                self.ctrl[P.C_CANCELS] = seq
        except BaseException:
            _let_go(lock)  # (nobody holds it on entry: it is taken only here)
            raise

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

    def _stop(self, call: Call, error: BaseException | None) -> None:
        """Drop the call's queued tasks and stop its running ones (``error``: why)."""
        if call.first == 0:  # never queued: a submit request is ahead of this one, or none
            if call.future is not None and is_done(call.future):
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
