"""Closing pools in a notebook: the close sequence of issue 21, run through ``nbclient``.

Pools created in one cell, the default pool in use, then a cell
``one.close(); two.close()``: ``Pool.close()`` raised ``OSError: [Errno 9] Bad
file descriptor`` in 2 of 51 executions in a Jupyter kernel. Each execution
gets a fresh kernel (the realistic case); several run at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "shardmem"
RUNS = 50
AT_ONCE = 4

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

CELLS = [
    """\
import shardmem as sm

one = sm.Pool(2)
two = sm.Pool(2)
print("default", sm.sum(sm.arange(1000, dtype="int64")))
print("one", one.submit(abs, -3).result(timeout=30))
print("two", list(two.map(abs, [-1, -2])))
""",
    "one.close(); two.close()",
    """\
print("closed", one._core.finished.is_set(), two._core.finished.is_set())
print("after", sm.sum(sm.arange(10, dtype="int64")))
""",
]
EXPECTED = ["default 499500", "one 3", "two [1, 2]", "closed True True", "after 45"]

# Run in a child process: the kernels it starts are its children, never this process's.
RUNNER = """\
import asyncio, json, sys
import nbclient, nbformat

CELLS, KERNEL, RUNS, AT_ONCE = json.loads(sys.argv[1])

async def one(gate):
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    async with gate:
        client = nbclient.NotebookClient(book, kernel_name=KERNEL, timeout=60)
        try:
            await client.async_execute()
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"[-2000:]}
    outputs = [o for cell in book.cells for o in cell.outputs]
    return {
        "stdout": "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout"),
        "stderr": "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr"),
    }

async def main():
    gate = asyncio.Semaphore(AT_ONCE)
    return await asyncio.gather(*(one(gate) for _ in range(RUNS)))

print(json.dumps(asyncio.run(main())))
"""


def _kernel_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL in KernelSpecManager().find_kernel_specs()


def test_closing_two_pools_in_a_notebook_cell_never_fails() -> None:
    if not _kernel_installed():
        pytest.fail(f"the Jupyter kernel {KERNEL!r} is missing (./dev installs it)")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUNNER), json.dumps([CELLS, KERNEL, RUNS, AT_ONCE])],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == RUNS
    bad = [
        r
        for r in results
        if "error" in r or r["stderr"].strip() or r["stdout"].splitlines() != EXPECTED
    ]
    assert not bad, f"{len(bad)} of {RUNS} executions failed; first: {bad[0]}"
