"""How every primitive runs its tasks: through the engine's door, with an optional bar."""

from __future__ import annotations

import builtins
import inspect
import types
from collections.abc import Callable, Sequence
from typing import cast

from shardmem._data.array import SharedArray
from shardmem._engine import Pool, Task, check_params, execute, resolve_pool
from shardmem._errors import ArgumentTypeError
from shardmem._progress import with_bar

__all__ = ["check_pool", "refuse_unknown_keywords", "run_tasks"]


def check_pool(pool: object, where: str) -> None:
    """Refuse a ``pool=`` that is not an open pool, naming ``where``, before any early exit.

    A call on empty data returns without touching the pool, so this runs first:
    a bad ``pool=`` fails on any data, and the message names the function called.
    """
    if pool is not None:
        resolve_pool(pool, where=where)


_OTHER_SPELLINGS = {"boundary": "mode", "depth": "radius"}  # Dask's names for stencil's own


def refuse_unknown_keywords(kernel: object, params: dict[str, object], where: str) -> None:
    """Refuse, before any work, keywords the kernel has no parameter for (naming them).

    A keyword a call does not know goes to the kernel; one the kernel does not
    take would fail in every worker. Kernels with ``**kwargs`` or without
    inspectable code (wrappers, builtins) are not checked. Values that cannot
    travel to a worker are refused first (``ShippingError``).
    """
    check_params(params)
    code = getattr(kernel, "__code__", None)
    if not isinstance(code, types.CodeType) or code.co_flags & inspect.CO_VARKEYWORDS:
        return
    names = code.co_varnames[code.co_posonlyargcount : code.co_argcount + code.co_kwonlyargcount]
    refused = [k for k in params if k not in names]
    if not refused:
        return
    spelled = [k for k in refused if k in _OTHER_SPELLINGS]
    hints = [f"{k}= is spelled {_OTHER_SPELLINGS[k]}= here" for k in spelled]
    hint = f" ({'; '.join(hints)})" if where == "stencil" and hints else ""
    shown = ", ".join(f"{k}={params[k]!r}" for k in refused)
    raise ArgumentTypeError(
        f"{where}(): kernel {getattr(kernel, '__qualname__', kernel)!r} takes no keyword "
        f"{shown}{hint}; keywords other than {where}()'s own go to the kernel: add the "
        "parameter to the kernel or drop the keyword"
    )


def run_tasks(
    pool: Pool,
    kernel: Callable[..., object],
    tasks: Sequence[Task],
    *,
    gang: bool = False,
    timeout: float | None = None,
    progress: bool = False,
    timing: list[float] | None = None,
    steps: tuple[int, SharedArray] | None = None,
) -> list[object]:
    """Run ``tasks`` of ``kernel`` on ``pool``; a progress bar over them when asked.

    ``steps``: (total, counter) for a gang call whose tasks loop over steps
    and store how many each finished in ``counter[slot]``: the bar then
    counts steps (the least any task finished), not tasks.
    """
    name = getattr(kernel, "__qualname__", "kernel")

    def run(tick: Callable[[int], None] | None) -> list[object]:
        relay = tick if tick is None or steps is None else _step_relay(tick, steps[1])
        return execute(
            pool, kernel, tasks, gang=gang, timeout=timeout, progress=relay, timing=timing
        )

    if steps is None:
        return with_bar(progress, len(tasks), name, run)
    return with_bar(progress, steps[0], name, run, unit="step")


def _step_relay(tick: Callable[[int], None], counter: SharedArray) -> Callable[[int], None]:
    shown = 0

    def relay(_tasks_done: int) -> None:
        nonlocal shown
        done = int(builtins.min(cast("list[int]", counter.tolist())))
        tick(done - shown if done > shown else 0)
        shown = done if done > shown else shown

    return relay
