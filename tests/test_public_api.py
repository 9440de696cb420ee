"""The public namespace: small, complete, documented."""

from __future__ import annotations

import inspect
import types

import pytest

import shardmem as sm
from shardmem import image

SUBMODULES = {"image", "dask"}


def test_all_is_a_tuple_of_existing_names() -> None:
    assert isinstance(sm.__all__, tuple)
    assert len(set(sm.__all__)) == len(sm.__all__)
    for name in sm.__all__:
        assert hasattr(sm, name), name


def test_every_public_name_is_in_all() -> None:
    public = {
        name
        for name, value in vars(sm).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(sm.__all__) == set()


@pytest.mark.parametrize(
    ("module", "name"), [(sm, n) for n in sm.__all__] + [(image, n) for n in image.__all__]
)
def test_every_public_name_has_a_docstring(module: types.ModuleType, name: str) -> None:
    obj = getattr(module, name)
    doc = inspect.getdoc(obj)
    assert (doc or "").strip(), f"{module.__name__}.{name} has no docstring"


@pytest.mark.parametrize("name", [n for n in sm.__all__ if inspect.isclass(getattr(sm, n))])
def test_public_methods_have_docstrings(name: str) -> None:
    cls = getattr(sm, name)
    for attr, value in vars(cls).items():
        if attr.startswith("_") or (not callable(value) and not isinstance(value, property)):
            continue
        assert inspect.getdoc(getattr(cls, attr)), f"{name}.{attr} has no docstring"


def test_the_package_is_typed() -> None:
    from importlib.resources import files

    assert files("shardmem").joinpath("py.typed").is_file()
