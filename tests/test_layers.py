"""The layers stay visible: an import-graph check over the package's source (ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "shardmem"
ENGINE = "shardmem._engine"
DATA_PACKAGE = "shardmem._data"
DATA = {f"{DATA_PACKAGE}.{m}" for m in ("buffer", "array", "dtypes", "creation", "convert")}
DATA |= {DATA_PACKAGE}
ENGINE_MAY_USE = {"shardmem._errors", "shardmem._progress"} | {
    f"{DATA_PACKAGE}.{m}" for m in ("buffer", "array")
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every shardmem module ``path`` imports (``from x import y`` counts x and x.y)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m == "shardmem" or m.startswith("shardmem.")}


SOURCES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _known(names: set[str]) -> set[str]:
    """Only names that are modules (drop imported functions and classes)."""
    return {n for n in names if n in SOURCES}


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if not m.startswith(ENGINE)))
def test_outside_the_engine_only_its_door_is_used(module: str) -> None:
    private = sorted(m for m in _known(SOURCES[module]) if m.startswith(ENGINE + "."))
    assert not private, f"{module} reaches into the engine's private modules {private}"


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if m.startswith(ENGINE)))
def test_the_engine_knows_only_the_data_layer_and_errors(module: str) -> None:
    above = sorted(
        m for m in _known(SOURCES[module]) if not m.startswith(ENGINE) and m not in ENGINE_MAY_USE
    )
    assert not above, f"{module} imports {above}, a layer above the engine"


@pytest.mark.parametrize("module", sorted(DATA))
def test_the_data_layer_knows_nothing_of_pools(module: str) -> None:
    bad = sorted(m for m in _known(SOURCES[module]) if m not in DATA | {"shardmem._errors"})
    assert not bad, f"{module} imports {bad}: the data layer must not know the engine"


def test_the_check_sees_the_whole_package() -> None:
    expected = {ENGINE, "shardmem._engine._core", "shardmem._primitives.map", "shardmem.image"}
    assert expected <= set(SOURCES)
    assert set(SOURCES) >= DATA, "a data-layer module moved: update DATA"
    assert "shardmem._engine" in SOURCES["shardmem._primitives.map"] or any(
        m.startswith(ENGINE) for m in SOURCES["shardmem._primitives.map"]
    )
