"""The documentation site: every Python example runs, every public name is documented.

Each page's fenced ``python`` blocks run in order, in one namespace, in a fresh
interpreter (so the default pool the examples start never touches the test
process). The blocks are compiled with the page's own path and line numbers, so
a failing example points at ``docs/<page>.md:<line>``, and kernels defined in
them ship with their source lines like kernels defined in a module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import shardmem as sm

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

# A fence at the start of a line: ```python ... ``` (indented fences are not used in the docs).
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

RUNNER = r"""
import pathlib, re, sys
path = sys.argv[1]
text = pathlib.Path(path).read_text(encoding="utf-8")
namespace = {"__name__": "__main__"}
for match in re.finditer(sys.argv[2], text, re.MULTILINE | re.DOTALL):
    first = text.count("\n", 0, match.start(1))
    source = "\n" * first + match.group(1)
    exec(compile(source, path, "exec"), namespace)
"""


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ``python`` blocks of a Markdown text as (first code line, code)."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def _pages_with_code() -> list[Path]:
    return [p for p in PAGES if python_blocks(p.read_text(encoding="utf-8"))]


def test_python_blocks_are_found() -> None:
    text = "intro\n```python\nx = 1\n```\n\n```sh\nls\n```\n```python title=t\ny = 2\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "y = 2\n")]


def test_every_page_with_examples_is_run() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in _pages_with_code()}
    assert {"index.md", "getting-started.md", "concepts.md", "image-processing.md"} <= names


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_examples_run(page: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(page.relative_to(ROOT)), FENCE.pattern],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, f"an example in {page.name} failed:\n{proc.stderr}"


def test_readme_examples_run_as_written() -> None:
    """The README's examples, the first script a new user writes, define all they use."""
    readme = ROOT / "README.md"
    assert python_blocks(readme.read_text(encoding="utf-8"))
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "README.md", FENCE.pattern],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, f"an example in README.md failed:\n{proc.stderr}"


def test_performance_page_states_one_round_trip() -> None:
    """The prose quotes the round trip the engine table measured, not an older figure."""
    text = (DOCS / "performance.md").read_text(encoding="utf-8")
    table = re.search(r"no-op `submit` → `result` round trip[^|]*\| (\d+) µs", text)
    assert table is not None
    quoted = set(re.findall(r"round trip\s+measured (\d+) µs", text))
    assert quoted == {table.group(1)}
    comparison = (DOCS / "comparison.md").read_text(encoding="utf-8")
    assert f"| no-op round trip (median) | {table.group(1)} µs |" in comparison


def test_limitations_and_comparison_name_what_exists() -> None:
    limitations = (DOCS / "limitations.md").read_text(encoding="utf-8")
    assert "nd=True" in limitations
    assert "shardmem.dask" in limitations
    assert "not a cluster" not in limitations
    comparison = (DOCS / "comparison.md").read_text(encoding="utf-8")
    assert "shardmem.dask" in comparison
    assert "scheduler=pool" in comparison
    pytest.importorskip("dask")
    import shardmem.dask

    for name in ("map_blocks", "map_overlap", "reduction", "ShardmemPlugin"):
        assert name in comparison
        assert name in shardmem.dask.__all__


def test_failing_example_points_at_the_page(tmp_path: Path) -> None:
    page = tmp_path / "bad.md"
    page.write_text("# t\n\n```python\nx = 1\nraise ValueError(x)\n```\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(page), FENCE.pattern],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f'File "{page}", line 5' in proc.stderr
    assert "ValueError: 1" in proc.stderr


# -- the API reference ---------------------------------------------------------------------------

_DTYPES = {name for name in sm.__all__ if isinstance(getattr(sm, name), sm.DType)}


def _documented() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("*.md"))
    return set(re.findall(r"^::: shardmem\.(\w+)", text, re.MULTILINE))


def test_reference_documents_every_public_name() -> None:
    missing = set(sm.__all__) - _DTYPES - _documented()
    assert not missing, f"add '::: shardmem.NAME' entries to docs/reference/ for {sorted(missing)}"


def test_reference_lists_every_dtype() -> None:
    text = (DOCS / "reference" / "arrays.md").read_text(encoding="utf-8")
    for name in _DTYPES:
        assert f"`sm.{name}`" in text


def test_reference_names_exist() -> None:
    unknown = _documented() - set(sm.__all__)
    assert not unknown, f"docs/reference/ documents names shardmem does not export: {unknown}"


def test_nav_lists_every_page() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        assert page.relative_to(DOCS).as_posix() in nav, f"{page} is missing from the nav"


# -- the benchmark table hook --------------------------------------------------------------------


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_hook", DOCS / "hooks" / "bench.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_table_from_rows(tmp_path: Path) -> None:
    data = {
        "machine": {"cpus": 2, "python": "3.14.8"},
        "results": [
            {"workload": "map", "workers": 2, "seconds": 0.5},
            {"workload": "blur", "workers": 1, "seconds": 1.25, "note": "a|b"},
        ],
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    text = _hook().render(path)
    assert "| workload | workers | seconds | note |" in text
    assert "| blur | 1 | 1.25 | a\\|b |" in text
    assert "- **cpus**: 2" in text


def test_bench_table_in_the_suite_format(tmp_path: Path) -> None:
    data = {
        "meta": {"python": "3.14.8", "cpus": 2},
        "rows": [{"workload": "lut", "variant": "shardmem", "seconds": 0.01, "ratio": None}],
        "targets": [{"workload": "lut", "variant": "shardmem", "target": ">= 1.8x", "ok": True}],
        "notes": ["times are medians", "2 cores"],
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    text = _hook().render(path)
    assert "**Machine and run**\n\n- **python**: 3.14.8" in text
    assert "**Results**\n\n| workload | variant | seconds | ratio |" in text
    assert "| lut | shardmem | >= 1.8x | True |" in text
    assert "**Notes**\n\n- times are medians\n- 2 cores" in text
    assert "```json" not in text


def test_bench_table_fallbacks(tmp_path: Path) -> None:
    hook = _hook()
    assert "not been measured" in hook.render(tmp_path / "missing.json")
    odd = tmp_path / "odd.json"
    odd.write_text("[[1, 2]]", encoding="utf-8")
    assert "```json" in hook.render(odd)
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert "could not be read" in hook.render(broken)


def test_docs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site" / "reference" / "primitives" / "index.html").is_file()
