"""Shipping kernels to worker interpreters.

A kernel is a plain Python function. It travels as its marshalled code
object plus what its code names: modules (imported again by name in the
worker), functions it calls (shipped the same way, recursively), objects
imported from modules (looked up again by module and name) and constant
values (ints, floats, strings, bytes and containers of them). Its source
lines travel too, so worker tracebacks show code.

This works for functions defined in modules, in an unguarded ``__main__``
script, in ``python -c`` and in notebook cells, and for lambdas, none of
which ``InterpreterPoolExecutor`` can run (it pickles functions by name).
Anything else a kernel refers to is refused here, before any work starts.
"""

from __future__ import annotations

import dis
import hashlib
import inspect
import linecache
import marshal
import os
import re
import sys
import types
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import cast

from shardmem._errors import KernelContractError, ShippingError

__all__ = ["Kernel", "kernel_name", "pack"]

_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes, range, slice)
_PLAIN_CONTAINERS = (tuple, list, set, frozenset, dict)
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"})


@dataclass(frozen=True, slots=True)
class Kernel:
    """A packed kernel: ``key`` identifies ``blob`` (the marshalled spec) in every worker."""

    name: str
    key: str
    blob: bytes
    fingerprint: tuple[int, ...]


def kernel_name(fn: object) -> str:
    """The name used for ``fn`` in messages."""
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


_GENERATOR = inspect.CO_GENERATOR
_NOT_PLAIN = _GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_cache: weakref.WeakKeyDictionary[Callable[..., object], Kernel] = weakref.WeakKeyDictionary()


def pack(fn: Callable[..., object]) -> Kernel:
    """Pack ``fn`` for shipping, reusing the last packing while its globals are unchanged.

    A global that was rebound since (a constant changed in a notebook cell)
    gives a new packing; an object mutated in place does not, so pass data
    that changes as arguments, not as globals.
    """
    if not isinstance(fn, types.FunctionType):
        raise ShippingError(
            f"kernel {fn!r} is a {type(fn).__name__}, not a Python function; "
            "kernels must be functions defined with def or lambda (wrap a builtin in a def)"
        )
    if fn.__code__.co_flags & _NOT_PLAIN:
        what = "a generator function" if fn.__code__.co_flags & _GENERATOR else "an async function"
        raise KernelContractError(
            f"kernel {kernel_name(fn)!r} is {what}: calling it returns a generator or "
            "coroutine, not a result, so its work would never run in the worker; write a plain "
            "def (without yield or async) that computes and returns its result, or writes it "
            "into its output views"
        )
    cached = _cache.get(fn)
    if cached is not None and cached.fingerprint == _fingerprint(fn):
        return cached
    packer = _Packer(kernel_name(fn))
    entry = packer.add(fn)
    spec: tuple[object, ...] = (entry, tuple(packer.table), tuple(packer.sources.items()))
    blob = marshal.dumps(spec)  # type: ignore[arg-type]  # typeshed does not know code objects nest
    kernel = Kernel(
        name=packer.root,
        key=hashlib.blake2b(blob, digest_size=12).hexdigest(),
        blob=blob,
        fingerprint=_fingerprint(fn),
    )
    _cache[fn] = kernel
    return kernel


def _fingerprint(fn: types.FunctionType) -> tuple[int, ...]:
    """Identity of everything a packing depends on, cheap enough to check on every call.

    It follows the functions a kernel calls, so rebinding a constant that only
    a helper uses is picked up too.
    """
    ids: list[int] = []
    todo, seen = [fn], {id(fn)}
    while todo:
        f = todo.pop()
        ids += (id(f.__code__), id(f.__defaults__), id(f.__kwdefaults__))
        ns = f.__globals__
        for name in _global_names(f.__code__):
            value = ns.get(name)
            ids.append(id(value))
            if isinstance(value, types.FunctionType) and id(value) not in seen:
                seen.add(id(value))
                todo.append(value)
        if f.__closure__:
            ids.extend(id(cell.cell_contents) for cell in f.__closure__)
    return tuple(ids)


_names_cache: weakref.WeakKeyDictionary[types.CodeType, tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)


def _global_names(code: types.CodeType) -> tuple[str, ...]:
    names = _names_cache.get(code)
    if names is None:
        found: set[str] = set()
        for sub in _walk(code):
            found.update(i.argval for i in dis.get_instructions(sub) if i.opname in _GLOBAL_OPS)
        names = tuple(sorted(found))
        _names_cache[code] = names
    return names


_imports_cache: weakref.WeakKeyDictionary[types.CodeType, tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)


def _imported_modules(code: types.CodeType) -> tuple[str, ...]:
    names = _imports_cache.get(code)
    if names is None:
        found = {
            str(i.argval)
            for sub in _walk(code)
            for i in dis.get_instructions(sub)
            if i.opname == "IMPORT_NAME"
        }
        names = _imports_cache[code] = tuple(sorted(found))
    return names


def _walk(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out.extend(_walk(const))
    return out


class _Packer:
    """Builds the table of function specs a worker rebuilds (see ``_worker._define``)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.table: list[tuple[object, ...]] = []
        self.index: dict[int, int] = {}
        self.sources: dict[str, tuple[str, ...]] = {}

    def add(self, fn: types.FunctionType) -> int:
        if id(fn) in self.index:
            return self.index[id(fn)]
        slot = len(self.table)
        self.index[id(fn)] = slot
        self.table.append(())
        code = fn.__code__
        entries = [self._global(fn, name) for name in _global_names(code)]
        entries.extend((mod, "i", mod) for mod in _imported_modules(code))
        self.table[slot] = (
            fn.__name__,
            code,
            self._values(fn, "default argument", fn.__defaults__),
            tuple(e for e in entries if e is not None),
            self._values(fn, "keyword default", tuple((fn.__kwdefaults__ or {}).items())),
            self._closure(fn),
        )
        self._add_source(code.co_filename)
        return slot

    def _global(self, fn: types.FunctionType, name: str) -> tuple[str, str, object] | None:
        ns = fn.__globals__
        if name not in ns:
            return None  # a builtin, or a NameError the worker will report as usual
        value = ns[name]
        if isinstance(value, types.ModuleType):
            return (name, "m", value.__name__)
        if isinstance(value, types.FunctionType):
            return (name, "f", self.add(value))
        where = _importable_location(value)
        if where is not None:
            return (name, "a", where)
        if isinstance(value, type) and value.__module__ == "__main__":
            cloudpickle = cloudpickle_module()
            if cloudpickle is not None:  # a class of a script or notebook: sent by value
                return (name, "c", bytes(cloudpickle.dumps(value)))
        value = as_plain(value)
        if _is_plain(value):
            return (name, "v", value)
        if isinstance(value, re.Pattern):  # compiled again in the worker
            return (name, "r", (value.pattern, value.flags))
        raise ShippingError(self._refusal(fn, f"global {name!r}", value))

    def _values(self, fn: types.FunctionType, what: str, values: object) -> object:
        values = as_plain(values)
        if values is None or _is_plain(values):
            return values
        raise ShippingError(self._refusal(fn, f"a {what}", values))

    def _closure(self, fn: types.FunctionType) -> tuple[object, ...] | None:
        if not fn.__closure__:
            return None
        values = []
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
            try:
                value = cell.cell_contents
            except ValueError:
                raise ShippingError(
                    f"kernel {self.root!r}: {kernel_name(fn)!r} closes over {name!r}, which is "
                    "not bound yet; define it before using the kernel"
                ) from None
            value = as_plain(value)
            if not _is_plain(value):
                raise ShippingError(self._refusal(fn, f"closure variable {name!r}", value))
            values.append(value)
        return tuple(values)

    def _refusal(self, fn: types.FunctionType, what: str, value: object) -> str:
        where = "" if kernel_name(fn) == self.root else f" (through {kernel_name(fn)!r})"
        return (
            f"kernel {self.root!r} cannot be sent to worker interpreters: {what}{where} is "
            f"{_describe(value)}, and workers receive only modules, functions, objects "
            "importable by name and constants (numbers, strings, bytes and tuples, lists, "
            "dicts and sets of them); pass arrays as arguments and scalars as keyword "
            "parameters instead"
        )

    def _add_source(self, filename: str) -> None:
        if filename in self.sources or os.path.isfile(filename):
            return
        lines = linecache.getlines(filename)
        if lines:
            self.sources[filename] = tuple(lines)


def cloudpickle_module() -> types.ModuleType | None:
    """cloudpickle when it is installed (it comes with Dask and joblib), else None."""
    try:
        import cloudpickle  # type: ignore[import-untyped]
    except ImportError:
        return None
    return cast("types.ModuleType", cloudpickle)


def _describe(value: object) -> str:
    kind = type(value)
    return f"a {kind.__module__}.{kind.__qualname__} ({_short_repr(value)})"


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_plain(value: object, depth: int = 0) -> object:
    """``value`` with NumPy scalars made Python numbers (inside containers too).

    ``np.float64(0.5)`` is a plain number to the user (notebooks are full of
    them); a worker cannot import NumPy, so it receives ``0.5``. Anything
    else, and a container with nothing to change, is returned as it is.
    """
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        item = value.item()  # type: ignore[attr-defined]
        return item if type(item) in _PLAIN_SCALARS else value
    if depth > 20 or kind not in _PLAIN_CONTAINERS:
        return value
    if isinstance(value, dict):
        pairs = [(as_plain(k, depth + 1), as_plain(v, depth + 1)) for k, v in value.items()]
        if all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    members = cast("Iterable[object]", value)
    items = [as_plain(v, depth + 1) for v in members]
    if all(a is b for a, b in zip(items, members, strict=True)):
        return value
    return cast("Callable[[list[object]], object]", kind)(items)


def _is_plain(value: object, depth: int = 0) -> bool:
    if isinstance(value, bool | int | float | complex | str | bytes) or value is None:
        return type(value) in _PLAIN_SCALARS
    if type(value) in (range, slice):
        return True
    if depth > 20 or type(value) not in _PLAIN_CONTAINERS:
        return False
    if isinstance(value, dict):
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.items())
    return all(_is_plain(v, depth + 1) for v in value)  # type: ignore[attr-defined]


def _importable_location(value: object) -> tuple[str, str] | None:
    """``(module, qualname)`` for a class or builtin that a worker can import again."""
    if not isinstance(value, type | types.BuiltinFunctionType):
        return None
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    mod = sys.modules.get(module)
    if mod is None:
        try:
            mod = import_module(module)
        except ImportError:
            return None
    obj: object = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return (module, qualname) if obj is value else None
