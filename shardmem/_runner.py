"""How every primitive runs its tasks: through the engine's door, with an optional bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shardmem._engine import Pool, Task, execute
from shardmem._progress import progress_bar

__all__ = ["run_tasks"]


def run_tasks(
    pool: Pool,
    kernel: Callable[..., object],
    tasks: Sequence[Task],
    *,
    gang: bool = False,
    timeout: float | None = None,
    progress: bool = False,
) -> list[object]:
    """Run ``tasks`` of ``kernel`` on ``pool``; a progress bar over them when asked."""
    bar = progress_bar(progress, len(tasks), getattr(kernel, "__qualname__", "kernel"))
    try:
        return execute(
            pool,
            kernel,
            tasks,
            gang=gang,
            timeout=timeout,
            progress=None if bar is None else bar.tick,
        )
    finally:
        if bar is not None:
            bar.close()
