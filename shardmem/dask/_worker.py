"""What runs inside a Dask worker process: its shardmem pool, and one task per block.

Every Dask worker process owns one `Pool`, created by the first block that
needs it, sized to the worker's ``nthreads``, and closed when the worker
shuts down (`ShardmemPlugin.teardown`). Tasks that run outside a
distributed worker (``scheduler="sync"`` or ``"threads"``) use the process's
default pool.

Blocks and copies: a NumPy block is copied once into shared memory
(``sm.asarray``), because a pool can only share memory that a `SharedBuffer`
owns. Outputs are allocated in shared memory and returned as NumPy views of
it (no copy), and those views are remembered: when such a block (or a
C-contiguous slice of it) is the input of a later shardmem task in the same
worker process, the pool reads it in place, without any copy.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

from distributed import WorkerPlugin, get_worker
from distributed.worker import _run_task_simple

import shardmem as sm
from shardmem._primitives.map import as_operand, refuse_returned, run_blockwise
from shardmem._primitives.planning import default_chunks
from shardmem._primitives.reduce import tree_combine
from shardmem._primitives.stencil import stencil_with
from shardmem.dask._ship import ShippedKernel, attach_remote_traceback, rebuild

if TYPE_CHECKING:
    import numpy as np
    from distributed import Worker

__all__ = (
    "EMPTY",
    "EXECUTOR_NAME",
    "PLUGIN_NAME",
    "PoolExecutor",
    "ShardmemPlugin",
    "as_shared",
    "block_offset",
    "combine_parts",
    "run_map",
    "run_partial",
    "run_stencil",
    "worker_pool",
)

PLUGIN_NAME = "shardmem"
EXECUTOR_NAME = "shardmem"


class ShardmemPlugin(WorkerPlugin):
    """A Dask worker plugin that owns the worker's shardmem pool.

    The pool is created lazily by the first shardmem task on the worker and
    closed by ``teardown`` when the worker shuts down. shardmem.dask installs
    the plugin by itself on first use; register it yourself to choose the
    pool size: ``client.register_plugin(ShardmemPlugin(workers=8))``.

    The plugin also gives each worker the pool as the executor named
    ``"shardmem"``: tasks created under ``dask.annotate(executor="shardmem")``
    run in the worker's interpreters, on every core of that machine, while
    other tasks stay on the worker's threads.

    Parameters
    ----------
    workers : int, optional
        Worker interpreters per Dask worker; default the worker's ``nthreads``.
    """

    name = PLUGIN_NAME

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
            raise sm.ArgumentTypeError(
                f"ShardmemPlugin(): workers={workers!r} is a {type(workers).__name__}; pass an "
                "int (worker interpreters per Dask worker) or None for the worker's nthreads"
            )
        if workers is not None and workers < 1:
            raise sm.InvalidArgumentError(
                f"ShardmemPlugin(): workers={workers} is not allowed; pass an int >= 1 or None "
                "for the worker's nthreads"
            )
        self.workers = workers
        self._pool: sm.Pool | None = None
        self._nthreads: int | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        return {"workers": self.workers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["workers"])  # type: ignore[misc]

    def setup(self, worker: Worker) -> None:
        """Remember the worker's thread count (the default pool size); add the executor."""
        self._nthreads = worker.state.nthreads
        worker.executors[EXECUTOR_NAME] = PoolExecutor(self)

    def pool(self) -> sm.Pool:
        """The worker's pool, created on first use and replaced when it broke."""
        with self._lock:
            if self._pool is None or self._pool.closed or self._pool.broken:
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = sm.Pool(self.workers or self._nthreads)
            return self._pool

    def teardown(self, worker: Worker) -> None:
        """Close the pool: its worker interpreters and threads end with the Dask worker."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class PoolExecutor(Executor):
    """The worker's pool as a Dask worker executor (replaced with the pool when it broke).

    A Dask worker runs a task in a non-thread executor as
    ``_run_task_simple(task, data, delay)``; that function lives in
    ``distributed``, which cannot be imported in a worker interpreter, so the
    task itself is sent (``task(data)`` runs in the interpreter) and the
    message Dask expects is built here when it returns.
    """

    def __init__(self, plugin: ShardmemPlugin) -> None:
        self._plugin = plugin

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` on the worker's pool."""
        pool = self._plugin.pool()
        if fn is not _run_task_simple:
            return pool.submit(fn, *args, **kwargs)
        task, data, delay = args
        start = time.time()
        inner = pool.submit(run_graph_node, task, data)
        outer: Future[Any] = Future()
        outer.set_running_or_notify_cancel()
        inner.add_done_callback(lambda f: _resolve(outer, f, start, delay))
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to do: the plugin closes the pool when the worker closes."""


def run_graph_node(task: Callable[[dict[str, Any]], Any], data: dict[str, Any]) -> Any:
    """One Dask task, inside a worker interpreter (a ``compute()`` inside it runs right there)."""
    import dask

    with dask.config.set(scheduler="sync"):
        return task(data)


def _resolve(outer: Future[Any], inner: Future[Any], start: float, delay: float) -> None:
    """Complete the future Dask waits on, whatever building its message raises."""
    try:
        outer.set_result(_task_message(inner, start, delay))
    except BaseException as exc:  # noqa: BLE001 - handed to Dask, never lost in a callback
        outer.set_exception(exc)


def _task_message(future: Future[Any], start: float, delay: float) -> dict[str, Any]:
    """What ``distributed``'s ``_run_task_simple`` returns, for the task in ``future``."""
    from dask.sizeof import sizeof
    from distributed.core import error_message

    msg: dict[str, Any]
    try:
        result = future.result()
    except BaseException as exc:  # noqa: BLE001 - handed to Dask, which re-raises it
        msg = dict(error_message(exc))
        msg["op"] = "task-erred"
        msg["actual_exception"] = exc
    else:
        msg = {
            "op": "task-finished",
            "status": "OK",
            "result": result,
            "nbytes": sizeof(result),
            "type": type(result) if result is not None else None,
        }
    msg["start"] = start + delay
    msg["stop"] = time.time() + delay
    msg["thread"] = threading.get_ident()
    return msg


_install_lock = threading.Lock()


def worker_pool() -> sm.Pool:
    """The pool of the Dask worker running this task (the default pool outside one)."""
    try:
        worker = get_worker()
    except ValueError:
        return sm.default_pool()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, ShardmemPlugin):
        plugin = _install(worker)
    return plugin.pool()


def _install(worker: Worker) -> ShardmemPlugin:
    from distributed.utils import sync

    with _install_lock:
        plugin = worker.plugins.get(PLUGIN_NAME)
        if not isinstance(plugin, ShardmemPlugin):
            plugin = ShardmemPlugin()
            sync(worker.loop, worker.plugin_add, plugin=plugin, name=PLUGIN_NAME)
        return plugin


# -- blocks <-> shared memory --------------------------------------------------------------------

# id(NumPy block) -> (weak reference to the block, the SharedArray it views). Entries go
# away when the block is collected; the SharedArray (and so its buffer) lives as long.
_views: dict[int, tuple[weakref.ref[Any], sm.SharedArray]] = {}
_views_lock = threading.Lock()


def as_numpy(shared: sm.SharedArray) -> np.ndarray:
    """A NumPy view of ``shared`` (no copy), remembered for zero-copy reuse."""
    import numpy as np

    block = np.asarray(shared)
    key = id(block)
    with _views_lock:
        _views[key] = (weakref.ref(block), shared)
    weakref.finalize(block, _forget, key)
    return block


def _forget(key: int) -> None:
    with _views_lock:
        _views.pop(key, None)


def as_shared(block: object) -> sm.SharedArray | object:
    """``block`` as a C-contiguous SharedArray: in place when it views one, else copied once."""
    import numpy as np

    if not isinstance(block, np.ndarray):
        return as_operand(block, "shardmem.dask")
    found = _registered_base(block)
    if found is not None and block.flags.c_contiguous:
        base, shared = found
        start = block.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        if shared.dtype.name == block.dtype.name and start % block.itemsize == 0:
            first = start // block.itemsize
            flat = shared.reshape((shared.size,))[first : first + block.size]
            return flat.reshape(block.shape)  # type: ignore[union-attr]
    return as_operand(block, "shardmem.dask")


def _registered_base(block: np.ndarray) -> tuple[np.ndarray, sm.SharedArray] | None:
    node: object = block
    while node is not None:
        with _views_lock:
            entry = _views.get(id(node))
        if entry is not None and entry[0]() is node:
            return node, entry[1]  # type: ignore[return-value]
        node = getattr(node, "base", None)
    return None


# -- the tasks -----------------------------------------------------------------------------------


def block_offset(block_info: dict[Any, Any] | None, shape: Sequence[int]) -> int:
    """Flat index of the block's first element in the whole array (row-spanning blocks)."""
    if not block_info or None not in block_info:
        return 0
    location = block_info[None]["array-location"]
    if not location:
        return 0
    row_size = 1
    for n in shape[1:]:
        row_size *= n
    return int(location[0][0]) * row_size


def _run_blockwise(  # noqa: PLR0917 - private: both tasks spell these out
    shipped: ShippedKernel,
    operands: list[object],
    chunks: int | None,
    params: dict[str, object],
    offset: int,
    writes: bool = False,
) -> list[object]:
    kernel = rebuild(shipped)
    pool = worker_pool()
    shape = next(a.shape for a in operands if isinstance(a, sm.SharedArray))
    try:
        returned, tasks = run_blockwise(
            kernel,
            operands,  # type: ignore[arg-type]
            shape,
            pool,
            chunks=chunks,
            params=params,
            start_offset=offset,
        )
    except BaseException as exc:
        attach_remote_traceback(exc)
        raise
    if writes:  # a map kernel that returns its values would leave the output unwritten
        refuse_returned(kernel, returned, tasks, "map_blocks")
    return returned


def run_map(
    *blocks: object,
    shipped: ShippedKernel,
    dtype_name: str,
    params: dict[str, object],
    global_shape: tuple[int, ...],
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """One block of `shardmem.dask.map_blocks`: ``sm.map`` on the worker's pool."""
    operands = [as_shared(b) for b in blocks]
    shape = next(a.shape for a in operands if isinstance(a, sm.SharedArray))
    out = sm.empty(shape, dtype=dtype_name)
    if out.size:
        offset = block_offset(block_info, global_shape)
        _run_blockwise(shipped, [*operands, out], None, params, offset, writes=True)
    return as_numpy(out)


def run_partial(
    *blocks: object,
    shipped: ShippedKernel,
    combine: Callable[[object, object], object],
    params: dict[str, object],
    global_shape: tuple[int, ...],
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """One block of `shardmem.dask.reduction`: its partial, in a one-element object array."""
    import numpy as np

    operands = [as_shared(b) for b in blocks]
    first = next(a for a in operands if isinstance(a, sm.SharedArray))
    holder = np.empty((1,) * first.ndim, dtype=object)
    if first.size == 0:
        holder.flat[0] = EMPTY
        return holder
    offset = block_offset(block_info, global_shape)
    parts = _run_blockwise(shipped, operands, default_chunks(first.size), params, offset)
    holder.flat[0] = tree_combine(parts, combine)
    return holder


class _Empty:
    """The partial of an empty block (skipped when combining)."""

    def __repr__(self) -> str:
        return "<empty block>"

    def __reduce__(self) -> str:
        return "EMPTY"


EMPTY = _Empty()


def combine_parts(combine: Callable[[object, object], object], *parts: object) -> object:
    """Combine block partials in block order (a pairwise tree), skipping empty blocks."""
    values = [p.flat[0] if hasattr(p, "flat") else p for p in parts]
    values = [v for v in values if v is not EMPTY]
    return tree_combine(values, combine) if values else EMPTY


def run_stencil(
    block: object,
    *,
    shipped: ShippedKernel,
    radius: int,
    dtype_name: str,
    params: dict[str, object],
) -> np.ndarray:
    """One halo-extended block of `shardmem.dask.map_overlap`: ``sm.stencil`` on the pool."""
    source = as_shared(block)
    assert isinstance(source, sm.SharedArray)
    out = sm.empty(source.shape, dtype=dtype_name)
    if out.size:
        kernel = rebuild(shipped)
        try:  # params go to the kernel only, whatever their names (checked on the client)
            stencil_with(kernel, source, out, radius=radius, pool=worker_pool(), params=params)
        except BaseException as exc:
            attach_remote_traceback(exc)
            raise
    return as_numpy(out)
