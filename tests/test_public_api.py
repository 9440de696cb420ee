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


PUBLIC_MODULES = ("shardmem", "shardmem.image", "shardmem.image.data", "shardmem.dask",
                  "shardmem.joblib")  # fmt: skip


def _public_module(name: str) -> types.ModuleType:
    import importlib

    return importlib.import_module(name)


def _ours(obj: object) -> bool:
    """Functions, classes and instances defined by shardmem (not strings, paths, modules)."""
    kind = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    return getattr(kind, "__module__", "").startswith("shardmem")


PUBLIC_NAMES = [
    (module, name) for module in PUBLIC_MODULES for name in _public_module(module).__all__
]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_dir_of_a_public_module_lists_its_public_names(module: str) -> None:
    mod = _public_module(module)
    assert dir(mod) == sorted(mod.__all__)
    assert all(hasattr(mod, name) for name in dir(mod))


@pytest.mark.parametrize(("module", "name"), PUBLIC_NAMES)
def test_help_shows_public_docs_without_private_paths(module: str, name: str) -> None:
    import pydoc

    obj = getattr(_public_module(module), name)
    if not _ours(obj):
        return  # a constant of a builtin type (BACKEND_NAME, ASTRONAUT): its type's help
    text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
    assert "shardmem._" not in text, [line for line in text.splitlines() if "shardmem._" in line]
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert obj.__module__ == module
        assert f"in module {module}" in text.splitlines()[0]
        assert (inspect.getdoc(obj) or "").splitlines()[0] in text


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_help_of_a_public_module_names_no_private_module(module: str) -> None:
    import pydoc

    text = pydoc.render_doc(_public_module(module), renderer=pydoc.plaintext)
    assert "shardmem._" not in text


def test_published_classes_still_pickle_and_run_their_doctests() -> None:
    import doctest
    import pickle

    assert pickle.loads(pickle.dumps(sm.uint8)) == sm.uint8
    err = pickle.loads(pickle.dumps(sm.ShapeError("x")))
    assert type(err) is sm.ShapeError
    finder = doctest.DocTestFinder()
    names = {test.name for test in finder.find(sm)}
    assert {"shardmem.SharedArray.astype", "shardmem.SharedArray.reshape", "shardmem.map"} <= names
