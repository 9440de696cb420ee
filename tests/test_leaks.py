"""Leak suite: resident memory over many calls, each scenario in a fresh process.

Every scenario runs idle and beside a CPU-bound process (races that leak hide
on an idle machine). tests/leak_probe.py warms up, then measures RSS over ten
rounds; the bounds below are a small fraction of what the leaks these tests
guard against cost (tens to hundreds of MiB), and well above the allocator's
noise (a few MiB). The figures are printed (``pytest -s``) and copied into
docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from leak_probe import PRIMITIVES

from conftest import cpu_hog

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),  # a million submits beside a busy core take 1-2 minutes
    pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc"),
]

PROBE = Path(__file__).with_name("leak_probe.py")
ROOT = PROBE.parents[1]


def probe(scenario: str, calls: int, hog: bool) -> dict[str, object]:
    with cpu_hog(hog):
        done = subprocess.run(
            [sys.executable, str(PROBE), scenario, str(calls)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n[leak] {'cpu-hog' if hog else 'idle'} {report}")
    return report


HOG = pytest.mark.parametrize("hog", [False, True], ids=["idle", "cpu-hog"])


@HOG
@pytest.mark.parametrize("name", PRIMITIVES)
def test_10k_calls_of_each_primitive_on_fresh_arrays(name: str, hog: bool) -> None:
    report = probe(name, 10_000, hog)
    # Before the eviction hand-off was fixed, sm.sum on a fresh 156 KiB array grew by
    # 59-179 MiB per 3,000 calls (404-523 MiB per 4,000 beside a busy core).
    assert report["growth_mib"] < 8, report


@HOG
def test_a_million_submits_in_rounds(hog: bool) -> None:
    report = probe("submit", 1_000_000, hog)
    # Before the message path was bounded, 400k submits leaked 119 MiB per round.
    assert report["growth_mib"] < 12, report


@HOG
def test_maps_with_more_tasks_than_message_slots(hog: bool) -> None:
    report = probe("wide_map", 8, hog)
    # 140,000 tasks in flight per call; such a call leaked 85-117 MiB each before.
    assert report["growth_mib"] < 12, report


@HOG
def test_10k_distinct_kernels(hog: bool) -> None:
    report = probe("kernels", 10_000, hog)
    # Before the kernel cache was bounded, 10k distinct kernels added 27-30 MiB.
    assert report["growth_mib"] < 4, report


def test_the_soak_script_runs_and_checks_every_kind_of_call(tmp_path: Path) -> None:
    """benchmarks/soak.py (10 minutes for the docs) works: a few seconds of it here."""
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--minutes=0.1", f"--json={out}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert report["calls"] > 50
    assert len(report["curve"]) >= 3


FAILED_CALLS = """
import gc, os, weakref
import numpy as np
import shardmem as sm

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def boom(x, *, rank):
    raise ValueError("planned")

sm.run(lambda x, *, rank: None, np.zeros(1))
a = np.zeros(2_000_000)  # 16 MB
gc.collect()
start = rss()
for _ in range(40):  # a NumPy argument, copied into shared memory for each call
    try:
        sm.run(boom, a)
    except ValueError:
        pass
numpy_growth = rss() - start
gc.disable()  # a buffer kept alive by a reference cycle stays alive now
refs = []
for _ in range(20):  # a fresh SharedArray per failing call
    s = sm.asarray(a)
    refs.append(weakref.ref(s.buffer))
    try:
        sm.run(boom, s)
    except ValueError:
        pass
    del s
# The engine lets go of a failed call once its other tasks have reported.
sm.run(lambda x, *, rank: None, np.zeros(1))
print(round(numpy_growth, 1), sum(ref() is not None for ref in refs))
"""


def test_failed_calls_let_their_arrays_go() -> None:
    """A failed call's error held the call's arrays in a reference cycle until the next
    garbage collection: 40 failing ``sm.run`` calls with a 16 MB NumPy argument grew RSS
    by 300-630 MiB (about 25 dead buffers kept mapped in the workers)."""
    done = subprocess.run(
        [sys.executable, "-c", FAILED_CALLS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    growth, alive = done.stdout.split()
    print(f"\n[leak] 40 failing calls with a 16 MB argument: +{growth} MiB; {alive} of 20 alive")
    assert int(alive) == 0
    # The dropped buffers' evictions are batched up to 64 MiB (EVICT_BYTES).
    assert float(growth) < 120
