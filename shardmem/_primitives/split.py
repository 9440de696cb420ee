"""How many workers a call without ``chunks=`` is split over: the cost model.

A call's tasks cost the main interpreter a fixed amount each (queueing the
task, waking a worker, reading its outcome): ``task_cost`` seconds, about
40 us on the 2-core development machines (``python -m shardmem bench --only
small_calls`` measures it as the cost of a no-op ``sm.map`` on 2 workers
less the cost on 1). Splitting work ``T`` over ``w`` workers takes about
``T / w + w * task_cost``, which is least for ``w = sqrt(T / task_cost)``.

``T`` is predicted per kernel from its previous calls: the workers report how
long each task's kernel ran, and the pool keeps, per kernel function, the
seconds per element (a moving average). A kernel's first call uses every
worker. So a no-op or a C-speed kernel over a small array runs on one worker
(no wake-up of the others, no outcome to wait for), while a pure-Python loop
over the same array still uses all of them.

Only the number of static shards changes, and only for a kernel that cannot
see its shard (one that names none of ``rank``, ``size``, ``start``,
``shape`` and takes no ``**kwargs``): every element is computed by the same
kernel either way, so element-wise results are identical. A kernel whose
output depends on where its shard begins or ends (a running total over its
shard) should say so with those names, or pass ``chunks=``, which is never
changed.
``set_task_cost(0)`` turns the model off (every call uses every worker).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable

from shardmem._errors import InvalidArgumentError

__all__ = ["record", "set_task_cost", "workers_for"]

_SMOOTHING = 0.5  # weight of the newest measurement in the moving average
_task_cost = [40e-6]
_per_element: weakref.WeakKeyDictionary[Callable[..., object], float] = weakref.WeakKeyDictionary()


def set_task_cost(seconds: float) -> float:
    """Set the cost model's per-task cost in seconds (0 turns it off); return the old one.

    Examples
    --------
    >>> import shardmem as sm
    >>> old = sm.set_task_cost(0)  # every call without chunks= uses every worker
    >>> sm.set_task_cost(old)
    0.0
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise InvalidArgumentError(
            f"set_task_cost({seconds!r}): give a number of seconds >= 0 (0 turns the model off)"
        )
    old, _task_cost[0] = _task_cost[0], float(seconds)
    return old


def workers_for(kernel: Callable[..., object], elements: int, size: int) -> int:
    """Workers to split ``elements`` over for ``kernel`` on a pool of ``size``."""
    cost = _task_cost[0]
    if size <= 1 or cost <= 0:
        return size
    try:
        per = _per_element.get(kernel)
    except TypeError:  # not weak-referenceable
        return size
    if per is None:
        return size  # its first call: measure on every worker
    best = round(math.sqrt(per * elements / cost))
    return max(1, min(size, best))


def record(kernel: Callable[..., object], elements: int, seconds: float) -> None:
    """Remember how long ``kernel`` took over ``elements`` elements (summed over tasks)."""
    if elements <= 0:
        return
    per = seconds / elements
    try:
        old = _per_element.get(kernel)
        _per_element[kernel] = per if old is None else old + _SMOOTHING * (per - old)
    except TypeError:
        pass
