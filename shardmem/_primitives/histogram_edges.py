"""Histogram edges: checks of ``bins=``/``range=`` and the edges NumPy computes, in its dtypes.

Uniform edges are ``np.linspace(lo, hi, bins + 1)`` computed the same way
in NumPy's dtype for them (``result_type(lo, hi, data)``, float64 for
integers; float32 steps between float32 bounds). Explicit edges keep the
dtype ``np.asarray(bins)`` gives them, and `compares_as_float` says how
NumPy compares them with the data. No pool here: many edges are written
by a callback the caller runs on its workers.
"""

from __future__ import annotations

import itertools
import math
import operator
import reprlib
import sys
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from shardmem._data.convert import is_numpy
from shardmem._data.dtypes import (
    DType,
    as_dtype,
    as_float,
    as_index,
    bool_,
    check_real,
    float32,
    float64,
    int64,
    uint64,
)
from shardmem._errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError
from shardmem._primitives.kernels.histogram import linspace_into

__all__ = (
    "SHIPPED_EDGES",
    "Edges",
    "Number",
    "Spec",
    "bin_spec",
    "bound_as_float",
    "check_bins",
    "check_range",
    "compares_as_float",
    "f32_of",
    "fill_uniform_edges",
    "outer_edges",
    "plain_number",
    "too_many",
    "write_edges",
)

Number = int | float
SHIPPED_EDGES = 1024  # uniform bins up to this many: edges travel with the tasks (bisect)


def plain_number(value: object) -> object:
    """A NumPy scalar as its Python value (range= takes them as bins= does)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def check_range(range_: object) -> tuple[Number, Number]:
    pair = [plain_number(v) for v in range_] if isinstance(range_, tuple | list) else []
    if len(pair) != 2 or not all(isinstance(v, int | float) for v in pair):
        raise ArgumentTypeError(
            f"histogram(): range={range_!r} must be a pair of numbers (lo, hi) or None"
        )
    lo, hi = cast("tuple[Number, Number]", tuple(pair))
    if lo > hi:
        raise InvalidArgumentError(
            f"histogram(): range=({lo}, {hi}): max must be larger than min in range "
            "parameter; pass range=(lo, hi) with lo <= hi"
        )
    if not (math.isfinite(as_float(lo)) and math.isfinite(as_float(hi))):
        raise InvalidArgumentError(
            f"histogram(): supplied range of [{reprlib.repr(lo)}, {reprlib.repr(hi)}] is not "
            "finite (range= must hold float64 numbers, at most about 1.8e308); pass finite bounds"
        )
    return lo, hi


def outer_edges(lo: Number, hi: Number, auto: bool) -> tuple[Number, Number]:
    if auto and not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidArgumentError(
            f"histogram(): autodetected range of [{lo}, {hi}] is not finite; "
            "remove NaN/inf values or pass range=(lo, hi)"
        )
    if lo == hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def too_many(bins: int, start: float, stop: float) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"histogram(): too many bins for data range: cannot create {bins} finite-sized "
        f"bins in [{start}, {stop}]; pass fewer bins or a wider range="
    )


type EdgeFiller = Callable[[float, float, int, bool], None]


def f32_of(value: float) -> float:
    """``value`` rounded to the nearest float32 (infinity beyond its range)."""
    return array("f", [value])[0]


def fill_uniform_edges(
    out: memoryview,
    lo: Number,
    hi: Number,
    *,
    workers: EdgeFiller | None = None,
    f32: bool = False,
) -> None:
    """Write ``np.linspace(lo, hi, len(out))`` into ``out``, computed the same way.

    In float64 and rounded once to ``out``'s format; with ``f32`` (``lo`` and
    ``hi`` float32 values) every step in float32, as NumPy's ``linspace``
    computes between float32 bounds. More than ``SHIPPED_EDGES`` edges are
    written by ``workers(first, delta, bins, f32)`` when given. Raises
    `InvalidArgumentError` when the edges do not increase (too many bins
    for the range, as NumPy refuses them).
    """
    bins = len(out) - 1
    start, stop = float(lo), float(hi)
    delta = f32_of(stop - start) if f32 else stop - start
    step = f32_of(delta / bins) if f32 else delta / bins
    if not math.isfinite(step):
        raise too_many(bins, start, stop)
    if workers is None or bins <= SHIPPED_EDGES:
        linspace_into(out[:bins], 0, start, delta, bins, f32)
    else:
        workers(start, delta, bins, f32)
    out[bins] = stop  # type: ignore[call-overload]  # a 'd' or 'f' view takes floats
    narrow = out.format == "f"
    if not _surely_increasing(start, stop, step, narrow) and any(
        map(operator.ge, out[:-1], out[1:], strict=True)
    ):
        raise too_many(bins, start, stop)


def _surely_increasing(start: float, stop: float, step: float, f32: bool = False) -> bool:
    """Whether ``i * step + start`` rounds to strictly increasing values for every ``i``.

    Consecutive products differ by at least ``step`` less one rounding, and
    their sums with ``start`` by that less another: a step of four units in
    the last place of the largest magnitude keeps them apart (float32 units
    for float32 edges: 2**29 float64 units, at least float32's smallest).
    """
    largest = max(abs(start), abs(stop), abs(stop - start))
    unit = max(math.ulp(largest) * 2**29, 2.0**-149) if f32 else math.ulp(largest)
    return step > 4 * unit


# -- explicit edges: their dtype and how they compare, as NumPy's ----------------------------


@dataclass(frozen=True, slots=True)
class Edges:
    """Explicit edges: their values (ints stay ints) and NumPy's dtype for them."""

    values: list[Number]
    dtype: DType


def _explicit_edges(bins: Sequence[object], source: object) -> Edges:
    for i, v in enumerate(bins):
        check_real(v, f"bins[{i}]", "histogram")
    values = cast("list[Number]", [plain_number(v) for v in bins])
    if len(values) < 2 or any(not b >= a for a, b in itertools.pairwise(values)):
        raise InvalidArgumentError(
            f"histogram(): bins={list(bins)!r} as edges must hold >= 2 values increasing "
            "monotonically; pass sorted edges or an int number of bins"
        )
    return Edges(values, _edges_dtype(source, bins, values))


def _edges_dtype(source: object, bins: Sequence[object], values: list[Number]) -> DType:
    """The dtype ``np.asarray(bins)`` has (float64 where shardmem has none)."""
    name = getattr(getattr(source, "dtype", None), "name", None)
    if name is None and any(map(is_numpy, bins)):  # NumPy scalars: NumPy decides
        import numpy as np

        name = np.asarray(bins).dtype.name
    if name is None:
        return _python_edges_dtype(values)
    try:
        return as_dtype(name)
    except DTypeError:
        return float64  # float16, longdouble, object: values compared as float64


def _python_edges_dtype(values: list[Number]) -> DType:
    """NumPy's dtype for a list of Python numbers: ints as int64, else uint64, else float64."""
    if any(isinstance(v, float) for v in values):
        return float64
    kinds = {
        "i" if -(2**63) <= v < 2**63 else "u" if 0 <= v < 2**64 else "o"
        for v in values
        if not isinstance(v, bool)
    }
    if not kinds:
        return bool_
    return {frozenset("i"): int64, frozenset("u"): uint64}.get(frozenset(kinds), float64)


def compares_as_float(data: DType, edges: DType) -> bool:
    """Whether NumPy compares ``data`` with ``edges`` as float64 (else exactly, as ints).

    NumPy promotes the two: a float on either side, or a uint64 beside a
    signed integer, gives float64; other integers (bool among them) promote
    to an integer type that holds both.
    """
    if "f" in (data.kind, edges.kind):
        return True
    kinds = {data.kind: data.itemsize, edges.kind: edges.itemsize}
    return data.kind != edges.kind and kinds.get("u") == 8 and "i" in kinds


def write_edges(out: memoryview, edges: Edges) -> None:
    fmt = out.format
    if fmt == "?":
        out[:] = memoryview(bytes(map(bool, edges.values))).cast("?")
    elif fmt in ("f", "d"):
        out[:] = array(fmt, map(as_float, edges.values))
    else:
        out[:] = array(fmt, map(int, edges.values))


def check_bins(bins: object) -> int | Edges:
    if isinstance(bins, bool):
        raise ArgumentTypeError("histogram(): bins=True is not allowed; pass an int or edges")
    count = as_index(bins)
    if count is not None:
        if count < 1:
            raise InvalidArgumentError(
                f"histogram(): bins={bins} must be a positive integer; pass e.g. bins=10"
            )
        if count * 8 > sys.maxsize:
            raise InvalidArgumentError(
                f"histogram(): bins={bins} needs {count * 8} bytes of counts, more than the "
                f"maximum {sys.maxsize}; pass fewer bins"
            )
        return count
    if getattr(bins, "ndim", None) == 0:  # a NumPy float scalar, a 0-d array
        raise ArgumentTypeError(
            f"histogram(): bins={bins!r} must be an int number of bins or a 1-D sequence of "
            f"edges, not a 0-d {getattr(bins, 'dtype', type(bins).__name__)} value; pass "
            "bins=int(...) for that many bins, or a list of edges"
        )
    if hasattr(bins, "ndim") and hasattr(bins, "tolist"):  # SharedArray, NumPy array
        if bins.ndim != 1:
            raise ShapeError(
                f"histogram(): bins as an array of edges must be 1-D, not of shape "
                f"{getattr(bins, 'shape', '?')}; pass e.g. a.ravel() or an int number of bins"
            )
        return _explicit_edges(bins.tolist(), bins)
    if isinstance(bins, Sequence) and not isinstance(bins, str | bytes | bytearray):
        return _explicit_edges(bins, bins)
    raise ArgumentTypeError(
        f"histogram(): bins={bins!r} must be an int or a sequence of edges (bin-width "
        "estimators such as bins='auto' are not supported)"
    )


# -- uniform edges: NumPy's bin dtype ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """Uniform edges: their dtype (NumPy's ``bin_type``) and, for a range of NumPy
    scalars, the widened bounds and NumPy's own dtype name (NumPy computes those edges)."""

    dtype: DType
    numpy: tuple[Any, Any, str] | None = None


def bin_spec(data: DType, range_arg: object) -> Spec:
    """NumPy's dtype for uniform edges: ``result_type(lo, hi, data)``, floats for integers.

    Python bounds are weak (they do not widen float32 data); NumPy scalars
    take part with their own dtype.
    """
    pair = list(range_arg) if isinstance(range_arg, tuple | list) else []
    if not any(map(is_numpy, pair)):
        return Spec(float32 if data == float32 else float64)
    import numpy as np

    first, last = pair
    if first == last:
        first, last = first - 0.5, last + 0.5
    kind = np.result_type(first, last, np.empty(0, dtype=data.name))
    if np.issubdtype(kind, np.integer) or kind == np.bool_:
        kind = np.result_type(kind, float)
    try:
        found = as_dtype(kind.name)
    except DTypeError:
        found = float64  # float16 edges, kept as float64 values
    return Spec(found, (first, last, kind.name))


def bound_as_float(data: DType, bound: object) -> bool:
    """Whether NumPy's range filter compares ``data`` with ``bound`` as floats."""
    if isinstance(bound, float) or data.kind == "f":
        return True
    if not is_numpy(bound):
        return False  # a Python int: weak, compared exactly with integer data
    try:
        kind = as_dtype(getattr(bound, "dtype", float64).name)
    except DTypeError:
        return True  # float16
    return compares_as_float(data, kind)
