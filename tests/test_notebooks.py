"""The notebooks: each one runs top to bottom on the project's Python 3.14 Jupyter kernel.

``nbclient`` starts the kernel named ``shardmem`` (installed into the virtual
environment by ``./dev``) as a separate process, so the worker interpreters
and threads the notebooks start never live in the test process. Notebooks are
committed without outputs; executing them here does not write them back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "shardmem"
CELL_TIMEOUT = 60

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _kernel_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL in KernelSpecManager().find_kernel_specs()


def test_there_are_four_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, names
    for topic in ("quickstart", "image", "stencil", "performance"):
        assert any(topic in n for n in names), f"no notebook about {topic}: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    book = json.loads(path.read_text(encoding="utf-8"))
    assert book["metadata"]["kernelspec"]["name"] == KERNEL
    for cell in book["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"], f"{path.name}: clear outputs before committing"
            assert cell["execution_count"] is None, f"{path.name}: clear execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path) -> None:
    if not _kernel_installed():
        pytest.fail(
            f"the Jupyter kernel {KERNEL!r} is missing; install it with "
            f"`python -m ipykernel install --sys-prefix --name {KERNEL}` (./dev does this)"
        )
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}")
    elapsed = time.perf_counter() - start
    errors = [
        output
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors, errors
    assert elapsed < 90, f"{path.name} took {elapsed:.0f} s; keep the notebooks small"
