"""Gang kernels that carry a user function: a copy of the kernel whose globals name it.

``scan`` and ``stencil`` run a built-in gang kernel that calls the user's
function. The pool ships one kernel per call, plus what that kernel's code
names, so the user's function rides along as a global of a copy of the
built-in kernel. Copies are cached per user function (packing one takes
milliseconds), and rebuilt when the function's globals were rebound.
"""

from __future__ import annotations

import types
from collections import OrderedDict
from collections.abc import Callable

from shardmem._engine._shipping import _fingerprint

__all__ = ("bind",)

_CACHE_SIZE = 64
_cache: OrderedDict[tuple[int, str, int], tuple[object, tuple[int, ...], types.FunctionType]] = (
    OrderedDict()
)


def bind(
    task: Callable[..., object], name: str, user: Callable[..., object], label: str
) -> types.FunctionType:
    """A copy of ``task`` with global ``name`` bound to ``user``, named ``label``.

    >>> import operator
    >>> from shardmem._primitives.kernels import scan as _kernels_scan
    >>> f = bind(_kernels_scan.scan_task, "_USER_OP", operator.add, "scan[add]")
    >>> f.__globals__["_USER_OP"] is operator.add, f.__qualname__
    (True, 'scan[add]')
    >>> f is bind(_kernels_scan.scan_task, "_USER_OP", operator.add, "scan[add]")
    True
    """
    assert isinstance(task, types.FunctionType)
    key = (id(task), name, id(user))
    stamp = _fingerprint(user) if isinstance(user, types.FunctionType) else ()
    hit = _cache.get(key)
    if hit is not None and hit[0] is user and hit[1] == stamp:
        _cache.move_to_end(key)
        return hit[2]
    namespace = dict(task.__globals__)
    namespace[name] = user
    bound = types.FunctionType(task.__code__, namespace, task.__name__, task.__defaults__)
    bound.__kwdefaults__ = task.__kwdefaults__
    bound.__qualname__ = label
    _cache[key] = (user, stamp, bound)
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return bound
