"""Calls in flight: queue their tasks, read their outcomes, complete their futures."""

from __future__ import annotations

import sys
from typing import Any

from shardmem._data.buffer import (
    SharedBuffer,
)
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._calls import Call, CallFuture, is_cancelled, is_done, results
from shardmem._engine._handoff import qcount, qget, qput
from shardmem._engine._state import (
    EngineState,
    _settle,
)
from shardmem._engine._tasks import ViewSpec, encode_arg
from shardmem._errors import ClosedError, PoolBrokenError


class Dispatch(EngineState):
    """Queue the tasks of new calls, read outcomes, complete futures (collector thread)."""

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

    def _submit(self, call: Call, wire: list[tuple[tuple[object, ...], tuple[Any, ...]]]) -> None:
        future = call.future
        assert future is not None
        if is_cancelled(future):
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
        inject = call.inject_code
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
                or (call.future is not None and is_done(call.future))
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

    def _record(self, call: Call, message: tuple[Any, ...]) -> None:
        """Keep one task's outcome; finish the call with its last, stop it at a failure."""
        tag, tid = message[0], message[1]
        self.owner.pop(tid, None)
        if tag == P.CANCELLED and self._rerun(call, tid):
            return
        call.outcomes[tid - call.first] = message
        call.unreported -= 1
        call.completed += call.weight(tid)
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
        with future._condition:
            if (
                call.stop_error is not None
                or call.claimed  # a cancel that succeeded (its caller may have been interrupted)
                or id(call) in self.stopping
                or self.workers_told  # (never while a call is unfinished: see _stop_workers)
                or self.broken
                or is_done(future)
                or not call.wire
            ):
                return False
        index = tid - call.first
        args, kwargs = call.wire[index]
        rank = call.tasks[index].rank
        message = (P.TASK, tid, call.kernel.key, args, kwargs, call.first, call.inject_code)
        call.outcomes[index] = None
        self.owner[tid] = call
        if self.backlog or not self._send(tid, rank, message):
            self.backlog.append((tid, rank, message))
        elif rank is None:
            self._wake_sleepers(1)
        return True

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
            if future is None or is_done(future):
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
            if future is not None and is_done(future):
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
