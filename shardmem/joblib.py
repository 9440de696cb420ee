"""joblib's ``Parallel`` loops on shardmem's worker interpreters: ``import shardmem.joblib``.

Importing this module registers the joblib parallel backend ``"shardmem"``
(install the extra: ``pip install "shardmem[joblib]"``). Each batch of
``delayed`` calls runs in one worker interpreter, with its own GIL, so a loop
over a pure-Python function uses every core of the process: no processes to
start, no ``if __name__ == "__main__"`` guard, functions from notebook cells
and ``python -c`` included.

Functions travel by pickle, and by cloudpickle (which comes with joblib's
dependencies) where pickle cannot send them: lambdas, nested functions and
functions of ``__main__``. Arguments and results travel by pickle; for large
arrays, hand SharedArrays to `shardmem.map` instead. NumPy cannot be imported
in a worker interpreter: arguments that need it are refused with
`ShippingError`, and a function that imports it raises NumPy's
``ImportError`` (with a note saying why); keep such loops on joblib's
threads or processes.

joblib's batching, ``return_as="generator"`` / ``"generator_unordered"``,
``timeout=`` and error semantics hold: the first exception a call raises is
re-raised by ``Parallel`` with its own type (the worker's traceback is its
``__cause__``), and after an error or a timeout every batch still in the
pool is dropped or stopped.

Examples
--------
>>> import joblib
>>> import shardmem.joblib
>>> def collatz_steps(n):
...     steps = 0
...     while n != 1:
...         n = 3 * n + 1 if n % 2 else n // 2
...         steps += 1
...     return steps
>>> with joblib.parallel_config(backend="shardmem", n_jobs=2):
...     joblib.Parallel()(joblib.delayed(collatz_steps)(n) for n in range(1, 8))
[0, 1, 7, 2, 5, 8, 16]

A pool of your own, rather than the default pool:

>>> import shardmem as sm
>>> with sm.Pool(2) as pool, joblib.parallel_config(backend=ShardmemBackend(pool=pool)):
...     joblib.Parallel(n_jobs=-1)(joblib.delayed(abs)(v) for v in (-1, 2, -3))
[1, 2, 3]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

try:
    import joblib  # type: ignore[import-untyped]
    from joblib._parallel_backends import (  # type: ignore[import-untyped]
        AutoBatchingMixin,
        ParallelBackendBase,
    )
    from joblib.parallel import BatchedCalls  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"shardmem.joblib needs joblib ({exc}); install it with: pip install 'shardmem[joblib]'"
    ) from exc

from shardmem._engine import Pool, default_pool, resolve_pool, stop
from shardmem._public import publish as _publish

__all__ = ("BACKEND_NAME", "ShardmemBackend")

BACKEND_NAME = "shardmem"


Batch = list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]


def _run_batch(items: Batch) -> list[Any]:
    """One joblib batch, inside a worker interpreter."""
    return [fn(*args, **kwargs) for fn, args, kwargs in items]


class ShardmemBackend(AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]
    """The joblib backend ``"shardmem"``: batches of calls on a shardmem `Pool`.

    ``n_jobs`` is how many batches run at once: ``-1`` (or None) is every
    worker of the pool, ``-2`` all but one, a positive number that many (at
    most one per worker runs at a time; the others wait in the pool's queue).

    Parameters
    ----------
    pool : Pool, optional
        The pool to run on; default `shardmem.default_pool()` (one worker per
        core, replaced if it broke).
    """

    default_n_jobs = -1  # what Parallel() without n_jobs gets: every worker
    supports_retrieve_callback = True
    supports_timeout = True
    supports_return_generator = True
    uses_threads = False
    supports_sharedmem = False

    def __init__(self, pool: Pool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if pool is not None:  # refuse a value that is not an open pool now, not at first use
            resolve_pool(pool, where="ShardmemBackend")
        self._own_pool = pool
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def _pool(self) -> Pool:
        return self._own_pool if self._own_pool is not None else default_pool()

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        """Batches run at once for ``n_jobs`` (joblib's convention for negative values)."""
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        size = self._pool().size
        if n_jobs is None:
            return size
        if n_jobs < 0:
            return max(size + 1 + n_jobs, 1)
        return n_jobs

    def configure(
        self,
        n_jobs: int | None = 1,
        parallel: Any = None,
        prefer: str | None = None,
        require: str | None = None,
        **backend_kwargs: Any,
    ) -> int:
        """Start a ``Parallel`` call; return how many batches run at once."""
        self.parallel = parallel
        return self.effective_n_jobs(n_jobs)

    def submit(self, func: Callable[[], Any], callback: Callable[..., Any] | None = None) -> Any:
        """Run one batch on a free worker; return its future."""
        if isinstance(func, BatchedCalls):
            future = self._pool().submit(_run_batch, list(func.items))
        else:
            future = self._pool().submit(func)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def retrieve_result_callback(self, out: Future[Any]) -> Any:
        """The batch's results, or its first exception raised again."""
        return out.result()

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """Stop every batch still in the pool, queued or running (after an error or a timeout).

        As loky's backend does by ending its processes: a timed-out batch
        must not keep a worker busy for the calls that follow.
        """
        with self._lock:
            pending = list(self._futures)
        for future in pending:
            if not future.cancel():
                stop(future, "joblib abandoned this batch (an error or a timeout in Parallel)")


joblib.register_parallel_backend(BACKEND_NAME, ShardmemBackend)

__dir__ = _publish(__name__, globals())  # help() and dir() show the public names
