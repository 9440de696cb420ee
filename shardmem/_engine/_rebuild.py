"""Rebuilding a packed kernel into a plain function (see ``_shipping.pack``).

One implementation for both places a kernel is rebuilt: the worker
interpreters (this file is executed in each one at start-up, before
``_worker.py``) and a Dask worker process receiving a kernel in a graph. It
uses the standard library only.
"""

from __future__ import annotations

import builtins
import importlib
import types

TYPE_CHECKING = False  # (not typing's: a worker interpreter does not import typing)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ("rebuild_functions",)


def rebuild_functions(table: Sequence[tuple[Any, ...]]) -> list[types.FunctionType]:
    """The functions of a packed table, their globals filled (``table[i]`` -> ``result[i]``)."""
    functions = [_make_function(spec) for spec in table]
    for fn, spec in zip(functions, table, strict=True):
        _fill_globals(fn, spec[3], functions)
    return functions


def _make_function(spec: tuple[Any, ...]) -> types.FunctionType:
    name, code, defaults, _globals, kwdefaults, closure = spec
    cells = None if closure is None else tuple(types.CellType(v) for v in closure)
    fn = types.FunctionType(
        code, {"__builtins__": builtins, "__name__": "__shardmem_kernel__"}, name, defaults, cells
    )
    if kwdefaults:
        fn.__kwdefaults__ = dict(kwdefaults)
    return fn


def _fill_globals(
    fn: types.FunctionType, entries: Sequence[tuple[str, str, Any]], functions: list[Any]
) -> None:
    ns = fn.__globals__
    for name, kind, payload in entries:
        if kind == "v":  # a constant
            ns[name] = payload
        elif kind == "m":  # a module, imported again by name
            ns[name] = importlib.import_module(payload)
        elif kind == "a":  # an object importable by module and qualified name
            obj: Any = importlib.import_module(payload[0])
            for part in payload[1].split("."):
                obj = getattr(obj, part)
            ns[name] = obj
        elif kind == "f":  # another function of the table
            ns[name] = functions[payload]
        elif kind == "i":  # a module the code imports itself: checked now
            importlib.import_module(payload)
        elif kind == "c":  # a class of the caller's __main__, by value (cloudpickle)
            import pickle

            ns[name] = pickle.loads(payload)
        elif kind == "r":  # a compiled regular expression: pattern and flags
            import re

            ns[name] = re.compile(*payload)
