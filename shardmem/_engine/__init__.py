"""The engine: worker interpreters, the collector thread, kernel shipping.

This module is the engine's one door: the primitives, ``image`` and ``dask``
use only the names below, never the private modules behind them.
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
