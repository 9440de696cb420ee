"""The hand-off between interpreters: queue functions, wake-up fds and message slots.

CPython's blocking ``Queue.get()`` sleeps in 10 ms steps and its ``timeout``
is truncated to whole seconds, so nothing here blocks on a queue: a side that
finds its queue empty raises a "sleeping" flag in the control block and
blocks on an eventfd (a pipe elsewhere) that the producer writes only when it
sees the flag.

Message slots (see ``_protocol.py``): a task and its outcome are marshalled
into a fixed-size slot of a shared arena and only an int travels on the
queue, because every non-int queue item is released through a bounded list
of pending calls in the interpreter that put it (300 entries in CPython 3.14;
beyond that, releases are dropped and the item's memory leaks).
"""

from __future__ import annotations

import _interpqueues
import marshal
import mmap
import os
from collections.abc import Callable
from typing import Any

from shardmem._engine import _protocol as P  # noqa: N812 - P.TASK reads like the protocol

__all__ = ["HAVE_EVENTFD", "Arena", "Waker", "qcount", "qget", "qput", "sched_yield"]

HAVE_EVENTFD = hasattr(os, "eventfd")

# The low-level queue functions, by queue id: the methods of ``Queue`` add
# ~0.5 us per call and ``get_nowait`` raises on every empty poll.
qput: Callable[..., None] = _interpqueues.put
qget = _interpqueues.get
qcount = _interpqueues.get_count
sched_yield = getattr(os, "sched_yield", lambda: None)


class Waker:
    """An fd pair another interpreter can write to wake whoever blocks on it."""

    def __init__(self, *, nonblocking: bool) -> None:
        self.closed = False
        if HAVE_EVENTFD:
            flags = os.EFD_CLOEXEC | (os.EFD_NONBLOCK if nonblocking else 0)
            self.read_fd = self.write_fd = os.eventfd(0, flags)
        else:  # pragma: no cover - non-Linux
            self.read_fd, self.write_fd = os.pipe()
            os.set_blocking(self.read_fd, not nonblocking)

    def wake(self) -> None:
        if HAVE_EVENTFD:
            os.eventfd_write(self.write_fd, 1)
        else:  # pragma: no cover
            os.write(self.write_fd, b"\0")

    def drain(self) -> None:
        try:
            if HAVE_EVENTFD:
                os.eventfd_read(self.read_fd)
            else:  # pragma: no cover
                os.read(self.read_fd, 4096)
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close its descriptors (once: a second call does nothing)."""
        if self.closed:
            return
        self.closed = True
        for fd in {self.read_fd, self.write_fd}:
            os.close(fd)


class Arena:
    """Message slots in chunks shared with every worker, grown on demand, shrunk when idle.

    Used by the engine's collector thread only.
    """

    def __init__(self, share: Callable[[int, memoryview | None], None]) -> None:
        self.chunks: list[memoryview] = []
        self.free: list[int] = []
        self.used = 0
        self._share = share  # (chunk index, view or None) -> every worker

    def encode(self, message: tuple[Any, ...]) -> tuple[int | tuple[Any, ...] | None, int]:
        """``(queue item, slot)``: the message in a free slot, or itself (slot -1).

        ``(None, -1)`` when it would fit but every slot is in use.
        """
        try:
            data = marshal.dumps(message)
        except ValueError:  # a value marshal cannot write (a range): sent as it is
            return message, -1
        if len(data) > P.SLOT_BYTES:
            return message, -1
        if self.free:
            slot = self.free.pop()
        elif len(self.chunks) < P.MAX_CHUNKS:
            slot = self._grow()
        else:
            return None, -1
        self.used += 1
        self.view(slot, len(data))[:] = data
        return slot << P.LENGTH_BITS | len(data), slot

    def decode(self, item: int | tuple[Any, ...]) -> tuple[tuple[Any, ...], int]:
        """``(message, slot)`` of a queue item (slot -1 when it travelled as a tuple)."""
        if not isinstance(item, int):
            return item, -1
        slot = item >> P.LENGTH_BITS
        data = self.view(slot, item & ((1 << P.LENGTH_BITS) - 1))
        return marshal.loads(data), slot

    def release(self, slot: int) -> None:
        self.free.append(slot)
        self.used -= 1
        if not self.used and len(self.chunks) > 1:
            for index in range(1, len(self.chunks)):
                self._share(index, None)
            del self.chunks[1:]
            self.free[:] = range(P.FIRST_CHUNK - 1, -1, -1)

    def view(self, slot: int, length: int) -> memoryview:
        """The first ``length`` bytes of message slot ``slot``."""
        start = (slot & ((1 << P.CHUNK_SHIFT) - 1)) * P.SLOT_BYTES
        return self.chunks[slot >> P.CHUNK_SHIFT][start : start + length]

    def _grow(self) -> int:
        """Add a chunk of slots, shared with every worker before any task uses it."""
        index = len(self.chunks)
        count = P.FIRST_CHUNK << index
        # An anonymous mapping: its pages cost memory only once touched, and they go
        # back to the system when the chunk is dropped (a bytearray this large would
        # raise glibc's mmap threshold and stay in the heap after it is freed).
        chunk = memoryview(mmap.mmap(-1, P.SLOT_BYTES * count))
        self.chunks.append(chunk)
        self._share(index, chunk)
        first = index << P.CHUNK_SHIFT
        self.free.extend(range(first + count - 1, first, -1))
        return first
