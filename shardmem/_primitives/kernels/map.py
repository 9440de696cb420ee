"""Worker-side code of :func:`shardmem.vectorize` (stdlib only; runs inside workers).

``_vectorized`` is a template: :func:`shardmem.vectorize` copies its code into a new
function whose globals hold the user's scalar function under the name ``_fn``,
so the kernel packer ships that function along as a referenced global.
"""

from __future__ import annotations

import array
import itertools
from collections.abc import Callable, Iterable

__all__ = ("BYTE_FORMATS", "_vectorized")

BYTE_FORMATS = ("B", "b", "?")
_DOMAINS = {
    "B": tuple(range(256)),
    "b": tuple(range(128)) + tuple(range(-128, 0)),
    "?": (False, True),
}


def _unbound(*args: object) -> object:
    raise RuntimeError("this template runs only through shardmem.vectorize(fn)")


_fn: Callable[..., object] = _unbound


def _vectorized(*views: object, _lut: bool = True) -> None:
    """Elementwise ``out[i] = _fn(x[i], y[i], ...)``; the last view is ``out``."""
    *ins, out = views
    assert isinstance(out, memoryview)
    if _lut and len(ins) == 1 and _try_lut(ins[0], out):
        return
    its = [v if type(v) is memoryview else itertools.repeat(v) for v in ins]
    values: Iterable[object] = map(_fn, *its)  # noqa: B912 - views have equal lengths
    if not any(type(v) is memoryview for v in ins):
        values = itertools.islice(values, len(out))
    _store(out, values)


def _store(out: memoryview, values: Iterable[object]) -> None:
    if out.format == "?":
        out.cast("B")[:] = bytes(map(bool, values))
    else:
        out[:] = array.array(out.format, values)  # type: ignore[type-var]


def _try_lut(x: object, out: memoryview) -> bool:
    """``out = lut[x]`` with one ``bytes.translate`` when both sides are 1-byte types."""
    if type(x) is not memoryview or x.format not in _DOMAINS or out.format not in BYTE_FORMATS:
        return False
    try:
        table = _table(list(map(_fn, _DOMAINS[x.format])), out.format)
    except Exception:  # noqa: BLE001 - fn not defined everywhere: use the plain path
        return False
    out.cast("B")[:] = x.cast("B").tobytes().translate(table)
    return True


def _table(values: list[object], fmt: str) -> bytes:
    if fmt == "?":
        return bytes(1 if v else 0 for v in values).ljust(256, b"\0")
    raw = array.array(fmt, values).tobytes()  # type: ignore[type-var]
    return raw.ljust(256, b"\0")
