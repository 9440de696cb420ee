"""The engine's state, written down in one place, and what its parts share.

``Core`` (``_core.py``) is one object built from parts, one module each
(``_roster``, ``_dispatch``, ``_stops``, ``_evictions``); every field they
use is declared here, grouped by the part that owns it, and what one part
calls of another is listed under ``TYPE_CHECKING`` below. The package's
door (``_engine/__init__.py``) says where a change belongs.
"""

from __future__ import annotations

import collections
import errno
import os
import select
import signal
import sys
import threading
import weakref
from concurrent import interpreters
from concurrent.futures import InvalidStateError
from typing import TYPE_CHECKING, Any

from shardmem._data.buffer import (
    SharedBuffer,
)
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._calls import Call, CallFuture
from shardmem._engine._handoff import Arena, Waker

if TYPE_CHECKING:
    from shardmem._engine._evictions import _Eviction
    from shardmem._engine._roster import _Worker

from shardmem._errors import ResourceLimitError

SPIN = 100e-6  # seconds a worker polls its queues before it blocks
# The longest a barrier wait polls before it blocks. Each worker adapts it (_worker.py,
# _barrier_wait): a fixed spin lost to one worker beside another program (a spinning
# waiter kept its peer off a core: 0.73x of one worker, against 1.52x blocking at once).
BARRIER_SPIN = 50e-6
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


class EngineState:
    """Every field of a pool's engine, grouped by the part that owns (writes) it.

    Only the collector thread writes engine state, except where a field says
    otherwise (callers append to ``requests`` and ``dropped``, one atomic
    operation each; ``cancel()`` writes the cancel ring under ``ring_lock``).
    Other parts read what they need.
    """

    collector: threading.Thread  # set by Core

    def __init__(self, size: int) -> None:
        # -- shared with the workers (made once; read by every part) --------------------------
        self.size = size
        # The control block: a header, one record per worker (a retired worker keeps its
        # own until it ends), the cancel ring after the header.
        capacity = 2 * size + SPARE_RECORDS
        self.ring = P.C_HEADER + size
        first = self.ring + P.RING
        self.ctrl_bytes = bytearray(8 * (first + capacity * P.C_STRIDE))
        self.ctrl = memoryview(self.ctrl_bytes).cast("q")
        self.results = interpreters.create_queue()  # outcomes, from every worker
        self.shared = interpreters.create_queue()  # tasks any worker may take
        self.inboxes = [interpreters.create_queue() for _ in range(size)]  # barrier messages
        self.arena = Arena(self._share_chunk)  # message slots

        # -- core (_core.py): requests, the loop, closing ---------------------------------------
        self.requests: collections.deque[tuple[Any, ...]] = collections.deque()  # any thread
        # Dead weak references, appended by their callbacks (one C call: no interrupt
        # splits it): the pool's own (it was dropped) and those of buffers the workers view.
        self.dropped: collections.deque[weakref.ref[Any]] = collections.deque()
        self.pool_ref: weakref.ref[Any] | None = None
        self.poller: select.poll | None = None  # the collector's wait on its wake fd
        self.closing = False  # no new calls
        self.workers_told = False  # the workers were told to end (see _core._stop_workers)
        self.closed = False  # close() was called (set by the closing caller)
        self.close_sent = 0  # the strongest close request posted (see _core._CLOSE)
        self.finished = threading.Event()  # the collector has ended
        self.broken: str | None = None

        # -- roster (_roster.py): the workers, their descriptors and records ------------------
        # Descriptors (wakers, watchdog pipes) are made and closed by the collector thread
        # alone: a Ctrl-C in the caller during start-up cannot split that (see _setup).
        self.main_waker: Waker | None = None
        self.wakers: list[Waker] = []
        self.workers: list[_Worker] = []  # by rank
        self.retired: list[_Worker] = []  # replaced, until their loop ends
        self.records = [first + i * P.C_STRIDE for i in range(capacity)]  # free records
        self.path = tuple(sys.path)  # the sys.path the workers have (set by callers)
        self.start_error: BaseException | None = None  # what stopped _setup

        # -- dispatch (_dispatch.py): calls in flight, their tasks and outcomes ---------------
        self.next_id = 1  # the next task id (eviction tokens take ids too)
        self.owner: dict[int, Call] = {}  # task id -> its call, until its outcome arrives
        self.slot_of: dict[int, int] = {}  # task id -> its message slot
        # Tasks waiting for a free slot (or for a tuple's turn): (task id, rank, message).
        self.backlog: collections.deque[tuple[int, int | None, tuple[Any, ...]]] = (
            collections.deque()
        )
        self.big: set[int] = set()  # ids of tasks whose message travels as a tuple
        self.order: collections.deque[Call] = collections.deque()  # queued calls, oldest first
        self.kernel_calls: dict[str, int] = {}  # kernel key -> calls in flight that use it
        self.in_use: dict[int, int] = {}  # buffer id -> calls in flight that use it

        # -- stops (_stops.py): cancelling and stopping ---------------------------------------
        self.ring_lock = threading.RLock()  # cancel() writes the ring from any thread (_ring_write)
        self.stopping: dict[int, Call] = {}  # id(call) -> a call being stopped

        # -- evictions (_evictions.py): buffers the workers view ------------------------------
        self.buffer_refs: dict[int, tuple[int, weakref.ref[Any]]] = {}  # id(ref) -> (bid, ref)
        self.watched: set[int] = set()  # buffer ids with an entry in buffer_refs
        self.evict_later: set[int] = set()  # evict once no call in flight uses it
        self.nbytes: dict[int, int] = {}  # buffer id -> its size, while a worker views it
        self.deferred: dict[int, None] = {}  # dropped buffers whose eviction is batched
        self.deferred_bytes = 0
        self.deferred_since = 0.0
        self.evictions: dict[int, _Eviction] = {}  # token -> eviction awaiting acknowledgements
        self.evicting: dict[int, _Eviction] = {}  # buffer id -> its eviction in flight

    if TYPE_CHECKING:  # what each part offers the others (defined in the part named)
        # core
        def _break(self, reason: str) -> None:
            raise NotImplementedError

        # core
        def _wake_collector(self) -> None:
            raise NotImplementedError

        # core
        def post(self, request: tuple[Any, ...]) -> None:
            raise NotImplementedError

        # roster
        def _share_chunk(self, index: int, chunk: memoryview | None) -> None:
            raise NotImplementedError

        # roster
        def _retire(self, w: _Worker, what: str) -> str | None:
            raise NotImplementedError

        # roster
        def _prepare(self, w: _Worker, call: Call) -> None:
            raise NotImplementedError

        # roster
        def _wake(self, w: _Worker) -> None:
            raise NotImplementedError

        # roster
        def _wake_sleepers(self, count: int) -> None:
            raise NotImplementedError

        # roster
        def _worker_event(self, tag: int, ready_id: int, message: tuple[Any, ...]) -> None:
            raise NotImplementedError

        # dispatch
        def _drain(self) -> bool:
            raise NotImplementedError

        # dispatch
        def _complete(self, call: Call, error: BaseException | None = None) -> None:
            raise NotImplementedError

        # stops
        def _stop(self, call: Call, error: BaseException | None) -> None:
            raise NotImplementedError

        # stops
        @staticmethod
        def _queue_stop(w: _Worker, lo: int, hi: int) -> None:
            raise NotImplementedError

        # evictions
        def _evict(self, buffer_id: int, eviction: _Eviction | None) -> None:
            raise NotImplementedError

        # evictions
        def _evicted(self, token: int) -> None:
            raise NotImplementedError

        # evictions
        def _watch_buffer(self, buffer: SharedBuffer) -> None:
            raise NotImplementedError


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
