"""The public pool: a ``concurrent.futures.Executor`` and the data-parallel entry point."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import marshal
import os
import pickle
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Executor, Future
from typing import Any

from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._calls import Call, CallFuture, _let_go, decode, error_of, kernel_seconds
from shardmem._engine._core import STOP_GRACE, Core, _live, begin_exit
from shardmem._engine._handoff import sched_yield
from shardmem._engine._protocol import INJECTED
from shardmem._engine._shipping import Kernel, kernel_name, pack
from shardmem._engine._tasks import (
    _SCALARS,
    Encoded,
    RandomSeed,
    Task,
    ViewSpec,
    as_view,
    check_params,
    encode_arg,
    view_of,
)
from shardmem._errors import (
    ArgumentTypeError,
    ClosedError,
    InvalidArgumentError,
    PoolBrokenError,
    ResourceLimitError,
    ShippingError,
    TaskCancelledError,
    TaskTimeoutError,
)

__all__ = ["Pool", "default_pool", "execute", "resolve_pool", "run", "stop", "submit"]

MAX_WORKERS = 4096  # barrier tokens carry the round (log2 of the size) in 6 bits
_TICK = 0.05  # longest single wait of a caller (progress bars refresh this often)
CALLER_SPIN = 50e-6  # seconds a waiting caller polls its future before it blocks


class Pool(Executor):
    """A pool of worker interpreters that run pure-Python code on every core.

    Each worker is a subinterpreter with its own GIL, driven by its own
    thread, so kernels run on every core at once. Arrays reach workers as
    views of the same memory, never copies.

    A pool is a :class:`concurrent.futures.Executor`: ``submit``, ``map``,
    ``shutdown`` and ``with`` work as with the standard library's executors,
    for functions defined anywhere (a module, a script, ``python -c``, a
    notebook cell). Its data-parallel calls (``run`` here, ``sm.map``,
    ``sm.reduce``, ...) split arrays over the workers.

    Parameters
    ----------
    workers : int, optional
        Number of worker interpreters (1 to 4096); default
        ``os.process_cpu_count()``.

    Examples
    --------
    >>> import shardmem as sm
    >>> def square(x):
    ...     return x * x
    >>> with sm.Pool(2) as pool:
    ...     list(pool.map(square, range(5)))
    [0, 1, 4, 9, 16]

    Calls from several threads are safe and run side by side: their tasks
    share the workers' queues in the order they were submitted.
    """

    def __init__(self, workers: int | None = None) -> None:
        count = _worker_count(workers)
        if _shutting_down:
            raise ClosedError("the interpreter is shutting down: no new pool can start")
        try:
            self._core = Core(count)
        except OSError as exc:
            raise ResourceLimitError(
                f"could not start a pool of {count} worker(s): {exc.strerror or exc} (each "
                "worker is an interpreter with its own thread and 3 file descriptors); close "
                "pools you no longer use, use fewer workers, or raise the limit (ulimit -n)"
            ) from exc
        except PoolBrokenError as exc:
            if not _near_fd_limit():
                raise
            raise ResourceLimitError(
                f"could not start a pool of {count} worker(s): the process is at its limit of "
                "open files, and a worker interpreter could not start; close pools and files "
                "you no longer use, use fewer workers, or raise the limit (ulimit -n)"
            ) from exc
        except RuntimeError as exc:
            if "thread" not in str(exc):
                raise
            raise ResourceLimitError(
                f"could not start a pool of {count} worker(s): {exc}; close pools you no "
                "longer use or use fewer workers"
            ) from exc
        # Dropped, the pool closes itself, stopping its work (a call in flight holds the
        # pool, so that is only once no call runs). Two hooks: the core's own weak
        # reference posts the close with one C call (no Ctrl-C can lose it), and this
        # finalizer waits for it where that is safe. At exit, _at_exit closes every pool.
        self._core.watch_pool(self)
        self._finalizer = weakref.finalize(self, _close_dropped, self._core)
        self._finalizer.atexit = False
        _pools.add(self)

    @property
    def size(self) -> int:
        """Number of worker interpreters."""
        return self._core.size

    @property
    def _max_workers(self) -> int:
        # Read by ``dask.compute(..., scheduler=pool)`` (as for the standard executors):
        # how many tasks Dask keeps in flight. Twice the workers, so that a worker that
        # finishes a task finds the next one queued instead of waiting for Dask's loop in
        # the caller to hand it over (10% off a dask.bag pipeline on 2 workers).
        return 2 * self._core.size

    @property
    def closed(self) -> bool:
        """True once ``close()`` or ``shutdown()`` was called."""
        return self._core.closed

    @property
    def broken(self) -> bool:
        """True when a worker died and the pool cannot run work (create a new one)."""
        return self._core.broken is not None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "broken" if self.broken else "open"
        return f"<shardmem.Pool workers={self.size} {state}>"

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Close the pool: gracefully, or stopping running work when the block raised."""
        # Interrupted (Ctrl-C), the pool is left closing: a later close(), the pool's
        # finalizer or the exit hook finishes the job.
        self._core.close(cancel=exc_type is not None)
        self._finalizer.detach()

    def close(self) -> None:
        """Finish queued work, stop the workers and close their interpreters (idempotent)."""
        self.shutdown(wait=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; finish (or, with ``cancel_futures``, drop) queued work.

        ``wait=False`` returns at once while the pool winds down behind the
        caller. Later calls raise `ClosedError` (a ``RuntimeError``).

        Examples
        --------
        >>> import shardmem as sm
        >>> pool = sm.Pool(1)
        >>> pool.shutdown()
        >>> pool.closed
        True
        """
        core = self._core
        core.close(drop_queued=cancel_futures, wait=False)
        if cancel_futures:  # before returning, as the standard executors do
            for call in core.calls_in_flight():
                if call.future is None:
                    continue
                if call.each:  # a running chunk of Pool.map stops before its next item
                    stop_between_items(call.future, call)
                else:
                    call.future.cancel()  # (False for a call that runs or ran: it finishes)
        if wait:
            core.join()  # (interrupted, the pool stays closing: see __exit__)
            self._finalizer.detach()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)`` on a free worker; return its future.

        Python functions travel as code (so functions from notebook cells,
        ``python -c`` and unguarded scripts work); a module's C functions
        (``pow``, ``math.fsum``) by name; other callables (callable
        instances, ``functools.partial``) by pickle. SharedArrays arrive as flat
        zero-copy views; numbers, strings and bytes as they are; other
        arguments and the result by pickle.

        Examples
        --------
        >>> import shardmem as sm
        >>> def total(values, *, start=0):
        ...     return start + sum(values)
        >>> a = sm.arange(101, dtype="int64")
        >>> with sm.Pool(2) as pool:
        ...     pool.submit(total, a, start=1).result(timeout=10)
        5051
        """
        if getattr(fn, "__module__", None) == "dask.local":  # dask.compute(scheduler=pool)
            fn, args = _dask_tasks, (fn, *args)
        task = Task(
            tuple(map(view_of, args)),
            tuple((k, view_of(v)) for k, v in kwargs.items()) if kwargs else (),
            label="submitted task",
        )
        call = Call(pack_callable(fn), [task], gang=False, inject=False, single=True)
        return _start(self, call)

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
    ) -> Iterator[Any]:
        """``map(fn, *iterables)`` on the workers: results in order, lazily.

        As ``Executor.map``: ``timeout`` counts from this call, ``buffersize``
        bounds how many calls are queued ahead of the consumer. ``chunksize``
        groups that many items under one future (less bookkeeping per item).

        With neither ``timeout`` nor ``buffersize``, items travel in chunks of
        up to 64, one task each, and the results are still given item by item:
        every result before a failing item, then that item's exception.

        Examples
        --------
        >>> import shardmem as sm
        >>> with sm.Pool(2) as pool:
        ...     list(pool.map(pow, [2, 3], [5, 2]))
        [32, 9]
        """
        if not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1:
            raise InvalidArgumentError(f"chunksize={chunksize!r} must be an int >= 1")
        if chunksize == 1 and timeout is None and buffersize is None:
            return self._map_in_chunks(fn, iterables)
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout, buffersize=buffersize)
        if buffersize is not None:
            if not isinstance(buffersize, int):
                raise TypeError("buffersize must be an integer or None")
            if buffersize < 1:
                raise ValueError("buffersize must be None or > 0")
        packed = pack_callable(fn)
        chunks = _chunked(zip(*iterables, strict=False), chunksize)
        submit = self._chunk_submitter(packed)
        results = _lazy_map(submit, chunks, timeout=timeout, buffersize=buffersize)
        return _flatten(results)

    def _map_in_chunks(
        self, fn: Callable[..., Any], iterables: tuple[Iterable[Any], ...]
    ) -> Iterator[Any]:
        """``Executor.map`` with the items sent in chunks, each one task (see ``_map_chunks``).

        What the caller sees is ``Executor.map``'s: results in order, the first
        failure raised at its own item after the results before it, and when the
        iterator is closed no item starts any more (a running chunk stops between
        two items). Each item's arguments and result travel on their own, as
        ``submit`` sends them. Items with a SharedArray or SharedBuffer (shared,
        not copied) go one call each.
        """
        items = list(zip(*iterables, strict=False))
        if not items:
            return iter(())
        scalars = all(type(a) in _SCALARS for item in items for a in item)
        if not scalars and not all(_travels_plain(a) for item in items for a in item):
            return _lazy_map(
                lambda args: self.submit(fn, *args), iter(items), timeout=None, buffersize=None
            )
        run = _MapRun(self, pack_callable(fn), scalars)
        results = run.results()
        start = 0
        for size in _map_chunks(len(items), self.size):
            run.pieces.insert(0, run.send(start, items[start : start + size]))
            start += size
        return results

    def _chunk_submitter(self, packed: Kernel) -> Callable[[tuple[Any, ...]], Future[Any]]:
        def submit(chunk: tuple[Any, ...]) -> Future[Any]:
            tasks = [Task(tuple(view_of(a) for a in args), label="map item") for args in chunk]
            call = Call(packed, tasks, gang=False, inject=False)
            return _start(self, call)

        return submit

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
        that returns once every rank has called it). A NumPy array, buffer
        or list is copied into shared memory for the call, and what the
        kernel wrote is copied back into it when the call succeeds (if it is
        a writeable array or buffer); SharedArrays are shared, not copied.

        ``timeout``, ``progress`` (and ``pool``, `shardmem.run`'s) are run's own
        keywords and never reach the kernel: a kernel that requires a keyword
        by one of these names, or any keyword the call does not give, is
        refused before any work starts, as is ``pool=`` here.

        Examples
        --------
        >>> import shardmem as sm
        >>> def ranks(*, rank, size):
        ...     return (rank, size)
        >>> with sm.Pool(2) as pool:
        ...     pool.run(ranks)
        [(0, 2), (1, 2)]
        """
        from shardmem._data.array import borrow_arguments
        from shardmem._progress import with_bar

        kwargs = check_params(params)  # (a value no worker can receive: ShippingError first)
        check_run_keywords(kernel, params, progress)
        arrays, finish = borrow_arguments(arrays, "run")
        views = tuple(as_view(a, "run") for a in arrays)
        tasks = [Task(views, kwargs, rank=r, label=f"rank {r}") for r in range(self.size)]
        name = getattr(kernel, "__name__", "run")
        results = with_bar(
            progress,
            len(tasks),
            name,
            lambda tick: execute(self, kernel, tasks, gang=True, timeout=timeout, progress=tick),
        )
        return finish(results)


def _flatten(chunks: Generator[list[Any]]) -> Iterator[Any]:
    try:
        for chunk in chunks:
            yield from chunk
    finally:
        chunks.close()  # cancels the calls not yet consumed


def _start(pool: Pool, call: Call) -> CallFuture:
    """Post ``call``; interrupted before its future is returned, the call is cancelled.

    The call holds the pool until it completes, as ``ThreadPoolExecutor``'s work
    does: ``sm.Pool(2).submit(f, 3).result()`` is not closed under its own call.
    """
    core = pool._core
    call.keep = pool
    call.future = CallFuture(call)
    try:
        return core.start_call(call)
    except BaseException:
        core.request_cancel(call, TaskCancelledError(f"{call.name}: interrupted"))
        raise


_MAP_CHUNK = 64  # items per task at most in Pool.map


def _map_chunks(count: int, workers: int) -> Iterator[int]:
    """The chunk sizes of a ``Pool.map`` over ``count`` items.

    Doubling from one item (the first result comes as early as one call's),
    then at most ``_MAP_CHUNK``, and never more than a quarter of what is left
    per worker (guided self-scheduling): the last chunks are small, so that
    slow items keep every worker busy to the end.
    """
    left, grow = count, 1
    while left:
        size = max(1, min(grow, _MAP_CHUNK, -(-left // (4 * workers))))
        yield size
        left -= size
        grow *= 2


def _travels_plain(value: object) -> bool:
    """Can ``value`` go inside a map chunk (anything but a shared array or buffer)?"""
    return type(value) in _SCALARS or (view_of(value) is value and type(value) is not RandomSeed)


class _Piece:
    """Consecutive items of a map, sent as one task."""

    __slots__ = ("call", "future", "start")

    def __init__(self, start: int, call: Call, future: CallFuture) -> None:
        self.start = start
        self.call = call
        self.future = future


class _MapRun:
    """One ``Pool.map`` in chunks: sends its pieces, yields their results item by item."""

    def __init__(self, pool: Pool, packed: Kernel, scalars: bool) -> None:
        self.pool = pool
        self.packed = packed
        self.each = P.INJECT_EACH if scalars else P.INJECT_EACH_ENCODED
        self.pieces: list[_Piece] = []  # the pieces not read yet, the next one last

    def send(self, start: int, items: Sequence[Any]) -> _Piece:
        """Send items ``start``... as one task."""
        if self.each == P.INJECT_EACH:  # (plain scalars travel as they are)
            data = tuple(items)
        else:  # each item on its own: an object two items share arrives as two copies
            encoded: list[Any] = [tuple(encode_arg(a) for a in item) for item in items]
            data = tuple(marshal.dumps(args) for args in encoded)
        label = f"map items {start}..{start + len(data) - 1}"
        call = Call(self.packed, [Task((Encoded((P.A_VALUE, data)),), label=label)], gang=False)
        call.single, call.each = True, self.each
        return _Piece(start, call, _start(self.pool, call))

    def results(self) -> Generator[Any]:
        """Every item's result in order; the first failure raised at its own item."""
        pieces = self.pieces
        try:
            while pieces:
                piece = pieces[-1]
                done, failure, stopped = piece.future.result()
                pieces.pop()
                for value in done:
                    yield decode(value)
                if failure is not None:
                    where = f"map item {piece.start + len(done)}"
                    raise error_of(piece.call, failure, where=where)
                if stopped:  # (the pool was shut down with cancel_futures=True)
                    raise CancelledError
        finally:
            for piece in pieces:
                stop_between_items(piece.future, piece.call)


def stop_between_items(future: CallFuture, call: Call) -> None:
    """Cancel a map chunk, or stop it before its next item if it runs (from any thread)."""
    if not future.cancel() and not future.done() and call.engine is not None:
        call.engine.stop_between_items(call)


def _chunked(items: Iterator[tuple[Any, ...]], size: int) -> Iterator[tuple[Any, ...]]:
    while chunk := tuple(itertools.islice(items, size)):
        yield chunk


def _lazy_map(
    submit: Callable[[Any], Future[Any]],
    items: Iterator[Any],
    *,
    timeout: float | None,
    buffersize: int | None,
) -> Generator[Any]:
    """``Executor.map``'s iterator over ``submit(item)`` futures (ordered, cancels the rest)."""
    end = None if timeout is None else time.monotonic() + timeout
    pending: list[Future[Any]] = []
    if buffersize is None:
        pending = [submit(item) for item in items]
    else:
        pending = [submit(item) for item in itertools.islice(items, buffersize)]
    pending.reverse()

    def results() -> Generator[Any]:
        try:
            while pending:
                future = pending.pop()
                if buffersize is not None and (item := next(items, _END)) is not _END:
                    pending.insert(0, submit(item))
                left = None if end is None else end - time.monotonic()
                yield future.result(left)
        finally:
            for future in pending:
                future.cancel()

    return results()


_END = object()


def pack_callable(fn: Callable[..., Any]) -> Kernel:
    """A Python function by its code; any other callable by pickle."""
    if isinstance(fn, types.FunctionType):
        return pack(fn)
    if not callable(fn):
        raise ArgumentTypeError(f"{fn!r} is not callable; pass a function")
    named = _builtin_name(fn)
    if named is not None:
        return _kernel_of(fn, ("builtin", *named))
    try:
        data = pickle.dumps(fn)
    except Exception as exc:
        raise ShippingError(
            f"{fn!r} ({type(fn).__name__}) cannot be sent to a worker: it is not a Python "
            f"function and pickle refused it ({exc}); wrap it in a def"
        ) from exc
    return _pickled_kernel(fn, data)


def _builtin_name(fn: object) -> tuple[str, str] | None:
    """``(module, name)`` of a module's C function (``abs``, ``math.sqrt``), else None.

    Such a function is sent by name, as pickle would send it, but the worker
    looks it up without importing pickle (17 modules, about 1 MiB and a few ms
    per worker the first time).
    """
    if type(fn) is not types.BuiltinFunctionType or not isinstance(fn.__self__, types.ModuleType):
        return None
    module, name = getattr(fn.__self__, "__name__", None), fn.__name__
    if type(module) is not str or getattr(fn, "__module__", None) != module:
        return None  # (pickle decides: it looks the function up by __module__)
    if sys.modules.get(module) is not fn.__self__ or getattr(fn.__self__, name, None) is not fn:
        return None
    return module, name


def _pickled_kernel(fn: object, data: bytes) -> Kernel:
    return _kernel_of(fn, ("pickle", data))


def _kernel_of(fn: object, spec: tuple[Any, ...]) -> Kernel:
    import hashlib

    blob = marshal.dumps(spec)
    key = hashlib.blake2b(blob, digest_size=12).hexdigest()
    return Kernel(name=kernel_name(fn), key=key, blob=blob, fingerprint=())


def execute(
    pool: Pool,
    kernel: Callable[..., object],
    tasks: Sequence[Task],
    *,
    gang: bool = False,
    timeout: float | None = None,
    progress: Callable[[int], None] | None = None,
    timing: list[float] | None = None,
) -> list[object]:
    """Run ``tasks`` of ``kernel`` on ``pool`` and return their results in order.

    ``timing``: a list that gets the seconds the kernels ran, summed over tasks.

    The engine's one door for the library's primitives. ``gang``: tasks are
    pinned to ranks (one each) and may meet at ``barrier()``. On a timeout,
    an error or Ctrl-C, the call's queued tasks are dropped and its running
    ones stopped before this returns or raises.
    """
    if (
        not gang
        and "barrier" in _parameters(kernel)
        and not any(name == "barrier" for t in tasks for name, _ in t.kwargs)
    ):
        raise InvalidArgumentError(
            f"kernel {kernel_name(kernel)!r} takes a barrier, but its tasks do not all run at "
            "once (a barrier would wait forever for ranks that never come); use barrier only "
            "in pool.run kernels, or split the work into two calls"
        )
    packed = pack(kernel)
    deadline = None if timeout is None else time.monotonic() + _check_timeout(timeout)
    chunked = None if gang else _task_chunks(tasks, pool.size)
    call = Call(packed, list(tasks) if chunked is None else chunked[0], gang=gang)
    if chunked is not None:
        call.items, call.starts = list(tasks), chunked[1]
    call.keep = pool
    core = pool._core
    future = call.future = CallFuture(call)
    try:  # (an interrupt anywhere from here on cancels this call, posted or not)
        core.start_call(call)
        _wait(future, call, deadline, progress)
    except TimeoutError:
        core.request_cancel(
            call,
            TaskTimeoutError(
                f"{call.name}: did not finish within its timeout of {timeout:g} s; its running "
                "tasks were stopped and its queued tasks dropped (the pool is still usable)"
            ),
        )
        _wait(future, call, None, None)
    except BaseException:
        core.request_cancel(call, TaskCancelledError(f"{call.name}: interrupted"))
        _wait(future, call, time.monotonic() + STOP_GRACE + 1, None, quiet=True)
        raise
    try:
        values = future.result()
    except BaseException:
        # The error's traceback holds this frame: without these two, this frame and the
        # future (which holds the error) form a cycle that keeps the call's arrays alive
        # until the next garbage collection (hundreds of MiB over a few failing calls).
        del future, call
        raise
    if timing is not None:
        timing.append(kernel_seconds(call))
    if chunked is not None:
        return [decode(value) for (chunk,) in values for value in chunk]
    return values  # type: ignore[no-any-return]


_CHUNK_TASKS_FROM = 8  # tasks per worker from which a call's tasks travel in chunks


def _task_chunks(tasks: Sequence[Task], workers: int) -> tuple[list[Task], list[int]] | None:
    """A call of many tasks as fewer tasks, each a chunk of them (sized as map's chunks).

    Each chunk carries its tasks' encoded arguments, and one view of each buffer
    they use (so that the pool shares and pins it). ``(chunks, starts)``, or None
    for a call of few tasks or of tasks pinned to ranks.
    """
    if len(tasks) < _CHUNK_TASKS_FROM * workers or any(t.rank is not None for t in tasks):
        return None
    chunks, starts, start = [], [0], 0
    for size in _map_chunks(len(tasks), workers):
        part = tasks[start : start + size]
        items = tuple(
            (
                tuple(encode_arg(v) for v in t.views),
                tuple((k, encode_arg(v)) for k, v in t.kwargs),
            )
            for t in part
        )
        views = {
            v.buffer.id: v
            for t in part
            for v in (*t.views, *(v for _, v in t.kwargs))
            if isinstance(v, ViewSpec)
        }
        label = f"tasks {start}..{start + size - 1}"
        chunks.append(Task((Encoded((P.A_VALUE, items)), *views.values()), label=label))
        start += size
        starts.append(start)
    return chunks, starts


def _parameters(kernel: Callable[..., object]) -> tuple[str, ...]:
    """The names a Python function's signature lists (none for other callables)."""
    code = getattr(kernel, "__code__", None)
    if code is None:
        return ()
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]  # type: ignore[no-any-return]


def _wait(
    future: CallFuture,
    call: Call,
    deadline: float | None,
    progress: Callable[[int], None] | None,
    *,
    quiet: bool = False,
) -> None:
    """Block until ``future`` is done; TimeoutError at ``deadline`` (``quiet``: return)."""
    shown = 0
    if progress is None:  # a short call: poll a little before sleeping on the future
        spin = CALLER_SPIN if deadline is None else min(CALLER_SPIN, deadline - time.monotonic())
        end = time.perf_counter() + spin
        while not future.done() and time.perf_counter() < end:
            sched_yield()
    while not future.done():
        # Waits are sliced: a SIGINT delivered to another thread (or _thread.interrupt_main)
        # does not interrupt a lock wait, but runs its handler when the slice ends.
        step = _TICK
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                if quiet:
                    return
                raise TimeoutError
            step = min(step, left)
        with contextlib.suppress(TimeoutError):
            future.exception(step)
        if progress is not None:
            done = call.completed
            progress(done - shown)
            shown = done


def _check_timeout(timeout: float) -> float:
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout >= 0:
        raise InvalidArgumentError(
            f"timeout={timeout!r} is not allowed; give a number of seconds >= 0, or None to wait"
        )
    return float(timeout)


def _near_fd_limit() -> bool:
    """True when this process has (almost) as many files open as it may."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return soft != resource.RLIM_INFINITY and len(os.listdir("/proc/self/fd")) + 16 >= soft
    except ImportError, OSError:  # pragma: no cover - not Linux
        return False


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


# -- the default pool ----------------------------------------------------------------------------

_default: Pool | None = None
_default_lock = threading.RLock()
_shutting_down = False


def stop(future: Future[Any], reason: str) -> bool:
    """Stop the call behind a future of a pool, running or not; False if it already finished.

    Unlike ``future.cancel()`` (which, as for every executor, leaves a
    running call alone), its queued tasks are dropped and its running
    kernels stopped; the future then raises ``TaskCancelledError(reason)``.
    For integrations that abandon work (joblib's ``abort_everything``).
    """
    call = getattr(future, "_call", None) if isinstance(future, CallFuture) else None
    if call is None or future.done():
        return False
    call.engine.request_cancel(call, TaskCancelledError(reason))
    return True


def _dask_tasks(run: Callable[..., Any], /, *args: Any) -> Any:
    """A batch of Dask tasks in a worker; a ``compute()`` inside one runs right there.

    Dask's default schedulers would start threads or processes inside the
    worker interpreter (which a kernel must not leave running, and which a
    subinterpreter cannot fork); the worker already is one of the pool's cores.
    """
    import dask

    with dask.config.set(scheduler="sync"):
        return run(*args)


def default_pool() -> Pool:
    """The pool the module-level functions use, created on first use and closed at exit.

    A pool that broke (a worker died) is replaced by a new one. During
    interpreter shutdown no pool is created: calls raise `ClosedError`.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.default_pool() is sm.default_pool()
    True
    """
    global _default
    lock = _default_lock
    try:
        with lock:
            if _default is None or _default.closed or _default.broken:
                if _shutting_down:
                    raise ClosedError(
                        "the interpreter is shutting down: the default pool is closed and no "
                        "new one starts (finish shardmem calls before the program exits)"
                    )
                if _default is not None:
                    _default.shutdown(wait=False, cancel_futures=True)
                _default = Pool()
            return _default
    except BaseException:
        _let_go(lock)  # a Ctrl-C that split the with must not leave it held (see _ring_write)
        raise


def _close_default() -> None:
    global _default
    lock = _default_lock
    try:
        with lock:
            pool, _default = _default, None
    except BaseException:
        _let_go(lock)
        raise
    if pool is not None:
        pool._core.close(cancel=True)


def _close_dropped(core: Core) -> None:
    """A dropped pool's finalizer: close it and wait, except on the engine's own threads.

    The collector drops a pool's last reference when the last call holding it
    completes; it must not wait for itself (its weak reference has posted the close).
    """
    if not threading.current_thread().name.startswith("shardmem-"):
        core.close(cancel=True)


# -- fork ---------------------------------------------------------------------------------------
#
# A live subinterpreter makes the child of os.fork() die with SIGSEGV
# (python/cpython#139759). The default pool is closed before a fork (its work
# finished first) and created again on first use, in the parent and the child;
# a user's pool still open at that moment gets a warning, since closing it is
# the user's call.

_pools: weakref.WeakSet[Pool] = weakref.WeakSet()
FORK_ISSUE = "https://github.com/python/cpython/issues/139759"


def _before_fork() -> None:
    global _default
    _default_lock.acquire()  # held across the fork: no default pool starts meanwhile
    try:
        pool, _default = _default, None
        if pool is not None:
            pool._core.close()
        live = [p for p in list(_pools) if not p._core.finished.is_set()]
    except BaseException:
        _default_lock.release()
        raise
    if live:
        import warnings

        warnings.warn(
            f"os.fork() with {len(live)} shardmem.Pool(s) open: the child process will crash "
            f"(CPython cannot fork with live subinterpreters, {FORK_ISSUE}); close the pool "
            "before forking, or use multiprocessing's 'spawn' or 'forkserver' start method",
            RuntimeWarning,
            stacklevel=3,
        )


def _after_fork_in_parent() -> None:
    _default_lock.release()


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.RLock()
    _pools.clear()  # the parent's pools: no worker of theirs exists in this process


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


@atexit.register
def _at_exit() -> None:
    """Close every pool still open, stopping its work, before the interpreter finalizes.

    No worker interpreter may outlive this hook (CPython 3.14 crashes when the main
    interpreter finalizes beside a running one). Ctrl-C here does not abandon the
    wait: the first says on stderr which kernel holds exit and how to end it; a
    second ends the process at once with status 130 (``os._exit``, as the user asked).
    """
    global _shutting_down
    _shutting_down = True
    _count_exit_interrupts()
    interrupts = 0
    while True:
        try:
            if interrupts == 1:
                interrupts = 2
                _explain_exit_wait()
            _forget_default()
            while cores := [c for c in begin_exit() if not c.finished.is_set()]:
                for core in cores:
                    core.close(cancel=True, wait=False)
                for core in cores:
                    core.wait_closed()
                if all(c.finished.is_set() or not c.collector.is_alive() for c in begin_exit()):
                    return
            return
        except KeyboardInterrupt:
            if interrupts >= 2:
                _end_now()
            interrupts = 1


_exit_sigints = 0


def _count_exit_interrupts() -> None:
    """From here on, Ctrl-C at exit never raises: a handler counts it instead.

    A ``KeyboardInterrupt`` can land anywhere in Python code, including inside
    ``threading``'s waits (leaving a lock released twice) or in the handler of
    the previous one; a flood of SIGINTs then escaped the exit hook and left
    worker interpreters running into finalization. The handler runs the same
    rule: the first says what exit waits for, a second ends the process.
    (Only the main thread may set a handler; elsewhere the loop's
    ``except KeyboardInterrupt`` keeps the rule.)
    """
    import signal

    def on_sigint(signum: int, frame: object) -> None:
        global _exit_sigints
        _exit_sigints += 1
        if _exit_sigints >= 2:
            _end_now()
        with contextlib.suppress(Exception):
            _explain_exit_wait()

    with contextlib.suppress(ValueError, OSError):  # not the main thread of the main interpreter
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, on_sigint)


def _forget_default() -> None:
    """Drop the default pool (closed with the others), after any start of one under way."""
    global _default
    end = time.monotonic() + 10  # (a lock an interrupted thread leaked must not hang exit)
    while not _default_lock.acquire(timeout=0.05):
        if time.monotonic() > end:
            break
    else:
        _default = None
        _default_lock.release()
        return
    _default = None


def _explain_exit_wait() -> None:
    holders = [h for core in list(_live) for h in core.holders()]
    what = "; ".join(holders) if holders else "worker interpreters that are closing"
    print(
        f"\nshardmem: exit waits for {what}: a kernel in a C call cannot be interrupted, "
        "and the process cannot end safely while it runs. It ends when that call returns; "
        "press Ctrl-C again to end the process now (exit status 130).",
        file=sys.stderr,
        flush=True,
    )


def _end_now() -> None:
    """The user's second Ctrl-C at exit: end the process at once, status 130."""
    with contextlib.suppress(BaseException):
        print("shardmem: ending the process without waiting (exit status 130)", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(130)


def resolve_pool(pool: object, /, *, where: str | None = None) -> Pool:
    """``pool`` itself, or the default pool when it is None; anything else is refused.

    ``where`` names the calling function in the message. Every primitive
    resolves its ``pool=`` here, so a value that is not a pool gets one clear
    error instead of an ``AttributeError`` from deep inside.

    >>> resolve_pool("fast", where="map")
    Traceback (most recent call last):
    ...
    shardmem.ArgumentTypeError: map(): pool='fast' is a str, not a shardmem.Pool; ...
    """
    if pool is None:
        return default_pool()
    prefix = f"{where}(): " if where else ""
    if not isinstance(pool, Pool):
        raise ArgumentTypeError(
            f"{prefix}pool={_short_repr(pool)} is a {_type_name(pool)}, not a shardmem.Pool; "
            "pass a shardmem.Pool (e.g. sm.Pool(4)) or None for the default pool"
        )
    if pool.closed:
        raise ClosedError(
            f"{prefix}pool={pool!r} is closed; pass an open shardmem.Pool (create a new one "
            "with sm.Pool()) or None for the default pool"
        )
    return pool


RUN_OWN = ("pool", "timeout", "progress")  # run()'s keywords: they never reach the kernel


def check_run_keywords(
    kernel: Callable[..., object], params: dict[str, object], progress: object
) -> None:
    """Refuse, before any work, what `Pool.run` / `run` would only fail on in a worker."""
    if not isinstance(progress, bool):
        raise ArgumentTypeError(
            f"run(): progress={_short_repr(progress)} must be True or False (show a bar)"
        )
    if "pool" in params:
        raise ArgumentTypeError(
            "run(): pool= is sm.run()'s own keyword (the pool to run on; Pool.run runs on its "
            "own pool), so it never reaches the kernel; rename the kernel's parameter"
        )
    code = getattr(kernel, "__code__", None)
    if not isinstance(code, types.CodeType) or code.co_flags & 0x08:  # **kwargs: anything goes
        return
    defaults = getattr(kernel, "__kwdefaults__", None) or {}
    keyword_only = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    missing = [n for n in keyword_only if n not in params and n not in defaults]
    missing = [n for n in missing if n not in INJECTED]
    if not missing:
        return
    own = [n for n in missing if n in RUN_OWN]
    fix = (
        f"{', '.join(own)}: run() keeps pool, timeout and progress for itself, they never "
        "reach the kernel; rename the kernel's parameter"
        if own
        else f"pass it to run() (e.g. {missing[0]}=...) or give it a default"
    )
    raise ArgumentTypeError(
        f"run(): kernel {kernel_name(kernel)!r} requires the keyword {', '.join(missing)}, "
        f"which the call does not give ({fix})"
    )


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _type_name(value: object) -> str:
    kind = type(value)
    where = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"{where}{kind.__qualname__}"


def run(
    kernel: Callable[..., object],
    /,
    *arrays: object,
    pool: Pool | None = None,
    timeout: float | None = None,
    progress: bool = False,
    **params: object,
) -> list[object]:
    """``Pool.run`` on ``pool`` (default: the default pool): ``kernel`` once on every worker.

    ``pool``, ``timeout`` and ``progress`` are ``run``'s own keywords, as for
    `Pool.run`; every other keyword reaches the kernel. A kernel that
    requires a keyword named ``pool``, ``timeout`` or ``progress`` (or any
    keyword the call does not give) is refused before any work starts.

    Examples
    --------
    >>> import shardmem as sm
    >>> def who(*, rank):
    ...     return rank
    >>> sorted(sm.run(who)) == list(range(sm.default_pool().size))
    True
    >>> with sm.Pool(2) as pool:
    ...     sm.run(who, pool=pool)
    [0, 1]
    """
    target = resolve_pool(pool, where="run")
    return target.run(kernel, *arrays, timeout=timeout, progress=progress, **params)


def submit(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    """``Pool.submit`` on the default pool: ``fn(*args, **kwargs)`` on a free worker.

    Examples
    --------
    >>> import shardmem as sm
    >>> def add(a, b):
    ...     return a + b
    >>> sm.submit(add, 2, b=3).result(timeout=10)
    5
    """
    if not callable(fn):
        raise ArgumentTypeError(
            f"submit(): fn={_short_repr(fn)} is a {_type_name(fn)}, which is not callable; "
            "pass a function"
        )
    return default_pool().submit(fn, *args, **kwargs)
