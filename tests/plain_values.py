"""Values for worker round trips, in a module a worker can import (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """A picklable value type defined at module level."""

    x: int
    y: float


def make_point(x: int, y: float) -> Point:
    """Built inside a worker, pickled by reference to this module."""
    return Point(x, y)
