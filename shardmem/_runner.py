"""How every primitive runs its tasks: through the engine's door, with an optional bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shardmem._engine import Pool, Task, execute
from shardmem._progress import with_bar

__all__ = ["run_tasks"]


def run_tasks(
    pool: Pool,
    kernel: Callable[..., object],
    tasks: Sequence[Task],
    *,
    gang: bool = False,
    timeout: float | None = None,
    progress: bool = False,
    timing: list[float] | None = None,
) -> list[object]:
    """Run ``tasks`` of ``kernel`` on ``pool``; a progress bar over them when asked."""
    return with_bar(
        progress,
        len(tasks),
        getattr(kernel, "__qualname__", "kernel"),
        lambda tick: execute(
            pool, kernel, tasks, gang=gang, timeout=timeout, progress=tick, timing=timing
        ),
    )
