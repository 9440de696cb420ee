"""Kernel shipping: what travels to workers, what is refused, and from where kernels come."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import OrderedDict
from operator import mul
from pathlib import Path

import numpy as np
import pytest

import shardmem as sm

LIMIT = 10
TABLE = {"a": 1, "b": (2, 3)}


def helper(x: int) -> int:
    return x * LIMIT


def calls_helper(*, x):  # type: ignore[no-untyped-def]
    return helper(x) + TABLE["b"][1]


def uses_imported_name(*, a, b):  # type: ignore[no-untyped-def]
    return mul(a, b)


def recursive(*, n):  # type: ignore[no-untyped-def]
    return 1 if n <= 1 else n * recursive(n=n - 1)


def imports_numpy():  # type: ignore[no-untyped-def]
    import numpy

    return numpy.zeros(1)


UNSENDABLE = OrderedDict(a=1)
ARRAY = np.zeros(3)


def uses_unsendable():  # type: ignore[no-untyped-def]
    return UNSENDABLE["a"]


def uses_numpy_array():  # type: ignore[no-untyped-def]
    return ARRAY[0]


def test_helpers_constants_and_imported_names_travel(pool2: sm.Pool) -> None:
    assert pool2.run(calls_helper, x=4) == [43, 43]
    assert pool2.run(uses_imported_name, a=6, b=7) == [42, 42]
    assert pool2.run(recursive, n=5) == [120, 120]


def test_closures_over_plain_values_travel(pool2: sm.Pool) -> None:
    offset = 5
    scale = (2, 3)

    def kernel(*, x):  # type: ignore[no-untyped-def]
        return x * scale[1] + offset

    assert pool2.run(kernel, x=2) == [11, 11]


def test_lambdas_travel(pool2: sm.Pool) -> None:
    assert pool2.submit(lambda *, v: 255 - v, v=5).result(timeout=30) == 250


def test_a_rebound_global_is_picked_up(pool2: sm.Pool) -> None:
    global LIMIT
    assert pool2.run(calls_helper, x=1) == [13, 13]
    LIMIT = 100
    try:
        assert pool2.run(calls_helper, x=1) == [103, 103]
    finally:
        LIMIT = 10


def test_numpy_import_is_refused_before_work_starts(pool2: sm.Pool) -> None:
    with pytest.raises(sm.ShippingError, match=r"imports_numpy.*numpy.*standard library"):
        pool2.run(imports_numpy)


def test_unsendable_global_is_refused_with_the_fix(pool2: sm.Pool) -> None:
    with pytest.raises(
        sm.ShippingError, match=r"global 'UNSENDABLE' is a collections.OrderedDict.*keyword"
    ):
        pool2.run(uses_unsendable)
    with pytest.raises(sm.ShippingError, match=r"global 'ARRAY' is a numpy.ndarray"):
        pool2.run(uses_numpy_array)


def test_closure_over_unsendable_state_is_refused(pool2: sm.Pool) -> None:
    lock = object()

    def kernel():  # type: ignore[no-untyped-def]
        return lock

    with pytest.raises(sm.ShippingError, match=r"closure variable 'lock' is a builtins.object"):
        pool2.run(kernel)


def test_non_functions_are_refused(pool2: sm.Pool) -> None:
    with pytest.raises(sm.ShippingError, match="not a Python function"):
        pool2.run(len)  # type: ignore[arg-type]


def test_unsendable_parameters_are_refused(pool2: sm.Pool) -> None:
    with pytest.raises(sm.ShippingError, match="parameter p=ndarray"):
        pool2.run(calls_helper, p=ARRAY)


# -- kernels from scripts, python -c and interrupts: in a fresh interpreter --------------------

ROOT = Path(__file__).resolve().parents[1]


def _run_python(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "error"}
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-X", "dev", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
        **kw,
    )


SCRIPT = """
import math
import shardmem as sm

BASE = 1000

def offset(i):
    return BASE + i

def kernel(out, *, rank, size):
    n = len(out)
    for i in range(rank * n // size, (rank + 1) * n // size):
        out[i] = offset(int(math.sqrt(i * i)))

a = sm.zeros(10, dtype="int64")
with sm.Pool(2) as pool:
    pool.run(kernel, a)
print(a.tolist())
"""


def test_kernel_from_python_dash_c() -> None:
    proc = _run_python(["-c", SCRIPT])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(list(range(1000, 1010)))
    assert "remaining subinterpreters" not in proc.stderr


def test_kernel_from_an_unguarded_script(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT)
    proc = _run_python([str(script)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(list(range(1000, 1010)))
    assert proc.stderr == ""


def test_default_pool_closes_at_exit_without_warnings() -> None:
    proc = _run_python(["-c", "import shardmem as sm; print(sm.run(lambda *, rank: rank))"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


INTERRUPTED = """
import sys, time
import shardmem as sm

def forever(x, out):
    while True:
        out[0] = x[0] + 1

pool = sm.Pool(2)
data = sm.zeros(1000, dtype="float64")
print("ready", flush=True)
try:
    sm.map(forever, data, pool=pool)
except KeyboardInterrupt:
    print(f"interrupted at {time.monotonic()!r}", flush=True)
print(pool.run(lambda *, rank: rank * 10), flush=True)
pool.close()
data.buffer.close()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_ctrl_c_stops_a_running_map_within_a_second() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(INTERRUPTED)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # let both workers enter their endless loops: the point of the test
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    stopped = float(out.split("interrupted at ")[1].split()[0])  # CLOCK_MONOTONIC is system-wide
    assert stopped - sent < 1.0, stopped - sent
    assert "[0, 10]" in out  # the pool still works afterwards
    assert err == ""
