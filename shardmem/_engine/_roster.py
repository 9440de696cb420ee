"""The pool's workers: start, define kernels and views, wake, replace, close."""

from __future__ import annotations

import itertools
import marshal
import os
import threading
import time
from concurrent import interpreters
from pathlib import Path
from typing import Any

from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._calls import Call, is_done
from shardmem._engine._handoff import HAVE_EVENTFD, Waker, qcount, qget, qput
from shardmem._engine._state import (
    _BOOT_FDS,
    BARRIER_SPIN,
    SPIN,
    EngineState,
    _check_headroom,
    _join,
    _limit_hint,
    _limit_message,
    block_signals,
)


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
        self.restop_at = 0.0  # when the pool may send it another STOP (see _restop_sleepers)


class Roster(EngineState):
    """The workers: start each on its own thread, share kernels and views, wake, replace."""

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
        twice and leave the other asleep (``_wake`` clears the flag). A worker
        still flagged but RUNNING took a task in its last poll before sleeping:
        it needs no wake-up. One flagged and IDLE may be about to take one the
        same way; a worker that takes a shared task with more queued behind it
        wakes a sleeping peer (``_pass_on`` in _worker.py), so no task waits
        for a wake-up that went to the wrong worker.
        """
        ctrl = self.ctrl
        queued = qcount(self.shared.id)  # first: a worker counted awake below polls after it
        awake = 0
        for w in self.workers:
            if not ctrl[w.sleeping] and ctrl[w.status] == P.STATUS_IDLE:
                awake += 1
        count = min(count, queued - awake)
        for w in self.workers:
            if count <= 0:
                return
            if ctrl[w.sleeping] and ctrl[w.status] == P.STATUS_IDLE:
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
                or (future is not None and is_done(future))
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

    def _restop_sleepers(self) -> None:
        """Closing, every worker told to end: one that sleeps idle with nothing queued for
        it has lost its STOP (a closing pool whose stuck worker was replaced, then
        interrupted, hung at exit about 1 run in 25): send it another, on its own queue.
        An extra STOP is harmless; a worker ends at the first one it takes."""
        if qcount(self.shared.id) or self.backlog:
            return
        ctrl, now = self.ctrl, time.monotonic()
        for w in self.workers:
            if (
                not w.exited.is_set()
                and ctrl[w.status] == P.STATUS_IDLE
                and ctrl[w.sleeping]
                and not qcount(w.tasks.id)
                and now >= w.restop_at
            ):
                w.restop_at = now + 0.1
                qput(w.tasks.id, (P.STOP,))
                self._wake(w)

    def _reap_retired(self) -> None:
        """Close retired workers whose loop has ended; their records become free."""
        for w in [w for w in self.retired if w.exited.is_set() and not w.release.is_set()]:
            self._drain()
            w.release.set()
            _join(w.thread)
            self._close_worker_fds(w)
            self.retired.remove(w)
            self.records.append(w.base)

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
