"""The loop that runs inside every worker interpreter (standard library only).

The pool runs ``_protocol.py`` + this file's source in a fresh interpreter
after ``prepare_main`` has bound:

    RANK, SIZE          this worker's rank and the pool size
    BASE                index of this worker's record in the control block
    READY               the id it reports with (DONE, READY, ...) once its loop runs
    TASKS, SHARED       ids of its own queue and of the pool's shared queue (main -> workers)
    CONTROL             id of its control queue (buffers and kernel definitions; drained
                        after a task is taken, so whatever a task needs is there first)
    EVICTS              id of its eviction queue (served by the watchdog thread, even mid-task)
    STOPS               id of its stop queue: (lo, hi) ranges of task ids to skip or stop
    LEAVE               id of its leave queue: once retired, it ends its loop only if it
                        takes the ticket there (the pool takes it back to keep the worker)
    RESULTS             id of the results queue (workers -> main)
    INBOXES             ids of the barrier inbox queues, one per rank
    USE_EVENTFD         True: wake fds are eventfds; False: pipes
    WAKE_FDS            one wake fd per rank (eventfd, or a pipe's write end)
    WAIT_FD             this worker's fd to block on (eventfd, or a pipe's read end)
    MAIN_FD             the fd that wakes the engine's collector thread
    WATCH_FD, WATCH_W   read and write ends of this worker's watchdog pipe
    CTRL                the control block, a memoryview cast to int64
    SPIN                seconds to poll for a task before blocking
    BARRIER_SPIN        seconds to poll for a barrier's peers before blocking

It never imports anything outside the standard library, so it cannot import
shardmem either: the constants it needs come from ``_protocol.py``. Start-up
cost matters (it is paid per worker): queues are used through the low-level
``_interpqueues`` module by id, because sharing ``Queue`` objects or raising
``QueueEmpty`` imports ``concurrent.interpreters`` (25-45 ms); ``threading``,
``traceback`` and ``pickle`` are replaced by ``_thread`` or imported lazily.
"""

# ruff: noqa: F821  (names bound by prepare_main and by _protocol.py)
# mypy: ignore-errors

import _interpqueues
import _thread
import linecache
import marshal
import os
import sys
from time import perf_counter, sleep

_yield = getattr(os, "sched_yield", lambda: None)
_get = _interpqueues.get
_count = _interpqueues.get_count
_put = _interpqueues.put


class _QueueEmptyError(Exception):
    pass


class _QueueFullError(Exception):
    pass


class _NoQueue:
    pass


# A worker that loses the race for the last task on the shared queue gets QueueEmpty
# from _interpqueues.get, whose class lives in concurrent.interpreters: raising it the
# first time imports that package and ~25 modules (pickle, threading, queue: ~3 MiB and
# 25-45 ms per worker). Light classes are registered instead; a kernel that imports
# concurrent.interpreters registers the real ones again.
_interpqueues._register_heap_types(_NoQueue, _QueueEmptyError, _QueueFullError)


class Cancelled(BaseException):
    """Raised inside a running kernel (from the watchdog thread) to stop it."""

    def __init__(self, *args):
        super().__init__(*args)
        _delivered[0] += 1  # the watchdog sees a kernel that swallows its stops


class KernelSetupError(Exception):
    """A task's kernel could not be defined in this worker."""


_delivered = [0]
_SLEEPING = BASE + W_SLEEPING
_STATUS = BASE + W_STATUS
_CURRENT = BASE + W_CURRENT
_COMPLETED = BASE + W_COMPLETED
_RETIRED = BASE + W_RETIRED
_DECIDED = BASE + W_DECIDED
_SKIPPED = BASE + W_SKIPPED
_SKIP_NEXT = BASE + W_SKIP_NEXT
_BIG_SENT = BASE + W_BIG_SENT
_BIG_TAKEN = BASE + W_BIG_TAKEN

_views = {}  # buffer id -> memoryview of the whole buffer
_evicted = set()  # ids of buffers evicted before their view arrived (dropped on arrival)
_views_lock = _thread.allocate_lock()  # the compute thread and the watchdog both touch _views
# CONTROL is read by the compute thread and, for the views on it, by the watchdog (see
# _take_views), which keeps the other messages here, in order, for the compute thread.
_control_lock = _thread.allocate_lock()
_held_control = []
_arena = []  # chunk index -> memoryview of a chunk of message slots (see _protocol.py)
_kernels = {}  # kernel key -> (function, names it accepts from INJECTED)
_kernel_files = {}  # kernel key -> the source file names it put in linecache
_file_users = {}  # file name put in linecache -> how many defined kernels use it
_WD_BUSY = BASE + W_WD_BUSY
_raised = [0]  # id of the last task the watchdog raised in
_stops = [()]  # [tuple of (lo, hi) task-id ranges to skip or stop]: replaced, never mutated
_stops_lock = _thread.allocate_lock()  # the watchdog and the compute thread both add ranges


def _stopped(task_id):
    return any(lo <= task_id <= hi for lo, hi in _stops[0])


def _read_stops():
    """Move the stop queue's ranges into the stop list (merged; those below C_LOW dropped).

    Nothing is forgotten that a task still queued could need: the pool
    raises C_LOW only past tasks whose outcomes it has all received.
    """
    if not _count(STOPS):
        return
    with _stops_lock:
        ranges = list(_stops[0])
        while _count(STOPS):
            entry = _get(STOPS)[0]
            ranges.append((1, 1 << 62) if entry == STOP_ALL else _span(entry))
        _stops[0] = _merged(ranges, CTRL[C_LOW])


def _span(entry):
    """The task-id range ``(lo, hi)`` of a ring or stop entry ``lo << RING_SHIFT | hi - lo``."""
    lo = entry >> RING_SHIFT
    return (lo, lo + (entry & ((1 << RING_SHIFT) - 1)))


def _merged(ranges, low):
    """Sorted, with overlapping or adjacent ranges joined and those below ``low`` dropped."""
    out = []
    for lo, hi in sorted(r for r in ranges if r[1] >= low):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


_RING = C_HEADER + SIZE
_seen_cancels = [0]
_ring_ranges = []  # (lo, hi) task-id ranges read from the cancel ring (compute thread only)


def _cancelled(task_id):
    """True when a cancel in the ring (see Core.claim_cancel) covers ``task_id``.

    Entries are read in order since the last read; a negative one takes back
    the cancel it negates. A range is kept until the stop queue has brought
    the same range (a cancel that succeeded puts it there before it returns).
    A worker more than RING entries behind forgets what it kept and reads the
    whole ring: what it missed is on its stop queue, read just before this.
    """
    count = CTRL[C_CANCELS]
    seen = _seen_cancels[0]
    if count != seen:
        low = CTRL[C_LOW]
        stops = _stops[0]
        kept = [] if count - seen > RING else _ring_ranges
        ranges = [r for r in kept if r[1] >= low and r not in stops]
        for seq in range(max(seen + 1, count - RING + 1), count + 1):
            entry = CTRL[_RING + seq % RING]
            span = _span(abs(entry))
            if entry > 0:
                ranges.append(span)
            elif entry < 0 and span in ranges:
                ranges.remove(span)
        _ring_ranges[:] = ranges
        _seen_cancels[0] = count
    return any(lo <= task_id <= hi for lo, hi in _ring_ranges)


def _fence():
    """A full memory barrier: the queue registry's mutex is taken and released."""
    _count(RESULTS)


# -- waking and blocking -------------------------------------------------------------


def _wake(fd):
    if USE_EVENTFD:
        os.eventfd_write(fd, 1)
    else:
        os.write(fd, b"\0")


def _block():
    """Sleep until someone writes to this worker's wake fd."""
    if USE_EVENTFD:
        os.eventfd_read(WAIT_FD)
    else:
        os.read(WAIT_FD, 4096)


def _wait_for(poll, spin=SPIN):
    """Return ``poll()``'s first non-None value: spin for ``spin`` seconds, then block.

    The sleeping flag is raised *before* the last poll, so a producer that
    puts an item and then reads the flag either sees the flag or its item is
    seen by that poll (the queue's mutex orders the two).
    """
    item = poll()
    if item is not None:
        return item
    deadline = perf_counter() + spin
    while perf_counter() < deadline:
        _yield()  # spin politely: a runnable thread (the main one, a peer) gets the core
        item = poll()
        if item is not None:
            return item
    while True:
        CTRL[_SLEEPING] = 1
        try:
            item = poll()
            if item is not None:
                return item
            _block()
        finally:
            CTRL[_SLEEPING] = 0
        item = poll()
        if item is not None:
            return item


def _poll_tasks():
    if CTRL[_RETIRED]:
        # Retired: leave, unless the pool took the ticket back first (its replacement
        # could not start, so this worker keeps its rank). Whoever takes it decides.
        try:
            _get(LEAVE)
        except Exception:  # noqa: BLE001 - QueueEmpty: the pool kept this worker
            return None
        return (STOP,)
    # RUNNING is published before a task is taken: the pool counts the idle workers
    # that are awake (IDLE, not sleeping) as ones that will take a task it queues
    # (Core._wake_sleepers), so a worker that has taken one must not look idle.
    if _count(TASKS):
        CTRL[_STATUS] = STATUS_RUNNING
        message = _get(TASKS)[0]
    elif _count(SHARED):
        while True:
            CTRL[_STATUS] = STATUS_RUNNING
            try:
                message = _get(SHARED)[0]
                break
            except Exception:  # noqa: BLE001 - another worker took it first (QueueEmpty)
                CTRL[_STATUS] = STATUS_IDLE
            # A task queued while this worker showed RUNNING woke nobody for it (the pool
            # counted this worker as one taking a task): look again after showing IDLE.
            # The pool puts, then reads the flags; this writes IDLE, then counts.
            if not _count(SHARED):
                return None
        if SIZE > 1 and _count(SHARED):
            _pass_on()
    elif _held_control or _count(CONTROL):
        _drain_control()
        return None
    else:
        return None
    # The buffers a task uses were put on CONTROL before the task was queued:
    # draining CONTROL now (not before the poll) guarantees they are here.
    _drain_control()
    return message


def _pass_on():
    """Wake one sleeping idle peer: this worker took a shared task and more are queued.

    The pool wakes one sleeper per task it queues, but a worker that goes to
    sleep just as a task arrives may take it in its last poll while still
    showing its sleeping flag: the pool's wake-up then reaches it, not the
    peer that sleeps on. Whoever takes a task with more behind it passes the
    wake-up on, so every queued task has a worker awake for it.
    """
    for step in range(1, SIZE):
        peer = (RANK + step) % SIZE
        record = CTRL[C_HEADER + peer]
        if CTRL[record + W_SLEEPING] and CTRL[record + W_STATUS] == STATUS_IDLE:
            CTRL[record + W_SLEEPING] = 0  # the next pass-on goes to another
            _wake(WAKE_FDS[peer])
            return


def _drain_control():
    while True:
        with _control_lock:
            if _held_control:
                message = _held_control.pop(0)
            elif _count(CONTROL):
                message = _get(CONTROL)[0]
            else:
                return
        if message[0] == BUFFER:
            _take_view(message)
        elif message[0] == PATH:
            sys.path[:] = message[1]
        elif message[0] == FORGET:
            _forget(message[1])
        elif message[0] == ARENA:
            while len(_arena) <= message[1]:
                _arena.append(None)
            _arena[message[1]] = message[2]
        else:
            _handle_kernel(message)


def _take_view(message):
    with _views_lock:
        if message[1] in _evicted:  # its eviction overtook it
            _evicted.discard(message[1])
            message[2].release()
        else:
            _views[message[1]] = message[2]


def _take_views():
    """Watchdog: take the views waiting on CONTROL (keeping the other messages in order).

    A busy worker drains CONTROL only when it takes its next task; until then a
    view there exports its buffer, and closing that buffer right after a call
    that used it was cancelled or timed out raised BufferInUseError (issue 21).
    """
    with _control_lock:
        while _count(CONTROL):
            message = _get(CONTROL)[0]
            if message[0] == BUFFER:
                _take_view(message)
            else:
                _held_control.append(message)


def _handle_kernel(message):
    _, key, blob = message
    try:
        _define(key, blob)
    except BaseException as exc:  # noqa: BLE001 - remembered: its tasks fail with the reason
        failure = _failure(0, exc)
        _kernels[key] = (None, f"{failure[3]}: {failure[4]}")


def _forget(key):
    """Drop a kernel the pool no longer keeps here, and the sources only it used."""
    _kernels.pop(key, None)
    for filename in _kernel_files.pop(key, ()):
        users = _file_users.get(filename, 1) - 1
        if users > 0:
            _file_users[filename] = users
        else:
            _file_users.pop(filename, None)
            linecache.cache.pop(filename, None)


def _evictions():
    """Drop cached views of closed buffers (the pool only asks when no call uses them)."""
    _take_views()  # first: an evicted view still queued is released now
    while _count(EVICTS):
        _, token, ids = _get(EVICTS)[0]
        for buffer_id in (ids,) if type(ids) is int else ids:
            with _views_lock:
                view = _views.pop(buffer_id, None)
                if view is None:
                    _evicted.add(buffer_id)  # its BUFFER message is still on CONTROL
            if view is not None:
                try:  # noqa: SIM105 - contextlib is not imported in workers (start-up time)
                    view.release()
                except BufferError:
                    pass  # a kernel kept a memoryview of it: released when that dies
        _put(RESULTS, -token, -1)  # an int: nothing for the pool to release here
        if CTRL[C_MAIN_SLEEPING]:
            _wake(MAIN_FD)


def _slot(slot, length):
    """The first ``length`` bytes of message slot ``slot`` (see _protocol.py)."""
    start = (slot & ((1 << CHUNK_SHIFT) - 1)) * SLOT_BYTES
    return _arena[slot >> CHUNK_SHIFT][start : start + length]


def _reply(message, slot=-1):
    """Send an outcome to the pool: into the task's slot when there is one and it fits."""
    if slot >= 0:
        data = marshal.dumps(message)
        if len(data) <= SLOT_BYTES:
            _slot(slot, len(data))[:] = data
            message = slot << LENGTH_BITS | len(data)
        else:  # the slot still shows that the kernel ran (Core._started reads it)
            mark = marshal.dumps((message[0], message[1]))
            _slot(slot, len(mark))[:] = mark
    if type(message) is not int:
        # This interpreter frees a tuple it put once the pool has taken it, through a
        # bounded list of pending calls: never more than BIG_CREDITS unacknowledged.
        while CTRL[_BIG_SENT] - CTRL[_BIG_TAKEN] >= BIG_CREDITS:
            _yield()
        CTRL[_BIG_SENT] += 1
        message = (BIG, BASE, message)
    _put(RESULTS, message, -1)
    if CTRL[C_MAIN_SLEEPING]:
        _wake(MAIN_FD)


# -- barrier: a dissemination barrier over the inbox queues -----------------------------

_arrived = {}  # (call, generation, round) -> count, for tokens that came early


class _Barrier:
    """``barrier()`` for one SPMD call: every rank waits until all have arrived."""

    def __init__(self, call):
        self.call = call
        self.generation = 0
        # Gang calls reach every worker in the same order: tokens of older calls are stale.
        for token in [t for t in _arrived if t[0] < call]:
            del _arrived[token]

    def __call__(self):
        self.generation += 1
        step, rnd = 1, 0
        while step < SIZE:
            peer = (RANK + step) % SIZE
            _put(INBOXES[peer], _token_int(self.call, self.generation, rnd), -1)
            if CTRL[CTRL[C_HEADER + peer] + W_SLEEPING]:
                _wake(WAKE_FDS[peer])
            _barrier_wait(self._token_poller((self.call, self.generation, rnd)))
            step, rnd = step * 2, rnd + 1

    @staticmethod
    def _token_poller(want, inbox=INBOXES[RANK]):
        def poll():
            if _arrived.get(want):
                _take(want)
                return True
            while _count(inbox):
                token = _get(inbox)[0]
                if type(token) is int:
                    token = _token_tuple(token)
                if token == want:
                    return True
                if token[0] >= want[0]:  # tokens of older calls are stale
                    _arrived[token] = _arrived.get(token, 0) + 1
            return None

        return poll


# How long the next barrier wait polls before it blocks: adapted to what the last waits
# found. On an idle machine the peers arrive within microseconds and a short poll saves
# a wake-up each (~25 us); beside another program a peer is often off its core, a poll
# only keeps it off longer, and the waits block at once. [seconds, waits left before the
# next try when polling is off]
_barrier_spin = [BARRIER_SPIN, 0]
_BARRIER_SPIN_MIN = BARRIER_SPIN / 16
_BARRIER_RETRY = 64  # blocked waits before a short poll is tried again


def _barrier_wait(poll):
    """Wait for a barrier token: poll for up to the adapted spin, then block.

    A wait the poll ended doubles the next spin (up to BARRIER_SPIN); one that
    had to block halves it, and below BARRIER_SPIN / 16 the waits block at once
    for the next _BARRIER_RETRY barriers before a short poll is tried again.
    """
    spin, skip = _barrier_spin
    if spin:
        deadline = perf_counter() + spin
        while True:
            if poll() is not None:
                _barrier_spin[0] = min(spin * 2, BARRIER_SPIN)
                return
            if perf_counter() >= deadline:
                break
            _yield()
        spin /= 2
        _barrier_spin[:] = [spin, 0] if spin >= _BARRIER_SPIN_MIN else [0, _BARRIER_RETRY]
    elif skip:
        _barrier_spin[1] = skip - 1
    elif BARRIER_SPIN:
        _barrier_spin[0] = _BARRIER_SPIN_MIN
    _wait_for(poll, 0)


def _token_int(call, generation, rnd):
    """A barrier token as an int (queue items that are not ints can leak, see _protocol)."""
    if call < 1 << 29 and generation < 1 << 28:
        return call << 34 | generation << 6 | rnd
    return (call, generation, rnd)


def _token_tuple(token):
    """The ``(call, generation, round)`` that `_token_int` packed."""
    return (token >> 34, (token >> 6) & 0xFFFFFFF, token & 63)


def _take(token):
    left = _arrived[token] - 1
    if left:
        _arrived[token] = left
    else:
        del _arrived[token]


# -- kernels ------------------------------------------------------------------------------


def _define(key, blob):
    spec = marshal.loads(blob)
    if spec[0] == "builtin":  # a module's C function, by name (as pickle sends it)
        __import__(spec[1])
        _kernels[key] = (getattr(sys.modules[spec[1]], spec[2]), ())
        return
    if spec[0] == "pickle":  # a callable that is not a Python function (a builtin, an instance)
        import pickle

        _kernels[key] = (pickle.loads(spec[1]), ())
        return
    entry, table, sources = spec
    files = []
    for filename, lines in sources:
        if filename not in linecache.cache:
            linecache.cache[filename] = (sum(map(len, lines)), None, list(lines), filename)
        elif filename not in _file_users:
            continue  # a real file, or one a kernel cached itself
        _file_users[filename] = _file_users.get(filename, 0) + 1
        files.append(filename)
    _kernel_files[key] = files
    fn = rebuild_functions(table)[entry]  # (from _rebuild.py, executed before this file)
    code = fn.__code__
    nargs = code.co_argcount + code.co_kwonlyargcount
    names = code.co_varnames[:nargs]
    takes_kwargs = bool(code.co_flags & 0x08)
    wanted = tuple(n for n in INJECTED if n in names or takes_kwargs)
    _kernels[key] = (fn, wanted)


def _view(spec):
    _, buffer_id, offset, nbytes, fmt, shape = spec
    whole = _views.get(buffer_id)
    if whole is None:
        raise RuntimeError(
            f"SharedBuffer #{buffer_id} was closed while this call was queued; "
            "keep arrays open until the calls that use them have returned"
        )
    view = whole[offset : offset + nbytes]
    if len(shape) == 1 or not nbytes:  # memoryview cannot cast to a shape with a zero
        return view if fmt == "B" else view.cast(fmt)
    return view.cast(fmt, shape)


def _arg(value):
    if type(value) is not tuple:
        return value
    tag = value[0]
    if tag == A_VIEW:
        return _view(value)
    if tag == A_RANDOM:
        import random

        return random.Random(value[1])
    if tag == A_VALUE:
        return value[1]
    import pickle

    try:
        return pickle.loads(value[1])
    except ImportError as exc:  # (NumPy in a Dask task, for example): a set-up failure
        raise KernelSetupError(
            f"ImportError: an argument of this task needs {_importing(exc)}, which cannot be "
            "imported in a worker interpreter"
        ) from None


def _importing(exc):
    """Which import failed: ``'a'`` or ``'a' (importing 'b')`` (NumPy's ImportError has no name)."""
    names = []
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        name = frame.f_globals.get("__name__", "").partition(".")[0]
        if frame.f_code.co_name == "<module>" and name != "importlib" and name not in names:
            names.append(name)
        tb = tb.tb_next
    if exc.name and exc.name.partition(".")[0] not in names:
        names.append(exc.name)
    if not names:
        return "a module"
    if len(names) == 1:
        return repr(names[0])
    return f"{names[0]!r} (importing {names[-1]!r})"


# -- running tasks ------------------------------------------------------------------------


def _run(message, slot):
    task_id = message[1]
    if _strays_pending[0] and _stray_calls[1] != _stray_calls[0]:
        _await_strays()  # an earlier kernel's threads are being stopped: let them end
    threads_before = _thread._count()  # the watchdog, and any thread nothing could stop
    _read_stops()  # (before the window below: it takes a lock)
    # CURRENT is published before the stop list is read: a stop that arrives in
    # between is seen by the watchdog, which then raises in the kernel.
    CTRL[_CURRENT] = task_id
    stopped = False
    value = error = None
    took = 0.0
    # The watchdog's exception can land on any bytecode until _close_stop_window
    # has cleared CTRL[_CURRENT] and any pending exception, so retry until then.
    # No lock is taken here: an exception landing just after an acquire would
    # leave it held and deadlock the watchdog. Only the kernel can be stopped:
    # encoding its result or its traceback happens after the window is closed.
    while True:
        try:
            if not stopped:
                _fence()
                stopped = _stopped(task_id) or _cancelled(task_id)
                if stopped:
                    _skip(task_id)
                else:
                    CTRL[_DECIDED] = task_id
            if not stopped:
                started = perf_counter()
                value, error = _call(message)
                took = perf_counter() - started
            _close_stop_window(task_id)
            break
        except Cancelled:
            stopped = True
            value = error = None
            if CTRL[_DECIDED] != task_id and CTRL[_DECIDED] != -task_id:
                _skip(task_id)
    # Restored first: a kernel that lowered the recursion limit must not break the
    # code that reports its outcome (importing traceback, pickling).
    _restore_settings()
    if stopped:
        outcome = (CANCELLED, task_id, RANK)
    elif type(value) is not _Chunk and _thread._count() > threads_before:
        # This kernel started threads it left running (a chunk checks after each item).
        outcome = _failure(task_id, _stray_threads(message[2]))
    elif error is not None:
        outcome = _failure(task_id, error)
    else:
        outcome = _success(task_id, value, took)
    del value, error
    CTRL[_COMPLETED] += 1
    _reply(outcome, slot)


def _restore_settings():
    """Undo what a kernel changed of the interpreter's limits: one's is not the next's."""
    if sys.getrecursionlimit() != _RECURSION_LIMIT:
        sys.setrecursionlimit(_RECURSION_LIMIT)
    if sys.get_int_max_str_digits() != _INT_DIGITS:
        sys.set_int_max_str_digits(_INT_DIGITS)


def _skip(task_id):
    """Publish that this task's kernel will not run (read by Core.claim_cancel)."""
    count = CTRL[_SKIP_NEXT]
    CTRL[_SKIPPED + count % SKIP_RING] = task_id
    CTRL[_SKIP_NEXT] = count + 1
    CTRL[_DECIDED] = -task_id


_strays_pending = [False]  # the watchdog is stopping threads a kernel left running
_stray_calls = [0, 0]  # kernels that left threads; how many of those the next task awaited
_STRAYS_WAIT = 2.0  # seconds the next task waits for them to end (once per such kernel)
# Names of kernels that left threads, each popped by the first of its threads to end
# stopped (see _quiet_stopped_threads).
_stray_warnings = []


def _await_strays():
    """Wait (bounded) until the watchdog has stopped the threads an earlier kernel left.

    Threads nothing can stop (blocked forever in a C call) are waited for
    once; later tasks run beside them and are not blamed for them.
    """
    _stray_calls[1] = _stray_calls[0]
    end = perf_counter() + _STRAYS_WAIT
    while _strays_pending[0] and perf_counter() < end:
        _yield()
        sleep(0.001)


def _stray_threads(key):
    """The kernel left threads running: ask the watchdog to stop them, and fail the task."""
    fn = _kernels.get(key, (None,))[0]
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "?")
    if name not in _stray_warnings:
        _stray_warnings.append(name)
    _strays_pending[0] = True
    _stray_calls[0] += 1
    os.write(WATCH_W, b"t")
    return RuntimeError(
        f"the kernel returned while {_thread._count() - 1} thread(s) it started were still "
        "running; a kernel must join the threads it starts before it returns (they are being "
        "stopped)"
    )


def _call(message):
    _, _task_id, key, args, kwargs, call, inject = message
    try:
        entry = _kernels.get(key)
        if entry is None:
            raise KernelSetupError("the kernel was not defined in this worker")
        fn, wanted = entry
        if fn is None:
            raise KernelSetupError(wanted)
        if inject >= INJECT_EACH:  # a chunk: its items are decoded one by one
            return _each(fn, _arg(args[0]), inject, wanted, task_id=_task_id, key=key), None
        args = [_arg(v) for v in args]
        # (the barrier only where every rank runs one task of the call)
        kw = _keywords(kwargs, wanted if inject else (), call if inject == INJECT_GANG else None)
        return fn(*args, **kw), None
    except Cancelled:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
        if isinstance(exc, ImportError):
            try:  # noqa: SIM105 - contextlib is not imported in workers (start-up time)
                exc.add_note(
                    "(in a worker interpreter, which can import the standard library and "
                    "pure-Python modules only: NumPy and most C extensions cannot be imported "
                    "in a subinterpreter today)"
                )
            except Exception:  # noqa: BLE001 - a broken exception is reported as it is
                pass
        return None, exc


def _keywords(kwargs, wanted, gang_call):
    """A task's keyword arguments, with the ``wanted`` names it did not pass bound:
    ``rank``, ``size``, and (for a gang call, ``gang_call`` its id) the barrier."""
    kw = {k: _arg(v) for k, v in kwargs} if kwargs else {}
    for name in wanted:
        if name not in kw:
            if name == "rank":
                kw[name] = RANK
            elif name == "size":
                kw[name] = SIZE
            elif gang_call is not None:
                kw[name] = _Barrier(gang_call)
    return kw


class _Chunk:
    """What a chunk did: its results (each encoded), up to the failure that ended it."""

    def __init__(self, done, exc, stopped, inject):
        self.done = done
        self.exc = exc
        self.stopped = stopped  # 0 or EACH_STOPPED (see _protocol.py)
        self.inject = inject


def _each(fn, items, inject, wanted, *, task_id, key):
    """A chunk: ``fn`` called for each item, in order, up to a failure.

    INJECT_EACH: map items as they are (``fn(*item)``); INJECT_EACH_ENCODED: map
    items whose arguments are encoded as a task's; INJECT_TASKS: ``(args,
    kwargs)`` of a call's tasks, with rank and size bound as for INJECT_RANK.
    Each result is encoded at once (a later item cannot change it), and an item
    that fails, leaves a thread running or returns what cannot be sent back ends
    the chunk there, as it would end its own call. A map chunk also stops between
    two items when its task id is put on the cancel ring (its iterator was closed).
    """
    done = []
    append = done.append
    threads = _thread._count()
    stoppable = inject != INJECT_TASKS
    try:
        for item in items:
            if stoppable and CTRL[C_CANCELS] != _seen_cancels[0] and _cancelled(task_id):
                return _Chunk(tuple(done), None, EACH_STOPPED, inject)
            if inject == INJECT_EACH:
                value = fn(*item)
            elif inject == INJECT_EACH_ENCODED:  # (marshalled one by one: no shared objects)
                value = fn(*[_arg(v) for v in marshal.loads(item)])
            else:
                args, kwargs = item
                value = fn(*[_arg(v) for v in args], **_keywords(kwargs, wanted, None))
            _restore_settings()
            if _thread._count() > threads:
                return _Chunk(tuple(done), _stray_threads(key), 0, inject)
            append(value if value is None or type(value) in _PLAIN else _encode(value))
    except Cancelled:
        raise
    except _UnsendableError as exc:
        return _Chunk(tuple(done), TypeError(str(exc)), 0, inject)
    except BaseException as exc:  # noqa: BLE001 - the caller raises it at this item
        return _Chunk(tuple(done), exc, 0, inject)
    return _Chunk(tuple(done), None, 0, inject)


def _chunk_outcome(task_id, chunk, took):
    """A chunk's outcome (its results are encoded already: plain values and tuples).

    Map items: ``(results, FAILED message or None, stopped)``. Tasks: ``((results,),)``,
    or the FAILED message of the task that failed, with its index in the chunk.
    """
    failure = None if chunk.exc is None else _failure(task_id, chunk.exc)
    if chunk.inject != INJECT_TASKS:
        return (DONE, task_id, RANK, (chunk.done, failure, chunk.stopped), took)
    if failure is not None:
        return (*failure, len(chunk.done))
    return (DONE, task_id, RANK, (chunk.done,), took)


def _close_stop_window(task_id):
    # Dekker-style hand-shake with the watchdog: it raises BUSY, fences, then
    # reads CURRENT; we clear CURRENT, fence, then read BUSY. Either it sees
    # CURRENT == 0 and raises nothing, or we see it busy and wait, then clear
    # the exception it raised before it can land outside this task.
    CTRL[_CURRENT] = 0
    _fence()
    while CTRL[_WD_BUSY]:
        pass
    if _raised[0] == task_id:
        _clear_pending_stop()


def _success(task_id, value, took):
    if type(value) is _Chunk:
        return _chunk_outcome(task_id, value, took)
    if value is not None and type(value) not in _PLAIN:
        try:
            value = _encode(value)
        except _UnsendableError as exc:
            return _failure(task_id, TypeError(str(exc)))
    return (DONE, task_id, RANK, value, took)


def _clear_pending_stop():
    """Drop a stop request the watchdog raised that has not been delivered yet."""
    _CLEAR(_thread.get_ident(), None)


_PLAIN = (int, float, bool, str, bytes)
_RECURSION_LIMIT = sys.getrecursionlimit()
_INT_DIGITS = sys.get_int_max_str_digits()
_TRACEBACK_FRAMES = 100  # a deep RecursionError is formatted from its last frames only


class _UnsendableError(Exception):
    pass


def _dumps(value):
    """Pickle, or cloudpickle where pickle cannot (a class the caller sent by value).

    A class defined in the caller's ``__main__`` arrives here through
    cloudpickle; pickle cannot name it on the way back, and cloudpickle hands
    the caller its own class again.
    """
    import pickle

    try:
        return pickle.dumps(value)
    except Exception:
        if type(value) is memoryview:  # a view of a shared array: a copy is never what was meant
            raise
        try:
            import cloudpickle
        except ImportError:
            cloudpickle = None
        if cloudpickle is None:
            raise
        return cloudpickle.dumps(value)


def _encode(value):
    if type(value) is tuple and all(v is None or type(v) in _PLAIN for v in value):
        return value
    try:
        return (PICKLED, _dumps(value))
    except BaseException as exc:  # noqa: BLE001 - any pickling failure means the same to the caller
        raise _UnsendableError(
            f"the kernel returned a {type(value).__name__}, which cannot be sent back to the "
            f"caller (pickling it raised {type(exc).__name__}: {_text(exc)}); return picklable "
            "values, and write array results into an output array instead"
        ) from None


def _text(obj, limit=2000):
    """``str(obj)`` that never raises (a kernel's exception may break its own __str__)."""
    try:
        text = str(obj)
        text = text if type(text) is str else str.__str__(text)
    except BaseException:  # noqa: BLE001
        text = f"<{type(obj).__name__} whose str() failed>"
    return text if len(text) <= limit else text[:limit] + "..."


def _failure(task_id, exc):
    import pickle
    import traceback

    try:
        if exc.__traceback__ is not None:  # drop this module's own frame (_call)
            exc.__traceback__ = exc.__traceback__.tb_next
        text = "".join(traceback.format_exception(exc, limit=-_TRACEBACK_FRAMES))
    except BaseException:  # noqa: BLE001 - a broken exception still reaches the caller
        text = f"{type(exc).__name__}: {_text(exc)}\n"
    try:
        payload = _dumps(exc)
        pickle.loads(payload)
    except BaseException:  # noqa: BLE001 - an exception that does not round-trip is sent as text
        payload = None
    return (FAILED, task_id, RANK, type(exc).__name__, _text(exc), text, payload)


# -- the watchdog: stops a running kernel on request -----------------------------------------

_ESCALATE_AFTER = 5  # stops swallowed by a kernel before every line of it raises


def _watchdog(compute_thread):
    import select

    poller = select.poll()  # (not select(): descriptors past 1023 in large pools)
    poller.register(WATCH_FD, select.POLLIN)
    _WATCHDOG[0] = _thread.get_ident()
    target = None
    seen = 0  # _delivered[0] when the current target was first raised in
    strays = False
    retry = False  # ctypes could not be loaded for a stop: try again in 20 ms
    while True:
        busy = target is not None or strays or retry
        ready = poller.poll(20 if busy else None)
        if ready:
            data = os.read(WATCH_FD, 4096)
            if not data or b"q" in data:
                _monitor(False)
                return
            if b"e" in data:
                _evictions()
            if b"t" in data:
                strays = True
            _read_stops()  # before deciding: a new range may cover the current task
            if b"c" not in data and not busy:
                continue
        retry = not _load_setters()
        if retry:
            continue  # past its grace the pool replaces this worker
        if strays:
            strays = _stop_strays(compute_thread)
            _strays_pending[0] = strays
        CTRL[_WD_BUSY] = 1
        _fence()
        current = CTRL[_CURRENT]
        previous = target
        target = current if current and _stopped(current) else None
        if target is not None:
            if target != previous:
                seen = _delivered[0]
            _raised[0] = target
            _SET(compute_thread, Cancelled)
        CTRL[_WD_BUSY] = 0
        if target is not None:
            _wake(WAKE_FDS[RANK])  # unblock a barrier wait so the exception is seen
            if _delivered[0] - seen >= _ESCALATE_AFTER:
                _monitor(True)  # it catches its stops: make every line of it raise
        elif _monitoring[0] and not strays:
            _monitor(False)


def _stop_strays(compute_thread):
    """Stop every thread a kernel left running; True while any is left.

    Idle threads of a ``ThreadPoolExecutor`` the kernel left open (a
    library's pool) wait in a C call that no exception reaches: their
    executor is shut down, which ends them. Other threads get ``Cancelled``.
    """
    mine = {compute_thread, _thread.get_ident()}
    others = [t for t in sys._current_frames() if t not in mine]
    others = [t for t in others if not _shut_executor_of(t)]
    if others:
        _quiet_stopped_threads()
    for ident in others:
        _SET(ident, Cancelled)
    if others:
        _monitor(True)
    return _thread._count() > 1


def _quiet_stopped_threads():
    """A stopped thread ends with one warning naming the kernel, not a ``Cancelled`` traceback.

    ``threading`` reports an exception that ends a thread through
    ``threading.excepthook``, looked up when the thread ends: wrapped once
    here (issue 24: one internal traceback per stray thread, at close or exit).
    """
    threading = sys.modules.get("threading")
    if threading is None or getattr(threading.excepthook, "_shardmem", False):
        return
    previous = threading.excepthook

    def hook(args):
        if args.exc_type is not Cancelled:
            previous(args)
            return
        try:
            name = _stray_warnings.pop()  # (atomic: one thread of the kernel's prints)
        except IndexError:
            return
        sys.stderr.write(
            f"shardmem: RuntimeWarning: stopped a thread that kernel {name!r} "
            f"left running after it returned (worker {RANK}); a kernel must join the "
            "threads it starts before it returns\n"
        )
        sys.stderr.flush()

    hook._shardmem = True
    threading.excepthook = hook


def _shut_executor_of(ident):
    """Shut down the ThreadPoolExecutor whose worker thread ``ident`` is; True if it is one."""
    pools = sys.modules.get("concurrent.futures.thread")
    threading = sys.modules.get("threading")
    if pools is None or threading is None:
        return False
    thread = threading._active.get(ident)
    if thread is None or getattr(thread, "_target", None) is not pools._worker:
        return False
    executor = thread._args[0]() if thread._args else None
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)
    return True


_monitoring = [False]
_TOOL = 5  # sys.monitoring tool id (ids 0-5 are free for tools; 5 is the last)


def _monitor(on):
    """Line events that raise ``Cancelled`` in a stopped kernel that swallows its stops."""
    mon = sys.monitoring
    if on and not _monitoring[0]:
        try:
            mon.use_tool_id(_TOOL, "shardmem-stop")
        except ValueError:
            return  # a kernel took the id: the async stop is all there is
        mon.register_callback(_TOOL, mon.events.LINE, _on_line)
        mon.set_events(_TOOL, mon.events.LINE)
        _monitoring[0] = True
    elif not on and _monitoring[0]:
        mon.set_events(_TOOL, 0)
        mon.register_callback(_TOOL, mon.events.LINE, None)
        mon.free_tool_id(_TOOL)
        _monitoring[0] = False


def _on_line(code, line):
    if code.co_filename == _MY_FILE:
        return  # the loop's own code is never stopped by a line
    ident = _thread.get_ident()
    if ident == _COMPUTE[0]:
        current = CTRL[_CURRENT]
        if current and _stopped(current):
            raise Cancelled
        return
    if ident != _WATCHDOG[0]:
        raise Cancelled  # a thread the kernel left running
    return


def _setters():
    import ctypes

    setter = ctypes.pythonapi["PyThreadState_SetAsyncExc"]
    setter.argtypes = (ctypes.c_ulong, ctypes.py_object)
    # A second handle on the same C function, to clear (NULL) rather than raise.
    clear = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
        ctypes.cast(setter, ctypes.c_void_p).value
    )
    return setter, clear


# -- the main loop ------------------------------------------------------------------------


def _unraisable(info, _default=sys.unraisablehook):
    # A stop request that lands inside a weakref callback or a __del__ method is
    # swallowed there ("Exception ignored ..."); the watchdog raises it again
    # 20 ms later, so it is not worth a report on stderr.
    if info.exc_type is not Cancelled:
        _default(info)


_MY_FILE = _run.__code__.co_filename
_COMPUTE = [0]
_WATCHDOG = [0]
_SET = _CLEAR = None  # set on the first stop (importing ctypes costs ~30 ms per worker start)


def _load_setters():
    """True once the watchdog can raise in the compute thread.

    ``import ctypes`` can fail (at the file-descriptor limit, say): the
    watchdog then tries again on the next stop, and the pool replaces this
    worker if its task outlives the grace period.
    """
    global _SET, _CLEAR
    if _SET is None:
        try:
            _SET, _CLEAR = _setters()
        except Exception:  # noqa: BLE001
            return False
    return True


def main():
    sys.unraisablehook = _unraisable
    compute = _COMPUTE[0] = _thread.get_ident()
    watchdog = _thread.start_joinable_thread(lambda: _watchdog(compute), daemon=False)
    while not _WATCHDOG[0] or _thread._count() < 1:  # so that _count() > 1 means a stray thread
        _yield()
    CTRL[_STATUS] = STATUS_IDLE
    _reply((DONE, READY, RANK, None))
    try:
        while True:
            try:
                message = _wait_for(_poll_tasks)
                if type(message) is int:  # a task in a slot
                    slot = message >> LENGTH_BITS
                    message = marshal.loads(_slot(slot, message & ((1 << LENGTH_BITS) - 1)))
                elif message[0] == STOP:
                    break
                else:
                    slot = -1
                _run(message, slot)  # only TASK and STOP reach the task queues
                CTRL[_STATUS] = STATUS_IDLE
            except Cancelled:
                # A stop request that landed after its task had finished.
                CTRL[_STATUS] = STATUS_IDLE
    finally:
        CTRL[_STATUS] = STATUS_STOPPED
        _views.clear()
        _arena.clear()
        _kernels.clear()
        os.write(WATCH_W, b"q")
        watchdog.join()
        sys.modules.pop("__shardmem_kernel__", None)


main()
