"""Hostile kernels and values, in a module a worker can import (standard library only).

Each one attacks the path that carries a kernel's outcome back to the caller.
"""

from __future__ import annotations

import sys


class StrRaisesError(Exception):
    """An exception whose ``__str__`` raises."""

    def __str__(self) -> str:
        raise ValueError("no str for you")


class _Text(str):
    pass


class StrSubclassError(Exception):
    """An exception whose ``__str__`` returns a ``str`` subclass."""

    def __str__(self) -> str:
        return _Text("a str subclass")


class StrInterruptsError(Exception):
    """An exception whose ``__str__`` raises KeyboardInterrupt."""

    def __str__(self) -> str:
        raise KeyboardInterrupt


class ReduceExitsError(Exception):
    """An exception whose pickling raises SystemExit."""

    def __reduce__(self) -> object:
        raise SystemExit(3)


class PicklingInterrupts:
    """A result whose pickling raises KeyboardInterrupt."""

    def __reduce__(self) -> object:
        raise KeyboardInterrupt


class PicklingExits:
    """A result whose pickling raises SystemExit."""

    def __reduce__(self) -> object:
        raise SystemExit(4)


def raise_str_raises() -> None:
    raise StrRaisesError


def raise_str_subclass() -> None:
    raise StrSubclassError


def raise_str_interrupts() -> None:
    raise StrInterruptsError


def raise_reduce_exits() -> None:
    raise ReduceExitsError("x")


def return_pickling_interrupts() -> PicklingInterrupts:
    return PicklingInterrupts()


def return_pickling_exits() -> PicklingExits:
    return PicklingExits()


def set_recursion_limit(limit: int) -> int:
    sys.setrecursionlimit(limit)
    return sys.getrecursionlimit()


def recursion_limit() -> int:
    return sys.getrecursionlimit()


def set_int_digits(digits: int) -> int:
    sys.set_int_max_str_digits(digits)
    return sys.get_int_max_str_digits()


def int_digits() -> int:
    return sys.get_int_max_str_digits()


def recurse_deeply(limit: int) -> None:
    """A RecursionError with a traceback of about ``limit`` frames."""
    sys.setrecursionlimit(limit)

    def down(n: int) -> int:
        return down(n + 1) + 1

    down(0)


def worker_state() -> dict[str, int]:
    """How much the worker loop caches (read from its own module)."""
    import linecache

    loop = sys.modules["__main__"].__dict__
    return {
        "views": len(loop["_views"]),
        "kernels": len(loop["_kernels"]),
        "linecache": len(linecache.cache),
    }


def low_limit_then_raise(limit: int) -> None:
    """Lower the recursion limit below what reporting a failure needs, then fail."""
    sys.setrecursionlimit(limit)
    raise ValueError(f"failed under a recursion limit of {limit}")


def mark(flags, i):  # type: ignore[no-untyped-def]
    flags[i] = 1


def spin_until(flag):  # type: ignore[no-untyped-def]
    """Mark that it started (flag[1]), then spin until flag[0] is set."""
    flag[1] += 1
    while flag[0] == 0:
        pass
