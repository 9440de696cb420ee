"""Calls of many tasks (``chunks=`` well above the worker count) travel in chunks.

The engine groups them (each chunk one task on the wire); everything a caller
sees is unchanged: results in task order equal to NumPy's, the first failure
raised with its own task named, a timeout stops the call, the pool stays
usable, progress counts the caller's tasks and per-task random streams do not
depend on how the tasks were grouped.
"""

from __future__ import annotations

import array
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shardmem as sm
from conftest import get_pool
from shardmem._engine import Task, _pool, execute


def add_kernel(a: Any, b: Any, out: Any, *, start: int) -> None:
    out[:] = array.array(out.format, [x + y + start for x, y in zip(a, b, strict=True)])


def total(x: Any) -> float:
    return float(sum(x))


def draw(x: Any, *, rng: Any) -> float:
    return rng.random() + len(x)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(40, 600),
    chunks=st.integers(16, 600),
    w=st.integers(1, 3),
    dtype=st.sampled_from(["int64", "float64", "int32"]),
)
def test_many_chunks_equal_numpy(rows: int, chunks: int, w: int, dtype: str) -> None:
    a = np.arange(rows, dtype=dtype)
    b = (np.arange(rows) * 3 % 7).astype(dtype)
    out = sm.zeros(rows, dtype=dtype)
    sm.map(add_kernel, a, b, out=out, chunks=chunks, pool=get_pool(w))
    starts = np.zeros(rows, dtype=dtype)
    # Each shard adds its own first index: a shard handed the wrong task would show.
    from shardmem._primitives.planning import split_rows

    for lo, hi in split_rows(rows, min(chunks, rows)):
        starts[lo:hi] = lo
    np.testing.assert_array_equal(np.asarray(out), a + b + starts)
    x = sm.asarray(np.linspace(0, 1, rows))
    got = sm.reduce(total, x, combine=lambda p, q: p + q, chunks=chunks, pool=get_pool(w))
    assert got == pytest.approx(float(np.linspace(0, 1, rows).sum()))


@pytest.mark.parametrize("w", [1, 2])
def test_random_streams_do_not_depend_on_grouping(w: int, monkeypatch: pytest.MonkeyPatch) -> None:
    x = sm.zeros(400)
    pool = get_pool(w)
    grouped = sm.reduce(draw, x, combine=lambda p, q: p + q, chunks=200, seed=7, pool=pool)
    monkeypatch.setattr(_pool, "_CHUNK_TASKS_FROM", 10**9)  # one task per shard on the wire
    alone = sm.reduce(draw, x, combine=lambda p, q: p + q, chunks=200, seed=7, pool=pool)
    assert grouped == alone
    other = sm.reduce(draw, x, combine=lambda p, q: p + q, chunks=200, seed=8, pool=pool)
    assert other != alone


def fail_in_one(x: Any, out: Any, *, start: int) -> None:
    if start == 150:
        raise ValueError("bad shard", start)
    out[:] = x


@pytest.mark.parametrize("w", [1, 2, 3])
def test_the_failing_task_is_named_and_the_pool_stays_usable(w: int) -> None:
    pool = get_pool(w)
    x = np.arange(300.0)
    with pytest.raises(ValueError, match="bad shard") as info:
        sm.map(fail_in_one, x, chunks=100, pool=pool)
    assert info.value.args == ("bad shard", 150)
    assert "rows 150:153" in str(info.value.__cause__)
    assert sm.map(fail_in_one, np.arange(6.0), pool=pool).tolist() == list(range(6))


def nap(x: Any, out: Any) -> None:
    time.sleep(0.05)
    out[:] = x


def test_a_timeout_stops_a_call_of_many_tasks() -> None:
    pool = get_pool(2)
    start = time.monotonic()
    with pytest.raises(sm.TaskTimeoutError):
        sm.map(nap, np.arange(400.0), chunks=400, pool=pool, timeout=0.3)
    # 400 naps of 50 ms on 2 workers would take 10 s: the call was stopped.
    assert time.monotonic() - start < 5
    assert sm.map(nap, np.arange(4.0), chunks=2, pool=pool).tolist() == [0, 1, 2, 3]


def as_text(i: int) -> str:
    return str(i)


def test_progress_counts_the_callers_tasks() -> None:
    ticks: list[int] = []
    tasks = [Task((i,), label=f"item {i}") for i in range(500)]
    values = execute(get_pool(2), as_text, tasks, progress=ticks.append)
    assert values == [str(i) for i in range(500)]
    assert sum(ticks) == 500


def rank_of(i: int, *, rank: int, size: int) -> tuple[int, bool]:
    return i, 0 <= rank < size


def test_rank_and_size_reach_every_task_of_a_chunk() -> None:
    pool = get_pool(3)
    values = execute(pool, rank_of, [Task((i,)) for i in range(200)])
    assert values == [(i, True) for i in range(200)]


def unsendable(i: int) -> object:
    import threading

    return threading.Lock() if i == 77 else i


def test_a_result_that_cannot_travel_fails_at_its_task() -> None:
    tasks = [Task((i,), label=f"item {i}") for i in range(200)]
    with pytest.raises(TypeError, match="cannot be sent back") as info:
        execute(get_pool(2), unsendable, tasks)
    assert "item 77)" in str(info.value.__cause__)
