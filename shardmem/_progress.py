"""Progress bars over a call's tasks: tqdm (terminal or notebook) when installed, else text.

The engine knows nothing of bars: a call takes a ``progress`` callback that
receives how many more tasks finished (0 now and then, so a bar can refresh).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator

__all__ = ["Bar", "progress_bar", "progress_default", "progress_wanted", "with_bar"]


class Bar:
    """A progress bar over ``total`` tasks (or steps: ``unit``) named ``name``."""

    def __init__(self, total: int, name: str, unit: str = "task") -> None:
        self.total, self.name, self.n, self.unit = total, name, 0, unit
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.tqdm = None
        else:
            tqdm.monitor_interval = 0  # no monitor thread left running after the call
            self.tqdm = tqdm(total=total, desc=name, unit=unit, leave=False)

    def tick(self, n: int) -> None:
        self.n += n
        if self.tqdm is not None:
            self.tqdm.update(n) if n else self.tqdm.refresh()
        else:
            print(f"\r{self.name}: {self.n}/{self.total} {self.unit}s", end="", file=sys.stderr)

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
        else:
            print(file=sys.stderr)


_progress_default: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "shardmem_progress", default=False
)


@contextlib.contextmanager
def progress_default(enabled: bool) -> Iterator[None]:
    """Show a progress bar for every call inside the block (the command line's bars)."""
    token = _progress_default.set(enabled)
    try:
        yield
    finally:
        _progress_default.reset(token)


def progress_wanted(progress: bool) -> bool:
    """True when a call with ``progress=`` shows a bar (asked, or bars on by default here)."""
    return progress or _progress_default.get()


def progress_bar(progress: bool, total: int, name: str, unit: str = "task") -> Bar | None:
    """A bar when ``progress`` is true or bars are on by default here, else None."""
    return Bar(total, name, unit) if progress_wanted(progress) else None


def with_bar[T](
    progress: bool,
    total: int,
    name: str,
    run: Callable[[Callable[[int], None] | None], T],
    unit: str = "task",
) -> T:
    """``run(tick)`` with a bar's ``tick`` (or None when no bar is shown); the bar is closed."""
    bar = progress_bar(progress, total, name, unit)
    try:
        return run(None if bar is None else bar.tick)
    finally:
        if bar is not None:
            bar.close()
