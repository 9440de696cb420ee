"""Shared fixtures: pools reused across tests, and a leak check after every test."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import interpreters

import pytest
from engine_state import leftovers
from pools import close_all, discard, get_pool, open_pools

import shardmem as sm

__all__ = ["get_pool"]  # test modules may import it from here or from pools


@pytest.fixture(scope="session", autouse=True)
def _close_session_pools() -> Iterator[None]:
    yield
    close_all()
    from shardmem._engine import _pool

    _pool._close_default()


@pytest.fixture
def pool2() -> sm.Pool:
    """A shared two-worker pool."""
    return get_pool(2)


@pytest.fixture(autouse=True)
def _session_pools_left_idle() -> Iterator[None]:
    """Fail a test that leaves a session pool or the default pool busy; replace that pool.

    Work still draining gets 10 s. A pool left busy after that (a kernel spinning on
    a flag the failed test never set) is stopped and dropped, so the next test gets
    a fresh one: one failure stays one failure, not every later test on that pool.
    """
    yield
    from shardmem._engine import _pool

    busy = []
    default = _pool._default
    pools = [*open_pools(), *([default] if default is not None and not default.closed else [])]
    for pool in pools:
        end = time.monotonic() + 10.0
        while (left := leftovers(pool)) and time.monotonic() < end:
            time.sleep(0.005)
        if left:
            busy.append(f"{pool!r}: {'; '.join(left)}")
            if pool is default:
                _pool._close_default()  # the next sm.* call starts a fresh default pool
            else:
                discard(pool)
                pool._core.close(cancel=True)  # stops the running kernels too
    assert not busy, f"the test left session pools busy (now replaced): {busy}"


def _snapshot() -> tuple[set[int], set[int]]:
    interps = {i.id for i in interpreters.list_all()}
    threads = {t.ident or 0 for t in threading.enumerate()}
    return interps, threads


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves an interpreter or a thread behind (session pools excepted)."""
    before_i, before_t = _snapshot()
    yield
    after_i, after_t = _snapshot()
    owned_i = {i for p in open_pools() for i in _pool_interp_ids(p)}
    owned_t = {t for p in open_pools() for t in _pool_thread_ids(p)}
    from shardmem._engine import _pool

    default = _pool._default
    if default is not None and not default.closed:
        owned_i |= set(_pool_interp_ids(default))
        owned_t |= set(_pool_thread_ids(default))
    leaked_i = after_i - before_i - owned_i
    leaked_t = after_t - before_t - owned_t - _callback_thread()
    assert not leaked_i, f"interpreters leaked: {leaked_i}"
    assert not leaked_t, (
        f"threads leaked: {[t for t in threading.enumerate() if t.ident in leaked_t]}"
    )


def _callback_thread() -> set[int]:
    """The thread that runs done callbacks: started once, shared by every pool."""
    return {t.ident or 0 for t in threading.enumerate() if t.name == "shardmem-callbacks"}


def _pool_interp_ids(pool: sm.Pool) -> list[int]:
    core = pool._core
    return [w.interp.id for w in (*core.workers, *core.retired) if w.interp is not None]


def _pool_thread_ids(pool: sm.Pool) -> list[int]:
    core = pool._core
    threads = [w.thread for w in (*core.workers, *core.retired)]
    return [t.ident or 0 for t in (*threads, core.collector) if t is not None]


@contextlib.contextmanager
def cpu_hog(on: bool = True) -> Iterator[None]:
    """A process spinning on a core while the body runs (when ``on``): races hide when idle."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()
