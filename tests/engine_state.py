"""What "nothing held, pending or pinned" means for a pool, checked from outside its threads."""

from __future__ import annotations

import time

import shardmem as sm
from shardmem._engine import _protocol as P  # noqa: N812


def leftovers(pool: sm.Pool) -> list[str]:
    """What the engine still holds for calls in flight (empty when the pool is idle)."""
    core = pool._core
    arena = core.arena
    slots = sum(P.FIRST_CHUNK << k for k in range(len(arena.chunks)))
    found = []
    if core.owner:
        found.append(f"{len(core.owner)} task(s) awaiting an outcome")
    if core.slot_of or len(arena.free) != slots:
        found.append(f"{slots - len(arena.free)} message slot(s) in use")
    if core.in_use:
        found.append(f"buffers pinned: {core.in_use}")
    if core.requests:
        found.append(f"{len(core.requests)} request(s) not served")
    if core.stopping:
        found.append(f"{len(core.stopping)} call(s) still stopping")
    if core.evicting:
        found.append(f"{len(core.evicting)} buffer eviction(s) in flight")
    if core.evictions:
        found.append(f"{len(core.evictions)} eviction(s) unacknowledged")
    if core.backlog:
        found.append(f"{len(core.backlog)} task(s) waiting in the backlog")
    if core.big:
        found.append(f"{len(core.big)} task message(s) travelling as tuples")
    if core.deferred:
        found.append(f"{len(core.deferred)} dropped buffer(s) not yet evicted")
    if core.kernel_calls:
        found.append(f"kernels held by calls: {core.kernel_calls}")
    if core.order:
        found.append(f"{len(core.order)} call(s) below the low-water mark")
    return found


def assert_idle(pool: sm.Pool, timeout: float = 10.0) -> None:
    """Wait until the engine holds nothing for any call (dropped tasks drain in the
    background), failing with what is left after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while (left := leftovers(pool)) and time.monotonic() < end:
        time.sleep(0.005)
    assert not left, f"{pool!r} still holds: {'; '.join(left)}"
