"""Worker pools shared by the whole test session (import ``get_pool`` from here)."""

from __future__ import annotations

import shardmem as sm

_pools: dict[int, sm.Pool] = {}


def get_pool(workers: int) -> sm.Pool:
    """A pool of ``workers`` workers shared by the whole test session."""
    pool = _pools.get(workers)
    if pool is None or pool.closed:
        pool = _pools[workers] = sm.Pool(workers)
    return pool


def open_pools() -> list[sm.Pool]:
    """The session pools that are still open."""
    return [p for p in _pools.values() if not p.closed]


def discard(pool: sm.Pool) -> None:
    """Forget a session pool: the next ``get_pool`` of its size starts a new one."""
    for workers, known in list(_pools.items()):
        if known is pool:
            del _pools[workers]


def close_all() -> None:
    """Close every session pool."""
    for pool in _pools.values():
        pool.close()
    _pools.clear()
