"""Public names show their public module: ``help(sm.map)`` names ``shardmem``, not a private one."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

__all__ = ("publish",)


def publish(module: str, namespace: Mapping[str, object], /) -> Callable[[], list[str]]:
    """Set ``__module__`` of the functions and classes in ``namespace['__all__']`` to ``module``.

    Methods of those classes follow (so doctest still collects them with their
    class); objects from outside shardmem are left alone. Returns a module
    ``__dir__`` that lists the public names.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.map.__module__, sm.SharedArray.__module__, "SharedArray" in dir(sm)
    ('shardmem', 'shardmem', True)
    """
    names: tuple[str, ...] = tuple(namespace["__all__"])  # type: ignore[arg-type]
    for name in names:
        obj = namespace[name]
        if inspect.isfunction(obj) and obj.__module__.startswith("shardmem"):
            obj.__module__ = module
        elif inspect.isclass(obj) and obj.__module__.startswith("shardmem"):
            _publish_class(obj, module)
    public = sorted(names)
    return lambda: list(public)


def _publish_class(cls: type, module: str) -> None:
    old = cls.__module__
    cls.__module__ = module
    for value in vars(cls).values():
        function = getattr(value, "__func__", value)  # staticmethod / classmethod
        if inspect.isfunction(function) and function.__module__ == old:
            function.__module__ = module
