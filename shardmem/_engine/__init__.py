"""The engine: worker interpreters, the collector thread, kernel shipping.

This module is the engine's one door: the primitives, ``image`` and ``dask``
use only the names below, never the private modules behind them.

Where a change belongs (each part names the state it owns; every field of a
pool's engine is declared, grouped by owner, in ``_state.EngineState``):

Main interpreter, callers' side
    ``_pool``      ``Pool`` (the ``Executor``), the default pool, ``execute``/``run``,
                   waiting for a call (no engine state: it owns only its ``Core``).
    ``_calls``     ``Call`` (one batch of tasks of one kernel) and ``CallFuture``
                   (its ``Future``: ``cancel``/``running``, done callbacks).
    ``_tasks``, ``_shipping``, ``_bind``, ``_rebuild``
                   what travels: tasks and their views, kernels packed by code,
                   parameters bound by name.

Main interpreter, the engine's core (one ``Core`` per pool, built from parts)
    ``_core``      ``Core``: the collector thread's loop (a short dispatcher over
                   the parts), requests from callers, start-up, ``close``/``join``,
                   the exit hook's list of live pools.  Owns ``requests``,
                   ``dropped``, the closing flags, ``finished``, ``broken``.
    ``_roster``    the workers: create, boot and drive each interpreter on its
                   own thread, define kernels and share views with them, wake
                   them, replace a stuck one, close them.  Owns ``workers``,
                   ``retired``, free ``records``, wakers and watchdog pipes.
    ``_dispatch``  calls in flight: queue their tasks in message slots, read
                   outcomes, run a skipped task again, complete futures.  Owns
                   ``owner``, ``slot_of``, ``backlog``, ``order``, ``next_id``,
                   ``kernel_calls``, ``in_use``.
    ``_stops``     cancel and stop: the cancel ring (written by ``cancel()`` from
                   any thread), stop queues, the grace before a worker is retired.
                   Owns ``stopping``, ``ring_lock``.
    ``_evictions`` buffers the workers view: drop each view when its buffer is
                   closed (the closer waits) or dropped (batched).  Owns
                   ``buffer_refs``, ``evict_later``, ``deferred``, ``evictions``.
    ``_state``     ``EngineState`` (the fields above), the engine's constants and
                   the helpers the parts share.
    ``_handoff``, ``_protocol``
                   shared queues, wakers, message slots; message tags and the
                   layout of the shared control block.

Inside every worker interpreter
    ``_worker``    the worker loop (standard library only): take a task, run its
                   kernel, report; its watchdog thread stops cancelled kernels.

Only the collector thread writes engine state (callers append requests, one
atomic operation), so a ``KeyboardInterrupt`` in a caller never splits it.
"""

from shardmem._engine._bind import bind
from shardmem._engine._pool import (
    Pool,
    default_pool,
    execute,
    resolve_pool,
    run,
    stop,
    submit,
)
from shardmem._engine._rebuild import rebuild_functions
from shardmem._engine._shipping import Kernel, kernel_name, pack
from shardmem._engine._tasks import RandomSeed, Task, ViewSpec, as_view, check_params

__all__ = (
    "Kernel",
    "Pool",
    "RandomSeed",
    "Task",
    "ViewSpec",
    "as_view",
    "bind",
    "check_params",
    "default_pool",
    "execute",
    "kernel_name",
    "pack",
    "rebuild_functions",
    "resolve_pool",
    "run",
    "stop",
    "submit",
)
